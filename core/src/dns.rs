//! A small DNS cache in front of ureq's resolver.
//!
//! ureq resolves the host of *every* request — before it looks in its pool for a
//! keep-alive connection — and, since a timeout is always set here, runs each
//! lookup (`getaddrinfo`: `/etc/hosts`, `nsswitch`, maybe the network) on a
//! thread of its own. That is most of the client-side cost of a request on a
//! reused connection. [`CachingResolver`] keeps a successful answer for
//! [`DNS_TTL`] (curl's default DNS cache time), per agent; failures are not kept.
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// How long a resolved address is reused.
pub const DNS_TTL: Duration = Duration::from_secs(60);

/// ureq's [`DefaultResolver`] with a positive cache of [`DNS_TTL`].
#[derive(Debug, Default)]
pub struct CachingResolver {
    inner: DefaultResolver,
    cache: Mutex<HashMap<String, (Instant, ResolvedSocketAddrs)>>,
}

impl Resolver for CachingResolver {
    fn resolve(&self, uri: &Uri, config: &Config, timeout: NextTimeout) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            return self.inner.resolve(uri, config, timeout);
        };
        let key = format!("{scheme}://{authority}");
        if let Some((at, addrs)) = self.cache.lock().unwrap_or_else(PoisonError::into_inner).get(&key) {
            if at.elapsed() < DNS_TTL {
                return Ok(addrs.clone());
            }
        }
        let addrs = self.inner.resolve(uri, config, timeout)?;
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.retain(|_, (at, _)| at.elapsed() < DNS_TTL);
        cache.insert(key, (Instant::now(), addrs.clone()));
        Ok(addrs)
    }
}
