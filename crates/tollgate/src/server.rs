//! Wiring: builds the runtime (supergraph, subgraph client, JWT plugin) from
//! a loaded config, mounts the axum app, and serves it with graceful
//! shutdown. Used by `tollgate`, `tollgate dev` and the end-to-end tests.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tollgate_core::plugin::Plugin;
use tollgate_core::runtime::{Runtime, RuntimeError};
use tollgate_core::supergraph::SupergraphError;
use tollgate_core::{RuntimeHandle, Supergraph};
use tollgate_jwt::issuer::{Issuer, IssuerError};
use tollgate_jwt::mint::{Mint, MintPlugin};
use tollgate_jwt::{JwtAuthenticator, JwtPlugin, JwtSetupError};
use tollgate_rhai::{RhaiError, RhaiPlugin};
use tollgate_subgraph::{ClientBuildError, DeduplicatingClient, HttpSubgraphClient};

use crate::config::LoadedConfig;

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
    /// The JWT authenticator, when configured.
    pub jwt: Option<JwtAuthenticator>,
    /// The address from `http.listen`.
    pub listen: SocketAddr,
    /// The loaded supergraph.
    pub supergraph: Arc<Supergraph>,
    /// The metrics listener address and scrape app, when metrics are on.
    pub metrics: Option<(SocketAddr, axum::Router)>,
    /// The token issuer, when configured.
    pub issuer: Option<Arc<Issuer>>,
}

/// Reads and parses the supergraph named by the config.
pub fn load_supergraph(loaded: &LoadedConfig) -> Result<Supergraph, StartError> {
    let path = loaded.supergraph_path();
    let sdl = std::fs::read_to_string(&path).map_err(|source| StartError::ReadSupergraph {
        path: path.clone(),
        source,
    })?;
    Supergraph::parse(&sdl).map_err(|source| StartError::Supergraph { path, source })
}

/// Builds everything the router needs from a loaded config.
pub async fn build(loaded: &LoadedConfig) -> Result<Gateway, StartError> {
    let config = &loaded.config;
    let supergraph = Arc::new(load_supergraph(loaded)?);
    let client = Arc::new(DeduplicatingClient::new(HttpSubgraphClient::new()?));
    let mut plugins: Vec<Arc<dyn Plugin>> = Vec::new();
    let jwt = match &config.jwt {
        Some(jwt_config) => {
            let authenticator = JwtAuthenticator::new(jwt_config.clone(), &loaded.base_dir).await?;
            plugins.push(Arc::new(JwtPlugin::new(authenticator.clone())));
            Some(authenticator)
        }
        None => None,
    };
    let issuer = match &config.issuer {
        Some(issuer_config) => Some(Arc::new(Issuer::load(issuer_config, &loaded.base_dir)?)),
        None => None,
    };
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
        supergraph.clone(),
        &config.subgraphs,
        config.limits.clone(),
        config.debug.clone(),
        client,
        plugins,
    )?
    .with_override_labels(&config.supergraph.override_labels)
    .with_introspection(config.supergraph.introspection)
    .with_subgraph_errors(&config.include_subgraph_errors)?
    .with_header_rules(&config.headers)?
    .with_authorization(
        config.authorization.clone(),
        config.jwt.as_ref().and_then(|j| j.scopes_claim.clone()),
    );
    let runtime = Arc::new(RuntimeHandle::new(runtime));
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
    })
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
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let metrics = self.bind_metrics()?;
        self.serve_with(listener, metrics, shutdown).await
    }

    async fn serve_with(
        self,
        listener: TcpListener,
        metrics: Option<(TcpListener, axum::Router)>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let jwt = self.jwt.clone();
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
        if let Some(jwt) = jwt {
            jwt.shutdown();
        }
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
        let task = tokio::spawn(self.serve_with(listener, metrics, async move {
            let _ = stopped.await;
        }));
        Ok(RunningGateway {
            addr,
            metrics_addr,
            runtime,
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
