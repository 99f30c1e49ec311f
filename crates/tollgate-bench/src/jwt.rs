//! One JWT fixture per algorithm: a key (the repository's DEV ONLY RSA key
//! for RS256 and PS256, fresh keys for ES256, EdDSA and HS256), its JWKS in
//! a temporary file, a token signed with it, and two authenticators reading
//! that file, one with the verification cache and one without (every call a
//! full signature check).

use std::path::PathBuf;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use http::{HeaderMap, HeaderValue};
use serde_json::{json, Map, Value};
use tollgate_jwt::issuer::{Issuer, IssuerConfig};
use tollgate_jwt::{JwtAuthenticator, JwtConfig};

use crate::FixtureError;

/// The repository's DEV ONLY RSA key (public knowledge; see `dev/README.md`).
const DEV_RSA_KEY: &str = include_str!("../../../dev/dev-private-key.pem");

/// The algorithms measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit key.
    Rs256,
    /// RSASSA-PSS with SHA-256, 2048-bit key.
    Ps256,
    /// ECDSA P-256 with SHA-256.
    Es256,
    /// Ed25519.
    EdDsa,
    /// HMAC SHA-256 (an `oct` key in the JWKS).
    Hs256,
}

impl BenchAlgorithm {
    /// Every algorithm, in the order the benches report them.
    pub const ALL: [BenchAlgorithm; 5] = [
        BenchAlgorithm::Rs256,
        BenchAlgorithm::Ps256,
        BenchAlgorithm::Es256,
        BenchAlgorithm::EdDsa,
        BenchAlgorithm::Hs256,
    ];

    /// The JWS `alg` name.
    pub fn name(self) -> &'static str {
        match self {
            BenchAlgorithm::Rs256 => "RS256",
            BenchAlgorithm::Ps256 => "PS256",
            BenchAlgorithm::Es256 => "ES256",
            BenchAlgorithm::EdDsa => "EdDSA",
            BenchAlgorithm::Hs256 => "HS256",
        }
    }
}

/// A token and the authenticators that accept it.
pub struct JwtFixture {
    /// Which algorithm signed the token.
    pub algorithm: BenchAlgorithm,
    /// Request headers carrying `Authorization: Bearer <token>`.
    pub headers: HeaderMap,
    /// Length of the token in bytes.
    pub token_bytes: usize,
    /// Authenticator with the verification cache on (default size).
    pub cached: JwtAuthenticator,
    /// Authenticator with the verification cache off.
    pub uncached: JwtAuthenticator,
    dir: PathBuf,
}

impl Drop for JwtFixture {
    fn drop(&mut self) {
        self.cached.shutdown();
        self.uncached.shutdown();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Builds the fixture for `algorithm` inside the current tokio runtime (the
/// authenticators keep a file watcher on it) and checks that both
/// authenticators accept the token.
pub async fn fixture(algorithm: BenchAlgorithm) -> Result<JwtFixture, FixtureError> {
    let dir = std::env::temp_dir().join(format!(
        "tollgate-bench-jwt-{}-{}",
        std::process::id(),
        algorithm.name()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| FixtureError::new("temporary directory", e))?;
    let (jwks, token) = key_and_token(algorithm, &dir)?;
    let jwks_path = dir.join("jwks.json");
    std::fs::write(&jwks_path, jwks.to_string()).map_err(|e| FixtureError::new("jwks file", e))?;

    let authenticator = |cache: bool| {
        let mut config = json!({
            "require_authentication": true,
            "jwks_providers": [{"source": "file", "path": jwks_path}],
            "verification_cache": {"enabled": cache},
        });
        if algorithm == BenchAlgorithm::Hs256 {
            config["allowed_algorithms"] = json!(["HS256"]);
        }
        let dir = dir.clone();
        async move {
            let config: JwtConfig =
                serde_json::from_value(config).map_err(|e| FixtureError::new("jwt config", e))?;
            JwtAuthenticator::new(config, &dir)
                .await
                .map_err(|e| FixtureError::new("jwt authenticator", e))
        }
    };
    let cached = authenticator(true).await?;
    let uncached = authenticator(false).await?;

    let mut headers = HeaderMap::new();
    let value = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|e| FixtureError::new("authorization header", e))?;
    headers.insert(http::header::AUTHORIZATION, value);
    let fixture = JwtFixture {
        algorithm,
        headers,
        token_bytes: token.len(),
        cached,
        uncached,
        dir,
    };
    for (name, authenticator) in [("cached", &fixture.cached), ("uncached", &fixture.uncached)] {
        match authenticator.authenticate(&fixture.headers).await {
            Ok(Some(verified)) if verified.claims["sub"] == "bench" => {}
            other => {
                return Err(FixtureError(format!(
                    "{} token not accepted by the {name} authenticator: {other:?}",
                    algorithm.name()
                )))
            }
        }
    }
    Ok(fixture)
}

/// The JWKS and a token for `sub: "bench"`, valid for an hour.
fn key_and_token(
    algorithm: BenchAlgorithm,
    dir: &std::path::Path,
) -> Result<(Value, String), FixtureError> {
    let mut claims = Map::new();
    claims.insert("sub".to_owned(), json!("bench"));
    claims.insert("scope".to_owned(), json!("read write"));
    if algorithm == BenchAlgorithm::Hs256 {
        let secret: [u8; 32] = rand::random();
        let jwks = json!({"keys": [{
            "kty": "oct", "kid": "bench-hs", "alg": "HS256", "use": "sig",
            "k": URL_SAFE_NO_PAD.encode(secret),
        }]});
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        claims.insert("iat".to_owned(), json!(now));
        claims.insert("exp".to_owned(), json!(now + 3600));
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = Some("bench-hs".to_owned());
        let token = jsonwebtoken::encode(
            &header,
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(&secret),
        )
        .map_err(|e| FixtureError::new("HS256 token", e))?;
        return Ok((jwks, token));
    }
    let pem = private_key_pem(algorithm)?;
    std::fs::write(dir.join("key.pem"), pem).map_err(|e| FixtureError::new("key file", e))?;
    let config: IssuerConfig = serde_json::from_value(json!({
        "issuer": "https://bench.local",
        "algorithm": algorithm.name(),
        "keys": [{"kid": format!("bench-{}", algorithm.name()), "private_key_path": "key.pem"}],
    }))
    .map_err(|e| FixtureError::new("issuer config", e))?;
    let issuer = Issuer::load(&config, dir).map_err(|e| FixtureError::new("issuer", e))?;
    let token = issuer
        .sign(claims, Some(Duration::from_secs(3600)))
        .map_err(|e| FixtureError::new("token", e))?;
    Ok((issuer.jwks(), token))
}

fn private_key_pem(algorithm: BenchAlgorithm) -> Result<String, FixtureError> {
    use p256::pkcs8::{EncodePrivateKey as _, LineEnding};
    match algorithm {
        BenchAlgorithm::Rs256 | BenchAlgorithm::Ps256 => Ok(DEV_RSA_KEY.to_owned()),
        BenchAlgorithm::Es256 => p256::SecretKey::random(&mut rand::rngs::OsRng)
            .to_pkcs8_pem(LineEnding::LF)
            .map(|pem| pem.to_string())
            .map_err(|e| FixtureError::new("ES256 key", e)),
        BenchAlgorithm::EdDsa => ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng)
            .to_pkcs8_pem(LineEnding::LF)
            .map(|pem| pem.to_string())
            .map_err(|e| FixtureError::new("EdDSA key", e)),
        BenchAlgorithm::Hs256 => Err(FixtureError("HS256 has no private key file".to_owned())),
    }
}
