//! The PHP-free core of secure_forward.
//!
//! Everything that decides what leaves the store and how lives here: configuration,
//! secrets, the order tree abstraction ([`Node`]), the minimisation policy, the
//! HTTPS transport, the outbox, signing and audit. The PHP binding in the parent
//! crate owns one [`Engine`], converts arguments and maps [`Error`] to exceptions.
//!
//! The modules are private; this file is the API: what the binding uses, below.
//! The core's own integration tests, benches and fuzz targets reach internals
//! through [`testing`] (hidden, not an API). Layers: see ARCHITECTURE.md
//! (`make lint` checks them with tests/support/layers.py).
#![forbid(unsafe_code)]

mod audit;
mod auth;
mod civil;
mod config;
mod dns;
mod engine;
mod error;
mod fingerprint;
mod forward;
mod keys;
mod luhn;
mod node;
mod outbox;
mod policy;
mod preview;
mod redact;
mod secret;
mod shape;
mod signing;
mod store;
mod transport;
mod webhook;

// The engine and its results.
pub use engine::Engine;
pub use forward::{Receipt, ReceiptStatus};
pub use outbox::status::AttemptStatus;
pub use outbox::{CircuitState, DestStatus, DestinationStatus, FilterValue, FlushCounts, Status, SubmitOptions};
pub use preview::Preview;
// The one error type and its typed reasons.
pub use error::{
    ConfigReason, Error, ErrorKind, FileFailure, HttpFailure, IoError, RejectedReason, Result, SignatureReason, TransportReason,
    ValidationReason,
};
// The order tree the binding implements over PHP arrays.
pub use node::{FieldKey, Key, Limits, Node, Scalar};
// The configuration and the facts phpinfo() shows about it (never a secret).
pub use auth::{describe as describe_auth, key_fingerprint};
pub use config::{AuditConfig, Config, Destination};
pub use signing::signing_fingerprints;
pub use webhook::webhook_fingerprints;
// Process hooks the binding installs in MINIT, and helpers for its messages.
pub use audit::{set_sink, Sink, DEFAULT_LEVEL as DEFAULT_AUDIT_LEVEL};
pub use fingerprint::describe_key as describe_fingerprint_key;
pub use redact::redact;
pub use secret::{set_memory_guard, unix_now, MemoryGuard};

/// Version of the extension and its core, as sent in the `User-Agent`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Internals for the core's own integration tests (core/tests), benches
/// (core/benches) and fuzz targets (fuzz/). Not an API: nothing outside this
/// repository may use it, and it changes without notice.
#[doc(hidden)]
pub mod testing {
    /// The audit log.
    pub mod audit {
        pub use crate::audit::*;
    }
    /// OAuth2 credentials and the shared token cache.
    pub mod auth {
        pub use crate::auth::*;
    }
    /// The configuration (plain data).
    pub mod config {
        pub use crate::config::*;
    }
    /// One request: prepare, attempt, classify.
    pub mod forward {
        pub use crate::forward::*;
    }
    /// The outbox key ring.
    pub mod keys {
        pub use crate::keys::*;
    }
    /// Card number detection.
    pub mod luhn {
        pub use crate::luhn::*;
    }
    /// The outbox engine.
    pub mod outbox {
        pub use crate::outbox::*;
    }
    /// The minimisation policy.
    pub mod policy {
        pub use crate::policy::*;
    }
    /// What a request would look like (`secure_forward_preview()`).
    pub mod preview {
        pub use crate::preview::*;
    }
    /// Redaction of messages.
    pub mod redact {
        pub use crate::redact::*;
    }
    /// Secrets and their caches.
    pub mod secret {
        pub use crate::secret::*;
    }
    /// The storage layer (its schema version, for migration tests).
    pub mod store {
        pub use crate::store::sqlite::SCHEMA_VERSION;
    }
    /// Request shaping.
    pub mod shape {
        pub use crate::shape::*;
    }
    /// The HTTPS transport.
    pub mod transport {
        pub use crate::transport::*;
    }
    /// Inbound webhooks.
    pub mod webhook {
        pub use crate::webhook::*;
    }
}
