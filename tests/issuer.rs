//! The router as a token issuer: discovery document and JWKS served by the
//! real router, tokens checked by an independent verifier (`jsonwebtoken`)
//! with keys fetched from the router, across a key rotation.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use jsonwebtoken::{DecodingKey, Validation};
use serde_json::{json, Map, Value};
use tollgate_e2e::{temp_file, workspace_root, TestEnv};
use tollgate_jwt::issuer::Issuer;

fn ed_pem() -> String {
    let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    ed25519_dalek::pkcs8::EncodePrivateKey::to_pkcs8_pem(
        &key,
        ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF,
    )
    .unwrap()
    .to_string()
}

fn issuer_yaml(keys: &[(&str, &std::path::Path)]) -> String {
    let keys: Vec<String> = keys
        .iter()
        .map(|(kid, path)| format!("{{ kid: {kid}, private_key_path: {} }}", path.display()))
        .collect();
    format!(
        "issuer:\n  issuer: https://router.example\n  expires_in: 10 minutes\n  keys: [{}]\n",
        keys.join(", ")
    )
}

/// Signs like the router would, with the issuer from the same config text.
fn sign_with(yaml: &str, sub: &str) -> String {
    let parsed = tollgate::config::parse(
        &format!("supergraph:\n  path: schemas/supergraph.graphql\n{yaml}"),
        &|_| None,
    )
    .unwrap();
    let issuer = Issuer::load(parsed.issuer.as_ref().unwrap(), &workspace_root()).unwrap();
    let mut claims = Map::new();
    claims.insert("sub".into(), json!(sub));
    issuer.sign(claims, None).unwrap()
}

async fn fetch_jwks(env: &TestEnv) -> jsonwebtoken::jwk::JwkSet {
    let discovery = env
        .send(
            env.client
                .get(format!("{}/.well-known/openid-configuration", env.base())),
        )
        .await;
    assert_eq!(discovery.status, 200, "{}", discovery.text);
    assert_eq!(discovery.body["issuer"], "https://router.example");
    let jwks_uri = discovery.body["jwks_uri"].as_str().unwrap();
    assert_eq!(jwks_uri, "https://router.example/.well-known/jwks.json");
    // Fetch it from this router (the public URL would front it in production).
    let path = jwks_uri.strip_prefix("https://router.example").unwrap();
    let jwks = env
        .send(env.client.get(format!("{}{path}", env.base())))
        .await;
    assert_eq!(jwks.status, 200);
    for key in jwks.body["keys"].as_array().unwrap() {
        assert!(key.get("d").is_none(), "no private material: {key}");
    }
    serde_json::from_value(jwks.body).unwrap()
}

fn verify(jwks: &jsonwebtoken::jwk::JwkSet, token: &str) -> Map<String, Value> {
    let header = jsonwebtoken::decode_header(token).unwrap();
    let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&["https://router.example"]);
    jsonwebtoken::decode(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
        .unwrap()
        .claims
}

#[tokio::test]
async fn minted_tokens_verify_with_the_published_keys_across_a_rotation() {
    let k1 = temp_file("k1.pem", &ed_pem());
    let k2 = temp_file("k2.pem", &ed_pem());

    let before = issuer_yaml(&[("k1", &k1)]);
    let env = TestEnv::start(&before).await;
    let jwks = fetch_jwks(&env).await;
    assert_eq!(jwks.keys.len(), 1);
    let old = sign_with(&before, "alice");
    assert_eq!(verify(&jwks, &old)["sub"], "alice");

    // Rotation: k2 is added and signs; k1 stays published.
    let after = issuer_yaml(&[("k1", &k1), ("k2", &k2)]);
    let env = TestEnv::start(&after).await;
    let jwks = fetch_jwks(&env).await;
    assert_eq!(jwks.keys.len(), 2);
    let new = sign_with(&after, "bob");
    assert_eq!(
        jsonwebtoken::decode_header(&new).unwrap().kid.as_deref(),
        Some("k2")
    );
    let claims = verify(&jwks, &new);
    assert_eq!(claims["sub"], "bob");
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        600
    );
    assert_eq!(
        verify(&jwks, &old)["sub"],
        "alice",
        "old tokens still verify"
    );
}

#[tokio::test]
async fn subgraphs_receive_minted_tokens_and_scripts_can_sign() {
    let key = temp_file("mint.pem", &ed_pem());
    let (addr, log) = tollgate_e2e::recording_subgraph(json!({"data": {"topProducts": []}})).await;
    let script = temp_file(
        "main.rhai",
        r#"fn subgraph_service(service, subgraph) {
            service.map_request(|request| {
                request.subgraph.headers["x-signed"] = jwt::sign(#{ sub: "script", purpose: "test" });
            });
        }"#,
    );
    let demo = tollgate_demo::spawn("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let yaml = format!(
        "supergraph:\n  path: schemas/supergraph.graphql\nsubgraphs:\n  products:\n    url: http://{addr}/products\n    auth:\n      mint: {{ audience: products, claims: [scope], expires_in: 1m }}\njwt:\n  jwks_providers:\n    - source: file\n      path: dev/dev-jwks.json\n{}rhai:\n  scripts: {}\n",
        issuer_yaml(&[("m1", &key)]),
        script.parent().unwrap().display()
    );
    let env = TestEnv::start_yaml(demo, &yaml).await;
    let jwks = fetch_jwks(&env).await;

    // Anonymous: the router's own subject.
    let response = env.post(json!({"query": "{ topProducts { upc } }"})).await;
    assert_eq!(response.status, 200, "{}", response.text);
    // With a client token: its `sub` and the listed claims.
    let client = tollgate_e2e::dev_token(
        &json!({"sub": "alice", "scope": "read", "secret": "not forwarded"}),
    );
    let auth = format!("Bearer {client}");
    env.post_with(
        json!({"query": "{ topProducts { upc } }"}),
        &[("authorization", &auth)],
    )
    .await;

    let recorded = log.lock().unwrap().clone();
    assert_eq!(recorded.len(), 2);
    let minted = |i: usize| {
        let header = recorded[i].headers["authorization"].to_str().unwrap();
        let token = header.strip_prefix("Bearer ").unwrap();
        let header = jsonwebtoken::decode_header(token).unwrap();
        let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&["https://router.example"]);
        validation.set_audience(&["products"]);
        jsonwebtoken::decode::<Map<String, Value>>(
            token,
            &DecodingKey::from_jwk(jwk).unwrap(),
            &validation,
        )
        .unwrap()
        .claims
    };
    let anonymous = minted(0);
    assert_eq!(anonymous["sub"], "tollgate");
    assert!(anonymous.get("scope").is_none());
    assert_eq!(
        anonymous["exp"].as_u64().unwrap() - anonymous["iat"].as_u64().unwrap(),
        60
    );
    let user = minted(1);
    assert_eq!(user["sub"], "alice");
    assert_eq!(user["scope"], "read");
    assert!(user.get("secret").is_none(), "only the listed claims");

    let signed = recorded[0].headers["x-signed"].to_str().unwrap();
    assert_eq!(verify(&jwks, signed)["purpose"], "test");
}

#[tokio::test]
async fn minting_without_an_issuer_is_a_start_error() {
    let parsed = tollgate::config::parse(
        "supergraph:\n  path: schemas/supergraph.graphql\nsubgraphs:\n  products:\n    auth:\n      mint: { audience: products }\n",
        &|_| None,
    )
    .unwrap();
    let loaded = tollgate::config::LoadedConfig {
        config: parsed,
        base_dir: workspace_root(),
        path: workspace_root().join("router.yaml"),
    };
    let error = match tollgate::server::build(&loaded).await {
        Ok(_) => panic!("must not start"),
        Err(error) => error.to_string(),
    };
    assert!(error.starts_with("subgraphs.products.auth.mint"), "{error}");
}
