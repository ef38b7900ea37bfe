//! The audit log's fallback: PHP's error log (the `error_log` INI target, syslog,
//! or the SAPI's log), at `[audit] level`, never the page.
use std::ffi::{c_char, c_int, CString};

use secure_forward_core::audit::Sink;

unsafe extern "C" {
    /// PHP's `php_log_err_with_severity()` (main/main.c, PHPAPI): what
    /// `error_log($message)` calls. Writes to the configured error log with the
    /// given syslog severity (used when `error_log = syslog`).
    fn php_log_err_with_severity(log_message: *const c_char, syslog_type_int: c_int);
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
        // SAFETY: `message` is a NUL-terminated string that outlives the call; the
        // function only reads it (it is not a format string). It is exported by
        // the PHP binary that loaded this extension, and is only called from PHP
        // request or CLI code paths (never before MINIT or after MSHUTDOWN).
        unsafe { php_log_err_with_severity(message.as_ptr(), severity) };
    }
}
