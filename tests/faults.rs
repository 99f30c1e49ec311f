//! Subgraph faults, end to end: the products subgraph is a fake on a real
//! loopback socket that is down, resets, hangs, is slow, or answers garbage,
//! while the demo serves the others. The client always gets an answer within
//! the subgraph timeout: partial data, null for the fields of the failed
//! fetch, and an error naming the subgraph. When the subgraph behaves again,
//! so do the answers.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use std::time::Duration;

use serde_json::{json, Value};
use tollgate_e2e::fake::{Behaviour, FakeSubgraph};
use tollgate_e2e::{TestEnv, TestResponse};

const QUERY: &str = "{ users { id } product(upc: \"1\") { upc name } }";

fn good() -> Value {
    json!({"data": {"product": {"upc": "1", "name": "Table"}}})
}

fn raw(status: u16, content_type: &'static str, body: &str) -> Behaviour {
    Behaviour::Raw {
        status,
        content_type,
        body: body.to_owned(),
    }
}

async fn start(fake: &FakeSubgraph, settings: &[&str]) -> TestEnv {
    TestEnv::start_with_subgraph("products", &fake.url(), settings, "").await
}

/// Sends the query; fails (instead of hanging) after 10 s.
async fn ask(env: &TestEnv) -> TestResponse {
    tokio::time::timeout(Duration::from_secs(10), env.post(json!({ "query": QUERY })))
        .await
        .expect("the router answered")
}

/// Users from the healthy subgraph, `product` null, one error of
/// `code` naming products.
fn assert_partial(response: &TestResponse, code: &str) {
    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(
        response.body["data"]["users"][0]["id"], "1",
        "{}",
        response.text
    );
    assert_eq!(
        response.body["data"]["product"],
        Value::Null,
        "{}",
        response.text
    );
    let errors = response.body["errors"].as_array().unwrap();
    assert!(
        errors.iter().any(
            |e| e["extensions"]["code"] == code && e["extensions"]["serviceName"] == "products"
        ),
        "expected {code}: {}",
        response.text
    );
    assert!(
        !response.text.contains("127.0.0.1"),
        "no address leaks: {}",
        response.text
    );
}

async fn assert_recovers(env: &TestEnv, fake: &FakeSubgraph) {
    fake.set(Behaviour::Json(good()));
    let response = ask(env).await;
    assert!(response.body["errors"].is_null(), "{}", response.text);
    assert_eq!(response.body["data"]["product"], good()["data"]["product"]);
    assert_eq!(response.body["data"]["users"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn a_subgraph_that_is_down_then_back() {
    let mut fake = FakeSubgraph::start(Behaviour::Json(good())).await;
    let env = start(&fake, &[]).await;
    fake.stop().await;
    let response = ask(&env).await;
    assert_partial(&response, "SUBREQUEST_HTTP_ERROR");
    assert!(
        response.text.contains("connection failed"),
        "{}",
        response.text
    );
    fake.restart().await;
    assert_recovers(&env, &fake).await;
}

#[tokio::test]
async fn a_subgraph_that_resets_the_connection() {
    let fake = FakeSubgraph::start(Behaviour::Reset).await;
    let env = start(&fake, &[]).await;
    for _ in 0..3 {
        assert_partial(&ask(&env).await, "SUBREQUEST_HTTP_ERROR");
    }
    assert_recovers(&env, &fake).await;
}

#[tokio::test]
async fn a_subgraph_that_hangs_hits_its_timeout() {
    let fake = FakeSubgraph::start(Behaviour::Hang).await;
    let env = start(&fake, &["timeout: 300ms"]).await;
    let response = ask(&env).await;
    assert_partial(&response, "SUBREQUEST_HTTP_ERROR");
    assert!(response.text.contains("timed out"), "{}", response.text);
    assert_recovers(&env, &fake).await;
}

#[tokio::test]
async fn a_slow_subgraph_within_its_timeout_is_waited_for() {
    let fake = FakeSubgraph::start(Behaviour::Slow(Duration::from_millis(200), good())).await;
    let env = start(&fake, &["timeout: 10s"]).await;
    let response = ask(&env).await;
    assert!(response.body["errors"].is_null(), "{}", response.text);
    assert_eq!(response.body["data"]["product"]["name"], "Table");
}

#[tokio::test]
async fn a_subgraph_answering_non_json_or_non_graphql() {
    let fake = FakeSubgraph::start(raw(200, "text/html", "<html>oops</html>")).await;
    let env = start(&fake, &[]).await;
    assert_partial(&ask(&env).await, "SUBREQUEST_MALFORMED_RESPONSE");
    for body in [
        r#"{"data": "a string"}"#,
        r#"{"data": [1, 2]}"#,
        r#"{"errors": "not a list"}"#,
        r#"{"errors": {"message": "an object"}}"#,
        r#"{}"#,
        r#"{"errors": []}"#,
        r#"[]"#,
        r#"{"data": {"product": {"upc": "1"}"#,
        "",
    ] {
        fake.set(raw(200, "application/json", body));
        assert_partial(&ask(&env).await, "SUBREQUEST_MALFORMED_RESPONSE");
    }
    // Well-formed JSON of the wrong shape for the field: a validation
    // error at the field, never a crash.
    fake.set(Behaviour::Json(
        json!({"data": {"product": ["not", "an object"]}}),
    ));
    let response = ask(&env).await;
    assert_eq!(
        response.body["data"]["users"][0]["id"], "1",
        "{}",
        response.text
    );
    assert_eq!(response.body["data"]["product"], Value::Null);
    assert_eq!(
        response.body["errors"][0]["extensions"]["code"],
        "RESPONSE_VALIDATION_FAILED"
    );
    assert_recovers(&env, &fake).await;
}

#[tokio::test]
async fn a_subgraph_answering_http_500() {
    let fake = FakeSubgraph::start(raw(500, "text/plain", "internal error at db-7")).await;
    let env = start(&fake, &[]).await;
    let response = ask(&env).await;
    assert_partial(&response, "SUBREQUEST_HTTP_ERROR");
    assert!(response.text.contains("500"), "{}", response.text);
    assert!(!response.text.contains("db-7"), "{}", response.text);
    // A GraphQL error body with the 500: its error (redacted) and the HTTP error.
    fake.set(raw(
        500,
        "application/json",
        r#"{"errors": [{"message": "db-7 is down"}]}"#,
    ));
    let response = ask(&env).await;
    assert_partial(&response, "SUBREQUEST_HTTP_ERROR");
    assert_partial(&response, "SUBGRAPH_ERROR_REDACTED");
    assert!(!response.text.contains("db-7"), "{}", response.text);
    // With `data` in that body, the data is used and the status reported.
    fake.set(raw(
        500,
        "application/json",
        r#"{"data": {"product": {"upc": "1", "name": "Table"}}, "errors": [{"message": "partial"}]}"#,
    ));
    let response = ask(&env).await;
    assert_eq!(response.body["data"]["product"], good()["data"]["product"]);
    let codes: Vec<&Value> = response.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["extensions"]["code"])
        .collect();
    assert_eq!(
        codes,
        [
            &json!("SUBGRAPH_ERROR_REDACTED"),
            &json!("SUBREQUEST_HTTP_ERROR")
        ],
        "{}",
        response.text
    );
    assert_recovers(&env, &fake).await;
}

#[tokio::test]
async fn a_subgraph_answer_over_its_size_limit() {
    let big = "x".repeat(2000);
    let fake = FakeSubgraph::start(Behaviour::Json(
        json!({"data": {"product": {"upc": "1", "name": big}}}),
    ))
    .await;
    let env = start(&fake, &["max_response_bytes: 1000"]).await;
    let response = ask(&env).await;
    assert_partial(&response, "SUBREQUEST_HTTP_ERROR");
    assert!(response.text.contains("too large"), "{}", response.text);
    assert_recovers(&env, &fake).await;
}

#[tokio::test]
async fn broken_entity_answers_null_the_entity_fields_with_an_error() {
    // products resolves `Product.name` for the reviews' products by entity fetch.
    let fake = FakeSubgraph::start(Behaviour::Json(json!({"data": {"_entities": "x"}}))).await;
    let env = start(&fake, &[]).await;
    let query = json!({"query": "{ users { id reviews { body product { upc name } } } }"});
    for body in [
        json!({"data": {"_entities": "x"}}),
        json!({"data": {"_entities": [{"name": "only one"}]}}),
        json!({"data": {}}),
    ] {
        fake.set(Behaviour::Json(body.clone()));
        let response = env.post(query.clone()).await;
        let review = &response.body["data"]["users"][0]["reviews"][0];
        assert!(review["body"].is_string(), "{body}: {}", response.text);
        assert!(
            review["product"]["upc"].is_string(),
            "{body}: {}",
            response.text
        );
        assert_eq!(
            review["product"]["name"],
            Value::Null,
            "{body}: {}",
            response.text
        );
        assert_eq!(
            response.body["errors"][0]["extensions"]["code"], "SUBREQUEST_MALFORMED_RESPONSE",
            "{body}: {}",
            response.text
        );
    }
}

#[tokio::test]
async fn values_and_error_paths_a_client_cannot_use_are_not_passed_on() {
    // `name: String` answered with a number, `upc: String!` with an object.
    let fake = FakeSubgraph::start(Behaviour::Json(
        json!({"data": {"product": {"upc": "1", "name": 123}}}),
    ))
    .await;
    let env = start(&fake, &[]).await;
    let response = ask(&env).await;
    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(
        response.body["data"]["product"],
        json!({"upc": "1", "name": null}),
        "{}",
        response.text
    );
    assert_eq!(
        response.body["errors"],
        json!([{
            "message": "Invalid value found for field Product.name.",
            "path": ["product", "name"],
            "extensions": {"code": "RESPONSE_VALIDATION_FAILED"}
        }])
    );
    fake.set(Behaviour::Json(
        json!({"data": {"product": {"upc": {"a": 1}, "name": "Table"}}}),
    ));
    let response = ask(&env).await;
    assert_eq!(
        response.body["data"]["product"],
        Value::Null,
        "{}",
        response.text
    );
    assert_eq!(response.body["data"]["users"][0]["id"], "1");

    // Error paths that are not response paths are dropped; the errors stay.
    for path in [
        json!([["x"], {"y": 1}, null, true]),
        json!(["product", -1]),
        json!(["product", 0.5]),
        json!(["product", 1e30]),
        json!(vec!["product"; 600]),
    ] {
        fake.set(Behaviour::Json(json!({
            "data": {"product": {"upc": "1", "name": "Table"}},
            "errors": [{"message": "odd", "path": path.clone()}]
        })));
        let response = ask(&env).await;
        let errors = response.body["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 1, "{path}: {}", response.text);
        assert!(errors[0].get("path").is_none(), "{path}: {}", response.text);
        assert_eq!(response.body["data"]["product"]["name"], "Table");
    }
    fake.set(Behaviour::Json(json!({
        "data": {"product": {"upc": "1", "name": "Table"}},
        "errors": [{"message": "fine", "path": ["product", "name"]}]
    })));
    let response = ask(&env).await;
    assert_eq!(
        response.body["errors"][0]["path"],
        json!(["product", "name"])
    );
}
