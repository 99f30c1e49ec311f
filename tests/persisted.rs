//! Persisted operations end to end: a manifest file, operations sent by id
//! or as text, APQ registration, the safelist, and the zero-trust switch —
//! `jwt.require_authentication` with `authorization.allow_anonymous_operations`
//! letting only allow-listed manifest operations run without a token.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tollgate_e2e::{dev_token, loaded_config, temp_file, TestEnv, TestResponse};

const TOP: &str = "query TopProducts { topProducts { upc name } }";
const ME: &str = "query Me { me { id } }";

fn manifest() -> std::path::PathBuf {
    temp_file(
        "manifest.json",
        &json!({
            "format": "apollo-persisted-query-manifest",
            "version": 1,
            "operations": [
                {"id": "tp-1", "name": "TopProducts", "type": "query", "body": TOP},
                {"id": "me-1", "name": "Me", "type": "query", "body": ME},
            ]
        })
        .to_string(),
    )
}

fn zero_trust_yaml(extra: &str) -> String {
    format!(
        "jwt:\n  require_authentication: true\n  jwks_providers:\n    - source: file\n      path: dev/dev-jwks.json\n  forward_claims_to_upstream_extensions: {{ enabled: true }}\npersisted_queries:\n  manifest: {}\nauthorization:\n  allow_anonymous_operations: [TopProducts]\n{extra}",
        manifest().display()
    )
}

fn by_id(id: &str) -> Value {
    json!({"extensions": {"persistedQuery": {"version": 1, "sha256Hash": id}}})
}

fn sha(text: &str) -> String {
    format!("{:x}", Sha256::digest(text.as_bytes()))
}

fn assert_missing_token(response: &TestResponse) {
    assert_eq!(response.status, 401, "{}", response.text);
    assert_eq!(response.code(), Some("UNAUTHENTICATED"));
    assert_eq!(
        response.body["errors"][0]["extensions"]["reason"],
        "MISSING_TOKEN"
    );
}

fn assert_top_products(response: &TestResponse) {
    assert_eq!(response.status, 200, "{}", response.text);
    let products = response.body["data"]["topProducts"].as_array().unwrap();
    assert!(!products.is_empty(), "{}", response.text);
    assert!(products[0]["name"].is_string());
    assert!(response.body.get("errors").is_none(), "{}", response.text);
}

#[tokio::test]
async fn only_allow_listed_persisted_operations_run_without_a_token() {
    let env = TestEnv::start(&zero_trust_yaml("")).await;

    // Allow-listed: by id (POST and GET) and as the manifest's exact text.
    assert_top_products(&env.post(by_id("tp-1")).await);
    let get = env
        .client
        .get(env.url())
        .header("apollo-require-preflight", "true")
        .query(&[(
            "extensions",
            r#"{"persistedQuery":{"version":1,"sha256Hash":"tp-1"}}"#,
        )]);
    assert_top_products(&env.send(get).await);
    assert_top_products(&env.post(json!({"query": TOP})).await);

    // Everything else needs a token: another manifest operation, a
    // different document under the allowed name, a freeform query.
    assert_missing_token(&env.post(by_id("me-1")).await);
    assert_missing_token(
        &env.post(json!({"query": "query TopProducts { topProducts { upc name price } }"}))
            .await,
    );
    assert_missing_token(&env.post(json!({"query": "{ topProducts { upc } }"})).await);
    // A document registered through APQ is the client's, never the manifest's.
    let own = "query TopProducts { me { id name } }";
    let mut apq = by_id(&sha(own));
    apq["query"] = json!(own);
    assert_missing_token(&env.post(apq).await);

    // An invalid token is refused as such, even for an allow-listed operation.
    let response = env
        .post_with(by_id("tp-1"), &[("authorization", "Bearer not.a.jwt")])
        .await;
    assert_eq!(response.status, 401);
    assert_ne!(
        response.body["errors"][0]["extensions"]["reason"],
        "MISSING_TOKEN"
    );

    // With a valid token every operation runs.
    let token = format!("Bearer {}", dev_token(&json!({"sub": "1"})));
    let response = env
        .post_with(by_id("me-1"), &[("authorization", &token)])
        .await;
    assert_eq!(response.body, json!({"data": {"me": {"id": "1"}}}));
    let response = env
        .post_with(
            json!({"query": "{ me { name } }"}),
            &[("authorization", &token)],
        )
        .await;
    assert_eq!(response.body["data"]["me"]["name"], "Ada Lovelace");
}

#[tokio::test]
async fn a_script_that_rewrites_an_allowed_document_loses_the_allowance() {
    let script = temp_file(
        "main.rhai",
        r#"
        fn supergraph_service(service) {
            service.map_request(|request| {
                if request.headers["x-rewrite"] == "yes" {
                    request.body.query = "query TopProducts { me { id } }";
                }
            });
        }
    "#,
    );
    let env = TestEnv::start(&zero_trust_yaml(&format!(
        "rhai:\n  scripts: {}\n",
        script.parent().unwrap().display()
    )))
    .await;
    assert_top_products(&env.post(by_id("tp-1")).await);
    assert_missing_token(&env.post_with(by_id("tp-1"), &[("x-rewrite", "yes")]).await);
}

#[tokio::test]
async fn apq_registers_then_serves_by_hash() {
    let env = TestEnv::start("").await;
    let query = "{ topProducts { upc } }";
    let hash = sha(query);
    let response = env.post(by_id(&hash)).await;
    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(response.code(), Some("PERSISTED_QUERY_NOT_FOUND"));
    assert_eq!(
        response.body["errors"][0]["message"],
        "PersistedQueryNotFound"
    );

    let mut wrong = by_id(&sha("something else"));
    wrong["query"] = json!(query);
    assert_eq!(
        env.post(wrong).await.code(),
        Some("PERSISTED_QUERY_HASH_MISMATCH")
    );

    let mut register = by_id(&hash);
    register["query"] = json!(query);
    let first = env.post(register).await;
    assert!(
        first.body["data"]["topProducts"].is_array(),
        "{}",
        first.text
    );
    let again = env.post(by_id(&hash)).await;
    assert_eq!(again.body, first.body);
}

#[tokio::test]
async fn safelist_runs_only_manifest_operations() {
    let env = TestEnv::start(&format!(
        "persisted_queries:\n  manifest: {}\n  safelist: true\n  apq: {{ enabled: false }}\n",
        manifest().display()
    ))
    .await;
    // Reformatted manifest text is the same operation.
    let response = env
        .post(json!({"query": "query TopProducts {\n  topProducts { upc name } # comment\n}"}))
        .await;
    assert_top_products(&response);
    let response = env
        .post(json!({"query": "{ topProducts { price } }"}))
        .await;
    assert_eq!(
        response.code(),
        Some("QUERY_NOT_IN_SAFELIST"),
        "{}",
        response.text
    );
    assert!(response.body.get("data").is_none());
    let response = env
        .post_with(
            json!({"query": "{ topProducts { price } }"}),
            &[("accept", "application/graphql-response+json")],
        )
        .await;
    assert_eq!(response.status, 400);
    assert_eq!(
        env.post(by_id("unknown")).await.code(),
        Some("PERSISTED_QUERY_NOT_FOUND")
    );
}

async fn build_error(yaml: &str) -> String {
    match tollgate::server::build(&loaded_config(yaml)).await {
        Ok(_) => panic!("the config should be refused:\n{yaml}"),
        Err(error) => error.to_string(),
    }
}

#[tokio::test]
async fn allow_list_mistakes_are_config_errors() {
    let base = "supergraph:\n  path: schemas/supergraph.graphql\n";
    let jwt = |require: bool| {
        format!("jwt:\n  require_authentication: {require}\n  jwks_providers: [{{ source: file, path: dev/dev-jwks.json }}]\n")
    };
    let manifest = format!("persisted_queries:\n  manifest: {}\n", manifest().display());
    let error = build_error(&format!(
        "{base}{}{manifest}authorization:\n  allow_anonymous_operations: [TopProducts]\n",
        jwt(false)
    ))
    .await;
    assert!(error.contains("authorization.allow_anonymous_operations: has no effect unless jwt.require_authentication"), "{error}");
    let error = build_error(&format!(
        "{base}{}{manifest}authorization:\n  allow_anonymous_operations: [TopProducts, Nope]\n",
        jwt(true)
    ))
    .await;
    assert!(
        error.contains("allow_anonymous_operations[1]: no operation named `Nope`"),
        "{error}"
    );
    let error = build_error(&format!(
        "{base}{}authorization:\n  allow_anonymous_operations: [TopProducts]\n",
        jwt(true)
    ))
    .await;
    assert!(
        error.contains("persisted_queries.manifest is not set"),
        "{error}"
    );
    let bad = temp_file("bad.json", r#"{"x": "query A { a } query B { b }"}"#);
    let error = build_error(&format!(
        "{base}persisted_queries:\n  manifest: {}\n",
        bad.display()
    ))
    .await;
    assert!(
        error.contains("persisted_queries.manifest") && error.contains("exactly one operation"),
        "{error}"
    );
}
