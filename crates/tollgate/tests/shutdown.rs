//! The real `tollgate` binary stopping under load: SIGTERM while requests
//! are in flight refuses new connections at once, lets every in-flight
//! request finish with its full answer, and exits 0.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

const IN_FLIGHT: usize = 8;
const ANSWER: &str = r#"{"data":{"product":{"upc":"1","name":"Table"}}}"#;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A products subgraph that counts requests and holds every answer until
/// the gate opens.
async fn gated_subgraph() -> (SocketAddr, Arc<AtomicUsize>, watch::Sender<bool>) {
    let arrived = Arc::new(AtomicUsize::new(0));
    let (gate, _) = watch::channel(false);
    let state = (arrived.clone(), gate.clone());
    let app = axum::Router::new()
        .route(
            "/products",
            axum::routing::post(
                |axum::extract::State((arrived, gate)): axum::extract::State<(
                    Arc<AtomicUsize>,
                    watch::Sender<bool>,
                )>| async move {
                    arrived.fetch_add(1, Ordering::SeqCst);
                    let mut open = gate.subscribe();
                    let _ = open.wait_for(|open| *open).await;
                    ([("content-type", "application/json")], ANSWER)
                },
            ),
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, arrived, gate)
}

/// One HTTP/1.1 request on its own connection; returns the status line and body.
async fn send(port: u16, request: String) -> std::io::Result<(String, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Ok((
        head.lines().next().unwrap_or("").to_owned(),
        body.to_owned(),
    ))
}

fn post(body: &str) -> String {
    format!(
        "POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// The router process, killed if the test ends early.
struct Router(std::process::Child);

impl Drop for Router {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls (every 20 ms, at most 20 s) until `ready` holds.
async fn wait_until(what: &str, mut ready: impl AsyncFnMut() -> bool) {
    let waited = tokio::time::timeout(Duration::from_secs(20), async {
        while !ready().await {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "timed out waiting until {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_requests_refuses_new_ones_and_exits_0() {
    let (subgraph, arrived, gate) = gated_subgraph().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(format!("tollgate-shutdown-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("router.yaml");
    std::fs::write(
        &config,
        format!(
            "supergraph: {{ path: {} }}\nhttp: {{ listen: \"127.0.0.1:{port}\" }}\nsubgraphs:\n  products: {{ url: \"http://{subgraph}/products\", deduplicate_requests: false }}\n",
            root().join("schemas/supergraph.graphql").display()
        ),
    )
    .unwrap();
    let log = dir.join("router.log");
    let mut router = Router(
        Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .args(["--config", config.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let child = &mut router.0;
    let health = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".to_owned();
    wait_until("the router answers /health", async || {
        send(port, health.clone())
            .await
            .is_ok_and(|(status, _)| status.contains("200"))
    })
    .await;

    let query = r#"{"query":"{ product(upc: \"1\") { upc name } }"}"#;
    let in_flight: Vec<_> = (0..IN_FLIGHT)
        .map(|_| tokio::spawn(send(port, post(query))))
        .collect();
    wait_until("every request reached the subgraph", async || {
        arrived.load(Ordering::SeqCst) == IN_FLIGHT
    })
    .await;

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // The listener closes while the requests are still held.
    wait_until("new connections are refused", async || {
        TcpStream::connect(("127.0.0.1", port)).await.is_err()
    })
    .await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "the router waits for its in-flight requests"
    );

    gate.send_replace(true);
    for request in in_flight {
        let (status, body) = request.await.unwrap().unwrap();
        assert!(status.contains("200"), "{status}");
        assert_eq!(body, ANSWER);
    }
    let mut exit = None;
    wait_until("the router exits", async || {
        exit = child.try_wait().unwrap();
        exit.is_some()
    })
    .await;
    let exit = exit.unwrap();
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(exit.success(), "{exit:?}: {log}");
    assert!(log.contains("draining in-flight requests"), "{log}");
    assert_eq!(arrived.load(Ordering::SeqCst), IN_FLIGHT);
}
