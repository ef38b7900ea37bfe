//! The API's own error message from a 4xx response body, for the dead letter.
use serde_json::Value;

/// Most characters of the message kept.
pub const MAX_CHARS: usize = 200;
/// Digit runs this long or longer are masked (ids, phone numbers, accounts).
const MIN_DIGIT_RUN: usize = 6;

fn non_empty(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty())
}

/// The first of `message`, `Message`, `error` (a string) or `error.message`,
/// `error_description`, `errors[0].detail`, `errors[0].message`, `detail`,
/// `title` in a JSON body, at most [`MAX_CHARS`] characters, with card numbers,
/// e-mail addresses, secrets this process holds and digit runs of 6 or more masked,
/// control characters turned into spaces. `None`: not JSON, or none of these.
pub fn api_error_message(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let o = v.as_object()?;
    let first_error = o.get("errors").and_then(Value::as_array).and_then(|a| a.first());
    let found = non_empty(o.get("message"))
        .or_else(|| non_empty(o.get("Message")))
        .or_else(|| non_empty(o.get("error")))
        .or_else(|| non_empty(o.get("error").and_then(|e| e.get("message"))))
        .or_else(|| non_empty(o.get("error_description")))
        .or_else(|| non_empty(first_error.and_then(|e| e.get("detail"))))
        .or_else(|| non_empty(first_error.and_then(|e| e.get("message"))))
        .or_else(|| non_empty(o.get("detail")))
        .or_else(|| non_empty(o.get("title")))?;
    let clean: String = found.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let masked = mask_digit_runs(&crate::redact::redact(&clean));
    Some(masked.chars().take(MAX_CHARS).collect())
}

/// Every digit of a run of [`MIN_DIGIT_RUN`] or more ASCII digits becomes `*`.
fn mask_digit_runs(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= MIN_DIGIT_RUN {
            out.extend(std::iter::repeat_n('*', run.len()));
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in s.chars() {
        if c.is_ascii_digit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> Option<String> {
        api_error_message(s.as_bytes())
    }

    #[test]
    fn vendor_shapes() {
        // HubSpot
        assert_eq!(
            m(r#"{"status":"error","message":"Property values were not valid","category":"VALIDATION_ERROR"}"#).as_deref(),
            Some("Property values were not valid")
        );
        // Klaviyo (JSON:API)
        assert_eq!(m(r#"{"errors":[{"id":"x","status":400,"code":"invalid","title":"Invalid input.","detail":"'metric' is a required field.","source":{"pointer":"/data/attributes/metric"}}]}"#).as_deref(), Some("'metric' is a required field."));
        // ShipStation / .NET
        assert_eq!(m(r#"{"Message":"The request is invalid.","ModelState":{}}"#).as_deref(), Some("The request is invalid."));
        // OAuth
        assert_eq!(m(r#"{"error":"invalid_grant","error_description":"expired"}"#).as_deref(), Some("invalid_grant"));
        assert_eq!(
            m(r#"{"error":{"message":"No such customer","type":"invalid_request_error"}}"#).as_deref(),
            Some("No such customer")
        );
        assert_eq!(m(r#"{"error":{"code":1},"error_description":"bad scope"}"#).as_deref(), Some("bad scope"));
        assert_eq!(m(r#"{"errors":[{"message":"Field x"}]}"#).as_deref(), Some("Field x"));
        assert_eq!(
            m(r#"{"type":"about:blank","title":"Bad Request","detail":"amount must be positive"}"#).as_deref(),
            Some("amount must be positive")
        );
        assert_eq!(m(r#"{"title":"Bad Request"}"#).as_deref(), Some("Bad Request"));
    }

    #[test]
    fn nothing_usable() {
        assert_eq!(m("<html>400</html>"), None);
        assert_eq!(m("[]"), None);
        assert_eq!(m(r#"{"message":"","code":3}"#), None);
        assert_eq!(m(r#"{"message":5}"#), None);
    }

    #[test]
    fn masked_and_bounded() {
        let got = m(r#"{"message":"card 4111 1111 1111 1111 of jane@example.com, order 1234567, phone 0142\nend"}"#).unwrap();
        assert_eq!(got, "card **** **** **** **** of [email], order *******, phone 0142 end");
        let long = format!(r#"{{"message":"{}"}}"#, "é".repeat(500));
        assert_eq!(m(&long).unwrap().chars().count(), MAX_CHARS);
    }
}
