//! The one redaction layer. Every text that leaves the extension — exception
//! messages, PHP warnings, the audit log's `error`, status `last_error`, receipt
//! reasons — passes through [`redact`] on its way out.
//!
//! Messages are built to name places, not values (see [`crate::error`]); this
//! layer is the second line, for whatever slips through (a server's reason, a
//! path that happens to contain a value, a future bug). It masks:
//! - every secret value this process currently holds (API keys, signing and
//!   webhook secrets, peppers, outbox keys; see [`crate::secret::for_each_loaded`]):
//!   the whole value and each white-space separated token of it (a file may hold
//!   several secrets, one per line) of at least [`MIN_SECRET_TOKEN`] bytes, and for
//!   `whsec_` secrets also the base64 part → `[REDACTED]`;
//! - card numbers, found by the same detector as the policy's (a known brand's
//!   prefix and length, Luhn, digits of any script, separators as people write
//!   them; see [`crate::luhn`]) → digits replaced by `*`;
//! - e-mail addresses → `[email]`.

/// Shortest secret token that is masked (defined beside the secrets, so `secret` does not import `redact`).
pub use crate::secret::witness::MIN_SECRET_TOKEN;
/// What a secret becomes.
pub const SECRET_MASK: &str = "[REDACTED]";
/// What an e-mail address becomes.
pub const EMAIL_MASK: &str = "[email]";

/// `text` with secrets, card numbers and e-mail addresses masked.
pub fn redact(text: &str) -> String {
    let mut bytes = text.as_bytes().to_vec();
    crate::secret::for_each_loaded(|secret| mask_secret(&mut bytes, secret));
    crate::secret::witness::mask_key_files(&mut bytes, SECRET_MASK.as_bytes());
    let text = String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    let text = crate::luhn::redact_card_numbers(&text).unwrap_or(text);
    mask_emails(&text)
}

/// [`redact`] of an optional text.
pub fn redact_opt(text: Option<&str>) -> Option<String> {
    text.map(redact)
}

/// Masks `secret` (whole, and each token of it) in `buf`.
fn mask_secret(buf: &mut Vec<u8>, secret: &[u8]) {
    if secret.len() >= MIN_SECRET_TOKEN {
        replace_all(buf, secret);
    }
    for token in secret.split(u8::is_ascii_whitespace) {
        if token.len() >= MIN_SECRET_TOKEN {
            replace_all(buf, token);
        }
        if let Some(rest) = token.strip_prefix(b"whsec_") {
            if rest.len() >= MIN_SECRET_TOKEN {
                replace_all(buf, rest);
            }
        }
    }
}

/// Replaces every occurrence of `needle` in `buf` by [`SECRET_MASK`].
fn replace_all(buf: &mut Vec<u8>, needle: &[u8]) {
    if needle.is_empty() || buf.len() < needle.len() {
        return;
    }
    let mut out: Vec<u8> = Vec::with_capacity(buf.len());
    let mut i = 0;
    let mut hit = false;
    while i < buf.len() {
        if buf.get(i..i + needle.len()) == Some(needle) {
            out.extend_from_slice(SECRET_MASK.as_bytes());
            i += needle.len();
            hit = true;
        } else {
            if let Some(b) = buf.get(i) {
                out.push(*b);
            }
            i += 1;
        }
    }
    if hit {
        *buf = out;
    }
}

fn is_local(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+/=?^_`{|}~.-".contains(&b)
}

fn is_domain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'.'
}

/// `text` with every `local@domain.tld` replaced by [`EMAIL_MASK`].
pub fn mask_emails(text: &str) -> String {
    let s = text.as_bytes();
    if !s.contains(&b'@') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut copied = 0; // bytes of `text` already copied or masked
    let mut i = 0;
    while i < s.len() {
        if s.get(i) != Some(&b'@') {
            i += 1;
            continue;
        }
        let mut start = i;
        while start > copied && s.get(start - 1).is_some_and(|b| is_local(*b)) {
            start -= 1;
        }
        let mut end = i + 1;
        while s.get(end).is_some_and(|b| is_domain(*b)) {
            end += 1;
        }
        // Trailing dots and dashes belong to the sentence, not the domain.
        while end > i + 1 && s.get(end - 1).is_some_and(|b| *b == b'.' || *b == b'-') {
            end -= 1;
        }
        let domain = s.get(i + 1..end).unwrap_or_default();
        let tld_ok = domain.rsplit(|b| *b == b'.').next().is_some_and(|t| t.len() >= 2 && t.iter().all(u8::is_ascii_alphabetic));
        if start < i && domain.contains(&b'.') && tld_ok {
            out.push_str(text.get(copied..start).unwrap_or_default());
            out.push_str(EMAIL_MASK);
            copied = end;
        }
        i = end.max(i + 1);
    }
    out.push_str(text.get(copied..).unwrap_or_default());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn emails_are_masked_and_plain_at_signs_kept() {
        assert_eq!(mask_emails("mail jane.doe+shop@example.co.uk now."), "mail [email] now.");
        assert_eq!(mask_emails("a@b.com,c@d.org"), "[email],[email]");
        assert_eq!(mask_emails("@ home @x"), "@ home @x");
        assert_eq!(mask_emails("user@localhost"), "user@localhost");
        assert_eq!(mask_emails("x@ümlaut.de é"), "x@ümlaut.de é");
        assert_eq!(mask_emails("no at sign"), "no at sign");
    }

    #[test]
    fn card_numbers_and_emails_in_one_text() {
        let r = redact("card 4111 1111 1111 1111 from ana@example.com, order 1234");
        assert_eq!(r, "card **** **** **** **** from [email], order 1234");
    }

    #[test]
    fn card_numbers_as_people_write_them_are_masked() {
        assert_eq!(redact("a 4111.1111.1111.1111 b"), "a ****.****.****.**** b");
        assert_eq!(redact("a 4111  1111  1111  1111"), "a ****  ****  ****  ****");
        assert_eq!(redact("4111\u{a0}1111\u{a0}1111\u{a0}1111"), "****\u{a0}****\u{a0}****\u{a0}****");
        assert_eq!(redact("4111/1111/1111/1111\n"), "****/****/****/****\n");
        assert_eq!(redact("card\n4111\n1111\n1111\n1111"), "card\n****\n****\n****\n****");
        // Not a brand's number: kept.
        assert_eq!(redact("ref 1111 1111 1111 1117"), "ref 1111 1111 1111 1117");
    }

    #[test]
    fn loaded_secrets_are_masked_whole_and_per_token() {
        let dir = std::env::temp_dir().join(format!("sf-redact-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("signing");
        let mut f = std::fs::File::create(&p).unwrap();
        f.write_all(b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\nwhsec_c2Vjb25kLXNlY3JldC0xMjM0NTY3OA==\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        let k = dir.join("key");
        std::fs::write(&k, "sk_live_0123456789abcdef").unwrap();
        std::fs::set_permissions(&k, std::fs::Permissions::from_mode(0o600)).unwrap();
        crate::secret::load_file_cached(&p).unwrap();
        crate::secret::load_file_cached(&k).unwrap();
        let text = "a whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw b c2Vjb25kLXNlY3JldC0xMjM0NTY3OA== c sk_live_0123456789abcdef d";
        assert_eq!(redact(text), "a [REDACTED] b [REDACTED] c [REDACTED] d");
        // Ordinary words are untouched.
        assert_eq!(redact("tls: certificate expired"), "tls: certificate expired");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
