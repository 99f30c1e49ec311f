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
    /// A signing thread panicked.
    #[error("cannot sign dev tokens: a signing thread failed")]
    Worker,
}

/// Mints an RS256 token for user `sub`, valid for `ttl_secs`, whose `iss`
/// and `aud` satisfy the config's `jwt.issuers` / `jwt.audiences` when set.
pub fn mint_dev_token(
    key_path: &Path,
    config: &Config,
    sub: &str,
    ttl_secs: u64,
) -> Result<String, DevTokenError> {
    DevSigner::new(key_path, config, sub, ttl_secs)?.sign(None)
}

/// Mints `count` tokens like [`mint_dev_token`], each with its own `jti`
/// (`bench-0`, `bench-1`, ...), so every one is a distinct token: the
/// benchmarks use them to defeat the verification cache.
pub fn mint_dev_tokens(
    key_path: &Path,
    config: &Config,
    sub: &str,
    ttl_secs: u64,
    count: usize,
) -> Result<Vec<String>, DevTokenError> {
    let signer = DevSigner::new(key_path, config, sub, ttl_secs)?;
    // RSA signing takes milliseconds: sign on every core, in order.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = count.div_ceil(threads).max(1);
    let chunks: Vec<Result<Vec<String>, DevTokenError>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..count)
            .step_by(chunk)
            .map(|start| {
                let signer = &signer;
                scope.spawn(move || {
                    (start..(start + chunk).min(count))
                        .map(|index| signer.sign(Some(&format!("bench-{index}"))))
                        .collect()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().unwrap_or(Err(DevTokenError::Worker)))
            .collect()
    });
    let mut tokens = Vec::with_capacity(count);
    for chunk in chunks {
        tokens.extend(chunk?);
    }
    Ok(tokens)
}

/// The dev key and the claims every token of one batch shares.
struct DevSigner {
    key: EncodingKey,
    header: Header,
    claims: serde_json::Value,
}

impl DevSigner {
    fn new(
        key_path: &Path,
        config: &Config,
        sub: &str,
        ttl_secs: u64,
    ) -> Result<Self, DevTokenError> {
        tollgate_jwt::crypto::install();
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
        Ok(Self {
            key,
            header,
            claims,
        })
    }

    fn sign(&self, jti: Option<&str>) -> Result<String, DevTokenError> {
        match jti {
            None => Ok(jsonwebtoken::encode(&self.header, &self.claims, &self.key)?),
            Some(jti) => {
                let mut claims = self.claims.clone();
                claims["jti"] = json!(jti);
                Ok(jsonwebtoken::encode(&self.header, &claims, &self.key)?)
            }
        }
    }
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
