//! Key sets: a JWKS document parsed once into ready-to-use decoding keys,
//! each pinned to the algorithms its type allows (RSA → RS*/PS*, P-256 →
//! ES256, P-384 → ES384, Ed25519 → EdDSA, oct → HS*). Unusable keys (RSA
//! outside 2048–8192 bits and small-order Ed25519 keys among them) are
//! skipped with a warning; the good ones are kept.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

use crate::crypto::VerifyingKey;

/// A key's type, which fixes the algorithms it may verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFamily {
    /// RSA public key.
    Rsa,
    /// EC P-256 public key.
    P256,
    /// EC P-384 public key.
    P384,
    /// Ed25519 public key.
    Ed25519,
    /// Symmetric secret.
    Oct,
}

impl KeyFamily {
    /// Whether `alg` may be verified with a key of this family.
    pub fn allows(self, alg: Algorithm) -> bool {
        use Algorithm as A;
        match self {
            Self::Rsa => matches!(
                alg,
                A::RS256 | A::RS384 | A::RS512 | A::PS256 | A::PS384 | A::PS512
            ),
            Self::P256 => alg == A::ES256,
            Self::P384 => alg == A::ES384,
            Self::Ed25519 => alg == A::EdDSA,
            Self::Oct => matches!(alg, A::HS256 | A::HS384 | A::HS512),
        }
    }
}

/// One usable verification key.
#[derive(Clone)]
pub struct Key {
    /// `kid`, if the JWK has one.
    pub kid: Option<String>,
    /// Key type.
    pub family: KeyFamily,
    /// The JWK's own `alg`, if any (the token's must then equal it).
    pub alg: Option<Algorithm>,
    /// Ready-to-use key (RSA keys parsed on first use, then shared).
    pub verifying: VerifyingKey,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("family", &self.family)
            .field("alg", &self.alg)
            .finish()
    }
}

impl Key {
    /// Whether this key may verify a token signed with `alg`.
    pub fn accepts(&self, alg: Algorithm) -> bool {
        self.family.allows(alg) && self.alg.is_none_or(|own| own == alg)
    }
}

/// A parsed JWKS.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    /// The usable keys.
    pub keys: Vec<Key>,
}

/// Why a JWKS document is unusable as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    /// Not JSON, or no `keys` array.
    #[error("{0}")]
    Shape(String),
}

impl KeySet {
    /// Parses a JWKS document, keeping the usable keys.
    pub fn parse(bytes: &[u8]) -> Result<Self, JwksError> {
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| JwksError::Shape(format!("not JSON: {e}")))?;
        let Some(keys) = value.get("keys").and_then(Value::as_array) else {
            return Err(JwksError::Shape("no `keys` array".to_owned()));
        };
        let mut set = KeySet::default();
        for (index, jwk) in keys.iter().enumerate() {
            match parse_key(jwk) {
                Ok(Some(key)) => set.keys.push(key),
                Ok(None) => {}
                Err(reason) => {
                    tracing::warn!(index, reason, "skipping an unusable JWKS key");
                }
            }
        }
        Ok(set)
    }

    /// Whether the set holds a symmetric key.
    pub fn has_oct(&self) -> bool {
        self.keys.iter().any(|k| k.family == KeyFamily::Oct)
    }
}

fn str_field<'a>(jwk: &'a Value, name: &str) -> Result<Option<&'a str>, String> {
    match jwk.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("`{name}` is not a string")),
    }
}

fn required<'a>(jwk: &'a Value, name: &str) -> Result<&'a str, String> {
    str_field(jwk, name)?.ok_or_else(|| format!("missing `{name}`"))
}

/// Parses one JWK; `Ok(None)` for keys deliberately not for signatures.
fn parse_key(jwk: &Value) -> Result<Option<Key>, &'static str> {
    parse_key_inner(jwk).map_err(|reason| {
        tracing::debug!(%reason, "JWK rejected");
        "unsupported or malformed key"
    })
}

fn parse_key_inner(jwk: &Value) -> Result<Option<Key>, String> {
    if !jwk.is_object() {
        return Err("not an object".to_owned());
    }
    if let Some(usage) = str_field(jwk, "use")? {
        if usage != "sig" {
            return Ok(None);
        }
    }
    if let Some(ops) = jwk.get("key_ops") {
        let ops = ops.as_array().ok_or("`key_ops` is not an array")?;
        if !ops.iter().any(|op| op.as_str() == Some("verify")) {
            return Ok(None);
        }
    }
    let kid = str_field(jwk, "kid")?.map(str::to_owned);
    let alg = match str_field(jwk, "alg")? {
        None => None,
        Some(name) => Some(parse_alg(name).ok_or_else(|| format!("unsupported alg `{name}`"))?),
    };
    let kty = required(jwk, "kty")?;
    let (family, decoding) = match kty {
        "RSA" => {
            let n = required(jwk, "n")?;
            let e = required(jwk, "e")?;
            // RFC 7518 §3.3: RSA keys of 2048 bits or more (Tollgate verifies
            // 2048 to 8192); zero bytes in front of `n` do not count.
            let modulus = URL_SAFE_NO_PAD
                .decode(n)
                .map_err(|_| "a key component is not base64url".to_owned())?;
            let significant = modulus.iter().skip_while(|b| **b == 0).count();
            if significant < 256 {
                return Err("RSA key shorter than 2048 bits".to_owned());
            }
            if significant > 1024 {
                return Err("RSA key longer than 8192 bits".to_owned());
            }
            check_b64(e)?;
            let decoding = DecodingKey::from_rsa_components(n, e).map_err(|e| e.to_string())?;
            (KeyFamily::Rsa, decoding)
        }
        "EC" => {
            let family = match required(jwk, "crv")? {
                "P-256" => KeyFamily::P256,
                "P-384" => KeyFamily::P384,
                other => return Err(format!("unsupported curve `{other}`")),
            };
            let x = required(jwk, "x")?;
            let y = required(jwk, "y")?;
            let expected = if family == KeyFamily::P256 { 32 } else { 48 };
            if check_b64(x)? != expected || check_b64(y)? != expected {
                return Err("EC coordinates have the wrong length".to_owned());
            }
            let decoding = DecodingKey::from_ec_components(x, y).map_err(|e| e.to_string())?;
            (family, decoding)
        }
        "OKP" => {
            if required(jwk, "crv")? != "Ed25519" {
                return Err("unsupported OKP curve".to_owned());
            }
            let x = required(jwk, "x")?;
            let bytes: [u8; 32] = URL_SAFE_NO_PAD
                .decode(x)
                .map_err(|_| "a key component is not base64url".to_owned())?
                .try_into()
                .map_err(|_| "Ed25519 key has the wrong length".to_owned())?;
            // A small-order key would let a forged signature verify anything.
            match ed25519_dalek::VerifyingKey::from_bytes(&bytes) {
                Ok(key) if !key.is_weak() => {}
                _ => return Err("Ed25519 key is not a usable curve point".to_owned()),
            }
            let decoding = DecodingKey::from_ed_components(x).map_err(|e| e.to_string())?;
            (KeyFamily::Ed25519, decoding)
        }
        "oct" => {
            let k = required(jwk, "k")?;
            let bytes = URL_SAFE_NO_PAD
                .decode(k)
                .map_err(|_| "`k` is not base64url".to_owned())?;
            if bytes.len() < 32 {
                return Err("symmetric key shorter than 256 bits".to_owned());
            }
            (KeyFamily::Oct, DecodingKey::from_secret(&bytes))
        }
        other => return Err(format!("unsupported kty `{other}`")),
    };
    if let Some(alg) = alg {
        if !family.allows(alg) {
            return Err("the key's `alg` does not fit its type".to_owned());
        }
    }
    Ok(Some(Key {
        kid,
        family,
        alg,
        verifying: VerifyingKey::new(decoding),
    }))
}

/// Checks a base64url (no padding) value and returns its decoded length.
fn check_b64(value: &str) -> Result<usize, String> {
    URL_SAFE_NO_PAD
        .decode(value)
        .map(|b| b.len())
        .map_err(|_| "a key component is not base64url".to_owned())
}

/// Parses a JWS `alg` name (case-sensitive, as RFC 7518 registers them).
pub fn parse_alg(name: &str) -> Option<Algorithm> {
    use Algorithm as A;
    Some(match name {
        "HS256" => A::HS256,
        "HS384" => A::HS384,
        "HS512" => A::HS512,
        "RS256" => A::RS256,
        "RS384" => A::RS384,
        "RS512" => A::RS512,
        "PS256" => A::PS256,
        "PS384" => A::PS384,
        "PS512" => A::PS512,
        "ES256" => A::ES256,
        "ES384" => A::ES384,
        "EdDSA" => A::EdDSA,
        _ => return None,
    })
}
