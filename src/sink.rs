//! The audit log's fallback: PHP's error log (the `error_log` INI target, syslog,
//! or the SAPI's log), at `[audit] level`, never the page.
use std::ffi::{c_char, c_int, c_void, CString};
use std::sync::OnceLock;

use secure_forward_core::Sink;

/// `php_log_err_with_severity()` (main/main.c, PHPAPI): what `error_log($message)`
/// calls. Writes to the configured error log with the given syslog severity.
type LogErr = unsafe extern "C" fn(log_message: *const c_char, syslog_type_int: c_int);

unsafe extern "C" {
    /// dlsym(3), from the C library every PHP build links.
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
}

/// The engine's `php_log_err_with_severity`, looked up at run time with dlsym
/// rather than linked: ext-php-rs does not wrap it, and a hard reference would
/// stop the library from loading outside PHP (`cargo php stubs` loads it so).
fn log_err() -> Option<LogErr> {
    // Process-wide: the address of a PHP function, looked up once.
    static FN: OnceLock<usize> = OnceLock::new();
    let addr = *FN.get_or_init(|| {
        // SAFETY: RTLD_DEFAULT (a null handle on glibc and musl) searches the
        // global symbol scope, where the PHP binary's exported symbols are; the
        // name is a NUL-terminated literal.
        unsafe { dlsym(std::ptr::null_mut(), c"php_log_err_with_severity".as_ptr()) as usize }
    });
    if addr == 0 {
        return None;
    }
    // SAFETY: a non-null address found under that name is PHP's
    // `void php_log_err_with_severity(const char *, int)` (PHPAPI since PHP 7.1),
    // whose C ABI matches `LogErr`.
    Some(unsafe { std::mem::transmute::<usize, LogErr>(addr) })
}

/// syslog(3) severities.
const LOG_WARNING: c_int = 4;
const LOG_NOTICE: c_int = 5;
const LOG_INFO: c_int = 6;

/// Writes audit lines to PHP's error log.
pub struct ErrorLog;

impl Sink for ErrorLog {
    fn write(&self, level: &str, line: &str) {
        let severity = match level {
            "info" => LOG_INFO,
            "warning" => LOG_WARNING,
            _ => LOG_NOTICE,
        };
        let Ok(message) = CString::new(format!("secure_forward audit {level}: {line}")) else {
            return;
        };
        let Some(log) = log_err() else { return };
        // SAFETY: `message` is a NUL-terminated string that outlives the call; the
        // function only reads it (it is not a format string). It is only called
        // from PHP request or CLI code paths (never before MINIT or after MSHUTDOWN).
        unsafe { log(message.as_ptr(), severity) };
    }
}
