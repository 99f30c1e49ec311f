//! The request pipeline's spans: a real request through the real app with a
//! span-recording subscriber, asserting each stage's span and its parent.
//! (One test per binary: `tracing` caches callsite interest process-wide.)

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use std::sync::{Arc, Mutex};

use serde_json::json;
use tollgate_e2e::TestEnv;
use tracing::span::{Attributes, Id};
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// `(span name, parent span name)` in opening order.
type SpanLog = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// Records `(span, parent)` names as spans open.
#[derive(Clone, Default)]
struct Recorder(SpanLog);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let parent = ctx
            .span(id)
            .and_then(|span| span.parent())
            .map(|parent| parent.name().to_owned());
        self.0
            .lock()
            .unwrap()
            .push((attrs.metadata().name().to_owned(), parent));
    }
}

#[tokio::test(flavor = "current_thread")]
async fn each_stage_has_its_span() {
    let recorder = Recorder::default();
    let subscriber = tracing_subscriber::registry().with(recorder.clone());
    let _guard = tracing::subscriber::set_default(subscriber);

    let env = TestEnv::start(
        "jwt:\n  jwks_providers:\n    - source: file\n      path: dev/dev-jwks.json\n",
    )
    .await;
    let response = env
        .post(json!({"query": "{ topProducts(first: 1) { name inStock } }"}))
        .await;
    assert_eq!(response.status, 200, "{}", response.text);

    let spans = recorder.0.lock().unwrap().clone();
    let parent_of = |name: &str| {
        spans
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no `{name}` span in {spans:?}"))
            .1
            .clone()
    };
    assert_eq!(parent_of("graphql request"), None);
    for stage in [
        "authentication plugin",
        "parse",
        "validate",
        "plan",
        "execute",
    ] {
        assert_eq!(
            parent_of(stage).as_deref(),
            Some("graphql request"),
            "{stage}: {spans:?}"
        );
    }
    let fetches: Vec<_> = spans
        .iter()
        .filter(|(n, _)| n == "subgraph fetch")
        .collect();
    assert_eq!(fetches.len(), 2, "products then inventory: {spans:?}");
    assert!(fetches.iter().all(|(_, p)| p.as_deref() == Some("execute")));
}
