//! Prometheus metrics end to end: the real router with metrics on, real
//! requests (good, failing, authenticated), then a scrape of `/metrics`
//! asserting the counters moved by exactly what was sent.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use serde_json::json;
use tollgate_e2e::TestEnv;

/// Sum of the samples of `name` whose labels include every `labels` pair.
fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric_name, label_text) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            (metric_name == name
                && labels
                    .iter()
                    .all(|(k, v)| label_text.contains(&format!("{k}=\"{v}\""))))
            .then(|| value.parse::<f64>().ok())
            .flatten()
        })
        .sum()
}

async fn scrape(env: &TestEnv) -> String {
    let addr = env.router.metrics_addr().expect("metrics are on");
    let response = env
        .client
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    response.text().await.unwrap()
}

fn token(sub: &str) -> String {
    tollgate_e2e::dev_token(&json!({"sub": sub}))
}

#[tokio::test]
async fn counters_move_with_real_requests() {
    let env = TestEnv::start(
        "telemetry:\n  metrics:\n    prometheus: { enabled: true, listen: \"127.0.0.1:0\" }\njwt:\n  jwks_providers:\n    - source: file\n      path: dev/dev-jwks.json\n  forward_claims_to_upstream_extensions: { enabled: true }\n",
    )
    .await;
    let before = scrape(&env).await;

    let cross = json!({"query": "{ topProducts(first: 1) { name inStock } }"});
    assert_eq!(env.post(cross.clone()).await.status, 200);
    assert_eq!(env.post(cross).await.status, 200);
    let invalid = env.post(json!({"query": "{ nope }"})).await;
    assert_eq!(invalid.code(), Some("GRAPHQL_VALIDATION_FAILED"));
    let bad = env
        .post_with(
            json!({"query": "{ me { id } }"}),
            &[("authorization", "Bearer not.a.token")],
        )
        .await;
    assert_eq!(bad.status, 401);
    let good = format!("Bearer {}", token("1"));
    let me = env
        .post_with(
            json!({"query": "{ me { name } }"}),
            &[("authorization", &good)],
        )
        .await;
    assert_eq!(me.body, json!({"data": {"me": {"name": "Ada Lovelace"}}}));

    let after = scrape(&env).await;
    let delta = |name: &str, labels: &[(&str, &str)]| {
        metric(&after, name, labels) - metric(&before, name, labels)
    };
    assert_eq!(delta("tollgate_http_requests_total", &[]), 5.0, "{after}");
    assert_eq!(
        delta("tollgate_http_requests_total", &[("status", "401")]),
        1.0
    );
    assert_eq!(
        delta("tollgate_http_request_duration_seconds_count", &[]),
        5.0
    );
    assert_eq!(
        delta(
            "tollgate_graphql_errors_total",
            &[("code", "GRAPHQL_VALIDATION_FAILED")]
        ),
        1.0
    );
    assert_eq!(
        delta(
            "tollgate_graphql_errors_total",
            &[("code", "UNAUTHENTICATED")]
        ),
        1.0
    );
    // Two cross-subgraph queries (products + inventory each) and one `me`.
    assert_eq!(
        delta(
            "tollgate_subgraph_requests_total",
            &[("subgraph", "products"), ("result", "success")]
        ),
        2.0
    );
    assert_eq!(
        delta(
            "tollgate_subgraph_requests_total",
            &[("subgraph", "inventory"), ("result", "success")]
        ),
        2.0
    );
    assert_eq!(
        delta(
            "tollgate_subgraph_request_duration_seconds_count",
            &[("subgraph", "accounts")]
        ),
        1.0
    );
    // The first cross query is planned, the second is a cache hit.
    assert_eq!(delta("tollgate_plan_cache_hits_total", &[]), 1.0);
    assert!(delta("tollgate_plan_cache_misses_total", &[]) >= 2.0);
    assert_eq!(
        delta("apollo_authentication_success_count", &[("kind", "JWT")]),
        1.0
    );
    assert_eq!(
        delta("apollo_authentication_failure_count", &[("kind", "JWT")]),
        1.0
    );
    assert_eq!(
        delta(
            "tollgate_jwt_verifications_total",
            &[("result", "failure"), ("reason", "MALFORMED_TOKEN")]
        ),
        1.0
    );
    assert_eq!(metric(&after, "tollgate_http_requests_in_flight", &[]), 0.0);
}
