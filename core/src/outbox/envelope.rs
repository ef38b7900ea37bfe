//! What is sealed for an event: the body, or — when the destination's `url`
//! has placeholders — the order's rendered URL and the body, so that a later
//! flush sends to the same URL. The URL may hold customer-derived values: it is
//! encrypted with the body, never stored in plain text.
//!
//! Layout: a body alone is stored as it is (JSON never starts with a NUL byte);
//! with a URL: `0x00 'U' len(u16, big endian) url body`.

/// The plaintext to seal for `body` sent to `url` (when the order has its own).
pub(crate) fn seal(url: Option<&str>, body: &[u8]) -> zeroize::Zeroizing<Vec<u8>> {
    let Some(url) = url.filter(|u| u.len() <= usize::from(u16::MAX)) else {
        return zeroize::Zeroizing::new(body.to_vec());
    };
    let mut out = zeroize::Zeroizing::new(Vec::with_capacity(4 + url.len() + body.len()));
    out.extend_from_slice(&[0, b'U']);
    out.extend_from_slice(&u16::try_from(url.len()).unwrap_or(u16::MAX).to_be_bytes());
    out.extend_from_slice(url.as_bytes());
    out.extend_from_slice(body);
    out
}

/// The URL (if any) and the body of an opened plaintext.
pub(crate) fn open(plain: &[u8]) -> (Option<&str>, &[u8]) {
    let Some([0, b'U', hi, lo]) = plain.get(..4).and_then(|h| <[u8; 4]>::try_from(h).ok()) else {
        return (None, plain);
    };
    let len = usize::from(u16::from_be_bytes([hi, lo]));
    let url = plain.get(4..4 + len).and_then(|u| std::str::from_utf8(u).ok());
    match url {
        Some(u) => (Some(u), plain.get(4 + len..).unwrap_or_default()),
        None => (None, plain),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let body = br#"{"id":1}"#;
        assert_eq!(&*seal(None, body), body);
        assert_eq!(open(body), (None, &body[..]));
        let sealed = seal(Some("https://x.example/orders/42?a=%20"), body);
        assert_eq!(open(&sealed), (Some("https://x.example/orders/42?a=%20"), &body[..]));
    }
}
