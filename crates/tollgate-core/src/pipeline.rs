//! One client request, top to bottom: plugins' router stage (the JWT
//! checkpoint) → persisted query resolution → plugins' supergraph stage (scripts) →
//! plugins' operation stage (anonymous allow-list) → parse + validate + plan (cached) → GET-only-queries check →
//! plugins' execution stage → variable coercion → execute → plugins'
//! response stage. Each stage is one call into its own module.
//!
//! The HTTP layer reads the body between the first stage and the rest:
//! [`router_stage`] needs only the request's head, then
//! [`run_after_router_stage`] takes the parsed request ([`run`] does both
//! for a request already read).

use std::ops::ControlFlow;
use std::sync::Arc;

use apollo_compiler::executable::{ExecutableDocument, Operation};
use apollo_compiler::parser::Parser;
use apollo_compiler::response::JsonMap;
use apollo_compiler::validation::{DiagnosticList, Valid};
use apollo_compiler::{ast, Node};
use http::{HeaderMap, Method, StatusCode, Uri};
use sha2::{Digest, Sha256};
use tracing::Instrument as _;

use crate::context::RequestContext;
use crate::error::{ClientError, InternalError};
use crate::executor;
use crate::observe::STAGE_TARGET;
use crate::planner::{self, PlanError, QueryPlan};
use crate::plugin::{
    ExecutionRequest, OperationRequest, RouterRequest, SupergraphRequest, SupergraphResponse,
};
use crate::request::GraphqlRequest;
use crate::response::{GraphqlError, GraphqlResponse, Location};
use crate::runtime::Runtime;

/// The HTTP facts of a client request that later stages may read.
pub struct RequestParts<'a> {
    /// Request method (GET may only run queries).
    pub method: &'a Method,
    /// Request URI.
    pub uri: &'a Uri,
    /// Request headers.
    pub headers: &'a HeaderMap,
}

/// A parsed, validated and planned operation, cached and shared.
#[derive(Debug)]
pub struct PreparedOperation {
    /// The validated document.
    pub document: Valid<ExecutableDocument>,
    /// The selected operation.
    pub operation: Node<Operation>,
    /// Its plan (shared by every spelling of the same operation).
    pub plan: Arc<QueryPlan>,
}

/// Bounded caches: prepared operations keyed by a hash of the exact document
/// text and operation name (the fast path), and plans keyed by a hash of the
/// normalized document, so the same operation spelled differently (spacing,
/// comments) is planned once. A cache belongs to one runtime, hence to one
/// schema version.
pub struct PlanCache {
    cache: quick_cache::sync::Cache<[u8; 32], Arc<PreparedOperation>>,
    plans: quick_cache::sync::Cache<[u8; 32], Arc<QueryPlan>>,
}

impl PlanCache {
    /// A cache holding at most `capacity` operations.
    pub fn new(capacity: usize) -> Self {
        Self {
            cache: quick_cache::sync::Cache::new(capacity.max(1)),
            plans: quick_cache::sync::Cache::new(capacity.max(1)),
        }
    }

    /// Number of cached operations.
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    /// Number of cached plans (distinct normalized operations).
    pub fn plans(&self) -> usize {
        self.plans.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.cache.is_empty()
    }
}

/// Runs one GraphQL request, already read, through every stage.
pub async fn run(
    runtime: &Runtime,
    parts: RequestParts<'_>,
    request: GraphqlRequest,
) -> Result<PipelineResponse, ClientError> {
    let context = router_stage(runtime, &parts).await?;
    run_after_router_stage(runtime, parts, request, context).await
}

/// The router stage, which needs only the HTTP request's head (the JWT
/// checkpoint, router-stage scripts): the HTTP layer runs it before it
/// reads and parses the body, so a refused request never reaches the JSON
/// parser. Returns the request's context for the later stages.
pub async fn router_stage(
    runtime: &Runtime,
    parts: &RequestParts<'_>,
) -> Result<RequestContext, ClientError> {
    let mut context = RequestContext::new();
    if !runtime.headers.is_empty() {
        context.set_client_headers(Arc::new(parts.headers.clone()));
    }
    if crate::observe::propagating() && !crate::observe::otel() {
        let trace: Vec<_> = ["traceparent", "tracestate"]
            .into_iter()
            .filter_map(|name| {
                let value = parts.headers.get(name)?;
                Some((http::HeaderName::from_static(name), value.clone()))
            })
            .collect();
        context.set_trace_headers(trace);
    }
    for plugin in &runtime.plugins {
        let stage = RouterRequest {
            method: parts.method,
            uri: parts.uri,
            headers: parts.headers,
            context: &mut context,
        };
        if let ControlFlow::Break(error) = plugin.router_request(stage).await {
            return Err(error);
        }
    }
    Ok(context)
}

/// Every stage after [`router_stage`], in `context` (from it, or
/// [`RequestContext::fork`]ed from it for each request of a batch).
pub async fn run_after_router_stage(
    runtime: &Runtime,
    parts: RequestParts<'_>,
    mut request: GraphqlRequest,
    mut context: RequestContext,
) -> Result<PipelineResponse, ClientError> {
    let mut persisted = runtime
        .persisted
        .resolve(&mut request)
        .map_err(ClientError::PersistedQuery)?;

    if runtime.supergraph.auth().has_policies() {
        // Scripts decide policies at the supergraph stage: tell them which
        // ones this operation needs (errors surface again below).
        if let Ok(prepared) = prepare(runtime, &request.query, request.operation_name.as_deref()) {
            let policies = crate::authorization::required_policies(
                &runtime.supergraph,
                &prepared.document,
                &prepared.operation.selection_set,
            );
            if !policies.is_empty() {
                let map = policies
                    .into_iter()
                    .map(|p| (p, serde_json::Value::Null))
                    .collect::<serde_json::Map<_, _>>();
                context.insert(
                    crate::authorization::POLICIES_KEY,
                    serde_json::Value::Object(map),
                );
            }
        }
    }
    for plugin in &runtime.plugins {
        let stage = SupergraphRequest {
            method: parts.method,
            uri: parts.uri,
            headers: parts.headers,
            body: &mut request,
            context: &mut context,
        };
        if let ControlFlow::Break(error) = plugin.supergraph_request(stage) {
            return Err(error);
        }
    }

    if let Some(operation) = &persisted {
        // A script that rewrote the document made it no longer the
        // persisted operation it was resolved as.
        if !runtime.persisted.same_document(&request.query, operation) {
            persisted = None;
        }
    }
    for plugin in &runtime.plugins {
        let stage = OperationRequest {
            persisted: persisted.as_deref(),
            operation_name: request.operation_name.as_deref(),
            context: &mut context,
        };
        if let ControlFlow::Break(error) = plugin.operation_request(stage) {
            return Err(error);
        }
    }

    let prepared = prepare(runtime, &request.query, request.operation_name.as_deref())?;
    if prepared.plan.has_introspection && !runtime.introspection {
        return Err(ClientError::IntrospectionDisabled);
    }

    if parts.method == Method::GET && !prepared.operation.operation_type.is_query() {
        return Err(ClientError::MethodNotAllowed(format!(
            "{} operations cannot be sent with GET; use POST",
            prepared.operation.operation_type
        )));
    }

    let authorized = crate::authorization::authorize(
        &runtime.supergraph,
        &runtime.authorization,
        runtime.scopes_claim.as_deref(),
        &prepared,
        &context,
        |document| plan_document(runtime, document, request.operation_name.as_deref()),
    )?;

    for plugin in &runtime.plugins {
        let stage = ExecutionRequest {
            method: parts.method,
            uri: parts.uri,
            headers: parts.headers,
            body: &request,
            context: &mut context,
        };
        if let ControlFlow::Break(error) = plugin.execution_request(stage) {
            return Err(error);
        }
    }
    let variables = coerce_variables(runtime, &prepared.operation, request.variables)?;
    let mut response = executor::execute(
        runtime,
        &context,
        &authorized.plan_from,
        &prepared,
        &authorized.denied,
        &variables,
    )
    .instrument(tracing::info_span!(target: STAGE_TARGET, "execute"))
    .await?;
    if runtime.debug.expose_query_plan
        && parts
            .headers
            .get(EXPOSE_QUERY_PLAN_HEADER)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"))
    {
        response
            .extensions
            .get_or_insert_with(serde_json::Map::new)
            .insert(
                "queryPlan".to_owned(),
                serde_json::Value::String(prepared.plan.to_string()),
            );
    }
    let mut status = StatusCode::OK;
    let mut headers = HeaderMap::new();
    for plugin in &runtime.plugins {
        let stage = SupergraphResponse {
            status: &mut status,
            headers: &mut headers,
            body: &mut response,
            context: &mut context,
        };
        if let ControlFlow::Break(error) = plugin.supergraph_response(stage) {
            return Err(error);
        }
    }
    Ok(PipelineResponse {
        status,
        headers,
        body: response,
    })
}

/// What a request produced: the GraphQL response with the status and extra
/// headers plugins chose.
#[derive(Debug)]
pub struct PipelineResponse {
    /// HTTP status (200 unless a plugin changed it).
    pub status: StatusCode,
    /// Extra response headers set by plugins.
    pub headers: HeaderMap,
    /// The GraphQL response.
    pub body: GraphqlResponse,
}

/// Request header asking for the query plan in `extensions.queryPlan`
/// (honoured only with `debug.expose_query_plan: true`).
pub const EXPOSE_QUERY_PLAN_HEADER: &str = "tollgate-expose-query-plan";

/// Parses, validates and plans a document, through the plan cache.
pub fn prepare(
    runtime: &Runtime,
    query: &str,
    operation_name: Option<&str>,
) -> Result<Arc<PreparedOperation>, ClientError> {
    let labels = runtime.roll_labels();
    let key = cache_key(query, operation_name, &labels);
    if let Some(hit) = runtime.plans.cache.get(&key) {
        crate::observe::plan_cache(true, runtime.plans.len());
        return Ok(hit);
    }
    let limits = &runtime.limits;
    if query.len() > limits.max_query_bytes {
        return Err(ClientError::ParseFailed(vec![GraphqlError::new(
            format!(
                "the document is {} bytes, over the limit of {} bytes",
                query.len(),
                limits.max_query_bytes
            ),
            "GRAPHQL_PARSE_FAILED",
        )]));
    }
    let ast = tracing::info_span!(target: STAGE_TARGET, "parse").in_scope(|| {
        Parser::new()
            .recursion_limit(limits.max_parser_depth)
            .token_limit(limits.max_tokens)
            .parse_ast(query, "operation.graphql")
            .map_err(|e| ClientError::ParseFailed(diagnostics(&e.errors)))
    })?;
    let schema = runtime.supergraph.api_schema();
    let document = tracing::info_span!(target: STAGE_TARGET, "validate").in_scope(|| {
        ast.to_executable_validate(schema)
            .map_err(|e| ClientError::ValidationFailed(diagnostics(&e.errors)))
    })?;
    let operation = document
        .operations
        .get(operation_name)
        .map_err(|e| ClientError::UnknownOperationName(e.message().to_string()))?
        .clone();
    crate::operation_limits::check(&document, &operation, limits)?;
    let plan = cached_plan(runtime, &document, &operation, operation_name, &labels)?;
    let prepared = Arc::new(PreparedOperation {
        document,
        operation,
        plan,
    });
    runtime.plans.cache.insert(key, prepared.clone());
    crate::observe::plan_cache(false, runtime.plans.len());
    Ok(prepared)
}

/// The plan of an operation, from the cache keyed by the normalized
/// document, operation name and override labels, or planned now.
fn cached_plan(
    runtime: &Runtime,
    document: &ExecutableDocument,
    operation: &Node<Operation>,
    operation_name: Option<&str>,
    labels: &[bool],
) -> Result<Arc<QueryPlan>, ClientError> {
    let key = cache_key(
        &document.serialize().no_indent().to_string(),
        operation_name,
        labels,
    );
    if let Some(plan) = runtime.plans.plans.get(&key) {
        return Ok(plan);
    }
    let plan = tracing::info_span!(target: STAGE_TARGET, "plan")
        .in_scope(|| planner::plan_operation(&runtime.supergraph, document, operation, labels))
        .map_err(|e| match e {
            PlanError::Unsatisfiable(_) => ClientError::PlanningFailed(e.to_string()),
            PlanError::Internal(detail) => ClientError::from(InternalError::Operation(detail)),
        })?;
    let plan = Arc::new(plan);
    runtime.plans.plans.insert(key, plan.clone());
    Ok(plan)
}

/// Plans an already validated document (the client's operation with
/// unauthorized fields removed), through the plan cache.
fn plan_document(
    runtime: &Runtime,
    document: Valid<ExecutableDocument>,
    operation_name: Option<&str>,
) -> Result<Arc<PreparedOperation>, ClientError> {
    let labels = runtime.roll_labels();
    let operation = document
        .operations
        .get(operation_name)
        .map_err(|e| ClientError::UnknownOperationName(e.message().to_string()))?
        .clone();
    let plan = cached_plan(runtime, &document, &operation, operation_name, &labels)?;
    Ok(Arc::new(PreparedOperation {
        document,
        operation,
        plan,
    }))
}

fn cache_key(query: &str, operation_name: Option<&str>, labels: &[bool]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for on in labels {
        hasher.update([u8::from(*on)]);
    }
    hasher.update(query.as_bytes());
    match operation_name {
        Some(name) => {
            hasher.update([1]);
            hasher.update(name.as_bytes());
        }
        None => hasher.update([0]),
    }
    hasher.finalize().into()
}

fn coerce_variables(
    runtime: &Runtime,
    operation: &Operation,
    variables: serde_json::Map<String, serde_json::Value>,
) -> Result<Valid<JsonMap>, ClientError> {
    let values = match serde_json_bytes::Value::from(serde_json::Value::Object(variables)) {
        serde_json_bytes::Value::Object(map) => map,
        _ => JsonMap::new(),
    };
    apollo_compiler::request::coerce_variable_values(
        runtime.supergraph.api_schema(),
        operation,
        &values,
    )
    .map_err(|e| {
        ClientError::BadUserInput(Box::new(GraphqlError::new(
            e.message().to_string(),
            "BAD_USER_INPUT",
        )))
    })
}

fn diagnostics(errors: &DiagnosticList) -> Vec<GraphqlError> {
    errors
        .iter()
        .map(|diagnostic| {
            let json = diagnostic.to_json();
            GraphqlError {
                message: json.message,
                locations: json
                    .locations
                    .iter()
                    .map(|l| Location {
                        line: l.line,
                        column: l.column,
                    })
                    .collect(),
                path: None,
                extensions: serde_json::Map::new(),
            }
        })
        .collect()
}

/// Parses a document without a schema (for tools that only need syntax).
pub fn parse_only(query: &str) -> Result<ast::Document, Vec<GraphqlError>> {
    Parser::new()
        .parse_ast(query, "operation.graphql")
        .map_err(|e| diagnostics(&e.errors))
}
