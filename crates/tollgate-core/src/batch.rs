//! Query batching: the router stage (the JWT checkpoint, router-stage
//! scripts) runs once for the HTTP request, before the body is read; then
//! each request of the JSON array runs through the rest of the pipeline on
//! its own (scripts, limits, planning, execution) in a fork of that
//! context, all of them concurrently, and the answers come back as a JSON
//! array in the batch's order. An item that fails (malformed, refused, over
//! a limit) is answered with its error in its place; the others still run.

use http::HeaderMap;

use crate::context::RequestContext;
use crate::error::ClientError;
use crate::pipeline::{self, RequestParts};
use crate::request::GraphqlRequest;
use crate::response::GraphqlResponse;
use crate::runtime::Runtime;

/// Runs every item; returns the answers in order and the headers plugins
/// set on any of them.
pub(crate) async fn run(
    runtime: &Runtime,
    parts: &RequestParts<'_>,
    items: Vec<Result<GraphqlRequest, ClientError>>,
    context: &RequestContext,
) -> (Vec<GraphqlResponse>, HeaderMap) {
    let answers = futures::future::join_all(items.into_iter().map(|item| async move {
        let request = item?;
        let parts = RequestParts {
            method: parts.method,
            uri: parts.uri,
            headers: parts.headers,
        };
        pipeline::run_after_router_stage(runtime, parts, request, context.fork()).await
    }))
    .await;
    let mut headers = HeaderMap::new();
    let responses = answers
        .into_iter()
        .map(|answer| match answer {
            Ok(response) => {
                for (name, value) in &response.headers {
                    headers.append(name, value.clone());
                }
                response.body
            }
            Err(error) => error.to_graphql_response(),
        })
        .collect();
    (responses, headers)
}
