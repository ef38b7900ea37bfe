//! The PHP exception hierarchy under `SecureForward\`, registered with
//! `ClassBuilder` so the classes are constructible from PHP, and the mapping
//! from the core's one error type.
use std::sync::atomic::{AtomicPtr, Ordering};

use ext_php_rs::builders::ClassBuilder;
use ext_php_rs::exception::PhpException;
use ext_php_rs::zend::{ce, ClassEntry};
use secure_forward_core::{Error, ErrorKind};

/// Class names: the base first, then one per [`ErrorKind`].
pub const CLASSES: [&str; 6] = [
    "SecureForward\\Exception",
    "SecureForward\\ConfigException",
    "SecureForward\\ValidationException",
    "SecureForward\\TransportException",
    "SecureForward\\RejectedException",
    "SecureForward\\SignatureException",
];

/// Class entries as registered, in the order of [`CLASSES`].
static ENTRIES: [AtomicPtr<ClassEntry>; 6] = [const { AtomicPtr::new(std::ptr::null_mut()) }; 6];

fn entry(i: usize) -> Option<&'static ClassEntry> {
    let p = ENTRIES.get(i)?.load(Ordering::Acquire);
    // SAFETY: the pointer is either null or was handed to us by the engine in the
    // registration callback for an internal class; internal class entries live in
    // persistent memory until the module shuts down, after which no PHP code runs.
    unsafe { p.as_ref() }
}

fn base_ce() -> &'static ClassEntry {
    entry(0).unwrap_or_else(ce::exception)
}

macro_rules! keep {
    ($i:expr) => {
        |ce: &'static mut ClassEntry, _| {
            if let Some(slot) = ENTRIES.get($i) {
                slot.store(ce, Ordering::Release);
            }
        }
    };
}

/// Registers the classes. Must run in MINIT.
pub fn register() -> ext_php_rs::error::Result<()> {
    let [base, config, validation, transport, rejected, signature] = CLASSES;
    ClassBuilder::new(base).extends((ce::exception, "Exception")).registration(keep!(0)).register()?;
    ClassBuilder::new(config).extends((base_ce, base)).registration(keep!(1)).register()?;
    ClassBuilder::new(validation).extends((base_ce, base)).registration(keep!(2)).register()?;
    ClassBuilder::new(transport).extends((base_ce, base)).registration(keep!(3)).register()?;
    ClassBuilder::new(rejected).extends((base_ce, base)).registration(keep!(4)).register()?;
    ClassBuilder::new(signature).extends((base_ce, base)).registration(keep!(5)).register()?;
    Ok(())
}

fn index_of(kind: ErrorKind) -> usize {
    match kind {
        ErrorKind::Config => 1,
        ErrorKind::Validation => 2,
        ErrorKind::Transport => 3,
        ErrorKind::Rejected => 4,
        ErrorKind::Signature => 5,
    }
}

/// Converts a core error into the PHP exception to throw. The code is the HTTP
/// status where there is one.
pub fn to_php(e: &Error) -> PhpException {
    let class = entry(index_of(e.kind())).unwrap_or_else(base_ce);
    let code = e.http_status().map_or(0, i32::from);
    PhpException::new(e.to_string(), code, class)
}
