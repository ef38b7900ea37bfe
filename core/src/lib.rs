//! The PHP-free core of secure_forward.
//!
//! Everything that decides what leaves the store and how lives here: configuration,
//! secrets, the order tree abstraction ([`node::Node`]), the minimisation policy,
//! the HTTPS transport, the outbox, signing and audit. The PHP binding in the
//! parent crate only converts arguments and maps [`Error`] to exceptions.
#![forbid(unsafe_code)]

pub mod audit;
pub mod auth;
pub mod config;
pub mod dns;
pub mod error;
pub mod fingerprint;
pub mod forward;
pub mod keys;
pub mod luhn;
pub mod node;
pub mod outbox;
pub mod policy;
pub mod redact;
pub mod secret;
pub mod shape;
pub mod signing;
pub mod store;
pub mod transport;
pub mod webhook;

pub use error::{Error, ErrorKind, Result};

/// Version of the extension and its core, as sent in the `User-Agent`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
