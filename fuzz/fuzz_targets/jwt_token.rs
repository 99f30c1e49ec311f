//! The JWT path: the first byte picks what the rest is. 0: a JWKS document
//! (as a remote IdP might serve it). 1: a raw compact token for the strict
//! parser (all algorithms allowed). Otherwise: an `Authorization` header
//! value given to the real authenticator (token lookup, parsing, key
//! selection, signature and claim checks) with the repository's DEV ONLY
//! key set.
#![no_main]

use std::sync::LazyLock;

use jsonwebtoken::Algorithm;
use libfuzzer_sys::fuzz_target;
use tollgate_jwt::jwks::KeySet;
use tollgate_jwt::{JwtAuthenticator, JwtConfig};

const ALL: [Algorithm; 12] = [
    Algorithm::HS256,
    Algorithm::HS384,
    Algorithm::HS512,
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

static ASYNC: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
});

static AUTH: LazyLock<JwtAuthenticator> = LazyLock::new(|| {
    let dev = concat!(env!("CARGO_MANIFEST_DIR"), "/../dev");
    let config: JwtConfig = serde_json::from_value(serde_json::json!({
        "jwks_providers": [{"source": "file", "path": "dev-jwks.json"}],
        "verification_cache": {"enabled": false}
    }))
    .expect("the fuzz JWT config parses");
    ASYNC
        .block_on(JwtAuthenticator::new(config, std::path::Path::new(dev)))
        .expect("the authenticator builds")
});

fuzz_target!(|data: &[u8]| {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    match kind {
        0 => {
            let _ = KeySet::parse(rest);
        }
        1 => {
            if let Ok(token) = std::str::from_utf8(rest) {
                let _ = tollgate_jwt::token::parse(token, 16 * 1024, &ALL);
            }
        }
        _ => {
            let Ok(value) = http::HeaderValue::from_bytes(rest) else {
                return;
            };
            let mut headers = http::HeaderMap::new();
            headers.insert(http::header::AUTHORIZATION, value);
            let _ = ASYNC.block_on(AUTH.authenticate(&headers));
        }
    }
});
