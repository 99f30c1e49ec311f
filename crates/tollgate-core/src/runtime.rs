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
        for name in subgraphs.keys() {
            if supergraph.subgraph(name).is_none() {
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
            let config = subgraphs.get(&info.name).cloned().unwrap_or_default();
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
            });
        }
        let plans = PlanCache::new(limits.plan_cache_size);
        Ok(Self {
            supergraph,
            routes,
            client,
            plugins,
            limits,
            debug,
            plans,
        })
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
