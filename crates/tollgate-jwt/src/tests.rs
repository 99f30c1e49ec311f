//! Authenticator tests with real keys of every family generated here, real
//! signed tokens, and a real local JWKS HTTP server for remote providers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use http::{HeaderMap, HeaderValue};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{json, Value};

use super::*;

/// A key pair: how to sign, and its public JWK.
#[derive(Clone)]
pub(crate) struct TestKey {
    pub(crate) alg: Algorithm,
    pub(crate) encoding: EncodingKey,
    pub(crate) jwk: Value,
    /// Public key bytes (SPKI PEM for RSA), for alg-confusion attacks.
    pub(crate) public_pem: Vec<u8>,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

static RSA: OnceLock<(rsa::RsaPrivateKey, rsa::RsaPrivateKey)> = OnceLock::new();

pub(crate) fn rsa_keys() -> &'static (rsa::RsaPrivateKey, rsa::RsaPrivateKey) {
    RSA.get_or_init(|| {
        let mut rng = rand::thread_rng();
        (
            rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap(),
            rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap(),
        )
    })
}

/// A 1024-bit RSA key: RustCrypto signs with it, Tollgate's verification refuses it.
pub(crate) fn rsa_1024() -> &'static rsa::RsaPrivateKey {
    static SHORT: OnceLock<rsa::RsaPrivateKey> = OnceLock::new();
    SHORT.get_or_init(|| rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 1024).unwrap())
}

pub(crate) fn rsa_key(kid: &str, alg: Algorithm, second: bool) -> TestKey {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::EncodePublicKey;
    use rsa::traits::PublicKeyParts;
    let private = if second { &rsa_keys().1 } else { &rsa_keys().0 };
    let public = private.to_public_key();
    TestKey {
        alg,
        encoding: EncodingKey::from_rsa_der(private.to_pkcs1_der().unwrap().as_bytes()),
        jwk: json!({"kty": "RSA", "kid": kid, "n": b64(&public.n().to_bytes_be()), "e": b64(&public.e().to_bytes_be())}),
        public_pem: public
            .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
            .unwrap()
            .into_bytes(),
    }
}

pub(crate) fn p256_key(kid: &str) -> TestKey {
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    use p256::pkcs8::EncodePrivateKey;
    let secret = p256::SecretKey::random(&mut rand::thread_rng());
    let point = secret.public_key().to_encoded_point(false);
    TestKey {
        alg: Algorithm::ES256,
        encoding: EncodingKey::from_ec_der(secret.to_pkcs8_der().unwrap().as_bytes()),
        jwk: json!({"kty": "EC", "crv": "P-256", "kid": kid, "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap())}),
        public_pem: point.as_bytes().to_vec(),
    }
}

pub(crate) fn p384_key(kid: &str) -> TestKey {
    use p384::elliptic_curve::sec1::ToEncodedPoint;
    use p384::pkcs8::EncodePrivateKey;
    let secret = p384::SecretKey::random(&mut rand::thread_rng());
    let point = secret.public_key().to_encoded_point(false);
    TestKey {
        alg: Algorithm::ES384,
        encoding: EncodingKey::from_ec_der(secret.to_pkcs8_der().unwrap().as_bytes()),
        jwk: json!({"kty": "EC", "crv": "P-384", "kid": kid, "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap())}),
        public_pem: point.as_bytes().to_vec(),
    }
}

pub(crate) fn ed_key(kid: &str) -> TestKey {
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    let signing = ed25519_dalek::SigningKey::generate(&mut rand::thread_rng());
    TestKey {
        alg: Algorithm::EdDSA,
        encoding: EncodingKey::from_ed_der(signing.to_pkcs8_der().unwrap().as_bytes()),
        jwk: json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64(signing.verifying_key().as_bytes())}),
        public_pem: signing.verifying_key().as_bytes().to_vec(),
    }
}

pub(crate) fn oct_key(kid: &str, alg: Algorithm) -> TestKey {
    let secret: [u8; 32] = rand::random();
    TestKey {
        alg,
        encoding: EncodingKey::from_secret(&secret),
        jwk: json!({"kty": "oct", "kid": kid, "k": b64(&secret)}),
        public_pem: Vec::new(),
    }
}

fn now() -> u64 {
    unix_now()
}

pub(crate) fn sign(key: &TestKey, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(key.alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &key.encoding).unwrap()
}

fn claims() -> Value {
    json!({"sub": "user-1", "exp": now() + 600, "iat": now(), "scope": "read"})
}

fn jwks(keys: &[&TestKey]) -> Value {
    json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()})
}

fn bearer(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    headers
}

struct FileSetup {
    dir: std::path::PathBuf,
}

impl FileSetup {
    fn new(jwks: &Value) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "tollgate-jwt-test-{}-{}",
            std::process::id(),
            NEXT_DIR.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("jwks.json"), jwks.to_string()).unwrap();
        Self { dir }
    }
}

impl Drop for FileSetup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

static NEXT_DIR: AtomicUsize = AtomicUsize::new(0);

async fn file_auth(keys: &[&TestKey], extra: &str) -> (JwtAuthenticator, FileSetup) {
    file_auth_jwks(&jwks(keys), extra).await
}

/// [`file_auth`] with a JWKS document written as it is.
async fn file_auth_jwks(jwks: &Value, extra: &str) -> (JwtAuthenticator, FileSetup) {
    let setup = FileSetup::new(jwks);
    let yaml = format!("jwks_providers: [{{ source: file, path: jwks.json }}]\n{extra}");
    let config: JwtConfig = serde_yaml::from_str(&yaml).unwrap();
    let auth = JwtAuthenticator::new(config, &setup.dir).await.unwrap();
    (auth, setup)
}

async fn reason(auth: &JwtAuthenticator, headers: &HeaderMap) -> &'static str {
    match auth.authenticate(headers).await {
        Ok(Some(_)) => "VERIFIED",
        Ok(None) => "ANONYMOUS",
        Err(e) => e.reason(),
    }
}

#[tokio::test]
async fn every_algorithm_family_verifies() {
    let rsa = rsa_key("rsa", Algorithm::RS256, false);
    let mut keys = vec![
        rsa.clone(),
        TestKey {
            alg: Algorithm::RS384,
            ..rsa.clone()
        },
        TestKey {
            alg: Algorithm::RS512,
            ..rsa.clone()
        },
        TestKey {
            alg: Algorithm::PS256,
            ..rsa.clone()
        },
        TestKey {
            alg: Algorithm::PS384,
            ..rsa.clone()
        },
        TestKey {
            alg: Algorithm::PS512,
            ..rsa.clone()
        },
        p256_key("p256"),
        p384_key("p384"),
        ed_key("ed"),
    ];
    let oct = oct_key("oct", Algorithm::HS256);
    keys.push(oct.clone());
    keys.push(TestKey {
        alg: Algorithm::HS384,
        ..oct.clone()
    });
    keys.push(TestKey {
        alg: Algorithm::HS512,
        ..oct.clone()
    });
    let unique: Vec<&TestKey> = vec![&keys[0], &keys[6], &keys[7], &keys[8], &keys[9]];
    let (auth, _setup) = file_auth(&unique, "").await;
    assert!(
        auth.allowed_algorithms().contains(&Algorithm::HS256),
        "oct key present"
    );
    for key in &keys {
        let kid = key.jwk["kid"].as_str().unwrap();
        let token = sign(key, Some(kid), &claims());
        let verified = auth.authenticate(&bearer(&token)).await.unwrap().unwrap();
        assert_eq!(verified.algorithm, key.alg);
        assert_eq!(verified.claims["sub"], "user-1");
        // Without kid: chosen by key type and alg.
        let token = sign(key, None, &claims());
        assert!(
            auth.authenticate(&bearer(&token)).await.unwrap().is_some(),
            "{:?}",
            key.alg
        );
    }
}

#[tokio::test]
async fn hs_is_not_allowed_without_an_oct_key() {
    let rsa = rsa_key("rsa", Algorithm::RS256, false);
    let (auth, _setup) = file_auth(&[&rsa], "").await;
    assert!(!auth.allowed_algorithms().contains(&Algorithm::HS256));
    // Classic confusion: HS256 keyed with the RSA public key's PEM bytes.
    let confused = TestKey {
        alg: Algorithm::HS256,
        encoding: EncodingKey::from_secret(&rsa.public_pem),
        jwk: json!({}),
        public_pem: Vec::new(),
    };
    for kid in [Some("rsa"), None] {
        let token = sign(&confused, kid, &claims());
        assert_eq!(
            reason(&auth, &bearer(&token)).await,
            "ALGORITHM_NOT_ALLOWED"
        );
    }
}

#[tokio::test]
async fn alg_confusion_is_refused_even_when_hs_is_allowed() {
    let rsa = rsa_key("rsa", Algorithm::RS256, false);
    let oct = oct_key("oct", Algorithm::HS256);
    let (auth, _setup) = file_auth(&[&rsa, &oct], "").await;
    let confused = TestKey {
        alg: Algorithm::HS256,
        encoding: EncodingKey::from_secret(&rsa.public_pem),
        jwk: json!({}),
        public_pem: Vec::new(),
    };
    // kid names the RSA key: HS256 does not fit an RSA key.
    let token = sign(&confused, Some("rsa"), &claims());
    assert_eq!(
        reason(&auth, &bearer(&token)).await,
        "ALGORITHM_NOT_ALLOWED"
    );
    // No kid: only the oct key is a candidate, and the signature fails.
    let token = sign(&confused, None, &claims());
    assert_eq!(reason(&auth, &bearer(&token)).await, "INVALID_SIGNATURE");
}

#[tokio::test]
async fn negative_suite() {
    let rsa = rsa_key("rsa", Algorithm::RS256, false);
    let other = rsa_key("rsa", Algorithm::RS256, true);
    let (auth, _setup) = file_auth(
        &[&rsa],
        "issuers: [https://idp.example.com/]\naudiences: [api]\nmax_token_bytes: 4096\n",
    )
    .await;
    let good =
        json!({"sub": "1", "exp": now() + 600, "iss": "https://idp.example.com/", "aud": "api"});
    let with = |key: &str, value: Value| {
        let mut c = good.clone();
        c[key] = value;
        c
    };
    let token = sign(&rsa, Some("rsa"), &good);
    assert_eq!(reason(&auth, &bearer(&token)).await, "VERIFIED");

    let parts: Vec<&str> = token.split('.').collect();
    let none_header = |alg: &str| b64(json!({"alg": alg, "typ": "JWT"}).to_string().as_bytes());
    for alg in ["none", "None", "NONE", "nOnE"] {
        let forged = format!("{}.{}.", none_header(alg), parts[1]);
        assert_eq!(
            reason(&auth, &bearer(&forged)).await,
            "ALGORITHM_NOT_ALLOWED",
            "{alg}"
        );
        let forged = format!("{}.{}.{}", none_header(alg), parts[1], parts[2]);
        assert_eq!(
            reason(&auth, &bearer(&forged)).await,
            "ALGORITHM_NOT_ALLOWED",
            "{alg}"
        );
    }
    let stripped = format!("{}.{}.", parts[0], parts[1]);
    assert_eq!(reason(&auth, &bearer(&stripped)).await, "INVALID_SIGNATURE");
    let tampered_payload = b64(with("sub", json!("admin")).to_string().as_bytes());
    let tampered = format!("{}.{}.{}", parts[0], tampered_payload, parts[2]);
    assert_eq!(reason(&auth, &bearer(&tampered)).await, "INVALID_SIGNATURE");
    let cases = [
        (sign(&other, Some("rsa"), &good), "INVALID_SIGNATURE"),
        (
            sign(&rsa, Some("rsa"), &with("exp", json!(now() - 3600))),
            "TOKEN_EXPIRED",
        ),
        (
            sign(&rsa, Some("rsa"), &with("nbf", json!(now() + 3600))),
            "TOKEN_NOT_YET_VALID",
        ),
        (
            sign(&rsa, Some("rsa"), &with("iat", json!(now() + 3600))),
            "TOKEN_ISSUED_IN_FUTURE",
        ),
        (
            sign(
                &rsa,
                Some("rsa"),
                &with("iss", json!("https://evil.example.com/")),
            ),
            "INVALID_ISSUER",
        ),
        (
            sign(&rsa, Some("rsa"), &with("aud", json!("other"))),
            "INVALID_AUDIENCE",
        ),
        (
            sign(&rsa, Some("rsa"), &with("aud", json!(["other", "api"]))),
            "VERIFIED",
        ),
        (sign(&rsa, Some("unknown"), &good), "UNKNOWN_KEY"),
        (
            sign(&rsa, Some("rsa"), &with("pad", json!("x".repeat(5000)))),
            "TOKEN_TOO_LARGE",
        ),
        ("not-base64!.x.y".to_owned(), "MALFORMED_TOKEN"),
        ("a.b".to_owned(), "MALFORMED_TOKEN"),
        ("a.b.c.d".to_owned(), "MALFORMED_TOKEN"),
        ("////.////.////".to_owned(), "MALFORMED_TOKEN"),
    ];
    for (token, expected) in cases {
        assert_eq!(
            reason(&auth, &bearer(&token)).await,
            expected,
            "{token:.60}"
        );
    }
    let mut no_iss = good.clone();
    no_iss.as_object_mut().unwrap().remove("iss");
    assert_eq!(
        reason(&auth, &bearer(&sign(&rsa, Some("rsa"), &no_iss))).await,
        "INVALID_ISSUER"
    );
    let mut crit = Header::new(Algorithm::RS256);
    crit.kid = Some("rsa".into());
    crit.crit = Some(vec!["exp".into()]);
    let token = jsonwebtoken::encode(&crit, &good, &rsa.encoding).unwrap();
    assert_eq!(
        reason(&auth, &bearer(&token)).await,
        "UNSUPPORTED_CRITICAL_HEADER"
    );

    // Wrong location / prefix: anonymous; empty bearer and duplicates: malformed.
    let mut headers = HeaderMap::new();
    headers.insert("x-token", HeaderValue::from_str(&token).unwrap());
    assert_eq!(reason(&auth, &headers).await, "ANONYMOUS");
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("Token {token}")).unwrap(),
    );
    assert_eq!(reason(&auth, &headers).await, "ANONYMOUS");
    headers.insert("authorization", HeaderValue::from_static("Bearer "));
    assert_eq!(reason(&auth, &headers).await, "MALFORMED_TOKEN");
    let good_token = sign(&rsa, Some("rsa"), &good);
    let mut duplicated = bearer(&good_token);
    duplicated.append(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {good_token}")).unwrap(),
    );
    assert_eq!(reason(&auth, &duplicated).await, "MALFORMED_TOKEN");
}

#[tokio::test]
async fn errors_never_echo_the_token() {
    let rsa = rsa_key("rsa", Algorithm::RS256, false);
    let (auth, _setup) = file_auth(&[&rsa], "").await;
    let token = sign(&rsa, Some("nope"), &claims());
    let error = auth.authenticate(&bearer(&token)).await.unwrap_err();
    for text in [
        error.to_string(),
        error.message().to_owned(),
        format!("{error:?}"),
    ] {
        assert!(!text.contains(&token[..20]), "{text}");
    }
    for error in AuthError::ALL {
        assert!(!error.message().is_empty());
        assert!(error.www_authenticate().starts_with("Bearer"));
    }
}

#[tokio::test]
async fn required_authentication_and_claim_forwarding() {
    let key = ed_key("ed");
    let (auth, _setup) = file_auth(
        &[&key],
        "require_authentication: true\nforward_claims_to_upstream_extensions: { enabled: true, field_name: claims, include_claims: [sub] }\nlookup_locations: [{ source: cookies, name: session }]\n",
    )
    .await;
    assert_eq!(reason(&auth, &HeaderMap::new()).await, "MISSING_TOKEN");
    assert_eq!(AuthError::MissingToken.www_authenticate(), "Bearer");
    let token = sign(&key, Some("ed"), &claims());
    let mut headers = HeaderMap::new();
    headers.insert(
        "cookie",
        HeaderValue::from_str(&format!("a=b; session={token}")).unwrap(),
    );
    let verified = auth.authenticate(&headers).await.unwrap().unwrap();
    assert_eq!(verified.source.to_string(), "cookie:session");
    let (field, forwarded) = auth
        .forwarded_claims(verified.claims.as_object().unwrap())
        .unwrap();
    assert_eq!(field, "claims");
    assert_eq!(forwarded, json!({"sub": "user-1"}));
}

#[tokio::test]
async fn jwks_with_bad_keys_keeps_the_good_ones_and_honours_use_and_alg() {
    let good = p256_key("good");
    let enc_only = {
        let mut k = p256_key("enc");
        k.jwk["use"] = json!("enc");
        k
    };
    let verify_op_missing = {
        let mut k = p256_key("ops");
        k.jwk["key_ops"] = json!(["sign"]);
        k
    };
    let pinned = {
        let mut k = rsa_key("pinned", Algorithm::RS256, false);
        k.jwk["alg"] = json!("RS256");
        k
    };
    let (auth, _setup) = file_auth_jwks(
        &json!({"keys": [
            {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
            {"kty": "XYZ", "kid": "weird"},
            {"kty": "RSA", "kid": "short", "n": b64(&[0xc5; 128]), "e": "AQAB"},
            enc_only.jwk, verify_op_missing.jwk, pinned.jwk, good.jwk
        ]}),
        "",
    )
    .await;
    assert_eq!(
        reason(&auth, &bearer(&sign(&good, Some("good"), &claims()))).await,
        "VERIFIED"
    );
    assert_eq!(
        reason(&auth, &bearer(&sign(&enc_only, Some("enc"), &claims()))).await,
        "UNKNOWN_KEY"
    );
    assert_eq!(
        reason(
            &auth,
            &bearer(&sign(&verify_op_missing, Some("ops"), &claims()))
        )
        .await,
        "UNKNOWN_KEY"
    );
    let ps = TestKey {
        alg: Algorithm::PS256,
        ..pinned.clone()
    };
    assert_eq!(
        reason(&auth, &bearer(&sign(&ps, Some("pinned"), &claims()))).await,
        "ALGORITHM_NOT_ALLOWED"
    );
    assert_eq!(
        reason(&auth, &bearer(&sign(&pinned, Some("pinned"), &claims()))).await,
        "VERIFIED"
    );
}

#[tokio::test]
async fn rsa_keys_under_2048_bits_never_verify_a_token() {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::traits::PublicKeyParts;
    let good = rsa_key("good", Algorithm::RS256, false);
    let short = rsa_1024();
    let n = short.to_public_key().n().to_bytes_be();
    let mut padded = vec![0u8; 256 - n.len()];
    padded.extend_from_slice(&n);
    let short_key = TestKey {
        alg: Algorithm::RS256,
        encoding: EncodingKey::from_rsa_der(short.to_pkcs1_der().unwrap().as_bytes()),
        jwk: json!({"kty": "RSA", "kid": "short", "n": b64(&n), "e": "AQAB"}),
        public_pem: Vec::new(),
    };
    let padded_jwk = json!({"kty": "RSA", "kid": "padded", "n": b64(&padded), "e": "AQAB"});
    let (auth, _setup) =
        file_auth_jwks(&json!({"keys": [good.jwk, short_key.jwk, padded_jwk]}), "").await;
    assert_eq!(
        reason(&auth, &bearer(&sign(&good, Some("good"), &claims()))).await,
        "VERIFIED"
    );
    // Both short keys were skipped when the JWKS was read.
    for kid in ["short", "padded"] {
        assert_eq!(
            reason(&auth, &bearer(&sign(&short_key, Some(kid), &claims()))).await,
            "UNKNOWN_KEY",
            "{kid}"
        );
    }
    assert_eq!(
        reason(&auth, &bearer(&sign(&short_key, None, &claims()))).await,
        "INVALID_SIGNATURE"
    );
    // A file holding only short keys stops the start with the provider's key.
    let only_short = FileSetup::new(&json!({"keys": [{"kty": "RSA", "n": b64(&n), "e": "AQAB"}]}));
    let config: JwtConfig =
        serde_yaml::from_str("jwks_providers: [{ source: file, path: jwks.json }]").unwrap();
    let error = JwtAuthenticator::build(config, &only_short.dir)
        .err()
        .unwrap()
        .to_string();
    assert!(error.starts_with("jwt.jwks_providers[0].path"), "{error}");
}

#[tokio::test]
async fn cache_hits_skip_verification_and_rotation_invalidates() {
    let first = ed_key("k1");
    let (auth, setup) = file_auth(&[&first], "").await;
    let token = sign(&first, Some("k1"), &claims());
    let cache = auth.inner.cache.as_ref().unwrap();
    assert_eq!(reason(&auth, &bearer(&token)).await, "VERIFIED");
    assert_eq!(cache.len(), 0, "a first verification is not cached");
    assert_eq!(reason(&auth, &bearer(&token)).await, "VERIFIED");
    assert_eq!(cache.len(), 1, "the second one is");
    assert_eq!(reason(&auth, &bearer(&token)).await, "VERIFIED");
    let generation = auth.inner.store.generation();
    // Rotate the file to a different key: the cached verification must not survive.
    let second = ed_key("k2");
    std::fs::write(setup.dir.join("jwks.json"), jwks(&[&second]).to_string()).unwrap();
    let provider_check = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if auth.inner.store.generation() != generation {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(
        provider_check.is_ok(),
        "file provider reloaded the changed file"
    );
    assert_eq!(reason(&auth, &bearer(&token)).await, "UNKNOWN_KEY");
    assert_eq!(
        reason(&auth, &bearer(&sign(&second, Some("k2"), &claims()))).await,
        "VERIFIED"
    );
}

/// Waits (bounded) until the key store's generation differs from `from`.
async fn generation_moves(auth: &JwtAuthenticator, from: u64) -> bool {
    tokio::time::timeout(Duration::from_secs(15), async {
        while auth.inner.store.generation() == from {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .is_ok()
}

#[tokio::test]
async fn a_file_renamed_over_replaces_the_keys_and_a_broken_one_keeps_them() {
    let first = ed_key("k1");
    let second = ed_key("k2");
    let (auth, setup) = file_auth(&[&first], "").await;
    let old_token = sign(&first, Some("k1"), &claims());
    assert_eq!(reason(&auth, &bearer(&old_token)).await, "VERIFIED");

    // Broken content first: refused, the running keys stay (the cached
    // verification too: the generation does not move).
    let generation = auth.inner.store.generation();
    let path = setup.dir.join("jwks.json");
    std::fs::write(setup.dir.join("broken.tmp"), "{ not json").unwrap();
    std::fs::rename(setup.dir.join("broken.tmp"), &path).unwrap();
    let handled = tokio::time::timeout(Duration::from_secs(15), async {
        while auth.inner.store.file_changes() == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(handled.is_ok(), "the broken file was noticed");
    assert_eq!(
        auth.inner.store.generation(),
        generation,
        "broken file refused"
    );
    assert_eq!(reason(&auth, &bearer(&old_token)).await, "VERIFIED");

    // Then a good key set written next to it and renamed over (atomic replace).
    std::fs::write(setup.dir.join("next.tmp"), jwks(&[&second]).to_string()).unwrap();
    std::fs::rename(setup.dir.join("next.tmp"), &path).unwrap();
    assert!(
        generation_moves(&auth, generation).await,
        "renamed file loaded"
    );
    assert_eq!(
        reason(&auth, &bearer(&old_token)).await,
        "UNKNOWN_KEY",
        "the removed key's cached verification is not served"
    );
    assert_eq!(
        reason(&auth, &bearer(&sign(&second, Some("k2"), &claims()))).await,
        "VERIFIED"
    );
    auth.shutdown();
}

#[tokio::test]
async fn file_keys_must_fit_the_allowed_algorithms() {
    let ed = ed_key("ed");
    let setup = FileSetup::new(&jwks(&[&ed]));
    let config: JwtConfig = serde_yaml::from_str(
        "jwks_providers: [{ source: file, path: jwks.json }]\nallowed_algorithms: [RS256, ES256]",
    )
    .unwrap();
    let error = JwtAuthenticator::build(config, &setup.dir).err().unwrap();
    let message = error.to_string();
    assert!(
        message.starts_with("jwt.jwks_providers[0].path: ")
            && message.contains("none of its keys can verify an allowed algorithm (RS256, ES256)"),
        "{message}"
    );
}

#[tokio::test]
async fn build_contacts_no_remote_provider_and_check_remote_reports_each() {
    let key = ed_key("k");
    let good = JwksServer::start(Some(jwks(&[&key]))).await;
    let bad = JwksServer::start(Some(json!({"keys": "nope"}))).await;
    let yaml = format!(
        "jwks_providers:\n  - {{ source: remote, url: '{}', prefetch: true, headers: {{ x-api-key: k }} }}\n  - {{ source: remote, url: '{}', prefetch: true, headers: {{ x-api-key: k }} }}\n  - {{ source: remote, url: 'http://127.0.0.1:9/jwks.json' }}\n",
        good.url, bad.url
    );
    let config: JwtConfig = serde_yaml::from_str(&yaml).unwrap();
    let auth = JwtAuthenticator::build(config, std::path::Path::new(".")).unwrap();
    assert_eq!((good.hits(), bad.hits()), (0, 0), "build fetches nothing");
    let errors = auth.check_remote().await;
    assert_eq!((good.hits(), bad.hits()), (1, 1));
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].starts_with("jwt.jwks_providers[1].url: ")
            && errors[0].contains("not a usable JWKS"),
        "{errors:?}"
    );
    assert!(
        errors[1].starts_with("jwt.jwks_providers[2].url: ")
            && errors[1].contains("connection failed"),
        "{errors:?}"
    );
    assert!(!auth.has_keys(), "nothing installed");
}

#[tokio::test]
async fn cache_entries_never_outlive_exp() {
    let key = ed_key("k");
    let (auth, _setup) = file_auth(&[&key], "leeway: 0s").await;
    // Two whole seconds of life: with `now() + 1` the clock could tick over
    // between signing and the first check (it did once, on CI).
    let exp = now() + 2;
    let token = sign(&key, Some("k"), &json!({"sub": "x", "exp": exp}));
    for _ in 0..2 {
        assert_eq!(reason(&auth, &bearer(&token)).await, "VERIFIED");
    }
    assert_eq!(auth.inner.cache.as_ref().unwrap().len(), 1);
    // Sleep until the wall clock is past `exp`, however long signing took.
    let past_exp = std::time::UNIX_EPOCH + Duration::from_secs(exp + 1);
    let wait = past_exp
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(50)).await;
    assert_eq!(reason(&auth, &bearer(&token)).await, "TOKEN_EXPIRED");
}

#[tokio::test]
async fn setup_errors_name_the_key() {
    let config: JwtConfig =
        serde_yaml::from_str("jwks_providers: [{ source: file, path: missing.json }]").unwrap();
    let error = JwtAuthenticator::new(config, std::path::Path::new("/nonexistent"))
        .await
        .err()
        .unwrap();
    assert!(
        error
            .to_string()
            .starts_with("jwt.jwks_providers[0].path: cannot read"),
        "{error}"
    );
    let config: JwtConfig = serde_yaml::from_str(
        "lookup_locations: [{ source: header, name: authorization }, { source: header, name: 'x token' }]",
    )
    .unwrap();
    let error = JwtAuthenticator::new(config, std::path::Path::new("."))
        .await
        .err()
        .unwrap();
    assert_eq!(
        error.to_string(),
        "jwt.lookup_locations[1].name: `x token` is not a valid header name"
    );
    let config: JwtConfig = serde_yaml::from_str("require_authentication: true").unwrap();
    let error = JwtAuthenticator::new(config, std::path::Path::new("."))
        .await
        .err()
        .unwrap();
    assert!(
        error.to_string().starts_with("jwt.jwks_providers:"),
        "{error}"
    );
    let rsa = rsa_key("rsa", Algorithm::RS256, false);
    let setup = FileSetup::new(&jwks(&[&rsa]));
    let config: JwtConfig = serde_yaml::from_str(
        "jwks_providers: [{ source: file, path: jwks.json }]\nallowed_algorithms: [HS256]",
    )
    .unwrap();
    let error = JwtAuthenticator::new(config, &setup.dir)
        .await
        .err()
        .unwrap();
    assert!(
        error.to_string().starts_with("jwt.allowed_algorithms:"),
        "{error}"
    );
    let config: JwtConfig =
        serde_yaml::from_str("jwks_providers: [{ source: remote, url: 'ftp://x' }]").unwrap();
    let error = JwtAuthenticator::new(config, &setup.dir)
        .await
        .err()
        .unwrap();
    assert!(
        error.to_string().starts_with("jwt.jwks_providers[0].url:"),
        "{error}"
    );
}

/// A local JWKS server whose key set and availability tests control.
struct JwksServer {
    url: String,
    hits: Arc<AtomicUsize>,
    /// The body served (`None`: 503).
    state: Arc<parking_lot::Mutex<Option<String>>>,
    _task: tokio::task::JoinHandle<()>,
}

impl JwksServer {
    async fn start(initial: Option<Value>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::start_on(listener, initial).await
    }

    async fn start_on(listener: tokio::net::TcpListener, initial: Option<Value>) -> Self {
        let hits = Arc::new(AtomicUsize::new(0));
        let state = Arc::new(parking_lot::Mutex::new(initial.map(|v| v.to_string())));
        let (h, s) = (hits.clone(), state.clone());
        let app = axum::Router::new().route(
            "/jwks.json",
            axum::routing::get(move |headers: HeaderMap| {
                let (h, s) = (h.clone(), s.clone());
                async move {
                    h.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    assert_eq!(
                        headers.get("x-api-key").map(|v| v.to_str().unwrap()),
                        Some("k")
                    );
                    match s.lock().clone() {
                        Some(body) => (http::StatusCode::OK, body),
                        None => (http::StatusCode::SERVICE_UNAVAILABLE, "down".to_owned()),
                    }
                }
            }),
        );
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url,
            hits,
            state,
            _task: task,
        }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    fn set(&self, body: Option<Value>) {
        *self.state.lock() = body.map(|v| v.to_string());
    }

    /// Serves `body` as it is (not necessarily JSON).
    fn set_raw(&self, body: &str) {
        *self.state.lock() = Some(body.to_owned());
    }

    /// Waits (at most 5 s) until the server was asked `n` more times.
    async fn wait_for_hits(&self, n: usize) {
        let target = self.hits() + n;
        let waited = tokio::time::timeout(Duration::from_secs(5), async {
            while self.hits() < target {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        assert!(waited.is_ok(), "the JWKS server was not polled");
    }

    async fn auth(&self, extra: &str) -> JwtAuthenticator {
        remote_auth(&self.url, extra).await
    }
}

async fn remote_auth(url: &str, extra: &str) -> JwtAuthenticator {
    let yaml = format!(
        "jwks_providers: [{{ source: remote, url: '{url}', headers: {{ x-api-key: k }}{extra} }}]\nunknown_kid_cooldown: 1s\n"
    );
    let config: JwtConfig = serde_yaml::from_str(&yaml).unwrap();
    JwtAuthenticator::new(config, std::path::Path::new("."))
        .await
        .unwrap()
}

#[tokio::test]
async fn remote_refused_at_start_then_listening() {
    let key = ed_key("k");
    let reserved = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = reserved.local_addr().unwrap();
    drop(reserved);
    let url = format!("http://{addr}/jwks.json");
    // Nothing listens: the prefetch fails, the router still starts.
    let auth = remote_auth(&url, ", prefetch: true, polling_interval: 200ms").await;
    assert!(!auth.has_keys());
    let token = sign(&key, Some("k"), &claims());
    assert_eq!(reason(&auth, &bearer(&token)).await, "KEYS_UNAVAILABLE");
    // The IdP comes up on that address: the next poll loads its keys.
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let server = JwksServer::start_on(listener, Some(jwks(&[&key]))).await;
    server.wait_for_hits(1).await;
    let loaded = tokio::time::timeout(Duration::from_secs(5), async {
        while !auth.has_keys() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(loaded.is_ok(), "keys loaded once the IdP listens");
    assert_eq!(reason(&auth, &bearer(&token)).await, "VERIFIED");
    auth.shutdown();
}

#[tokio::test]
async fn every_bad_poll_keeps_the_last_good_keys() {
    let key = ed_key("k");
    let server = JwksServer::start(Some(jwks(&[&key]))).await;
    let auth = server
        .auth(", prefetch: true, polling_interval: 100ms")
        .await;
    assert!(auth.has_keys());
    let bad: [(&str, Option<&str>); 6] = [
        ("HTTP 503", None),
        ("HTML", Some("<html>maintenance</html>")),
        ("truncated JSON", Some(r#"{"keys": [{"kty": "OKP""#)),
        ("keys not a list", Some(r#"{"keys": "none"}"#)),
        (
            "no usable key",
            Some(r#"{"keys": [{"kty": "RSA", "n": "!!", "e": "AQAB"}]}"#),
        ),
        ("empty key set", Some(r#"{"keys": []}"#)),
    ];
    for (i, (what, body)) in bad.into_iter().enumerate() {
        match body {
            Some(body) => server.set_raw(body),
            None => server.set(None),
        }
        server.wait_for_hits(2).await;
        assert!(auth.has_keys(), "{what}");
        // A token not seen before, so the verification cache cannot answer.
        let fresh = sign(
            &key,
            Some("k"),
            &json!({"sub": format!("u{i}"), "exp": now() + 60}),
        );
        assert_eq!(reason(&auth, &bearer(&fresh)).await, "VERIFIED", "{what}");
    }
    auth.shutdown();
}

#[tokio::test]
async fn remote_lazy_fetch_is_shared_by_concurrent_first_requests() {
    let key = ed_key("k");
    let server = JwksServer::start(Some(jwks(&[&key]))).await;
    let auth = server.auth("").await;
    assert_eq!(server.hits(), 0, "no prefetch: nothing fetched at start");
    let token = sign(&key, Some("k"), &claims());
    let requests = (0..8).map(|_| {
        let (auth, token) = (auth.clone(), token.clone());
        tokio::spawn(async move { reason(&auth, &bearer(&token)).await })
    });
    for result in futures::future::join_all(requests).await {
        assert_eq!(result.unwrap(), "VERIFIED");
    }
    assert_eq!(server.hits(), 1, "one shared fetch");
    auth.shutdown();
}

#[tokio::test]
async fn remote_prefetch_unknown_kid_refetch_and_cooldown() {
    let first = ed_key("k1");
    let second = ed_key("k2");
    let server = JwksServer::start(Some(jwks(&[&first]))).await;
    let auth = server.auth(", prefetch: true").await;
    assert_eq!(server.hits(), 1, "prefetched at start");
    assert!(auth.has_keys());
    // Rotation at the IdP: the new kid triggers one refetch.
    server.set(Some(jwks(&[&first, &second])));
    let token = sign(&second, Some("k2"), &claims());
    assert_eq!(reason(&auth, &bearer(&token)).await, "VERIFIED");
    assert_eq!(server.hits(), 2);
    // Random kids within the cooldown do not reach the IdP.
    for i in 0..5 {
        let token = sign(&second, Some(&format!("random-{i}")), &claims());
        assert_eq!(reason(&auth, &bearer(&token)).await, "UNKNOWN_KEY");
    }
    assert_eq!(server.hits(), 2, "cooldown holds");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let token = sign(&second, Some("random-after"), &claims());
    assert_eq!(reason(&auth, &bearer(&token)).await, "UNKNOWN_KEY");
    assert_eq!(server.hits(), 3, "one refetch after the cooldown");
    auth.shutdown();
}

#[tokio::test]
async fn remote_down_then_up_and_failed_refresh_keeps_keys() {
    let key = ed_key("k");
    let server = JwksServer::start(None).await;
    let auth = server
        .auth(", prefetch: true, polling_interval: 300ms")
        .await;
    assert!(!auth.has_keys(), "IdP down at start");
    let token = sign(&key, Some("k"), &claims());
    assert_eq!(reason(&auth, &bearer(&token)).await, "KEYS_UNAVAILABLE");
    server.set(Some(jwks(&[&key])));
    // The background poll picks the keys up.
    let loaded = tokio::time::timeout(Duration::from_secs(5), async {
        while !auth.has_keys() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(loaded.is_ok(), "keys loaded after the IdP came back");
    assert_eq!(reason(&auth, &bearer(&token)).await, "VERIFIED");
    // The IdP goes down again, or serves garbage: the last good keys stay.
    server.set(Some(json!("garbage")));
    let before = server.hits();
    tokio::time::timeout(Duration::from_secs(5), async {
        while server.hits() < before + 2 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap();
    let fresh = sign(&key, Some("k"), &json!({"sub": "other", "exp": now() + 60}));
    assert_eq!(reason(&auth, &bearer(&fresh)).await, "VERIFIED");
    server.set(None);
    auth.shutdown();
}

#[test]
fn outcomes_and_cooldowns_are_counted() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            let key = ed_key("k");
            let server = JwksServer::start(Some(jwks(&[&key]))).await;
            let auth = server.auth(", prefetch: true").await;
            assert_eq!(
                reason(&auth, &bearer(&sign(&key, Some("k"), &claims()))).await,
                "VERIFIED"
            );
            for kid in ["a", "b", "c"] {
                let token = sign(&key, Some(kid), &claims());
                assert_eq!(reason(&auth, &bearer(&token)).await, "UNKNOWN_KEY");
            }
            auth.shutdown();
        })
    });
    let snapshot = snapshotter.snapshot().into_vec();
    let counter = |name: &str| -> u64 {
        snapshot
            .iter()
            .filter(|(key, ..)| key.key().name() == name)
            .map(|(.., value)| match value {
                DebugValue::Counter(n) => *n,
                _ => 0,
            })
            .sum()
    };
    assert_eq!(counter("apollo_authentication_success_count"), 1);
    assert_eq!(counter("apollo_authentication_failure_count"), 3);
    // The first unknown kid refetches; the next two hit the cooldown.
    assert_eq!(counter("apollo_authentication_cooldown_count"), 2);
}

mod oidc;

/// A server that answers every path with a 302 to `{target}{path}`.
async fn redirector(target: String) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(move |uri: http::Uri| {
        let location = format!("{target}{}", uri.path());
        async move {
            (
                http::StatusCode::FOUND,
                [(http::header::LOCATION, location)],
            )
        }
    });
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), task)
}

#[tokio::test]
async fn remote_redirects_are_followed_only_on_the_same_host() {
    let key = ed_key("k");
    let server = JwksServer::start(Some(jwks(&[&key]))).await;
    let token = sign(&key, Some("k"), &claims());
    let origin = server.url.trim_end_matches("/jwks.json").to_owned();

    // Same host (127.0.0.1), another port: followed, the keys load.
    let (same_host, _task) = redirector(origin.clone()).await;
    let auth = remote_auth(&format!("{same_host}/jwks.json"), ", prefetch: true").await;
    assert!(auth.has_keys(), "a same-host redirect is followed");
    assert_eq!(reason(&auth, &bearer(&token)).await, "VERIFIED");
    assert_eq!(server.hits(), 1);
    auth.shutdown();

    // Another host name (localhost) for the same server: refused, so the
    // provider's headers never reach a host the operator did not name.
    let other_host = origin.replace("127.0.0.1", "localhost");
    let (redirect, _task) = redirector(other_host).await;
    let auth = remote_auth(&format!("{redirect}/jwks.json"), ", prefetch: true").await;
    assert!(
        !auth.has_keys(),
        "a redirect to another host is not followed"
    );
    assert_eq!(reason(&auth, &bearer(&token)).await, "KEYS_UNAVAILABLE");
    assert_eq!(server.hits(), 1, "the other host was never asked");
    auth.shutdown();

    // A redirect loop on one host stops after MAX_REDIRECTS.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hops = Arc::new(AtomicUsize::new(0));
    let counted = hops.clone();
    let app = axum::Router::new().fallback(move || {
        let counted = counted.clone();
        async move {
            counted.fetch_add(1, Ordering::SeqCst);
            (
                http::StatusCode::FOUND,
                [(http::header::LOCATION, "/jwks.json")],
            )
        }
    });
    let _loop = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let auth = remote_auth(&format!("http://{addr}/jwks.json"), ", prefetch: true").await;
    assert!(!auth.has_keys());
    assert_eq!(
        hops.load(Ordering::SeqCst),
        1 + crate::provider::MAX_REDIRECTS,
        "the first request and MAX_REDIRECTS redirects"
    );
    auth.shutdown();
}
