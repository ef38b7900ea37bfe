//! TLS for the transport: a ureq connector (same shape as ureq's own
//! `RustlsConnector`) whose rustls client uses our own certificate verifier.
//!
//! The verifier wraps rustls' webpki verifier (ring provider, TLS 1.2 and 1.3
//! only) and adds two things ureq's `TlsConfig` cannot express:
//! - a self-signed certificate is told apart from one issued by an untrusted CA
//!   (webpki reports both as `UnknownIssuer`);
//! - SPKI pinning (`pin_sha256`): the SHA-256 of the DER SubjectPublicKeyInfo
//!   of a certificate **on the verified path** (the leaf, an intermediate of the
//!   path webpki built, or the trust anchor it ends at) must be one of the pins.
//!   Certificates the server sent that are not on that path count for nothing:
//!   a rogue leaf padded with the real server's certificate, or an unused
//!   pinned intermediate, does not satisfy a pin. When several paths verify,
//!   webpki keeps searching until one carries a pin.
use std::fmt;
use std::io::{Read as _, Write as _};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::{CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, StreamOwned};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use ureq::unversioned::transport::time::{Duration as UDuration, Instant as UInstant};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, Transport, TransportAdapter,
};

/// The trust roots of a connector.
#[derive(Debug)]
pub(crate) enum Roots {
    /// Mozilla's roots as shipped by `webpki-roots`.
    WebPki,
    /// Exactly these certificates (`ca_file`).
    Certs(Vec<CertificateDer<'static>>),
}

/// A certificate that signed itself and is not a trust anchor.
#[derive(Debug)]
pub(crate) struct SelfSigned;

impl fmt::Display for SelfSigned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("self-signed certificate")
    }
}

impl std::error::Error for SelfSigned {}

/// Wraps a TCP transport in TLS with our verifier; a plain chain element:
/// `TcpConnector::default().chain(TlsConnector::new(..)?)`.
pub(crate) struct TlsConnector {
    config: Arc<ClientConfig>,
}

impl fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConnector").finish()
    }
}

impl TlsConnector {
    /// A connector trusting `roots`; with `pins` non-empty, a verified chain must
    /// also carry one of the pinned keys.
    pub(crate) fn new(roots: Roots, pins: &[[u8; 32]]) -> Result<Self, rustls::Error> {
        let mut store = RootCertStore::empty();
        match roots {
            Roots::WebPki => store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            Roots::Certs(certs) => {
                store.add_parsable_certificates(certs);
            }
        }
        let anchors = store
            .roots
            .iter()
            .map(|ta| (ta.subject.as_ref().to_vec(), spki_sha256(&der_sequence(ta.subject_public_key_info.as_ref()))))
            .collect();
        let roots = store.roots.clone();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let sig_algs = provider.signature_verification_algorithms.all;
        let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(store), Arc::clone(&provider))
            .build()
            .map_err(|e| rustls::Error::General(format!("verifier: {e}")))?;
        let verifier = Verifier { inner, pins: pins.to_vec(), anchors, roots, sig_algs };
        let config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        Ok(TlsConnector { config: Arc::new(config) })
    }
}

impl<In: Transport> Connector<In> for TlsConnector {
    type Out = Either<In, TlsTransport>;

    fn connect(&self, details: &ConnectionDetails, chained: Option<In>) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Err(ureq::Error::ConnectionFailed);
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let host = details.uri.host().ok_or(ureq::Error::Tls("no host name"))?;
        let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        let name = ServerName::try_from(host).map_err(|_| ureq::Error::Tls("invalid host name"))?.to_owned();
        let mut conn = ClientConnection::new(Arc::clone(&self.config), name)?;
        let mut sock = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        // The handshake gets what is left of the connect budget, not a fresh one.
        let mut timeout = details.timeout;
        if let (UDuration::Exact(after), UInstant::Exact(started), UInstant::Exact(now)) =
            (timeout.after, details.now, (details.current_time)())
        {
            timeout.after = UDuration::Exact(after.saturating_sub(now.saturating_duration_since(started)));
        }
        sock.set_timeout(timeout);
        conn.complete_io(&mut sock)?;
        let buffers = LazyBuffers::new(details.config.input_buffer_size(), details.config.output_buffer_size());
        Ok(Some(Either::B(TlsTransport { buffers, stream: StreamOwned { conn, sock } })))
    }
}

/// A TLS connection made by [`TlsConnector`].
pub(crate) struct TlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsTransport").finish()
    }
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = self.buffers.output().get(..amount).ok_or(ureq::Error::Tls("output larger than its buffer"))?;
        self.stream.write_all(output)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

#[derive(Debug)]
struct Verifier {
    inner: Arc<WebPkiServerVerifier>,
    pins: Vec<[u8; 32]>,
    /// (subject contents, SPKI SHA-256) of each trust anchor.
    anchors: Vec<(Vec<u8>, [u8; 32])>,
    /// The trust anchors, for building the verified path the pins are checked on.
    roots: Vec<rustls_pki_types::TrustAnchor<'static>>,
    /// Signature algorithms of the provider.
    sig_algs: &'static [&'static dyn rustls_pki_types::SignatureVerificationAlgorithm],
}

impl Verifier {
    /// Whether a chain verifies for server authentication along a path that
    /// carries a pinned key: the leaf, an intermediate of that path, or the
    /// anchor it ends at. Certificates sent but not on the path are ignored.
    fn pinned(&self, end_entity: &CertificateDer<'_>, intermediates: &[CertificateDer<'_>], now: UnixTime) -> bool {
        let Ok(cert) = webpki::EndEntityCert::try_from(end_entity) else { return false };
        let carries_pin = |path: &webpki::VerifiedPath<'_>| -> Result<(), webpki::Error> {
            let leaf = spki_sha256(path.end_entity().subject_public_key_info().as_ref());
            let on_path = path.intermediate_certificates().map(|c| spki_sha256(c.subject_public_key_info().as_ref()));
            let anchor = spki_sha256(&der_sequence(path.anchor().subject_public_key_info.as_ref()));
            if std::iter::once(leaf).chain(on_path).chain(std::iter::once(anchor)).any(|k| self.pins.contains(&k)) {
                Ok(())
            } else {
                Err(webpki::Error::UnknownIssuer)
            }
        };
        cert.verify_for_usage(
            self.sig_algs,
            &self.roots,
            intermediates,
            now,
            webpki::KeyUsage::server_auth(),
            None,
            Some(&carries_pin),
        )
        .is_ok()
    }
}

impl Verifier {
    /// A certificate that names itself as issuer and is not one of our anchors.
    fn self_signed_stranger(&self, cert: &CertificateDer<'_>) -> bool {
        cert_parts(cert.as_ref()).is_some_and(|p| {
            let spki = spki_sha256(p.spki);
            p.issuer == p.subject && !self.anchors.iter().any(|(subject, key)| subject.as_slice() == p.subject && *key == spki)
        })
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            // webpki says "unknown issuer" (or "CA used as end entity", as
            // `openssl req -x509` sets CA:TRUE): name the actual fault.
            Err(rustls::Error::InvalidCertificate(_)) if self.self_signed_stranger(end_entity) => {
                Err(rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(Arc::new(SelfSigned)))))
            }
            Err(e) => Err(e),
            Ok(ok) if self.pins.is_empty() || self.pinned(end_entity, intermediates, now) => Ok(ok),
            Ok(_) => Err(rustls::Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure)),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }

    fn root_hint_subjects(&self) -> Option<&[rustls::DistinguishedName]> {
        self.inner.root_hint_subjects()
    }
}

/// SHA-256 of a DER SubjectPublicKeyInfo, as `pin_sha256` holds it.
fn spki_sha256(spki_der: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, spki_der);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// The parts of an X.509 certificate the verifier needs.
#[derive(Debug, PartialEq, Eq)]
struct CertParts<'a> {
    /// Contents of the issuer Name (without its SEQUENCE header), as webpki's trust anchors hold it.
    issuer: &'a [u8],
    /// Contents of the subject Name.
    subject: &'a [u8],
    /// The whole DER SubjectPublicKeyInfo.
    spki: &'a [u8],
}

/// One DER element: (tag, contents, whole element, what follows).
type Tlv<'a> = (u8, &'a [u8], &'a [u8], &'a [u8]);

fn tlv(input: &[u8]) -> Option<Tlv<'_>> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let (bytes, rest) = rest.split_at_checked(n)?;
        (bytes.iter().fold(0usize, |a, b| (a << 8) | usize::from(*b)), rest)
    };
    let header = input.len().checked_sub(rest.len())?;
    let (contents, after) = rest.split_at_checked(len)?;
    let whole = input.get(..header.checked_add(len)?)?;
    Some((tag, contents, whole, after))
}

fn cert_parts(der: &[u8]) -> Option<CertParts<'_>> {
    const SEQ: u8 = 0x30;
    let (SEQ, cert, _, _) = tlv(der)? else { return None };
    let (SEQ, tbs, _, _) = tlv(cert)? else { return None };
    let (tag, _, _, mut rest) = tlv(tbs)?;
    if tag == 0xa0 {
        (_, _, _, rest) = tlv(rest)?; // serialNumber after the explicit version
    }
    let (SEQ, _, _, rest) = tlv(rest)? else { return None }; // signature algorithm
    let (SEQ, issuer, _, rest) = tlv(rest)? else { return None };
    let (SEQ, _, _, rest) = tlv(rest)? else { return None }; // validity
    let (SEQ, subject, _, rest) = tlv(rest)? else { return None };
    let (SEQ, _, spki, _) = tlv(rest)? else { return None };
    Some(CertParts { issuer, subject, spki })
}

/// `contents` wrapped in a DER SEQUENCE header.
fn der_sequence(contents: &[u8]) -> Vec<u8> {
    let mut out = vec![0x30];
    let len = contents.len();
    if len < 0x80 {
        out.push(u8::try_from(len).unwrap_or(0));
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let significant = bytes.get(skip..).unwrap_or_default();
        out.push(0x80 | u8::try_from(significant.len()).unwrap_or(0));
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(contents);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_sequence_round_trips_through_tlv() {
        for len in [0usize, 1, 127, 128, 255, 256, 70_000] {
            let contents = vec![7u8; len];
            let wrapped = der_sequence(&contents);
            let (tag, c, whole, rest) = tlv(&wrapped).unwrap();
            assert_eq!((tag, c, whole, rest.len()), (0x30, contents.as_slice(), wrapped.as_slice(), 0), "{len}");
        }
        assert_eq!(tlv(&[0x30, 0x85, 1, 1, 1, 1, 1]), None, "lengths over 4 bytes are refused");
        assert_eq!(tlv(&[0x30, 0x05, 1]), None, "truncated");
        assert_eq!(cert_parts(b"not a certificate"), None);
    }
}
