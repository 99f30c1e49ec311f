//! Per-request context: a request id and a string-keyed map of JSON values
//! that plugins and scripts share (verified JWT claims live here).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::Value;

static NEXT_REQUEST_ID: AtomicU64 = AtomicU64::new(1);

/// Context key of verified JWT claims (written by the JWT plugin, read by
/// scripts and header rules).
pub const JWT_CLAIMS_KEY: &str = "tollgate::authentication::jwt_claims";

/// Context key of the consumer credential that verified the token (`name`,
/// `key_id`, `scopes`), when consumer credentials are configured.
pub const CONSUMER_KEY: &str = "tollgate::authentication::consumer";

/// State that lives for one client request and is visible to every stage.
#[derive(Debug, Default)]
pub struct RequestContext {
    request_id: u64,
    entries: HashMap<String, Arc<Value>>,
    aliases: Vec<(&'static str, &'static str)>,
    trace_headers: Vec<(http::HeaderName, http::HeaderValue)>,
    client_headers: Option<Arc<http::HeaderMap>>,
    extensions: http::Extensions,
}

impl RequestContext {
    /// A fresh context with a process-unique request id.
    pub fn new() -> Self {
        Self {
            request_id: NEXT_REQUEST_ID.fetch_add(1, Ordering::Relaxed),
            entries: HashMap::new(),
            aliases: Vec::new(),
            trace_headers: Vec::new(),
            client_headers: None,
            extensions: http::Extensions::new(),
        }
    }

    /// A copy for one request of a batch: the same entries, headers and
    /// plugin state (what the router stage found once for the HTTP
    /// request), under a new request id.
    pub fn fork(&self) -> Self {
        Self {
            request_id: NEXT_REQUEST_ID.fetch_add(1, Ordering::Relaxed),
            entries: self.entries.clone(),
            aliases: self.aliases.clone(),
            trace_headers: self.trace_headers.clone(),
            client_headers: self.client_headers.clone(),
            extensions: self.extensions.clone(),
        }
    }

    /// Typed state plugins keep between their own stages. Unlike the
    /// entries, scripts can neither see nor change it.
    pub fn extensions(&self) -> &http::Extensions {
        &self.extensions
    }

    /// Typed plugin state, writable.
    pub fn extensions_mut(&mut self) -> &mut http::Extensions {
        &mut self.extensions
    }

    /// The process-unique id of this request (used in logs).
    /// W3C trace headers received from the client, passed on to subgraphs
    /// when propagation is on and the router does not export spans itself.
    pub fn trace_headers(&self) -> &[(http::HeaderName, http::HeaderValue)] {
        &self.trace_headers
    }

    /// The client's request headers, kept when header rules need them.
    pub fn client_headers(&self) -> Option<&http::HeaderMap> {
        self.client_headers.as_deref()
    }

    /// The kept client headers, shared (for hosts that hold them past a
    /// borrow of the context without copying them).
    pub fn client_headers_shared(&self) -> Option<&Arc<http::HeaderMap>> {
        self.client_headers.as_ref()
    }

    /// Keeps the client's request headers for header rules.
    pub fn set_client_headers(&mut self, headers: Arc<http::HeaderMap>) {
        self.client_headers = Some(headers);
    }

    /// Records the client's trace headers.
    pub fn set_trace_headers(&mut self, headers: Vec<(http::HeaderName, http::HeaderValue)>) {
        self.trace_headers = headers;
    }

    pub fn request_id(&self) -> u64 {
        self.request_id
    }

    /// The value stored under `key` (or under the key `key` is an alias of).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.get_shared(key).map(|v| &**v)
    }

    /// Like [`RequestContext::get`], the value still shared (no copy).
    pub fn get_shared(&self, key: &str) -> Option<&Arc<Value>> {
        self.entries.get(key).or_else(|| {
            let (_, target) = self.aliases.iter().find(|(alias, _)| *alias == key)?;
            self.entries.get(*target)
        })
    }

    /// Makes `alias` read the value of `target` without copying it (for
    /// compatibility keys such as Apollo's JWT claims key).
    pub fn alias(&mut self, alias: &'static str, target: &'static str) {
        if !self.aliases.contains(&(alias, target)) {
            self.aliases.push((alias, target));
        }
    }

    /// Stores `value` under `key`, returning the previous value.
    pub fn insert(&mut self, key: impl Into<String>, value: Value) -> Option<Value> {
        self.insert_shared(key, Arc::new(value))
    }

    /// Stores a value already shared elsewhere (no copy); a later change
    /// through [`RequestContext::get_mut`] copies it first.
    pub fn insert_shared(&mut self, key: impl Into<String>, value: Arc<Value>) -> Option<Value> {
        self.entries
            .insert(key.into(), value)
            .map(Arc::unwrap_or_clone)
    }

    /// A mutable reference to an entry (copied first if shared).
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.entries.get_mut(key).map(Arc::make_mut)
    }

    /// Removes the value under `key`.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.entries.remove(key).map(Arc::unwrap_or_clone)
    }

    /// Every entry, its value still shared (no copy), for scripts that
    /// enumerate the context.
    pub fn entries(&self) -> impl Iterator<Item = (&String, &Arc<Value>)> {
        self.entries.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_entries_round_trip() {
        let mut a = RequestContext::new();
        let b = RequestContext::new();
        assert_ne!(a.request_id(), b.request_id());
        assert_eq!(a.insert("k", Value::from(1)), None);
        assert_eq!(a.get("k"), Some(&Value::from(1)));
        a.alias("old", "k");
        assert_eq!(a.get("old"), Some(&Value::from(1)));
        let shared = Arc::new(Value::from(2));
        a.insert_shared("s", shared.clone());
        *a.get_mut("s").unwrap() = Value::from(3);
        assert_eq!(*shared, Value::from(2), "a shared value is copied on write");
        assert_eq!(a.get("s"), Some(&Value::from(3)));
        assert_eq!(a.remove("k"), Some(Value::from(1)));
        assert!(a.get("old").is_none());
        assert!(a.get("k").is_none());
    }
}
