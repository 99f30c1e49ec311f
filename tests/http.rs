//! GraphQL over HTTP, end to end: the real router app against the real demo
//! subgraphs over loopback HTTP.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use serde_json::{json, Value};
use tollgate_e2e::TestEnv;

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

#[tokio::test]
async fn single_subgraph_query_is_answered_by_its_subgraph() {
    let env = TestEnv::start("").await;
    let response = env
        .post(json!({"query": "query Top($n: Int!) { topProducts(first: $n) { upc name price ...W } } fragment W on Product { weight }", "variables": {"n": 2}}))
        .await;
    assert_eq!(response.status, 200);
    assert!(response.content_type().starts_with("application/json"));
    assert_eq!(
        response.body,
        json!({"data": {"topProducts": [
            {"upc": "1", "name": "Table", "price": 899, "weight": 100},
            {"upc": "2", "name": "Couch", "price": 1299, "weight": 1000}
        ]}})
    );
}

#[tokio::test]
async fn default_argument_values_and_skip_include_pass_through() {
    let env = TestEnv::start("").await;
    let response = env
        .post(json!({
            "query": "query($skip: Boolean!) { topProducts { upc name @skip(if: $skip) price @include(if: $skip) } }",
            "variables": {"skip": true}
        }))
        .await;
    let products = response.body["data"]["topProducts"].as_array().unwrap();
    assert_eq!(products.len(), 4, "default first: 5 over 4 products");
    assert_eq!(products[0], json!({"upc": "1", "price": 899}));
}

#[tokio::test]
async fn get_queries_work_and_mutations_over_get_are_refused() {
    let env = TestEnv::start("").await;
    let response = env
        .send(
            env.client
                .get(env.url())
                .header("apollo-require-preflight", "true")
                .query(&[("query", "{ users { id } }")]),
        )
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.body["data"]["users"].as_array().unwrap().len(), 4);

    let response = env
        .send(env.client.get(env.url()).header("x-apollo-operation-name", "M").query(&[(
            "query",
            "mutation { createProduct(upc: \"9\", name: \"x\", price: 1, weight: 1) { upc } }",
        )]))
        .await;
    assert_eq!(response.status, 405);
    assert_eq!(response.headers["allow"], "POST");
    assert_eq!(response.code(), Some("METHOD_NOT_ALLOWED"));
    // The mutation never ran.
    let check = env
        .post(json!({"query": "{ product(upc: \"9\") { upc } }"}))
        .await;
    assert_eq!(check.body, json!({"data": {"product": null}}));
}

#[tokio::test]
async fn mutations_over_post_run() {
    let env = TestEnv::start("").await;
    let response = env
        .post(json!({"query": "mutation { createProduct(upc: \"7\", name: \"Shelf\", price: 20, weight: 30) { upc name } }"}))
        .await;
    assert_eq!(
        response.body,
        json!({"data": {"createProduct": {"upc": "7", "name": "Shelf"}}})
    );
    let check = env
        .post(json!({"query": "{ product(upc: \"7\") { name } }"}))
        .await;
    assert_eq!(check.body, json!({"data": {"product": {"name": "Shelf"}}}));
}

#[tokio::test]
async fn parse_errors_follow_the_media_type() {
    let env = TestEnv::start("").await;
    let legacy = env.post(json!({"query": "{ topProducts { "})).await;
    assert_eq!(legacy.status, 200);
    assert_eq!(legacy.code(), Some("GRAPHQL_PARSE_FAILED"));
    assert!(
        legacy.body.get("data").is_none(),
        "request errors have no data key"
    );
    assert!(legacy.body["errors"][0]["locations"][0]["line"].is_number());

    let modern = env
        .post_with(
            json!({"query": "{ topProducts { "}),
            &[("accept", GRAPHQL_RESPONSE_JSON)],
        )
        .await;
    assert_eq!(modern.status, 400);
    assert!(modern.content_type().starts_with(GRAPHQL_RESPONSE_JSON));
    assert_eq!(modern.code(), Some("GRAPHQL_PARSE_FAILED"));
}

#[tokio::test]
async fn validation_errors_and_unknown_fields() {
    let env = TestEnv::start("").await;
    let response = env
        .post_with(
            json!({"query": "{ topProducts { nope } }"}),
            &[("accept", GRAPHQL_RESPONSE_JSON)],
        )
        .await;
    assert_eq!(response.status, 400);
    assert_eq!(response.code(), Some("GRAPHQL_VALIDATION_FAILED"));
    assert!(
        response.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["message"].as_str().unwrap().contains("nope")),
        "{}",
        response.text
    );

    // A rule beyond field existence: unused fragment, undefined variable.
    let response = env
        .post(json!({"query": "query { product(upc: $u) { upc } } fragment F on Product { upc }"}))
        .await;
    assert_eq!(response.code(), Some("GRAPHQL_VALIDATION_FAILED"));
    assert!(response.body["errors"].as_array().unwrap().len() >= 2);
}

#[tokio::test]
async fn operation_name_and_variables_errors() {
    let env = TestEnv::start("").await;
    let two = "query A { users { id } } query B { users { name } }";
    let response = env.post(json!({"query": two})).await;
    assert_eq!(response.code(), Some("GRAPHQL_UNKNOWN_OPERATION_NAME"));
    let response = env.post(json!({"query": two, "operationName": "C"})).await;
    assert_eq!(response.code(), Some("GRAPHQL_UNKNOWN_OPERATION_NAME"));
    let response = env.post(json!({"query": two, "operationName": "B"})).await;
    assert_eq!(
        response.body["data"]["users"][0],
        json!({"name": "Ada Lovelace"})
    );

    let response = env
        .post_with(
            json!({"query": "query($n: Int!) { topProducts(first: $n) { upc } }", "variables": {"n": "two"}}),
            &[("accept", GRAPHQL_RESPONSE_JSON)],
        )
        .await;
    assert_eq!(response.status, 400);
    assert_eq!(response.code(), Some("BAD_USER_INPUT"));
    let response = env
        .post(json!({"query": "query($n: Int!) { topProducts(first: $n) { upc } }"}))
        .await;
    assert_eq!(response.code(), Some("BAD_USER_INPUT"));
}

#[tokio::test]
async fn malformed_bodies_are_400() {
    let env = TestEnv::start("").await;
    for (body, needle) in [
        ("{not json", "not valid JSON"),
        ("{}", "no `query`"),
        (r#"{"query": 5}"#, "`query` must be a string"),
        (
            r#"{"query": "{ users { id } }", "variables": "x"}"#,
            "`variables`",
        ),
    ] {
        let response = env
            .send(
                env.client
                    .post(env.url())
                    .header("content-type", "application/json")
                    .body(body),
            )
            .await;
        assert_eq!(response.status, 400, "{body}");
        assert_eq!(response.code(), Some("INVALID_GRAPHQL_REQUEST"), "{body}");
        let message = response.body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{body}: {message}");
    }
}

#[tokio::test]
async fn oversized_bodies_wrong_content_types_and_accept() {
    let env = TestEnv::start("http:\n  max_body_bytes: 1000\n").await;
    let big = json!({"query": format!("{{ users {{ id }} }} # {}", "x".repeat(2000))});
    let response = env.post(big).await;
    assert_eq!(response.status, 413);
    assert_eq!(response.code(), Some("PAYLOAD_TOO_LARGE"));

    // Without Content-Length (chunked), the limit still holds.
    let chunks: Vec<Result<String, std::io::Error>> =
        (0..20).map(|_| Ok("x".repeat(100))).collect();
    let response = env
        .send(
            env.client
                .post(env.url())
                .header("content-type", "application/json")
                .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks))),
        )
        .await;
    assert_eq!(response.status, 413);

    let response = env
        .send(
            env.client
                .post(env.url())
                .header("content-type", "text/plain")
                .body(r#"{"query":"{ users { id } }"}"#),
        )
        .await;
    assert_eq!(response.status, 415);
    assert_eq!(response.code(), Some("UNSUPPORTED_MEDIA_TYPE"));

    let response = env
        .post_with(
            json!({"query": "{ users { id } }"}),
            &[("accept", "text/html")],
        )
        .await;
    assert_eq!(response.status, 406);
    assert_eq!(response.code(), Some("NOT_ACCEPTABLE"));

    let response = env.send(env.client.put(env.url())).await;
    assert_eq!(response.status, 405);
}

#[tokio::test]
async fn health_answers_ok() {
    let env = TestEnv::start("").await;
    let response = env
        .send(env.client.get(format!("{}/health", env.base())))
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.body, json!({"status": "ok"}));
}

#[tokio::test]
async fn introspection_is_answered_by_the_router_on_the_api_schema() {
    let env = TestEnv::start("").await;
    let response = env
        .post(json!({"query": "{ __schema { queryType { name } types { name } } __type(name: \"Product\") { fields { name } } }"}))
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.body["data"]["__schema"]["queryType"]["name"],
        "Query"
    );
    let types: Vec<&str> = response.body["data"]["__schema"]["types"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(types.contains(&"Product"));
    assert!(
        !types
            .iter()
            .any(|t| t.starts_with("join__") || t.starts_with("link__")),
        "{types:?}"
    );
    let fields: Vec<&str> = response.body["data"]["__type"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert!(fields.contains(&"shippingEstimate") && fields.contains(&"reviews"));

    // Mixed: introspection answered locally, concrete fields by the subgraph.
    let response = env
        .post(json!({"query": "{ __typename users { id } }"}))
        .await;
    assert_eq!(response.body["data"]["__typename"], "Query");
    assert_eq!(response.body["data"]["users"][0]["id"], "1");
}

#[tokio::test]
async fn unreachable_subgraph_gives_a_clear_field_error() {
    let demo = tollgate_demo::spawn("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/products", closed.local_addr().unwrap());
    drop(closed);
    let yaml = format!(
        "supergraph:\n  path: schemas/supergraph.graphql\nsubgraphs:\n  products:\n    url: {dead}\n    timeout: 2s\n"
    );
    let env = TestEnv::start_yaml(demo, &yaml).await;
    let response = env.post(json!({"query": "{ topProducts { upc } }"})).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.body["data"], Value::Null);
    assert_eq!(response.code(), Some("SUBREQUEST_HTTP_ERROR"));
    assert_eq!(
        response.body["errors"][0]["extensions"]["serviceName"],
        "products"
    );
    assert!(
        !response.text.contains("127.0.0.1"),
        "no internal address leaks: {}",
        response.text
    );
}

#[tokio::test]
async fn plans_are_cached() {
    let env = TestEnv::start("").await;
    let query = json!({"query": "{ users { id } }"});
    env.post(query.clone()).await;
    env.post(query).await;
    assert_eq!(env.router.runtime().load().cached_plans(), 1);
}

#[tokio::test]
async fn without_an_exporter_trace_context_passes_through() {
    let (addr, log) = tollgate_e2e::recording_subgraph(json!({"data": {"topProducts": []}})).await;
    let demo = tollgate_demo::spawn("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let yaml = format!(
        "supergraph:\n  path: schemas/supergraph.graphql\nsubgraphs:\n  products:\n    url: http://{addr}/products\n"
    );
    let env = TestEnv::start_yaml(demo, &yaml).await;
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    env.post_with(
        json!({"query": "{ topProducts { upc } }"}),
        &[("traceparent", traceparent), ("tracestate", "vendor=1")],
    )
    .await;
    let recorded = log.lock().unwrap().clone();
    assert_eq!(recorded[0].headers["traceparent"], traceparent);
    assert_eq!(recorded[0].headers["tracestate"], "vendor=1");
}

#[tokio::test]
async fn header_rules_shape_what_subgraphs_receive() {
    let (addr, log) = tollgate_e2e::recording_subgraph(json!({"data": {"topProducts": []}})).await;
    let demo = tollgate_demo::spawn("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let yaml = format!(
        r#"supergraph:
  path: schemas/supergraph.graphql
subgraphs:
  products:
    url: http://{addr}/products
headers:
  all:
    request:
      - propagate: {{ named: x-tenant }}
      - propagate: {{ matching: "^x-trace-" }}
      - propagate: {{ named: x-region, rename: x-zone, default: eu }}
  subgraphs:
    products:
      request:
        - insert: {{ name: x-source, value: tollgate }}
        - remove: {{ named: x-trace-secret }}
"#
    );
    let env = TestEnv::start_yaml(demo, &yaml).await;
    let response = env
        .post_with(
            json!({"query": "{ topProducts { upc } }"}),
            &[
                ("x-tenant", "acme"),
                ("x-trace-id", "t-1"),
                ("x-trace-secret", "s"),
                ("authorization", "Bearer not-forwarded"),
                ("cookie", "session=1"),
            ],
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text);
    let recorded = log.lock().unwrap().clone();
    let headers = &recorded[0].headers;
    assert_eq!(headers["x-tenant"], "acme");
    assert_eq!(headers["x-trace-id"], "t-1");
    assert_eq!(headers["x-zone"], "eu");
    assert_eq!(headers["x-source"], "tollgate");
    assert!(headers.get("x-trace-secret").is_none());
    assert!(headers.get("authorization").is_none());
    assert!(headers.get("cookie").is_none());
}

#[tokio::test]
async fn ready_without_required_authentication() {
    let env = TestEnv::start("").await;
    let response = env
        .send(env.client.get(format!("{}/ready", env.base())))
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.body, json!({"status": "ready"}));
}

#[tokio::test]
async fn browsers_get_a_landing_page() {
    let env = TestEnv::start("").await;
    let response = env
        .send(
            env.client
                .get(env.url())
                .header("accept", "text/html,application/xhtml+xml;q=0.9"),
        )
        .await;
    assert_eq!(response.status, 200);
    assert!(response.content_type().starts_with("text/html"));
    assert!(
        response.text.contains("GraphQL endpoint"),
        "{}",
        response.text
    );
    assert!(!response.text.contains("<script"), "no scripts needed");
    // A GET with a query is still GraphQL, whatever the Accept says.
    let response = env
        .send(
            env.client
                .get(env.url())
                .header("accept", "text/html")
                .query(&[("query", "{ __typename }")]),
        )
        .await;
    assert_eq!(response.status, 406, "{}", response.text);
}

#[tokio::test]
async fn a_large_response_arrives_whole_with_its_content_length() {
    // 2,000 products with 60-byte names: ~150 KB of data, which the router
    // sends as chunks of their own (response.rs, `into_json_chunks`).
    let products: Vec<Value> = (0..2000)
        .map(|i| json!({"upc": i.to_string(), "name": format!("{i:0>60}")}))
        .collect();
    let fake = tollgate_e2e::fake::FakeSubgraph::start(tollgate_e2e::fake::Behaviour::Json(
        json!({"data": {"topProducts": products}}),
    ))
    .await;
    let env = TestEnv::start_with_subgraph("products", &fake.url(), &[], "").await;
    let response = env
        .post(json!({"query": "{ topProducts(first: 2000) { upc name } }"}))
        .await;
    assert_eq!(response.status, 200, "{}", response.text);
    let length: usize = response.headers["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(length, response.text.len());
    assert!(length > 100_000, "{length}");
    assert!(response.headers.get("transfer-encoding").is_none());
    assert_eq!(response.body, json!({"data": {"topProducts": products}}));
}
