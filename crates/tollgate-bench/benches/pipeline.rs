//! The request path without sockets, on the demo supergraph:
//! - `prepare/cold/*`: parse + validate + plan of an operation on a fresh
//!   runtime (empty plan cache), for the harness's deep and single queries;
//! - `prepare/cached/*`: the same call once the operation is cached;
//! - `plan/deep`: the planner alone on the validated deep query;
//! - `execute/entities_1000`: running a two-fetch plan whose answers hold
//!   1,000 products and 1,000 entities (parse both answers, build the
//!   representations, merge, shape);
//! - `run/entities_1000`: the whole pipeline for it (plan-cache hit,
//!   variables, execute).
//!
//! Run: `cargo bench -p tollgate-bench --bench pipeline`

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashSet;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use http::{HeaderMap, Method, Uri};
use tollgate_bench::graph::{self, CannedClient, DEEP_QUERY, SINGLE_QUERY};
use tollgate_core::context::RequestContext;
use tollgate_core::pipeline::{self, RequestParts};
use tollgate_core::request::GraphqlRequest;

const ENTITIES: usize = 1000;

fn prepare(c: &mut Criterion) {
    let supergraph = graph::supergraph().unwrap();
    let client: Arc<CannedClient> = Arc::new(CannedClient::default());
    let fresh = || graph::runtime(supergraph.clone(), client.clone()).unwrap();
    let mut group = c.benchmark_group("prepare");
    for (name, query) in [("deep", DEEP_QUERY), ("single", SINGLE_QUERY)] {
        group.bench_function(format!("cold/{name}"), |b| {
            b.iter_batched(
                fresh,
                |runtime| std::hint::black_box(graph::prepare(&runtime, query).unwrap()),
                BatchSize::SmallInput,
            );
        });
        let warm = fresh();
        graph::prepare(&warm, query).unwrap();
        group.bench_function(format!("cached/{name}"), |b| {
            b.iter(|| std::hint::black_box(graph::prepare(&warm, query).unwrap()));
        });
    }
    group.finish();

    let runtime = fresh();
    let prepared = graph::prepare(&runtime, DEEP_QUERY).unwrap();
    c.bench_function("plan/deep", |b| {
        b.iter(|| {
            std::hint::black_box(
                tollgate_core::planner::plan_operation(
                    &supergraph,
                    &prepared.document,
                    &prepared.operation,
                    &[],
                )
                .unwrap(),
            )
        });
    });
}

fn execute(c: &mut Criterion) {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let list = graph::entity_list(ENTITIES);
    let runtime = graph::runtime(graph::supergraph().unwrap(), Arc::new(list.client)).unwrap();
    let prepared = graph::prepare(&runtime, &list.query).unwrap();
    let variables = graph::no_variables(&runtime, &prepared).unwrap();
    let denied = HashSet::new();
    let context = RequestContext::new();
    let run_once = || async {
        tollgate_core::executor::execute(
            &runtime, &context, &prepared, &prepared, &denied, &variables,
        )
        .await
        .unwrap()
    };
    graph::check_entity_list(&tokio.block_on(run_once()), list.count).unwrap();
    c.bench_function("execute/entities_1000", |b| {
        b.to_async(&tokio)
            .iter(|| async { std::hint::black_box(run_once().await) });
    });

    let headers = HeaderMap::new();
    let uri = Uri::from_static("http://127.0.0.1/graphql");
    let request = || GraphqlRequest {
        query: list.query.clone(),
        operation_name: None,
        variables: serde_json::Map::new(),
        extensions: serde_json::Map::new(),
    };
    let parts = || RequestParts {
        method: &Method::POST,
        uri: &uri,
        headers: &headers,
    };
    let answered = tokio
        .block_on(pipeline::run(&runtime, parts(), request()))
        .unwrap();
    graph::check_entity_list(&answered.body, list.count).unwrap();
    c.bench_function("run/entities_1000", |b| {
        b.to_async(&tokio).iter_batched(
            request,
            |request| async {
                std::hint::black_box(pipeline::run(&runtime, parts(), request).await.unwrap())
            },
            BatchSize::SmallInput,
        );
    });
}

criterion_group!(benches, prepare, execute);
criterion_main!(benches);
