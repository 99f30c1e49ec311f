//! Tollgate's observability setup: structured logging through `tracing` to
//! stderr, as text or JSON, with the level from `--log-level`, `RUST_LOG` or
//! the `log:` config section (in that order), and Prometheus metrics
//! ([`metrics`]) and OpenTelemetry tracing over OTLP ([`otel`]).

pub mod metrics;
pub mod otel;

pub use crate::metrics::{MetricsConfig, PrometheusConfig, TelemetryConfig};
pub use crate::otel::{OtlpConfig, OtlpProtocol, PropagationConfig, TracingConfig};
pub use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use schemars::JsonSchema;
use serde::Deserialize;
use tracing_subscriber::EnvFilter;

/// `log:` section of `router.yaml`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// Default filter, e.g. `info` or `tollgate=debug,info` (overridden by `RUST_LOG` and `--log-level`).
    #[serde(default = "default_level")]
    pub level: String,
    /// Output format.
    #[serde(default)]
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: default_level(),
            format: LogFormat::default(),
        }
    }
}

fn default_level() -> String {
    "info".to_owned()
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LogSetupError {
    /// The level / filter string does not parse.
    #[error("invalid log filter `{filter}`: {reason}")]
    Filter {
        /// The filter given.
        filter: String,
        /// Why it is invalid.
        reason: String,
    },
}

/// Chooses the filter: `cli` beats `RUST_LOG`, which beats the config.
pub fn choose_filter(cli: Option<&str>, env: Option<&str>, config: &LogConfig) -> String {
    cli.or(env.filter(|e| !e.trim().is_empty()))
        .unwrap_or(&config.level)
        .to_owned()
}

/// Target of Tollgate's per-stage spans (the same as `tollgate_core::observe::STAGE_TARGET`).
const STAGE_TARGET: &str = "tollgate::stage";

/// Installs the global subscriber: the log format, and when `otel` is given
/// the layer exporting spans through it. Calling it twice keeps the first.
pub fn init_logging(
    filter: &str,
    format: LogFormat,
    otel: Option<opentelemetry_sdk::trace::Tracer>,
) -> Result<(), LogSetupError> {
    let env_filter = EnvFilter::try_new(filter).map_err(|e| LogSetupError::Filter {
        filter: filter.to_owned(),
        reason: e.to_string(),
    })?;
    // Per-stage spans only matter when exported: without an exporter they
    // are off (unless the filter names them).
    let env_filter = if otel.is_none() && !filter.contains(STAGE_TARGET) {
        env_filter.add_directive(format!("{STAGE_TARGET}=off").parse().map_err(
            |e: tracing_subscriber::filter::ParseError| LogSetupError::Filter {
                filter: filter.to_owned(),
                reason: e.to_string(),
            },
        )?)
    } else {
        env_filter
    };
    let (text, json) = match format {
        LogFormat::Text => (
            // Colours only on a terminal: container logs stay plain text.
            Some(
                tracing_subscriber::fmt::layer()
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                    .with_writer(std::io::stderr),
            ),
            None,
        ),
        LogFormat::Json => (
            None,
            Some(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            ),
        ),
    };
    let otel = otel.map(|tracer| tracing_opentelemetry::layer().with_tracer(tracer));
    let result = tracing_subscriber::registry()
        .with(env_filter)
        .with(text)
        .with(json)
        .with(otel)
        .try_init();
    // An already-installed subscriber (tests, embedding) is fine.
    let _ = result;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_precedence() {
        let config = LogConfig::default();
        assert_eq!(choose_filter(Some("debug"), Some("warn"), &config), "debug");
        assert_eq!(choose_filter(None, Some("warn"), &config), "warn");
        assert_eq!(choose_filter(None, Some(" "), &config), "info");
        assert_eq!(choose_filter(None, None, &config), "info");
    }

    #[test]
    fn rejects_bad_filters_and_formats() {
        assert!(init_logging("tollgate=notalevel", LogFormat::Text, None).is_err());
        let err = serde_yaml::from_str::<LogConfig>("format: xml").unwrap_err();
        assert!(err.to_string().contains("unknown variant `xml`"), "{err}");
    }
}
