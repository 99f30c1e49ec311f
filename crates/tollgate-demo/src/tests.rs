//! Demo subgraph tests over real loopback HTTP, and the SDL drift check.

use serde_json::{json, Value};

use super::*;

async fn post(handle: &DemoHandle, subgraph: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(handle.url(subgraph))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (
        status,
        serde_json::from_str(&response.text().await.unwrap()).unwrap(),
    )
}

async fn start() -> DemoHandle {
    spawn("127.0.0.1:0".parse().unwrap()).await.unwrap()
}

#[tokio::test]
async fn me_comes_from_forwarded_claims() {
    let demo = start().await;
    let query =
        json!({"query": "{ me { id name username } }", "extensions": {"jwt": {"sub": "2"}}});
    let (status, body) = post(&demo, "accounts", query).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"data": {"me": {"id": "2", "name": "Alan Turing", "username": "@complete"}}})
    );
    let (_, body) = post(&demo, "accounts", json!({"query": "{ me { id } }"})).await;
    assert_eq!(body, json!({"data": {"me": null}}));
}

#[tokio::test]
async fn top_products_and_mutation() {
    let demo = start().await;
    let (_, body) = post(
        &demo,
        "products",
        json!({"query": "{ topProducts(first: 2) { upc name price weight } }"}),
    )
    .await;
    assert_eq!(
        body,
        json!({"data": {"topProducts": [
            {"upc": "1", "name": "Table", "price": 899, "weight": 100},
            {"upc": "2", "name": "Couch", "price": 1299, "weight": 1000}
        ]}})
    );
    let (_, body) = post(
        &demo,
        "products",
        json!({"query": "mutation { createProduct(upc: \"9\", name: \"Desk\", price: 10, weight: 20) { upc name } }"}),
    )
    .await;
    assert_eq!(
        body,
        json!({"data": {"createProduct": {"upc": "9", "name": "Desk"}}})
    );
    let (_, body) = post(
        &demo,
        "products",
        json!({"query": "{ product(upc: \"9\") { name price } }"}),
    )
    .await;
    assert_eq!(
        body,
        json!({"data": {"product": {"name": "Desk", "price": 10}}})
    );
}

#[tokio::test]
async fn entities_resolve_in_every_subgraph() {
    let demo = start().await;
    let entities = |reps: Value, selection: &str| {
        json!({
            "query": format!("query($r: [_Any!]!) {{ _entities(representations: $r) {{ {selection} }} }}"),
            "variables": {"r": reps}
        })
    };
    let (_, body) = post(
        &demo,
        "accounts",
        entities(
            json!([{"__typename": "User", "id": "3"}]),
            "... on User { name }",
        ),
    )
    .await;
    assert_eq!(
        body,
        json!({"data": {"_entities": [{"name": "Grace Hopper"}]}})
    );

    let (_, body) = post(
        &demo,
        "reviews",
        entities(
            json!([{"__typename": "Product", "upc": "3"}, {"__typename": "User", "id": "1"}]),
            "... on Product { reviews { body author { username } } } ... on User { reviews { id } }",
        ),
    )
    .await;
    assert_eq!(
        body,
        json!({"data": {"_entities": [
            {"reviews": [
                {"body": "Could be better.", "author": {"username": "@complete"}},
                {"body": "Sturdy.", "author": {"username": "@grace"}}
            ]},
            {"reviews": [{"id": "1"}, {"id": "2"}]}
        ]}})
    );

    let (_, body) = post(
        &demo,
        "inventory",
        entities(
            json!([
                {"__typename": "Product", "upc": "1", "price": 899, "weight": 100},
                {"__typename": "Product", "upc": "2", "price": 1299, "weight": 1000}
            ]),
            "... on Product { upc inStock shippingEstimate }",
        ),
    )
    .await;
    assert_eq!(
        body,
        json!({"data": {"_entities": [
            {"upc": "1", "inStock": true, "shippingEstimate": 50},
            {"upc": "2", "inStock": false, "shippingEstimate": 0}
        ]}})
    );
}

#[tokio::test]
async fn bad_json_is_a_400() {
    let demo = start().await;
    let response = reqwest::Client::new()
        .post(demo.url("products"))
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("invalid JSON"));
}

#[tokio::test]
async fn service_sdl_matches_subgraph_sdl() {
    let demo = start().await;
    for name in SUBGRAPHS {
        let (_, body) = post(&demo, name, json!({"query": "{ _service { sdl } }"})).await;
        assert_eq!(
            body["data"]["_service"]["sdl"].as_str(),
            subgraph_sdl(name).as_deref(),
            "{name}"
        );
    }
}

/// The committed `schemas/<name>.graphql` files must equal what the demo
/// serves; `UPDATE_SCHEMAS=1 cargo test -p tollgate-demo` rewrites them.
#[test]
fn committed_sdl_files_match() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
    let update = std::env::var("UPDATE_SCHEMAS").is_ok_and(|v| v == "1");
    for name in SUBGRAPHS {
        let sdl = subgraph_sdl(name).unwrap();
        let path = dir.join(format!("{name}.graphql"));
        if update {
            std::fs::write(&path, &sdl).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            committed, sdl,
            "schemas/{name}.graphql is out of date: run UPDATE_SCHEMAS=1 cargo test -p tollgate-demo, then recompose (schemas/README.md)"
        );
    }
}
