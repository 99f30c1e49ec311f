//! Web-facing protections, end to end: query batching, CORS, CSRF
//! prevention, disabling introspection and masking subgraph errors.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use serde_json::json;
use tollgate_e2e::TestEnv;

#[tokio::test]
async fn batches_are_refused_unless_enabled() {
    let env = TestEnv::start("").await;
    let response = env.post(json!([{"query": "{ users { id } }"}])).await;
    assert_eq!(response.status, 400);
    assert_eq!(response.code(), Some("BATCHING_NOT_ENABLED"));
}

#[tokio::test]
async fn an_enabled_batch_is_answered_in_order_within_its_size_limit() {
    let env = TestEnv::start("http:\n  batching:\n    enabled: true\n    max_size: 3\n").await;
    let response = env
        .post(json!([
            {"query": "{ users { id } }"},
            {"query": "{ nope }"},
            {"query": "query P($upc: String!) { product(upc: $upc) { name } }", "variables": {"upc": "2"}}
        ]))
        .await;
    assert_eq!(response.status, 200, "{}", response.text);
    assert!(response.content_type().starts_with("application/json"));
    let answers = response.body.as_array().unwrap();
    assert_eq!(answers.len(), 3);
    assert_eq!(answers[0]["data"]["users"][0]["id"], "1");
    assert_eq!(
        answers[1]["errors"][0]["extensions"]["code"],
        "GRAPHQL_VALIDATION_FAILED"
    );
    assert!(answers[1].get("data").is_none());
    assert_eq!(answers[2], json!({"data": {"product": {"name": "Couch"}}}));

    let response = env
        .post(json!([{"query": "{ users { id } }"}, {"query": "{ users { id } }"}, {"query": "{ users { id } }"}, {"query": "{ users { id } }"}]))
        .await;
    assert_eq!(response.status, 400);
    assert_eq!(response.code(), Some("BATCH_LIMIT_EXCEEDED"));
    assert!(response.body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("4 operations, over the limit of 3"));

    let response = env.post(json!([])).await;
    assert_eq!(response.code(), Some("INVALID_GRAPHQL_REQUEST"));
}
