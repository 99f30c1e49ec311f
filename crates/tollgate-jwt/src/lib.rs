//! Tollgate's JWT authentication.
//!
//! [`JwtAuthenticator`] is built once from the `jwt:` config ([`config`]):
//! it owns the key store ([`provider`]: file and remote JWKS providers), the
//! lookup locations ([`lookup`]), the strict token checks ([`token`]) and a
//! bounded cache of successful verifications (a token is cached from its
//! second verification on, [`cache`]); signatures are verified with
//! aws-lc-rs (RSA), ring (ECDSA, HMAC) and ed25519-dalek ([`crypto`]).
//! [`JwtPlugin`] plugs it into
//! the router pipeline: verified claims go into the request context (under
//! [`CLAIMS_CONTEXT_KEY`] and the Apollo-compatible alias) and, when enabled,
//! to subgraphs in `extensions`. Failures carry a stable reason ([`AuthError`]).

mod cache;
pub mod config;
pub mod consumers;
pub mod crypto;
pub mod error;
pub mod issuer;
pub mod jwks;
pub mod lookup;
pub mod mint;
mod plugin;
pub mod provider;
pub mod token;

use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

pub use config::JwtConfig;
pub use error::{AuthError, JwtSetupError};
pub use lookup::LookupSource;
pub use plugin::JwtPlugin;

use config::AlgorithmName;
use provider::KeyStore;
use token::ClaimRules;

/// Context key under which verified claims are stored.
pub const CLAIMS_CONTEXT_KEY: &str = tollgate_core::context::JWT_CLAIMS_KEY;
/// The same claims under Apollo Router's key, so its scripts run unchanged.
pub const APOLLO_CLAIMS_CONTEXT_KEY: &str = "apollo::authentication::jwt_claims";

/// Cache lifetime of a verified token that has no `exp`.
const NO_EXP_CACHE_SECS: u64 = 60;

/// A verified token.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    /// The claims (a JSON object), shared with the cache.
    pub claims: Arc<Value>,
    /// Where the token was found.
    pub source: LookupSource,
    /// The `kid` of the key that verified it.
    pub key_id: Option<Arc<str>>,
    /// Its algorithm.
    pub algorithm: Algorithm,
    /// The consumer credential that verified it, when it is a consumer's token.
    pub consumer: Option<Arc<consumers::Credential>>,
}

#[derive(Clone)]
struct CachedVerification {
    claims: Arc<Value>,
    valid_until: u64,
    generation: u64,
    key_id: Option<Arc<str>>,
    algorithm: Algorithm,
    consumer: Option<Arc<consumers::Credential>>,
}

/// Successful verifications ([`cache`]).
type VerificationCache = cache::VerificationCache<CachedVerification>;

struct Inner {
    store: Arc<KeyStore>,
    locations: Vec<lookup::Location>,
    allowed: Vec<Algorithm>,
    rules: ClaimRules,
    max_token_bytes: usize,
    require_authentication: bool,
    forward: Option<(String, Option<Vec<String>>)>,
    cache: Option<VerificationCache>,
    consumers: Option<Arc<consumers::Consumers>>,
}

/// The JWT authenticator: built once, shared by every request (cheap to clone).
#[derive(Clone)]
pub struct JwtAuthenticator {
    inner: Arc<Inner>,
}

const ASYMMETRIC: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];
const SYMMETRIC: [Algorithm; 3] = [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];

impl JwtAuthenticator {
    /// Builds the key store (reading file providers, prefetching remote ones
    /// that ask for it) and starts the background refreshes.
    pub async fn new(config: JwtConfig, base_dir: &Path) -> Result<Self, JwtSetupError> {
        let authenticator = Self::build(config, base_dir)?;
        authenticator.inner.store.start().await;
        if let Some(consumers) = &authenticator.inner.consumers {
            consumers.start();
        }
        Ok(authenticator)
    }

    /// Checks the settings, reads file providers and opens the consumer
    /// store, without contacting any remote provider or starting background
    /// work (`config validate`). [`JwtAuthenticator::new`] is this followed
    /// by the start.
    pub fn build(config: JwtConfig, base_dir: &Path) -> Result<Self, JwtSetupError> {
        crypto::install();
        if config.require_authentication
            && config.jwks_providers.is_empty()
            && config.consumers.is_none()
        {
            return Err(JwtSetupError::Invalid {
                key: "jwks_providers",
                reason: "at least one provider (or `consumers`) is needed when require_authentication is on"
                    .to_owned(),
            });
        }
        let consumers = config
            .consumers
            .as_ref()
            .map(|c| consumers::Consumers::open(c, base_dir))
            .transpose()?;
        if config.lookup_locations.is_empty() {
            return Err(JwtSetupError::Invalid {
                key: "lookup_locations",
                reason: "at least one location is needed".to_owned(),
            });
        }
        let locations = lookup::Location::prepare(&config.lookup_locations)?;
        if config.max_token_bytes == 0 {
            return Err(JwtSetupError::Invalid {
                key: "max_token_bytes",
                reason: "must be greater than 0".to_owned(),
            });
        }
        let store = KeyStore::new(
            &config.jwks_providers,
            base_dir,
            config.unknown_kid_cooldown,
        )?;
        // Consumer secrets are oct keys too (each verifies only its own tokens).
        let has_oct = consumers.is_some() || store.snapshot().iter().any(|set| set.has_oct());
        let mut issuers = config.issuers.clone();
        if !issuers.is_empty() {
            // A token verified by an OIDC provider's keys carries that
            // provider's issuer: accept it alongside the listed ones.
            issuers.extend(store.oidc_issuers());
        }
        let allowed = match &config.allowed_algorithms {
            Some(names) => {
                if names.is_empty() {
                    return Err(JwtSetupError::Invalid {
                        key: "allowed_algorithms",
                        reason: "the list is empty, so no token could ever verify".to_owned(),
                    });
                }
                let allowed: Vec<Algorithm> = names.iter().map(|n| n.algorithm()).collect();
                let wants_hs = names.iter().any(|n| {
                    matches!(
                        n,
                        AlgorithmName::HS256 | AlgorithmName::HS384 | AlgorithmName::HS512
                    )
                });
                if wants_hs && !has_oct && !store.has_remote() {
                    return Err(JwtSetupError::Invalid {
                        key: "allowed_algorithms",
                        reason:
                            "an HS algorithm is allowed but no configured key set holds an oct key"
                                .to_owned(),
                    });
                }
                allowed
            }
            None => {
                let mut allowed = ASYMMETRIC.to_vec();
                if has_oct {
                    allowed.extend(SYMMETRIC);
                }
                allowed
            }
        };
        for (index, path, set) in store.file_sets() {
            if !set
                .keys
                .iter()
                .any(|k| allowed.iter().any(|a| k.accepts(*a)))
            {
                let names: Vec<String> = allowed.iter().map(|a| format!("{a:?}")).collect();
                return Err(JwtSetupError::BadJwks {
                    index,
                    path: path.display().to_string(),
                    reason: format!(
                        "none of its keys can verify an allowed algorithm ({})",
                        names.join(", ")
                    ),
                });
            }
        }
        let cache = config
            .verification_cache
            .enabled
            .then(|| VerificationCache::new(config.verification_cache.max_entries));
        let forward = &config.forward_claims_to_upstream_extensions;
        let inner = Inner {
            store,
            locations,
            allowed,
            rules: ClaimRules {
                leeway: config.leeway.secs(),
                require_exp: config.require_exp,
                issuers,
                audiences: config.audiences.clone(),
            },
            max_token_bytes: config.max_token_bytes,
            require_authentication: config.require_authentication,
            forward: forward
                .enabled
                .then(|| (forward.field_name.clone(), forward.include_claims.clone())),
            cache,
            consumers,
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Fetches every remote provider's key set once and reports each one
    /// that cannot be fetched or holds no usable key (`config validate
    /// --fetch-jwks`). Nothing is installed.
    pub async fn check_remote(&self) -> Vec<String> {
        self.inner.store.check_remote().await
    }

    /// Finds and verifies the request's token. `Ok(None)`: no token anywhere
    /// (anonymous). `Err`: a present but invalid token, or a missing one when
    /// authentication is required.
    pub async fn authenticate(
        &self,
        headers: &http::HeaderMap,
    ) -> Result<Option<VerifiedToken>, AuthError> {
        match self.authenticate_present(headers).await {
            Ok(None) if self.inner.require_authentication => Err(self.refuse_missing_token()),
            result => result,
        }
    }

    /// Verifies the request's token when there is one; `Ok(None)` when there
    /// is none, whether or not authentication is required (the caller then
    /// decides, and reports a refusal with [`Self::refuse_missing_token`]).
    pub async fn authenticate_present(
        &self,
        headers: &http::HeaderMap,
    ) -> Result<Option<VerifiedToken>, AuthError> {
        let result = self.authenticate_inner(headers).await;
        match &result {
            Ok(Some(_)) => {
                metrics::counter!("apollo_authentication_success_count", "kind" => "JWT")
                    .increment(1);
                metrics::counter!("tollgate_jwt_verifications_total", "result" => "success", "reason" => "")
                    .increment(1);
            }
            Ok(None) => {}
            Err(error) => record_failure(error),
        }
        result
    }

    /// The refusal of a request without a token, counted as a failure.
    pub fn refuse_missing_token(&self) -> AuthError {
        let error = AuthError::MissingToken;
        record_failure(&error);
        error
    }

    async fn authenticate_inner(
        &self,
        headers: &http::HeaderMap,
    ) -> Result<Option<VerifiedToken>, AuthError> {
        let inner = &*self.inner;
        let Some((raw, source)) = lookup::find_token(headers, &inner.locations)? else {
            return Ok(None);
        };
        if raw.len() > inner.max_token_bytes {
            return Err(AuthError::TokenTooLarge);
        }
        let now = unix_now();
        let cache_key: Option<cache::Key> = inner
            .cache
            .as_ref()
            .map(|_| Sha256::digest(raw.as_bytes()).into());
        if let (Some(cache), Some(key)) = (&inner.cache, &cache_key) {
            if let Some(hit) = cache.get(key) {
                if now < hit.valid_until && hit.generation == inner.store.generation() {
                    if let (Some(credential), Some(consumers)) = (&hit.consumer, &inner.consumers) {
                        if !consumers.still_active(&credential.key_id) {
                            cache.remove(key);
                            return Err(AuthError::ConsumerRevoked);
                        }
                    }
                    return Ok(Some(VerifiedToken {
                        claims: hit.claims,
                        source,
                        key_id: hit.key_id,
                        algorithm: hit.algorithm,
                        consumer: hit.consumer,
                    }));
                }
                cache.remove(key);
            }
        }

        let parsed = token::parse(raw, inner.max_token_bytes, &inner.allowed)?;
        let generation = inner.store.generation();
        let consumer = match &inner.consumers {
            Some(consumers) => consumers.resolve(&parsed.claims)?,
            None => None,
        };
        let key_id = match &consumer {
            // A consumer's token verifies with its credential's key alone.
            Some(credential) => {
                if !credential.key.accepts(parsed.alg) {
                    return Err(AuthError::AlgorithmNotAllowed);
                }
                kid_of(token::verify_signature(&parsed, [&credential.key])?)
            }
            None => self.verify(&parsed).await?,
        };
        let exp = token::check_claims(&parsed.claims, &inner.rules, now)?;
        let claims = Arc::new(Value::Object(parsed.claims));
        let verified = VerifiedToken {
            claims: claims.clone(),
            source,
            key_id,
            algorithm: parsed.alg,
            consumer,
        };
        if let (Some(cache), Some(key)) = (&inner.cache, cache_key) {
            let valid_until = match exp {
                Some(exp) => exp.saturating_add(inner.rules.leeway),
                None => now + NO_EXP_CACHE_SECS,
            };
            cache.offer(
                key,
                CachedVerification {
                    claims,
                    valid_until,
                    generation,
                    key_id: verified.key_id.clone(),
                    algorithm: parsed.alg,
                    consumer: verified.consumer.clone(),
                },
            );
        }
        Ok(Some(verified))
    }

    /// Finds the candidate keys (refetching remote sets once for an unknown
    /// `kid`) and verifies the signature; gives the verifying key's `kid`.
    async fn verify(&self, parsed: &token::ParsedToken<'_>) -> Result<Option<Arc<str>>, AuthError> {
        let store = &self.inner.store;
        // The unverified `iss` only picks which keys to try; the signature
        // then proves it.
        let iss = parsed.claims.get("iss").and_then(Value::as_str);
        if !store.serves_issuer(iss) {
            return Err(AuthError::InvalidIssuer);
        }
        store.ensure_loaded_for(iss).await;
        let mut sets = store.snapshot_for(iss);
        if sets.is_empty() {
            return Err(AuthError::KeysUnavailable);
        }
        if let Some(kid) = &parsed.kid {
            let has_kid = |sets: &[Arc<jwks::KeySet>]| {
                sets.iter()
                    .flat_map(|s| s.keys.iter())
                    .any(|k| k.kid.as_deref() == Some(kid))
            };
            if !has_kid(&sets) && store.has_remote_for(iss) {
                // Re-read even when this call hit the cooldown: a concurrent
                // request's refetch may just have brought the key.
                store.refetch_for_unknown_kid(iss).await;
                sets = store.snapshot_for(iss);
            }
            let with_kid: Vec<&jwks::Key> = sets
                .iter()
                .flat_map(|s| s.keys.iter())
                .filter(|k| k.kid.as_deref() == Some(kid))
                .collect();
            if with_kid.is_empty() {
                return Err(AuthError::UnknownKey);
            }
            let usable: Vec<&jwks::Key> = with_kid
                .into_iter()
                .filter(|k| k.accepts(parsed.alg))
                .collect();
            if usable.is_empty() {
                return Err(AuthError::AlgorithmNotAllowed);
            }
            return token::verify_signature(parsed, usable).map(kid_of);
        }
        let usable: Vec<&jwks::Key> = sets
            .iter()
            .flat_map(|s| s.keys.iter())
            .filter(|k| k.accepts(parsed.alg))
            .collect();
        if usable.is_empty() {
            return Err(AuthError::UnknownKey);
        }
        token::verify_signature(parsed, usable).map(kid_of)
    }

    /// Whether a missing token is refused.
    pub fn require_authentication(&self) -> bool {
        self.inner.require_authentication
    }

    /// `(field_name, claims)` to put under the subgraph request's
    /// `extensions`, or `None` when forwarding is off.
    pub fn forwarded_claims(&self, claims: &Map<String, Value>) -> Option<(&str, Value)> {
        let (field, include) = self.inner.forward.as_ref()?;
        let claims = match include {
            None => Value::Object(claims.clone()),
            Some(names) => Value::Object(
                names
                    .iter()
                    .filter_map(|n| claims.get(n).map(|v| (n.clone(), v.clone())))
                    .collect(),
            ),
        };
        Some((field.as_str(), claims))
    }

    /// Whether at least one key set with keys is loaded (readiness).
    pub fn has_keys(&self) -> bool {
        self.inner.store.has_keys()
    }

    /// Readiness: with required authentication, a key set must be loaded
    /// (remote sets not fetched yet are fetched now, within the cooldown).
    pub async fn ready(&self) -> Result<(), String> {
        if !self.inner.require_authentication {
            return Ok(());
        }
        if !self.has_keys() {
            self.inner.store.ensure_loaded().await;
        }
        if self.has_keys() {
            Ok(())
        } else {
            Err("authentication is required and no JWKS key set is loaded".to_owned())
        }
    }

    /// Number of remote JWKS fetches attempted so far.
    pub fn jwks_fetch_count(&self) -> u64 {
        self.inner.store.fetch_count()
    }

    /// The algorithms tokens may use.
    pub fn allowed_algorithms(&self) -> &[Algorithm] {
        &self.inner.allowed
    }

    /// Stops background refreshes.
    pub fn shutdown(&self) {
        self.inner.store.shutdown();
        if let Some(consumers) = &self.inner.consumers {
            consumers.shutdown();
        }
    }

    /// The consumer credentials, when configured.
    pub fn consumers(&self) -> Option<&Arc<consumers::Consumers>> {
        self.inner.consumers.as_ref()
    }
}

/// The `kid` a verified token reports: its key's.
fn kid_of(key: &jwks::Key) -> Option<Arc<str>> {
    key.kid.as_deref().map(Arc::from)
}

fn record_failure(error: &AuthError) {
    tracing::debug!(reason = error.reason(), "JWT refused");
    metrics::counter!("apollo_authentication_failure_count", "kind" => "JWT").increment(1);
    metrics::counter!("tollgate_jwt_verifications_total", "result" => "failure", "reason" => error.reason())
        .increment(1);
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
