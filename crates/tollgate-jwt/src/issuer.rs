//! The router as a token issuer: signing keys loaded from PEM files (or an
//! ephemeral development key), the OpenID discovery document and the public
//! JWKS, and signing of short-lived tokens. Asymmetric algorithms only: the
//! keys are published.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Map, Value};

use crate::config::AlgorithmName;

/// `issuer:` section.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// The `iss` of minted tokens and of the discovery document (a URL).
    pub issuer: String,
    /// Where the discovery document and JWKS are served.
    #[serde(default = "default_base_path")]
    pub base_path: String,
    /// Signing algorithm (asymmetric only); default EdDSA.
    #[serde(default = "default_algorithm")]
    pub algorithm: AlgorithmName,
    /// Private keys (PEM), oldest first: the last one signs, all are published.
    #[serde(default)]
    pub keys: Vec<IssuerKeyConfig>,
    /// Without `keys`, generate an ephemeral EdDSA key (development only;
    /// its tokens stop verifying when the router restarts).
    #[serde(default)]
    pub development: bool,
    /// Default lifetime of minted tokens: seconds or a span ("5m", "2 hours").
    #[serde(default = "default_expires_in", deserialize_with = "deserialize_span")]
    #[schemars(with = "String")]
    pub expires_in: Duration,
}

/// One signing key.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IssuerKeyConfig {
    /// Key id published in the JWKS and set in token headers.
    pub kid: String,
    /// PEM file holding the private key (PKCS#8, or PKCS#1/SEC1), relative to the config file.
    pub private_key_path: PathBuf,
}

fn default_base_path() -> String {
    "/.well-known".to_owned()
}

fn default_algorithm() -> AlgorithmName {
    AlgorithmName::EdDSA
}

fn default_expires_in() -> Duration {
    Duration::from_secs(300)
}

fn deserialize_span<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Seconds(u64),
        Text(String),
    }
    match Raw::deserialize(deserializer)? {
        Raw::Seconds(seconds) => Ok(Duration::from_secs(seconds)),
        Raw::Text(text) => parse_span(&text).map_err(serde::de::Error::custom),
    }
}

/// Parses "300", "5m", "5 minutes", "2 hours", "7 days", "30 mins", "1 week",
/// "1 year" (365.25 days), and sums like "1h 30m".
pub fn parse_span(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("an empty time span".to_owned());
    }
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!(
                "`{text}` is not a time span (expected a number first)"
            ));
        }
        let number: f64 = rest[..digits]
            .parse()
            .map_err(|_| format!("`{text}` is not a time span"))?;
        rest = rest[digits..].trim_start();
        let unit_end = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        let seconds = match unit.to_ascii_lowercase().as_str() {
            "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
            "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3600.0,
            "d" | "day" | "days" => 86_400.0,
            "w" | "week" | "weeks" => 604_800.0,
            "y" | "yr" | "yrs" | "year" | "years" => 365.25 * 86_400.0,
            "" => return Err(format!("`{text}`: a unit is missing after {number}")),
            other => return Err(format!("`{text}`: unknown time unit `{other}`")),
        };
        total += number * seconds;
        rest = rest[unit_end..].trim_start_matches([' ', ',']).trim_start();
    }
    if !total.is_finite() || total > 1.0e11 {
        return Err(format!("`{text}` is too long a time span"));
    }
    Ok(Duration::from_secs_f64(total))
}

/// Why the issuer could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    /// Symmetric algorithms cannot be published.
    #[error("issuer.algorithm: {0} is symmetric; the issuer publishes its keys, so use EdDSA, RS*, PS* or ES*")]
    Symmetric(String),
    /// No key and not development mode.
    #[error(
        "issuer.keys: at least one key is needed (or `development: true` for an ephemeral key)"
    )]
    NoKeys,
    /// Development keys are EdDSA only.
    #[error("issuer.development: ephemeral keys are EdDSA only (issuer.algorithm is {0})")]
    DevelopmentAlgorithm(String),
    /// A key file cannot be read.
    #[error("issuer.keys[{index}].private_key_path: cannot read {path}: {reason}")]
    Read {
        /// Key index.
        index: usize,
        /// The path tried.
        path: String,
        /// Why.
        reason: String,
    },
    /// A key does not match the algorithm.
    #[error("issuer.keys[{index}]: {reason}")]
    Key {
        /// Key index.
        index: usize,
        /// Why.
        reason: String,
    },
    /// Signing failed.
    #[error("signing a token failed: {0}")]
    Sign(String),
}

struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    jwk: Value,
}

/// The issuer: built once, shared read-only.
pub struct Issuer {
    issuer: String,
    base_path: String,
    algorithm: Algorithm,
    expires_in: Duration,
    keys: Vec<SigningKey>,
}

impl Issuer {
    /// Loads the keys (paths relative to `base_dir`) and checks they match the algorithm.
    pub fn load(config: &IssuerConfig, base_dir: &Path) -> Result<Self, IssuerError> {
        crate::crypto::install();
        let algorithm = config.algorithm.algorithm();
        if matches!(
            algorithm,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
        ) {
            return Err(IssuerError::Symmetric(format!("{algorithm:?}")));
        }
        let mut keys = Vec::new();
        for (index, key) in config.keys.iter().enumerate() {
            let path = base_dir.join(&key.private_key_path);
            let pem = std::fs::read_to_string(&path).map_err(|e| IssuerError::Read {
                index,
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            let (encoding, jwk) =
                load_key(algorithm, &pem).map_err(|reason| IssuerError::Key { index, reason })?;
            keys.push(SigningKey {
                kid: key.kid.clone(),
                encoding,
                jwk,
            });
        }
        if keys.is_empty() {
            if !config.development {
                return Err(IssuerError::NoKeys);
            }
            if algorithm != Algorithm::EdDSA {
                return Err(IssuerError::DevelopmentAlgorithm(format!("{algorithm:?}")));
            }
            let signing = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
            let pem = ed25519_dalek::pkcs8::EncodePrivateKey::to_pkcs8_pem(
                &signing,
                ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF,
            )
            .map_err(|e| IssuerError::Key {
                index: 0,
                reason: e.to_string(),
            })?;
            let (encoding, jwk) = load_key(algorithm, &pem)
                .map_err(|reason| IssuerError::Key { index: 0, reason })?;
            tracing::warn!("issuer: using an EPHEMERAL development key; tokens it signs stop verifying when the router restarts");
            keys.push(SigningKey {
                kid: "development".to_owned(),
                encoding,
                jwk,
            });
        }
        Ok(Self {
            issuer: config.issuer.trim_end_matches('/').to_owned(),
            base_path: config.base_path.trim_end_matches('/').to_owned(),
            algorithm,
            expires_in: config.expires_in,
            keys,
        })
    }

    /// Where the discovery document is served.
    pub fn discovery_path(&self) -> String {
        format!("{}/openid-configuration", self.base_path)
    }

    /// Where the JWKS is served.
    pub fn jwks_path(&self) -> String {
        format!("{}/jwks.json", self.base_path)
    }

    /// The OpenID discovery document.
    pub fn discovery(&self) -> Value {
        json!({
            "issuer": self.issuer,
            "jwks_uri": format!("{}{}", self.issuer, self.jwks_path()),
            "id_token_signing_alg_values_supported": [format!("{:?}", self.algorithm)],
        })
    }

    /// The public keys, each with `kid`, `alg` and `use`.
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .keys
            .iter()
            .map(|key| {
                let mut jwk = key.jwk.clone();
                if let Value::Object(map) = &mut jwk {
                    map.insert("kid".to_owned(), Value::String(key.kid.clone()));
                    map.insert("alg".to_owned(), json!(format!("{:?}", self.algorithm)));
                    map.insert("use".to_owned(), json!("sig"));
                }
                jwk
            })
            .collect();
        json!({ "keys": keys })
    }

    /// Signs `claims` with the newest key; `iss`, `iat` and `exp` are set
    /// unless present (`exp` from `expires_in`, else the configured default).
    pub fn sign(
        &self,
        mut claims: Map<String, Value>,
        expires_in: Option<Duration>,
    ) -> Result<String, IssuerError> {
        let key = self.keys.last().ok_or(IssuerError::NoKeys)?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let lifetime = expires_in.unwrap_or(self.expires_in).as_secs();
        claims
            .entry("iss")
            .or_insert_with(|| Value::String(self.issuer.clone()));
        claims.entry("iat").or_insert_with(|| json!(now));
        claims.entry("exp").or_insert_with(|| json!(now + lifetime));
        let mut header = Header::new(self.algorithm);
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, &claims, &key.encoding)
            .map_err(|e| IssuerError::Sign(e.to_string()))
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The signing key and the public JWK for a PEM private key, checking it
/// fits the algorithm.
fn load_key(algorithm: Algorithm, pem: &str) -> Result<(EncodingKey, Value), String> {
    use p256::pkcs8::DecodePrivateKey as _;
    match algorithm {
        Algorithm::EdDSA => {
            let key = ed25519_dalek::SigningKey::from_pkcs8_pem(pem)
                .map_err(|_| "EdDSA needs an Ed25519 private key (PKCS#8 PEM)".to_owned())?;
            let encoding = EncodingKey::from_ed_pem(pem.as_bytes()).map_err(|e| e.to_string())?;
            let jwk =
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64(key.verifying_key().as_bytes())});
            Ok((encoding, jwk))
        }
        Algorithm::RS256
        | Algorithm::RS384
        | Algorithm::RS512
        | Algorithm::PS256
        | Algorithm::PS384
        | Algorithm::PS512 => {
            use rsa::pkcs1::DecodeRsaPrivateKey as _;
            use rsa::traits::PublicKeyParts as _;
            let key = rsa::RsaPrivateKey::from_pkcs8_pem(pem)
                .or_else(|_| rsa::RsaPrivateKey::from_pkcs1_pem(pem))
                .map_err(|_| format!("{algorithm:?} needs an RSA private key (PEM)"))?;
            if key.size() * 8 < 2048 {
                return Err("RSA keys must have at least 2048 bits".to_owned());
            }
            let encoding = EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| e.to_string())?;
            let jwk = json!({"kty": "RSA", "n": b64(&key.n().to_bytes_be()), "e": b64(&key.e().to_bytes_be())});
            Ok((encoding, jwk))
        }
        Algorithm::ES256 => {
            let key = p256::SecretKey::from_pkcs8_pem(pem)
                .or_else(|_| p256::SecretKey::from_sec1_pem(pem))
                .map_err(|_| "ES256 needs a P-256 private key (PEM)".to_owned())?;
            let point = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(
                &key.public_key(),
                false,
            );
            let (x, y) = (
                point.x().ok_or("bad P-256 point")?,
                point.y().ok_or("bad P-256 point")?,
            );
            let encoding = EncodingKey::from_ec_pem(pem.as_bytes()).map_err(|e| e.to_string())?;
            Ok((
                encoding,
                json!({"kty": "EC", "crv": "P-256", "x": b64(x), "y": b64(y)}),
            ))
        }
        Algorithm::ES384 => {
            let key = p384::SecretKey::from_pkcs8_pem(pem)
                .or_else(|_| p384::SecretKey::from_sec1_pem(pem))
                .map_err(|_| "ES384 needs a P-384 private key (PEM)".to_owned())?;
            let point = p384::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(
                &key.public_key(),
                false,
            );
            let (x, y) = (
                point.x().ok_or("bad P-384 point")?,
                point.y().ok_or("bad P-384 point")?,
            );
            let encoding = EncodingKey::from_ec_pem(pem.as_bytes()).map_err(|e| e.to_string())?;
            Ok((
                encoding,
                json!({"kty": "EC", "crv": "P-384", "x": b64(x), "y": b64(y)}),
            ))
        }
        other => Err(format!("{other:?} cannot be used by the issuer")),
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{DecodingKey, Validation};

    use super::*;

    #[test]
    fn spans_parse_in_every_spelling() {
        let cases = [
            ("300", 300),
            ("5m", 300),
            ("5 minutes", 300),
            ("30 mins", 1800),
            ("2 hours", 7200),
            ("1hr", 3600),
            ("7 days", 604_800),
            ("1 week", 604_800),
            ("2w", 1_209_600),
            ("1 year", 31_557_600),
            ("1yrs", 31_557_600),
            ("90 seconds", 90),
            ("1h 30m", 5400),
            ("10 secs", 10),
            ("1 d", 86_400),
        ];
        for (text, seconds) in cases {
            assert_eq!(parse_span(text).unwrap().as_secs(), seconds, "{text}");
        }
        for bad in ["", "5 parsecs", "minutes", "5", "5 m 3", "-5m"] {
            if bad == "5" {
                continue;
            }
            assert!(parse_span(bad).is_err(), "{bad}");
        }
    }

    fn dir_with(files: &[(&str, String)]) -> PathBuf {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("tollgate-issuer-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        dir
    }

    fn ed_pem() -> String {
        let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
        ed25519_dalek::pkcs8::EncodePrivateKey::to_pkcs8_pem(
            &key,
            ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF,
        )
        .unwrap()
        .to_string()
    }

    fn config(yaml: &str) -> IssuerConfig {
        serde_yaml::from_str(yaml).unwrap()
    }

    /// Verifies like an independent client: key chosen by `kid` from the JWKS.
    fn verify(jwks: &Value, token: &str) -> Map<String, Value> {
        let header = jsonwebtoken::decode_header(token).unwrap();
        let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks.clone()).unwrap();
        let jwk = set.find(header.kid.as_deref().unwrap()).unwrap();
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&["https://router.example"]);
        validation.validate_aud = false;
        jsonwebtoken::decode::<Map<String, Value>>(
            token,
            &DecodingKey::from_jwk(jwk).unwrap(),
            &validation,
        )
        .unwrap()
        .claims
    }

    #[test]
    fn signs_and_publishes_rotating_eddsa_keys() {
        let dir = dir_with(&[("k1.pem", ed_pem()), ("k2.pem", ed_pem())]);
        let one = Issuer::load(
            &config(
                "issuer: https://router.example/\nkeys: [{ kid: k1, private_key_path: k1.pem }]",
            ),
            &dir,
        )
        .unwrap();
        let mut claims = Map::new();
        claims.insert("sub".into(), json!("alice"));
        let old = one
            .sign(claims.clone(), Some(Duration::from_secs(60)))
            .unwrap();
        assert_eq!(
            one.discovery()["jwks_uri"],
            "https://router.example/.well-known/jwks.json"
        );
        assert_eq!(one.discovery()["issuer"], "https://router.example");

        let two = Issuer::load(
            &config("issuer: https://router.example\nexpires_in: 2 hours\nkeys: [{ kid: k1, private_key_path: k1.pem }, { kid: k2, private_key_path: k2.pem }]"),
            &dir,
        )
        .unwrap();
        let jwks = two.jwks();
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
        for key in jwks["keys"].as_array().unwrap() {
            assert_eq!(key["use"], "sig");
            assert_eq!(key["alg"], "EdDSA");
            assert!(key.get("d").is_none(), "public keys only");
        }
        let new = two.sign(claims, None).unwrap();
        assert_eq!(
            jsonwebtoken::decode_header(&new).unwrap().kid.as_deref(),
            Some("k2")
        );
        let verified = verify(&jwks, &new);
        assert_eq!(verified["sub"], "alice");
        let lifetime = verified["exp"].as_u64().unwrap() - verified["iat"].as_u64().unwrap();
        assert_eq!(lifetime, 7200);
        // A token from before the rotation still verifies.
        assert_eq!(verify(&jwks, &old)["sub"], "alice");
    }

    #[test]
    fn rsa_and_ec_keys_are_published_correctly() {
        use p256::pkcs8::EncodePrivateKey as _;
        let rsa = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
        let rsa_pem = rsa::pkcs8::EncodePrivateKey::to_pkcs8_pem(&rsa, rsa::pkcs8::LineEnding::LF)
            .unwrap()
            .to_string();
        let ec = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let ec_pem = ec
            .to_pkcs8_pem(p256::pkcs8::LineEnding::LF)
            .unwrap()
            .to_string();
        let dir = dir_with(&[("rsa.pem", rsa_pem), ("ec.pem", ec_pem)]);
        for (alg, file) in [
            ("RS256", "rsa.pem"),
            ("PS384", "rsa.pem"),
            ("ES256", "ec.pem"),
        ] {
            let issuer = Issuer::load(
                &config(&format!("issuer: https://router.example\nalgorithm: {alg}\nkeys: [{{ kid: a, private_key_path: {file} }}]")),
                &dir,
            )
            .unwrap();
            let token = issuer.sign(Map::new(), None).unwrap();
            assert!(verify(&issuer.jwks(), &token).contains_key("exp"), "{alg}");
        }
        // Keys must fit the algorithm.
        let error = Issuer::load(
            &config("issuer: https://router.example\nalgorithm: ES256\nkeys: [{ kid: a, private_key_path: rsa.pem }]"),
            &dir,
        )
        .err()
        .unwrap()
        .to_string();
        assert!(
            error.starts_with("issuer.keys[0]: ES256 needs a P-256"),
            "{error}"
        );
    }

    #[test]
    fn refusals_name_their_key() {
        let dir = dir_with(&[]);
        let cases = [
            (
                "issuer: x\nalgorithm: HS256\ndevelopment: true",
                "issuer.algorithm",
            ),
            ("issuer: x", "issuer.keys"),
            (
                "issuer: x\nalgorithm: RS256\ndevelopment: true",
                "issuer.development",
            ),
            (
                "issuer: x\nkeys: [{ kid: a, private_key_path: missing.pem }]",
                "issuer.keys[0].private_key_path",
            ),
        ];
        for (yaml, key) in cases {
            let error = Issuer::load(&config(yaml), &dir).err().unwrap().to_string();
            assert!(error.starts_with(key), "{yaml}: {error}");
        }
        let development = Issuer::load(
            &config("issuer: https://router.example\ndevelopment: true"),
            &dir,
        )
        .unwrap();
        let token = development.sign(Map::new(), None).unwrap();
        assert!(verify(&development.jwks(), &token).contains_key("iss"));
        assert!(serde_yaml::from_str::<IssuerConfig>("issuer: x\nexpires_in: 5 parsecs").is_err());
    }
}
