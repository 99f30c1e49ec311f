//! JWKS providers and the key store: file providers (read at start,
//! reloaded when the file's content changes, however it was replaced: see
//! [`tollgate_core::watch`]), remote providers (prefetched or
//! fetched on first use by one shared request, refreshed in the background,
//! refetched on an unknown `kid` at most once per cooldown), and OpenID
//! Connect providers (remote providers whose JWKS URL comes from the
//! issuer's discovery document). A token's `iss` selects the OIDC provider
//! of that issuer; tokens of other issuers use the file and remote
//! providers, so an unknown `iss` never contacts an OIDC issuer. A failed
//! refresh keeps the last good key set. Readers never wait on a refresh:
//! each provider's key set is an `Arc` swapped after a successful load.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::BytesMut;
use http::{HeaderMap, HeaderName, HeaderValue};
use parking_lot::{Mutex, RwLock};
use sha2::{Digest, Sha256};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tollgate_core::watch::{FileWatch, WatchEvent, DEBOUNCE};

use crate::config::JwksProviderConfig;
use crate::error::JwtSetupError;
use crate::jwks::KeySet;

/// Time limit of one JWKS fetch.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest JWKS document accepted.
pub const MAX_JWKS_BYTES: usize = 1024 * 1024;
/// How often file providers check their file's content for changes.
pub const FILE_CHECK_INTERVAL: Duration = Duration::from_secs(2);

enum Source {
    File {
        path: PathBuf,
        watch: tokio::sync::Mutex<FileWatch>,
    },
    Remote {
        url: String,
        headers: HeaderMap,
        polling_interval: Duration,
        prefetch: bool,
    },
    Oidc {
        issuer: String,
        discovery_url: String,
        /// The discovered `jwks_uri`; cleared when a JWKS fetch fails, so the
        /// next attempt discovers again.
        jwks_uri: Mutex<Option<String>>,
        headers: HeaderMap,
        polling_interval: Duration,
        prefetch: bool,
    },
}

impl Source {
    fn is_fetched(&self) -> bool {
        !matches!(self, Source::File { .. })
    }

    fn oidc_issuer(&self) -> Option<&str> {
        match self {
            Source::Oidc { issuer, .. } => Some(issuer),
            _ => None,
        }
    }
}

struct Provider {
    index: usize,
    source: Source,
    keys: RwLock<Option<Arc<KeySet>>>,
    digest: Mutex<Option<[u8; 32]>>,
    fetch_lock: tokio::sync::Mutex<()>,
    last_attempt: Mutex<Option<Instant>>,
    last_kid_refetch: Mutex<Option<Instant>>,
}

/// All providers' key sets, with a generation bumped on every change.
pub struct KeyStore {
    providers: Vec<Provider>,
    generation: AtomicU64,
    client: reqwest::Client,
    cooldown: Duration,
    cancel: CancellationToken,
    fetches: AtomicU64,
    file_changes: AtomicU64,
}

impl KeyStore {
    /// Builds the store: reads file providers now, checks remote providers' settings.
    pub fn new(
        configs: &[JwksProviderConfig],
        base_dir: &Path,
        cooldown: Duration,
    ) -> Result<Arc<Self>, JwtSetupError> {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(redirect_policy())
            .build()
            .map_err(|e| JwtSetupError::Client(e.to_string()))?;
        let mut providers = Vec::with_capacity(configs.len());
        for (index, config) in configs.iter().enumerate() {
            let (source, keys, digest) = match config {
                JwksProviderConfig::File { path } => {
                    let path = base_dir.join(path);
                    let bytes = std::fs::read(&path).map_err(|e| JwtSetupError::ReadFile {
                        index,
                        path: path.display().to_string(),
                        reason: e.to_string(),
                    })?;
                    let set = parse_file(index, &path, &bytes)?;
                    let digest = Sha256::digest(&bytes).into();
                    let source = Source::File {
                        watch: tokio::sync::Mutex::new(FileWatch::new(&path, &bytes)),
                        path,
                    };
                    (source, Some(Arc::new(set)), Some(digest))
                }
                JwksProviderConfig::Remote {
                    url,
                    polling_interval,
                    prefetch,
                    headers,
                } => {
                    check_url(index, "url", url)?;
                    check_interval(index, *polling_interval)?;
                    let source = Source::Remote {
                        url: url.clone(),
                        headers: header_map(index, headers)?,
                        polling_interval: *polling_interval,
                        prefetch: *prefetch,
                    };
                    (source, None, None)
                }
                JwksProviderConfig::Oidc {
                    issuer,
                    polling_interval,
                    prefetch,
                    headers,
                } => {
                    check_url(index, "issuer", issuer)?;
                    check_interval(index, *polling_interval)?;
                    let taken = providers
                        .iter()
                        .any(|p: &Provider| p.source.oidc_issuer() == Some(issuer.as_str()));
                    if taken {
                        return Err(JwtSetupError::BadRemote {
                            index,
                            key: "issuer",
                            reason: format!("`{issuer}` is configured by an earlier provider"),
                        });
                    }
                    let source = Source::Oidc {
                        issuer: issuer.clone(),
                        discovery_url: discovery_url(issuer),
                        jwks_uri: Mutex::new(None),
                        headers: header_map(index, headers)?,
                        polling_interval: *polling_interval,
                        prefetch: *prefetch,
                    };
                    (source, None, None)
                }
            };
            providers.push(Provider {
                index,
                source,
                keys: RwLock::new(keys),
                digest: Mutex::new(digest),
                fetch_lock: tokio::sync::Mutex::new(()),
                last_attempt: Mutex::new(None),
                last_kid_refetch: Mutex::new(None),
            });
        }
        Ok(Arc::new(Self {
            providers,
            generation: AtomicU64::new(1),
            client,
            cooldown,
            cancel: CancellationToken::new(),
            fetches: AtomicU64::new(0),
            file_changes: AtomicU64::new(0),
        }))
    }

    /// Prefetches remote providers that ask for it, then starts background refreshes.
    pub async fn start(self: &Arc<Self>) {
        for provider in &self.providers {
            if let Source::Remote { prefetch: true, .. } | Source::Oidc { prefetch: true, .. } =
                provider.source
            {
                let _guard = provider.fetch_lock.lock().await;
                self.fetch(provider).await;
            }
        }
        for index in 0..self.providers.len() {
            let store = Arc::downgrade(self);
            let cancel = self.cancel.clone();
            let interval = match &self.providers[index].source {
                Source::File { .. } => FILE_CHECK_INTERVAL,
                Source::Remote {
                    polling_interval, ..
                }
                | Source::Oidc {
                    polling_interval, ..
                } => *polling_interval,
            };
            tokio::spawn(refresh_loop(store, index, interval, cancel));
        }
    }

    /// The providers that may verify a token with this (unverified) `iss`:
    /// the OIDC provider of that issuer, else every file and remote provider.
    fn selected<'a>(&'a self, iss: Option<&'a str>) -> impl Iterator<Item = &'a Provider> + 'a {
        let oidc = iss.is_some_and(|iss| {
            self.providers
                .iter()
                .any(|p| p.source.oidc_issuer() == Some(iss))
        });
        self.providers
            .iter()
            .filter(move |p| match p.source.oidc_issuer() {
                Some(issuer) => oidc && Some(issuer) == iss,
                None => !oidc,
            })
    }

    /// The key sets that may verify a token with this `iss` (see [`Self::selected`]).
    pub fn snapshot_for(&self, iss: Option<&str>) -> Vec<Arc<KeySet>> {
        self.selected(iss)
            .filter_map(|p| p.keys.read().clone())
            .collect()
    }

    /// Whether a token with this `iss` has any provider at all (false: an
    /// issuer that is not an OIDC provider's, and no file or remote provider).
    pub fn serves_issuer(&self, iss: Option<&str>) -> bool {
        self.selected(iss).next().is_some()
    }

    /// Whether any provider a token with this `iss` may use is fetched over the network.
    pub fn has_remote_for(&self, iss: Option<&str>) -> bool {
        self.selected(iss).any(|p| p.source.is_fetched())
    }

    /// The issuers of the OIDC providers.
    pub fn oidc_issuers(&self) -> Vec<String> {
        self.providers
            .iter()
            .filter_map(|p| p.source.oidc_issuer().map(str::to_owned))
            .collect()
    }

    /// Stops the background refreshes.
    pub fn shutdown(&self) {
        self.cancel.cancel();
    }

    /// Every provider's current key set.
    pub fn snapshot(&self) -> Vec<Arc<KeySet>> {
        self.providers
            .iter()
            .filter_map(|p| p.keys.read().clone())
            .collect()
    }

    /// The key sets of file providers, with their provider index and path.
    pub fn file_sets(&self) -> Vec<(usize, PathBuf, Arc<KeySet>)> {
        self.providers
            .iter()
            .filter_map(|p| match &p.source {
                Source::File { path, .. } => {
                    p.keys.read().clone().map(|k| (p.index, path.clone(), k))
                }
                Source::Remote { .. } | Source::Oidc { .. } => None,
            })
            .collect()
    }

    /// Fetches each remote and OIDC provider's key set once (discovery
    /// first for OIDC) without installing it; returns one message per
    /// provider whose key set is not usable, naming its key.
    pub async fn check_remote(&self) -> Vec<String> {
        let mut errors = Vec::new();
        for provider in &self.providers {
            let (key, configured, url, headers) = match &provider.source {
                Source::File { .. } => continue,
                Source::Remote { url, headers, .. } => ("url", url, Ok(url.clone()), headers),
                Source::Oidc {
                    issuer, headers, ..
                } => ("issuer", issuer, self.discover(provider).await, headers),
            };
            let outcome = match url {
                Ok(url) => match fetch_jwks(&self.client, &url, headers).await {
                    Ok(bytes) => match KeySet::parse(&bytes) {
                        Ok(set) if set.keys.is_empty() => {
                            Err("it holds no usable signing key".to_owned())
                        }
                        Ok(_) => Ok(()),
                        Err(error) => Err(format!("not a usable JWKS: {error}")),
                    },
                    Err(reason) => Err(reason),
                },
                Err(reason) => Err(reason),
            };
            if let Err(reason) = outcome {
                let index = provider.index;
                errors.push(format!(
                    "jwt.jwks_providers[{index}].{key}: {configured}: {reason}"
                ));
            }
        }
        errors
    }

    /// Bumped whenever any key set changes.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Whether some key set with at least one key is loaded.
    pub fn has_keys(&self) -> bool {
        self.providers
            .iter()
            .any(|p| p.keys.read().as_ref().is_some_and(|k| !k.keys.is_empty()))
    }

    /// Whether any provider is fetched over the network (remote or OIDC).
    pub fn has_remote(&self) -> bool {
        self.providers.iter().any(|p| p.source.is_fetched())
    }

    /// Number of remote fetches attempted (for tests and metrics).
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// Number of changed JWKS file contents handled, applied or refused (for tests).
    pub fn file_changes(&self) -> u64 {
        self.file_changes.load(Ordering::Relaxed)
    }

    /// Loads remote providers that have no key set yet; concurrent callers
    /// share one fetch, and a failed fetch is not retried within the cooldown.
    pub async fn ensure_loaded(&self) {
        self.load_missing(self.providers.iter()).await;
    }

    /// [`Self::ensure_loaded`] for the providers a token with this `iss` may use.
    pub async fn ensure_loaded_for(&self, iss: Option<&str>) {
        self.load_missing(self.selected(iss)).await;
    }

    async fn load_missing(&self, providers: impl Iterator<Item = &Provider>) {
        for provider in providers {
            if !provider.source.is_fetched() || provider.keys.read().is_some() {
                continue;
            }
            let _guard = provider.fetch_lock.lock().await;
            if provider.keys.read().is_some() || self.in_cooldown(provider) {
                continue;
            }
            self.fetch(provider).await;
        }
    }

    /// After an unknown `kid`: refetches remote key sets not fetched within
    /// the cooldown. Returns whether any set was fetched.
    pub async fn refetch_for_unknown_kid(&self, iss: Option<&str>) -> bool {
        let mut fetched = false;
        for provider in self.selected(iss) {
            if !provider.source.is_fetched() {
                continue;
            }
            let _guard = provider.fetch_lock.lock().await;
            let now = Instant::now();
            {
                let mut last = provider.last_kid_refetch.lock();
                if last.is_some_and(|at| now.duration_since(at) < self.cooldown) {
                    metrics::counter!("apollo_authentication_cooldown_count", "kind" => "JWT")
                        .increment(1);
                    continue;
                }
                *last = Some(now);
            }
            fetched |= self.fetch(provider).await;
        }
        fetched
    }

    /// Whether the last fetch attempt (of any kind) is within the cooldown.
    fn in_cooldown(&self, provider: &Provider) -> bool {
        provider
            .last_attempt
            .lock()
            .is_some_and(|at| at.elapsed() < self.cooldown)
    }

    /// Fetches one remote provider (caller holds its fetch lock). Returns success.
    async fn fetch(&self, provider: &Provider) -> bool {
        *provider.last_attempt.lock() = Some(Instant::now());
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let index = provider.index;
        let (url, headers) = match &provider.source {
            Source::File { .. } => return false,
            Source::Remote { url, headers, .. } => (url.clone(), headers),
            Source::Oidc { headers, .. } => match self.discover(provider).await {
                Ok(url) => (url, headers),
                Err(reason) => {
                    metrics::counter!("tollgate_jwks_fetches_total", "provider" => index.to_string(), "result" => "failure").increment(1);
                    tracing::warn!(provider = index, %reason, "OpenID discovery failed; keeping the last good key set");
                    return false;
                }
            },
        };
        let result = fetch_jwks(&self.client, &url, headers).await;
        if result.is_err() {
            if let Source::Oidc { jwks_uri, .. } = &provider.source {
                *jwks_uri.lock() = None;
            }
        }
        match result {
            Ok(bytes) => {
                match KeySet::parse(&bytes) {
                    Ok(set) if set.keys.is_empty() => {
                        metrics::counter!("tollgate_jwks_fetches_total", "provider" => index.to_string(), "result" => "failure").increment(1);
                        tracing::warn!(provider = index, "JWKS fetch returned no usable signing key; keeping the last good key set");
                        false
                    }
                    Ok(set) => {
                        metrics::counter!("tollgate_jwks_fetches_total", "provider" => index.to_string(), "result" => "success").increment(1);
                        let now = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map(|d| d.as_secs_f64())
                            .unwrap_or(0.0);
                        metrics::gauge!("tollgate_jwks_last_success_timestamp_seconds", "provider" => index.to_string()).set(now);
                        self.install(provider, set, Sha256::digest(&bytes).into());
                        true
                    }
                    Err(error) => {
                        metrics::counter!("tollgate_jwks_fetches_total", "provider" => index.to_string(), "result" => "failure").increment(1);
                        tracing::warn!(provider = index, %error, "JWKS fetch returned an unusable document; keeping the last good key set");
                        false
                    }
                }
            }
            Err(reason) => {
                metrics::counter!("tollgate_jwks_fetches_total", "provider" => index.to_string(), "result" => "failure").increment(1);
                tracing::warn!(provider = index, %reason, "JWKS fetch failed; keeping the last good key set");
                false
            }
        }
    }

    /// The JWKS URL of an OIDC provider: the one discovered before, or read
    /// now from the issuer's discovery document, whose `issuer` must equal
    /// the configured one exactly.
    async fn discover(&self, provider: &Provider) -> Result<String, String> {
        let Source::Oidc {
            issuer,
            discovery_url,
            jwks_uri,
            headers,
            ..
        } = &provider.source
        else {
            return Err("not an OIDC provider".to_owned());
        };
        if let Some(url) = jwks_uri.lock().clone() {
            return Ok(url);
        }
        let bytes = fetch_jwks(&self.client, discovery_url, headers).await?;
        let document: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|_| "the discovery document is not JSON".to_owned())?;
        match document.get("issuer").and_then(serde_json::Value::as_str) {
            Some(found) if found == issuer => {}
            Some(_) => {
                return Err(
                    "the discovery document names another issuer than the configured one"
                        .to_owned(),
                )
            }
            None => return Err("the discovery document has no `issuer`".to_owned()),
        }
        let url = document
            .get("jwks_uri")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| "the discovery document has no `jwks_uri`".to_owned())?;
        check_jwks_uri(issuer, url)?;
        *jwks_uri.lock() = Some(url.to_owned());
        Ok(url.to_owned())
    }

    fn install(&self, provider: &Provider, set: KeySet, digest: [u8; 32]) {
        let mut current = provider.digest.lock();
        if *current == Some(digest) && provider.keys.read().is_some() {
            return;
        }
        *current = Some(digest);
        *provider.keys.write() = Some(Arc::new(set));
        self.generation.fetch_add(1, Ordering::AcqRel);
        tracing::info!(provider = provider.index, "JWKS key set loaded");
    }

    /// Reloads a file provider when its content changed. Returns whether
    /// new content is settling (check again after the debounce).
    async fn check_file(&self, provider: &Provider) -> bool {
        let Source::File { path, watch } = &provider.source else {
            return false;
        };
        let index = provider.index;
        let event = watch.lock().await.check().await;
        match event {
            WatchEvent::Unchanged => false,
            WatchEvent::Settling => true,
            WatchEvent::Unreadable(reason) => {
                tollgate_core::observe::reload("jwks", false);
                tracing::error!(provider = index, path = %path.display(), %reason, "JWKS file cannot be read; keeping the last good key set");
                false
            }
            WatchEvent::Changed(bytes) => {
                self.file_changes.fetch_add(1, Ordering::Relaxed);
                match parse_file(index, path, &bytes) {
                    Ok(set) => {
                        tollgate_core::observe::reload("jwks", true);
                        tracing::info!(provider = index, path = %path.display(), keys = set.keys.len(), "JWKS file changed: key set replaced");
                        self.install(provider, set, Sha256::digest(&bytes).into());
                    }
                    Err(error) => {
                        tollgate_core::observe::reload("jwks", false);
                        tracing::error!(%error, "JWKS file changed but cannot be used; keeping the last good key set");
                    }
                }
                false
            }
        }
    }
}

async fn refresh_loop(
    store: Weak<KeyStore>,
    index: usize,
    interval: Duration,
    cancel: CancellationToken,
) {
    let mut wait = interval;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        let Some(store) = store.upgrade() else { return };
        let provider = &store.providers[index];
        wait = interval;
        if provider.source.is_fetched() {
            let _guard = provider.fetch_lock.lock().await;
            store.fetch(provider).await;
        } else if store.check_file(provider).await {
            wait = DEBOUNCE;
        }
    }
}

/// `{issuer}/.well-known/openid-configuration` (OpenID Connect Discovery
/// 1.0 §4: a trailing slash of the issuer is not doubled).
fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

/// A discovered `jwks_uri` must be an http(s) URL, and https when the
/// issuer is (no downgrade to plain HTTP).
fn check_jwks_uri(issuer: &str, url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url)
        .map_err(|_| "the discovery document's `jwks_uri` is not a URL".to_owned())?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if !issuer.starts_with("https:") => Ok(()),
        _ => Err("the discovery document's `jwks_uri` is not an https URL".to_owned()),
    }
}

fn check_url(index: usize, key: &'static str, url: &str) -> Result<(), JwtSetupError> {
    let parsed = url::Url::parse(url).map_err(|e| JwtSetupError::BadRemote {
        index,
        key,
        reason: format!("`{url}` is not a URL: {e}"),
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(JwtSetupError::BadRemote {
            index,
            key,
            reason: "only http and https URLs are supported".to_owned(),
        });
    }
    Ok(())
}

fn check_interval(index: usize, interval: Duration) -> Result<(), JwtSetupError> {
    if interval.is_zero() {
        return Err(JwtSetupError::BadRemote {
            index,
            key: "polling_interval",
            reason: "must be greater than 0".to_owned(),
        });
    }
    Ok(())
}

fn header_map(
    index: usize,
    headers: &indexmap::IndexMap<String, String>,
) -> Result<HeaderMap, JwtSetupError> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let name = HeaderName::try_from(name.as_str()).map_err(|_| JwtSetupError::BadRemote {
            index,
            key: "headers",
            reason: format!("`{name}` is not a valid header name"),
        })?;
        let value =
            HeaderValue::try_from(value.as_str()).map_err(|_| JwtSetupError::BadRemote {
                index,
                key: "headers",
                reason: format!("the value of `{name}` is not a valid header value"),
            })?;
        map.insert(name, value);
    }
    Ok(map)
}

/// Parses a JWKS file's content; a set without a usable key is refused.
fn parse_file(index: usize, path: &Path, bytes: &[u8]) -> Result<KeySet, JwtSetupError> {
    let set = KeySet::parse(bytes).map_err(|e| JwtSetupError::BadJwks {
        index,
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    if set.keys.is_empty() {
        return Err(JwtSetupError::BadJwks {
            index,
            path: path.display().to_string(),
            reason: "it holds no usable signing key".to_owned(),
        });
    }
    Ok(set)
}

/// Most redirects followed by one key-set or discovery fetch.
pub const MAX_REDIRECTS: usize = 5;

/// Redirects of key-set and discovery fetches: at most [`MAX_REDIRECTS`],
/// see [`redirect_refusal`].
fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        match redirect_refusal(attempt.previous(), attempt.url()) {
            None => attempt.follow(),
            Some(why) => attempt.error(why),
        }
    })
}

/// Why a redirect to `next` is not followed, after `previous` (the first is
/// the configured URL): too many, to another host (the provider's `headers`
/// may carry secrets, and the keys must come from the host the operator
/// named), or from https to http (keys fetched in clear text).
fn redirect_refusal(previous: &[reqwest::Url], next: &reqwest::Url) -> Option<&'static str> {
    let first = previous.first()?;
    if previous.len() > MAX_REDIRECTS {
        return Some("too many redirects");
    }
    if next.host_str() != first.host_str() {
        return Some("redirect to another host");
    }
    if next.scheme() != "https" && previous.iter().any(|url| url.scheme() == "https") {
        return Some("redirect from https to http");
    }
    None
}

async fn fetch_jwks(
    client: &reqwest::Client,
    url: &str,
    headers: &HeaderMap,
) -> Result<BytesMut, String> {
    let mut response = client
        .get(url)
        .headers(headers.clone())
        .header(
            http::header::ACCEPT,
            "application/json, application/jwk-set+json",
        )
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                "timed out".to_owned()
            } else if e.is_redirect() {
                match std::error::Error::source(&e) {
                    Some(why) => format!("redirect not followed ({why})"),
                    None => "redirect not followed".to_owned(),
                }
            } else {
                "connection failed".to_owned()
            }
        })?;
    if !response.status().is_success() {
        return Err(format!("HTTP status {}", response.status()));
    }
    if response
        .content_length()
        .is_some_and(|len| len > MAX_JWKS_BYTES as u64)
    {
        return Err("document too large".to_owned());
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|_| "body read failed".to_owned())?
    {
        if body.len() + chunk.len() > MAX_JWKS_BYTES {
            return Err("document too large".to_owned());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_stay_on_the_host_and_never_downgrade() {
        let url = |u: &str| reqwest::Url::parse(u).unwrap();
        let http = url("http://idp.example/jwks");
        let https = url("https://idp.example/jwks");
        assert_eq!(
            redirect_refusal(std::slice::from_ref(&http), &url("http://idp.example/v2")),
            None
        );
        assert_eq!(
            redirect_refusal(std::slice::from_ref(&http), &https),
            None,
            "upgrade"
        );
        assert_eq!(
            redirect_refusal(
                std::slice::from_ref(&https),
                &url("https://idp.example:8443/k")
            ),
            None
        );
        assert_eq!(
            redirect_refusal(std::slice::from_ref(&https), &http),
            Some("redirect from https to http")
        );
        assert_eq!(
            redirect_refusal(&[http.clone(), https.clone()], &http),
            Some("redirect from https to http")
        );
        assert_eq!(
            redirect_refusal(
                std::slice::from_ref(&https),
                &url("https://evil.example/jwks")
            ),
            Some("redirect to another host")
        );
        let chain = vec![https.clone(); MAX_REDIRECTS];
        assert_eq!(redirect_refusal(&chain, &https), None);
        let chain = vec![https.clone(); MAX_REDIRECTS + 1];
        assert_eq!(redirect_refusal(&chain, &https), Some("too many redirects"));
    }

    #[test]
    fn discovery_urls_and_jwks_uri_schemes() {
        assert_eq!(
            discovery_url("https://idp.example/"),
            "https://idp.example/.well-known/openid-configuration"
        );
        assert_eq!(
            discovery_url("https://idp.example/tenant"),
            "https://idp.example/tenant/.well-known/openid-configuration"
        );
        assert!(check_jwks_uri("https://idp.example", "https://keys.example/jwks").is_ok());
        assert!(check_jwks_uri("https://idp.example", "http://keys.example/jwks").is_err());
        assert!(check_jwks_uri("http://127.0.0.1:1/t", "http://127.0.0.1:1/t/jwks").is_ok());
        assert!(check_jwks_uri("http://127.0.0.1:1/t", "file:///etc/passwd").is_err());
        assert!(check_jwks_uri("https://idp.example", "not a url").is_err());
    }
}
