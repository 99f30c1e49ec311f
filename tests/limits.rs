//! Limits, end to end: every exceeded limit is answered with a GraphQL error
//! carrying its stable code (never a panic or a hang), and operations just
//! under a limit still run.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use serde_json::json;
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
