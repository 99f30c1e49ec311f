//! The plugin driven directly through its stages, with scripts written to a
//! temporary folder.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, Method, StatusCode, Uri};
use serde_json::{json, Map, Value};
use tollgate_core::context::RequestContext;
use tollgate_core::error::ClientError;
use tollgate_core::plugin::{Plugin, RouterRequest, SupergraphRequest};
use tollgate_core::request::GraphqlRequest;
use tollgate_core::subgraph::{RawJson, SubgraphRequest, SubgraphRequestBody};

use super::*;

fn scripts(files: &[(&str, &str)]) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("tollgate-rhai-{}-{n}", std::process::id()));
    std::fs::create_dir_all(dir.join("rhai")).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join("rhai").join(name), text).unwrap();
    }
    dir
}

fn config(yaml: &str) -> RhaiConfig {
    serde_yaml::from_str(yaml).unwrap()
}

fn load(main: &str) -> Result<RhaiPlugin, RhaiError> {
    let dir = scripts(&[("main.rhai", main)]);
    RhaiPlugin::load(&config("{}"), &dir, &["products".to_owned()])
}

fn claims_context(claims: Value) -> RequestContext {
    let mut context = RequestContext::new();
    context.insert(JWT_CLAIMS_KEY, claims);
    context.alias(APOLLO_JWT_CLAIMS_KEY, JWT_CLAIMS_KEY);
    context
}

fn body() -> GraphqlRequest {
    GraphqlRequest {
        query: "{ topProducts { upc } }".to_owned(),
        operation_name: None,
        variables: Map::new(),
        extensions: Map::new(),
    }
}

fn supergraph(
    plugin: &RhaiPlugin,
    context: &mut RequestContext,
    body: &mut GraphqlRequest,
) -> ControlFlow<ClientError> {
    let headers = HeaderMap::new();
    plugin.supergraph_request(SupergraphRequest {
        method: &Method::POST,
        uri: &Uri::from_static("http://router/graphql"),
        headers: &headers,
        body,
        context,
    })
}

fn subgraph_request() -> SubgraphRequest {
    SubgraphRequest {
        subgraph: Arc::from("products"),
        url: Arc::from("http://127.0.0.1:4100/products"),
        timeout: Duration::from_secs(1),
        max_response_bytes: 1024,
        headers: HeaderMap::new(),
        deduplicate: false,
        body: SubgraphRequestBody {
            query: Arc::from("{ topProducts { upc } }"),
            operation_name: None,
            variables: Map::new(),
            representations: None,
            extensions: Map::new(),
        },
    }
}

const APOLLO_EXAMPLE: &str = include_str!("../../../examples/rhai/apollo_claim_check.rhai");

fn rejected(flow: ControlFlow<ClientError>) -> (StatusCode, String, String) {
    match flow {
        ControlFlow::Break(ClientError::Rejected {
            status,
            code,
            message,
        }) => (status, code, message),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn apollo_claim_script_runs_unmodified() {
    let plugin = load(APOLLO_EXAMPLE).unwrap();
    let mut ok = claims_context(json!({"iss": "https://idp.local", "sub": "1"}));
    assert!(supergraph(&plugin, &mut ok, &mut body()).is_continue());

    let mut anonymous = RequestContext::new();
    let (status, code, message) = rejected(supergraph(&plugin, &mut anonymous, &mut body()));
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code, "UNAUTHENTICATED");
    assert_eq!(message, "No claims presented in this request");

    let mut no_iss = claims_context(json!({"sub": "1"}));
    let (_, _, message) = rejected(supergraph(&plugin, &mut no_iss, &mut body()));
    assert_eq!(message, "No issuer presented in this request");

    let mut wrong = claims_context(json!({"iss": "https://evil", "sub": "1"}));
    let (_, _, message) = rejected(supergraph(&plugin, &mut wrong, &mut body()));
    assert_eq!(message, "Issuer https://evil is not accepted here");
}

#[test]
fn throws_map_to_statuses_and_never_leak_internals() {
    let plugin = load(
        r#"fn supergraph_service(service) {
            service.map_request(|request| {
                let mode = request.body.operation_name;
                if mode == "coded" { throw #{ status: 403, message: "no", code: "NOT_YOURS" }; }
                if mode == "text" { throw "secret internal detail"; }
                if mode == "bad_status" { throw #{ status: 42, message: "odd" }; }
                if mode == "error" { let x = 1 / 0; }
            });
        }"#,
    )
    .unwrap();
    let run = |mode: &str| {
        let mut request = body();
        request.operation_name = Some(mode.to_owned());
        supergraph(&plugin, &mut RequestContext::new(), &mut request)
    };
    assert_eq!(
        rejected(run("coded")),
        (
            StatusCode::FORBIDDEN,
            "NOT_YOURS".to_owned(),
            "no".to_owned()
        )
    );
    for mode in ["text", "bad_status", "error"] {
        match run(mode) {
            ControlFlow::Break(ClientError::Internal) => {}
            other => panic!("{mode}: expected an internal error, got {other:?}"),
        }
    }
    assert!(run("fine").is_continue());
}

#[test]
fn runaway_scripts_are_stopped_by_the_operation_limit() {
    let dir = scripts(&[(
        "main.rhai",
        "fn supergraph_service(service) { service.map_request(|request| { loop { } }); }",
    )]);
    let plugin = RhaiPlugin::load(&config("limits: { max_operations: 10000 }"), &dir, &[]).unwrap();
    let started = std::time::Instant::now();
    let flow = supergraph(&plugin, &mut RequestContext::new(), &mut body());
    assert!(matches!(flow, ControlFlow::Break(ClientError::Internal)));
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn context_and_body_changes_are_kept() {
    let plugin = load(
        r#"fn router_service(service) {
            service.map_request(|request| {
                request.context["seen_at"] = "router";
                request.context.upsert("count", |v| if v == () { 1 } else { v + 1 });
            });
        }
        fn supergraph_service(service) {
            service.map_request(|request| {
                request.context.upsert("count", |v| v + 1);
                request.context["path"] = request.uri.path;
                request.context["agent"] = request.headers["User-Agent"];
                let ext = request.body.extensions;
                ext["from_script"] = true;
                request.body.extensions = ext;
            });
        }"#,
    )
    .unwrap();
    let mut context = RequestContext::new();
    let mut headers = HeaderMap::new();
    headers.insert("user-agent", "tests".parse().unwrap());
    let uri = Uri::from_static("http://router/graphql");
    let flow = futures::executor::block_on(plugin.router_request(RouterRequest {
        method: &Method::POST,
        uri: &uri,
        headers: &headers,
        context: &mut context,
    }));
    assert!(flow.is_continue());
    let mut request = body();
    let flow = plugin.supergraph_request(SupergraphRequest {
        method: &Method::POST,
        uri: &uri,
        headers: &headers,
        body: &mut request,
        context: &mut context,
    });
    assert!(flow.is_continue(), "{flow:?}");
    assert_eq!(context.get("seen_at"), Some(&json!("router")));
    assert_eq!(context.get("count"), Some(&json!(2)));
    assert_eq!(context.get("path"), Some(&json!("/graphql")));
    assert_eq!(context.get("agent"), Some(&json!("tests")));
    assert_eq!(request.extensions.get("from_script"), Some(&json!(true)));
}

#[test]
fn client_header_changes_reach_later_stages_only_through_scripts() {
    let plugin = load(
        r#"fn supergraph_service(service) {
            service.map_request(|request| { request.headers["x-tenant"] = "acme"; });
        }
        fn subgraph_service(service, subgraph) {
            service.map_request(|request| {
                request.subgraph.headers["x-tenant"] = request.headers["X-Tenant"];
                if request.subgraph.name == "never" { request.headers["x"] = "y"; }
            });
        }"#,
    )
    .unwrap();
    let mut context = RequestContext::new();
    assert!(supergraph(&plugin, &mut context, &mut body()).is_continue());
    let mut request = subgraph_request();
    assert!(plugin
        .subgraph_request(&context, &mut request)
        .is_continue());
    assert_eq!(request.headers["x-tenant"], "acme");

    let fails = load(
        r#"fn subgraph_service(service, subgraph) {
            service.map_request(|request| { request.headers["x"] = "y"; });
        }"#,
    )
    .unwrap();
    let flow = fails.subgraph_request(&RequestContext::new(), &mut subgraph_request());
    assert!(matches!(flow, ControlFlow::Break(ClientError::Internal)));
}

#[test]
fn subgraph_scripts_see_representations_among_the_variables_and_can_replace_them() {
    let with_representations = || {
        let mut request = subgraph_request();
        request.body.variables.insert("first".to_owned(), json!(2));
        request.body.representations = Some(
            RawJson::new(
                r#"[{"__typename":"Product","upc":"1"},{"__typename":"Product","upc":"2"}]"#
                    .to_owned(),
            )
            .unwrap(),
        );
        request
    };
    // Reading: the representations are there as a list; untouched, they
    // are sent as they were.
    let reads = load(
        r#"fn subgraph_service(service, subgraph) {
            service.map_request(|request| {
                let vars = request.subgraph.body.variables;
                request.subgraph.headers["x-count"] = `${vars.representations.len()}`;
                request.subgraph.headers["x-upc"] = vars.representations[1].upc;
                request.subgraph.headers["x-first"] = `${vars.first}`;
            });
        }"#,
    )
    .unwrap();
    let mut request = with_representations();
    assert!(reads
        .subgraph_request(&RequestContext::new(), &mut request)
        .is_continue());
    assert_eq!(request.headers["x-count"], "2");
    assert_eq!(request.headers["x-upc"], "2");
    assert_eq!(request.headers["x-first"], "2");
    assert!(request.body.representations.is_some());

    // Replacing the variables replaces the representations too.
    let writes = load(
        r#"fn subgraph_service(service, subgraph) {
            service.map_request(|request| {
                let vars = request.subgraph.body.variables;
                vars.representations = [vars.representations[0]];
                request.subgraph.body.variables = vars;
            });
        }"#,
    )
    .unwrap();
    let mut request = with_representations();
    assert!(writes
        .subgraph_request(&RequestContext::new(), &mut request)
        .is_continue());
    assert!(request.body.representations.is_none());
    let sent: Value = serde_json::from_slice(&request.body.to_json().unwrap()).unwrap();
    assert_eq!(
        sent["variables"],
        json!({"representations": [{"__typename": "Product", "upc": "1"}], "first": 2})
    );
}

#[test]
fn subgraph_hooks_set_headers_and_extensions_per_subgraph() {
    let plugin = load(
        r#"fn subgraph_service(service, subgraph) {
            service.map_request(|request| {
                let claims = request.context[JWT_CLAIMS];
                request.subgraph.headers["x-user-id"] = claims.sub;
                request.subgraph.headers["x-subgraph"] = request.subgraph.name;
                let ext = request.subgraph.body.extensions;
                ext["sha"] = sha256::digest("abc");
                request.subgraph.body.extensions = ext;
            });
        }"#,
    )
    .unwrap();
    let context = claims_context(json!({"sub": "42"}));
    let mut request = subgraph_request();
    assert!(plugin
        .subgraph_request(&context, &mut request)
        .is_continue());
    assert_eq!(request.headers["x-user-id"], "42");
    assert_eq!(request.headers["x-subgraph"], "products");
    assert_eq!(
        request.body.extensions["sha"],
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    // Another subgraph has no hook registered.
    let mut other = subgraph_request();
    other.subgraph = Arc::from("reviews");
    assert!(plugin.subgraph_request(&context, &mut other).is_continue());
    assert!(other.headers.is_empty());
}

#[test]
fn helpers_work() {
    let plugin = load(
        r#"fn supergraph_service(service) {
            service.map_request(|request| {
                let checks = [
                    json::decode(json::encode(#{a: 1}))["a"] == 1,
                    base64::decode(base64::encode("hi")) == "hi",
                    urldecode(urlencode("a b")) == "a b",
                    uuid_v4().len() == 36,
                    unix_now() > 1700000000,
                    unix_ms_now() > 1700000000000,
                    env::get("TOLLGATE_SURELY_UNSET_VARIABLE") == (),
                    Router.APOLLO_AUTHENTICATION_JWT_CLAIMS == APOLLO_AUTHENTICATION_JWT_CLAIMS,
                ];
                log_info("helpers checked");
                if !checks.all(|c| c) { throw #{ status: 400, message: `${checks}` }; }
            });
        }"#,
    )
    .unwrap();
    let flow = supergraph(&plugin, &mut RequestContext::new(), &mut body());
    assert!(flow.is_continue(), "{flow:?}");
}

#[test]
fn load_errors_name_the_file_and_line() {
    let Err(RhaiError::Compile { path, message }) =
        load("fn supergraph_service(service) {\n  let x = ;\n}")
    else {
        panic!("expected a compile error");
    };
    assert!(path.ends_with("main.rhai"), "{path}");
    assert!(message.contains("line 2"), "{message}");

    let dir = std::env::temp_dir().join("tollgate-rhai-missing");
    assert!(matches!(
        RhaiPlugin::load(&config("{}"), &dir, &[]),
        Err(RhaiError::Read { .. })
    ));
    // A hook that fails while registering stops the start, named.
    let Err(RhaiError::Hook { hook, .. }) =
        load("fn supergraph_service(service) { service.map_request(42); }")
    else {
        panic!("a failing hook is refused at start");
    };
    assert_eq!(hook, "supergraph_service");
}

#[test]
fn imports_stay_in_the_scripts_folder() {
    let dir = scripts(&[
        ("main.rhai", "import \"util\" as util;\nfn supergraph_service(service) { service.map_request(|request| { request.context[\"v\"] = util::value(); }); }"),
        ("util.rhai", "fn value() { 7 }"),
    ]);
    let plugin = RhaiPlugin::load(&config("{}"), &dir, &[]).unwrap();
    let mut context = RequestContext::new();
    assert!(supergraph(&plugin, &mut context, &mut body()).is_continue());
    assert_eq!(context.get("v"), Some(&json!(7)));

    let escape = scripts(&[(
        "main.rhai",
        "import \"../outside\" as o;\nfn supergraph_service(service) {}",
    )]);
    std::fs::write(escape.join("outside.rhai"), "fn value() { 1 }").unwrap();
    assert!(RhaiPlugin::load(&config("{}"), &escape, &[]).is_err());
}

#[test]
fn shipped_examples_load_and_run() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let plugin = RhaiPlugin::load(
        &config("scripts: examples/rhai"),
        &root,
        &["products".to_owned()],
    )
    .unwrap();
    let mut context =
        claims_context(json!({"iss": "https://idp.local", "sub": "5", "scope": "read"}));
    assert!(supergraph(&plugin, &mut context, &mut body()).is_continue());
    assert_eq!(context.get("caller"), Some(&json!("5")));
    let mut request = subgraph_request();
    assert!(plugin
        .subgraph_request(&context, &mut request)
        .is_continue());
    assert_eq!(request.headers["x-user-id"], "5");
    assert_eq!(request.headers["x-user-scopes"], "read");
    assert_eq!(request.body.extensions["issuer"], "https://idp.local");

    let mut wrong = claims_context(json!({"iss": "https://other", "sub": "5"}));
    let (status, _, message) = rejected(supergraph(&plugin, &mut wrong, &mut body()));
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(message, "Issuer https://other is not accepted here");
}

#[test]
fn response_hooks_change_status_headers_and_body() {
    use tollgate_core::plugin::SupergraphResponse;
    use tollgate_core::response::GraphqlResponse;
    let plugin = load(
        r#"fn supergraph_service(service) {
            service.map_response(|response| {
                response.headers["x-served-by"] = "tollgate";
                let data = response.body.data;
                data["extra"] = response.context["user"];
                response.body.data = data;
                if response.context["user"] == "blocked" { response.status_code = 451; }
            });
        }
        fn router_service(service) {
            service.map_response(|response| { response.headers["x-order"] = response.headers["x-served-by"] + "+router"; });
        }
        fn subgraph_service(service, subgraph) {
            service.map_response(|response| {
                let data = response.body.data;
                data["patched"] = subgraph;
                response.body.data = data;
                response.headers["x-sub"] = "1";
            });
        }"#,
    )
    .unwrap();
    for (user, expected_status) in [("ada", 200), ("blocked", 451)] {
        let mut context = RequestContext::new();
        context.insert("user", json!(user));
        let mut status = StatusCode::OK;
        let mut headers = HeaderMap::new();
        let mut body = GraphqlResponse {
            data: Some(json!({"a": 1})),
            ..GraphqlResponse::default()
        };
        let flow = plugin.supergraph_response(SupergraphResponse {
            status: &mut status,
            headers: &mut headers,
            body: &mut body,
            context: &mut context,
        });
        assert!(flow.is_continue(), "{flow:?}");
        assert_eq!(status.as_u16(), expected_status);
        assert_eq!(headers["x-served-by"], "tollgate");
        assert_eq!(headers["x-order"], "tollgate+router");
        assert_eq!(body.data, Some(json!({"a": 1, "extra": user})));
    }

    let mut response = tollgate_core::subgraph::SubgraphResponse {
        status: StatusCode::OK,
        headers: HeaderMap::new(),
        body: bytes::Bytes::from_static(br#"{"data":{"x":1}}"#),
        parsed: Default::default(),
    };
    let flow = plugin.subgraph_response(&RequestContext::new(), "products", &mut response);
    assert!(flow.is_continue(), "{flow:?}");
    let body: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(body, json!({"data": {"x": 1, "patched": "products"}}));
    assert_eq!(response.headers["x-sub"], "1");
}

#[test]
fn the_execution_stage_reads_the_planned_request() {
    use tollgate_core::plugin::ExecutionRequest;
    let plugin = load(
        r#"fn execution_service(service) {
            service.map_request(|request| {
                request.context["op"] = request.body.query;
                if request.body.operation_name == "change" { request.body.query = "{ x }"; }
            });
        }"#,
    )
    .unwrap();
    let headers = HeaderMap::new();
    let uri = Uri::from_static("http://router/graphql");
    let run = |operation: Option<&str>, context: &mut RequestContext| {
        let mut request = body();
        request.operation_name = operation.map(str::to_owned);
        plugin.execution_request(ExecutionRequest {
            method: &Method::POST,
            uri: &uri,
            headers: &headers,
            body: &request,
            context,
        })
    };
    let mut context = RequestContext::new();
    assert!(run(None, &mut context).is_continue());
    assert_eq!(context.get("op"), Some(&json!("{ topProducts { upc } }")));
    // Too late to change the query: the request fails instead of being
    // silently run unchanged.
    assert!(matches!(
        run(Some("change"), &mut RequestContext::new()),
        ControlFlow::Break(ClientError::Internal)
    ));
}

#[test]
fn callbacks_can_be_named_functions() {
    let plugin = load(
        r#"fn process_request(request) { request.context["named"] = true; }
        fn supergraph_service(service) {
            service.map_request(Fn("process_request"));
        }"#,
    )
    .unwrap();
    let mut context = RequestContext::new();
    assert!(supergraph(&plugin, &mut context, &mut body()).is_continue());
    assert_eq!(context.get("named"), Some(&json!(true)));
}

#[test]
fn the_context_reads_converted_entries_and_its_own_writes() {
    // Values are converted when read; what a script wrote is what it reads
    // back, `contains` sees both, and the Apollo key reads Tollgate's claims.
    let plugin = load(
        r#"fn supergraph_service(service) {
            service.map_request(|request| {
                let c = request.context;
                if c["absent"] != () { throw "absent key read as a value"; }
                if c.contains("absent") { throw "contains an absent key"; }
                if !c.contains(JWT_CLAIMS) { throw "claims missing"; }
                if !c.contains(APOLLO_AUTHENTICATION_JWT_CLAIMS) { throw "Apollo key missing"; }
                let sub = c[APOLLO_AUTHENTICATION_JWT_CLAIMS].sub;
                c["copy"] = sub + "!";
                if c["copy"] != "42!" { throw "own write not read back"; }
                if !c.contains("copy") { throw "own write not contained"; }
                let claims = c[JWT_CLAIMS];
                claims.sub = "changed locally";
                if c[JWT_CLAIMS].sub != "42" { throw "a read value is not a copy"; }
                c["text"] = c.to_string();
            });
        }"#,
    )
    .unwrap();
    let mut context = claims_context(json!({"sub": "42", "scope": "a b"}));
    let mut request = body();
    let flow = supergraph(&plugin, &mut context, &mut request);
    assert!(flow.is_continue(), "{flow:?}");
    assert_eq!(context.get("copy"), Some(&json!("42!")));
    assert_eq!(
        context.get(JWT_CLAIMS_KEY),
        Some(&json!({"sub": "42", "scope": "a b"}))
    );
    let text = context
        .get("text")
        .and_then(Value::as_str)
        .unwrap()
        .to_owned();
    assert!(text.contains("copy") && text.contains("42!"), "{text}");
    assert!(
        text.contains(JWT_CLAIMS_KEY) && text.contains("a b"),
        "{text}"
    );
}

#[test]
fn a_subgraph_hook_that_changes_nothing_sends_the_request_as_it_was() {
    // The hook call moves the headers and body parts into the script's
    // state; every one of them must come back.
    let plugin = load(
        r#"fn subgraph_service(service, subgraph) {
            service.map_request(|request| {
                let claims = request.context[JWT_CLAIMS];
                let seen = request.subgraph.headers["x-kept"];
                if seen != "yes" { throw "header not visible"; }
            });
        }"#,
    )
    .unwrap();
    let make = || {
        let mut request = subgraph_request();
        request.headers.insert("x-kept", "yes".parse().unwrap());
        request.body.operation_name = Some(Arc::from("Op"));
        request.body.variables.insert("first".to_owned(), json!(2));
        request
            .body
            .extensions
            .insert("ext".to_owned(), json!({"k": 1}));
        request.body.representations =
            Some(RawJson::new(r#"[{"__typename":"Product","upc":"1"}]"#.to_owned()).unwrap());
        request
    };
    let mut request = make();
    let context = claims_context(json!({"sub": "42"}));
    let flow = plugin.subgraph_request(&context, &mut request);
    assert!(flow.is_continue(), "{flow:?}");
    let expected = make();
    assert_eq!(request.headers, expected.headers);
    assert_eq!(
        request.body.to_json().unwrap(),
        expected.body.to_json().unwrap()
    );
    assert_eq!(request.body.representations, expected.body.representations);
}
