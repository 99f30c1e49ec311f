//! The `jwt:` section of `router.yaml`, in the shape users copy from other
//! routers. Every struct denies unknown fields; the leeway is a validated
//! newtype that cannot exceed five minutes.

use std::path::PathBuf;
use std::time::Duration;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};

/// `jwt:` JWT authentication.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// Refuse requests without a valid token (HTTP 401). Default false: a request without any
    /// token is anonymous. A present but invalid token is refused either way.
    #[serde(default)]
    pub require_authentication: bool,
    /// Where verification keys (JWKS) come from. Keys of every provider are used together.
    #[serde(default)]
    pub jwks_providers: Vec<JwksProviderConfig>,
    /// Where to look for the token, in order; the first location holding one is used.
    /// Default: the `authorization` header with the prefix `Bearer `.
    #[serde(default = "default_lookup_locations")]
    pub lookup_locations: Vec<LookupLocation>,
    /// Accepted audiences: the token's `aud` must contain one. Empty: `aud` is not checked.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Accepted issuers: the token's `iss` must be one. Empty: `iss` is not checked.
    #[serde(default)]
    pub issuers: Vec<String>,
    /// Accepted `alg` values. Default: every asymmetric algorithm, plus HS256/384/512 only when
    /// a configured key set holds an `oct` key.
    #[serde(default)]
    pub allowed_algorithms: Option<Vec<AlgorithmName>>,
    /// Clock skew tolerated for `exp`, `nbf` and `iat`, e.g. "60s"; at most 5m.
    #[serde(default)]
    pub leeway: Leeway,
    /// Require an `exp` claim.
    #[serde(default = "default_true")]
    pub require_exp: bool,
    /// Claim holding the caller's scopes for `@requiresScopes` (a
    /// space-delimited string or an array); default `scope`, then `scopes`.
    #[serde(default)]
    pub scopes_claim: Option<String>,
    /// Largest accepted token, in bytes; larger tokens are refused before decoding.
    #[serde(default = "default_max_token_bytes")]
    pub max_token_bytes: usize,
    /// After a token names an unknown `kid`, remote key sets are refetched at most once per
    /// this period, so tokens with random `kid`s cannot make the router hammer the IdP.
    #[serde(default = "default_cooldown", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub unknown_kid_cooldown: Duration,
    /// Cache of successful verifications.
    #[serde(default)]
    pub verification_cache: VerificationCacheConfig,
    /// Forward verified claims to subgraphs in the GraphQL request's `extensions`.
    #[serde(default)]
    pub forward_claims_to_upstream_extensions: ForwardClaimsConfig,
    /// Consumer credentials managed by the gateway (`tollgate consumers`).
    #[serde(default)]
    pub consumers: Option<crate::consumers::ConsumersConfig>,
}

/// One source of verification keys.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(tag = "source", rename_all = "lowercase", deny_unknown_fields)]
pub enum JwksProviderConfig {
    /// A JWKS fetched over HTTP(S) from your identity provider.
    Remote {
        /// The JWKS URL.
        url: String,
        /// How often the key set is refreshed in the background, e.g. "10m".
        #[serde(default = "default_polling_interval", with = "humantime_serde")]
        #[schemars(with = "String")]
        polling_interval: Duration,
        /// Fetch at start-up instead of on first use.
        #[serde(default)]
        prefetch: bool,
        /// Extra headers sent with the JWKS request (use `${env.NAME}` for secrets).
        #[serde(default)]
        headers: IndexMap<String, String>,
    },
    /// The keys of an OpenID Connect issuer, found through its discovery
    /// document `{issuer}/.well-known/openid-configuration`, whose `issuer`
    /// must equal this one exactly; its `jwks_uri` is then used like a remote
    /// provider. A token's `iss` selects the provider: only configured
    /// issuers are ever contacted.
    Oidc {
        /// The issuer URL, exactly as the IdP's tokens carry it in `iss`.
        issuer: String,
        /// How often the key set is refreshed in the background, e.g. "10m".
        #[serde(default = "default_polling_interval", with = "humantime_serde")]
        #[schemars(with = "String")]
        polling_interval: Duration,
        /// Discover and fetch at start-up instead of on first use.
        #[serde(default)]
        prefetch: bool,
        /// Extra headers sent with the discovery and JWKS requests.
        #[serde(default)]
        headers: IndexMap<String, String>,
    },
    /// A JWKS file, relative to the config file's directory; reloaded when it changes.
    File {
        /// Path of the JWKS file.
        path: PathBuf,
    },
}

/// Where a token may be found.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(tag = "source", rename_all = "lowercase", deny_unknown_fields)]
pub enum LookupLocation {
    /// A request header (name case-insensitive).
    Header {
        /// Header name.
        name: String,
        /// Required prefix before the token, e.g. "Bearer "; compared exactly.
        #[serde(default)]
        prefix: Option<String>,
    },
    /// A cookie, parsed from every `Cookie` header.
    Cookies {
        /// Cookie name.
        name: String,
    },
}

/// `verification_cache:` cache of successful verifications.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerificationCacheConfig {
    /// Cache verified tokens (keyed by a SHA-256 of the token; from a token's
    /// second verification on; never past `exp` or a key change).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Most tokens kept.
    #[serde(default = "default_cache_entries")]
    pub max_entries: usize,
}

impl Default for VerificationCacheConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_entries: default_cache_entries(),
        }
    }
}

/// `forward_claims_to_upstream_extensions:`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ForwardClaimsConfig {
    /// Send the claims to subgraphs.
    #[serde(default)]
    pub enabled: bool,
    /// The `extensions` key the claims go under.
    #[serde(default = "default_field_name")]
    pub field_name: String,
    /// Forward only these top-level claims; absent: all claims.
    #[serde(default)]
    pub include_claims: Option<Vec<String>>,
}

impl Default for ForwardClaimsConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            field_name: default_field_name(),
            include_claims: None,
        }
    }
}

/// A JWS algorithm name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, JsonSchema)]
#[allow(clippy::upper_case_acronyms)]
pub enum AlgorithmName {
    /// HMAC SHA-256.
    HS256,
    /// HMAC SHA-384.
    HS384,
    /// HMAC SHA-512.
    HS512,
    /// RSASSA-PKCS1-v1_5 SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 SHA-512.
    RS512,
    /// RSASSA-PSS SHA-256.
    PS256,
    /// RSASSA-PSS SHA-384.
    PS384,
    /// RSASSA-PSS SHA-512.
    PS512,
    /// ECDSA P-256 SHA-256.
    ES256,
    /// ECDSA P-384 SHA-384.
    ES384,
    /// Ed25519.
    EdDSA,
}

impl AlgorithmName {
    /// The jsonwebtoken algorithm.
    pub fn algorithm(self) -> jsonwebtoken::Algorithm {
        use jsonwebtoken::Algorithm as A;
        match self {
            Self::HS256 => A::HS256,
            Self::HS384 => A::HS384,
            Self::HS512 => A::HS512,
            Self::RS256 => A::RS256,
            Self::RS384 => A::RS384,
            Self::RS512 => A::RS512,
            Self::PS256 => A::PS256,
            Self::PS384 => A::PS384,
            Self::PS512 => A::PS512,
            Self::ES256 => A::ES256,
            Self::ES384 => A::ES384,
            Self::EdDSA => A::EdDSA,
        }
    }
}

/// Largest leeway accepted.
pub const MAX_LEEWAY: Duration = Duration::from_secs(300);

/// Clock skew tolerance, at most [`MAX_LEEWAY`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, JsonSchema)]
#[schemars(with = "String")]
pub struct Leeway(Duration);

impl Leeway {
    /// A leeway, refused when over five minutes.
    pub fn new(duration: Duration) -> Result<Self, String> {
        if duration > MAX_LEEWAY {
            Err(format!(
                "leeway {} is over the maximum of 5m",
                humantime::format_duration(duration)
            ))
        } else {
            Ok(Self(duration))
        }
    }

    /// Whole seconds.
    pub fn secs(self) -> u64 {
        self.0.as_secs()
    }
}

impl Default for Leeway {
    fn default() -> Self {
        Self(Duration::from_secs(60))
    }
}

impl<'de> Deserialize<'de> for Leeway {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let duration = humantime_serde::deserialize(deserializer)?;
        Leeway::new(duration).map_err(serde::de::Error::custom)
    }
}

fn default_true() -> bool {
    true
}
fn default_lookup_locations() -> Vec<LookupLocation> {
    vec![LookupLocation::Header {
        name: "authorization".to_owned(),
        prefix: Some("Bearer ".to_owned()),
    }]
}
fn default_max_token_bytes() -> usize {
    16 * 1024
}
fn default_cooldown() -> Duration {
    Duration::from_secs(15)
}
fn default_polling_interval() -> Duration {
    Duration::from_secs(600)
}
fn default_cache_entries() -> usize {
    10_000
}
fn default_field_name() -> String {
    "jwt".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<JwtConfig, String> {
        serde_yaml::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults() {
        let config = parse("{}").unwrap();
        assert!(!config.require_authentication);
        assert_eq!(config.lookup_locations, default_lookup_locations());
        assert_eq!(config.leeway.secs(), 60);
        assert!(config.require_exp);
        assert_eq!(config.max_token_bytes, 16384);
        assert_eq!(config.unknown_kid_cooldown, Duration::from_secs(15));
        assert!(config.verification_cache.enabled);
        assert!(!config.forward_claims_to_upstream_extensions.enabled);
        assert_eq!(
            config.forward_claims_to_upstream_extensions.field_name,
            "jwt"
        );
    }

    #[test]
    fn providers_and_locations() {
        let config = parse(
            r#"
jwks_providers:
  - source: remote
    url: https://idp.example.com/jwks.json
    polling_interval: 15m
    prefetch: true
    headers: { x-api-key: k }
  - source: file
    path: ./dev-jwks.json
lookup_locations:
  - { source: header, name: authorization, prefix: "Bearer " }
  - { source: cookies, name: auth_token }
  - { source: header, name: x-api-token }
allowed_algorithms: [RS256, ES256, EdDSA]
leeway: 5m
"#,
        )
        .unwrap();
        match &config.jwks_providers[0] {
            JwksProviderConfig::Remote {
                polling_interval,
                prefetch,
                headers,
                ..
            } => {
                assert_eq!(*polling_interval, Duration::from_secs(900));
                assert!(*prefetch);
                assert_eq!(headers["x-api-key"], "k");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            config.lookup_locations[2],
            LookupLocation::Header {
                name: "x-api-token".into(),
                prefix: None
            }
        );
        assert_eq!(config.allowed_algorithms.unwrap().len(), 3);
    }

    #[test]
    fn rejections_are_explicit() {
        assert!(parse("leeway: 6m")
            .unwrap_err()
            .contains("over the maximum of 5m"));
        let err = parse("jwks_providers: [{ source: s3, url: x }]").unwrap_err();
        assert!(
            err.contains("unknown variant `s3`, expected one of `remote`, `oidc`, `file`"),
            "{err}"
        );
        let err = parse("jwks_providers: [{ source: file, path: x, extra: 1 }]").unwrap_err();
        assert!(err.contains("unknown field `extra`"), "{err}");
        let err = parse("allowed_algorithms: [none]").unwrap_err();
        assert!(err.contains("unknown variant `none`"), "{err}");
        let err = parse("verification_cache: { size: 1 }").unwrap_err();
        assert!(err.contains("unknown field `size`"), "{err}");
    }
}
