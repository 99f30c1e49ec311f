//! OpenTelemetry tracing: the `telemetry.tracing` config, the OTLP exporter
//! (gRPC or HTTP/protobuf) with ratio sampling, and the W3C trace-context
//! propagator. Spans come from `tracing`; the layer that turns them into
//! OpenTelemetry spans is added by [`crate::init_logging`] only when an
//! exporter is configured, so tracing costs nothing otherwise.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, Tracer};
use schemars::JsonSchema;
use serde::Deserialize;

/// `telemetry.tracing:`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TracingConfig {
    /// Export spans over OTLP; absent: no export.
    #[serde(default)]
    pub otlp: Option<OtlpConfig>,
    /// Trace-context propagation.
    #[serde(default)]
    pub propagation: PropagationConfig,
}

/// `telemetry.tracing.otlp:`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OtlpConfig {
    /// Collector endpoint, e.g. `http://127.0.0.1:4317` (gRPC) or
    /// `http://127.0.0.1:4318/v1/traces` (HTTP).
    pub endpoint: String,
    /// `grpc` (default) or `http` (protobuf over HTTP).
    #[serde(default)]
    pub protocol: OtlpProtocol,
    /// Share of new traces to record, 0.0 to 1.0 (a sampled parent is always followed).
    #[serde(default = "default_ratio")]
    pub sample_ratio: f64,
}

/// The OTLP transport.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OtlpProtocol {
    /// OTLP over gRPC.
    #[default]
    Grpc,
    /// OTLP protobuf over HTTP.
    Http,
}

/// `telemetry.tracing.propagation:`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PropagationConfig {
    /// Accept W3C `traceparent`/`tracestate` from clients and send them to subgraphs.
    #[serde(default = "default_true")]
    pub trace_context: bool,
}

impl Default for PropagationConfig {
    fn default() -> Self {
        Self {
            trace_context: true,
        }
    }
}

fn default_ratio() -> f64 {
    1.0
}

fn default_true() -> bool {
    true
}

/// Why tracing could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TracingError {
    /// The sample ratio is outside 0.0..=1.0.
    #[error("telemetry.tracing.otlp.sample_ratio: {0} is not between 0.0 and 1.0")]
    Ratio(f64),
    /// The endpoint is not an http(s) URL.
    #[error("telemetry.tracing.otlp.endpoint: `{0}` is not an http:// or https:// URL")]
    Endpoint(String),
    /// The exporter could not be built.
    #[error("telemetry.tracing.otlp: cannot build the exporter: {0}")]
    Exporter(String),
    /// An `OTEL_BSP_*` environment variable the batch span processor reads
    /// has a value it cannot use (the SDK would ignore it, or panic on 0).
    #[error("{name}: must be a whole number{unit} from 1 to {max}, got {value:?}")]
    Environment {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What it counts (` of spans`, ` of milliseconds`, or nothing).
        unit: &'static str,
        /// Its largest accepted value.
        max: u64,
    },
}

/// Largest `OTEL_BSP_MAX_QUEUE_SIZE` accepted (spans held in memory).
pub const MAX_QUEUE_SIZE: u64 = 1 << 20;

/// The batch span processor's environment variables: what each counts and
/// its largest accepted value.
const BATCH_ENV: [(&str, &str, u64); 5] = [
    ("OTEL_BSP_MAX_QUEUE_SIZE", " of spans", MAX_QUEUE_SIZE),
    (
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
        " of spans",
        MAX_QUEUE_SIZE,
    ),
    ("OTEL_BSP_MAX_CONCURRENT_EXPORTS", "", 1024),
    ("OTEL_BSP_SCHEDULE_DELAY", " of milliseconds", 3_600_000),
    ("OTEL_BSP_EXPORT_TIMEOUT", " of milliseconds", 3_600_000),
];

/// Checks the `OTEL_BSP_*` variables the OpenTelemetry SDK reads when the
/// batch span processor is built: set ones must be whole numbers in range
/// (the SDK silently ignores a value it cannot parse and panics on a queue
/// size of 0). `lookup` reads one variable (`None`: unset).
pub fn check_batch_environment(
    lookup: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> Result<(), TracingError> {
    for (name, unit, max) in BATCH_ENV {
        let Some(value) = lookup(name) else { continue };
        let ok = value
            .to_str()
            .and_then(|text| text.parse::<u64>().ok())
            .is_some_and(|n| (1..=max).contains(&n));
        if !ok {
            return Err(TracingError::Environment {
                name,
                value: value.to_string_lossy().into_owned(),
                unit,
                max,
            });
        }
    }
    Ok(())
}

/// Checks the OTLP settings and the `OTEL_BSP_*` environment variables
/// the exporter will read (also done by `tollgate config validate`).
pub fn validate(config: &OtlpConfig) -> Result<(), TracingError> {
    check_batch_environment(|name| std::env::var_os(name))?;
    if !(0.0..=1.0).contains(&config.sample_ratio) {
        return Err(TracingError::Ratio(config.sample_ratio));
    }
    if !(config.endpoint.starts_with("http://") || config.endpoint.starts_with("https://")) {
        return Err(TracingError::Endpoint(config.endpoint.clone()));
    }
    Ok(())
}

/// Builds the tracer provider exporting to the configured collector.
/// Needs a Tokio runtime (spans are exported in batches in the background).
pub fn tracer_provider(config: &OtlpConfig) -> Result<SdkTracerProvider, TracingError> {
    validate(config)?;
    let exporter = match config.protocol {
        OtlpProtocol::Grpc => opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(config.endpoint.clone())
            .build(),
        OtlpProtocol::Http => opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(config.endpoint.clone())
            .build(),
    }
    .map_err(|e| TracingError::Exporter(e.to_string()))?;
    // Export from the Tokio runtime (the OTLP clients are async).
    let processor =
        opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor::builder(
            exporter,
            opentelemetry_sdk::runtime::Tokio,
        )
        .build();
    Ok(SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            config.sample_ratio,
        ))))
        .build())
}

/// The tracer Tollgate's spans are recorded with.
pub fn tracer(provider: &SdkTracerProvider) -> Tracer {
    provider.tracer("tollgate")
}

/// Installs the W3C trace-context propagator process-wide.
pub fn install_propagator() {
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_settings_name_their_key() {
        let config: TracingConfig =
            serde_yaml::from_str("otlp: { endpoint: \"127.0.0.1:4317\", sample_ratio: 0.5 }")
                .unwrap();
        let otlp = config.otlp.unwrap();
        assert_eq!(otlp.protocol, OtlpProtocol::Grpc);
        let error = validate(&otlp).unwrap_err().to_string();
        assert!(
            error.starts_with("telemetry.tracing.otlp.endpoint"),
            "{error}"
        );
        let ratio = OtlpConfig {
            endpoint: "http://127.0.0.1:4317".to_owned(),
            protocol: OtlpProtocol::Http,
            sample_ratio: 1.5,
        };
        let error = validate(&ratio).unwrap_err().to_string();
        assert!(
            error.starts_with("telemetry.tracing.otlp.sample_ratio"),
            "{error}"
        );
        assert!(config.propagation.trace_context, "on by default");
    }

    #[test]
    fn batch_environment_values_are_checked() {
        let with = |name: &'static str, value: &'static str| {
            check_batch_environment(move |n| (n == name).then(|| value.into()))
        };
        assert!(check_batch_environment(|_| None).is_ok());
        assert!(with("OTEL_BSP_MAX_QUEUE_SIZE", "4096").is_ok());
        assert!(with("OTEL_BSP_SCHEDULE_DELAY", "500").is_ok());
        for (name, bad) in [
            ("OTEL_BSP_MAX_QUEUE_SIZE", "0"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "abc"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "1048577"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "0"),
            ("OTEL_BSP_MAX_CONCURRENT_EXPORTS", "0"),
            ("OTEL_BSP_SCHEDULE_DELAY", "-5"),
            ("OTEL_BSP_EXPORT_TIMEOUT", "1.5"),
        ] {
            let error = with(name, bad).unwrap_err().to_string();
            assert!(
                error.starts_with(&format!("{name}: must be a whole number")),
                "{name}={bad}: {error}"
            );
            assert!(error.ends_with(&format!("got {bad:?}")), "{error}");
        }
    }
}
