//! The PHP exception hierarchy under `SecureForward\`, registered with
//! `ClassBuilder` so the classes are constructible from PHP, and the mapping
//! from the core's one error type.
use std::sync::atomic::{AtomicPtr, Ordering};

use ext_php_rs::builders::ClassBuilder;
use ext_php_rs::convert::IntoZval as _;
use ext_php_rs::exception::PhpException;
use ext_php_rs::types::{ZendObject, Zval};
use ext_php_rs::zend::{ce, ClassEntry, ExecutorGlobals};
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
/// status where there is one; the message has passed the redaction layer; the
/// exception object is built here so that its trace carries no argument values
/// (see [`exception_object`]).
pub fn to_php(e: &Error) -> PhpException {
    let class = entry(index_of(e.kind())).unwrap_or_else(base_ce);
    let code = e.http_status().map_or(0, i32::from);
    let message = secure_forward_core::redact::redact(&e.to_string());
    match exception_object(class, &message, code) {
        Some(object) => PhpException::new(message, code, class).with_object(object),
        None => PhpException::new(message, code, class),
    }
}

/// A `SecureForward\Exception` for a failure of the binding itself (a result
/// that cannot be converted), built like [`to_php`]'s: no argument values in its trace.
pub fn internal(message: &str) -> PhpException {
    let class = base_ce();
    match exception_object(class, message, 0) {
        Some(object) => PhpException::new(message.to_owned(), 0, class).with_object(object),
        None => PhpException::new(message.to_owned(), 0, class),
    }
}

/// Creates an exception of `class` whose trace holds no argument values, even
/// with `zend.exception_ignore_args=Off` (the order array, a webhook body, ...
/// would otherwise appear in `getTrace()`/`getTraceAsString()` and in logs):
/// the object is created with `EG(exception_ignore_args)` set, so the engine
/// never copies the arguments, and its `trace` is then scrubbed as php-src's
/// ext/sodium does (`sodium_remove_param_values_from_backtrace`).
fn exception_object(class: &'static ClassEntry, message: &str, code: i32) -> Option<Zval> {
    let previous = std::mem::replace(&mut ExecutorGlobals::get_mut().exception_ignore_args, true);
    let mut object = ZendObject::new(class);
    ExecutorGlobals::get_mut().exception_ignore_args = previous;
    let code = i64::from(code);
    object.try_call_method("__construct", vec![&message, &code]).ok()?;
    scrub_trace_args(&mut object);
    object.into_zval(false).ok()
}

/// Removes the `args` entry of every frame of the exception's private `trace`.
fn scrub_trace_args(object: &mut ZendObject) {
    let mut rv = Zval::new();
    // SAFETY: `object` is a live exception object we own; `zend_read_property`
    // with the base Exception class as scope may read the private `trace`
    // property (silently, `rv` as scratch). For a declared property it returns a
    // pointer to the object's property slot, valid while the object lives and no
    // other property is written; we use it only within this function.
    let trace = unsafe {
        ext_php_rs::ffi::zend_read_property(
            std::ptr::from_ref(ce::exception()).cast_mut(),
            std::ptr::from_mut(object),
            c"trace".as_ptr(),
            5,
            true,
            &raw mut rv,
        )
        .as_mut()
    };
    let Some(frames) = trace.and_then(Zval::array_mut) else {
        return;
    };
    let count = i64::try_from(frames.len()).unwrap_or(i64::MAX);
    for i in 0..count {
        if let Some(frame) = frames.get_index_mut(i).and_then(Zval::array_mut) {
            frame.remove("args");
        }
    }
}
