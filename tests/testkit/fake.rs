//! A fake subgraph on a raw loopback TCP listener whose behaviour tests
//! switch at run time: answer JSON, answer anything (non-JSON, HTTP 500),
//! answer late, never answer, reset the connection, hold answers until
//! released, or be down (nothing listening: connection refused) and come
//! back on the same port. Every connection gets `Connection: close`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the fake does with each request it reads.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// 200 with this JSON body.
    Json(Value),
    /// This status, content type and raw body.
    Raw {
        /// HTTP status.
        status: u16,
        /// `Content-Type` value.
        content_type: &'static str,
        /// The body as sent.
        body: String,
    },
    /// Waits, then answers 200 with the JSON body.
    Slow(Duration, Value),
    /// Reads the request and never answers (the connection stays open).
    Hang,
    /// Reads the request, then resets the connection (RST).
    Reset,
    /// Holds the answer until [`FakeSubgraph::release`], then answers 200 with the JSON body.
    Gated(Value),
}

struct Shared {
    behaviour: Mutex<Behaviour>,
    requests: AtomicUsize,
    gate: watch::Sender<bool>,
}

/// A running fake subgraph; dropping it stops it.
pub struct FakeSubgraph {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: Option<JoinHandle<()>>,
}

impl FakeSubgraph {
    /// Starts on an ephemeral loopback port.
    pub async fn start(behaviour: Behaviour) -> FakeSubgraph {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake subgraph");
        let addr = listener.local_addr().expect("addr");
        let shared = Arc::new(Shared {
            behaviour: Mutex::new(behaviour),
            requests: AtomicUsize::new(0),
            gate: watch::channel(false).0,
        });
        let task = Some(tokio::spawn(serve(listener, shared.clone())));
        FakeSubgraph { addr, shared, task }
    }

    /// The URL to configure as the subgraph's.
    pub fn url(&self) -> String {
        format!("http://{}/graphql", self.addr)
    }

    /// Switches the behaviour for the next requests.
    pub fn set(&self, behaviour: Behaviour) {
        *self.shared.behaviour.lock().expect("behaviour") = behaviour;
    }

    /// Requests read so far.
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Waits (at most 10 s) until `n` requests have been read.
    pub async fn wait_for_requests(&self, n: usize) {
        let waited = tokio::time::timeout(Duration::from_secs(10), async {
            while self.requests() < n {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        assert!(
            waited.is_ok(),
            "the fake subgraph got {} of {n} requests",
            self.requests()
        );
    }

    /// Lets every held ([`Behaviour::Gated`]) answer go, now and later.
    pub fn release(&self) {
        self.shared.gate.send_replace(true);
    }

    /// Stops listening and drops every open connection: connections are
    /// refused until [`FakeSubgraph::restart`].
    pub async fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Listens again on the same port.
    pub async fn restart(&mut self) {
        self.stop().await;
        let listener = TcpListener::bind(self.addr)
            .await
            .expect("rebind the fake subgraph's port");
        self.task = Some(tokio::spawn(serve(listener, self.shared.clone())));
    }
}

impl Drop for FakeSubgraph {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    // Connection tasks live in the set: aborting `serve` drops them all.
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                connections.spawn(connection(stream, shared.clone()));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn connection(mut stream: TcpStream, shared: Arc<Shared>) {
    if read_request(&mut stream).await.is_none() {
        return;
    }
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let behaviour = shared.behaviour.lock().expect("behaviour").clone();
    let (status, content_type, body) = match behaviour {
        Behaviour::Json(value) => (200, "application/json", value.to_string()),
        Behaviour::Raw {
            status,
            content_type,
            body,
        } => (status, content_type, body),
        Behaviour::Slow(delay, value) => {
            tokio::time::sleep(delay).await;
            (200, "application/json", value.to_string())
        }
        Behaviour::Hang => {
            std::future::pending::<()>().await;
            return;
        }
        Behaviour::Reset => {
            let _ = stream.set_zero_linger();
            return;
        }
        Behaviour::Gated(value) => {
            let mut gate = shared.gate.subscribe();
            let _ = gate.wait_for(|open| *open).await;
            (200, "application/json", value.to_string())
        }
    };
    let head = format!(
        "HTTP/1.1 {status} Fake\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Reads one request (head and `Content-Length` body); `None` when the
/// peer closes first or the head is malformed.
async fn read_request(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        if buffer.len() > 1 << 20 {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    Some(buffer.split_off(head_end))
}
