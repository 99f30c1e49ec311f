//! Tollgate's observability setup: structured logging through `tracing` to
//! stderr, as text or JSON, with the level from `--log-level`, `RUST_LOG` or
//! the `log:` config section (in that order), and Prometheus metrics
//! ([`metrics`]). OpenTelemetry tracing is not set up yet.

pub mod metrics;

pub use crate::metrics::{MetricsConfig, PrometheusConfig, TelemetryConfig};

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

/// Installs the global subscriber. Calling it twice keeps the first one.
pub fn init_logging(filter: &str, format: LogFormat) -> Result<(), LogSetupError> {
    let env_filter = EnvFilter::try_new(filter).map_err(|e| LogSetupError::Filter {
        filter: filter.to_owned(),
        reason: e.to_string(),
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(env_filter)
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
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
        assert!(init_logging("tollgate=notalevel", LogFormat::Text).is_err());
        let err = serde_yaml::from_str::<LogConfig>("format: xml").unwrap_err();
        assert!(err.to_string().contains("unknown variant `xml`"), "{err}");
    }
}
