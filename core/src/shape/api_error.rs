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
    api_error_message_for(body, b"", &[])
}

/// What the masking of values the request carried writes in their place.
pub const SENT_MASK: &str = "[sent value]";
/// Shorter strings of the request (country codes, `"1"`) are not masked.
const MIN_SENT_CHARS: usize = 3;

/// [`api_error_message`] for a request whose body was `sent`: every string of
/// that body of [`MIN_SENT_CHARS`] or more characters (ASCII case ignored: some
/// APIs echo addresses in capitals) becomes [`SENT_MASK`], except `constants`
/// (the configuration's own strings, such as a `dealstage`, which are no one's
/// data and are what an operator needs to see). An API that echoes the
/// customer's name or address back does not put it in the dead letter.
pub fn api_error_message_for(body: &[u8], sent: &[u8], constants: &[String]) -> Option<String> {
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
    // Twice what is kept: an echo that starts within the kept part is still whole.
    let clean: String = found.chars().take(2 * MAX_CHARS).map(|c| if c.is_control() { ' ' } else { c }).collect();
    let clean = mask_sent(clean, sent, constants);
    let masked = mask_digit_runs(&crate::redact::redact(&clean));
    Some(masked.chars().take(MAX_CHARS).collect())
}

/// `message` with the strings of the JSON body `sent` (but `constants`) masked, longest first.
fn mask_sent(message: String, sent: &[u8], constants: &[String]) -> String {
    let Ok(v) = serde_json::from_slice::<Value>(sent) else {
        return message;
    };
    let mut values: Vec<&str> = Vec::new();
    strings(&v, &mut values);
    values.retain(|s| s.chars().count() >= MIN_SENT_CHARS && !constants.iter().any(|c| c == s));
    values.sort_by_key(|s| std::cmp::Reverse(s.len()));
    values.dedup();
    values.into_iter().fold(message, |m, s| replace_ignoring_ascii_case(&m, s))
}

fn strings<'v>(v: &'v Value, out: &mut Vec<&'v str>) {
    match v {
        Value::String(s) => out.push(s.trim()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

/// `hay` with every occurrence of `needle` (ASCII case ignored) replaced by [`SENT_MASK`].
fn replace_ignoring_ascii_case(hay: &str, needle: &str) -> String {
    let mut out = String::with_capacity(hay.len());
    let mut i = 0;
    while let Some(rest) = hay.get(i..) {
        if rest.is_empty() {
            break;
        }
        if rest.get(..needle.len()).is_some_and(|w| w.eq_ignore_ascii_case(needle)) {
            out.push_str(SENT_MASK);
            i += needle.len();
        } else {
            let Some(c) = rest.chars().next() else { break };
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
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
    fn values_the_request_carried_are_masked() {
        let sent = br#"{"shipTo":{"name":"Maria Gonzalez","street1":"3200 Usa Pkwy","country":"US"},"orderStatus":"awaiting_shipment","items":[{"name":"Hoodie"}],"n":12}"#;
        let constants = vec!["awaiting_shipment".to_owned()];
        let answer =
            br#"{"Message":"Recipient MARIA GONZALEZ at 3200 USA PKWY, US: invalid; status awaiting_shipment; item Hoodie"}"#;
        let got = api_error_message_for(answer, sent, &constants).unwrap();
        assert_eq!(got, "Recipient [sent value] at [sent value], US: invalid; status awaiting_shipment; item [sent value]");
        // Without the request (or when it is not JSON) only the usual masking.
        assert!(api_error_message_for(answer, b"", &[]).unwrap().contains("MARIA GONZALEZ"));
        assert!(api_error_message_for(answer, b"not json", &[]).unwrap().contains("MARIA GONZALEZ"));
        // Multi-byte text around an echo stays whole.
        let got =
            api_error_message_for(r#"{"message":"« Zoë Ärger » ungültig"}"#.as_bytes(), r#"{"n":"Zoë Ärger"}"#.as_bytes(), &[]);
        assert_eq!(got.as_deref(), Some("« [sent value] » ungültig"));
    }

    #[test]
    fn masked_and_bounded() {
        let got = m(r#"{"message":"card 4111 1111 1111 1111 of jane@example.com, order 1234567, phone 0142\nend"}"#).unwrap();
        assert_eq!(got, "card **** **** **** **** of [email], order *******, phone 0142 end");
        let long = format!(r#"{{"message":"{}"}}"#, "é".repeat(500));
        assert_eq!(m(&long).unwrap().chars().count(), MAX_CHARS);
    }
}
