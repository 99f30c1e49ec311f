//! Prometheus metrics: the `telemetry.metrics` config, the process-wide
//! recorder (installed once, shared by every router in the process) and the
//! `/metrics` endpoint on its own listener.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use schemars::JsonSchema;
use serde::Deserialize;

/// `telemetry:` section.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// Metrics exporters.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// Span export and trace-context propagation.
    #[serde(default)]
    pub tracing: crate::otel::TracingConfig,
}

/// `telemetry.metrics:`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// The Prometheus scrape endpoint.
    #[serde(default)]
    pub prometheus: PrometheusConfig,
}

/// `telemetry.metrics.prometheus:`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PrometheusConfig {
    /// Serve metrics (off by default).
    #[serde(default)]
    pub enabled: bool,
    /// Address of the metrics listener (separate from the GraphQL one).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Path of the scrape endpoint.
    #[serde(default = "default_path")]
    pub path: String,
}

impl Default for PrometheusConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            listen: default_listen(),
            path: default_path(),
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9090))
}

fn default_path() -> String {
    "/metrics".to_owned()
}

/// Why metrics could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// Another metrics recorder is already installed in this process.
    #[error("telemetry.metrics.prometheus: a metrics recorder is already installed: {0}")]
    Install(String),
    /// The path is not an absolute URL path.
    #[error("telemetry.metrics.prometheus.path: `{0}` must start with `/`")]
    Path(String),
}

/// Latency buckets (seconds) for millisecond-scale durations.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the Prometheus recorder once per process and returns its handle.
pub fn prometheus_handle() -> Result<PrometheusHandle, MetricsError> {
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let builder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &LATENCY_BUCKETS)
        .map_err(|e| MetricsError::Install(e.to_string()))?;
    let recorder = builder.build_recorder();
    let handle = recorder.handle();
    match metrics::set_global_recorder(recorder) {
        Ok(()) => {
            let _ = HANDLE.set(handle.clone());
            Ok(handle)
        }
        // Lost a race with another router in this process: use its handle.
        Err(_) => HANDLE
            .get()
            .cloned()
            .ok_or_else(|| MetricsError::Install("not by Tollgate".to_owned())),
    }
}

/// The scrape endpoint as an axum app; histograms are kept tidy by a
/// background upkeep task that ends with the app's last clone.
pub fn metrics_app(handle: PrometheusHandle, path: &str) -> Result<axum::Router, MetricsError> {
    if !path.starts_with('/') {
        return Err(MetricsError::Path(path.to_owned()));
    }
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(Duration::from_secs(5));
        loop {
            interval.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(axum::Router::new().route(
        path,
        axum::routing::get(move || {
            let handle = handle.clone();
            async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    handle.render(),
                )
            }
        }),
    ))
}
