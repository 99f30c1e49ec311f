//! The GraphQL request path without the network: a POST body (one request or
//! a batch) or a GET query string is read, then each request's document is
//! parsed with the limits, validated against the demo API schema, measured
//! against the operation limits and planned, through the real `prepare`.
#![no_main]

use std::sync::{Arc, LazyLock};

use futures::future::BoxFuture;
use libfuzzer_sys::fuzz_target;
use tollgate_core::config::{BatchingConfig, DebugConfig, LimitsConfig, SubgraphsConfig};
use tollgate_core::request::{GraphqlRequest, RequestBody};
use tollgate_core::subgraph::{SubgraphClient, SubgraphError, SubgraphRequest, SubgraphResponse};
use tollgate_core::{Runtime, Supergraph};

/// Planning never sends anything; a client is still needed to build a runtime.
struct NoClient;

impl SubgraphClient for NoClient {
    fn send(&self, _: SubgraphRequest) -> BoxFuture<'_, Result<SubgraphResponse, SubgraphError>> {
        Box::pin(async { Err(SubgraphError::Transport) })
    }
}

static RUNTIME: LazyLock<Runtime> = LazyLock::new(|| {
    let sdl = include_str!("../../schemas/supergraph.graphql");
    let supergraph = Arc::new(Supergraph::parse(sdl).expect("the demo supergraph parses"));
    Runtime::new(
        supergraph,
        &SubgraphsConfig::default(),
        LimitsConfig::default(),
        DebugConfig::default(),
        Arc::new(NoClient),
        Vec::new(),
    )
    .expect("the demo runtime builds")
});

fn prepare(request: &GraphqlRequest) {
    let _ = tollgate_core::pipeline::prepare(
        &RUNTIME,
        &request.query,
        request.operation_name.as_deref(),
    );
}

fuzz_target!(|data: &[u8]| {
    let batching = BatchingConfig {
        enabled: true,
        max_size: 16,
    };
    match RequestBody::from_json_body(data, &batching) {
        Ok(RequestBody::Single(request)) => prepare(&request),
        Ok(RequestBody::Batch(items)) => items.iter().flatten().for_each(prepare),
        Err(_) => {}
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(request) = GraphqlRequest::from_query_string(text) {
            prepare(&request);
        }
    }
});
