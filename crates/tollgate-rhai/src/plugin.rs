//! [`RhaiPlugin`]: loads the scripts once (compile, then call each hook
//! function once so it registers its `map_request` callbacks), and runs
//! those callbacks per request at the router, supergraph and subgraph
//! stages. A `throw #{status, message}` ends the request with that status;
//! any other script failure ends that request with a 500 and is logged.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use http::StatusCode;
use rhai::{Dynamic, Engine, EvalAltResult, FnPtr, Scope, AST};
use serde_json::Value;
use tollgate_core::context::RequestContext;
use tollgate_core::error::ClientError;
use tollgate_core::plugin::{
    ExecutionRequest, Flow, Plugin, RouterRequest, SupergraphRequest, SupergraphResponse,
};
use tollgate_core::request::GraphqlRequest;
use tollgate_core::subgraph::SubgraphRequest;

use crate::config::RhaiConfig;
use crate::engine::{self, APOLLO_JWT_CLAIMS_KEY, JWT_CLAIMS_KEY, REQUEST_ID};
use crate::objects::{
    self, BodyState, Request, Response, ResponseState, ScriptContext, SharedState, State,
    SubgraphState,
};

/// Signs a map of claims with the router's issuer key (for `jwt::sign`).
pub type Signer =
    Arc<dyn Fn(serde_json::Map<String, Value>) -> Result<String, String> + Send + Sync>;

/// Why the scripts could not be loaded. Stops the router at start.
#[derive(Debug, thiserror::Error)]
pub enum RhaiError {
    /// The main script cannot be read.
    #[error("rhai.main: cannot read {path}: {source}")]
    Read {
        /// The path tried.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The script does not compile.
    #[error("rhai.main: {path}: {message}")]
    Compile {
        /// The script file.
        path: String,
        /// The compiler's message with line and column.
        message: String,
    },
    /// A hook function failed or asked for something not supported.
    #[error("rhai.main: {hook}: {message}")]
    Hook {
        /// The hook function.
        hook: String,
        /// What went wrong.
        message: String,
    },
}

/// A registration object passed to each hook function at start.
#[derive(Clone)]
struct Service {
    requests: Arc<Mutex<Vec<FnPtr>>>,
    responses: Arc<Mutex<Vec<FnPtr>>>,
}

/// The callbacks the scripts registered.
#[derive(Default)]
struct Hooks {
    router: Vec<FnPtr>,
    supergraph: Vec<FnPtr>,
    execution: Vec<FnPtr>,
    subgraph: HashMap<String, Vec<FnPtr>>,
    router_responses: Vec<FnPtr>,
    supergraph_responses: Vec<FnPtr>,
    execution_responses: Vec<FnPtr>,
    subgraph_responses: HashMap<String, Vec<FnPtr>>,
}

/// The scripting plugin. Built once; the engine and AST are shared
/// read-only by every request.
pub struct RhaiPlugin {
    engine: Engine,
    ast: AST,
    hooks: Hooks,
}

fn collected(list: &Arc<Mutex<Vec<FnPtr>>>) -> Vec<FnPtr> {
    list.lock().map(|r| r.clone()).unwrap_or_default()
}

impl RhaiPlugin {
    /// Compiles the scripts and registers their hooks. `subgraphs` are the
    /// supergraph's subgraph names (`subgraph_service` is called once each).
    pub fn load(
        config: &RhaiConfig,
        base_dir: &Path,
        subgraphs: &[String],
    ) -> Result<Self, RhaiError> {
        Self::load_with_signer(config, base_dir, subgraphs, None)
    }

    /// Like [`RhaiPlugin::load`], with `jwt::sign(claims)` signing through
    /// `signer` (the router's issuer key).
    pub fn load_with_signer(
        config: &RhaiConfig,
        base_dir: &Path,
        subgraphs: &[String],
        signer: Option<Signer>,
    ) -> Result<Self, RhaiError> {
        let dir: PathBuf = base_dir.join(&config.scripts);
        let main = dir.join(&config.main);
        let source = std::fs::read_to_string(&main).map_err(|source| RhaiError::Read {
            path: main.display().to_string(),
            source,
        })?;
        let mut engine = engine::build(&dir, &config.limits);
        let mut jwt = rhai::Module::new();
        jwt.set_native_fn("sign", move |claims: rhai::Map| {
            let Some(signer) = &signer else {
                return Err(objects::error(
                    "jwt::sign needs an `issuer:` section with a signing key",
                ));
            };
            let claims = match rhai::serde::from_dynamic::<Value>(&claims.into())? {
                Value::Object(map) => map,
                _ => return Err(objects::error("jwt::sign takes a map of claims")),
            };
            signer(claims).map_err(objects::error)
        });
        engine.register_static_module("jwt", jwt.into());
        engine.register_type_with_name::<Service>("Service");
        engine.register_fn("map_request", |service: &mut Service, f: FnPtr| {
            if let Ok(mut requests) = service.requests.lock() {
                requests.push(f);
            }
        });
        engine.register_fn("map_response", |service: &mut Service, f: FnPtr| {
            if let Ok(mut responses) = service.responses.lock() {
                responses.push(f);
            }
        });
        // Top-level `import "x" as y;` statements run only at start; bind
        // those modules engine-wide so callbacks can use `y::f()` per request.
        for (path, alias) in top_level_imports(&source) {
            let module = engine
                .module_resolver()
                .resolve(&engine, None, &path, rhai::Position::NONE)
                .map_err(|e| RhaiError::Compile {
                    path: main.display().to_string(),
                    message: format!("import \"{path}\": {e}"),
                })?;
            engine.register_static_module(alias, module);
        }
        let mut ast = engine.compile(&source).map_err(|e| RhaiError::Compile {
            path: main.display().to_string(),
            message: e.to_string(),
        })?;
        ast.set_source(main.display().to_string());

        let defined: Vec<(String, usize)> = ast
            .iter_functions()
            .map(|f| (f.name.to_owned(), f.params.len()))
            .collect();
        let has =
            |name: &str, params: usize| defined.iter().any(|(n, p)| n == name && *p == params);
        let mut hooks = Hooks::default();
        let call = |engine: &Engine, hook: &str, args: Vec<Dynamic>| {
            let service = Service {
                requests: Arc::new(Mutex::new(Vec::new())),
                responses: Arc::new(Mutex::new(Vec::new())),
            };
            let mut all = vec![Dynamic::from(service.clone())];
            all.extend(args);
            let mut scope = Scope::new();
            let _registered = engine
                .call_fn_with_options::<Dynamic>(
                    rhai::CallFnOptions::new(),
                    &mut scope,
                    &ast,
                    hook,
                    all,
                )
                .map_err(|e| RhaiError::Hook {
                    hook: hook.to_owned(),
                    message: e.to_string(),
                })?;
            Ok::<_, RhaiError>((collected(&service.requests), collected(&service.responses)))
        };
        if has("router_service", 1) {
            (hooks.router, hooks.router_responses) = call(&engine, "router_service", Vec::new())?;
        }
        if has("supergraph_service", 1) {
            (hooks.supergraph, hooks.supergraph_responses) =
                call(&engine, "supergraph_service", Vec::new())?;
        }
        if has("execution_service", 1) {
            (hooks.execution, hooks.execution_responses) =
                call(&engine, "execution_service", Vec::new())?;
        }
        if has("subgraph_service", 2) {
            for name in subgraphs {
                let (requests, responses) = call(
                    &engine,
                    "subgraph_service",
                    vec![Dynamic::from(name.clone())],
                )?;
                if !requests.is_empty() {
                    hooks.subgraph.insert(name.clone(), requests);
                }
                if !responses.is_empty() {
                    hooks.subgraph_responses.insert(name.clone(), responses);
                }
            }
        }
        Ok(Self { engine, ast, hooks })
    }

    /// Runs callbacks on one shared state, each given `request` (or
    /// `response`); maps script failures to client errors.
    fn run(
        &self,
        callbacks: &[FnPtr],
        state: &SharedState,
        request_id: u64,
        argument: fn(SharedState) -> Dynamic,
    ) -> Flow {
        REQUEST_ID.with(|id| id.set(request_id));
        for callback in callbacks {
            let value = argument(state.clone());
            if let Err(error) = callback.call::<Dynamic>(&self.engine, &self.ast, (value,)) {
                let stage = state.lock().map(|s| s.stage).unwrap_or("unknown");
                return ControlFlow::Break(client_error(*error, stage, request_id));
            }
        }
        ControlFlow::Continue(())
    }
}

impl RhaiPlugin {
    /// Runs callbacks on a state and hands the state back.
    fn run_owned(
        &self,
        callbacks: &[FnPtr],
        state: State,
        request_id: u64,
        argument: fn(SharedState) -> Dynamic,
    ) -> Result<State, ClientError> {
        let state = shared(state);
        if let ControlFlow::Break(error) = self.run(callbacks, &state, request_id, argument) {
            return Err(error);
        }
        take(state).ok_or(ClientError::Internal)
    }
}

fn body_state(body: &GraphqlRequest) -> BodyState {
    BodyState {
        query: Arc::from(body.query.as_str()),
        operation_name: body.operation_name.clone(),
        variables: body.variables.clone(),
        representations: None,
        extensions: body.extensions.clone(),
        changed: false,
    }
}

fn as_request(state: SharedState) -> Dynamic {
    Dynamic::from(Request(state))
}

fn as_response(state: SharedState) -> Dynamic {
    Dynamic::from(Response(state))
}

/// `(path, alias)` of each `import "path" as alias;` at the start of a line.
fn top_level_imports(source: &str) -> Vec<(String, String)> {
    source
        .lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix("import")?.trim_start();
            let rest = rest.strip_prefix('"')?;
            let (path, rest) = rest.split_once('"')?;
            let alias = rest.trim().strip_prefix("as")?.trim();
            let alias = alias.trim_end_matches(';').trim();
            (!alias.is_empty() && alias.chars().all(|c| c.is_alphanumeric() || c == '_'))
                .then(|| (path.to_owned(), alias.to_owned()))
        })
        .collect()
}

/// The context as a script sees it (the Apollo claims key included): the
/// entries shared, converted only when a script reads one.
fn script_context(context: &RequestContext) -> ScriptContext {
    let mut entries: Vec<(String, Arc<Value>)> = context
        .entries()
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    if !entries.iter().any(|(key, _)| key == APOLLO_JWT_CLAIMS_KEY) {
        if let Some(claims) = context.get_shared(APOLLO_JWT_CLAIMS_KEY) {
            entries.push((APOLLO_JWT_CLAIMS_KEY.to_owned(), claims.clone()));
        }
    }
    ScriptContext::new(entries)
}

/// Writes the keys a script changed back into the request context.
fn write_back(state: &State, context: &mut RequestContext, request_id: u64) -> Flow {
    for key in &state.dirty {
        let Some(value) = state.context.written(key.as_str()) else {
            continue;
        };
        let value = match objects::context_json(value) {
            Ok(value) => value,
            Err(error) => {
                tracing::error!(request_id, key = %key, error = %error, "a script stored a context value that is not JSON");
                return ControlFlow::Break(ClientError::Internal);
            }
        };
        // The Apollo claims key is an alias of Tollgate's.
        let key = if key == APOLLO_JWT_CLAIMS_KEY {
            JWT_CLAIMS_KEY
        } else {
            key.as_str()
        };
        context.insert(key.to_owned(), value);
    }
    ControlFlow::Continue(())
}

/// The client's headers as scripts see them: as changed by an earlier
/// script stage (kept in the request context), else as received.
fn client_headers(received: &http::HeaderMap, context: &RequestContext) -> Arc<http::HeaderMap> {
    context
        .client_headers_shared()
        .cloned()
        .unwrap_or_else(|| Arc::new(received.clone()))
}

/// After a request stage: keeps header changes and context writes.
fn finish_stage(state: &State, context: &mut RequestContext, request_id: u64) -> Flow {
    if state.client_headers_changed {
        context.set_client_headers(state.headers.clone());
    }
    write_back(state, context, request_id)
}

fn new_state(
    stage: &'static str,
    context: &RequestContext,
    writable: bool,
    headers: Arc<http::HeaderMap>,
    method: String,
    uri: http::Uri,
) -> State {
    State {
        stage,
        context: script_context(context),
        context_writable: writable,
        dirty: Vec::new(),
        headers,
        method,
        uri,
        body: None,
        body_writable: true,
        client_headers_changed: false,
        subgraph: None,
        response: None,
    }
}

/// The state of a response stage: the response and the context.
fn response_state(
    stage: &'static str,
    context: &RequestContext,
    context_writable: bool,
    status: StatusCode,
    headers: &http::HeaderMap,
    body: serde_json::Map<String, Value>,
) -> State {
    let mut state = new_state(
        stage,
        context,
        context_writable,
        Arc::default(),
        String::new(),
        http::Uri::default(),
    );
    state.response = Some(ResponseState {
        status: status.as_u16(),
        headers: headers.clone(),
        headers_changed: false,
        body,
        changed: false,
    });
    state
}

fn shared(state: State) -> SharedState {
    Arc::new(Mutex::new(state))
}

fn take(state: SharedState) -> Option<State> {
    Arc::try_unwrap(state)
        .ok()
        .and_then(|m| m.into_inner().ok())
}

impl Plugin for RhaiPlugin {
    fn name(&self) -> &'static str {
        "rhai"
    }

    fn router_request<'a>(&'a self, request: RouterRequest<'a>) -> BoxFuture<'a, Flow> {
        Box::pin(async move {
            if !self.hooks.subgraph.is_empty() && request.context.client_headers().is_none() {
                // The subgraph stage may read the client's headers.
                request
                    .context
                    .set_client_headers(Arc::new(request.headers.clone()));
            }
            if self.hooks.router.is_empty() {
                return ControlFlow::Continue(());
            }
            let request_id = request.context.request_id();
            let state = shared(new_state(
                "router",
                request.context,
                true,
                client_headers(request.headers, request.context),
                request.method.to_string(),
                request.uri.clone(),
            ));
            if let ControlFlow::Break(error) =
                self.run(&self.hooks.router, &state, request_id, as_request)
            {
                return ControlFlow::Break(error);
            }
            match take(state) {
                Some(state) => finish_stage(&state, request.context, request_id),
                None => ControlFlow::Break(ClientError::Internal),
            }
        })
    }

    fn supergraph_request(&self, request: SupergraphRequest<'_>) -> Flow {
        if self.hooks.supergraph.is_empty() {
            return ControlFlow::Continue(());
        }
        let request_id = request.context.request_id();
        let mut state = new_state(
            "supergraph",
            request.context,
            true,
            client_headers(request.headers, request.context),
            request.method.to_string(),
            request.uri.clone(),
        );
        state.body = Some(body_state(request.body));
        let state = match self.run_owned(&self.hooks.supergraph, state, request_id, as_request) {
            Ok(state) => state,
            Err(error) => return ControlFlow::Break(error),
        };
        if let Some(body) = state.body.as_ref().filter(|b| b.changed) {
            request.body.query = body.query.to_string();
            request.body.operation_name = body.operation_name.clone();
            request.body.variables = body.variables.clone();
            request.body.extensions = body.extensions.clone();
        }
        finish_stage(&state, request.context, request_id)
    }

    fn execution_request(&self, request: ExecutionRequest<'_>) -> Flow {
        if self.hooks.execution.is_empty() {
            return ControlFlow::Continue(());
        }
        let request_id = request.context.request_id();
        let mut state = new_state(
            "execution",
            request.context,
            true,
            client_headers(request.headers, request.context),
            request.method.to_string(),
            request.uri.clone(),
        );
        state.body = Some(body_state(request.body));
        state.body_writable = false;
        match self.run_owned(&self.hooks.execution, state, request_id, as_request) {
            Ok(state) => finish_stage(&state, request.context, request_id),
            Err(error) => ControlFlow::Break(error),
        }
    }

    fn supergraph_response(&self, response: SupergraphResponse<'_>) -> Flow {
        if self.hooks.supergraph_responses.is_empty()
            && self.hooks.router_responses.is_empty()
            && self.hooks.execution_responses.is_empty()
        {
            return ControlFlow::Continue(());
        }
        self.response_stage(response)
    }

    fn subgraph_response(
        &self,
        context: &RequestContext,
        subgraph: &str,
        response: &mut tollgate_core::subgraph::SubgraphResponse,
    ) -> Flow {
        let Some(callbacks) = self.hooks.subgraph_responses.get(subgraph) else {
            return ControlFlow::Continue(());
        };
        let request_id = context.request_id();
        let body = match serde_json::from_slice::<Value>(&response.body) {
            Ok(Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        };
        let state = shared(response_state(
            "subgraph",
            context,
            false,
            response.status,
            &response.headers,
            body,
        ));
        if let ControlFlow::Break(error) = self.run(callbacks, &state, request_id, as_response) {
            return ControlFlow::Break(error);
        }
        let Some(result) = take(state).and_then(|s| s.response) else {
            return ControlFlow::Break(ClientError::Internal);
        };
        if let Ok(status) = StatusCode::from_u16(result.status) {
            response.status = status;
        }
        if result.headers_changed {
            response.headers = result.headers;
        }
        if result.changed {
            match serde_json::to_vec(&Value::Object(result.body)) {
                Ok(bytes) => response.body = bytes.into(),
                Err(_) => return ControlFlow::Break(ClientError::Internal),
            }
        }
        ControlFlow::Continue(())
    }

    fn subgraph_request(&self, context: &RequestContext, request: &mut SubgraphRequest) -> Flow {
        let Some(callbacks) = self.hooks.subgraph.get(&*request.subgraph) else {
            return ControlFlow::Continue(());
        };
        let request_id = context.request_id();
        let client_headers = context.client_headers_shared().cloned().unwrap_or_default();
        let mut state = new_state(
            "subgraph",
            context,
            false,
            client_headers,
            "POST".to_owned(),
            http::Uri::default(),
        );
        // The headers and the body's parts are moved into the state, and
        // moved back below, changed or not: no copies.
        state.subgraph = Some(SubgraphState {
            name: request.subgraph.to_string(),
            uri: request.url.to_string(),
            headers: std::mem::take(&mut request.headers),
            body: BodyState {
                query: request.body.query.clone(),
                operation_name: request.body.operation_name.as_deref().map(str::to_owned),
                variables: std::mem::take(&mut request.body.variables),
                representations: request.body.representations.take(),
                extensions: std::mem::take(&mut request.body.extensions),
                changed: false,
            },
        });
        let state = shared(state);
        if let ControlFlow::Break(error) = self.run(callbacks, &state, request_id, as_request) {
            return ControlFlow::Break(error);
        }
        let Some(subgraph) = take(state).and_then(|s| s.subgraph) else {
            return ControlFlow::Break(ClientError::Internal);
        };
        request.headers = subgraph.headers;
        let body = subgraph.body;
        if body.changed {
            request.body.query = body.query;
            request.body.operation_name = body.operation_name.map(Arc::from);
        }
        request.body.variables = body.variables;
        request.body.representations = body.representations;
        request.body.extensions = body.extensions;
        ControlFlow::Continue(())
    }
}

impl RhaiPlugin {
    fn response_stage(&self, response: SupergraphResponse<'_>) -> Flow {
        let request_id = response.context.request_id();
        let body = match serde_json::to_value(&*response.body) {
            Ok(Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        };
        let state = shared(response_state(
            "supergraph",
            response.context,
            true,
            *response.status,
            response.headers,
            body,
        ));
        // Innermost first: execution, then supergraph, then router.
        for (stage, callbacks) in [
            ("execution", &self.hooks.execution_responses),
            ("supergraph", &self.hooks.supergraph_responses),
            ("router", &self.hooks.router_responses),
        ] {
            if let Ok(mut s) = state.lock() {
                s.stage = stage;
            }
            if let ControlFlow::Break(error) = self.run(callbacks, &state, request_id, as_response)
            {
                return ControlFlow::Break(error);
            }
        }
        let Some(state) = take(state) else {
            return ControlFlow::Break(ClientError::Internal);
        };
        if let Some(result) = &state.response {
            if let Ok(status) = StatusCode::from_u16(result.status) {
                *response.status = status;
            }
            if result.headers_changed {
                *response.headers = result.headers.clone();
            }
            if result.changed {
                match serde_json::from_value(Value::Object(result.body.clone())) {
                    Ok(body) => *response.body = body,
                    Err(error) => {
                        tracing::error!(request_id, %error, "a Rhai script left a response body that is not a GraphQL response");
                        return ControlFlow::Break(ClientError::Internal);
                    }
                }
            }
        }
        write_back(&state, response.context, request_id)
    }
}

/// The client-facing error for a script failure.
fn client_error(error: EvalAltResult, stage: &str, request_id: u64) -> ClientError {
    match error {
        EvalAltResult::ErrorInFunctionCall(_, _, inner, _)
        | EvalAltResult::ErrorInModule(_, inner, _) => client_error(*inner, stage, request_id),
        EvalAltResult::ErrorRuntime(value, position) => {
            if let Some(map) = value.read_lock::<rhai::Map>() {
                let status = map
                    .get("status")
                    .and_then(|s| s.as_int().ok())
                    .and_then(|s| u16::try_from(s).ok())
                    .and_then(|s| StatusCode::from_u16(s).ok());
                let message = map
                    .get("message")
                    .map(|m| m.to_string())
                    .unwrap_or_else(|| "The request was rejected".to_owned());
                if let Some(status) = status {
                    let code = map
                        .get("code")
                        .and_then(|c| c.clone().into_string().ok())
                        .unwrap_or_else(|| default_code(status).to_owned());
                    return ClientError::Rejected {
                        status,
                        code,
                        message,
                    };
                }
            }
            tracing::error!(request_id, stage, %position, thrown = %value, "a Rhai script failed");
            ClientError::Internal
        }
        other => {
            tracing::error!(request_id, stage, error = %other, "a Rhai script failed");
            ClientError::Internal
        }
    }
}

/// `extensions.code` for a `throw #{status}` without a `code`.
fn default_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "BAD_REQUEST",
        401 => "UNAUTHENTICATED",
        403 => "FORBIDDEN",
        404 => "NOT_FOUND",
        429 => "TOO_MANY_REQUESTS",
        500..=599 => "INTERNAL_SERVER_ERROR",
        _ => "REQUEST_REJECTED",
    }
}
