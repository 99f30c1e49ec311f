//! JWT authentication end to end: the real router with the JWT plugin, the
//! repository's DEV ONLY key set as a file provider, real signed tokens, and
//! the demo `accounts` subgraph resolving `me` from the forwarded claims.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tollgate_e2e::{workspace_root, TestEnv, TestResponse};

const ME: &str = "{ me { id name username } }";

fn jwt_yaml(require: bool, forward: bool, extra: &str) -> String {
    format!(
        "jwt:\n  require_authentication: {require}\n  jwks_providers:\n    - source: file\n      path: dev/dev-jwks.json\n  issuers: [https://dev.tollgate.local/]\n  audiences: [tollgate-demo]\n  forward_claims_to_upstream_extensions:\n    enabled: {forward}\n{extra}"
    )
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn dev_key() -> EncodingKey {
    let pem = std::fs::read(workspace_root().join("dev/dev-private-key.pem")).unwrap();
    EncodingKey::from_rsa_pem(&pem).unwrap()
}

fn claims(sub: &str) -> Value {
    json!({"sub": sub, "iat": now(), "exp": now() + 600, "iss": "https://dev.tollgate.local/", "aud": "tollgate-demo"})
}

fn sign(claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("tollgate-dev".into());
    jsonwebtoken::encode(&header, claims, &dev_key()).unwrap()
}

async fn me(env: &TestEnv, headers: &[(&str, &str)]) -> TestResponse {
    env.post_with(json!({"query": ME}), headers).await
}

fn assert_refused(response: &TestResponse, reason: &str) {
    assert_eq!(response.status, 401, "{}", response.text);
    assert_eq!(
        response.code(),
        Some("UNAUTHENTICATED"),
        "{}",
        response.text
    );
    assert_eq!(
        response.body["errors"][0]["extensions"]["reason"], reason,
        "{}",
        response.text
    );
    assert!(response.body.get("data").is_none());
    let challenge = response.headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
}

#[tokio::test]
async fn me_comes_from_forwarded_claims() {
    let env = TestEnv::start(&jwt_yaml(false, true, "")).await;
    let token = sign(&claims("1"));
    let response = me(&env, &[("authorization", &format!("Bearer {token}"))]).await;
    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(
        response.body,
        json!({"data": {"me": {"id": "1", "name": "Ada Lovelace", "username": "@ada"}}})
    );
    // The token printed by `tollgate dev` works too.
    let dev = tollgate::dev::mint_dev_token(
        &workspace_root().join("dev/dev-private-key.pem"),
        &env.config.config,
        "3",
        60,
    )
    .unwrap();
    let response = me(&env, &[("authorization", &format!("Bearer {dev}"))]).await;
    assert_eq!(response.body["data"]["me"]["name"], "Grace Hopper");
}

#[tokio::test]
async fn batch_dev_tokens_are_distinct_and_each_verifies() {
    let env = TestEnv::start(&jwt_yaml(true, true, "")).await;
    let tokens = tollgate::dev::mint_dev_tokens(
        &workspace_root().join("dev/dev-private-key.pem"),
        &env.config.config,
        "2",
        60,
        3,
    )
    .unwrap();
    let distinct: std::collections::HashSet<&String> = tokens.iter().collect();
    assert_eq!(distinct.len(), 3, "every token differs");
    for (index, token) in tokens.iter().enumerate() {
        let payload = token.split('.').nth(1).unwrap();
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert_eq!(claims["jti"], format!("bench-{index}"));
        let response = me(&env, &[("authorization", &format!("Bearer {token}"))]).await;
        assert_eq!(
            response.body["data"]["me"]["name"], "Alan Turing",
            "{}",
            response.text
        );
    }
}

#[tokio::test]
async fn anonymous_requests_pass_when_not_required() {
    let env = TestEnv::start(&jwt_yaml(false, true, "")).await;
    let response = me(&env, &[]).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.body, json!({"data": {"me": null}}));
}

#[tokio::test]
async fn without_forwarding_subgraphs_see_no_claims() {
    let env = TestEnv::start(&jwt_yaml(false, false, "")).await;
    let token = sign(&claims("1"));
    let response = me(&env, &[("authorization", &format!("Bearer {token}"))]).await;
    assert_eq!(response.body, json!({"data": {"me": null}}));
}

#[tokio::test]
async fn missing_token_is_refused_before_any_subgraph_when_required() {
    let env = TestEnv::start(&jwt_yaml(true, true, "")).await;
    let response = me(&env, &[]).await;
    assert_refused(&response, "MISSING_TOKEN");
    assert_eq!(response.headers["www-authenticate"], "Bearer");
    // Even a malformed document is refused with 401 first.
    let response = env.post(json!({"query": "{ nope"})).await;
    assert_refused(&response, "MISSING_TOKEN");
    assert_eq!(env.demo.requests(), 0, "no subgraph was called");
}

#[tokio::test]
async fn negative_suite_is_refused_before_any_subgraph() {
    let env = TestEnv::start(&jwt_yaml(false, true, "  max_token_bytes: 4096\n")).await;
    let good = sign(&claims("1"));
    let parts: Vec<&str> = good.split('.').collect();
    let b64 = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let with = |key: &str, value: Value| {
        let mut c = claims("1");
        c[key] = value;
        sign(&c)
    };
    let hs_confusion = {
        let public = std::fs::read(workspace_root().join("dev/dev-jwks.json")).unwrap();
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("tollgate-dev".into());
        jsonwebtoken::encode(&header, &claims("1"), &EncodingKey::from_secret(&public)).unwrap()
    };
    let mut no_iss = claims("1");
    no_iss.as_object_mut().unwrap().remove("iss");
    let cases: Vec<(String, &str)> = vec![
        (
            format!("{}.{}.", b64(json!({"alg": "none"})), parts[1]),
            "ALGORITHM_NOT_ALLOWED",
        ),
        (
            format!("{}.{}.", b64(json!({"alg": "NONE"})), parts[1]),
            "ALGORITHM_NOT_ALLOWED",
        ),
        (
            format!("{}.{}.{}", b64(json!({"alg": "nOnE"})), parts[1], parts[2]),
            "ALGORITHM_NOT_ALLOWED",
        ),
        (hs_confusion, "ALGORITHM_NOT_ALLOWED"),
        (format!("{}.{}.", parts[0], parts[1]), "INVALID_SIGNATURE"),
        (
            format!("{}.{}.{}", parts[0], b64(claims("2")), parts[2]),
            "INVALID_SIGNATURE",
        ),
        (with("exp", json!(now() - 3600)), "TOKEN_EXPIRED"),
        (with("nbf", json!(now() + 3600)), "TOKEN_NOT_YET_VALID"),
        (
            with("iss", json!("https://evil.example.com/")),
            "INVALID_ISSUER",
        ),
        (sign(&no_iss), "INVALID_ISSUER"),
        (with("aud", json!("someone-else")), "INVALID_AUDIENCE"),
        (with("padding", json!("x".repeat(5000))), "TOKEN_TOO_LARGE"),
        ("%%%garbage%%%.x.y".to_owned(), "MALFORMED_TOKEN"),
        ("onlyone".to_owned(), "MALFORMED_TOKEN"),
    ];
    for (token, reason) in cases {
        let response = me(&env, &[("authorization", &format!("Bearer {token}"))]).await;
        assert_refused(&response, reason);
        assert!(
            !response.text.contains(&token[..token.len().min(30)]),
            "token echoed"
        );
    }
    // Audience arrays: one accepted entry is enough.
    let response = me(
        &env,
        &[(
            "authorization",
            &format!("Bearer {}", with("aud", json!(["x", "tollgate-demo"]))),
        )],
    )
    .await;
    assert_eq!(response.body["data"]["me"]["id"], "1");
    let before = env.demo.requests();

    let response = me(&env, &[("authorization", "Bearer ")]).await;
    assert_refused(&response, "MALFORMED_TOKEN");
    let response = env
        .send(
            env.client
                .post(env.url())
                .header("content-type", "application/json")
                .header("authorization", format!("Bearer {good}"))
                .header("authorization", format!("Bearer {good}"))
                .body(json!({"query": ME}).to_string()),
        )
        .await;
    assert_refused(&response, "MALFORMED_TOKEN");
    assert_eq!(
        env.demo.requests(),
        before,
        "refused requests never reach a subgraph"
    );

    // Wrong prefix or wrong location: not a credential for us, so anonymous.
    let response = me(&env, &[("authorization", &format!("Token {good}"))]).await;
    assert_eq!(response.body, json!({"data": {"me": null}}));
    let response = me(&env, &[("x-token", &good)]).await;
    assert_eq!(response.body, json!({"data": {"me": null}}));
}

#[tokio::test]
async fn lookup_locations_in_order_with_cookies() {
    let env = TestEnv::start(&jwt_yaml(
        true,
        true,
        "  lookup_locations:\n    - { source: header, name: authorization, prefix: \"Bearer \" }\n    - { source: cookies, name: auth_token }\n",
    ))
    .await;
    let token = sign(&claims("4"));
    let response = me(
        &env,
        &[("cookie", &format!("theme=dark; auth_token={token}"))],
    )
    .await;
    assert_eq!(response.body["data"]["me"]["name"], "Edsger Dijkstra");
    let first = sign(&claims("2"));
    let response = me(
        &env,
        &[
            ("authorization", &format!("Bearer {first}")),
            ("cookie", &format!("auth_token={token}")),
        ],
    )
    .await;
    assert_eq!(
        response.body["data"]["me"]["id"], "2",
        "the header comes first"
    );
}

#[tokio::test]
async fn readiness_waits_for_a_key_set_when_authentication_is_required() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let up = Arc::new(AtomicBool::new(false));
    let jwks = std::fs::read_to_string(workspace_root().join("dev/dev-jwks.json")).unwrap();
    let state = (up.clone(), jwks);
    let app = axum::Router::new()
        .route(
            "/jwks.json",
            axum::routing::get(
                |axum::extract::State((up, jwks)): axum::extract::State<(
                    Arc<AtomicBool>,
                    String,
                )>| async move {
                    if up.load(Ordering::SeqCst) {
                        (axum::http::StatusCode::OK, jwks)
                    } else {
                        (axum::http::StatusCode::SERVICE_UNAVAILABLE, String::new())
                    }
                },
            ),
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let env = TestEnv::start(&format!(
        "jwt:\n  require_authentication: true\n  unknown_kid_cooldown: 50ms\n  jwks_providers:\n    - source: remote\n      url: http://{addr}/jwks.json\n"
    ))
    .await;
    let ready = || async {
        let response = env
            .send(env.client.get(format!("{}/ready", env.base())))
            .await;
        (response.status, response.body)
    };
    let (status, body) = ready().await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "unavailable");
    assert!(body["reason"].as_str().unwrap().contains("JWKS"), "{body}");

    up.store(true, Ordering::SeqCst);
    // Polled within a bounded deadline: the next check after the 50ms
    // cooldown fetches the now available key set.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let (status, body) = loop {
        let (status, body) = ready().await;
        if status == 200 || std::time::Instant::now() > deadline {
            break (status, body);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"status": "ready"}));
}

#[tokio::test]
async fn tokens_are_checked_before_the_body_is_parsed() {
    let env = TestEnv::start(&jwt_yaml(
        true,
        true,
        "http:\n  batching: { enabled: true }\n",
    ))
    .await;
    let raw = |body: &'static str, auth: Option<String>| {
        let mut request = env
            .client
            .post(env.url())
            .header("content-type", "application/json")
            .body(body);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        env.send(request)
    };
    let forged = "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.";
    // Not JSON, a JSON array (a batch) and deeply nested JSON: refused for
    // the token (or its absence) before the JSON parser runs.
    for body in [
        "{\"query\": ",
        "[{\"query\": \"{ me { id } }\"}]",
        "[[[[[[[[[[[[[[[[",
    ] {
        assert_refused(&raw(body, None).await, "MISSING_TOKEN");
        assert_refused(
            &raw(body, Some(forged.to_owned())).await,
            "ALGORITHM_NOT_ALLOWED",
        );
    }
    // With a valid token the body's own error is reported.
    let token = format!("Bearer {}", sign(&claims("1")));
    let response = raw("{\"query\": ", Some(token.clone())).await;
    assert_eq!(response.status, 400, "{}", response.text);
    assert_eq!(response.code(), Some("INVALID_GRAPHQL_REQUEST"));
    // A batch with a valid token: each request runs with the claims.
    let response = raw(
        "[{\"query\": \"{ me { id } }\"}, {\"query\": \"{ me { name } }\"}]",
        Some(token),
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(
        response.body,
        json!([{"data": {"me": {"id": "1"}}}, {"data": {"me": {"name": "Ada Lovelace"}}}])
    );
}
