//! `tollgate dev` helpers: mint a sample token with the repository's DEV ONLY
//! key (`dev/dev-private-key.pem`, kid `tollgate-dev`) and print how to call
//! the demo.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use crate::config::Config;

/// Key id of the dev key in `dev/dev-jwks.json`.
pub const DEV_KID: &str = "tollgate-dev";

/// Why a dev token could not be minted.
#[derive(Debug, thiserror::Error)]
pub enum DevTokenError {
    /// The key file cannot be read.
    #[error("cannot read the dev key {path}: {source}")]
    Read {
        /// The path.
        path: String,
        /// I/O error.
        source: std::io::Error,
    },
    /// The key or token could not be used.
    #[error("cannot sign a dev token: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
}

/// Mints an RS256 token for user `sub`, valid for `ttl_secs`, whose `iss`
/// and `aud` satisfy the config's `jwt.issuers` / `jwt.audiences` when set.
pub fn mint_dev_token(
    key_path: &Path,
    config: &Config,
    sub: &str,
    ttl_secs: u64,
) -> Result<String, DevTokenError> {
    let pem = std::fs::read(key_path).map_err(|source| DevTokenError::Read {
        path: key_path.display().to_string(),
        source,
    })?;
    let key = EncodingKey::from_rsa_pem(&pem)?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut claims = json!({
        "sub": sub,
        "iat": now,
        "exp": now + ttl_secs,
        "scope": "read:reviews write:reviews",
    });
    if let Some(jwt) = &config.jwt {
        if let Some(issuer) = jwt.issuers.first() {
            claims["iss"] = json!(issuer);
        }
        if let Some(audience) = jwt.audiences.first() {
            claims["aud"] = json!(audience);
        }
    }
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(DEV_KID.to_owned());
    Ok(jsonwebtoken::encode(&header, &claims, &key)?)
}

/// The banner `tollgate dev` prints once everything listens.
pub fn banner(router_url: &str, demo_url: &str, token: Option<&str>) -> String {
    let mut out = format!(
        "\nTollgate dev is running.\n  GraphQL:  {router_url}\n  Subgraphs (in-process demo): {demo_url}/{{accounts,products,reviews,inventory}}\n"
    );
    match token {
        Some(token) => {
            out.push_str(&format!(
                "\nSample token (sub \"1\", 24h, signed with the DEV ONLY key in dev/):\n  {token}\n\nTry:\n  curl -s {router_url} -H 'content-type: application/json' \\\n    -H 'authorization: Bearer {token}' \\\n    -d '{{\"query\":\"{{ me {{ id name username }} }}\"}}'\n"
            ));
        }
        None => out.push_str(&format!(
            "\nTry:\n  curl -s {router_url} -H 'content-type: application/json' -d '{{\"query\":\"{{ topProducts {{ upc name price }} }}\"}}'\n"
        )),
    }
    out
}
