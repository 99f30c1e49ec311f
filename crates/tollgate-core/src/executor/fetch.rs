//! One subgraph fetch: builds the request (only the variables the fetch
//! uses, `representations` for entity fetches), lets plugins adjust it,
//! sends it and turns the answer into data plus errors tagged with the
//! subgraph. Transport failures and malformed answers become client-safe
//! errors; details go to the log.

use std::ops::ControlFlow;
use std::sync::Arc;

use apollo_compiler::executable::OperationType;
use serde_json::{Map, Value};

use crate::context::RequestContext;
use crate::error::{ClientError, InternalError};
use crate::observe;
use crate::planner::FetchNode;
use crate::response::GraphqlError;
use crate::runtime::Runtime;
use crate::subgraph::{RawJson, SubgraphRequest, SubgraphRequestBody};

/// What a fetch produced.
#[derive(Debug, Default)]
pub(super) struct FetchOutcome {
    /// The response `data`, when there is some (not null).
    pub(super) data: Option<Answer>,
    /// Errors, with `extensions.serviceName` set and subgraph locations removed.
    pub(super) errors: Vec<GraphqlError>,
    /// Size of the answer's body in bytes (sizes the response buffer).
    pub(super) body_len: usize,
}

/// A fetch's `data`: its own, or the parse of an answer it shares with the
/// requests deduplication joined (merged from there, copying only what the
/// response lacks).
#[derive(Debug)]
pub(super) enum Answer {
    /// Parsed for this request alone.
    Owned(super::data::Value),
    /// Shared; its `data` is present and not null.
    Shared(Arc<Option<SubgraphBody>>),
}

impl Answer {
    /// The data, borrowed.
    pub(super) fn get(&self) -> &super::data::Value {
        const NULL: super::data::Value = super::data::Value::Null;
        match self {
            Answer::Owned(value) => value,
            Answer::Shared(body) => body
                .as_ref()
                .as_ref()
                .and_then(|b| b.data.as_ref())
                .unwrap_or(&NULL),
        }
    }

    /// The data, owned (a copy when shared).
    pub(super) fn into_owned(self) -> super::data::Value {
        match self {
            Answer::Owned(value) => value,
            shared => shared.get().clone(),
        }
    }
}

/// Sends one fetch. `Err` only when a plugin refuses the request.
pub(super) async fn send(
    runtime: &Runtime,
    context: &RequestContext,
    fetch: &FetchNode,
    variables: &Map<String, Value>,
    representations: Option<(Vec<u8>, usize)>,
) -> Result<FetchOutcome, ClientError> {
    let route = &runtime.routes[fetch.graph];
    let expected_entities = representations.as_ref().map(|(_, count)| *count);
    let representations = match representations {
        Some((json, _)) => Some(representations_value(json)?),
        None => None,
    };
    let mut body_variables = Map::new();
    for name in &fetch.variables {
        if let Some(value) = variables.get(name.as_str()) {
            body_variables.insert(name.to_string(), value.clone());
        }
    }
    let mut request = SubgraphRequest {
        subgraph: route.name.clone(),
        url: route.url.clone(),
        timeout: route.timeout,
        max_response_bytes: route.max_response_bytes,
        headers: http::HeaderMap::new(),
        deduplicate: route.deduplicate && fetch.kind == OperationType::Query,
        body: SubgraphRequestBody {
            query: fetch.operation.clone(),
            operation_name: fetch.operation_name.clone(),
            variables: body_variables,
            representations,
            extensions: Map::new(),
        },
    };
    if let Some(client) = context.client_headers() {
        runtime
            .headers
            .apply(fetch.graph, client, context, &mut request.headers);
    }
    if observe::propagating() {
        if observe::otel() {
            observe::inject_current(&mut request.headers);
        } else {
            for (name, value) in context.trace_headers() {
                request.headers.insert(name.clone(), value.clone());
            }
        }
    }
    for plugin in &runtime.plugins {
        if let ControlFlow::Break(error) = plugin.subgraph_request(context, &mut request) {
            return Err(error);
        }
    }

    let subgraph = route.name.clone();
    let started = std::time::Instant::now();
    let failed = |message: String, code: &str| FetchOutcome {
        data: None,
        errors: vec![GraphqlError::new(message, code).with_extension("serviceName", &*subgraph)],
        body_len: 0,
    };
    let mut response = match runtime.client.send(request).await {
        Ok(response) => response,
        Err(error) => {
            observe::subgraph_request(&subgraph, "transport_error", started.elapsed());
            tracing::warn!(subgraph = %subgraph, error = %error, request_id = context.request_id(), "subgraph request failed");
            return Ok(failed(
                format!("HTTP fetch failed from '{subgraph}': {error}"),
                "SUBREQUEST_HTTP_ERROR",
            ));
        }
    };
    for plugin in &runtime.plugins {
        if let ControlFlow::Break(error) =
            plugin.subgraph_response(context, &subgraph, &mut response)
        {
            return Err(error);
        }
    }
    let parse = |body: &[u8]| serde_json::from_slice::<SubgraphBody>(body).ok();
    // An answer deduplication shares is parsed once and merged from there
    // by every request that joined it.
    let (owned, shared) = if response.parsed.shared() {
        (
            None,
            Some(response.parsed.get_or_parse(&response.body, parse)),
        )
    } else {
        (parse(&response.body), None)
    };
    let body = match &shared {
        Some(shared) => shared.as_ref().as_ref(),
        None => owned.as_ref(),
    }
    .filter(|body| body.well_formed(expected_entities));
    let result = match (body, response.status.is_success()) {
        (_, false) => "http_error",
        (Some(_), true) => "success",
        (None, true) => "invalid_response",
    };
    observe::subgraph_request(&subgraph, result, started.elapsed());
    if !response.status.is_success() {
        tracing::warn!(subgraph = %subgraph, status = %response.status, request_id = context.request_id(), "subgraph answered a non-2xx status");
    }
    let Some(body) = body else {
        return Ok(if !response.status.is_success() {
            failed(
                format!("HTTP fetch failed from '{subgraph}': {}", response.status),
                "SUBREQUEST_HTTP_ERROR",
            )
        } else {
            tracing::warn!(subgraph = %subgraph, request_id = context.request_id(), "subgraph answered a body that is not a GraphQL response");
            failed(
                format!("subgraph '{subgraph}' answered with an invalid GraphQL response"),
                "SUBREQUEST_MALFORMED_RESPONSE",
            )
        });
    };
    let mut errors = Vec::new();
    for error in body.errors.iter().flatten() {
        let error = subgraph_error(error.clone(), &subgraph);
        errors.push(if route.include_errors {
            error
        } else {
            crate::subgraph_errors::redact(error, &subgraph)
        });
    }
    if !response.status.is_success() {
        errors.push(
            GraphqlError::new(
                format!("HTTP fetch failed from '{subgraph}': {}", response.status),
                "SUBREQUEST_HTTP_ERROR",
            )
            .with_extension("serviceName", &*subgraph),
        );
    }
    let has_data = body.data.as_ref().is_some_and(|d| !d.is_null());
    let data = match (owned, shared) {
        (Some(owned), _) => owned.data.filter(|d| !d.is_null()).map(Answer::Owned),
        (None, Some(shared)) if has_data => Some(Answer::Shared(shared)),
        (None, _) => None,
    };
    Ok(FetchOutcome {
        data,
        errors,
        body_len: response.body.len(),
    })
}

/// The representations text as the raw JSON sent in `variables`.
fn representations_value(json: Vec<u8>) -> Result<RawJson, ClientError> {
    String::from_utf8(json).map(RawJson::written).map_err(|_| {
        ClientError::from(InternalError::Operation(
            "representations are not UTF-8".to_owned(),
        ))
    })
}

/// A subgraph response body, read leniently: errors are kept as raw JSON
/// so one odd error object does not discard the data.
#[derive(Debug, serde::Deserialize)]
pub(super) struct SubgraphBody {
    #[serde(default)]
    data: Option<super::data::Value>,
    #[serde(default)]
    errors: Option<Vec<Value>>,
}

impl SubgraphBody {
    /// Whether this is a GraphQL response the executor can merge: `data`
    /// or `errors` present, `data` an object (or null), and for an entity
    /// fetch of `n` representations `_entities` a list of `n` items (or
    /// null with errors).
    fn well_formed(&self, entities: Option<usize>) -> bool {
        use super::data::Value as Data;
        let data = match (&self.data, entities) {
            (None, _) => true,
            (Some(Data::Object(_)), None) => true,
            (Some(Data::Object(data)), Some(n)) => match data.get("_entities") {
                Some(Data::Array(items)) => items.len() == n,
                None | Some(Data::Null) => self.has_errors(),
                Some(_) => false,
            },
            (Some(_), _) => false,
        };
        data && (self.data.is_some() || self.has_errors())
    }

    /// Whether `errors` holds at least one error (the spec requires a
    /// non-empty list when `data` is absent).
    fn has_errors(&self) -> bool {
        self.errors
            .as_ref()
            .is_some_and(|errors| !errors.is_empty())
    }
}

/// Most elements of a subgraph error's `path` kept (deeper is not a path
/// into any response Tollgate shapes).
const MAX_ERROR_PATH: usize = 512;

/// Whether `path` can be a response path: field names (strings) and list
/// indexes (non-negative integers), at most [`MAX_ERROR_PATH`] of them. A
/// path that is not is dropped; the error is kept without it.
fn is_response_path(path: &[Value]) -> bool {
    path.len() <= MAX_ERROR_PATH && path.iter().all(|step| step.is_string() || step.is_u64())
}

/// Turns one raw subgraph error into a client error: message and path kept,
/// locations (which point into the subgraph's operation) dropped,
/// extensions kept with `serviceName` added.
fn subgraph_error(raw: Value, subgraph: &str) -> GraphqlError {
    let mut object = match raw {
        Value::Object(object) => object,
        other => {
            let mut object = Map::new();
            object.insert("message".to_owned(), Value::String(other.to_string()));
            object
        }
    };
    let message = match object.remove("message") {
        Some(Value::String(message)) => message,
        _ => format!("subgraph '{subgraph}' returned an error without a message"),
    };
    let path = match object.remove("path") {
        Some(Value::Array(path)) if is_response_path(&path) => Some(path),
        _ => None,
    };
    let mut extensions = match object.remove("extensions") {
        Some(Value::Object(extensions)) => extensions,
        _ => Map::new(),
    };
    extensions.insert("serviceName".to_owned(), Value::String(subgraph.to_owned()));
    GraphqlError {
        message,
        locations: Vec::new(),
        path,
        extensions,
    }
}
