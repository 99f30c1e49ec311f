//! Hot reload. The supergraph file is watched (polled and content-hashed,
//! see [`tollgate_core::watch`]); SIGHUP re-reads the config file. A change
//! that builds becomes a new [`Runtime`](tollgate_core::Runtime) swapped in
//! through [`RuntimeHandle::store`]: requests in flight finish on the runtime
//! they started with, new ones get the new one. A change that does not build
//! is logged and counted (`tollgate_reload_total{result="failure"}`), and
//! the running runtime keeps serving.
//!
//! A config reload applies `supergraph`, `subgraphs`, `limits`, `headers`,
//! `rhai`, `jwt`, `authorization`, `persisted_queries` and `debug`. The sections bound at start
//! (`http`, including the listen address, `telemetry`, including the
//! metrics listener, `log` and `issuer`) keep their running values; a
//! difference is logged as needing a restart. JWKS files are watched by the
//! key store itself ([`tollgate_jwt::provider`]).

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tollgate_core::observe;
use tollgate_core::watch::{FileWatch, WatchEvent, DEBOUNCE};
use tollgate_core::RuntimeHandle;
use tollgate_jwt::JwtAuthenticator;

use crate::config::{self, Config, ConfigError, LoadedConfig};
use crate::server::{self, Parts, StartError};

/// Why a reload was refused (the running config keeps serving).
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The config file cannot be read or is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The new config or supergraph does not build.
    #[error(transparent)]
    Build(#[from] StartError),
    /// The new `jwt:` section cannot verify tokens (no key set loads).
    #[error("jwt: the new settings cannot serve: {0}")]
    JwtNotReady(String),
}

/// What an applied config reload did.
#[derive(Debug)]
pub struct ReloadReport {
    /// Keys that changed but need a restart (their running values are kept).
    pub restart_needed: Vec<&'static str>,
    /// Hex SHA-256 of the supergraph now serving.
    pub supergraph_hash: String,
}

/// Owns what a reload replaces: the effective config, the shared parts
/// and the watch on the supergraph file.
pub struct Reloader {
    runtime: Arc<RuntimeHandle>,
    state: tokio::sync::Mutex<State>,
    cancel: CancellationToken,
}

struct State {
    loaded: LoadedConfig,
    parts: Parts,
    watch: FileWatch,
}

impl Reloader {
    /// Starts from the running runtime, built from `loaded`, `parts` and
    /// the supergraph file content `sdl`.
    pub fn new(
        runtime: Arc<RuntimeHandle>,
        loaded: LoadedConfig,
        parts: Parts,
        sdl: &[u8],
    ) -> Self {
        let watch = FileWatch::new(loaded.supergraph_path(), sdl);
        Self {
            runtime,
            state: tokio::sync::Mutex::new(State {
                loaded,
                parts,
                watch,
            }),
            cancel: CancellationToken::new(),
        }
    }

    /// Starts the background watch of the supergraph file (every
    /// `supergraph.watch_interval` while `supergraph.watch` is on).
    pub fn watch_supergraph(self: &Arc<Self>) {
        let reloader = Arc::downgrade(self);
        let cancel = self.cancel.clone();
        tokio::spawn(async move {
            let mut wait = match reloader.upgrade() {
                Some(reloader) => reloader.interval().await,
                None => return,
            };
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(wait) => {}
                }
                let Some(reloader) = reloader.upgrade() else {
                    return;
                };
                wait = reloader.check_supergraph().await;
            }
        });
    }

    async fn interval(&self) -> Duration {
        self.state
            .lock()
            .await
            .loaded
            .config
            .supergraph
            .watch_interval
    }

    /// Checks the supergraph file once; returns how long to wait before the
    /// next check.
    pub async fn check_supergraph(&self) -> Duration {
        let mut state = self.state.lock().await;
        let interval = state.loaded.config.supergraph.watch_interval;
        if !state.loaded.config.supergraph.watch {
            return interval;
        }
        let path = state.watch.path().to_owned();
        match state.watch.check().await {
            WatchEvent::Unchanged => interval,
            WatchEvent::Settling => DEBOUNCE,
            WatchEvent::Unreadable(reason) => {
                observe::reload("supergraph", false);
                tracing::error!(path = %path.display(), %reason, "supergraph file cannot be read; the running supergraph keeps serving");
                interval
            }
            WatchEvent::Changed(bytes) => {
                match self.apply_supergraph(&state, &path, &bytes) {
                    Ok(supergraph) => {
                        observe::reload("supergraph", true);
                        tracing::info!(
                            path = %path.display(),
                            subgraphs = supergraph.subgraphs().len(),
                            supergraph_hash = %&supergraph.hash()[..12],
                            "supergraph file changed: new supergraph serving"
                        );
                    }
                    Err(error) => {
                        observe::reload("supergraph", false);
                        tracing::error!(%error, "supergraph file changed but cannot be used; the running supergraph keeps serving");
                    }
                }
                interval
            }
        }
    }

    fn apply_supergraph(
        &self,
        state: &State,
        path: &std::path::Path,
        bytes: &[u8],
    ) -> Result<Arc<tollgate_core::Supergraph>, StartError> {
        let supergraph = Arc::new(server::parse_supergraph(path, bytes)?);
        let runtime = server::build_runtime(&state.loaded, supergraph.clone(), &state.parts)?;
        self.runtime.store(runtime);
        Ok(supergraph)
    }

    /// Re-reads the config file (what SIGHUP does) and applies it when it
    /// builds; the outcome is logged and counted.
    pub async fn reload_config(&self) -> Result<ReloadReport, ReloadError> {
        let mut state = self.state.lock().await;
        let result = self.try_reload_config(&mut state).await;
        observe::reload("config", result.is_ok());
        match &result {
            Ok(report) => tracing::info!(
                path = %state.loaded.path.display(),
                supergraph_hash = %&report.supergraph_hash[..12],
                restart_needed = ?report.restart_needed,
                "config reloaded"
            ),
            Err(error) => tracing::error!(
                path = %state.loaded.path.display(),
                %error,
                "config reload refused; the running config keeps serving"
            ),
        }
        result
    }

    async fn try_reload_config(&self, state: &mut State) -> Result<ReloadReport, ReloadError> {
        let mut next = config::load(&state.loaded.path)?;
        let restart_needed = restart_needed(&state.loaded.config, &next.config);
        for key in &restart_needed {
            tracing::warn!(
                key,
                "changed in the config file, but a restart is needed to apply it; the running value is kept"
            );
        }
        keep_bound_sections(&mut next.config, &state.loaded.config);
        let (bytes, supergraph) = server::read_supergraph(&next)?;
        let jwt_changed = !same(&state.loaded.config.jwt, &next.config.jwt)
            || state.loaded.base_dir != next.base_dir;
        let jwt = if jwt_changed {
            new_authenticator(&next).await?
        } else {
            state.parts.jwt.clone()
        };
        let parts = Parts {
            client: state.parts.client.clone(),
            jwt,
            issuer: state.parts.issuer.clone(),
        };
        let supergraph = Arc::new(supergraph);
        let runtime = match server::build_runtime(&next, supergraph.clone(), &parts) {
            Ok(runtime) => runtime,
            Err(error) => {
                if let (true, Some(jwt)) = (jwt_changed, &parts.jwt) {
                    jwt.shutdown();
                }
                return Err(error.into());
            }
        };
        self.runtime.store(runtime);
        if let (true, Some(old)) = (jwt_changed, &state.parts.jwt) {
            old.shutdown();
        }
        state.watch = FileWatch::new(next.supergraph_path(), &bytes);
        state.loaded = next;
        state.parts = parts;
        Ok(ReloadReport {
            restart_needed,
            supergraph_hash: supergraph.hash().to_owned(),
        })
    }

    /// Stops the watch and the current JWT authenticator's background work.
    pub async fn shutdown(&self) {
        self.cancel.cancel();
        if let Some(jwt) = &self.state.lock().await.parts.jwt {
            jwt.shutdown();
        }
    }
}

/// Builds and starts the authenticator of a changed `jwt:` section; refuses
/// one that requires authentication but cannot load any key set.
async fn new_authenticator(loaded: &LoadedConfig) -> Result<Option<JwtAuthenticator>, ReloadError> {
    let Some(jwt_config) = &loaded.config.jwt else {
        return Ok(None);
    };
    let authenticator = JwtAuthenticator::new(jwt_config.clone(), &loaded.base_dir)
        .await
        .map_err(StartError::from)?;
    if let Err(reason) = authenticator.ready().await {
        authenticator.shutdown();
        return Err(ReloadError::JwtNotReady(reason));
    }
    Ok(Some(authenticator))
}

/// Whether two config values are equal. The config types do not implement
/// `PartialEq` (they span five crates); their derived `Debug` prints every
/// field in a fixed order, so equal output means equal settings. The text is
/// only compared, never logged (it may hold secrets).
fn same<T: Debug>(a: &T, b: &T) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

/// The keys bound at start that differ between the running and the new config.
fn restart_needed(running: &Config, next: &Config) -> Vec<&'static str> {
    let mut keys = Vec::new();
    if running.http.listen != next.http.listen {
        keys.push("http.listen");
    } else if !same(&running.http, &next.http) {
        keys.push("http");
    }
    let (old, new) = (
        &running.telemetry.metrics.prometheus,
        &next.telemetry.metrics.prometheus,
    );
    if old.listen != new.listen || old.enabled != new.enabled {
        keys.push("telemetry.metrics.prometheus.listen");
    } else if !same(&running.telemetry, &next.telemetry) {
        keys.push("telemetry");
    }
    if !same(&running.log, &next.log) {
        keys.push("log");
    }
    if !same(&running.issuer, &next.issuer) {
        keys.push("issuer");
    }
    keys
}

/// Keeps the running values of the sections bound at start.
fn keep_bound_sections(next: &mut Config, running: &Config) {
    next.http = running.http.clone();
    next.telemetry = running.telemetry.clone();
    next.log = running.log.clone();
    next.issuer = running.issuer.clone();
}

/// On SIGHUP, re-reads the config ([`Reloader::reload_config`]) until the
/// reloader shuts down. Installed before serving, so an early SIGHUP never
/// takes the default action (ending the process).
pub fn reload_on_sighup(reloader: &Arc<Reloader>) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hangups = signal(SignalKind::hangup())?;
        let weak = Arc::downgrade(reloader);
        let cancel = reloader.cancel.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    received = hangups.recv() => {
                        if received.is_none() {
                            return;
                        }
                    }
                }
                let Some(reloader) = weak.upgrade() else {
                    return;
                };
                tracing::info!("SIGHUP received: reloading the config");
                // The outcome is logged and counted by reload_config.
                let _ = reloader.reload_config().await;
            }
        });
    }
    #[cfg(not(unix))]
    let _ = reloader;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Config {
        config::parse(yaml, &|_| None).unwrap()
    }

    #[test]
    fn bound_sections_need_a_restart_and_keep_running_values() {
        let running = parse("supergraph: { path: a.graphql }\n");
        let next = parse(
            "supergraph: { path: b.graphql }\nhttp: { listen: \"0.0.0.0:4000\" }\nlog: { level: debug }\nsubgraphs: { a: { timeout: 1s } }\n",
        );
        assert_eq!(restart_needed(&running, &next), vec!["http.listen", "log"]);
        let mut applied = next.clone();
        keep_bound_sections(&mut applied, &running);
        assert_eq!(applied.http.listen, running.http.listen);
        assert!(same(&applied.log, &running.log));
        assert_eq!(applied.supergraph.path, next.supergraph.path);
        assert!(same(&applied.subgraphs, &next.subgraphs));

        let paths = parse("supergraph: { path: a.graphql }\nhttp: { graphql_path: /gql }\n");
        assert_eq!(restart_needed(&running, &paths), vec!["http"]);
        let metrics = parse(
            "supergraph: { path: a.graphql }\ntelemetry: { metrics: { prometheus: { enabled: true } } }\n",
        );
        assert_eq!(
            restart_needed(&running, &metrics),
            vec!["telemetry.metrics.prometheus.listen"]
        );
        assert!(restart_needed(&running, &running.clone()).is_empty());
    }

    #[test]
    fn jwt_sections_compare_by_value() {
        let a = parse("supergraph: { path: a.graphql }\njwt: { jwks_providers: [ { source: file, path: k.json } ] }\n");
        let b = parse("supergraph: { path: a.graphql }\njwt:\n  jwks_providers:\n    - { source: file, path: k.json }\n");
        let c = parse("supergraph: { path: a.graphql }\njwt: { jwks_providers: [ { source: file, path: other.json } ] }\n");
        assert!(same(&a.jwt, &b.jwt));
        assert!(!same(&a.jwt, &c.jwt));
    }
}
