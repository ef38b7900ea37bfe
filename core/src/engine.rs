//! The one engine value: the configuration file's path and its cache, the HTTPS
//! agents, the outbox key ring and in-process OAuth2 tokens ([`Clients`]), and the
//! entry points the binding calls (one per PHP function). The binding owns one `Engine` for the life
//! of the PHP worker; tests build their own, so they share nothing.
//!
//! Caches that still live in their own modules (one process-wide value each, with
//! the reason next to it): the outbox connection (`store::sqlite`, re-opened after
//! `fork`), secret files and environment secrets (`secret`), secret witnesses
//! (`secret::witness`). See ARCHITECTURE.md.
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use crate::auth::Clients;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::forward::{self, Receipt};
use crate::node::Node;
use crate::outbox::{self, DeliveryFilter, FilterValue, FlushCounts, Status, SubmitOptions};
use crate::preview::{self, Preview};

/// The configuration path, its parsed configuration (re-checked at most once per
/// [`crate::secret::RECHECK`]), the HTTPS agents and OAuth2 tokens of its requests,
/// and the entry points over them.
#[derive(Debug)]
pub struct Engine {
    config_path: PathBuf,
    config: Mutex<Option<CachedConfig>>,
    clients: Clients,
}

#[derive(Debug)]
struct CachedConfig {
    stamp: (u64, u64, u64, i64, i64),
    checked: Instant,
    config: Arc<Config>,
}

fn stamp_of(path: &Path) -> Result<(u64, u64, u64, i64, i64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).map_err(|e| Error::config_io(path.display().to_string(), None, &e))?;
    Ok((m.dev(), m.ino(), m.size(), m.mtime(), m.mtime_nsec()))
}

impl Engine {
    /// An engine reading its configuration from `config_path` (nothing is read yet).
    pub fn new(config_path: impl Into<PathBuf>) -> Self {
        Engine { config_path: config_path.into(), config: Mutex::new(None), clients: Clients::default() }
    }

    /// The configuration file this engine reads.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The parsed configuration, from this engine's cache: the file's identity is
    /// re-checked at most once per second; errors are not cached.
    pub fn config(&self) -> Result<Arc<Config>> {
        let path = self.config_path.as_path();
        let mut slot = self.config.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if let Some(c) = slot.as_mut() {
            if now.duration_since(c.checked) < crate::secret::RECHECK {
                return Ok(Arc::clone(&c.config));
            }
            if stamp_of(path)? == c.stamp {
                c.checked = now;
                return Ok(Arc::clone(&c.config));
            }
        }
        let stamp = stamp_of(path)?;
        let config = Arc::new(Config::load_uncached(path)?);
        *slot = Some(CachedConfig { stamp, checked: now, config: Arc::clone(&config) });
        Ok(config)
    }

    /// [`Engine::config`], for an entry point that reaches the outbox store: a
    /// shared outbox database gets this engine's key-check value first.
    fn store_config(&self) -> Result<Arc<Config>> {
        let config = self.config()?;
        outbox::shared::prepare_store(&self.clients, &config.outbox)?;
        Ok(config)
    }

    /// `secure_forward_order()`: minimises, stores and sends one order.
    pub fn order<N: Node>(&self, destination: &str, order: &N, event: &str, opts: &SubmitOptions) -> Result<Receipt> {
        outbox::submit_order_with(&self.clients, &*self.store_config()?, destination, order, event, opts)
    }

    /// `secure_forward_prepare()`: the exact body that would be sent, into `body`.
    pub fn prepare_into<N: Node>(&self, destination: &str, order: &N, body: &mut Vec<u8>) -> Result<()> {
        let config = self.config()?;
        forward::prepare_into(config.destination(destination)?, order, body)
    }

    /// `secure_forward_flush()`: sends due events until `max` events or `seconds` passed.
    pub fn flush(&self, max: u32, seconds: f64) -> Result<FlushCounts> {
        outbox::flush(&self.clients, &*self.store_config()?, max, seconds)
    }

    /// `secure_forward_status()`: outbox totals and per-destination figures.
    pub fn status(&self) -> Result<Status> {
        outbox::status_report(&*self.store_config()?)
    }

    /// `secure_forward_requeue()`: a dead letter back to the queue, due now.
    pub fn requeue(&self, event_id: &str, site: Option<&str>) -> Result<bool> {
        outbox::requeue_site(&*self.store_config()?, event_id, site)
    }

    /// `secure_forward_purge()`: erases every queued or dead payload of an order.
    pub fn purge(&self, order_id: &str, site: Option<&str>) -> Result<u64> {
        outbox::purge_site(&*self.store_config()?, order_id, site)
    }

    /// `secure_forward_preview()`: the request an order would make, without sending it.
    pub fn preview<N: Node>(&self, destination: &str, order: &N, event: &str) -> Result<Preview> {
        let config = self.config()?;
        preview::preview(config.destination(destination)?, order, event)
    }

    /// `secure_forward_destinations()`: names, hosts, methods, auth modes, events (no secrets).
    pub fn destinations(&self) -> Result<serde_json::Value> {
        Ok(preview::destinations(&*self.config()?))
    }

    /// `secure_forward_deliveries()`: events as facts (`{total, rows}`), filtered and
    /// paged; never a payload, key, token or URL. Bad filters are validation errors.
    pub fn deliveries(&self, filter: Vec<(String, FilterValue)>) -> Result<serde_json::Value> {
        let filter = DeliveryFilter::parse(filter)?;
        let (total, rows) = outbox::deliveries(&*self.store_config()?, &filter)?;
        let rows: Vec<serde_json::Value> = rows.iter().map(outbox::deliveries::row_json).collect();
        Ok(serde_json::json!({ "total": total, "rows": rows }))
    }

    /// `secure_forward_purge_event()`: erases one event (any state); false when there is none.
    pub fn purge_event(&self, event_id: &str) -> Result<bool> {
        outbox::purge_event(&*self.store_config()?, event_id)
    }

    /// `secure_forward_policy()`: a destination's effective policy (never the pepper).
    pub fn policy(&self, destination: &str) -> Result<serde_json::Value> {
        let config = self.config()?;
        let dest = config.destination(destination)?;
        Ok(crate::fingerprint::describe_policy(config.fingerprint_key_file.as_deref(), dest.policy.describe()))
    }

    /// `secure_forward_auth_check()`: facts about a destination's usable credential.
    pub fn auth_check(&self, destination: &str) -> Result<serde_json::Value> {
        let config = self.store_config()?;
        crate::auth::check(&self.clients, config.destination(destination)?, Some(&config.outbox))
    }

    /// `secure_forward_verify_webhook()`: the verified webhook's decoded JSON body.
    pub fn verify_webhook<N, V>(&self, source: &str, body: &[u8], headers: &[(N, V)], now: u64) -> Result<serde_json::Value>
    where
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        crate::webhook::verify_webhook(&*self.store_config()?, source, body, headers, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_engine_caches_its_own_file_and_sees_a_change() {
        let dir = std::env::temp_dir().join(format!("sf-engine-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a.toml"), dir.join("b.toml"));
        std::fs::write(&a, "[destinations.one]\nurl = \"https://one.example/\"\n").unwrap();
        std::fs::write(&b, "[destinations.two]\nurl = \"https://two.example/\"\n").unwrap();
        let (ea, eb) = (Engine::new(&a), Engine::new(&b));
        assert!(ea.config().unwrap().destination("one").is_ok());
        assert!(eb.config().unwrap().destination("two").is_ok());
        assert!(ea.config().unwrap().destination("two").is_err());
        let first = ea.config().unwrap();
        assert!(Arc::ptr_eq(&first, &ea.config().unwrap()), "cached");
        std::fs::write(&a, "[destinations.three]\nurl = \"https://three.example/long/path\"\n").unwrap();
        std::thread::sleep(crate::secret::RECHECK + std::time::Duration::from_millis(50));
        assert!(ea.config().unwrap().destination("three").is_ok(), "re-read after a change");
        let missing = Engine::new(dir.join("missing.toml")).config().unwrap_err();
        assert_eq!(missing.kind(), crate::ErrorKind::Config);
        assert!(missing.to_string().contains("missing.toml"), "{missing}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn cache_reloads_on_change() {
        let dir = std::env::temp_dir().join(format!("sf-engine-rename-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("c.toml");
        std::fs::write(&p, "[destinations.a]\nurl = \"https://a.example/\"\n").unwrap();
        let engine = Engine::new(&p);
        let c1 = engine.config().unwrap();
        assert!(c1.destinations.contains_key("a"));
        let tmp = dir.join("c.toml.new");
        std::fs::write(&tmp, "[destinations.b]\nurl = \"https://b.example/\"\n").unwrap();
        std::fs::rename(&tmp, &p).unwrap();
        std::thread::sleep(crate::secret::RECHECK + std::time::Duration::from_millis(50));
        let c2 = engine.config().unwrap();
        assert!(c2.destinations.contains_key("b"));
    }
}
