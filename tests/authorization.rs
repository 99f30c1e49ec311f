//! Authorization directives end to end: `@authenticated` and
//! `@requiresScopes` in a supergraph, real tokens, and a recording subgraph
//! proving unauthorized fields are never fetched.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use serde_json::{json, Value};
use tollgate_e2e::{recording_subgraph, temp_file, TestEnv};

fn supergraph(addr: std::net::SocketAddr) -> String {
    format!(
        r#"schema
  @link(url: "https://specs.apollo.dev/link/v1.0")
  @link(url: "https://specs.apollo.dev/join/v0.3", for: EXECUTION)
  @link(url: "https://specs.apollo.dev/authenticated/v0.1", for: SECURITY)
  @link(url: "https://specs.apollo.dev/requiresScopes/v0.1", for: SECURITY)
  @link(url: "https://specs.apollo.dev/policy/v0.1", for: SECURITY)
{{
  query: Query
}}

{prelude}
directive @authenticated on FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR | ENUM
directive @requiresScopes(scopes: [[requiresScopes__Scope!]!]!) on FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR | ENUM
scalar requiresScopes__Scope
directive @policy(policies: [[policy__Policy!]!]!) on FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR | ENUM
scalar policy__Policy

enum join__Graph {{
  A @join__graph(name: "a", url: "http://{addr}/a")
}}

type Query @join__type(graph: A) {{
  public: String
  me: User @authenticated
  admin: String @requiresScopes(scopes: [["admin"], ["root", "ops"]])
  things: [Thing]
  report: String @policy(policies: [["admin"]])
}}

type User @join__type(graph: A) {{
  id: ID!
}}

type Thing @join__type(graph: A) {{
  id: ID!
  secret: String @requiresScopes(scopes: [["read:secret"]])
  code: String! @requiresScopes(scopes: [["code"]])
}}
"#,
        prelude = tollgate_core::supergraph::JOIN_PRELUDE
    )
}

const ANSWER: &str = r#"{"data": {"public": "p", "me": {"id": "1"}, "admin": "adm", "report": "r",
  "things": [{"id": "1", "secret": "x", "code": "c1"}, {"id": "2", "secret": "y", "code": "c2"}]}}"#;

fn token(scope: &str) -> String {
    format!(
        "Bearer {}",
        tollgate_e2e::dev_token(&json!({"sub": "1", "scope": scope, "role": scope}))
    )
}

type Log = std::sync::Arc<std::sync::Mutex<Vec<tollgate_e2e::Recorded>>>;

async fn start(extra: &str) -> (TestEnv, Log) {
    let (addr, log) = recording_subgraph(serde_json::from_str(ANSWER).unwrap()).await;
    let path = temp_file("supergraph.graphql", &supergraph(addr));
    let demo = tollgate_demo::spawn("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let yaml = format!(
        "supergraph:\n  path: {}\njwt:\n  jwks_providers:\n    - source: file\n      path: dev/dev-jwks.json\n{extra}",
        path.display()
    );
    (TestEnv::start_yaml(demo, &yaml).await, log)
}

fn last_query(log: &Log) -> String {
    log.lock().unwrap().last().unwrap().body["query"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn error_paths(body: &Value) -> Vec<Value> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .inspect(|e| {
                    assert_eq!(e["extensions"]["code"], "UNAUTHORIZED_FIELD_OR_TYPE", "{e}")
                })
                .map(|e| e["path"].clone())
                .collect()
        })
        .unwrap_or_default()
}

const QUERY: &str = "{ public me { id } admin things { id secret } }";

#[tokio::test]
async fn unauthorized_fields_are_null_with_errors_and_never_fetched() {
    let (env, log) = start("").await;
    let response = env.post(json!({"query": QUERY})).await;
    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(
        response.body["data"],
        json!({"public": "p", "me": null, "admin": null, "things": [{"id": "1", "secret": null}, {"id": "2", "secret": null}]})
    );
    assert_eq!(
        error_paths(&response.body),
        vec![
            json!(["me"]),
            json!(["admin"]),
            json!(["things", 0, "secret"]),
            json!(["things", 1, "secret"])
        ]
    );
    let sent = last_query(&log);
    for absent in ["me", "admin", "secret"] {
        assert!(!sent.contains(absent), "{absent} was fetched: {sent}");
    }

    // A token with one scope set opens what it covers.
    let auth = token("read:secret");
    let response = env
        .post_with(json!({"query": QUERY}), &[("authorization", &auth)])
        .await;
    assert_eq!(
        response.body["data"],
        json!({"public": "p", "me": {"id": "1"}, "admin": null, "things": [{"id": "1", "secret": "x"}, {"id": "2", "secret": "y"}]})
    );
    assert_eq!(error_paths(&response.body), vec![json!(["admin"])]);

    // Inner lists are AND, outer lists OR.
    let auth = token("root ops");
    let response = env
        .post_with(json!({"query": "{ admin }"}), &[("authorization", &auth)])
        .await;
    assert_eq!(response.body, json!({"data": {"admin": "adm"}}));
    let auth = token("root");
    let response = env
        .post_with(json!({"query": "{ admin }"}), &[("authorization", &auth)])
        .await;
    assert_eq!(response.body["data"], json!({"admin": null}));

    // A denied non-null field nulls its parent.
    let response = env.post(json!({"query": "{ things { id code } }"})).await;
    assert_eq!(response.body["data"], json!({"things": [null, null]}));

    // Introspection still shows the whole API schema.
    let response = env
        .post(json!({"query": "{ __type(name: \"Query\") { fields { name } } }"}))
        .await;
    assert!(response.text.contains("\"admin\""), "{}", response.text);
}

#[tokio::test]
async fn reject_and_dry_run_modes() {
    let (env, _) = start("authorization:\n  reject_unauthorized: true\n").await;
    let response = env.post(json!({"query": QUERY})).await;
    assert_eq!(response.status, 403, "{}", response.text);
    assert_eq!(response.code(), Some("UNAUTHORIZED_FIELD_OR_TYPE"));
    assert!(response.body.get("data").is_none());
    let response = env.post(json!({"query": "{ public }"})).await;
    assert_eq!(response.body, json!({"data": {"public": "p"}}));

    let (env, log) = start("authorization:\n  dry_run: true\n").await;
    let response = env.post(json!({"query": "{ admin }"})).await;
    assert_eq!(response.body, json!({"data": {"admin": "adm"}}));
    assert!(last_query(&log).contains("admin"));
}

/// Grants each required policy whose name equals the caller's `role` claim.
const POLICY_SCRIPT: &str = r#"
fn supergraph_service(service) {
    service.map_request(|request| {
        let policies = request.context["apollo::authorization::required_policies"];
        if policies != () {
            let claims = request.context[JWT_CLAIMS];
            for key in policies.keys() {
                policies[key] = claims != () && claims.role == key;
            }
            request.context["apollo::authorization::required_policies"] = policies;
        }
    });
}
"#;

#[tokio::test]
async fn policies_are_decided_by_scripts() {
    let script = temp_file("main.rhai", POLICY_SCRIPT);
    let (env, log) = start(&format!(
        "rhai:\n  scripts: {}\n",
        script.parent().unwrap().display()
    ))
    .await;
    let response = env.post(json!({"query": "{ public report }"})).await;
    assert_eq!(
        response.body["data"],
        json!({"public": "p", "report": null})
    );
    assert_eq!(error_paths(&response.body), vec![json!(["report"])]);
    assert!(!last_query(&log).contains("report"));

    let auth = token("admin");
    let response = env
        .post_with(
            json!({"query": "{ public report }"}),
            &[("authorization", &auth)],
        )
        .await;
    assert_eq!(
        response.body,
        json!({"data": {"public": "p", "report": "r"}})
    );

    let auth = token("viewer");
    let response = env
        .post_with(json!({"query": "{ report }"}), &[("authorization", &auth)])
        .await;
    assert_eq!(response.body["data"], json!({"report": null}));
}
