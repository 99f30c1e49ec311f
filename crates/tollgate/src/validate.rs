//! `tollgate config validate`: checks the config and every file it
//! references (supergraph, JWKS files and their keys against the allowed
//! algorithms, issuer keys, Rhai scripts, header rules, subgraph names and
//! URLs) by building them as the router does at start, but without binding
//! a port, starting background work or, unless asked, contacting remote
//! JWKS providers. Every problem found is reported, each naming its key.

use std::sync::Arc;

use tollgate_jwt::JwtAuthenticator;

use crate::config::LoadedConfig;
use crate::server::{self, Parts};

/// Every problem of the config's referenced files; empty when it would
/// start. With `fetch_jwks`, remote JWKS providers are fetched once too.
pub async fn check(loaded: &LoadedConfig, fetch_jwks: bool) -> Vec<String> {
    let mut errors = Vec::new();
    let supergraph = match server::load_supergraph(loaded) {
        Ok(supergraph) => Some(Arc::new(supergraph)),
        Err(error) => {
            errors.push(error.to_string());
            None
        }
    };
    let jwt = match &loaded.config.jwt {
        None => Some(None),
        Some(jwt_config) => match JwtAuthenticator::build(jwt_config.clone(), &loaded.base_dir) {
            Ok(authenticator) => Some(Some(authenticator)),
            Err(error) => {
                errors.push(error.to_string());
                None
            }
        },
    };
    let issuer = match server::load_issuer(loaded) {
        Ok(issuer) => Some(issuer),
        Err(error) => {
            errors.push(error.to_string());
            None
        }
    };
    if let Some(otlp) = &loaded.config.telemetry.tracing.otlp {
        if let Err(error) = tollgate_telemetry::otel::validate(otlp) {
            errors.push(error.to_string());
        }
    }
    if let (Some(supergraph), Some(jwt), Some(issuer)) = (supergraph, &jwt, issuer) {
        let built = server::subgraph_client().and_then(|client| {
            let parts = Parts {
                client,
                jwt: jwt.clone(),
                issuer,
            };
            server::build_runtime(loaded, supergraph, &parts)
        });
        if let Err(error) = built {
            errors.push(error.to_string());
        }
    }
    if let (true, Some(Some(jwt))) = (fetch_jwks, &jwt) {
        errors.extend(jwt.check_remote().await);
    }
    errors
}
