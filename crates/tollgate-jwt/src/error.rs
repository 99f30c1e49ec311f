//! Why a token was refused ([`AuthError`], each with a stable reason code and
//! a client-safe message that never echoes the token or key material) and
//! why the authenticator could not be built ([`JwtSetupError`]).

/// A refused credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No token was found and authentication is required.
    #[error("authentication is required")]
    MissingToken,
    /// The token is not a well-formed compact JWS, or the credential is ambiguous.
    #[error("the token is malformed")]
    MalformedToken,
    /// The token is larger than `max_token_bytes`.
    #[error("the token is too large")]
    TokenTooLarge,
    /// `alg` is `none`, unknown, not allowed, or does not fit the key.
    #[error("the token's algorithm is not allowed")]
    AlgorithmNotAllowed,
    /// The JOSE header has a `crit` member.
    #[error("the token has an unsupported critical header")]
    UnsupportedCriticalHeader,
    /// No configured key matches the token.
    #[error("no key matches the token")]
    UnknownKey,
    /// The signature does not verify.
    #[error("the token's signature is invalid")]
    InvalidSignature,
    /// `exp` is in the past (beyond leeway).
    #[error("the token has expired")]
    TokenExpired,
    /// `nbf` is in the future (beyond leeway).
    #[error("the token is not valid yet")]
    TokenNotYetValid,
    /// `iat` is in the future (beyond leeway).
    #[error("the token was issued in the future")]
    TokenIssuedInFuture,
    /// No `exp` while `require_exp` is on.
    #[error("the token has no expiration")]
    MissingExpiration,
    /// `iss` is missing or not accepted.
    #[error("the token's issuer is not accepted")]
    InvalidIssuer,
    /// `aud` is missing or holds no accepted audience.
    #[error("the token's audience is not accepted")]
    InvalidAudience,
    /// A registered claim has the wrong type.
    #[error("the token's claims are invalid")]
    InvalidClaims,
    /// No key set could be loaded to verify the token.
    #[error("verification keys are unavailable")]
    KeysUnavailable,
    /// `sub` is not the key id of a consumer credential, which is required.
    #[error("the token's consumer is not known")]
    UnknownConsumer,
    /// `sub` is the key id of a revoked consumer credential.
    #[error("the token's consumer credential is revoked")]
    ConsumerRevoked,
}

impl AuthError {
    /// Stable SCREAMING_SNAKE reason, sent as `extensions.reason`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::MissingToken => "MISSING_TOKEN",
            Self::MalformedToken => "MALFORMED_TOKEN",
            Self::TokenTooLarge => "TOKEN_TOO_LARGE",
            Self::AlgorithmNotAllowed => "ALGORITHM_NOT_ALLOWED",
            Self::UnsupportedCriticalHeader => "UNSUPPORTED_CRITICAL_HEADER",
            Self::UnknownKey => "UNKNOWN_KEY",
            Self::InvalidSignature => "INVALID_SIGNATURE",
            Self::TokenExpired => "TOKEN_EXPIRED",
            Self::TokenNotYetValid => "TOKEN_NOT_YET_VALID",
            Self::TokenIssuedInFuture => "TOKEN_ISSUED_IN_FUTURE",
            Self::MissingExpiration => "MISSING_EXPIRATION",
            Self::InvalidIssuer => "INVALID_ISSUER",
            Self::InvalidAudience => "INVALID_AUDIENCE",
            Self::InvalidClaims => "INVALID_CLAIMS",
            Self::KeysUnavailable => "KEYS_UNAVAILABLE",
            Self::UnknownConsumer => "UNKNOWN_CONSUMER",
            Self::ConsumerRevoked => "CONSUMER_REVOKED",
        }
    }

    /// Client-safe message.
    pub fn message(&self) -> &'static str {
        match self {
            Self::MissingToken => "authentication is required",
            Self::MalformedToken => "the token is malformed",
            Self::TokenTooLarge => "the token is too large",
            Self::AlgorithmNotAllowed => "the token's algorithm is not allowed",
            Self::UnsupportedCriticalHeader => "the token has an unsupported critical header",
            Self::UnknownKey => "no key matches the token",
            Self::InvalidSignature => "the token's signature is invalid",
            Self::TokenExpired => "the token has expired",
            Self::TokenNotYetValid => "the token is not valid yet",
            Self::TokenIssuedInFuture => "the token was issued in the future",
            Self::MissingExpiration => "the token has no expiration",
            Self::InvalidIssuer => "the token's issuer is not accepted",
            Self::InvalidAudience => "the token's audience is not accepted",
            Self::InvalidClaims => "the token's claims are invalid",
            Self::KeysUnavailable => "verification keys are unavailable",
            Self::UnknownConsumer => "the token's consumer is not known",
            Self::ConsumerRevoked => "the token's consumer credential is revoked",
        }
    }

    /// `WWW-Authenticate` value (RFC 6750 §3): no error code when no credential was sent.
    pub fn www_authenticate(&self) -> &'static str {
        match self {
            Self::MissingToken => "Bearer",
            _ => "Bearer error=\"invalid_token\"",
        }
    }

    /// Every variant, for documentation checks.
    pub const ALL: [AuthError; 17] = [
        Self::MissingToken,
        Self::MalformedToken,
        Self::TokenTooLarge,
        Self::AlgorithmNotAllowed,
        Self::UnsupportedCriticalHeader,
        Self::UnknownKey,
        Self::InvalidSignature,
        Self::TokenExpired,
        Self::TokenNotYetValid,
        Self::TokenIssuedInFuture,
        Self::MissingExpiration,
        Self::InvalidIssuer,
        Self::InvalidAudience,
        Self::InvalidClaims,
        Self::KeysUnavailable,
        Self::UnknownConsumer,
        Self::ConsumerRevoked,
    ];
}

/// Why the JWT authenticator could not be built. Messages name the config key.
#[derive(Debug, thiserror::Error)]
pub enum JwtSetupError {
    /// A JWKS file cannot be read.
    #[error("jwt.jwks_providers[{index}].path: cannot read {path}: {reason}")]
    ReadFile {
        /// Provider index.
        index: usize,
        /// Resolved path.
        path: String,
        /// I/O error.
        reason: String,
    },
    /// A JWKS file is not a usable key set.
    #[error("jwt.jwks_providers[{index}].path: {path} is not a usable JWKS: {reason}")]
    BadJwks {
        /// Provider index.
        index: usize,
        /// Resolved path.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A remote provider's URL or headers are unusable.
    #[error("jwt.jwks_providers[{index}].{key}: {reason}")]
    BadRemote {
        /// Provider index.
        index: usize,
        /// The key (`url` or `headers`).
        key: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A lookup location's header name is not a header name.
    #[error("jwt.lookup_locations[{index}].name: {reason}")]
    BadLocation {
        /// Location index.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// The consumer store cannot be used.
    #[error(transparent)]
    Consumers(#[from] crate::consumers::ConsumerError),
    /// Some other option is unusable.
    #[error("jwt.{key}: {reason}")]
    Invalid {
        /// The key.
        key: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The HTTP client for JWKS fetches could not be built.
    #[error("jwt: cannot build the JWKS HTTP client: {0}")]
    Client(String),
}
