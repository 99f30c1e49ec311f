//! `router.yaml`: the whole typed config, how it is read (env expansion,
//! errors that name the key and line), resolved against the config file's
//! directory, checked, and described as JSON Schema.

mod env;

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::Deserialize;
use tollgate_core::config::{
    DebugConfig, HttpConfig, LimitsConfig, SubgraphsConfig, SupergraphConfig,
};
use tollgate_jwt::JwtConfig;
use tollgate_telemetry::LogConfig;

/// The whole `router.yaml`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the supergraph SDL comes from.
    pub supergraph: SupergraphConfig,
    /// The client-facing HTTP server.
    #[serde(default)]
    pub http: HttpConfig,
    /// Per-subgraph overrides (URL, timeout), keyed by subgraph name.
    #[serde(default)]
    pub subgraphs: SubgraphsConfig,
    /// Limits on operations (document size, parser depth, plan cache).
    #[serde(default)]
    pub limits: LimitsConfig,
    /// JWT authentication; absent: no authentication.
    #[serde(default)]
    pub jwt: Option<JwtConfig>,
    /// Logging.
    #[serde(default)]
    pub log: LogConfig,
    /// Metrics (and, later, tracing) exporters.
    #[serde(default)]
    pub telemetry: tollgate_telemetry::TelemetryConfig,
    /// The router as a token issuer (discovery document, JWKS, signing).
    #[serde(default)]
    pub issuer: Option<tollgate_jwt::issuer::IssuerConfig>,
    /// How `@authenticated`, `@requiresScopes` and `@policy` are enforced.
    #[serde(default)]
    pub authorization: tollgate_core::authorization::AuthorizationConfig,
    /// Persisted operations: the trusted manifest, the safelist, APQ.
    #[serde(default)]
    pub persisted_queries: tollgate_core::persisted::PersistedQueriesConfig,
    /// Header rules for subgraph requests.
    #[serde(default)]
    pub headers: tollgate_core::headers::HeadersConfig,
    /// Rhai scripts; absent: no scripting.
    #[serde(default)]
    pub rhai: Option<tollgate_rhai::RhaiConfig>,
    /// Whether subgraphs' own errors reach clients (default: redacted).
    #[serde(default)]
    pub include_subgraph_errors: tollgate_core::subgraph_errors::SubgraphErrorsConfig,
    /// Development switches (query plan exposure).
    #[serde(default)]
    pub debug: DebugConfig,
}

/// A config read from a file, with the directory relative paths start from.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The config.
    pub config: Config,
    /// The config file's directory.
    pub base_dir: PathBuf,
    /// The config file's path as given.
    pub path: PathBuf,
}

impl LoadedConfig {
    /// The supergraph path resolved against the config directory.
    pub fn supergraph_path(&self) -> PathBuf {
        self.base_dir.join(&self.config.supergraph.path)
    }
}

/// Why a config could not be used. Each message names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// One or more problems in the file.
    #[error("invalid config {path}:\n  - {}", .errors.join("\n  - "))]
    Invalid {
        /// The path.
        path: PathBuf,
        /// Every problem found, each naming its key.
        errors: Vec<String>,
    },
}

/// Reads and checks the config at `path`.
pub fn load(path: &Path) -> Result<LoadedConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let config =
        parse(&text, &|name| std::env::var(name).ok()).map_err(|errors| ConfigError::Invalid {
            path: path.to_owned(),
            errors,
        })?;
    let base_dir = path
        .parent()
        .map(Path::to_path_buf)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    Ok(LoadedConfig {
        config,
        base_dir,
        path: path.to_owned(),
    })
}

/// Parses config text; every error names its key (and line when known).
pub fn parse(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Config, Vec<String>> {
    let mut value: serde_yaml::Value =
        serde_yaml::from_str(text).map_err(|e| vec![e.to_string()])?;
    if value.is_null() {
        return Err(vec![
            "the config is empty: `supergraph.path` is required".to_owned()
        ]);
    }
    let errors = env::expand(&mut value, lookup);
    if !errors.is_empty() {
        return Err(errors);
    }
    let config: Config = serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let message = error.inner().to_string();
        let key = if path == "." {
            "(root)".to_owned()
        } else {
            path.clone()
        };
        let line = locate(text, &path).map(|(l, c)| format!(" (line {l}, column {c})"));
        vec![format!("{key}: {message}{}", line.unwrap_or_default())]
    })?;
    let errors = check(&config);
    if errors.is_empty() {
        Ok(config)
    } else {
        Err(errors)
    }
}

/// Finds the line of an error at `path` by deserializing the raw text, whose
/// errors carry positions (the expanded value's do not).
fn locate(text: &str, path: &str) -> Option<(usize, usize)> {
    let deserializer = serde_yaml::Deserializer::from_str(text);
    let error = serde_path_to_error::deserialize::<_, Config>(deserializer).err()?;
    if error.path().to_string() != path {
        return None;
    }
    let location = error.inner().location()?;
    Some((location.line(), location.column()))
}

/// Semantic checks serde cannot express.
fn check(config: &Config) -> Vec<String> {
    let mut errors = Vec::new();
    let http = &config.http;
    for (key, value) in [
        ("http.graphql_path", &http.graphql_path),
        ("http.health_path", &http.health_path),
    ] {
        if !value.starts_with('/') {
            errors.push(format!("{key}: `{value}` must start with `/`"));
        }
    }
    if http.graphql_path == http.health_path {
        errors.push("http.health_path: must differ from http.graphql_path".to_owned());
    }
    if http.max_body_bytes == 0 {
        errors.push("http.max_body_bytes: must be greater than 0".to_owned());
    }
    if http.max_concurrent_requests == 0 {
        errors.push("http.max_concurrent_requests: must be greater than 0".to_owned());
    }
    if http.batching.enabled && http.batching.max_size == 0 {
        errors.push("http.batching.max_size: must be greater than 0".to_owned());
    }
    if http.request_timeout.is_zero() {
        errors.push("http.request_timeout: must be greater than 0".to_owned());
    }
    for (name, subgraph) in &config.subgraphs {
        if subgraph.timeout.is_zero() {
            errors.push(format!("subgraphs.{name}.timeout: must be greater than 0"));
        }
    }
    if config.supergraph.watch_interval.is_zero() {
        errors.push("supergraph.watch_interval: must be greater than 0".to_owned());
    }
    let metrics_path = &config.telemetry.metrics.prometheus.path;
    if !metrics_path.starts_with('/') {
        errors.push(format!(
            "telemetry.metrics.prometheus.path: `{metrics_path}` must start with `/`"
        ));
    }
    let limits = &config.limits;
    for (key, value) in [
        ("limits.plan_cache_size", limits.plan_cache_size),
        ("limits.max_depth", limits.max_depth),
        ("limits.max_root_fields", limits.max_root_fields),
    ] {
        if value == 0 {
            errors.push(format!("{key}: must be greater than 0"));
        }
    }
    errors
}

/// The JSON Schema of `router.yaml`, for editors.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Config)).unwrap_or_default()
}

#[cfg(test)]
mod tests;
