//! Plan execution: runs the fetches of a [`QueryPlan`] through the
//! [`SubgraphClient`], answers introspection locally, and merges everything
//! into one GraphQL response. Subgraph failures become field errors with a
//! client-safe message; details go to the log.

use std::ops::ControlFlow;

use apollo_compiler::response::JsonMap;
use apollo_compiler::validation::Valid;
use serde_json::{Map, Value};

use crate::context::RequestContext;
use crate::error::{ClientError, InternalError};
use crate::pipeline::PreparedOperation;
use crate::planner::{FetchNode, PlanNode};
use crate::response::{GraphqlError, GraphqlResponse};
use crate::runtime::Runtime;
use crate::subgraph::{SubgraphRequest, SubgraphRequestBody};

/// Runs a prepared operation with coerced variables.
pub async fn execute(
    runtime: &Runtime,
    context: &RequestContext,
    prepared: &PreparedOperation,
    variables: &Valid<JsonMap>,
) -> Result<GraphqlResponse, ClientError> {
    let mut response = match &prepared.plan.node {
        Some(PlanNode::Fetch(fetch)) => fetch_node(runtime, context, fetch, variables).await?,
        None => GraphqlResponse {
            data: Some(Value::Object(Map::new())),
            ..GraphqlResponse::default()
        },
    };
    if prepared.plan.has_introspection {
        merge_introspection(runtime, prepared, variables, &mut response)?;
    }
    Ok(response)
}

fn merge_introspection(
    runtime: &Runtime,
    prepared: &PreparedOperation,
    variables: &Valid<JsonMap>,
    response: &mut GraphqlResponse,
) -> Result<(), ClientError> {
    let supergraph = runtime.supergraph();
    let operation = &prepared.operation;
    apollo_compiler::introspection::check_max_depth(&prepared.document, operation).map_err(
        |e| {
            ClientError::ValidationFailed(vec![GraphqlError::new(
                e.message().to_string(),
                "GRAPHQL_VALIDATION_FAILED",
            )])
        },
    )?;
    let partial = apollo_compiler::introspection::partial_execute(
        supergraph.api_schema(),
        supergraph.implementers(),
        &prepared.document,
        operation,
        variables,
    )
    .map_err(|e| {
        ClientError::from(InternalError::Operation(format!(
            "introspection failed: {}",
            e.message()
        )))
    })?;
    for error in partial.errors {
        response.errors.push(GraphqlError {
            message: error.message,
            locations: Vec::new(),
            path: None,
            extensions: Map::new(),
        });
    }
    if let Some(data) = partial.data {
        let data = serde_json::to_value(data).map_err(InternalError::from)?;
        if let (Some(Value::Object(target)), Value::Object(source)) = (&mut response.data, data) {
            for (key, value) in source {
                target.insert(key, value);
            }
        }
    }
    Ok(())
}

async fn fetch_node(
    runtime: &Runtime,
    context: &RequestContext,
    fetch: &FetchNode,
    variables: &Valid<JsonMap>,
) -> Result<GraphqlResponse, ClientError> {
    let route = &runtime.routes[fetch.graph];
    let mut body_variables = Map::new();
    for name in &fetch.variables {
        if let Some(value) = variables.get(name.as_str()) {
            let value = serde_json::to_value(value).map_err(InternalError::from)?;
            body_variables.insert(name.to_string(), value);
        }
    }
    let mut request = SubgraphRequest {
        subgraph: route.name.clone(),
        url: route.url.clone(),
        timeout: route.timeout,
        headers: http::HeaderMap::new(),
        body: SubgraphRequestBody {
            query: fetch.operation.clone(),
            operation_name: fetch.operation_name.clone(),
            variables: body_variables,
            extensions: Map::new(),
        },
    };
    for plugin in &runtime.plugins {
        if let ControlFlow::Break(error) = plugin.subgraph_request(context, &mut request) {
            return Err(error);
        }
    }

    let subgraph = route.name.clone();
    let failed = |message: String, code: &str| GraphqlResponse {
        errors: vec![GraphqlError::new(message, code).with_extension("service", &*subgraph)],
        data: Some(Value::Null),
        extensions: None,
    };
    let response = match runtime.client.send(request).await {
        Ok(response) => response,
        Err(error) => {
            tracing::warn!(subgraph = %subgraph, error = %error, request_id = context.request_id(), "subgraph request failed");
            return Ok(failed(
                format!("HTTP fetch failed from '{subgraph}': {error}"),
                "SUBREQUEST_HTTP_ERROR",
            ));
        }
    };
    let parsed: Result<GraphqlResponse, _> = serde_json::from_slice(&response.body);
    match parsed {
        Ok(mut body) if body.data.is_some() || !body.errors.is_empty() => {
            for error in &mut body.errors {
                // Locations point into the subgraph's operation, not the client's.
                error.locations.clear();
            }
            if !response.status.is_success() {
                body.errors.push(
                    GraphqlError::new(
                        format!("HTTP fetch failed from '{subgraph}': {}", response.status),
                        "SUBREQUEST_HTTP_ERROR",
                    )
                    .with_extension("service", &*subgraph),
                );
            }
            if body.data.is_none() {
                body.data = Some(Value::Null);
            }
            body.extensions = None;
            Ok(body)
        }
        _ if !response.status.is_success() => Ok(failed(
            format!("HTTP fetch failed from '{subgraph}': {}", response.status),
            "SUBREQUEST_HTTP_ERROR",
        )),
        _ => {
            tracing::warn!(subgraph = %subgraph, request_id = context.request_id(), "subgraph answered a body that is not a GraphQL response");
            Ok(failed(
                format!("subgraph '{subgraph}' answered with an invalid GraphQL response"),
                "SUBREQUEST_MALFORMED_RESPONSE",
            ))
        }
    }
}
