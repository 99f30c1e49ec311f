//! Consumer credentials: a gateway-managed identity store. Each consuming
//! app (a *consumer*) holds credentials named by a key id: a generated
//! secret (for HS256/384/512 tokens, kept encrypted at rest with
//! AES-256-GCM under `encryption_key`) or a registered public JWK. A token
//! whose `sub` is the key id of a credential is verified with that
//! credential's key alone; with `check_credential_existence` every token
//! must be such a token. The store sits behind [`CredentialStore`]
//! ([`sqlite`] is the embedded default). The router keeps an in-memory
//! index of the credentials, reloaded when the store changes (checked every
//! `refresh_interval`, at most 5 s), so a revocation takes effect on a
//! running router without a restart.

pub mod sqlite;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use arc_swap::ArcSwap;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use rand::RngCore as _;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use crate::error::AuthError;
use crate::jwks::{Key, KeyFamily, KeySet};

/// The longest accepted `refresh_interval`: revocations must take effect
/// within five seconds.
pub const MAX_REFRESH_INTERVAL: Duration = Duration::from_secs(5);

/// `jwt.consumers:` the consumer credential store.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsumersConfig {
    /// Where credentials live: `sqlite://PATH` (relative to the config
    /// file's directory unless absolute), created and migrated on start.
    pub store: String,
    /// Require every token's `sub` to be the key id of an active credential.
    #[serde(default)]
    pub check_credential_existence: bool,
    /// Base64 of a 32-byte key that encrypts secrets at rest, e.g.
    /// `${env.TOLLGATE_CONSUMERS_KEY}` (make one with `openssl rand -base64 32`).
    /// Needed to create secret credentials and to verify their tokens.
    #[serde(default)]
    pub encryption_key: Option<String>,
    /// How often the router checks the store for changes such as
    /// revocations; at most 5s.
    #[serde(default = "default_refresh_interval", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub refresh_interval: Duration,
}

fn default_refresh_interval() -> Duration {
    Duration::from_secs(1)
}

/// Why the consumer store cannot be used. Messages never hold secrets.
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    /// A setting is unusable.
    #[error("jwt.consumers.{key}: {reason}")]
    Config {
        /// The key under `jwt.consumers`.
        key: &'static str,
        /// Why.
        reason: String,
    },
    /// The store failed.
    #[error("consumer store: {0}")]
    Store(String),
    /// A stored secret cannot be decrypted with the configured key.
    #[error(
        "jwt.consumers.encryption_key: cannot decrypt the secret of credential `{0}` (wrong key?)"
    )]
    Decrypt(String),
    /// A JWK offered as a consumer key is unusable.
    #[error("{0}")]
    BadJwk(String),
    /// No credential has this key id.
    #[error("no credential has the key id `{0}`")]
    UnknownKeyId(String),
}

/// What a credential verifies with, as stored.
#[derive(Clone, PartialEq, Eq)]
pub enum StoredKey {
    /// An encrypted secret (nonce followed by ciphertext).
    Secret(Vec<u8>),
    /// A public JWK (JSON text).
    Jwk(String),
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StoredKey::Secret(_) => "Secret(..)",
            StoredKey::Jwk(_) => "Jwk(..)",
        })
    }
}

/// One credential as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialRecord {
    /// Its key id: what tokens carry as `sub`.
    pub key_id: String,
    /// The consumer it belongs to.
    pub consumer: String,
    /// Its key.
    pub key: StoredKey,
    /// Scopes its tokens get, in addition to their own.
    pub scopes: Vec<String>,
    /// When it was created (Unix seconds).
    pub created_at: u64,
    /// When it was revoked, if it was.
    pub revoked_at: Option<u64>,
}

/// A place credentials are kept. Implementations are blocking (the router
/// calls them off the async threads).
pub trait CredentialStore: Send + Sync {
    /// Every credential, revoked ones included.
    fn credentials(&self) -> Result<Vec<CredentialRecord>, ConsumerError>;
    /// A value that changes whenever the credentials may have changed.
    fn version(&self) -> Result<u64, ConsumerError>;
    /// Adds a credential.
    fn insert(&self, record: &CredentialRecord) -> Result<(), ConsumerError>;
    /// Marks a credential revoked; `false` when no credential has the key id.
    fn revoke(&self, key_id: &str, at: u64) -> Result<bool, ConsumerError>;
}

/// Opens the store a `store` URL names.
pub fn open_store(url: &str, base_dir: &Path) -> Result<Arc<dyn CredentialStore>, ConsumerError> {
    match url.strip_prefix("sqlite://") {
        Some(path) if !path.is_empty() => {
            let path = base_dir.join(path);
            Ok(Arc::new(sqlite::SqliteStore::open(&path)?))
        }
        _ => Err(ConsumerError::Config {
            key: "store",
            reason: format!("`{url}` is not supported: use sqlite://PATH"),
        }),
    }
}

/// Encrypts and decrypts secrets at rest (AES-256-GCM; the key id is the
/// associated data, so a sealed secret only opens for its own credential).
#[derive(Clone)]
pub struct SecretCipher {
    cipher: Aes256Gcm,
}

impl SecretCipher {
    /// From `encryption_key` (base64 of 32 bytes).
    pub fn from_config(text: &str) -> Result<Self, ConsumerError> {
        let bad = |reason: &str| ConsumerError::Config {
            key: "encryption_key",
            reason: reason.to_owned(),
        };
        let bytes = STANDARD
            .decode(text.trim())
            .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim()))
            .map_err(|_| bad("not base64 (make one with `openssl rand -base64 32`)"))?;
        if bytes.len() != 32 {
            return Err(bad("must decode to exactly 32 bytes"));
        }
        let cipher = Aes256Gcm::new_from_slice(&bytes).map_err(|_| bad("unusable key"))?;
        Ok(Self { cipher })
    }

    /// Nonce followed by the ciphertext of `secret`.
    pub fn seal(&self, key_id: &str, secret: &[u8]) -> Result<Vec<u8>, ConsumerError> {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: secret,
                    aad: key_id.as_bytes(),
                },
            )
            .map_err(|_| ConsumerError::Store("encrypting a secret failed".to_owned()))?;
        Ok([nonce.as_slice(), &sealed].concat())
    }

    /// The secret sealed by [`Self::seal`] for `key_id`.
    pub fn open(&self, key_id: &str, sealed: &[u8]) -> Result<Vec<u8>, ConsumerError> {
        let (Some(nonce), Some(ciphertext)) = (sealed.get(..12), sealed.get(12..)) else {
            return Err(ConsumerError::Decrypt(key_id.to_owned()));
        };
        let nonce: [u8; 12] = nonce
            .try_into()
            .map_err(|_| ConsumerError::Decrypt(key_id.to_owned()))?;
        self.cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: key_id.as_bytes(),
                },
            )
            .map_err(|_| ConsumerError::Decrypt(key_id.to_owned()))
    }
}

/// A credential ready to verify tokens.
pub struct Credential {
    /// Its key id.
    pub key_id: Arc<str>,
    /// Its consumer's name.
    pub consumer: Arc<str>,
    /// Scopes added to its tokens' scopes.
    pub scopes: Arc<[String]>,
    /// Its verification key (oct for secrets: HS* only; a JWK's own family).
    pub key: Key,
    /// Not revoked.
    pub active: bool,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("key_id", &self.key_id)
            .field("consumer", &self.consumer)
            .field("scopes", &self.scopes)
            .field("family", &self.key.family)
            .field("active", &self.active)
            .finish()
    }
}

impl Credential {
    /// What the request context gets under `tollgate::authentication::consumer`.
    pub fn context_value(&self) -> Value {
        serde_json::json!({
            "name": &*self.consumer,
            "key_id": &*self.key_id,
            "scopes": &*self.scopes,
        })
    }
}

type Index = HashMap<String, Arc<Credential>>;

/// The router's view of the store: an index swapped whole on change.
pub struct Consumers {
    store: Arc<dyn CredentialStore>,
    cipher: Option<SecretCipher>,
    index: ArcSwap<Index>,
    version: AtomicU64,
    required: bool,
    refresh: Duration,
    cancel: CancellationToken,
}

impl std::fmt::Debug for Consumers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumers")
            .field("credentials", &self.index.load().len())
            .field("required", &self.required)
            .finish()
    }
}

impl Consumers {
    /// Opens the store and loads every credential (a secret that cannot be
    /// decrypted is an error naming its key id).
    pub fn open(config: &ConsumersConfig, base_dir: &Path) -> Result<Arc<Self>, ConsumerError> {
        if config.refresh_interval.is_zero() || config.refresh_interval > MAX_REFRESH_INTERVAL {
            return Err(ConsumerError::Config {
                key: "refresh_interval",
                reason: "must be more than 0 and at most 5s (revocations must take effect within 5 seconds)".to_owned(),
            });
        }
        let store = open_store(&config.store, base_dir)?;
        let cipher = config
            .encryption_key
            .as_deref()
            .map(SecretCipher::from_config)
            .transpose()?;
        let version = store.version()?;
        let index = build_index(&store.credentials()?, cipher.as_ref())?;
        Ok(Arc::new(Self {
            store,
            cipher,
            index: ArcSwap::from_pointee(index),
            version: AtomicU64::new(version),
            required: config.check_credential_existence,
            refresh: config.refresh_interval,
            cancel: CancellationToken::new(),
        }))
    }

    /// Starts the background check for store changes.
    pub fn start(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let cancel = self.cancel.clone();
        let interval = self.refresh;
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(interval) => {}
                }
                let Some(consumers) = weak.upgrade() else {
                    return;
                };
                let worker = consumers.clone();
                match tokio::task::spawn_blocking(move || worker.refresh()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => {
                        tracing::warn!(%error, "consumer store check failed; keeping the last loaded credentials");
                    }
                    Err(_) => tracing::warn!("consumer store check panicked"),
                }
            }
        });
    }

    /// Stops the background check.
    pub fn shutdown(&self) {
        self.cancel.cancel();
    }

    /// Reloads the index when the store changed (blocking).
    pub fn refresh(&self) -> Result<(), ConsumerError> {
        let version = self.store.version()?;
        if version == self.version.load(Ordering::Acquire) {
            return Ok(());
        }
        let index = build_index(&self.store.credentials()?, self.cipher.as_ref())?;
        let active = index.values().filter(|c| c.active).count();
        self.index.store(Arc::new(index));
        self.version.store(version, Ordering::Release);
        tracing::info!(active, "consumer credentials reloaded");
        Ok(())
    }

    /// Whether every token must belong to an active credential.
    pub fn required(&self) -> bool {
        self.required
    }

    /// The credential with this key id.
    pub fn lookup(&self, key_id: &str) -> Option<Arc<Credential>> {
        self.index.load().get(key_id).cloned()
    }

    /// The credential a token (by its unverified `sub`) must verify with:
    /// `Ok(None)` when it names none and credentials are not required.
    pub fn resolve(
        &self,
        claims: &Map<String, Value>,
    ) -> Result<Option<Arc<Credential>>, AuthError> {
        let found = claims
            .get("sub")
            .and_then(Value::as_str)
            .and_then(|sub| self.lookup(sub));
        match found {
            Some(credential) if credential.active => Ok(Some(credential)),
            Some(_) => Err(AuthError::ConsumerRevoked),
            None if self.required => Err(AuthError::UnknownConsumer),
            None => Ok(None),
        }
    }

    /// Whether a credential verified earlier is still active (cache hits).
    pub fn still_active(&self, key_id: &str) -> bool {
        self.lookup(key_id).is_some_and(|c| c.active)
    }
}

fn build_index(
    records: &[CredentialRecord],
    cipher: Option<&SecretCipher>,
) -> Result<Index, ConsumerError> {
    let mut index = HashMap::with_capacity(records.len());
    for record in records {
        let key = match &record.key {
            StoredKey::Secret(sealed) => {
                let Some(cipher) = cipher else {
                    return Err(ConsumerError::Config {
                        key: "encryption_key",
                        reason: format!(
                            "the store holds secret credentials (`{}`) and no key to decrypt them",
                            record.key_id
                        ),
                    });
                };
                let secret = cipher.open(&record.key_id, sealed)?;
                Key {
                    kid: None,
                    family: KeyFamily::Oct,
                    alg: None,
                    verifying: crate::crypto::VerifyingKey::new(
                        jsonwebtoken::DecodingKey::from_secret(&secret),
                    ),
                }
            }
            StoredKey::Jwk(text) => parse_public_jwk(text)?,
        };
        index.insert(
            record.key_id.clone(),
            Arc::new(Credential {
                key_id: Arc::from(record.key_id.as_str()),
                consumer: Arc::from(record.consumer.as_str()),
                scopes: Arc::from(record.scopes.clone()),
                key,
                active: record.revoked_at.is_none(),
            }),
        );
    }
    Ok(index)
}

/// A public JWK (RSA, EC P-256/P-384 or Ed25519) as a verification key;
/// private key material and symmetric keys are refused.
pub fn parse_public_jwk(text: &str) -> Result<Key, ConsumerError> {
    let jwk: Value = serde_json::from_str(text)
        .map_err(|e| ConsumerError::BadJwk(format!("the JWK is not JSON: {e}")))?;
    let Value::Object(members) = &jwk else {
        return Err(ConsumerError::BadJwk(
            "the JWK must be a JSON object".to_owned(),
        ));
    };
    if ["d", "p", "q", "dp", "dq", "qi", "k"]
        .iter()
        .any(|m| members.contains_key(*m))
    {
        return Err(ConsumerError::BadJwk(
            "the JWK holds private or symmetric key material: register the public key only"
                .to_owned(),
        ));
    }
    let set = KeySet::parse(serde_json::json!({"keys": [jwk]}).to_string().as_bytes())
        .map_err(|e| ConsumerError::BadJwk(format!("the JWK is not usable: {e}")))?;
    let mut keys = set.keys.into_iter();
    match (keys.next(), keys.next()) {
        (Some(key), None) if key.family != KeyFamily::Oct => Ok(key),
        _ => Err(ConsumerError::BadJwk(
            "the JWK is not a usable RSA, EC (P-256, P-384) or Ed25519 public key".to_owned(),
        )),
    }
}

/// Store-side operations of the `tollgate consumers` commands.
pub mod admin {
    use super::*;

    /// A new consumer credential id: `ck_` and 24 hex digits.
    fn new_key_id() -> String {
        let mut bytes = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        format!("ck_{hex}")
    }

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }

    /// Creates a secret credential for `consumer`: returns its key id and
    /// the secret, which is stored only encrypted and never shown again.
    pub fn create(
        store: &dyn CredentialStore,
        cipher: &SecretCipher,
        consumer: &str,
        scopes: &[String],
    ) -> Result<(String, String), ConsumerError> {
        check_name(consumer)?;
        let key_id = new_key_id();
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let secret = format!("tgs_{}", URL_SAFE_NO_PAD.encode(bytes));
        store.insert(&CredentialRecord {
            key_id: key_id.clone(),
            consumer: consumer.to_owned(),
            key: StoredKey::Secret(cipher.seal(&key_id, secret.as_bytes())?),
            scopes: scopes.to_vec(),
            created_at: now(),
            revoked_at: None,
        })?;
        Ok((key_id, secret))
    }

    /// Registers an app's public JWK for `consumer`; returns the key id.
    pub fn add_key(
        store: &dyn CredentialStore,
        consumer: &str,
        jwk: &str,
        scopes: &[String],
    ) -> Result<String, ConsumerError> {
        check_name(consumer)?;
        parse_public_jwk(jwk)?;
        let key_id = new_key_id();
        store.insert(&CredentialRecord {
            key_id: key_id.clone(),
            consumer: consumer.to_owned(),
            key: StoredKey::Jwk(jwk.to_owned()),
            scopes: scopes.to_vec(),
            created_at: now(),
            revoked_at: None,
        })?;
        Ok(key_id)
    }

    /// Revokes a credential.
    pub fn revoke(store: &dyn CredentialStore, key_id: &str) -> Result<(), ConsumerError> {
        if store.revoke(key_id, now())? {
            Ok(())
        } else {
            Err(ConsumerError::UnknownKeyId(key_id.to_owned()))
        }
    }

    /// One line per credential: consumer, key id, kind, status, scopes,
    /// creation time. Never any key material.
    pub fn list(store: &dyn CredentialStore) -> Result<String, ConsumerError> {
        let mut records = store.credentials()?;
        records.sort_by(|a, b| (&a.consumer, a.created_at).cmp(&(&b.consumer, b.created_at)));
        let mut out = String::from("CONSUMER\tKEY ID\tKIND\tSTATUS\tSCOPES\tCREATED\n");
        for r in records {
            let kind = match r.key {
                StoredKey::Secret(_) => "secret",
                StoredKey::Jwk(_) => "jwk",
            };
            let status = if r.revoked_at.is_some() {
                "revoked"
            } else {
                "active"
            };
            out.push_str(&format!(
                "{}\t{}\t{kind}\t{status}\t{}\t{}\n",
                r.consumer,
                r.key_id,
                r.scopes.join(" "),
                humantime::format_rfc3339_seconds(
                    std::time::UNIX_EPOCH + Duration::from_secs(r.created_at)
                )
            ));
        }
        Ok(out)
    }

    fn check_name(name: &str) -> Result<(), ConsumerError> {
        let ok = !name.is_empty()
            && name.len() <= 128
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if ok {
            Ok(())
        } else {
            Err(ConsumerError::Store(format!(
                "`{name}` is not a usable consumer name (letters, digits, '-', '_', '.'; at most 128)"
            )))
        }
    }
}

#[cfg(test)]
mod tests;
