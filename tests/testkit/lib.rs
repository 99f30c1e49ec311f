//! Test kit for Tollgate's end-to-end tests: starts the demo subgraphs and
//! the real router app on ephemeral loopback ports (config written as YAML
//! and parsed by the real config loader), and sends real HTTP requests.
//! Everything stops when the [`TestEnv`] is dropped.

pub mod fake;

use std::path::PathBuf;

use serde_json::Value;
use tollgate::config::{self, LoadedConfig};
use tollgate::server::{self, RunningGateway};
use tollgate_demo::DemoHandle;

/// The workspace root (where `router.yaml` and `schemas/` live).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// Parses complete YAML config text as the router does, with relative
/// paths from the workspace root.
pub fn loaded_config(yaml: &str) -> LoadedConfig {
    let parsed = config::parse(yaml, &|name| std::env::var(name).ok())
        .unwrap_or_else(|errors| panic!("test config is invalid: {errors:?}"));
    LoadedConfig {
        config: parsed,
        base_dir: workspace_root(),
        path: workspace_root().join("test-router.yaml"),
    }
}

/// A running demo + router pair.
pub struct TestEnv {
    /// The demo subgraphs.
    pub demo: DemoHandle,
    /// The router.
    pub router: RunningGateway,
    /// A shared HTTP client.
    pub client: reqwest::Client,
    /// The config the router runs with.
    pub config: LoadedConfig,
}

/// A response as the tests look at it.
#[derive(Debug)]
pub struct TestResponse {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body parsed as JSON (`Value::Null` when it is not JSON).
    pub body: Value,
    /// Raw body text.
    pub text: String,
}

impl TestResponse {
    /// `errors[0].extensions.code`.
    pub fn code(&self) -> Option<&str> {
        self.body["errors"][0]["extensions"]["code"].as_str()
    }

    /// The `content-type` header.
    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

impl TestEnv {
    /// Starts the demo and a router whose config is the demo defaults plus
    /// `extra_yaml` (top-level sections, e.g. a `jwt:` block). Subgraph URLs
    /// point at the demo's ephemeral port.
    pub async fn start(extra_yaml: &str) -> TestEnv {
        let demo = tollgate_demo::spawn("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("demo subgraphs start");
        Self::start_with_demo(demo, extra_yaml).await
    }

    /// Like [`TestEnv::start`] with an already running demo.
    pub async fn start_with_demo(demo: DemoHandle, extra_yaml: &str) -> TestEnv {
        let mut yaml =
            String::from("supergraph:\n  path: schemas/supergraph.graphql\nsubgraphs:\n");
        for name in tollgate_demo::SUBGRAPHS {
            yaml.push_str(&format!(
                "  {name}:\n    url: {}\n    timeout: 5s\n",
                demo.url(name)
            ));
        }
        yaml.push_str(extra_yaml);
        Self::start_yaml(demo, &yaml).await
    }

    /// Like [`TestEnv::start`], but the subgraph `name` is served at `url`
    /// (a fake) with `settings` (YAML lines of its `subgraphs.<name>`
    /// entry, e.g. `timeout: 500ms`; a 5 s timeout when empty).
    pub async fn start_with_subgraph(
        name: &str,
        url: &str,
        settings: &[&str],
        extra_yaml: &str,
    ) -> TestEnv {
        let demo = tollgate_demo::spawn("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("demo subgraphs start");
        let mut yaml =
            String::from("supergraph:\n  path: schemas/supergraph.graphql\nsubgraphs:\n");
        for subgraph in tollgate_demo::SUBGRAPHS {
            if subgraph == name {
                yaml.push_str(&format!("  {name}:\n    url: {url}\n"));
                let settings = if settings.is_empty() {
                    &["timeout: 5s"][..]
                } else {
                    settings
                };
                for line in settings {
                    yaml.push_str(&format!("    {line}\n"));
                }
            } else {
                yaml.push_str(&format!(
                    "  {subgraph}:\n    url: {}\n    timeout: 5s\n",
                    demo.url(subgraph)
                ));
            }
        }
        yaml.push_str(extra_yaml);
        Self::start_yaml(demo, &yaml).await
    }

    /// Starts a router from complete YAML text (relative paths from the workspace root).
    pub async fn start_yaml(demo: DemoHandle, yaml: &str) -> TestEnv {
        Self::serve(demo, loaded_config(yaml)).await
    }

    /// Starts a router from a config file, loaded as the binary loads it
    /// (relative paths from the file's directory; a config reload re-reads it).
    pub async fn start_file(demo: DemoHandle, path: &std::path::Path) -> TestEnv {
        let loaded = config::load(path).unwrap_or_else(|error| panic!("{error}"));
        Self::serve(demo, loaded).await
    }

    /// Builds the router from a loaded config and serves it on an ephemeral port.
    async fn serve(demo: DemoHandle, loaded: LoadedConfig) -> TestEnv {
        let gateway = server::build(&loaded).await.expect("router builds");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind router");
        let router = gateway.spawn(listener).expect("router serves");
        TestEnv {
            demo,
            router,
            client: reqwest::Client::new(),
            config: loaded,
        }
    }

    /// The router's GraphQL URL.
    pub fn url(&self) -> String {
        format!(
            "http://{}{}",
            self.router.addr(),
            self.config.config.http.graphql_path
        )
    }

    /// The router's base URL.
    pub fn base(&self) -> String {
        format!("http://{}", self.router.addr())
    }

    /// POSTs a JSON GraphQL request.
    pub async fn post(&self, body: Value) -> TestResponse {
        self.post_with(body, &[]).await
    }

    /// POSTs a JSON GraphQL request with extra headers.
    pub async fn post_with(&self, body: Value, headers: &[(&str, &str)]) -> TestResponse {
        let mut request = self
            .client
            .post(self.url())
            .header("content-type", "application/json")
            .body(body.to_string());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        read(request.send().await.expect("request sent")).await
    }

    /// Sends any request built from the shared client.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> TestResponse {
        read(request.send().await.expect("request sent")).await
    }
}

/// Demo subgraph URLs as a `subgraphs:` section (each with a 5s timeout).
pub fn demo_subgraphs_yaml(demo: &DemoHandle) -> String {
    let mut yaml = String::from("subgraphs:\n");
    for name in tollgate_demo::SUBGRAPHS {
        yaml.push_str(&format!(
            "  {name}:\n    url: {}\n    timeout: 5s\n",
            demo.url(name)
        ));
    }
    yaml
}

/// Reads a response into a [`TestResponse`].
pub async fn read(response: reqwest::Response) -> TestResponse {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    TestResponse {
        status,
        headers,
        body,
        text,
    }
}

/// A scripted subgraph server: each path answers with whatever the handler
/// returns for the GraphQL request body it received. Used to test error and
/// null handling that the demo subgraphs never produce.
pub async fn scripted_subgraphs(handler: fn(&str, &Value) -> Value) -> std::net::SocketAddr {
    scripted_subgraphs_delayed(handler, std::time::Duration::ZERO)
        .await
        .0
}

/// [`scripted_subgraphs`] answering each request after `delay`, with the
/// number of requests it has received.
pub async fn scripted_subgraphs_delayed(
    handler: fn(&str, &Value) -> Value,
    delay: std::time::Duration,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use axum::extract::{Path, State};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    type Shared = (
        fn(&str, &Value) -> Value,
        std::time::Duration,
        Arc<AtomicUsize>,
    );
    let count = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new()
        .route(
            "/{subgraph}",
            axum::routing::post(
                |State((handler, delay, count)): State<Shared>,
                 Path(subgraph): Path<String>,
                 body: axum::Json<Value>| async move {
                    count.fetch_add(1, Ordering::SeqCst);
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    axum::Json(handler(&subgraph, &body.0))
                },
            ),
        )
        .with_state((handler, delay, count.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind scripted subgraphs");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, count)
}

/// Writes `text` to a fresh file under the target directory and returns its path.
pub fn temp_file(name: &str, text: &str) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = workspace_root()
        .join("target")
        .join("e2e-tmp")
        .join(format!("{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write temp file");
    path
}

/// A request a [`recording_subgraph`] received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The request headers.
    pub headers: reqwest::header::HeaderMap,
    /// The GraphQL request body.
    pub body: Value,
}

/// A subgraph server that answers every request with `answer` and records
/// what it received.
pub async fn recording_subgraph(
    answer: Value,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::Mutex<Vec<Recorded>>>,
) {
    use std::sync::{Arc, Mutex};
    let log: Arc<Mutex<Vec<Recorded>>> = Arc::new(Mutex::new(Vec::new()));
    let state = (log.clone(), answer);
    let app = axum::Router::new()
        .fallback(
            |axum::extract::State((log, answer)): axum::extract::State<(
                Arc<Mutex<Vec<Recorded>>>,
                Value,
            )>,
             headers: axum::http::HeaderMap,
             body: axum::Json<Value>| async move {
                let mut copied = reqwest::header::HeaderMap::new();
                for (name, value) in &headers {
                    if let (Ok(name), Ok(value)) = (
                        reqwest::header::HeaderName::from_bytes(name.as_str().as_bytes()),
                        reqwest::header::HeaderValue::from_bytes(value.as_bytes()),
                    ) {
                        copied.append(name, value);
                    }
                }
                log.lock().expect("log").push(Recorded {
                    headers: copied,
                    body: body.0,
                });
                axum::Json(answer)
            },
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind recording subgraph");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, log)
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// An RS256 token signed with the repository's DEV ONLY key (`kid`
/// `tollgate-dev`), with `claims` as given (an `exp` ten minutes ahead is
/// added when missing).
pub fn dev_token(claims: &Value) -> String {
    let pem = std::fs::read(workspace_root().join("dev/dev-private-key.pem")).expect("dev key");
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("tollgate-dev".into());
    let mut claims = claims.clone();
    if let Value::Object(map) = &mut claims {
        map.entry("exp")
            .or_insert_with(|| Value::from(unix_now() + 600));
    }
    jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_rsa_pem(&pem).expect("dev key parses"),
    )
    .expect("signs")
}
