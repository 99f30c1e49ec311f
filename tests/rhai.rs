//! Rhai scripts end to end: the real router with the JWT and Rhai plugins
//! against the demo subgraphs (and a recording subgraph for headers), over
//! loopback HTTP.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use serde_json::json;
use tollgate_e2e::{recording_subgraph, temp_file, workspace_root, TestEnv};

/// The claim-checking script from Apollo Router's documentation, verbatim.
const APOLLO_EXAMPLE: &str = include_str!("../examples/rhai/apollo_claim_check.rhai");

fn token(iss: &str, sub: &str) -> String {
    tollgate_e2e::dev_token(&json!({"sub": sub, "iss": iss, "scope": "read"}))
}

/// Writes `main.rhai` to a fresh folder and returns the `rhai:` and `jwt:` config.
fn config(main: &str, forward: bool) -> String {
    let path = temp_file("main.rhai", main);
    format!(
        "jwt:\n  jwks_providers:\n    - source: file\n      path: dev/dev-jwks.json\n  forward_claims_to_upstream_extensions:\n    enabled: {forward}\nrhai:\n  scripts: {}\n  limits: {{ max_operations: 20000 }}\n",
        path.parent().unwrap().display()
    )
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn apollos_claim_script_runs_unmodified() {
    let env = TestEnv::start(&config(APOLLO_EXAMPLE, true)).await;
    let query = json!({"query": "{ me { name } }"});

    let before = env.demo.requests();
    let response = env.post(query.clone()).await;
    assert_eq!(response.status, 401, "{}", response.text);
    assert_eq!(
        response.body["errors"][0]["message"],
        "No claims presented in this request"
    );
    assert_eq!(response.code(), Some("UNAUTHENTICATED"));
    assert_eq!(env.demo.requests(), before, "refused before any subgraph");

    let wrong = bearer(&token("https://elsewhere", "1"));
    let response = env
        .post_with(query.clone(), &[("authorization", &wrong)])
        .await;
    assert_eq!(response.status, 401);
    assert_eq!(
        response.body["errors"][0]["message"],
        "Issuer https://elsewhere is not accepted here"
    );

    let good = bearer(&token("https://idp.local", "3"));
    let response = env.post_with(query, &[("authorization", &good)]).await;
    assert_eq!(
        response.body,
        json!({"data": {"me": {"name": "Grace Hopper"}}})
    );
}

#[tokio::test]
async fn context_from_one_stage_reaches_subgraphs_through_a_later_one() {
    // Claim forwarding is off: the script itself sends the user to the
    // subgraphs, from a value the supergraph stage put in the context.
    let script = r#"
        fn supergraph_service(service) {
            service.map_request(|request| {
                let claims = request.context[JWT_CLAIMS];
                request.context["user"] = if claims == () { "2" } else { claims.sub };
            });
        }
        fn subgraph_service(service, subgraph) {
            service.map_request(|request| {
                let ext = request.subgraph.body.extensions;
                ext["jwt"] = #{ sub: request.context["user"] };
                request.subgraph.body.extensions = ext;
            });
        }
    "#;
    let env = TestEnv::start(&config(script, false)).await;
    let response = env.post(json!({"query": "{ me { name } }"})).await;
    assert_eq!(
        response.body,
        json!({"data": {"me": {"name": "Alan Turing"}}})
    );
    let auth = bearer(&token("https://idp.local", "4"));
    let response = env
        .post_with(
            json!({"query": "{ me { name } }"}),
            &[("authorization", &auth)],
        )
        .await;
    assert_eq!(
        response.body,
        json!({"data": {"me": {"name": "Edsger Dijkstra"}}})
    );
}

#[tokio::test]
async fn subgraphs_see_headers_set_by_scripts() {
    let (addr, log) = recording_subgraph(json!({"data": {"topProducts": []}})).await;
    let script = r#"
        fn subgraph_service(service, subgraph) {
            service.map_request(|request| {
                let claims = request.context[JWT_CLAIMS];
                if claims != () {
                    request.subgraph.headers["x-user-id"] = claims.sub;
                    request.subgraph.headers["x-scope"] = claims.scope;
                }
                request.subgraph.headers["x-client-agent"] = request.headers["user-agent"];
            });
        }
    "#;
    let demo = tollgate_demo::spawn("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let yaml = format!(
        "supergraph:\n  path: schemas/supergraph.graphql\nsubgraphs:\n  products:\n    url: http://{addr}/products\n{}",
        config(script, false)
    );
    let env = TestEnv::start_yaml(demo, &yaml).await;
    let auth = bearer(&token("https://idp.local", "7"));
    let response = env
        .post_with(
            json!({"query": "{ topProducts { upc } }"}),
            &[("authorization", &auth), ("user-agent", "rhai-test")],
        )
        .await;
    assert_eq!(
        response.body,
        json!({"data": {"topProducts": []}}),
        "{}",
        response.text
    );
    let recorded = log.lock().unwrap().clone();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].headers["x-user-id"], "7");
    assert_eq!(recorded[0].headers["x-scope"], "read");
    assert_eq!(recorded[0].headers["x-client-agent"], "rhai-test");
}

#[tokio::test]
async fn throws_at_each_stage_and_failures_stay_client_safe() {
    let script = r#"
        fn router_service(service) {
            service.map_request(|request| {
                if request.headers["x-fail"] == "router" { throw #{ status: 403, message: "router says no" }; }
            });
        }
        fn supergraph_service(service) {
            service.map_request(|request| {
                let fail = request.headers["x-fail"];
                if fail == "supergraph" { throw #{ status: 429, message: "slow down", code: "RATE_LIMITED" }; }
                if fail == "runtime" { let boom = 1 / 0; }
                if fail == "text" { throw "internal secret 1234"; }
                if fail == "loop" { loop { } }
            });
        }
        fn execution_service(service) {
            service.map_request(|request| {
                if request.headers["x-fail"] == "execution" { throw #{ status: 401, message: "execution says no" }; }
            });
        }
        fn subgraph_service(service, subgraph) {
            service.map_request(|request| {
                if request.headers["x-fail"] == "subgraph" { throw #{ status: 400, message: `no ${subgraph}` }; }
            });
        }
    "#;
    let env = TestEnv::start(&config(script, false)).await;
    let query = json!({"query": "{ topProducts { upc } }"});
    let cases = [
        ("router", 403, "router says no", "FORBIDDEN"),
        ("supergraph", 429, "slow down", "RATE_LIMITED"),
        ("execution", 401, "execution says no", "UNAUTHENTICATED"),
        ("subgraph", 400, "no products", "BAD_REQUEST"),
    ];
    for (stage, status, message, code) in cases {
        let response = env.post_with(query.clone(), &[("x-fail", stage)]).await;
        assert_eq!(response.status, status, "{stage}: {}", response.text);
        assert_eq!(response.body["errors"][0]["message"], message, "{stage}");
        assert_eq!(response.code(), Some(code), "{stage}");
    }
    for failure in ["runtime", "text", "loop"] {
        let response = env.post_with(query.clone(), &[("x-fail", failure)]).await;
        assert_eq!(response.status, 500, "{failure}: {}", response.text);
        assert_eq!(response.code(), Some("INTERNAL_SERVER_ERROR"));
        assert!(!response.text.contains("secret"), "{}", response.text);
        assert!(!response.text.contains("rhai"), "{}", response.text);
    }
    // The router still serves other requests.
    let response = env.post(query).await;
    assert_eq!(response.status, 200);
    assert!(response.body["data"]["topProducts"].is_array());
}

#[tokio::test]
async fn a_script_that_does_not_compile_stops_the_router_at_start() {
    let path = temp_file(
        "main.rhai",
        "fn supergraph_service(service) {\n  let = 1;\n}\n",
    );
    let yaml = format!(
        "supergraph:\n  path: schemas/supergraph.graphql\nrhai:\n  scripts: {}\n",
        path.parent().unwrap().display()
    );
    let parsed = tollgate::config::parse(&yaml, &|_| None).unwrap();
    let loaded = tollgate::config::LoadedConfig {
        config: parsed,
        base_dir: workspace_root(),
        path: workspace_root().join("router.yaml"),
    };
    let error = match tollgate::server::build(&loaded).await {
        Ok(_) => panic!("the router must not start"),
        Err(error) => error.to_string(),
    };
    assert!(error.contains("main.rhai"), "{error}");
    assert!(error.contains("line 2"), "{error}");
}

#[tokio::test]
async fn response_hooks_reach_the_client() {
    let script = r#"
        fn supergraph_service(service) {
            service.map_request(|request| { request.context["trace"] = "t-1"; });
            service.map_response(|response| {
                response.headers["x-trace"] = response.context["trace"];
            });
        }
        fn subgraph_service(service, subgraph) {
            if subgraph == "products" {
                service.map_response(|response| {
                    let data = response.body.data;
                    data.topProducts[0].name = "Patched";
                    response.body.data = data;
                });
            }
        }
    "#;
    let env = TestEnv::start(&config(script, false)).await;
    let response = env
        .post(json!({"query": "{ topProducts(first: 2) { name } }"}))
        .await;
    assert_eq!(response.headers["x-trace"], "t-1");
    assert_eq!(
        response.body,
        json!({"data": {"topProducts": [{"name": "Patched"}, {"name": "Couch"}]}})
    );
}
