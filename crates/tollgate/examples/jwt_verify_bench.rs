//! Micro-benchmark of the JWT checkpoint alone: time per `authenticate`
//! call for an RS256 dev token with the verification cache on (the hot path)
//! and off (a full signature check every time), and the cost of building
//! the forwarded claims. Bounded: a fixed number of iterations. The
//! uncached figure is also given in CPU time (the thread's own run time),
//! which the benchmark harness compares with the cache-miss cost.
//!
//! Run: `cargo run --release -p tollgate --example jwt_verify_bench`
//! (from the workspace root; uses `router.yaml` and the dev key in `dev/`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::Instant;

use http::{HeaderMap, HeaderValue};
use tollgate::config;
use tollgate_jwt::JwtAuthenticator;

const CACHED_ITERATIONS: u32 = 200_000;
const UNCACHED_ITERATIONS: u32 = 2_000;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let root = std::env::current_dir().unwrap();
    let loaded = config::load(&root.join("router.yaml")).expect("router.yaml loads");
    let jwt = loaded
        .config
        .jwt
        .clone()
        .expect("router.yaml has a jwt section");
    let token = tollgate::dev::mint_dev_token(
        &root.join("dev/dev-private-key.pem"),
        &loaded.config,
        "1",
        3600,
    )
    .unwrap();
    let mut headers = HeaderMap::new();
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );

    let cached = JwtAuthenticator::new(jwt.clone(), &loaded.base_dir)
        .await
        .unwrap();
    let mut uncached_config = jwt;
    uncached_config.verification_cache.enabled = false;
    let uncached = JwtAuthenticator::new(uncached_config, &loaded.base_dir)
        .await
        .unwrap();

    let verified = cached.authenticate(&headers).await.unwrap().unwrap();
    let claims = verified.claims.as_object().unwrap().clone();

    let per_call = |elapsed: std::time::Duration, n: u32| elapsed.as_nanos() as f64 / f64::from(n);

    let start = Instant::now();
    for _ in 0..CACHED_ITERATIONS {
        std::hint::black_box(cached.authenticate(&headers).await.unwrap());
    }
    let cached_ns = per_call(start.elapsed(), CACHED_ITERATIONS);

    let start = Instant::now();
    for _ in 0..CACHED_ITERATIONS {
        std::hint::black_box(cached.forwarded_claims(&claims));
    }
    let forward_ns = per_call(start.elapsed(), CACHED_ITERATIONS);

    let start = Instant::now();
    let cpu_start = thread_cpu_ns();
    for _ in 0..UNCACHED_ITERATIONS {
        std::hint::black_box(uncached.authenticate(&headers).await.unwrap());
    }
    let uncached_ns = per_call(start.elapsed(), UNCACHED_ITERATIONS);
    let uncached_cpu_ns = match (cpu_start, thread_cpu_ns()) {
        (Some(a), Some(b)) => format!("{:.0}", (b - a) as f64 / f64::from(UNCACHED_ITERATIONS)),
        _ => "unknown".to_owned(),
    };

    println!("token: RS256, {} bytes", token.len());
    println!("RESULT authenticate_cached_ns={cached_ns:.0} forward_claims_ns={forward_ns:.0} authenticate_uncached_ns={uncached_ns:.0} authenticate_uncached_cpu_ns={uncached_cpu_ns}");
}

/// CPU time this thread has run, in nanoseconds (Linux `schedstat`): unlike
/// wall time it does not grow when other processes share the cores.
fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}
