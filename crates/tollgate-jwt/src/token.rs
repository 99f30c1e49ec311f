//! The token itself: strict parsing of the compact JWS (exactly three
//! base64url segments, a JSON-object header and payload), the header checks
//! (`alg` allowed and never `none`, no `crit`), signature verification with
//! the candidate keys ([`crate::crypto`]), and the
//! registered-claim checks.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use crate::error::AuthError;
use crate::jwks::{parse_alg, Key};

/// Most keys tried for a token without `kid` (bounds the work per token).
pub const MAX_CANDIDATE_KEYS: usize = 8;

/// A parsed, not yet verified token.
#[derive(Debug)]
pub struct ParsedToken<'t> {
    /// The header's `alg`.
    pub alg: Algorithm,
    /// The header's `kid`.
    pub kid: Option<String>,
    /// `header.payload`, the signed bytes.
    pub signing_input: &'t str,
    /// The decoded signature.
    pub signature: Vec<u8>,
    /// The payload's claims.
    pub claims: Map<String, Value>,
}

fn segment(part: &str) -> Result<Vec<u8>, AuthError> {
    let clean = part
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !clean {
        return Err(AuthError::MalformedToken);
    }
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| AuthError::MalformedToken)
}

/// A JSON object whose member names are unique: RFC 7515 §4 and RFC 7519
/// §4 let a parser either reject duplicates or keep the last, and Tollgate
/// rejects them, so no other parser of the same token (a subgraph reading
/// the forwarded `Authorization` header, say) can see a different `alg`,
/// `exp` or `sub`. Nested objects keep serde_json's last-wins rule.
fn object(json: &[u8]) -> Result<Map<String, Value>, AuthError> {
    serde_json::from_slice::<UniqueObject>(json)
        .map(|object| object.0)
        .map_err(|_| AuthError::MalformedToken)
}

/// A top-level JSON object read by [`UniqueMembers`].
struct UniqueObject(Map<String, Value>);

impl<'de> serde::Deserialize<'de> for UniqueObject {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(UniqueMembers)
    }
}

/// Collects an object's members, failing on a name seen before.
struct UniqueMembers;

impl<'de> serde::de::Visitor<'de> for UniqueMembers {
    type Value = UniqueObject;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut access: A,
    ) -> Result<UniqueObject, A::Error> {
        let mut members = Map::new();
        while let Some(name) = access.next_key::<String>()? {
            let value: Value = access.next_value()?;
            if members.insert(name, value).is_some() {
                return Err(serde::de::Error::custom("duplicate member name"));
            }
        }
        Ok(UniqueObject(members))
    }
}

/// Parses and checks a compact JWS against the size limit and allowed algorithms.
pub fn parse<'t>(
    token: &'t str,
    max_bytes: usize,
    allowed: &[Algorithm],
) -> Result<ParsedToken<'t>, AuthError> {
    if token.len() > max_bytes {
        return Err(AuthError::TokenTooLarge);
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::MalformedToken);
    };
    let header_json = object(&segment(header)?)?;
    let alg = match header_json.get("alg") {
        Some(Value::String(name)) => {
            if name.eq_ignore_ascii_case("none") {
                return Err(AuthError::AlgorithmNotAllowed);
            }
            parse_alg(name).ok_or(AuthError::AlgorithmNotAllowed)?
        }
        _ => return Err(AuthError::MalformedToken),
    };
    if !allowed.contains(&alg) {
        return Err(AuthError::AlgorithmNotAllowed);
    }
    if header_json.contains_key("crit") {
        return Err(AuthError::UnsupportedCriticalHeader);
    }
    let kid = match header_json.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(AuthError::MalformedToken),
    };
    let claims = object(&segment(payload)?)?;
    if signature.is_empty() {
        return Err(AuthError::InvalidSignature);
    }
    let signature = segment(signature)?;
    Ok(ParsedToken {
        alg,
        kid,
        signing_input: &token[..header.len() + 1 + payload.len()],
        signature,
        claims,
    })
}

/// Verifies the signature with the first candidate key that accepts it.
pub fn verify_signature<'k>(
    token: &ParsedToken<'_>,
    candidates: impl IntoIterator<Item = &'k Key>,
) -> Result<&'k Key, AuthError> {
    for key in candidates.into_iter().take(MAX_CANDIDATE_KEYS) {
        match key
            .verifying
            .verify(token.alg, token.signing_input.as_bytes(), &token.signature)
        {
            Ok(()) => return Ok(key),
            Err(error) => tracing::trace!(kid = ?key.kid, %error, "key did not verify the token"),
        }
    }
    Err(AuthError::InvalidSignature)
}

/// The registered-claim rules.
#[derive(Debug, Clone)]
pub struct ClaimRules {
    /// Tolerated clock skew in seconds.
    pub leeway: u64,
    /// Whether `exp` is required.
    pub require_exp: bool,
    /// Accepted issuers (empty: not checked).
    pub issuers: Vec<String>,
    /// Accepted audiences (empty: not checked).
    pub audiences: Vec<String>,
}

fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<u64>, AuthError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(v) = n.as_u64() {
                Ok(Some(v))
            } else if let Some(f) = n.as_f64().filter(|f| f.is_finite() && *f >= 0.0) {
                Ok(Some(f.floor() as u64))
            } else {
                Err(AuthError::InvalidClaims)
            }
        }
        Some(_) => Err(AuthError::InvalidClaims),
    }
}

/// Checks `exp`, `nbf`, `iat`, `iss` and `aud` at time `now` (seconds);
/// returns `exp` when present.
pub fn check_claims(
    claims: &Map<String, Value>,
    rules: &ClaimRules,
    now: u64,
) -> Result<Option<u64>, AuthError> {
    let exp = numeric_date(claims, "exp")?;
    let nbf = numeric_date(claims, "nbf")?;
    let iat = numeric_date(claims, "iat")?;
    match exp {
        Some(exp) if now >= exp.saturating_add(rules.leeway) => {
            return Err(AuthError::TokenExpired)
        }
        None if rules.require_exp => return Err(AuthError::MissingExpiration),
        _ => {}
    }
    if nbf.is_some_and(|nbf| nbf > now.saturating_add(rules.leeway)) {
        return Err(AuthError::TokenNotYetValid);
    }
    if iat.is_some_and(|iat| iat > now.saturating_add(rules.leeway)) {
        return Err(AuthError::TokenIssuedInFuture);
    }
    if !rules.issuers.is_empty() {
        match claims.get("iss") {
            Some(Value::String(iss)) if rules.issuers.iter().any(|i| i == iss) => {}
            _ => return Err(AuthError::InvalidIssuer),
        }
    }
    if !rules.audiences.is_empty() {
        let accepted = |aud: &str| rules.audiences.iter().any(|a| a == aud);
        let ok = match claims.get("aud") {
            Some(Value::String(aud)) => accepted(aud),
            // An array of strings (RFC 7519 §4.1.3): one other element
            // makes the claim invalid, whatever the rest holds.
            Some(Value::Array(auds)) => {
                auds.iter().all(Value::is_string)
                    && auds.iter().any(|a| a.as_str().is_some_and(accepted))
            }
            _ => false,
        };
        if !ok {
            return Err(AuthError::InvalidAudience);
        }
    }
    Ok(exp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(value: &Value) -> String {
        URL_SAFE_NO_PAD.encode(value.to_string())
    }

    const ALL: [Algorithm; 3] = [Algorithm::RS256, Algorithm::ES256, Algorithm::HS256];

    #[test]
    fn strict_structure() {
        let header = b64(&json!({"alg": "RS256"}));
        let payload = b64(&json!({"sub": "1"}));
        assert!(parse(&format!("{header}.{payload}.c2ln"), 1000, &ALL).is_ok());
        for bad in [
            format!("{header}.{payload}"),
            format!("{header}.{payload}.c2ln.x"),
            format!("{header}.{payload}.c2ln=="),
            format!("{header}.{payload}.c2l+"),
            format!("{header}.!!!.c2ln"),
            format!("{}.{payload}.c2ln", b64(&json!(["RS256"]))),
            format!("{header}.{}.c2ln", b64(&json!("str"))),
            format!("{}.{payload}.c2ln", b64(&json!({"alg": 5}))),
            format!("{}.{payload}.c2ln", b64(&json!({"alg": "RS256", "kid": 5}))),
        ] {
            assert_eq!(
                parse(&bad, 1000, &ALL).unwrap_err(),
                AuthError::MalformedToken,
                "{bad}"
            );
        }
        // Duplicate member names, also spelled with an escape, in the
        // header or the claims; a repeated name in a nested object is kept.
        let raw = |json: &str| URL_SAFE_NO_PAD.encode(json);
        for (h, p) in [
            (r#"{"alg":"none","alg":"RS256"}"#, r#"{"sub":"1"}"#),
            (r#"{"alg":"RS256","alg":"RS256"}"#, r#"{"sub":"1"}"#),
            (r#"{"alg":"RS256","kid":"a","kid":"b"}"#, r#"{"sub":"1"}"#),
            (r#"{"alg":"RS256"}"#, r#"{"exp":1,"exp":99999999999}"#),
            (r#"{"alg":"RS256"}"#, r#"{"sub":"admin","sub":"1"}"#),
        ] {
            assert_eq!(
                parse(&format!("{}.{}.c2ln", raw(h), raw(p)), 1000, &ALL).unwrap_err(),
                AuthError::MalformedToken,
                "{h} {p}"
            );
        }
        let nested = raw(r#"{"sub":"1","x":{"a":1,"a":2}}"#);
        assert_eq!(
            parse(&format!("{header}.{nested}.c2ln"), 1000, &ALL)
                .unwrap()
                .claims["x"]["a"],
            2
        );
        assert_eq!(
            parse(&format!("{header}.{payload}."), 1000, &ALL).unwrap_err(),
            AuthError::InvalidSignature
        );
        assert_eq!(
            parse(&format!("{header}.{payload}.c2ln"), 10, &ALL).unwrap_err(),
            AuthError::TokenTooLarge
        );
    }

    #[test]
    fn header_checks() {
        let payload = b64(&json!({}));
        for alg in ["none", "None", "NONE", "nOnE"] {
            let token = format!("{}.{payload}.c2ln", b64(&json!({"alg": alg})));
            assert_eq!(
                parse(&token, 1000, &ALL).unwrap_err(),
                AuthError::AlgorithmNotAllowed
            );
        }
        let token = format!("{}.{payload}.c2ln", b64(&json!({"alg": "RS512"})));
        assert_eq!(
            parse(&token, 1000, &ALL).unwrap_err(),
            AuthError::AlgorithmNotAllowed
        );
        let token = format!("{}.{payload}.c2ln", b64(&json!({"alg": "XX1"})));
        assert_eq!(
            parse(&token, 1000, &ALL).unwrap_err(),
            AuthError::AlgorithmNotAllowed
        );
        let token = format!(
            "{}.{payload}.c2ln",
            b64(&json!({"alg": "RS256", "crit": ["exp"]}))
        );
        assert_eq!(
            parse(&token, 1000, &ALL).unwrap_err(),
            AuthError::UnsupportedCriticalHeader
        );
    }

    #[test]
    fn claim_rules() {
        let rules = ClaimRules {
            leeway: 60,
            require_exp: true,
            issuers: vec!["https://idp/".into()],
            audiences: vec!["api".into()],
        };
        let ok = |c: Value| check_claims(c.as_object().unwrap(), &rules, 1_000_000);
        let base = json!({"exp": 1_000_100, "iss": "https://idp/", "aud": "api"});
        assert_eq!(ok(base.clone()), Ok(Some(1_000_100)));
        let with = |k: &str, v: Value| {
            let mut c = base.clone();
            c[k] = v;
            ok(c)
        };
        assert_eq!(
            with("exp", json!(999_950)),
            Ok(Some(999_950)),
            "within leeway"
        );
        assert_eq!(with("exp", json!(999_900)), Err(AuthError::TokenExpired));
        assert_eq!(with("exp", json!("soon")), Err(AuthError::InvalidClaims));
        assert_eq!(
            with("nbf", json!(1_000_100)),
            Err(AuthError::TokenNotYetValid)
        );
        assert_eq!(with("nbf", json!(1_000_050)), Ok(Some(1_000_100)));
        assert_eq!(
            with("iat", json!(1_000_500)),
            Err(AuthError::TokenIssuedInFuture)
        );
        assert_eq!(
            with("iss", json!("https://evil/")),
            Err(AuthError::InvalidIssuer)
        );
        assert_eq!(with("aud", json!(["x", "api"])), Ok(Some(1_000_100)));
        assert_eq!(with("aud", json!(["x"])), Err(AuthError::InvalidAudience));
        assert_eq!(
            with("aud", json!([1, "api"])),
            Err(AuthError::InvalidAudience),
            "an array of strings only"
        );
        assert_eq!(with("aud", json!(["x", "api"])).map(|_| ()), Ok(()));
        let mut missing = base.clone();
        missing.as_object_mut().unwrap().remove("iss");
        assert_eq!(ok(missing), Err(AuthError::InvalidIssuer));
        let mut no_exp = base;
        no_exp.as_object_mut().unwrap().remove("exp");
        assert_eq!(ok(no_exp), Err(AuthError::MissingExpiration));
    }
}
