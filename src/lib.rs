//! `secure_forward`: the thin PHP binding over `secure_forward_core`.
//!
//! This crate only converts arguments, maps errors to the `SecureForward\`
//! exception classes, registers the INI entry and prints phpinfo. Everything
//! that decides what is sent, and how, lives in the PHP-free core.
#![cfg_attr(windows, feature(abi_vectorcall))]

mod convert;
mod errors;
mod info;
mod memory;
mod node;
mod options;
mod sink;

use std::path::PathBuf;
use std::sync::OnceLock;

use ext_php_rs::flags::IniEntryPermission;
use ext_php_rs::prelude::*;
use ext_php_rs::types::ZendHashTable;
use ext_php_rs::zend::{ExecutorGlobals, IniEntryDef, IniEntryDefs};
use secure_forward_core::{Config, Engine, Error, FlushCounts, Receipt};

use crate::node::PhpNode;

/// The INI entry naming the TOML configuration file.
pub const INI_CONFIG: &str = "secure_forward.config";
/// Its default value.
pub const DEFAULT_CONFIG: &str = "/etc/secure-forward/config.toml";

// Process-wide: PHP keeps pointers into the INI definitions for the life of the module.
static INI_ENTRIES: IniEntryDefs<2> = IniEntryDefs::new([
    IniEntryDef::new(c"secure_forward.config", c"/etc/secure-forward/config.toml", IniEntryPermission::System),
    IniEntryDef::end(),
]);

/// The one engine (configuration cache and entry points) of this process. A static
/// because PHP calls arrive as free functions in a long-lived worker: there is no
/// value to hang it on. Set in MINIT with the INI path (PHP_INI_SYSTEM cannot change
/// at run time); set lazily if a function runs without MINIT having set it.
static ENGINE: OnceLock<Engine> = OnceLock::new();

fn engine() -> &'static Engine {
    ENGINE.get_or_init(|| Engine::new(read_ini_config_path()))
}

fn read_ini_config_path() -> PathBuf {
    let value = ExecutorGlobals::get().ini_values().remove(INI_CONFIG).flatten();
    PathBuf::from(value.filter(|v| !v.is_empty()).unwrap_or_else(|| DEFAULT_CONFIG.to_owned()))
}

fn load_config() -> Result<std::sync::Arc<Config>, Error> {
    engine().config()
}

/// MINIT: INI entry, exception classes, and a warning (never a crash) when the
/// configuration cannot be used. A configuration file that does not exist yet is
/// not a warning (a fresh `make install` would otherwise make every `php` command
/// complain until the operator writes one): phpinfo(), secure_forward_status()
/// and Site Health say it is missing. A file that exists but is broken still warns.
extern "C" fn startup(_ty: i32, module_number: i32) -> i32 {
    let ok = std::panic::catch_unwind(|| {
        IniEntryDef::register(INI_ENTRIES.as_slice(), module_number);
        if errors::register().is_err() {
            return false;
        }
        secure_forward_core::set_sink(Box::new(sink::ErrorLog));
        memory::install_guard();
        let path = read_ini_config_path();
        let missing = matches!(path.try_exists(), Ok(false));
        if let Some(Err(e)) = (!missing).then(|| Config::load_uncached(&path)) {
            ext_php_rs::error::php_error(
                &ext_php_rs::flags::ErrorType::CoreWarning,
                &secure_forward_core::redact(&format!("secure_forward: {e}")),
            );
        }
        let _ = ENGINE.set(Engine::new(path));
        true
    });
    // 0 = SUCCESS, -1 = FAILURE
    if matches!(ok, Ok(true)) {
        0
    } else {
        -1
    }
}

/// Minimises, stores and sends one order; returns a receipt. `options`: `key`
/// (the occurrence, replaces the payload in the event id), `resend` (a new event id
/// even for a state delivered before), `site` (stored with the event).
#[php_function]
#[php(defaults(destination = "\"default\"", event = "\"order.updated\""))]
pub fn secure_forward_order(
    order: &ZendHashTable,
    destination: String,
    event: String,
    options: Option<&ZendHashTable>,
) -> PhpResult<ext_php_rs::boxed::ZBox<ZendHashTable>> {
    let run = || -> Result<Receipt, Error> {
        let opts = options.map(options::from_array).transpose()?.unwrap_or_default();
        PhpNode::with_array(order, |node| engine().order(&destination, node, &event, &opts))
    };
    let receipt = run().map_err(|e| errors::to_php(&e))?;
    receipt_array(&receipt).map_err(|_| errors::internal("cannot build the receipt"))
}

fn receipt_array(r: &Receipt) -> ext_php_rs::error::Result<ext_php_rs::boxed::ZBox<ZendHashTable>> {
    let mut ht = ZendHashTable::new();
    ht.insert("event_id", r.event_id.as_str())?;
    ht.insert("status", r.status.as_str())?;
    ht.insert("http_status", r.http_status.map(i64::from))?;
    ht.insert("attempts", i64::from(r.attempts))?;
    ht.insert("reason", r.reason.as_deref().map(secure_forward_core::redact))?;
    Ok(ht)
}

/// Returns the exact JSON body that would be sent, without sending.
#[php_function]
#[php(defaults(destination = "\"default\""))]
pub fn secure_forward_prepare(order: &ZendHashTable, destination: &str) -> PhpResult<convert::PhpString> {
    thread_local! {
        /// The body buffer, reused from call to call (its capacity, never its bytes).
        // Per thread: a reused buffer (its capacity only), no state.
        static BODY: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
    }
    let mut body = BODY.take();
    let run = |body: &mut Vec<u8>| -> Result<(), Error> {
        PhpNode::with_array(order, |node| engine().prepare_into(destination, node, body))
    };
    let result = run(&mut body).map(|()| convert::PhpString::new(&body));
    // The body leaves as a PHP string (JSON, UTF-8 by construction); the buffer is
    // wiped (it held the order's minimised data) and kept for the next call unless
    // one huge order made it large.
    body.fill(0);
    std::hint::black_box(&body);
    body.clear();
    if body.capacity() <= 64 * 1024 {
        BODY.set(body);
    }
    result.map_err(|e| errors::to_php(&e))
}

fn json_array(v: &serde_json::Value) -> PhpResult<ext_php_rs::boxed::ZBox<ZendHashTable>> {
    match v {
        serde_json::Value::Object(m) => {
            convert::json_object_to_array(m).map_err(|_| errors::internal("cannot convert the result"))
        }
        _ => Ok(ZendHashTable::new()),
    }
}

/// The request an order would make, without sending it: `method`, `url`
/// (a `url_file` URL as its host only), `headers` (all that would be sent;
/// the key and `Authorization` as `[REDACTED]`) and `body` (the exact JSON).
#[php_function]
#[php(defaults(destination = "\"default\"", event = "\"order.updated\""))]
pub fn secure_forward_preview(
    order: &ZendHashTable,
    destination: String,
    event: String,
) -> PhpResult<ext_php_rs::boxed::ZBox<ZendHashTable>> {
    let run = || -> Result<secure_forward_core::Preview, Error> {
        PhpNode::with_array(order, |node| engine().preview(&destination, node, &event))
    };
    let p = run().map_err(|e| errors::to_php(&e))?;
    let build = || -> ext_php_rs::error::Result<ext_php_rs::boxed::ZBox<ZendHashTable>> {
        let mut headers = ZendHashTable::new();
        for (n, v) in &p.headers {
            headers.insert(n.as_str(), v.as_str())?;
        }
        let mut ht = ZendHashTable::new();
        ht.insert("method", p.method)?;
        ht.insert("url", p.url.as_str())?;
        ht.insert("headers", headers)?;
        ht.insert("body", convert::PhpString::new(&p.body))?;
        Ok(ht)
    };
    build().map_err(|_| errors::internal("cannot build the preview"))
}

/// The configured destinations: `name`, `host`, `method`, `auth`, `events`
/// (null: the caller's default events) and `shaped`. Never a secret.
#[php_function]
pub fn secure_forward_destinations() -> PhpResult<ext_php_rs::boxed::ZBox<ZendHashTable>> {
    let value = engine().destinations().map_err(|e| errors::to_php(&e))?;
    let mut ht = ZendHashTable::new();
    if let serde_json::Value::Array(list) = &value {
        for v in list {
            ht.push(convert::json_to_zval(v).map_err(|_| errors::internal("cannot convert the result"))?)
                .map_err(|_| errors::internal("cannot convert the result"))?;
        }
    }
    Ok(ht)
}

/// Sends due events from the outbox until `max` events or `seconds` have passed,
/// whatever the circuit says (flush is the probe).
#[php_function]
#[php(defaults(max = 100, seconds = 10.0))]
pub fn secure_forward_flush(max: i64, seconds: f64) -> PhpResult<ext_php_rs::boxed::ZBox<ZendHashTable>> {
    let run = || -> Result<FlushCounts, Error> {
        if max < 0 || !seconds.is_finite() || seconds < 0.0 {
            return Err(Error::validation("max", "max and seconds must be non-negative"));
        }
        engine().flush(u32::try_from(max).unwrap_or(u32::MAX), seconds)
    };
    let counts = run().map_err(|e| errors::to_php(&e))?;
    let mut ht = ZendHashTable::new();
    for (key, n) in counts.fields() {
        ht.insert(key, i64::try_from(n).unwrap_or(i64::MAX)).map_err(|_| errors::internal("cannot convert the result"))?;
    }
    Ok(ht)
}

/// Outbox totals and per-destination figures (facts only, never data).
#[php_function]
pub fn secure_forward_status() -> PhpResult<ext_php_rs::boxed::ZBox<ZendHashTable>> {
    let status = engine().status().map_err(|e| errors::to_php(&e))?;
    json_array(&status.to_json())
}

/// Moves a dead letter (of `site`, when given) back to the queue, due now. False
/// when there is no such dead event.
#[php_function]
pub fn secure_forward_requeue(event_id: String, site: Option<String>) -> PhpResult<bool> {
    engine().requeue(&event_id, site.as_deref()).map_err(|e| errors::to_php(&e))
}

/// Erases every queued or dead payload of an order (of `site`'s events only, when
/// given: right to erasure); returns rows removed.
#[php_function]
pub fn secure_forward_purge(order_id: &ext_php_rs::types::Zval, site: Option<String>) -> PhpResult<i64> {
    let run = || -> Result<i64, Error> {
        let id = if let Some(i) = order_id.long() {
            i.to_string()
        } else if let Some(s) = order_id.str() {
            s.to_owned()
        } else {
            return Err(Error::validation("order_id", "must be an int or a string"));
        };
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::validation("order_id", "must be a positive integer or digit string"));
        }
        Ok(i64::try_from(engine().purge(&id, site.as_deref())?).unwrap_or(i64::MAX))
    };
    run().map_err(|e| errors::to_php(&e))
}

/// Events as facts (`['total' => int, 'rows' => [...]]`), filtered by `order_id`,
/// `destination`, `state`, `event`, `site`, paged by `limit` (default 50, max 500)
/// and `offset`, `order` `desc` (default) or `asc` by creation. Never a payload,
/// key, token or URL. An unknown key or a bad value is a ValidationException.
#[php_function]
#[php(defaults(filter = "convert::FilterArg::default()"))]
pub fn secure_forward_deliveries(filter: convert::FilterArg) -> PhpResult<ext_php_rs::boxed::ZBox<ZendHashTable>> {
    let run = || -> Result<serde_json::Value, Error> { engine().deliveries(filter.0) };
    let value = run().map_err(|e| errors::to_php(&e))?;
    json_array(&value)
}

/// Erases one event (any state) from the outbox; false when there is none.
#[php_function]
pub fn secure_forward_purge_event(event_id: String) -> PhpResult<bool> {
    engine().purge_event(&event_id).map_err(|e| errors::to_php(&e))
}

/// The effective policy of a destination: fields, transforms (never the pepper).
#[php_function]
#[php(defaults(destination = "\"default\""))]
pub fn secure_forward_policy(destination: String) -> PhpResult<ext_php_rs::boxed::ZBox<ZendHashTable>> {
    let value = engine().policy(&destination).map_err(|e| errors::to_php(&e))?;
    json_array(&value)
}

/// Checks that a destination's credentials are usable now: loads its key, or
/// obtains an OAuth2 access token (cached, shared, or from the token endpoint).
/// Returns facts only (`auth`, `credential`, `token_host`, `client_id`,
/// `token_fingerprint`, `token_expires_in_s`), never a secret or token.
#[php_function]
#[php(defaults(destination = "\"default\""))]
pub fn secure_forward_auth_check(destination: String) -> PhpResult<ext_php_rs::boxed::ZBox<ZendHashTable>> {
    let value = engine().auth_check(&destination).map_err(|e| errors::to_php(&e))?;
    json_array(&value)
}

/// Verifies an inbound webhook (Standard Webhooks / Svix, or WooCommerce) against
/// `[webhooks.SOURCE]` and returns its decoded JSON body.
#[php_function]
#[php(defaults(source = "\"default\""))]
pub fn secure_forward_verify_webhook(
    body: ext_php_rs::binary_slice::BinarySlice<u8>,
    headers: &ZendHashTable,
    source: String,
) -> PhpResult<ext_php_rs::boxed::ZBox<ZendHashTable>> {
    let run = || -> Result<serde_json::Value, Error> {
        let headers = convert::headers_from_array(headers);
        engine().verify_webhook(&source, &body, &headers, secure_forward_core::unix_now())
    };
    let value = run().map_err(|e| errors::to_php(&e))?;
    let converted = match &value {
        serde_json::Value::Object(m) => convert::json_object_to_array(m),
        serde_json::Value::Array(a) => {
            let mut ht = ZendHashTable::new();
            a.iter().try_for_each(|v| ht.push(convert::json_to_zval(v)?)).map(|()| ht)
        }
        _ => {
            let e = Error::signature(secure_forward_core::SignatureReason::NotContainer);
            return Err(errors::to_php(&e));
        }
    };
    converted.map_err(|_| errors::internal("cannot convert the webhook body"))
}

#[php_module]
#[php(startup = "startup")]
pub fn get_module(module: ModuleBuilder) -> ModuleBuilder {
    module
        .info_function(info::php_module_info)
        .function(wrap_function!(secure_forward_order))
        .function(wrap_function!(secure_forward_prepare))
        .function(wrap_function!(secure_forward_preview))
        .function(wrap_function!(secure_forward_destinations))
        .function(wrap_function!(secure_forward_verify_webhook))
        .function(wrap_function!(secure_forward_flush))
        .function(wrap_function!(secure_forward_status))
        .function(wrap_function!(secure_forward_requeue))
        .function(wrap_function!(secure_forward_purge))
        .function(wrap_function!(secure_forward_purge_event))
        .function(wrap_function!(secure_forward_deliveries))
        .function(wrap_function!(secure_forward_policy))
        .function(wrap_function!(secure_forward_auth_check))
}
