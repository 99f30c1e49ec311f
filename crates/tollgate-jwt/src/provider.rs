//! JWKS providers and the key store: file providers (read at start,
//! reloaded when the file changes) and remote providers (prefetched or
//! fetched on first use by one shared request, refreshed in the background,
//! refetched on an unknown `kid` at most once per cooldown). A failed refresh
//! keeps the last good key set. Readers never wait on a refresh: each
//! provider's key set is an `Arc` swapped after a successful load.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use bytes::BytesMut;
use http::{HeaderMap, HeaderName, HeaderValue};
use parking_lot::{Mutex, RwLock};
use sha2::{Digest, Sha256};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::JwksProviderConfig;
use crate::error::JwtSetupError;
use crate::jwks::KeySet;

/// Time limit of one JWKS fetch.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest JWKS document accepted.
pub const MAX_JWKS_BYTES: usize = 1024 * 1024;
/// How often file providers check their file for changes.
pub const FILE_CHECK_INTERVAL: Duration = Duration::from_secs(2);

enum Source {
    File {
        path: PathBuf,
        modified: Mutex<Option<SystemTime>>,
    },
    Remote {
        url: String,
        headers: HeaderMap,
        polling_interval: Duration,
        prefetch: bool,
    },
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
            .build()
            .map_err(|e| JwtSetupError::Client(e.to_string()))?;
        let mut providers = Vec::with_capacity(configs.len());
        for (index, config) in configs.iter().enumerate() {
            let (source, keys, digest) = match config {
                JwksProviderConfig::File { path } => {
                    let path = base_dir.join(path);
                    let (set, digest, modified) = read_file(index, &path)?;
                    let source = Source::File {
                        path,
                        modified: Mutex::new(modified),
                    };
                    (source, Some(Arc::new(set)), Some(digest))
                }
                JwksProviderConfig::Remote {
                    url,
                    polling_interval,
                    prefetch,
                    headers,
                } => {
                    let parsed = url::Url::parse(url).map_err(|e| JwtSetupError::BadRemote {
                        index,
                        key: "url",
                        reason: format!("`{url}` is not a URL: {e}"),
                    })?;
                    if !matches!(parsed.scheme(), "http" | "https") {
                        return Err(JwtSetupError::BadRemote {
                            index,
                            key: "url",
                            reason: "only http and https URLs are supported".to_owned(),
                        });
                    }
                    if polling_interval.is_zero() {
                        return Err(JwtSetupError::BadRemote {
                            index,
                            key: "polling_interval",
                            reason: "must be greater than 0".to_owned(),
                        });
                    }
                    let mut map = HeaderMap::new();
                    for (name, value) in headers {
                        let name = HeaderName::try_from(name.as_str()).map_err(|_| {
                            JwtSetupError::BadRemote {
                                index,
                                key: "headers",
                                reason: format!("`{name}` is not a valid header name"),
                            }
                        })?;
                        let value = HeaderValue::try_from(value.as_str()).map_err(|_| {
                            JwtSetupError::BadRemote {
                                index,
                                key: "headers",
                                reason: format!(
                                    "the value of `{name}` is not a valid header value"
                                ),
                            }
                        })?;
                        map.insert(name, value);
                    }
                    let source = Source::Remote {
                        url: url.clone(),
                        headers: map,
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
        }))
    }

    /// Prefetches remote providers that ask for it, then starts background refreshes.
    pub async fn start(self: &Arc<Self>) {
        for provider in &self.providers {
            if let Source::Remote { prefetch: true, .. } = provider.source {
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
                } => *polling_interval,
            };
            tokio::spawn(refresh_loop(store, index, interval, cancel));
        }
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

    /// Whether any provider is remote.
    pub fn has_remote(&self) -> bool {
        self.providers
            .iter()
            .any(|p| matches!(p.source, Source::Remote { .. }))
    }

    /// Number of remote fetches attempted (for tests and metrics).
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// Loads remote providers that have no key set yet; concurrent callers
    /// share one fetch, and a failed fetch is not retried within the cooldown.
    pub async fn ensure_loaded(&self) {
        for provider in &self.providers {
            if !matches!(provider.source, Source::Remote { .. }) || provider.keys.read().is_some() {
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
    pub async fn refetch_for_unknown_kid(&self) -> bool {
        let mut fetched = false;
        for provider in &self.providers {
            if !matches!(provider.source, Source::Remote { .. }) {
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
        let Source::Remote { url, headers, .. } = &provider.source else {
            return false;
        };
        *provider.last_attempt.lock() = Some(Instant::now());
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let index = provider.index;
        match fetch_jwks(&self.client, url, headers).await {
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

    /// Reloads a file provider when its modification time changed.
    fn check_file(&self, provider: &Provider) {
        let Source::File { path, modified } = &provider.source else {
            return;
        };
        let now = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        if now.is_none() || *modified.lock() == now {
            return;
        }
        match read_file(provider.index, path) {
            Ok((set, digest, when)) => {
                *modified.lock() = when;
                self.install(provider, set, digest);
            }
            Err(error) => {
                *modified.lock() = now;
                tracing::warn!(%error, "JWKS file changed but cannot be used; keeping the last good key set");
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
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        let Some(store) = store.upgrade() else { return };
        let provider = &store.providers[index];
        match provider.source {
            Source::File { .. } => store.check_file(provider),
            Source::Remote { .. } => {
                let _guard = provider.fetch_lock.lock().await;
                store.fetch(provider).await;
            }
        }
    }
}

type FileRead = (KeySet, [u8; 32], Option<SystemTime>);

fn read_file(index: usize, path: &Path) -> Result<FileRead, JwtSetupError> {
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let bytes = std::fs::read(path).map_err(|e| JwtSetupError::ReadFile {
        index,
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let set = KeySet::parse(&bytes).map_err(|e| JwtSetupError::BadJwks {
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
    Ok((set, Sha256::digest(&bytes).into(), modified))
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
