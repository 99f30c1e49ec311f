//! Router metrics (through the `metrics` facade; exported when telemetry
//! enables a recorder). Names and labels are documented in
//! `docs/telemetry.md`. When metrics are off, recording is skipped before
//! any label is built.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::response::GraphqlResponse;

/// Target of the per-stage spans (`parse`, `validate`, `plan`, `execute`,
/// `subgraph fetch`). Logging turns them off when no span exporter is
/// configured, so they cost nothing then.
pub const STAGE_TARGET: &str = "tollgate::stage";

static ENABLED: AtomicBool = AtomicBool::new(false);
static PROPAGATE: AtomicBool = AtomicBool::new(false);
static OTEL: AtomicBool = AtomicBool::new(false);

/// Accept W3C trace context from clients and send it to subgraphs.
pub fn enable_trace_propagation() {
    PROPAGATE.store(true, Ordering::Relaxed);
}

/// Spans are exported through OpenTelemetry (the router joins the trace
/// instead of passing the client's headers through).
pub fn enable_otel() {
    OTEL.store(true, Ordering::Relaxed);
}

/// Whether trace context is propagated.
pub fn propagating() -> bool {
    PROPAGATE.load(Ordering::Relaxed)
}

/// Whether spans are exported.
pub fn otel() -> bool {
    OTEL.load(Ordering::Relaxed)
}

/// Reads W3C headers into an OpenTelemetry context.
pub(crate) fn extract_context(headers: &http::HeaderMap) -> opentelemetry::Context {
    struct Extractor<'a>(&'a http::HeaderMap);
    impl opentelemetry::propagation::Extractor for Extractor<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            self.0.get(key).and_then(|v| v.to_str().ok())
        }
        fn keys(&self) -> Vec<&str> {
            self.0.keys().map(|k| k.as_str()).collect()
        }
    }
    opentelemetry::global::get_text_map_propagator(|p| p.extract(&Extractor(headers)))
}

/// Writes the current span's context as W3C headers.
pub(crate) fn inject_current(headers: &mut http::HeaderMap) {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    struct Injector<'a>(&'a mut http::HeaderMap);
    impl opentelemetry::propagation::Injector for Injector<'_> {
        fn set(&mut self, key: &str, value: String) {
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(key.as_bytes()),
                http::HeaderValue::from_str(&value),
            ) {
                self.0.insert(name, value);
            }
        }
    }
    let context = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(&context, &mut Injector(headers));
    });
}

/// Turns recording on (telemetry does this when an exporter is configured).
pub fn enable_metrics() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// Whether metrics are recorded.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// One client HTTP request finished.
pub(crate) fn http_request(status: u16, elapsed: Duration) {
    if !enabled() {
        return;
    }
    metrics::counter!("tollgate_http_requests_total", "status" => status_label(status))
        .increment(1);
    metrics::histogram!("tollgate_http_request_duration_seconds").record(elapsed.as_secs_f64());
}

/// Counts a response's GraphQL errors by `extensions.code`.
pub(crate) fn graphql_errors(response: &GraphqlResponse) {
    if !enabled() {
        return;
    }
    for error in &response.errors {
        let code = error.code().unwrap_or("NONE").to_owned();
        metrics::counter!("tollgate_graphql_errors_total", "code" => code).increment(1);
    }
}

/// Tracks requests in flight; the gauge goes down when dropped.
pub(crate) struct InFlight(bool);

impl InFlight {
    pub(crate) fn start() -> Self {
        let on = enabled();
        if on {
            metrics::gauge!("tollgate_http_requests_in_flight").increment(1.0);
        }
        Self(on)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0 {
            metrics::gauge!("tollgate_http_requests_in_flight").decrement(1.0);
        }
    }
}

/// One subgraph request finished: `result` is `success`, `http_error`
/// (non-2xx), `transport_error` or `invalid_response`.
pub(crate) fn subgraph_request(subgraph: &str, result: &'static str, elapsed: Duration) {
    if !enabled() {
        return;
    }
    metrics::counter!("tollgate_subgraph_requests_total", "subgraph" => subgraph.to_owned(), "result" => result)
        .increment(1);
    metrics::histogram!("tollgate_subgraph_request_duration_seconds", "subgraph" => subgraph.to_owned())
        .record(elapsed.as_secs_f64());
}

/// Fields refused by authorization (or, in a dry run, that would be).
pub(crate) fn unauthorized(fields: usize, dry_run: bool) {
    if !enabled() {
        return;
    }
    metrics::counter!("tollgate_authorization_denied_fields_total", "dry_run" => if dry_run { "true" } else { "false" })
        .increment(fields as u64);
}

/// A plan cache lookup.
pub(crate) fn plan_cache(hit: bool, size: usize) {
    if !enabled() {
        return;
    }
    if hit {
        metrics::counter!("tollgate_plan_cache_hits_total").increment(1);
    } else {
        metrics::counter!("tollgate_plan_cache_misses_total").increment(1);
        metrics::gauge!("tollgate_plan_cache_size").set(size as f64);
    }
}

/// One reload attempt finished: `kind` is `supergraph`, `config` or `jwks`.
pub fn reload(kind: &'static str, success: bool) {
    if !enabled() {
        return;
    }
    let result = if success { "success" } else { "failure" };
    metrics::counter!("tollgate_reload_total", "kind" => kind, "result" => result).increment(1);
}

fn status_label(status: u16) -> &'static str {
    match status {
        200 => "200",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        406 => "406",
        413 => "413",
        415 => "415",
        429 => "429",
        500 => "500",
        502 => "502",
        503 => "503",
        504 => "504",
        other => match other / 100 {
            1 => "1xx",
            2 => "2xx",
            3 => "3xx",
            4 => "4xx",
            _ => "5xx",
        },
    }
}
