//! The router-core sections of `router.yaml`: `supergraph`, `http`, `subgraphs`
//! and `limits`. Typed, documented, `deny_unknown_fields` everywhere; the
//! binary assembles them with the plugin sections into the whole config.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

/// `supergraph:` where the composed Federation v2 supergraph SDL comes from.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SupergraphConfig {
    /// Path of the supergraph SDL file, relative to the config file's directory.
    pub path: PathBuf,
    /// Progressive `@override(label:)` labels to treat as on. Labels of the
    /// form `percent(N)` are rolled per request instead.
    #[serde(default)]
    pub override_labels: Vec<String>,
    /// Answer introspection (`__schema`, `__type`); when off such operations
    /// get `INTROSPECTION_DISABLED` (`__typename` still works).
    #[serde(default = "default_true")]
    pub introspection: bool,
    /// Reload the supergraph when the file's content changes (checked every
    /// `watch_interval`; an invalid new file is refused and the running
    /// supergraph keeps serving).
    #[serde(default = "default_true")]
    pub watch: bool,
    /// How often the watched supergraph file is read and compared, e.g. "2s".
    #[serde(default = "default_watch_interval", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub watch_interval: Duration,
}

fn default_watch_interval() -> Duration {
    Duration::from_secs(2)
}

/// `http:` the client-facing HTTP server.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Socket address to listen on.
    #[serde(default = "default_listen")]
    #[schemars(with = "String")]
    pub listen: SocketAddr,
    /// Path of the GraphQL endpoint.
    #[serde(default = "default_graphql_path")]
    pub graphql_path: String,
    /// Path of the liveness endpoint, answering `{"status":"ok"}`.
    #[serde(default = "default_health_path")]
    pub health_path: String,
    /// Readiness endpoint: 200 when the router can serve, 503 with a reason otherwise.
    #[serde(default = "default_ready_path")]
    pub ready_path: String,
    /// Largest accepted request body in bytes; larger bodies get 413.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// Time limit for a whole GraphQL request (reading the body, every
    /// subgraph fetch, the response), e.g. "60s"; on expiry the client gets
    /// 504 `GATEWAY_TIMEOUT`.
    #[serde(default = "default_request_timeout", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub request_timeout: Duration,
    /// Most GraphQL requests served at the same time; further requests are
    /// refused at once with 503 `SERVICE_OVERLOADED` and `Retry-After`.
    #[serde(default = "default_max_concurrent_requests")]
    pub max_concurrent_requests: usize,
    /// Query batching: a POST body that is a JSON array of requests.
    #[serde(default)]
    pub batching: BatchingConfig,
    /// Cross-origin access for browsers; absent: no CORS headers at all.
    #[serde(default)]
    pub cors: Option<crate::cors::CorsConfig>,
    /// CSRF prevention for simple (non-preflighted) requests; on by default.
    #[serde(default)]
    pub csrf: crate::csrf::CsrfConfig,
}

/// `http.batching:` JSON arrays of operations in one POST.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchingConfig {
    /// Accept batches; when off, an array body gets `BATCHING_NOT_ENABLED`.
    #[serde(default)]
    pub enabled: bool,
    /// Most operations in one batch; larger batches get `BATCH_LIMIT_EXCEEDED`.
    #[serde(default = "default_batch_max_size")]
    pub max_size: usize,
}

impl Default for BatchingConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            max_size: default_batch_max_size(),
        }
    }
}

fn default_batch_max_size() -> usize {
    16
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            graphql_path: default_graphql_path(),
            health_path: default_health_path(),
            ready_path: default_ready_path(),
            max_body_bytes: default_max_body_bytes(),
            request_timeout: default_request_timeout(),
            max_concurrent_requests: default_max_concurrent_requests(),
            batching: BatchingConfig::default(),
            cors: None,
            csrf: crate::csrf::CsrfConfig::default(),
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 4000))
}
fn default_graphql_path() -> String {
    "/graphql".to_owned()
}
fn default_ready_path() -> String {
    "/ready".to_owned()
}

fn default_health_path() -> String {
    "/health".to_owned()
}
fn default_max_body_bytes() -> usize {
    2 * 1024 * 1024
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(60)
}
fn default_max_concurrent_requests() -> usize {
    1024
}

/// `subgraphs.<name>:` per-subgraph overrides.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubgraphConfig {
    /// Replaces the URL from the supergraph's `join__graph(url:)`.
    #[serde(default)]
    pub url: Option<String>,
    /// Time limit for one request to this subgraph, e.g. "30s".
    #[serde(default = "default_subgraph_timeout", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub timeout: Duration,
    /// Identical queries in flight at the same time (same body and headers)
    /// share one HTTP call. Mutations are never merged.
    #[serde(default = "default_true")]
    pub deduplicate_requests: bool,
    /// How the router authenticates itself to this subgraph.
    #[serde(default)]
    pub auth: Option<SubgraphAuthConfig>,
    /// Largest accepted response body from this subgraph, in bytes; a larger
    /// answer fails the fetch with `SUBREQUEST_HTTP_ERROR`.
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: usize,
}

impl Default for SubgraphConfig {
    fn default() -> Self {
        Self {
            url: None,
            timeout: default_subgraph_timeout(),
            deduplicate_requests: true,
            auth: None,
            max_response_bytes: default_max_response_bytes(),
        }
    }
}

/// `subgraphs.<name>.auth:`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubgraphAuthConfig {
    /// Sign a short-lived token (with the `issuer:` key) for each request.
    pub mint: MintConfig,
}

/// `subgraphs.<name>.auth.mint:`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MintConfig {
    /// The `aud` of minted tokens.
    #[serde(default)]
    pub audience: Option<String>,
    /// Claims copied from the client's verified token when present (`sub` is always set).
    #[serde(default)]
    pub claims: Vec<String>,
    /// Lifetime (seconds or a span like "1m"); default `issuer.expires_in`.
    #[serde(default)]
    pub expires_in: Option<String>,
}

fn default_true() -> bool {
    true
}

fn default_max_response_bytes() -> usize {
    64 * 1024 * 1024
}

fn default_subgraph_timeout() -> Duration {
    Duration::from_secs(30)
}

/// The `subgraphs:` key whose settings apply to every subgraph without an
/// entry of its own.
pub const ALL_SUBGRAPHS: &str = "all";

/// The settings of one subgraph: its own entry, else `subgraphs.all`, else
/// the defaults. (A supergraph subgraph really named `all` uses that entry.)
pub fn subgraph_config(subgraphs: &SubgraphsConfig, name: &str) -> SubgraphConfig {
    subgraphs
        .get(name)
        .or_else(|| subgraphs.get(ALL_SUBGRAPHS))
        .cloned()
        .unwrap_or_default()
}

/// `subgraphs:` overrides keyed by subgraph name.
pub type SubgraphsConfig = IndexMap<String, SubgraphConfig>;

/// `limits:` protections against expensive or hostile operations.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest accepted GraphQL document, in bytes.
    #[serde(default = "default_max_query_bytes")]
    pub max_query_bytes: usize,
    /// Parser recursion limit (nesting of selection sets, lists, objects).
    #[serde(default = "default_max_parser_depth")]
    pub max_parser_depth: usize,
    /// Parser token limit.
    #[serde(default = "default_max_tokens")]
    pub max_tokens: usize,
    /// Number of parsed and planned operations kept in the plan cache.
    #[serde(default = "default_plan_cache_size")]
    pub plan_cache_size: usize,
    /// Deepest selection nesting of an operation, fragments expanded (a root
    /// field is depth 1); deeper operations get `MAX_DEPTH_EXCEEDED`.
    #[serde(default = "default_max_depth")]
    pub max_depth: usize,
    /// Most aliased fields in an operation, counted with fragments expanded;
    /// more get `MAX_ALIASES_EXCEEDED`.
    #[serde(default = "default_max_aliases")]
    pub max_aliases: usize,
    /// Most root fields in an operation (aliases and fragments included);
    /// more get `MAX_ROOT_FIELDS_EXCEEDED`.
    #[serde(default = "default_max_root_fields")]
    pub max_root_fields: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_query_bytes: default_max_query_bytes(),
            max_parser_depth: default_max_parser_depth(),
            max_tokens: default_max_tokens(),
            plan_cache_size: default_plan_cache_size(),
            max_depth: default_max_depth(),
            max_aliases: default_max_aliases(),
            max_root_fields: default_max_root_fields(),
        }
    }
}

fn default_max_query_bytes() -> usize {
    256 * 1024
}
fn default_max_parser_depth() -> usize {
    128
}
fn default_max_tokens() -> usize {
    30_000
}
fn default_plan_cache_size() -> usize {
    1024
}
fn default_max_depth() -> usize {
    32
}
fn default_max_aliases() -> usize {
    128
}
fn default_max_root_fields() -> usize {
    64
}

/// `debug:` switches for development; all off by default.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DebugConfig {
    /// When on, a request with the header `tollgate-expose-query-plan: true`
    /// gets its query plan as text in `extensions.queryPlan`. Plans reveal
    /// subgraph names and schema details: keep it off in production.
    #[serde(default)]
    pub expose_query_plan: bool,
}
