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

#[tokio::test]
async fn simple_requests_need_a_preflight_forcing_header() {
    let env = TestEnv::start("").await;
    let get = |headers: &[(&str, &str)]| {
        let mut request = env
            .client
            .get(env.url())
            .query(&[("query", "{ users { id } }")]);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request
    };
    let refused = env.send(get(&[])).await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert_eq!(refused.code(), Some("CSRF_PREVENTION"));
    assert!(
        refused.text.contains("`apollo-require-preflight`"),
        "{}",
        refused.text
    );
    let refused = env.send(get(&[("content-type", "text/plain")])).await;
    assert_eq!(refused.code(), Some("CSRF_PREVENTION"));
    for headers in [
        &[("apollo-require-preflight", "true")][..],
        &[("x-apollo-operation-name", "Users")][..],
        &[("content-type", "application/json")][..],
    ] {
        let response = env.send(get(headers)).await;
        assert_eq!(response.status, 200, "{headers:?}: {}", response.text);
        assert_eq!(response.body["data"]["users"][0]["id"], "1");
    }
    // A form POST never runs: its content type is refused.
    let form = env
        .send(
            env.client
                .post(env.url())
                .header("content-type", "application/x-www-form-urlencoded")
                .body("query=%7B%20users%20%7B%20id%20%7D%20%7D"),
        )
        .await;
    assert_eq!(form.status, 415);
    // The landing page for browsers is no operation and stays reachable.
    let page = env
        .send(env.client.get(env.url()).header("accept", "text/html"))
        .await;
    assert_eq!(page.status, 200);
}

#[tokio::test]
async fn csrf_prevention_can_be_switched_off_or_given_other_headers() {
    let env = TestEnv::start("http:\n  csrf:\n    enabled: false\n").await;
    let response = env
        .send(
            env.client
                .get(env.url())
                .query(&[("query", "{ users { id } }")]),
        )
        .await;
    assert_eq!(response.status, 200);

    let env = TestEnv::start("http:\n  csrf:\n    required_headers: [x-csrf]\n").await;
    let request = || {
        env.client
            .get(env.url())
            .query(&[("query", "{ users { id } }")])
    };
    let refused = env
        .send(request().header("apollo-require-preflight", "true"))
        .await;
    assert_eq!(refused.code(), Some("CSRF_PREVENTION"));
    assert!(refused.text.contains("`x-csrf`"), "{}", refused.text);
    let response = env.send(request().header("x-csrf", "1")).await;
    assert_eq!(response.status, 200);
}

#[tokio::test]
async fn without_a_cors_section_no_cors_header_is_sent() {
    let env = TestEnv::start("").await;
    let response = env
        .send(
            env.client
                .post(env.url())
                .header("origin", "https://evil.example")
                .header("content-type", "application/json")
                .body(r#"{"query":"{ users { id } }"}"#),
        )
        .await;
    assert_eq!(response.status, 200);
    assert!(
        !response
            .headers
            .keys()
            .any(|name| name.as_str().starts_with("access-control-")),
        "{:?}",
        response.headers
    );
    let preflight = env
        .send(
            env.client
                .request(reqwest::Method::OPTIONS, env.url())
                .header("origin", "https://evil.example")
                .header("access-control-request-method", "POST"),
        )
        .await;
    assert!(preflight
        .headers
        .get("access-control-allow-origin")
        .is_none());
}

#[tokio::test]
async fn configured_cors_answers_allowed_origins_only() {
    let env = TestEnv::start(
        "http:
  cors:
    origins: [https://app.example]
    match_origins: ['^https://[a-z]+\\.preview\\.example$']
    allow_credentials: true
    expose_headers: [x-request-id]
    max_age: 10m
",
    )
    .await;
    let preflight = |origin: &str| {
        env.client
            .request(reqwest::Method::OPTIONS, env.url())
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type, authorization",
            )
    };
    for origin in ["https://app.example", "https://pr.preview.example"] {
        let response = env.send(preflight(origin)).await;
        assert_eq!(response.status, 200, "{origin}");
        let header = |name: &str| response.headers[name].to_str().unwrap().to_owned();
        assert_eq!(header("access-control-allow-origin"), origin);
        assert_eq!(header("access-control-allow-credentials"), "true");
        assert_eq!(header("access-control-max-age"), "600");
        let allowed = header("access-control-allow-headers");
        assert!(
            allowed.contains("content-type") && allowed.contains("authorization"),
            "{allowed}"
        );
        assert!(header("access-control-allow-methods").contains("POST"));
        assert!(header("vary").contains("origin"), "{:?}", response.headers);
    }
    for origin in [
        "https://evil.example",
        "https://app.example.evil",
        "https://x.preview.example.evil",
    ] {
        let response = env.send(preflight(origin)).await;
        assert!(
            response
                .headers
                .get("access-control-allow-origin")
                .is_none(),
            "{origin}: {:?}",
            response.headers
        );
    }
    let actual = env
        .send(
            env.client
                .post(env.url())
                .header("origin", "https://app.example")
                .header("content-type", "application/json")
                .body(r#"{"query":"{ users { id } }"}"#),
        )
        .await;
    assert_eq!(actual.body["data"]["users"][0]["id"], "1");
    assert_eq!(
        actual.headers["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(
        actual.headers["access-control-expose-headers"],
        "x-request-id"
    );
}

#[tokio::test]
async fn an_unusable_cors_setting_stops_the_router_with_its_key() {
    let text = "supergraph:\n  path: schemas/supergraph.graphql\nhttp:\n  cors:\n    allow_any_origin: true\n    allow_credentials: true\n";
    let parsed = tollgate::config::parse(text, &|_| None).unwrap();
    let loaded = tollgate::config::LoadedConfig {
        config: parsed,
        base_dir: tollgate_e2e::workspace_root(),
        path: tollgate_e2e::workspace_root().join("router.yaml"),
    };
    let error = tollgate::server::build(&loaded).await.err().unwrap();
    assert!(
        error
            .to_string()
            .starts_with("http.cors.allow_credentials: cannot be combined"),
        "{error}"
    );
}

#[tokio::test]
async fn introspection_can_be_disabled() {
    let env = TestEnv::start("").await;
    let yaml = format!(
        "supergraph:\n  path: schemas/supergraph.graphql\n  introspection: false\nsubgraphs:\n  accounts:\n    url: {}\n",
        env.demo.url("accounts")
    );
    let demo = tollgate_demo::spawn("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let closed = TestEnv::start_yaml(demo, &yaml).await;
    for query in [
        "{ __schema { queryType { name } } }",
        "{ users { id } ...T } fragment T on Query { __type(name: \"User\") { name } }",
    ] {
        let response = closed
            .post_with(
                json!({ "query": query }),
                &[("accept", "application/graphql-response+json")],
            )
            .await;
        assert_eq!(response.status, 400, "{query}");
        assert_eq!(response.code(), Some("INTROSPECTION_DISABLED"), "{query}");
        assert!(response.body.get("data").is_none());
    }
    let response = closed
        .post(json!({"query": "{ __typename users { id } }"}))
        .await;
    assert_eq!(response.body["data"]["__typename"], "Query");
    assert_eq!(response.body["data"]["users"][0]["id"], "1");
    // On by default.
    let open = env
        .post(json!({"query": "{ __schema { queryType { name } } }"}))
        .await;
    assert_eq!(open.body["data"]["__schema"]["queryType"]["name"], "Query");
}
