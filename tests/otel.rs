//! OpenTelemetry end to end: spans recorded by an in-memory exporter while
//! a real request with a client `traceparent` runs through the real router
//! to a recording subgraph. The router joins the client's trace, and the
//! subgraph receives a `traceparent` naming the router's fetch span.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use opentelemetry::trace::{SpanId, TraceId, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use serde_json::json;
use tollgate_e2e::{recording_subgraph, TestEnv};
use tracing_subscriber::layer::SubscriberExt as _;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

#[tokio::test(flavor = "current_thread")]
async fn the_router_joins_the_client_trace_and_propagates_it() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let _guard = tracing::subscriber::set_default(subscriber);
    tollgate_telemetry::otel::install_propagator();
    tollgate_core::observe::enable_otel();

    let (addr, log) = recording_subgraph(json!({"data": {"topProducts": []}})).await;
    let demo = tollgate_demo::spawn("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let yaml = format!(
        "supergraph:\n  path: schemas/supergraph.graphql\nsubgraphs:\n  products:\n    url: http://{addr}/products\n"
    );
    let env = TestEnv::start_yaml(demo, &yaml).await;
    let traceparent = format!("00-{TRACE}-{CLIENT_SPAN}-01");
    let response = env
        .post_with(
            json!({"query": "{ topProducts { upc } }"}),
            &[("traceparent", &traceparent)],
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text);

    let received = log.lock().unwrap()[0].headers["traceparent"]
        .to_str()
        .unwrap()
        .to_owned();
    let parts: Vec<&str> = received.split('-').collect();
    assert_eq!(parts.len(), 4, "{received}");
    assert_eq!(parts[1], TRACE, "same trace: {received}");
    assert_ne!(parts[2], CLIENT_SPAN, "the router's own span: {received}");

    provider.force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    let span = |name: &str| {
        spans.iter().find(|s| s.name == name).unwrap_or_else(|| {
            panic!(
                "no `{name}` span in {:?}",
                spans.iter().map(|s| &s.name).collect::<Vec<_>>()
            )
        })
    };
    let request = span("graphql request");
    assert_eq!(
        request.span_context.trace_id(),
        TraceId::from_hex(TRACE).unwrap()
    );
    assert_eq!(
        request.parent_span_id,
        SpanId::from_hex(CLIENT_SPAN).unwrap()
    );
    let execute = span("execute");
    assert_eq!(execute.parent_span_id, request.span_context.span_id());
    let fetch = span("subgraph fetch");
    assert_eq!(fetch.parent_span_id, execute.span_context.span_id());
    assert_eq!(
        fetch.span_context.span_id(),
        SpanId::from_hex(parts[2]).unwrap(),
        "the subgraph's parent is the fetch span"
    );
    for stage in ["parse", "validate", "plan"] {
        assert_eq!(
            span(stage).parent_span_id,
            request.span_context.span_id(),
            "{stage}"
        );
    }
}
