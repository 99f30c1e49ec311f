//! Limits, end to end: every exceeded limit is answered with a GraphQL error
//! carrying its stable code (never a panic or a hang), and operations just
//! under a limit still run.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use serde_json::json;
use tollgate_e2e::fake::{Behaviour, FakeSubgraph};
use tollgate_e2e::TestEnv;

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

#[tokio::test]
async fn document_size_and_parser_limits_are_parse_errors() {
    let env = TestEnv::start("limits:\n  max_query_bytes: 200\n  max_parser_depth: 8\n").await;
    let long = format!("{{ users {{ id }} }} # {}", "x".repeat(300));
    let response = env
        .post_with(
            json!({ "query": long }),
            &[("accept", GRAPHQL_RESPONSE_JSON)],
        )
        .await;
    assert_eq!(response.status, 400);
    assert_eq!(response.code(), Some("GRAPHQL_PARSE_FAILED"));
    assert!(
        response.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("over the limit of 200 bytes"),
        "{}",
        response.text
    );

    // Nested input values past the parser's recursion limit.
    let nested = format!(
        "{{ product(upc: {}\"1\"{}) {{ upc }} }}",
        "[".repeat(20),
        "]".repeat(20)
    );
    let response = env.post(json!({ "query": nested })).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.code(), Some("GRAPHQL_PARSE_FAILED"));

    let ok = env.post(json!({"query": "{ users { id } }"})).await;
    assert_eq!(ok.body["data"]["users"][0]["id"], "1");
}

#[tokio::test]
async fn depth_aliases_and_root_fields_are_limited_after_fragments_expand() {
    let env =
        TestEnv::start("limits:\n  max_depth: 4\n  max_aliases: 2\n  max_root_fields: 3\n").await;
    // Depth 4 passes; the fragment brings the fifth level.
    let at_limit = "{ users { reviews { product { upc } } } }";
    let response = env.post(json!({ "query": at_limit })).await;
    assert!(response.body["errors"].is_null(), "{}", response.text);
    let deep =
        "{ users { reviews { product { ...P } } } } fragment P on Product { reviews { id } }";
    let response = env
        .post_with(
            json!({ "query": deep }),
            &[("accept", GRAPHQL_RESPONSE_JSON)],
        )
        .await;
    assert_eq!(response.status, 400);
    assert_eq!(response.code(), Some("MAX_DEPTH_EXCEEDED"));
    assert!(response.body.get("data").is_none(), "{}", response.text);
    assert!(response.body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("depth of 5, over the limit of 4"));

    // Two aliases pass; a fragment spread twice counts its alias twice.
    let response = env
        .post(json!({"query": "{ a: users { id } b: users { id } }"}))
        .await;
    assert!(response.body["errors"].is_null(), "{}", response.text);
    let response = env
        .post(json!({"query": "{ a: users { ...U } users { ...U } } fragment U on User { x: id }"}))
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.code(), Some("MAX_ALIASES_EXCEEDED"));

    let response = env
        .post(json!({"query": "{ users { id } topProducts { upc } ...Q } fragment Q on Query { me { id } __typename }"}))
        .await;
    assert_eq!(response.code(), Some("MAX_ROOT_FIELDS_EXCEEDED"));
}

#[tokio::test]
async fn default_limits_refuse_a_hostile_operation_but_not_a_deep_real_one() {
    let env = TestEnv::start("").await;
    let real =
        "{ users { reviews { product { reviews { author { reviews { product { name } } } } } } } }";
    let response = env.post(json!({ "query": real })).await;
    assert!(response.body["errors"].is_null(), "{}", response.text);
    let hostile: String = (0..200).map(|i| format!("a{i}: users {{ id }} ")).collect();
    let response = env
        .post(json!({ "query": format!("{{ {hostile} }}") }))
        .await;
    assert_eq!(response.code(), Some("MAX_ROOT_FIELDS_EXCEEDED"));
}

#[tokio::test]
async fn a_request_over_the_global_timeout_gets_504() {
    let fake = FakeSubgraph::start(Behaviour::Hang).await;
    // The subgraph's own timeout is far away: the request timeout ends it.
    let env = TestEnv::start_with_subgraph(
        "products",
        &fake.url(),
        &["timeout: 60s"],
        "http:\n  request_timeout: 300ms\n",
    )
    .await;
    let response = env
        .post_with(
            json!({"query": "{ topProducts { upc } }"}),
            &[("accept", GRAPHQL_RESPONSE_JSON)],
        )
        .await;
    assert_eq!(response.status, 504, "{}", response.text);
    assert_eq!(response.code(), Some("GATEWAY_TIMEOUT"));
    assert!(response.body.get("data").is_none());
    assert!(response.content_type().starts_with(GRAPHQL_RESPONSE_JSON));
    // Requests that do not touch the hanging subgraph are unaffected.
    let response = env.post(json!({"query": "{ users { id } }"})).await;
    assert_eq!(response.body["data"]["users"][0]["id"], "1");
}

#[tokio::test]
async fn requests_beyond_the_in_flight_limit_are_shed_with_503_and_retry_after() {
    let fake = FakeSubgraph::start(Behaviour::Gated(
        json!({"data": {"topProducts": [{"upc": "1"}]}}),
    ))
    .await;
    let env = TestEnv::start_with_subgraph(
        "products",
        &fake.url(),
        &["timeout: 30s", "deduplicate_requests: false"],
        "http:\n  max_concurrent_requests: 2\n",
    )
    .await;
    let held: Vec<_> = (0..2)
        .map(|_| {
            let request = env
                .client
                .post(env.url())
                .header("content-type", "application/json")
                .body(json!({"query": "{ topProducts { upc } }"}).to_string());
            tokio::spawn(async move { tollgate_e2e::read(request.send().await.unwrap()).await })
        })
        .collect();
    fake.wait_for_requests(2).await;

    let shed = env.post(json!({"query": "{ users { id } }"})).await;
    assert_eq!(shed.status, 503, "{}", shed.text);
    assert_eq!(shed.code(), Some("SERVICE_OVERLOADED"));
    assert_eq!(shed.headers["retry-after"], "1");
    // GET is limited by the same count.
    let shed = env
        .send(
            env.client
                .get(env.url())
                .query(&[("query", "{ users { id } }")])
                .header("apollo-require-preflight", "true"),
        )
        .await;
    assert_eq!(shed.status, 503);
    // Health is not limited.
    let health = env
        .send(env.client.get(format!("{}/health", env.base())))
        .await;
    assert_eq!(health.status, 200);

    fake.release();
    for request in held {
        let response = request.await.unwrap();
        assert_eq!(
            response.body,
            json!({"data": {"topProducts": [{"upc": "1"}]}})
        );
    }
    let after = env.post(json!({"query": "{ users { id } }"})).await;
    assert_eq!(after.status, 200);
    assert_eq!(after.body["data"]["users"][0]["id"], "1");
}
