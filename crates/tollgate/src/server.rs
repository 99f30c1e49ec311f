//! Wiring: builds the runtime (supergraph, subgraph client, JWT plugin) from
//! a loaded config, mounts the axum app, and serves it with graceful
//! shutdown, hot reload ([`crate::reload`]: the supergraph file watched,
//! the config re-read on SIGHUP). Used by `tollgate`, `tollgate dev` and the
//! end-to-end tests.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tollgate_core::persisted::PersistedQueries;
use tollgate_core::plugin::Plugin;
use tollgate_core::runtime::{Runtime, RuntimeError};
use tollgate_core::subgraph::SubgraphClient;
use tollgate_core::supergraph::SupergraphError;
use tollgate_core::{RuntimeHandle, Supergraph};
use tollgate_jwt::issuer::{Issuer, IssuerError};
use tollgate_jwt::mint::{Mint, MintPlugin};
use tollgate_jwt::{JwtAuthenticator, JwtPlugin, JwtSetupError};
use tollgate_rhai::{RhaiError, RhaiPlugin};
use tollgate_subgraph::{ClientBuildError, DeduplicatingClient, HttpSubgraphClient};

use crate::config::LoadedConfig;
use crate::reload::Reloader;

/// Why the router could not start. Each message names the config key.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The supergraph file cannot be read.
    #[error("supergraph.path: cannot read {path}: {source}")]
    ReadSupergraph {
        /// Resolved path.
        path: PathBuf,
        /// I/O error.
        source: std::io::Error,
    },
    /// The supergraph is not usable.
    #[error("supergraph.path: {path}: {source}")]
    Supergraph {
        /// Resolved path.
        path: PathBuf,
        /// What is wrong.
        source: SupergraphError,
    },
    /// The runtime could not be built.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The persisted queries manifest or settings are not usable.
    #[error(transparent)]
    Persisted(#[from] tollgate_core::persisted::PersistedSetupError),
    /// The JWT plugin could not be built.
    #[error(transparent)]
    Jwt(#[from] JwtSetupError),
    /// A setting is inconsistent with the rest of the config.
    #[error("{0}")]
    Config(String),
    /// The token issuer could not be set up.
    #[error(transparent)]
    Issuer(#[from] IssuerError),
    /// `http.cors` or `http.csrf` is invalid.
    #[error(transparent)]
    Http(#[from] tollgate_core::http::HttpSetupError),
    /// A header rule is invalid.
    #[error(transparent)]
    Headers(#[from] tollgate_core::headers::HeaderRuleError),
    /// Span export is misconfigured.
    #[error(transparent)]
    Tracing(#[from] tollgate_telemetry::otel::TracingError),
    /// Metrics could not be set up.
    #[error(transparent)]
    Metrics(#[from] tollgate_telemetry::metrics::MetricsError),
    /// The Rhai scripts could not be loaded.
    #[error(transparent)]
    Rhai(#[from] RhaiError),
    /// The HTTP client could not be built.
    #[error(transparent)]
    Client(#[from] ClientBuildError),
    /// The listen address cannot be bound.
    #[error("http.listen: cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// I/O error.
        source: std::io::Error,
    },
}

/// A built router, ready to serve.
pub struct Gateway {
    /// The runtime handle (swap it to reload).
    pub runtime: Arc<RuntimeHandle>,
    /// The axum app.
    pub app: axum::Router,
    /// The JWT authenticator built at start, when configured (a config
    /// reload with a changed `jwt:` section replaces it in the runtime).
    pub jwt: Option<JwtAuthenticator>,
    /// The address from `http.listen`.
    pub listen: SocketAddr,
    /// The loaded supergraph.
    pub supergraph: Arc<Supergraph>,
    /// The metrics listener address and scrape app, when metrics are on.
    pub metrics: Option<(SocketAddr, axum::Router)>,
    /// The token issuer, when configured.
    pub issuer: Option<Arc<Issuer>>,
    /// Hot reload of the supergraph file and the config.
    pub reloader: Arc<Reloader>,
}

/// Reads and parses the supergraph named by the config.
pub fn load_supergraph(loaded: &LoadedConfig) -> Result<Supergraph, StartError> {
    read_supergraph(loaded).map(|(_, supergraph)| supergraph)
}

/// Reads the supergraph named by the config: its bytes and the parsed model.
pub fn read_supergraph(loaded: &LoadedConfig) -> Result<(Vec<u8>, Supergraph), StartError> {
    let path = loaded.supergraph_path();
    let bytes = std::fs::read(&path).map_err(|source| StartError::ReadSupergraph {
        path: path.clone(),
        source,
    })?;
    let supergraph = parse_supergraph(&path, &bytes)?;
    Ok((bytes, supergraph))
}

/// Parses supergraph SDL read from `path`.
pub fn parse_supergraph(path: &std::path::Path, bytes: &[u8]) -> Result<Supergraph, StartError> {
    let sdl = std::str::from_utf8(bytes).map_err(|_| StartError::ReadSupergraph {
        path: path.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"),
    })?;
    Supergraph::parse(sdl).map_err(|source| StartError::Supergraph {
        path: path.to_owned(),
        source,
    })
}

/// What a runtime is built from besides the config and the supergraph.
/// These outlive a reload: the pooled subgraph client keeps its connections
/// and an unchanged `jwt:` section keeps its key sets and caches.
#[derive(Clone)]
pub struct Parts {
    /// The subgraph client (pooled, deduplicating).
    pub client: Arc<dyn SubgraphClient>,
    /// The JWT authenticator, when `jwt:` is configured.
    pub jwt: Option<JwtAuthenticator>,
    /// The token issuer, when `issuer:` is configured.
    pub issuer: Option<Arc<Issuer>>,
}

/// The subgraph client every runtime of this process shares.
pub fn subgraph_client() -> Result<Arc<dyn SubgraphClient>, StartError> {
    Ok(Arc::new(DeduplicatingClient::new(
        HttpSubgraphClient::new()?
    )))
}

/// Loads the `issuer:` signing keys, when configured.
pub fn load_issuer(loaded: &LoadedConfig) -> Result<Option<Arc<Issuer>>, StartError> {
    match &loaded.config.issuer {
        Some(issuer_config) => Ok(Some(Arc::new(Issuer::load(
            issuer_config,
            &loaded.base_dir,
        )?))),
        None => Ok(None),
    }
}

/// Builds everything the router needs from a loaded config.
pub async fn build(loaded: &LoadedConfig) -> Result<Gateway, StartError> {
    let config = &loaded.config;
    let (sdl, supergraph) = read_supergraph(loaded)?;
    let supergraph = Arc::new(supergraph);
    let jwt = match &config.jwt {
        Some(jwt_config) => {
            Some(JwtAuthenticator::new(jwt_config.clone(), &loaded.base_dir).await?)
        }
        None => None,
    };
    let issuer = load_issuer(loaded)?;
    let parts = Parts {
        client: subgraph_client()?,
        jwt: jwt.clone(),
        issuer: issuer.clone(),
    };
    let runtime = build_runtime(loaded, supergraph.clone(), &parts)?;
    let runtime = Arc::new(RuntimeHandle::new(runtime));
    let reloader = Arc::new(Reloader::new(runtime.clone(), loaded.clone(), parts, &sdl));
    let mut app = tollgate_core::http::router(runtime.clone(), &config.http)?;
    if let Some(issuer) = &issuer {
        app = app.merge(issuer_routes(issuer));
    }
    let tracing_config = &config.telemetry.tracing;
    if tracing_config.propagation.trace_context {
        tollgate_telemetry::otel::install_propagator();
        tollgate_core::observe::enable_trace_propagation();
    }
    if let Some(otlp) = &tracing_config.otlp {
        tollgate_telemetry::otel::validate(otlp)?;
        tollgate_core::observe::enable_otel();
    }
    let prometheus = &config.telemetry.metrics.prometheus;
    let metrics = if prometheus.enabled {
        let handle = tollgate_telemetry::metrics::prometheus_handle()?;
        tollgate_core::observe::enable_metrics();
        Some((
            prometheus.listen,
            tollgate_telemetry::metrics::metrics_app(handle, &prometheus.path)?,
        ))
    } else {
        None
    };
    Ok(Gateway {
        runtime,
        app,
        jwt,
        listen: config.http.listen,
        supergraph,
        metrics,
        issuer,
        reloader,
    })
}

/// Builds a runtime from the config, a supergraph and the shared parts:
/// the persisted queries manifest (read now), the plugins (JWT, minting,
/// Rhai scripts compiled now), the subgraph routes, header rules and
/// authorization. Used at start and on reload.
pub fn build_runtime(
    loaded: &LoadedConfig,
    supergraph: Arc<Supergraph>,
    parts: &Parts,
) -> Result<Runtime, StartError> {
    let config = &loaded.config;
    let client = parts.client.clone();
    let issuer = parts.issuer.clone();
    let persisted =
        PersistedQueries::load(&config.persisted_queries, &loaded.base_dir, &config.limits)?;
    let anonymous = anonymous_operations(loaded, &persisted)?;
    let mut plugins: Vec<Arc<dyn Plugin>> = Vec::new();
    if let Some(authenticator) = &parts.jwt {
        plugins.push(Arc::new(
            JwtPlugin::new(authenticator.clone()).with_anonymous_operations(anonymous),
        ));
    }
    let mut mints = HashMap::new();
    for info in supergraph.subgraphs() {
        let name = &info.name;
        let subgraph = tollgate_core::config::subgraph_config(&config.subgraphs, name);
        if let Some(auth) = &subgraph.auth {
            if issuer.is_none() {
                return Err(StartError::Config(format!(
                    "subgraphs.{name}.auth.mint: minting needs an `issuer:` section with a signing key"
                )));
            }
            mints.insert(
                name.clone(),
                Mint::new(name, &auth.mint).map_err(StartError::Config)?,
            );
        }
    }
    if let (Some(issuer), false) = (&issuer, mints.is_empty()) {
        plugins.push(Arc::new(MintPlugin::new(issuer.clone(), mints)));
    }
    if let Some(rhai) = &config.rhai {
        let names: Vec<String> = supergraph
            .subgraphs()
            .iter()
            .map(|s| s.name.clone())
            .collect();
        let signer: Option<tollgate_rhai::Signer> = issuer.clone().map(|issuer| {
            Arc::new(move |claims: serde_json::Map<String, serde_json::Value>| {
                issuer.sign(claims, None).map_err(|e| e.to_string())
            }) as tollgate_rhai::Signer
        });
        plugins.push(Arc::new(RhaiPlugin::load_with_signer(
            rhai,
            &loaded.base_dir,
            &names,
            signer,
        )?));
    }
    let runtime = Runtime::new(
        supergraph,
        &config.subgraphs,
        config.limits.clone(),
        config.debug.clone(),
        client,
        plugins,
    )?
    .with_override_labels(&config.supergraph.override_labels)
    .with_persisted_queries(persisted)
    .with_introspection(config.supergraph.introspection)
    .with_subgraph_errors(&config.include_subgraph_errors)?
    .with_header_rules(&config.headers)?
    .with_authorization(
        config.authorization.clone(),
        config.jwt.as_ref().and_then(|j| j.scopes_claim.clone()),
    );
    Ok(runtime)
}

/// `authorization.allow_anonymous_operations`, checked: it needs required
/// authentication and names operations of the persisted queries manifest.
fn anonymous_operations(
    loaded: &LoadedConfig,
    persisted: &PersistedQueries,
) -> Result<Vec<String>, StartError> {
    let config = &loaded.config;
    let names = &config.authorization.allow_anonymous_operations;
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let key = "authorization.allow_anonymous_operations";
    if !config
        .jwt
        .as_ref()
        .is_some_and(|j| j.require_authentication)
    {
        return Err(StartError::Config(format!(
            "{key}: has no effect unless jwt.require_authentication is true (every operation already runs without a token)"
        )));
    }
    if !persisted.has_manifest() {
        return Err(StartError::Config(format!(
            "{key}: names persisted operations, but persisted_queries.manifest is not set"
        )));
    }
    for (i, name) in names.iter().enumerate() {
        if persisted.named(name).next().is_none() {
            return Err(StartError::Config(format!(
                "{key}[{i}]: no operation named `{name}` in persisted_queries.manifest"
            )));
        }
    }
    Ok(names.clone())
}

/// `GET {base}/openid-configuration` and `GET {base}/jwks.json`.
fn issuer_routes(issuer: &Arc<Issuer>) -> axum::Router {
    let discovery = issuer.discovery().to_string();
    let jwks = issuer.jwks().to_string();
    let json = |body: String| {
        move || {
            let body = body.clone();
            async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    body,
                )
            }
        }
    };
    axum::Router::new()
        .route(
            &issuer.discovery_path(),
            axum::routing::get(json(discovery)),
        )
        .route(&issuer.jwks_path(), axum::routing::get(json(jwks)))
}

impl Gateway {
    /// Binds `http.listen`.
    pub async fn bind(&self) -> Result<TcpListener, StartError> {
        TcpListener::bind(self.listen)
            .await
            .map_err(|source| StartError::Bind {
                addr: self.listen,
                source,
            })
    }

    /// Binds `telemetry.metrics.prometheus.listen` when metrics are on.
    fn bind_metrics(&self) -> std::io::Result<Option<(TcpListener, axum::Router)>> {
        let Some((addr, app)) = &self.metrics else {
            return Ok(None);
        };
        let listener = std::net::TcpListener::bind(addr).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("telemetry.metrics.prometheus.listen: cannot listen on {addr}: {e}"),
            )
        })?;
        listener.set_nonblocking(true)?;
        Ok(Some((TcpListener::from_std(listener)?, app.clone())))
    }

    /// Serves until `shutdown` completes, then drains in-flight requests.
    /// SIGHUP re-reads the config (see [`crate::reload`]).
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let metrics = self.bind_metrics()?;
        crate::reload::reload_on_sighup(&self.reloader)?;
        self.serve_with(listener, metrics, shutdown).await
    }

    async fn serve_with(
        self,
        listener: TcpListener,
        metrics: Option<(TcpListener, axum::Router)>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let reloader = self.reloader.clone();
        reloader.watch_supergraph();
        let (stop_metrics, metrics_stopped) = oneshot::channel::<()>();
        if let Some((metrics_listener, app)) = metrics {
            tokio::spawn(async move {
                let served = axum::serve(metrics_listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = metrics_stopped.await;
                    })
                    .await;
                if let Err(error) = served {
                    tracing::error!(%error, "the metrics endpoint stopped");
                }
            });
        }
        let result = axum::serve(listener, self.app)
            .with_graceful_shutdown(shutdown)
            .await;
        let _ = stop_metrics.send(());
        reloader.shutdown().await;
        result
    }

    /// Serves on `listener` in a background task (tests, `tollgate dev`).
    pub fn spawn(self, listener: TcpListener) -> std::io::Result<RunningGateway> {
        let addr = listener.local_addr()?;
        let metrics = self.bind_metrics()?;
        let metrics_addr = match &metrics {
            Some((listener, _)) => Some(listener.local_addr()?),
            None => None,
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let runtime = self.runtime.clone();
        let reloader = self.reloader.clone();
        let task = tokio::spawn(self.serve_with(listener, metrics, async move {
            let _ = stopped.await;
        }));
        Ok(RunningGateway {
            addr,
            metrics_addr,
            runtime,
            reloader,
            stop: Some(stop),
            task,
        })
    }
}

/// A router serving in the background; dropping it stops the server.
pub struct RunningGateway {
    addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    runtime: Arc<RuntimeHandle>,
    reloader: Arc<Reloader>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningGateway {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bound metrics address, when metrics are on.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The runtime handle.
    pub fn runtime(&self) -> &Arc<RuntimeHandle> {
        &self.runtime
    }

    /// Hot reload (re-read the config as SIGHUP does: [`Reloader::reload_config`]).
    pub fn reloader(&self) -> &Arc<Reloader> {
        &self.reloader
    }

    /// Stops accepting connections, waits for in-flight requests to finish.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match (&mut self.task).await {
            Ok(result) => result,
            Err(join) => Err(std::io::Error::other(join)),
        }
    }
}

impl Drop for RunningGateway {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Resolves when the process receives SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown signal received, draining in-flight requests");
}
