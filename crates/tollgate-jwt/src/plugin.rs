//! The router plugin: the JWT checkpoint at the router stage (find and verify
//! the token, store the claims in the request context, or end the request
//! with `UNAUTHENTICATED`) and claim forwarding at the subgraph stage.

use std::ops::ControlFlow;

use futures::future::BoxFuture;
use serde_json::Value;
use std::collections::HashSet;

use tollgate_core::plugin::{Flow, OperationRequest, Plugin, RouterRequest};
use tollgate_core::subgraph::SubgraphRequest;
use tollgate_core::{ClientError, RequestContext};
use tracing::Instrument;

use crate::{AuthError, JwtAuthenticator, APOLLO_CLAIMS_CONTEXT_KEY, CLAIMS_CONTEXT_KEY};

fn refusal(error: &AuthError) -> ClientError {
    ClientError::Unauthenticated {
        reason: error.reason(),
        message: error.message().to_owned(),
        www_authenticate: error.www_authenticate(),
    }
}

/// The JWT authentication plugin.
pub struct JwtPlugin {
    authenticator: JwtAuthenticator,
    /// Names of persisted operations that may run without a token while
    /// authentication is required.
    anonymous_operations: HashSet<String>,
}

/// Marks a request that came without a token while authentication is
/// required: it may only run an allow-listed persisted operation.
#[derive(Clone, Copy)]
struct AnonymousRestricted;

impl JwtPlugin {
    /// Wraps a built authenticator.
    pub fn new(authenticator: JwtAuthenticator) -> Self {
        Self {
            authenticator,
            anonymous_operations: HashSet::new(),
        }
    }

    /// Lets requests without a token run these persisted operations (by
    /// manifest name) even though authentication is required. A present
    /// but invalid token is still refused.
    pub fn with_anonymous_operations(mut self, names: impl IntoIterator<Item = String>) -> Self {
        self.anonymous_operations = names.into_iter().collect();
        self
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
                let result = if self.anonymous_operations.is_empty() {
                    self.authenticator.authenticate(request.headers).await
                } else {
                    self.authenticator
                        .authenticate_present(request.headers)
                        .await
                };
                match result {
                    Ok(None) if self.authenticator.require_authentication() => {
                        // Decided once the operation is known (operation stage).
                        span.record("outcome", "anonymous_restricted");
                        request.context.extensions_mut().insert(AnonymousRestricted);
                        ControlFlow::Continue(())
                    }
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
                        if let Some(consumer) = &token.consumer {
                            request.context.insert(
                                tollgate_core::context::CONSUMER_KEY,
                                consumer.context_value(),
                            );
                        }
                        ControlFlow::Continue(())
                    }
                    Err(error) => {
                        span.record("outcome", "rejected");
                        span.record("reason", error.reason());
                        ControlFlow::Break(refusal(&error))
                    }
                }
            }
            .instrument(span),
        )
    }

    fn operation_request(&self, request: OperationRequest<'_>) -> Flow {
        if request
            .context
            .extensions()
            .get::<AnonymousRestricted>()
            .is_none()
        {
            return ControlFlow::Continue(());
        }
        let allowed = request
            .persisted
            .and_then(|operation| operation.name.as_deref())
            .filter(|name| self.anonymous_operations.contains(*name))
            .is_some_and(|name| request.operation_name.is_none_or(|asked| asked == name));
        if allowed {
            tracing::debug!(
                operation = request.operation_name,
                "anonymous request runs an allow-listed persisted operation"
            );
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(refusal(&self.authenticator.refuse_missing_token()))
        }
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
