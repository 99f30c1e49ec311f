//! Federation end to end: operations spanning the demo subgraphs (entities,
//! `@requires`, `@provides`, nested entities, lists), response shaping, and
//! errors/nulls from scripted subgraphs, through the real router over
//! loopback HTTP.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use serde_json::{json, Value};
use std::time::Duration;

use tollgate_e2e::{scripted_subgraphs, scripted_subgraphs_delayed, temp_file, TestEnv};

#[tokio::test]
async fn two_subgraphs_through_an_entity_key() {
    let env = TestEnv::start("").await;
    let response = env
        .post(json!({"query": "{ topProducts(first: 2) { name reviews { body } } }"}))
        .await;
    assert_eq!(
        response.body,
        json!({"data": {"topProducts": [
            {"name": "Table", "reviews": [{"body": "Love it!"}, {"body": "Prefer something else."}]},
            {"name": "Couch", "reviews": [{"body": "Too expensive."}]}
        ]}})
    );
}

#[tokio::test]
async fn four_subgraphs_with_requires_and_lists() {
    let env = TestEnv::start("").await;
    let response = env
        .post(json!({"query": "{ users { name reviews { product { name shippingEstimate inStock } } } }"}))
        .await;
    assert!(response.body.get("errors").is_none(), "{}", response.text);
    assert_eq!(
        response.body["data"]["users"],
        json!([
            {"name": "Ada Lovelace", "reviews": [
                {"product": {"name": "Table", "shippingEstimate": 50, "inStock": true}},
                {"product": {"name": "Couch", "shippingEstimate": 0, "inStock": false}}
            ]},
            {"name": "Alan Turing", "reviews": [
                {"product": {"name": "Chair", "shippingEstimate": 25, "inStock": true}},
                {"product": {"name": "Table", "shippingEstimate": 50, "inStock": true}}
            ]},
            {"name": "Grace Hopper", "reviews": [
                {"product": {"name": "Chair", "shippingEstimate": 25, "inStock": true}}
            ]},
            {"name": "Edsger Dijkstra", "reviews": []}
        ])
    );
}

#[tokio::test]
async fn requires_on_a_root_list() {
    let env = TestEnv::start("").await;
    let response = env
        .post(json!({"query": "{ topProducts { upc shippingEstimate } }"}))
        .await;
    assert_eq!(
        response.body["data"]["topProducts"],
        json!([
            {"upc": "1", "shippingEstimate": 50},
            {"upc": "2", "shippingEstimate": 0},
            {"upc": "3", "shippingEstimate": 25},
            {"upc": "4", "shippingEstimate": 5}
        ])
    );
}

#[tokio::test]
async fn provides_saves_a_hop() {
    let env = TestEnv::start("").await;
    let before = env.demo.requests();
    let response = env
        .post(json!({"query": "{ topProducts(first: 1) { reviews { author { username } } } }"}))
        .await;
    assert_eq!(
        response.body["data"]["topProducts"][0]["reviews"],
        json!([{"author": {"username": "@ada"}}, {"author": {"username": "@complete"}}])
    );
    assert_eq!(
        env.demo.requests() - before,
        2,
        "products then reviews, no accounts hop"
    );
}

#[tokio::test]
async fn nested_entities_round_trip() {
    let env = TestEnv::start("").await;
    let response = env
        .post(json!({"query": "{ topProducts(first: 1) { name reviews { author { name reviews { product { name } } } } } }"}))
        .await;
    assert_eq!(
        response.body,
        json!({"data": {"topProducts": [{"name": "Table", "reviews": [
            {"author": {"name": "Ada Lovelace", "reviews": [{"product": {"name": "Table"}}, {"product": {"name": "Couch"}}]}},
            {"author": {"name": "Alan Turing", "reviews": [{"product": {"name": "Chair"}}, {"product": {"name": "Table"}}]}}
        ]}]}})
    );
}

#[tokio::test]
async fn aliases_fragments_typename_and_skip_include() {
    let env = TestEnv::start("").await;
    let response = env
        .post(json!({
            "query": "query Q($yes: Boolean!, $no: Boolean!) { first: user(id: \"1\") { __typename ...U who: name } second: user(id: \"3\") { ... on User @include(if: $yes) { reviews { b: body } } name @skip(if: $yes) id @include(if: $no) } __typename } fragment U on User { reviews { product { ... on Product { n: name } upc @skip(if: $no) } } }",
            "variables": {"yes": true, "no": false},
            "operationName": "Q"
        }))
        .await;
    assert_eq!(
        response.text,
        json!({"data": {
            "first": {"__typename": "User", "reviews": [
                {"product": {"n": "Table", "upc": "1"}},
                {"product": {"n": "Couch", "upc": "2"}}
            ], "who": "Ada Lovelace"},
            "second": {"reviews": [{"b": "Sturdy."}]},
            "__typename": "Query"
        }})
        .to_string(),
        "exact keys, order and aliases"
    );
}

#[tokio::test]
async fn the_plan_is_cached_per_operation() {
    let env = TestEnv::start("").await;
    let query = json!({"query": "{ users { reviews { body } } }"});
    let first = env.post(query.clone()).await;
    let second = env.post(query).await;
    assert_eq!(first.body, second.body);
    // Another spelling of the same operation reuses the plan.
    let respelled = env
        .post(json!({"query": "# same\n{\n  users {\n    reviews { body }\n  }\n}"}))
        .await;
    assert_eq!(respelled.body, first.body);
    let runtime = env.router.runtime().load();
    assert_eq!(runtime.cached_operations(), 2);
    assert_eq!(runtime.cached_plans(), 1);
}

#[tokio::test]
async fn a_down_subgraph_nulls_only_its_fields() {
    let demo = tollgate_demo::spawn("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/inventory", closed.local_addr().unwrap());
    drop(closed);
    let mut yaml = String::from("supergraph:\n  path: schemas/supergraph.graphql\nsubgraphs:\n");
    for name in ["accounts", "products", "reviews"] {
        yaml.push_str(&format!("  {name}:\n    url: {}\n", demo.url(name)));
    }
    yaml.push_str(&format!("  inventory:\n    url: {dead}\n    timeout: 2s\n"));
    let env = TestEnv::start_yaml(demo, &yaml).await;
    let response = env
        .post(json!({"query": "{ topProducts(first: 2) { name inStock } }"}))
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.body["data"],
        json!({"topProducts": [{"name": "Table", "inStock": null}, {"name": "Couch", "inStock": null}]})
    );
    assert_eq!(response.code(), Some("SUBREQUEST_HTTP_ERROR"));
    assert_eq!(
        response.body["errors"][0]["extensions"]["serviceName"],
        "inventory"
    );
}

const SCRIPTED: &str = r#"
schema
  @link(url: "https://specs.apollo.dev/link/v1.0")
  @link(url: "https://specs.apollo.dev/join/v0.3", for: EXECUTION)
{
  query: Query
}

# JOIN_PRELUDE
enum join__Graph {
  A @join__graph(name: "a", url: "http://127.0.0.1:1/a")
  B @join__graph(name: "b", url: "http://127.0.0.1:1/b")
}

type Query @join__type(graph: A) @join__type(graph: B) {
  things: [Thing!] @join__field(graph: A)
}

type Thing @join__type(graph: A, key: "id") @join__type(graph: B, key: "id") {
  id: ID!
  name: String @join__field(graph: A)
  detail: String! @join__field(graph: B)
  extra: String @join__field(graph: B)
}
"#;

/// Subgraph A lists three things; B fails on the second one's `detail` with
/// an error pathed into `_entities`.
fn scripted(subgraph: &str, body: &Value) -> Value {
    match subgraph {
        "a" => json!({"data": {"things": [
            {"__typename": "Thing", "id": "1", "name": "one"},
            {"__typename": "Thing", "id": "2", "name": "two"},
            {"__typename": "Thing", "id": "1", "name": "one again"}
        ]}}),
        _ => {
            let reps = body["variables"]["representations"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let entities: Vec<Value> = reps
                .iter()
                .map(|r| {
                    if r["id"] == "2" {
                        Value::Null
                    } else {
                        json!({"detail": format!("d{}", r["id"].as_str().unwrap()), "extra": "x"})
                    }
                })
                .collect();
            json!({
                "data": {"_entities": entities},
                "errors": [{"message": "detail exploded", "path": ["_entities", 1, "detail"], "extensions": {"code": "BOOM"}}]
            })
        }
    }
}

async fn scripted_env() -> TestEnv {
    scripted_env_with(SCRIPTED, scripted).await
}

async fn scripted_env_with(sdl: &str, handler: fn(&str, &Value) -> Value) -> TestEnv {
    scripted_env_extra(sdl, handler, "include_subgraph_errors:\n  all: true\n").await
}

async fn scripted_env_extra(sdl: &str, handler: fn(&str, &Value) -> Value, extra: &str) -> TestEnv {
    let addr = scripted_subgraphs(handler).await;
    scripted_env_at(addr, sdl, extra).await
}

async fn scripted_env_at(addr: std::net::SocketAddr, sdl: &str, extra: &str) -> TestEnv {
    let sdl = sdl.replace("# JOIN_PRELUDE\n", tollgate_core::supergraph::JOIN_PRELUDE);
    let path = temp_file("supergraph.graphql", &sdl);
    let yaml = format!(
        "supergraph:\n  path: {}\nsubgraphs:\n  a:\n    url: http://{addr}/a\n  b:\n    url: http://{addr}/b\n{extra}",
        path.display()
    );
    let demo = tollgate_demo::spawn("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    TestEnv::start_yaml(demo, &yaml).await
}

#[tokio::test]
async fn entity_errors_are_repathed_and_nulls_bubble() {
    let env = scripted_env().await;
    let response = env
        .post(json!({"query": "{ things { name detail } }"}))
        .await;
    // The second thing's non-null `detail` is null: the item is non-null
    // too, so the whole (nullable) list becomes null.
    assert_eq!(response.body["data"], json!({"things": null}));
    let errors = response.body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{}", response.text);
    assert_eq!(errors[0]["message"], "detail exploded");
    assert_eq!(errors[0]["path"], json!(["things", 1, "detail"]));
    assert_eq!(errors[0]["extensions"]["code"], "BOOM");
    assert_eq!(errors[0]["extensions"]["serviceName"], "b");
}

#[tokio::test]
async fn subgraph_errors_are_redacted_unless_included() {
    let env = scripted_env_extra(SCRIPTED, scripted, "").await;
    let response = env
        .post(json!({"query": "{ things { name detail } }"}))
        .await;
    assert_eq!(response.body["data"], json!({"things": null}));
    assert_eq!(
        response.body["errors"],
        json!([{
            "message": "Subgraph errors redacted",
            "path": ["things", 1, "detail"],
            "extensions": {"code": "SUBGRAPH_ERROR_REDACTED", "serviceName": "b"}
        }])
    );
    assert!(!response.text.contains("exploded") && !response.text.contains("BOOM"));

    // Per subgraph: `b` included while `all` stays off.
    let env = scripted_env_extra(
        SCRIPTED,
        scripted,
        "include_subgraph_errors:\n  subgraphs:\n    b: true\n",
    )
    .await;
    let response = env
        .post(json!({"query": "{ things { name detail } }"}))
        .await;
    assert_eq!(response.body["errors"][0]["message"], "detail exploded");
}

#[tokio::test]
async fn entity_representations_are_deduplicated_and_merged_everywhere() {
    let env = scripted_env().await;
    let response = env.post(json!({"query": "{ things { id extra } }"})).await;
    // Thing 2 has no entity (null): its nullable `extra` is null, the others
    // share one representation for id 1.
    assert_eq!(
        response.body["data"],
        json!({"things": [{"id": "1", "extra": "x"}, {"id": "2", "extra": null}, {"id": "1", "extra": "x"}]})
    );
}

#[tokio::test]
async fn concurrent_identical_queries_share_subgraph_answers_and_each_gets_all_of_it() {
    // Slow subgraphs so the concurrent requests overlap and deduplication
    // (on by default) shares answers: each shared answer is merged into
    // every joined request's response.
    let (addr, count) = scripted_subgraphs_delayed(scripted, Duration::from_millis(300)).await;
    let env = scripted_env_at(addr, SCRIPTED, "include_subgraph_errors:\n  all: true\n").await;
    let query = json!({"query": "{ things { id name extra } }"});
    let responses = futures::future::join_all((0..6).map(|_| env.post(query.clone()))).await;
    let expected = json!({"things": [
        {"id": "1", "name": "one", "extra": "x"},
        {"id": "2", "name": "two", "extra": null},
        {"id": "1", "name": "one again", "extra": "x"}
    ]});
    for response in &responses {
        assert_eq!(response.body["data"], expected, "{}", response.text);
        assert_eq!(response.body["errors"][0]["message"], "detail exploded");
    }
    let calls = count.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        calls < 12,
        "6 requests of 2 fetches made {calls} subgraph calls: nothing shared"
    );
}

#[tokio::test]
async fn the_query_plan_is_exposed_only_when_enabled_and_asked() {
    let query = json!({"query": "{ topProducts(first: 1) { name inStock } }"});
    let header = [("tollgate-expose-query-plan", "true")];
    let off = TestEnv::start("").await;
    let response = off.post_with(query.clone(), &header).await;
    assert!(
        response.body.get("extensions").is_none(),
        "{}",
        response.text
    );

    let on = TestEnv::start("debug:\n  expose_query_plan: true\n").await;
    let plain = on.post(query.clone()).await;
    assert!(plain.body.get("extensions").is_none(), "{}", plain.text);
    let response = on.post_with(query, &header).await;
    let plan = response.body["extensions"]["queryPlan"].as_str().unwrap();
    assert!(plan.contains("Fetch(service: \"products\")"), "{plan}");
    assert!(plan.contains("Flatten(path: \"topProducts.@\")"), "{plan}");
    assert!(plan.contains("Fetch(service: \"inventory\")"), "{plan}");
    assert_eq!(
        response.body["data"],
        json!({"topProducts": [{"name": "Table", "inStock": true}]})
    );
}

/// `Node` is a real interface in `a` (with `User`) and an `@interfaceObject`
/// in `b`, which adds `username`.
fn interface_object_supergraph() -> String {
    SCRIPTED.split("type Query").next().unwrap().to_owned()
        + r#"
type Query @join__type(graph: A) @join__type(graph: B) {
  users: [Node] @join__field(graph: A)
  others: [Node] @join__field(graph: B)
}
interface Node @join__type(graph: A, key: "id") @join__type(graph: B, key: "id", isInterfaceObject: true) {
  id: ID!
  username: String @join__field(graph: B)
}
type User implements Node @join__implements(graph: A, interface: "Node") @join__type(graph: A, key: "id") {
  id: ID!
  age: Int
  username: String @join__field
}
"#
}

fn interface_object_subgraphs(subgraph: &str, body: &Value) -> Value {
    let query = body["query"].as_str().unwrap_or_default();
    let reps = body["variables"]["representations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    match (subgraph, query.contains("_entities")) {
        ("a", false) => json!({"data": {"users": [{"__typename": "User", "id": "1"}]}}),
        ("a", true) => {
            // The interface entity resolves to its concrete type.
            assert!(reps.iter().all(|r| r["__typename"] == "Node"), "{reps:?}");
            json!({"data": {"_entities": reps.iter().map(|_| json!({"__typename": "User", "age": 36})).collect::<Vec<_>>()}})
        }
        ("b", false) => {
            json!({"data": {"others": [{"__typename": "Node", "id": "1", "username": "ada"}]}})
        }
        _ => {
            assert!(reps.iter().all(|r| r["__typename"] == "Node"), "{reps:?}");
            json!({"data": {"_entities": reps.iter().map(|_| json!({"username": "ada"})).collect::<Vec<_>>()}})
        }
    }
}

#[tokio::test]
async fn interface_objects_resolve_through_the_interface() {
    let env = scripted_env_with(&interface_object_supergraph(), interface_object_subgraphs).await;
    let response = env
        .post(json!({"query": "{ users { id username } }"}))
        .await;
    assert_eq!(
        response.body,
        json!({"data": {"users": [{"id": "1", "username": "ada"}]}})
    );

    let response = env
        .post(json!({"query": "{ others { username ... on User { age } __typename } }"}))
        .await;
    assert_eq!(
        response.body,
        json!({"data": {"others": [{"username": "ada", "age": 36, "__typename": "User"}]}})
    );

    // No concrete type needed: shaped on the interface, one fetch.
    let response = env
        .post(json!({"query": "{ others { id username } }"}))
        .await;
    assert_eq!(
        response.body,
        json!({"data": {"others": [{"id": "1", "username": "ada"}]}})
    );
}

#[tokio::test]
async fn entity_fetches_to_one_subgraph_share_one_request() {
    let env = TestEnv::start("").await;
    let before = env.demo.requests();
    let response = env
        .post(json!({"query": "{ users { id reviews { body } } topProducts(first: 2) { upc reviews { body author { name } } } }"}))
        .await;
    assert_eq!(response.body.get("errors"), None, "{}", response.text);
    assert_eq!(
        response.body["data"]["users"][0],
        json!({"id": "1", "reviews": [{"body": "Love it!"}, {"body": "Too expensive."}]})
    );
    assert_eq!(
        response.body["data"]["users"][3],
        json!({"id": "4", "reviews": []})
    );
    assert_eq!(
        response.body["data"]["topProducts"],
        json!([
            {"upc": "1", "reviews": [
                {"body": "Love it!", "author": {"name": "Ada Lovelace"}},
                {"body": "Prefer something else.", "author": {"name": "Alan Turing"}}
            ]},
            {"upc": "2", "reviews": [{"body": "Too expensive.", "author": {"name": "Ada Lovelace"}}]}
        ])
    );
    // accounts (users), products (topProducts), one reviews fetch for both
    // paths, accounts (authors).
    assert_eq!(env.demo.requests() - before, 4);
}

fn partial_union_supergraph() -> String {
    SCRIPTED.split("type Query").next().unwrap().to_owned()
        + include_str!("../crates/tollgate-core/src/planner/testdata/partial_union.graphql")
}

/// Subgraph `a` answers like the audit's: whatever it is asked, its list
/// holds a `Common` and an `OnlyA`, with `a` only when asked for.
fn partial_union_subgraphs(subgraph: &str, body: &Value) -> Value {
    let query = body["query"].as_str().unwrap_or_default();
    assert_eq!(subgraph, "a", "one fetch, to a: {query}");
    let mut only_a = json!({"__typename": "OnlyA"});
    if query.contains("... on OnlyA") {
        only_a["a"] = json!("only a");
    }
    json!({"data": {"rootA": {"wrapper": {"actions": [
        {"__typename": "Common", "label": "common label"},
        only_a
    ]}}}})
}

#[tokio::test]
async fn union_members_only_some_candidate_subgraphs_have_answer_null() {
    // `wrapper` could be resolved by either subgraph, so only the members
    // both have are selected; `OnlyA`'s field answers null, whichever
    // subgraph the plan uses (the audit's partial-union-complex).
    let env = scripted_env_with(&partial_union_supergraph(), partial_union_subgraphs).await;
    let response = env
        .post(json!({"query": "{ rootA { wrapper { actions { __typename ... on Common { label } ... on OnlyA { a } ... on OnlyB { b } } } } }"}))
        .await;
    assert_eq!(
        response.body,
        json!({"data": {"rootA": {"wrapper": {"actions": [
            {"__typename": "Common", "label": "common label"},
            {"__typename": "OnlyA", "a": null}
        ]}}}})
    );
}

/// [`scripted`], with B also reporting errors whose paths do not point
/// into its `_entities`.
fn scripted_stray_paths(subgraph: &str, body: &Value) -> Value {
    let mut answer = scripted(subgraph, body);
    if subgraph == "b" {
        let errors = answer["errors"].as_array_mut().unwrap();
        errors.push(json!({"message": "stray", "path": ["things", 5, "detail"]}));
        errors.push(json!({"message": "odd", "path": ["_entities", "1", "detail"]}));
    }
    answer
}

#[tokio::test]
async fn entity_errors_with_paths_outside_entities_keep_no_path() {
    let env = scripted_env_with(SCRIPTED, scripted_stray_paths).await;
    let response = env
        .post(json!({"query": "{ things { name detail } }"}))
        .await;
    let errors = response.body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 3, "{}", response.text);
    assert_eq!(errors[0]["path"], json!(["things", 1, "detail"]));
    for error in &errors[1..] {
        assert!(error.get("path").is_none(), "{}", response.text);
        assert_eq!(error["extensions"]["serviceName"], "b");
    }
}
