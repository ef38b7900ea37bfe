//! `php --ri secure_forward` / phpinfo(). Prints facts, never a secret.
use ext_php_rs::zend::ModuleEntry;
use ext_php_rs::{info_table_end, info_table_header, info_table_row, info_table_start};

fn clean(s: &str) -> String {
    s.replace('\0', "")
}

/// The module info function.
pub extern "C" fn php_module_info(_module: *mut ModuleEntry) {
    let _ = std::panic::catch_unwind(|| {
        let path = crate::engine().config_path().display().to_string();
        let parsed = match crate::load_config() {
            Ok(c) => (format!("yes ({} destinations)", c.destinations.len()), Some(c)),
            Err(e) => (clean(&secure_forward_core::redact(&format!("no: {e}"))), None),
        };
        info_table_start!();
        info_table_row!("secure_forward support", "enabled");
        info_table_row!("version", clean(env!("CARGO_PKG_VERSION")));
        info_table_row!("build", clean(&format!("commit {}, {} profile", env!("SF_BUILD_COMMIT"), env!("SF_BUILD_PROFILE"))));
        info_table_row!("ext-php-rs", clean(env!("SF_BUILD_EXT_PHP_RS")));
        info_table_row!("TLS provider", clean(env!("SF_BUILD_TLS_PROVIDER")));
        info_table_row!("HTTP client", clean(&format!("ureq {}", env!("SF_BUILD_UREQ"))));
        info_table_row!("secret memory", clean(&crate::memory::describe()));
        info_table_row!("config", clean(&path));
        info_table_row!("config parsed", parsed.0);
        if let Some(cfg) = parsed.1 {
            // Whether chosen secrets (pepper, client secret, …) can show a keyed fingerprint.
            let fingerprint_key = secure_forward_core::describe_fingerprint_key(cfg.fingerprint_key_file.as_deref());
            info_table_row!("fingerprint key", clean(&fingerprint_key));
            for (name, d) in &cfg.destinations {
                let key = d.key.as_ref().map_or_else(
                    || "none".to_owned(),
                    |k| {
                        let fp = secure_forward_core::key_fingerprint(d, cfg.fingerprint_key_file.as_deref())
                            .unwrap_or_else(|e| secure_forward_core::redact(&format!("unusable: {e}")));
                        format!("{} {} ({fp})", k.kind(), k.location())
                    },
                );
                info_table_row!(clean(&format!("destination {name}")), clean(&format!("host {}, key {key}", d.host)));
                let auth: Vec<String> = secure_forward_core::describe_auth(d, cfg.fingerprint_key_file.as_deref())
                    .into_iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect();
                info_table_row!(clean(&format!("destination {name} auth")), clean(&auth.join(", ")));
                if let Some(path) = &d.signing_secret_file {
                    let fps = secure_forward_core::signing_fingerprints(d.signing_secret_file.as_deref())
                        .map_or_else(|e| format!("unusable: {e}"), |f| f.join(", "));
                    info_table_row!(clean(&format!("destination {name} signing")), clean(&format!("{} ({fps})", path.display())));
                }
            }
        }
        if let Ok(cfg) = crate::load_config() {
            let counts = crate::engine().status().map_or_else(
                |e| secure_forward_core::redact(&format!("unreadable: {e}")),
                |s| format!("queued {}, dead {}", s.totals.queued, s.totals.dead),
            );
            let outbox = match &cfg.outbox.database {
                Some(db) => format!("mysql {} ({counts}), node {}, spool {}", db.shown(), db.node_id, cfg.outbox.path.display()),
                None => format!("{} ({counts})", cfg.outbox.path.display()),
            };
            info_table_row!("outbox", clean(&outbox));
            let audit = match &cfg.audit {
                Some(secure_forward_core::AuditConfig { path: Some(p), .. }) => p.display().to_string(),
                Some(a) => format!("PHP error log ({})", a.level),
                None => format!("PHP error log ({})", secure_forward_core::DEFAULT_AUDIT_LEVEL),
            };
            info_table_row!("audit log", clean(&audit));
            for (name, w) in &cfg.webhooks {
                let fps = secure_forward_core::webhook_fingerprints(&cfg, name)
                    .map_or_else(|e| format!("unusable: {e}"), |f| f.join(", "));
                info_table_row!(clean(&format!("webhook source {name}")), clean(&format!("{} ({fps})", w.secret_file.display())));
            }
        }
        info_table_end!();
        info_table_start!();
        info_table_header!("Directive", "Local Value", "Master Value");
        info_table_row!(crate::INI_CONFIG, clean(&path), clean(&path));
        info_table_end!();
    });
}
