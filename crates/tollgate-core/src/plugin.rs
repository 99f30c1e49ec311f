//! The plugin interface: one trait with a no-op default per stage.
//!
//! A stage returns [`ControlFlow::Continue`] to go on or
//! [`ControlFlow::Break`] with a [`ClientError`] to end the request with that
//! error; nothing else can end a request. Plugins depend on this crate; the
//! core never imports a plugin.

use std::ops::ControlFlow;

use futures::future::BoxFuture;
use http::{HeaderMap, Method, Uri};

use crate::context::RequestContext;
use crate::error::ClientError;
use crate::persisted::PersistedOperation;
use crate::request::GraphqlRequest;
use crate::response::GraphqlResponse;
use crate::subgraph::{SubgraphRequest, SubgraphResponse};

/// What a stage decides.
pub type Flow = ControlFlow<ClientError>;

/// The client's HTTP request as the router stage sees it.
pub struct RouterRequest<'a> {
    /// Request method.
    pub method: &'a Method,
    /// Request URI.
    pub uri: &'a Uri,
    /// Request headers (read-only at this stage).
    pub headers: &'a HeaderMap,
    /// The request context, writable.
    pub context: &'a mut RequestContext,
}

/// The GraphQL request as the supergraph stage sees it: after every
/// plugin's router stage, before the document is parsed.
pub struct SupergraphRequest<'a> {
    /// Request method.
    pub method: &'a Method,
    /// Request URI.
    pub uri: &'a Uri,
    /// Request headers (read-only at this stage).
    pub headers: &'a HeaderMap,
    /// The GraphQL request (query, operation name, variables, extensions), writable.
    pub body: &'a mut GraphqlRequest,
    /// The request context, writable.
    pub context: &'a mut RequestContext,
}

/// The request once its document is final (after every plugin's
/// supergraph stage), before it is parsed.
pub struct OperationRequest<'a> {
    /// The operation of the persisted operations manifest the document is
    /// (sent by id or as the manifest's text, and not changed since), or
    /// `None` for any other document (APQ-registered ones included).
    pub persisted: Option<&'a PersistedOperation>,
    /// The client's `operationName`.
    pub operation_name: Option<&'a str>,
    /// The request context, writable.
    pub context: &'a mut RequestContext,
}

/// The request as the execution stage sees it: parsed, validated and
/// planned, variables coerced, just before the plan runs.
pub struct ExecutionRequest<'a> {
    /// Request method.
    pub method: &'a Method,
    /// Request URI.
    pub uri: &'a Uri,
    /// Request headers (read-only).
    pub headers: &'a HeaderMap,
    /// The GraphQL request (read-only: it has been planned).
    pub body: &'a GraphqlRequest,
    /// The request context, writable.
    pub context: &'a mut RequestContext,
}

/// The response as the supergraph response stage sees it, before it is
/// serialized for the client.
pub struct SupergraphResponse<'a> {
    /// HTTP status to answer with (200 unless a plugin changes it).
    pub status: &'a mut http::StatusCode,
    /// Extra response headers.
    pub headers: &'a mut HeaderMap,
    /// The GraphQL response.
    pub body: &'a mut GraphqlResponse,
    /// The request context, writable.
    pub context: &'a mut RequestContext,
}

/// A router plugin. Built once from its config and shared by all requests.
pub trait Plugin: Send + Sync + 'static {
    /// Short name for logs.
    fn name(&self) -> &'static str;

    /// Whether the plugin can serve traffic (`/ready`); `Err` says why not.
    fn ready(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(std::future::ready(Ok(())))
    }

    /// Runs once per client request, before the GraphQL document is parsed.
    fn router_request<'a>(&'a self, request: RouterRequest<'a>) -> BoxFuture<'a, Flow> {
        let _ = request;
        Box::pin(std::future::ready(ControlFlow::Continue(())))
    }

    /// Runs once per client request after every plugin's router stage,
    /// before parsing; may change the GraphQL request.
    fn supergraph_request(&self, request: SupergraphRequest<'_>) -> Flow {
        let _ = request;
        ControlFlow::Continue(())
    }

    /// Runs once per client request when the document is final, before it
    /// is parsed: whether it is a persisted operation is known here.
    fn operation_request(&self, request: OperationRequest<'_>) -> Flow {
        let _ = request;
        ControlFlow::Continue(())
    }

    /// Runs once per client request after planning, before execution.
    fn execution_request(&self, request: ExecutionRequest<'_>) -> Flow {
        let _ = request;
        ControlFlow::Continue(())
    }

    /// Runs once per client request after execution, before the response is
    /// serialized; may change status, headers and body.
    fn supergraph_response(&self, response: SupergraphResponse<'_>) -> Flow {
        let _ = response;
        ControlFlow::Continue(())
    }

    /// Runs on each subgraph's raw answer before the router reads it.
    fn subgraph_response(
        &self,
        context: &RequestContext,
        subgraph: &str,
        response: &mut SubgraphResponse,
    ) -> Flow {
        let _ = (context, subgraph, response);
        ControlFlow::Continue(())
    }

    /// Runs before each subgraph request is sent; may change it.
    fn subgraph_request(&self, context: &RequestContext, request: &mut SubgraphRequest) -> Flow {
        let _ = (context, request);
        ControlFlow::Continue(())
    }
}
