//! The boundary to subgraphs: the request the executor builds, the response
//! it gets back, and the [`SubgraphClient`] trait a transport implements
//! (`tollgate-subgraph` provides the pooled HTTP one; tests use fakes).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{HeaderMap, StatusCode};
use serde::Serialize;
use serde_json::{Map, Value};

/// The GraphQL request body sent to a subgraph.
#[derive(Debug, Clone, Serialize)]
pub struct SubgraphRequestBody {
    /// The subgraph operation text.
    pub query: Arc<str>,
    /// The operation name, when the operation has one.
    #[serde(rename = "operationName", skip_serializing_if = "Option::is_none")]
    pub operation_name: Option<Arc<str>>,
    /// Only the variables the operation uses.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub variables: Map<String, Value>,
    /// Request extensions (forwarded JWT claims go here).
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub extensions: Map<String, Value>,
}

/// One request to one subgraph.
#[derive(Debug, Clone)]
pub struct SubgraphRequest {
    /// The subgraph's name from the supergraph (`join__graph(name:)`).
    pub subgraph: Arc<str>,
    /// Where to send it.
    pub url: Arc<str>,
    /// How long to wait for the whole response.
    pub timeout: Duration,
    /// Largest response body to accept, in bytes.
    pub max_response_bytes: usize,
    /// Headers to send besides content negotiation.
    pub headers: HeaderMap,
    /// Whether an identical in-flight request may share this one's answer
    /// (queries on subgraphs with `deduplicate_requests`; never mutations).
    pub deduplicate: bool,
    /// The GraphQL body.
    pub body: SubgraphRequestBody,
}

/// A subgraph's raw HTTP answer.
#[derive(Debug, Clone)]
pub struct SubgraphResponse {
    /// HTTP status.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// Response body, already bounded in size by the client.
    pub body: Bytes,
}

/// Why a subgraph request produced no response. Messages are client-safe:
/// they never contain the subgraph URL or internal addresses.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SubgraphError {
    /// No answer within the subgraph's timeout.
    #[error("request timed out")]
    Timeout,
    /// The connection could not be made or broke.
    #[error("connection failed")]
    Connect,
    /// The response was larger than the allowed size.
    #[error("response body too large")]
    BodyTooLarge,
    /// Any other transport failure.
    #[error("transport error")]
    Transport,
}

/// Sends subgraph requests. Implementations are shared by all requests.
pub trait SubgraphClient: Send + Sync + 'static {
    /// Sends one request and returns the raw response.
    fn send(
        &self,
        request: SubgraphRequest,
    ) -> BoxFuture<'_, Result<SubgraphResponse, SubgraphError>>;

    /// Sends one request whose body a wrapper has already encoded: `body` is
    /// `request.body` as JSON. Transports that send JSON use it instead of
    /// encoding the body again; the default ignores it.
    fn send_encoded(
        &self,
        request: SubgraphRequest,
        body: Bytes,
    ) -> BoxFuture<'_, Result<SubgraphResponse, SubgraphError>> {
        let _ = body;
        self.send(request)
    }
}
