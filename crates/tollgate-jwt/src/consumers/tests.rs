//! The SQLite store, the secret cipher and the authenticator with consumer
//! credentials: secret and JWK credentials, unknown and revoked consumers,
//! revocation seen by a running authenticator, cached tokens included.

use std::time::Duration;

use http::{HeaderMap, HeaderValue};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use super::*;
use crate::tests::{ed_key, sign};
use crate::{JwtAuthenticator, JwtConfig};

const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="; // 32 bytes

struct Dir(std::path::PathBuf);

impl Dir {
    fn new() -> Self {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tollgate-consumers-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn exp() -> u64 {
    crate::unix_now() + 600
}

fn hs_token(sub: &str, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({"sub": sub, "exp": exp()}),
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn bearer(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    headers
}

async fn outcome(auth: &JwtAuthenticator, token: &str) -> String {
    match auth.authenticate(&bearer(token)).await {
        Ok(Some(verified)) => format!(
            "VERIFIED {}",
            verified
                .consumer
                .map(|c| c.consumer.to_string())
                .unwrap_or_default()
        ),
        Ok(None) => "ANONYMOUS".to_owned(),
        Err(e) => e.reason().to_owned(),
    }
}

async fn authenticator(dir: &Dir, required: bool, extra: &str) -> JwtAuthenticator {
    let yaml = format!(
        "require_authentication: true\nconsumers:\n  store: sqlite://creds/tollgate.db\n  encryption_key: {KEY}\n  refresh_interval: 100ms\n  check_credential_existence: {required}\n{extra}"
    );
    let config: JwtConfig = serde_yaml::from_str(&yaml).unwrap();
    JwtAuthenticator::new(config, &dir.0).await.unwrap()
}

fn store(dir: &Dir) -> Arc<dyn CredentialStore> {
    open_store("sqlite://creds/tollgate.db", &dir.0).unwrap()
}

#[test]
fn the_store_is_created_migrated_and_keeps_secrets_sealed() {
    let dir = Dir::new();
    let store = store(&dir);
    let cipher = SecretCipher::from_config(KEY).unwrap();
    let (key_id, secret) = admin::create(
        &*store,
        &cipher,
        "billing-app",
        &["read:invoices".to_owned()],
    )
    .unwrap();
    assert!(key_id.starts_with("ck_") && secret.starts_with("tgs_"));
    // Reopening finds the same data (migrations are not re-run).
    drop(store);
    let store = open_store("sqlite://creds/tollgate.db", &dir.0).unwrap();
    let records = store.credentials().unwrap();
    assert_eq!(records.len(), 1);
    let StoredKey::Secret(sealed) = &records[0].key else {
        panic!("a secret credential")
    };
    // At rest the secret is sealed: its bytes never appear in the file.
    let file = std::fs::read(dir.0.join("creds/tollgate.db")).unwrap();
    assert!(!file.windows(secret.len()).any(|w| w == secret.as_bytes()));
    assert_eq!(cipher.open(&key_id, sealed).unwrap(), secret.as_bytes());
    // Bound to its key id, and to the key.
    assert!(cipher.open("ck_other", sealed).is_err());
    let other = SecretCipher::from_config(&STANDARD.encode([7u8; 32])).unwrap();
    assert!(other.open(&key_id, sealed).is_err());
    // The listing shows no key material.
    let listing = admin::list(&*store).unwrap();
    assert!(listing.contains(&key_id) && listing.contains("billing-app"));
    assert!(listing.contains("read:invoices") && listing.contains("active"));
    assert!(!listing.contains(&secret));
    admin::revoke(&*store, &key_id).unwrap();
    assert!(admin::list(&*store).unwrap().contains("revoked"));
    assert!(matches!(
        admin::revoke(&*store, "ck_nope"),
        Err(ConsumerError::UnknownKeyId(_))
    ));
}

#[test]
fn settings_and_keys_are_checked() {
    assert!(SecretCipher::from_config("not base64!").is_err());
    assert!(SecretCipher::from_config(&STANDARD.encode([1u8; 16])).is_err());
    let dir = Dir::new();
    assert!(matches!(
        open_store("postgres://x", &dir.0),
        Err(ConsumerError::Config { key: "store", .. })
    ));
    let config = |extra: &str| -> ConsumersConfig {
        serde_yaml::from_str(&format!("store: sqlite://db.sqlite\n{extra}")).unwrap()
    };
    let error = Consumers::open(&config("refresh_interval: 6s"), &dir.0).unwrap_err();
    assert!(
        error.to_string().contains("jwt.consumers.refresh_interval"),
        "{error}"
    );
    // Secrets in the store but no key to open them.
    let store = open_store("sqlite://db.sqlite", &dir.0).unwrap();
    let cipher = SecretCipher::from_config(KEY).unwrap();
    admin::create(&*store, &cipher, "app", &[]).unwrap();
    let error = Consumers::open(&config(""), &dir.0).unwrap_err();
    assert!(
        error.to_string().contains("jwt.consumers.encryption_key"),
        "{error}"
    );
    // Public keys only.
    let key = ed_key("k");
    let mut private = key.jwk.clone();
    private["d"] = json!("AAAA");
    assert!(admin::add_key(&*store, "app", &private.to_string(), &[]).is_err());
    assert!(admin::add_key(&*store, "app", r#"{"kty":"oct","k":"AAAA"}"#, &[]).is_err());
    assert!(admin::add_key(&*store, "app", "nope", &[]).is_err());
    assert!(admin::add_key(&*store, "bad name!", &key.jwk.to_string(), &[]).is_err());
    assert!(admin::add_key(&*store, "app", &key.jwk.to_string(), &[]).is_ok());
}

#[tokio::test]
async fn consumer_tokens_verify_with_their_own_credential_only() {
    let dir = Dir::new();
    let auth = authenticator(&dir, true, "").await;
    let store = store(&dir);
    let cipher = SecretCipher::from_config(KEY).unwrap();
    let (key_id, secret) =
        admin::create(&*store, &cipher, "billing", &["invoices".to_owned()]).unwrap();
    let app_key = ed_key("app");
    let jwk_id = admin::add_key(&*store, "mobile", &app_key.jwk.to_string(), &[]).unwrap();
    // The running authenticator picks the new credentials up.
    let consumers = auth.consumers().unwrap().clone();
    let seen = tokio::time::timeout(Duration::from_secs(5), async {
        while consumers.lookup(&jwk_id).is_none() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        seen.is_ok(),
        "new credentials loaded by the running authenticator"
    );

    let token = hs_token(&key_id, &secret);
    assert_eq!(outcome(&auth, &token).await, "VERIFIED billing");
    let verified = auth.authenticate(&bearer(&token)).await.unwrap().unwrap();
    assert_eq!(&*verified.consumer.unwrap().scopes, ["invoices".to_owned()]);
    assert_eq!(
        outcome(&auth, &hs_token(&key_id, "tgs_wrong")).await,
        "INVALID_SIGNATURE"
    );
    // The secret credential verifies nothing but HS tokens; the JWK only its own family.
    let ed_for_secret = sign(&app_key, None, &json!({"sub": key_id, "exp": exp()}));
    assert_eq!(
        outcome(&auth, &ed_for_secret).await,
        "ALGORITHM_NOT_ALLOWED"
    );
    let ed = sign(&app_key, None, &json!({"sub": jwk_id, "exp": exp()}));
    assert_eq!(outcome(&auth, &ed).await, "VERIFIED mobile");
    assert_eq!(
        outcome(&auth, &hs_token(&jwk_id, &secret)).await,
        "ALGORITHM_NOT_ALLOWED"
    );
    let other = ed_key("other");
    let forged = sign(&other, None, &json!({"sub": jwk_id, "exp": exp()}));
    assert_eq!(outcome(&auth, &forged).await, "INVALID_SIGNATURE");
    // Unknown and missing subjects.
    assert_eq!(
        outcome(&auth, &hs_token("ck_unknown", &secret)).await,
        "UNKNOWN_CONSUMER"
    );
    let no_sub = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({"exp": exp()}),
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap();
    assert_eq!(outcome(&auth, &no_sub).await, "UNKNOWN_CONSUMER");

    // Revocation reaches the running authenticator, cached tokens included.
    admin::revoke(&*store, &key_id).unwrap();
    let refused = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if outcome(&auth, &token).await == "CONSUMER_REVOKED" {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(refused.is_ok(), "revoked within 5 seconds");
    assert_eq!(
        outcome(&auth, &hs_token(&key_id, &secret)).await,
        "CONSUMER_REVOKED"
    );
    assert_eq!(
        outcome(&auth, &ed).await,
        "VERIFIED mobile",
        "other credentials unaffected"
    );
    auth.shutdown();
}

#[tokio::test]
async fn without_required_credentials_other_tokens_use_the_key_sets() {
    let dir = Dir::new();
    let idp = ed_key("idp");
    std::fs::write(
        dir.0.join("jwks.json"),
        json!({"keys": [idp.jwk.clone()]}).to_string(),
    )
    .unwrap();
    let auth = authenticator(
        &dir,
        false,
        "jwks_providers: [{ source: file, path: jwks.json }]\n",
    )
    .await;
    let idp_token = sign(&idp, Some("idp"), &json!({"sub": "user-1", "exp": exp()}));
    assert_eq!(outcome(&auth, &idp_token).await, "VERIFIED ");
    auth.shutdown();
    let strict = authenticator(
        &dir,
        true,
        "jwks_providers: [{ source: file, path: jwks.json }]\n",
    )
    .await;
    assert_eq!(outcome(&strict, &idp_token).await, "UNKNOWN_CONSUMER");
    strict.shutdown();
}
