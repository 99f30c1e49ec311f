//! The router plugin: the JWT checkpoint at the router stage (find and verify
//! the token, store the claims in the request context, or end the request
//! with `UNAUTHENTICATED`) and claim forwarding at the subgraph stage.

use std::ops::ControlFlow;

use futures::future::BoxFuture;
use serde_json::Value;
use tollgate_core::plugin::{Flow, Plugin, RouterRequest};
use tollgate_core::subgraph::SubgraphRequest;
use tollgate_core::{ClientError, RequestContext};
use tracing::Instrument;

use crate::{JwtAuthenticator, APOLLO_CLAIMS_CONTEXT_KEY, CLAIMS_CONTEXT_KEY};

/// The JWT authentication plugin.
pub struct JwtPlugin {
    authenticator: JwtAuthenticator,
}

impl JwtPlugin {
    /// Wraps a built authenticator.
    pub fn new(authenticator: JwtAuthenticator) -> Self {
        Self { authenticator }
    }
}

impl Plugin for JwtPlugin {
    fn name(&self) -> &'static str {
        "jwt"
    }

    fn ready(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(self.authenticator.ready())
    }

    fn router_request<'a>(&'a self, request: RouterRequest<'a>) -> BoxFuture<'a, Flow> {
        let span = tracing::info_span!(
            "authentication plugin",
            outcome = tracing::field::Empty,
            reason = tracing::field::Empty,
            lookup_source = tracing::field::Empty,
        );
        Box::pin(
            async move {
                let span = tracing::Span::current();
                match self.authenticator.authenticate(request.headers).await {
                    Ok(None) => {
                        span.record("outcome", "anonymous");
                        ControlFlow::Continue(())
                    }
                    Ok(Some(token)) => {
                        span.record("outcome", "verified");
                        span.record("lookup_source", tracing::field::display(&token.source));
                        request
                            .context
                            .insert_shared(CLAIMS_CONTEXT_KEY, token.claims);
                        request
                            .context
                            .alias(APOLLO_CLAIMS_CONTEXT_KEY, CLAIMS_CONTEXT_KEY);
                        ControlFlow::Continue(())
                    }
                    Err(error) => {
                        span.record("outcome", "rejected");
                        span.record("reason", error.reason());
                        ControlFlow::Break(ClientError::Unauthenticated {
                            reason: error.reason(),
                            message: error.message().to_owned(),
                            www_authenticate: error.www_authenticate(),
                        })
                    }
                }
            }
            .instrument(span),
        )
    }

    fn subgraph_request(&self, context: &RequestContext, request: &mut SubgraphRequest) -> Flow {
        // Forward what the router stage verified; scripts may have changed
        // the claims in the context since, and that is what is sent.
        if let Some(Value::Object(claims)) = context.get(CLAIMS_CONTEXT_KEY) {
            if let Some((field, forwarded)) = self.authenticator.forwarded_claims(claims) {
                request.body.extensions.insert(field.to_owned(), forwarded);
            }
        }
        ControlFlow::Continue(())
    }
}
