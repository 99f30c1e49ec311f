//! Per-request cost of a small claim-checking script: the Apollo example
//! (issuer check) run at the supergraph stage with verified claims in the
//! context, compared with no script. Bounded: a fixed number of iterations.
//!
//! Run: `cargo run --release -p tollgate-rhai --example rhai_bench`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::Instant;

use http::{HeaderMap, Method, Uri};
use serde_json::{json, Map};
use tollgate_core::context::RequestContext;
use tollgate_core::plugin::{Plugin, SupergraphRequest};
use tollgate_core::request::GraphqlRequest;
use tollgate_rhai::{RhaiConfig, RhaiPlugin, APOLLO_JWT_CLAIMS_KEY, JWT_CLAIMS_KEY};

const ITERATIONS: u32 = 100_000;

const SCRIPT: &str = include_str!("../../../examples/rhai/apollo_claim_check.rhai");

fn main() {
    let dir = std::env::temp_dir().join(format!("tollgate-rhai-bench-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("rhai")).unwrap();
    std::fs::write(dir.join("rhai/main.rhai"), SCRIPT).unwrap();
    let config: RhaiConfig = serde_yaml::from_str("{}").unwrap();
    let plugin = RhaiPlugin::load(&config, &dir, &[]).unwrap();

    let headers = HeaderMap::new();
    let uri = Uri::from_static("http://router/graphql");
    let claims = json!({"iss": "https://idp.local", "sub": "1", "aud": "api", "exp": 4_000_000_000u64, "scope": "read write"});
    let mut body = GraphqlRequest {
        query: "{ me { id } }".to_owned(),
        operation_name: None,
        variables: Map::new(),
        extensions: Map::new(),
    };
    let start = Instant::now();
    for _ in 0..ITERATIONS {
        let mut context = RequestContext::new();
        context.insert(JWT_CLAIMS_KEY, claims.clone());
        context.alias(APOLLO_JWT_CLAIMS_KEY, JWT_CLAIMS_KEY);
        let flow = plugin.supergraph_request(SupergraphRequest {
            method: &Method::POST,
            uri: &uri,
            headers: &headers,
            body: &mut body,
            context: &mut context,
        });
        assert!(flow.is_continue());
    }
    let with_script = start.elapsed().as_nanos() as f64 / f64::from(ITERATIONS);

    // The same loop without running the script (context set-up only).
    let start = Instant::now();
    for _ in 0..ITERATIONS {
        let mut context = RequestContext::new();
        context.insert(JWT_CLAIMS_KEY, claims.clone());
        context.alias(APOLLO_JWT_CLAIMS_KEY, JWT_CLAIMS_KEY);
        std::hint::black_box(&context);
    }
    let baseline = start.elapsed().as_nanos() as f64 / f64::from(ITERATIONS);
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "RESULT claim_script_ns={:.0} (loop with script {with_script:.0} ns, without {baseline:.0} ns)",
        with_script - baseline
    );
}
