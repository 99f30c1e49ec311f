//! Upstream authentication: for subgraphs with `auth.mint`, the router signs
//! a short-lived token per subgraph request with its issuer key and sends it
//! as `Authorization: Bearer ...`. The subject is the client's verified
//! `sub`, or the router's own name for anonymous requests.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use tollgate_core::context::{RequestContext, JWT_CLAIMS_KEY};
use tollgate_core::error::ClientError;
use tollgate_core::plugin::{Flow, Plugin};
use tollgate_core::subgraph::SubgraphRequest;

use crate::issuer::{parse_span, Issuer};

/// Subject of tokens minted for anonymous requests.
pub const ROUTER_SUBJECT: &str = "tollgate";

/// What to mint for one subgraph.
#[derive(Debug, Clone)]
pub struct Mint {
    audience: Option<String>,
    claims: Vec<String>,
    expires_in: Option<Duration>,
}

impl Mint {
    /// Checks one subgraph's `auth.mint` settings.
    pub fn new(subgraph: &str, config: &tollgate_core::config::MintConfig) -> Result<Self, String> {
        let expires_in = match &config.expires_in {
            Some(text) => Some(
                parse_span(text)
                    .map_err(|e| format!("subgraphs.{subgraph}.auth.mint.expires_in: {e}"))?,
            ),
            None => None,
        };
        Ok(Self {
            audience: config.audience.clone(),
            claims: config.claims.clone(),
            expires_in,
        })
    }
}

/// The plugin minting upstream tokens.
pub struct MintPlugin {
    issuer: Arc<Issuer>,
    mints: HashMap<String, Mint>,
}

impl MintPlugin {
    /// A plugin signing with `issuer` for the subgraphs in `mints`.
    pub fn new(issuer: Arc<Issuer>, mints: HashMap<String, Mint>) -> Self {
        Self { issuer, mints }
    }

    /// The claims of the token for one request.
    fn claims(&self, mint: &Mint, context: &RequestContext) -> Map<String, Value> {
        let verified = context.get(JWT_CLAIMS_KEY).and_then(Value::as_object);
        let mut claims = Map::new();
        let sub = verified
            .and_then(|c| c.get("sub"))
            .cloned()
            .unwrap_or_else(|| Value::String(ROUTER_SUBJECT.to_owned()));
        claims.insert("sub".to_owned(), sub);
        if let Some(verified) = verified {
            for name in &mint.claims {
                if let Some(value) = verified.get(name) {
                    claims.insert(name.clone(), value.clone());
                }
            }
        }
        if let Some(audience) = &mint.audience {
            claims.insert("aud".to_owned(), Value::String(audience.clone()));
        }
        claims
    }
}

impl Plugin for MintPlugin {
    fn name(&self) -> &'static str {
        "mint"
    }

    fn subgraph_request(&self, context: &RequestContext, request: &mut SubgraphRequest) -> Flow {
        let Some(mint) = self.mints.get(&*request.subgraph) else {
            return ControlFlow::Continue(());
        };
        let claims = self.claims(mint, context);
        match self.issuer.sign(claims, mint.expires_in) {
            Ok(token) => match http::HeaderValue::from_str(&format!("Bearer {token}")) {
                Ok(value) => {
                    request.headers.insert(http::header::AUTHORIZATION, value);
                    ControlFlow::Continue(())
                }
                Err(_) => ControlFlow::Break(ClientError::Internal),
            },
            Err(error) => {
                tracing::error!(request_id = context.request_id(), subgraph = %request.subgraph, %error, "minting a subgraph token failed");
                ControlFlow::Break(ClientError::Internal)
            }
        }
    }
}
