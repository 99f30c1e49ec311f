//! JWT verification per algorithm: `JwtAuthenticator::authenticate` on a
//! request carrying a valid token, with the verification cache on (a hit:
//! hash the token, look it up, check `exp`) and off (parse, find the key,
//! verify the signature, check the claims every time).
//!
//! Run: `cargo bench -p tollgate-bench --bench jwt`

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion};
use tollgate_bench::jwt::{fixture, BenchAlgorithm};

fn verify(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut group = c.benchmark_group("jwt_verify");
    for algorithm in BenchAlgorithm::ALL {
        let fixture = runtime
            .block_on(fixture(algorithm))
            .unwrap_or_else(|e| panic!("{} fixture: {e}", algorithm.name()));
        let name = algorithm.name();
        group.bench_function(format!("{name}/cached"), |b| {
            b.to_async(&runtime).iter(|| async {
                std::hint::black_box(fixture.cached.authenticate(&fixture.headers).await)
            });
        });
        group.bench_function(format!("{name}/uncached"), |b| {
            b.to_async(&runtime).iter(|| async {
                std::hint::black_box(fixture.uncached.authenticate(&fixture.headers).await)
            });
        });
    }
    group.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
