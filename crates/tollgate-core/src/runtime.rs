//! The runtime: everything built once from the config and the supergraph
//! (API schema, subgraph routes, plugins, the plan cache, the subgraph
//! client) and read by every request. [`RuntimeHandle`] holds the current
//! runtime behind an atomically swapped pointer so a reload never blocks or
//! disturbs in-flight requests.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use crate::config::{DebugConfig, LimitsConfig, SubgraphsConfig};
use crate::pipeline::PlanCache;
use crate::plugin::Plugin;
use crate::subgraph::SubgraphClient;
use crate::supergraph::Supergraph;

/// Where and how to reach one subgraph.
#[derive(Debug, Clone)]
pub struct SubgraphRoute {
    /// Subgraph name.
    pub name: Arc<str>,
    /// Effective URL (config override or supergraph URL).
    pub url: Arc<str>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Whether identical in-flight queries share one call.
    pub deduplicate: bool,
    /// Largest accepted response body, in bytes.
    pub max_response_bytes: usize,
    /// Whether the subgraph's own errors reach clients unredacted.
    pub include_errors: bool,
}

/// Why a runtime could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// `subgraphs.<name>` names no subgraph of the supergraph.
    #[error("subgraphs.{name}: no subgraph named `{name}` in the supergraph (known: {known})")]
    UnknownSubgraph {
        /// The configured name.
        name: String,
        /// The supergraph's subgraph names.
        known: String,
    },
    /// `subgraphs.all` cannot set one URL for every subgraph.
    #[error("subgraphs.all.url: one URL for every subgraph is not allowed; set url per subgraph")]
    AllWithUrl,
    /// `include_subgraph_errors.subgraphs.<name>` names no subgraph of the supergraph.
    #[error("include_subgraph_errors.subgraphs.{name}: no subgraph named `{name}` in the supergraph (known: {known})")]
    UnknownErrorsSubgraph {
        /// The configured name.
        name: String,
        /// The supergraph's subgraph names.
        known: String,
    },
    /// A subgraph has no usable URL.
    #[error("subgraphs.{name}.url: `{url}` is not an absolute http(s) URL")]
    BadUrl {
        /// Subgraph name.
        name: String,
        /// The URL found.
        url: String,
    },
}

/// Everything a request reads. Immutable once built.
pub struct Runtime {
    pub(crate) supergraph: Arc<Supergraph>,
    pub(crate) routes: Vec<SubgraphRoute>,
    pub(crate) client: Arc<dyn SubgraphClient>,
    pub(crate) plugins: Vec<Arc<dyn Plugin>>,
    pub(crate) limits: LimitsConfig,
    pub(crate) debug: DebugConfig,
    pub(crate) plans: PlanCache,
    /// Per supergraph override label: `Some(p)` rolled on with probability
    /// `p` percent, `None` fixed (on when configured).
    pub(crate) labels: Vec<LabelRule>,
    pub(crate) headers: crate::headers::HeaderPlan,
    pub(crate) authorization: crate::authorization::AuthorizationConfig,
    pub(crate) scopes_claim: Option<String>,
    pub(crate) persisted: crate::persisted::PersistedQueries,
    /// Whether introspection operations are answered.
    pub(crate) introspection: bool,
}

/// How one progressive-override label is decided per request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum LabelRule {
    /// On with this probability, in percent.
    Percent(f64),
    /// Always on or always off.
    Fixed(bool),
}

impl Runtime {
    /// Builds a runtime, checking the subgraph overrides against the supergraph.
    pub fn new(
        supergraph: Arc<Supergraph>,
        subgraphs: &SubgraphsConfig,
        limits: LimitsConfig,
        debug: DebugConfig,
        client: Arc<dyn SubgraphClient>,
        plugins: Vec<Arc<dyn Plugin>>,
    ) -> Result<Self, RuntimeError> {
        if let Some(all) = subgraphs.get(crate::config::ALL_SUBGRAPHS) {
            if all.url.is_some() && supergraph.subgraph(crate::config::ALL_SUBGRAPHS).is_none() {
                return Err(RuntimeError::AllWithUrl);
            }
        }
        for name in subgraphs.keys() {
            if name != crate::config::ALL_SUBGRAPHS && supergraph.subgraph(name).is_none() {
                let known: Vec<&str> = supergraph
                    .subgraphs()
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect();
                return Err(RuntimeError::UnknownSubgraph {
                    name: name.clone(),
                    known: known.join(", "),
                });
            }
        }
        let mut routes = Vec::with_capacity(supergraph.subgraphs().len());
        for info in supergraph.subgraphs() {
            let config = crate::config::subgraph_config(subgraphs, &info.name);
            let url = config.url.unwrap_or_else(|| info.url.clone());
            let valid = url::Url::parse(&url)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host());
            if !valid {
                return Err(RuntimeError::BadUrl {
                    name: info.name.clone(),
                    url,
                });
            }
            routes.push(SubgraphRoute {
                name: Arc::from(info.name.as_str()),
                url: Arc::from(url),
                timeout: config.timeout,
                deduplicate: config.deduplicate_requests,
                max_response_bytes: config.max_response_bytes,
                include_errors: false,
            });
        }
        let plans = PlanCache::new(limits.plan_cache_size);
        let labels = label_rules(&supergraph, &[]);
        Ok(Self {
            supergraph,
            routes,
            client,
            plugins,
            limits,
            debug,
            plans,
            labels,
            headers: crate::headers::HeaderPlan::default(),
            authorization: crate::authorization::AuthorizationConfig::default(),
            scopes_claim: None,
            persisted: crate::persisted::PersistedQueries::default(),
            introspection: true,
        })
    }

    /// Sets which subgraphs' errors reach clients unredacted
    /// (`include_subgraph_errors`; all redacted by default).
    pub fn with_subgraph_errors(
        mut self,
        config: &crate::subgraph_errors::SubgraphErrorsConfig,
    ) -> Result<Self, RuntimeError> {
        for name in config.subgraphs.keys() {
            if self.supergraph.subgraph(name).is_none() {
                let known: Vec<&str> = self
                    .supergraph
                    .subgraphs()
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect();
                return Err(RuntimeError::UnknownErrorsSubgraph {
                    name: name.clone(),
                    known: known.join(", "),
                });
            }
        }
        for route in &mut self.routes {
            route.include_errors = config.includes(&route.name);
        }
        Ok(self)
    }

    /// Answers introspection or refuses it with `INTROSPECTION_DISABLED`.
    pub fn with_introspection(mut self, enabled: bool) -> Self {
        self.introspection = enabled;
        self
    }

    /// Sets how the supergraph's authorization directives are enforced and
    /// which claim holds the caller's scopes (`scope`, else `scopes`, by default).
    pub fn with_authorization(
        mut self,
        config: crate::authorization::AuthorizationConfig,
        scopes_claim: Option<String>,
    ) -> Self {
        self.authorization = config;
        self.scopes_claim = scopes_claim;
        self
    }

    /// Sets the persisted operations manifest, safelist and APQ cache
    /// (default: no manifest, APQ on).
    pub fn with_persisted_queries(mut self, persisted: crate::persisted::PersistedQueries) -> Self {
        self.persisted = persisted;
        self
    }

    /// The persisted operations of this runtime.
    pub fn persisted_queries(&self) -> &crate::persisted::PersistedQueries {
        &self.persisted
    }

    /// Adds the `headers:` rules (checked against the supergraph's subgraphs).
    pub fn with_header_rules(
        mut self,
        config: &crate::headers::HeadersConfig,
    ) -> Result<Self, crate::headers::HeaderRuleError> {
        let names: Vec<String> = self
            .supergraph
            .subgraphs()
            .iter()
            .map(|s| s.name.clone())
            .collect();
        self.headers = crate::headers::HeaderPlan::compile(config, &names)?;
        Ok(self)
    }

    /// Treats these progressive-override labels as on (labels of the form
    /// `percent(N)` are rolled per request whatever this says).
    pub fn with_override_labels(mut self, enabled: &[String]) -> Self {
        self.labels = label_rules(&self.supergraph, enabled);
        self
    }

    /// Decides the progressive-override labels for one request.
    pub(crate) fn roll_labels(&self) -> Vec<bool> {
        self.labels.iter().map(LabelRule::roll).collect()
    }

    /// The supergraph this runtime serves.
    pub fn supergraph(&self) -> &Arc<Supergraph> {
        &self.supergraph
    }

    /// The effective subgraph routes, in supergraph order.
    pub fn routes(&self) -> &[SubgraphRoute] {
        &self.routes
    }

    /// Number of prepared operations in the cache (one per distinct document text).
    pub fn cached_operations(&self) -> usize {
        self.plans.len()
    }

    /// Number of cached plans (one per distinct normalized operation).
    pub fn cached_plans(&self) -> usize {
        self.plans.plans()
    }
}

impl LabelRule {
    /// Decides the label for one request.
    fn roll(&self) -> bool {
        match self {
            LabelRule::Fixed(on) => *on,
            LabelRule::Percent(percent) => {
                use std::hash::BuildHasher;
                // A fresh RandomState per call gives an unpredictable draw.
                let draw = std::hash::RandomState::new().hash_one(0u8) % 1_000_000;
                (draw as f64) < percent * 10_000.0
            }
        }
    }
}

fn label_rules(supergraph: &Supergraph, enabled: &[String]) -> Vec<LabelRule> {
    supergraph
        .join()
        .override_labels()
        .iter()
        .map(|label| {
            let percent = label
                .strip_prefix("percent(")
                .and_then(|rest| rest.strip_suffix(')'))
                .and_then(|n| n.trim().parse::<f64>().ok())
                .filter(|p| (0.0..=100.0).contains(p));
            match percent {
                Some(percent) => LabelRule::Percent(percent),
                None => LabelRule::Fixed(enabled.contains(label)),
            }
        })
        .collect()
}

/// The current runtime, swappable atomically (for hot reload).
pub struct RuntimeHandle {
    current: ArcSwap<Runtime>,
}

impl RuntimeHandle {
    /// Wraps the first runtime.
    pub fn new(runtime: Runtime) -> Self {
        Self {
            current: ArcSwap::from_pointee(runtime),
        }
    }

    /// The runtime to use for one request.
    pub fn load(&self) -> Arc<Runtime> {
        self.current.load_full()
    }

    /// Replaces the runtime; requests already running keep the old one.
    pub fn store(&self, runtime: Runtime) {
        self.current.store(Arc::new(runtime));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_rolled_or_fixed() {
        let sdl = crate::supergraph::tests::supergraph_sdl()
            .replace(
                "join__field(graph: join__Graph, requires",
                "join__field(graph: join__Graph, overrideLabel: String, requires",
            )
            .replace(
                "  name: String\n  internal",
                "  name: String @join__field(graph: ACCOUNTS, overrideLabel: \"percent(0)\")\n  nick: String @join__field(graph: ACCOUNTS, overrideLabel: \"percent(100)\")\n  tag: String @join__field(graph: ACCOUNTS, overrideLabel: \"canary\")\n  internal",
            );
        // Labels only count on overriding fields; add the overriding side.
        let sdl = sdl.replace(
            "type Product @join__type(graph: PRODUCTS, key: \"upc\") {",
            "type Product @join__type(graph: PRODUCTS, key: \"upc\") {\n  x: Int",
        );
        let sdl = sdl
            .replace("percent(0)\")", "percent(0)\") @join__field(graph: PRODUCTS, override: \"accounts\", overrideLabel: \"percent(0)\")")
            .replace("percent(100)\")", "percent(100)\") @join__field(graph: PRODUCTS, override: \"accounts\", overrideLabel: \"percent(100)\")")
            .replace("\"canary\")", "\"canary\") @join__field(graph: PRODUCTS, override: \"accounts\", overrideLabel: \"canary\")");
        let supergraph = Supergraph::parse(&sdl).unwrap();
        let labels = supergraph.join().override_labels().to_vec();
        assert_eq!(labels.len(), 3, "{labels:?}");
        let rules = label_rules(&supergraph, &["canary".to_owned()]);
        for (label, rule) in labels.iter().zip(&rules) {
            let expected = match label.as_str() {
                "percent(0)" => LabelRule::Percent(0.0),
                "percent(100)" => LabelRule::Percent(100.0),
                _ => LabelRule::Fixed(true),
            };
            assert_eq!(*rule, expected, "{label}");
        }
        assert_eq!(
            label_rules(&supergraph, &[])
                .iter()
                .filter(|r| **r == LabelRule::Fixed(false))
                .count(),
            1
        );
    }

    struct NoClient;

    impl SubgraphClient for NoClient {
        fn send(
            &self,
            _: crate::subgraph::SubgraphRequest,
        ) -> futures::future::BoxFuture<
            '_,
            Result<crate::subgraph::SubgraphResponse, crate::subgraph::SubgraphError>,
        > {
            Box::pin(async { Err(crate::subgraph::SubgraphError::Transport) })
        }
    }

    fn build(yaml: &str) -> Result<Runtime, RuntimeError> {
        let supergraph =
            Arc::new(Supergraph::parse(&crate::supergraph::tests::supergraph_sdl()).unwrap());
        let subgraphs: SubgraphsConfig = serde_yaml::from_str(yaml).unwrap();
        Runtime::new(
            supergraph,
            &subgraphs,
            LimitsConfig::default(),
            DebugConfig::default(),
            Arc::new(NoClient),
            Vec::new(),
        )
    }

    #[test]
    fn subgraphs_all_applies_where_no_entry_exists() {
        let runtime = build(
            "all: { timeout: 2s, deduplicate_requests: false }
products: { url: \"http://products.internal/graphql\" }",
        )
        .unwrap();
        let accounts = &runtime.routes()[0];
        assert_eq!(accounts.timeout, Duration::from_secs(2));
        assert!(!accounts.deduplicate);
        assert_eq!(&*accounts.url, "http://accounts.example/graphql");
        let products = &runtime.routes()[1];
        assert_eq!(
            products.timeout,
            Duration::from_secs(30),
            "own entry wins whole"
        );
        assert_eq!(&*products.url, "http://products.internal/graphql");
        assert!(matches!(
            build("all: { url: \"http://x/graphql\" }"),
            Err(RuntimeError::AllWithUrl)
        ));
        assert!(matches!(
            build("nope: {}"),
            Err(RuntimeError::UnknownSubgraph { .. })
        ));
    }

    #[test]
    fn percentages_roll() {
        assert!((0..200).all(|_| !LabelRule::Percent(0.0).roll()));
        assert!((0..200).all(|_| LabelRule::Percent(100.0).roll()));
        let on = (0..2000)
            .filter(|_| LabelRule::Percent(50.0).roll())
            .count();
        assert!((700..1300).contains(&on), "about half: {on}");
    }
}
