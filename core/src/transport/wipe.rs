//! No copy of a key left in ureq's buffers or in a header value.
//!
//! - [`WipeSentConnector`]: a ureq connector chain element, generic over any
//!   inner transport, that zeroes the bytes of the output buffer right after
//!   each transmit. ureq serializes the request head (with the key header) and
//!   the body into that buffer, which lives as long as the pooled connection;
//!   without this the last request's key stays there until the next request
//!   overwrites it. (What the inner transport copies — rustls encrypts the
//!   plaintext in place into records — is ciphertext, or freed memory that the
//!   binding's zeroing allocator wipes.)
//! - [`zeroizing_header`]: an `http::HeaderValue` whose bytes live in a
//!   [`Secret`] (zeroized on drop, page-guarded) instead of a plain `Bytes`
//!   copy; ureq clones header values by reference count, never by copy.
use ureq::http::HeaderValue;
use ureq::unversioned::transport::{Buffers, ConnectionDetails, Connector, NextTimeout, Transport};
use zeroize::Zeroize;

use crate::secret::Secret;

/// Chain element: wraps the transport of the previous connector in [`WipeSent`].
#[derive(Debug, Clone, Copy, Default)]
pub struct WipeSentConnector;

impl<In: Transport> Connector<In> for WipeSentConnector {
    type Out = WipeSent<In>;

    fn connect(&self, _details: &ConnectionDetails, chained: Option<In>) -> Result<Option<Self::Out>, ureq::Error> {
        Ok(chained.map(|inner| WipeSent { inner, touched: false }))
    }
}

/// A transport that zeroes what it sent from its output buffer.
#[derive(Debug)]
pub struct WipeSent<T: Transport> {
    inner: T,
    /// The buffers were handed out (so the output buffer may hold unsent bytes).
    touched: bool,
}

impl<T: Transport> Transport for WipeSent<T> {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.touched = true;
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let sent = self.inner.transmit_output(amount, timeout);
        // ureq always fills the output buffer from its start: [..amount] is what
        // was just handed to the inner transport (sent or not).
        let out = self.inner.buffers().output();
        let end = amount.min(out.len());
        if let Some(done) = out.get_mut(..end) {
            done.zeroize();
        }
        sent
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.inner.await_input(timeout)
    }

    fn is_open(&mut self) -> bool {
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}

impl<T: Transport> Drop for WipeSent<T> {
    fn drop(&mut self) {
        // A request head written but never transmitted (an error between the
        // two) would otherwise leave with the buffer.
        if self.touched {
            self.inner.buffers().output().zeroize();
        }
    }
}

/// The owner of a header value's bytes: a [`Secret`].
struct SecretBytes(Secret);

impl AsRef<[u8]> for SecretBytes {
    fn as_ref(&self) -> &[u8] {
        self.0.expose()
    }
}

/// A sensitive header value whose bytes are a zeroizing [`Secret`] copy of
/// `value` (`None` when `value` is not a valid header value; the copy is then
/// zeroized too).
pub fn zeroizing_header(value: &[u8]) -> Option<HeaderValue> {
    let bytes = bytes::Bytes::from_owner(SecretBytes(Secret::new(value.to_vec())));
    let mut header = HeaderValue::from_maybe_shared(bytes).ok()?;
    header.set_sensitive(true);
    Some(header)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_value_is_shared_not_copied() {
        let h = zeroizing_header(b"sk_test_abc").unwrap();
        assert!(h.is_sensitive());
        assert_eq!(h.as_bytes(), b"sk_test_abc");
        let c = h.clone();
        assert_eq!(c.as_bytes().as_ptr(), h.as_bytes().as_ptr(), "a clone shares the zeroizing buffer");
        assert!(zeroizing_header(b"bad\r\nvalue").is_none());
    }
}
