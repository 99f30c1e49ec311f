//! The real `tollgate` binary reloading its config on SIGHUP, against two
//! sets of real demo subgraphs: a changed subgraph URL takes effect, broken
//! configs (invalid YAML keys, a missing supergraph) are refused and the
//! running config keeps serving, a changed listen address is reported as
//! needing a restart. Every outcome is counted in `tollgate_reload_total`.
//! Waits poll with a bounded deadline; nothing asserts on elapsed time.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(30);

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.1 request; `None` when nothing listens.
fn http(port: u16, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.get(9..12)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n")?.1.to_owned();
    Some((status, body))
}

/// `user(id: "1") { name }` through the router: its status and body.
fn query(port: u16) -> (u16, String) {
    http(
        port,
        "POST",
        "/graphql",
        r#"{"query":"{ user(id: \"1\") { name } }"}"#,
    )
    .expect("the router answers")
}

fn reloads(metrics_port: u16, result: &str) -> u32 {
    let (_, text) = http(metrics_port, "GET", "/metrics", "").expect("metrics answer");
    text.lines()
        .filter(|line| {
            line.starts_with("tollgate_reload_total{")
                && line.contains("kind=\"config\"")
                && line.contains(&format!("result=\"{result}\""))
        })
        .filter_map(|line| line.rsplit_once(' ')?.1.parse::<u32>().ok())
        .sum()
}

fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// The router process; killed if the test fails before it stops it.
struct Router(Child);

impl Drop for Router {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

struct Config {
    dir: PathBuf,
    listen: u16,
    metrics: u16,
}

impl Config {
    fn write(&self, subgraphs_at: std::net::SocketAddr, supergraph: &Path, listen: u16) {
        let mut yaml = format!(
            "supergraph: {{ path: \"{}\" }}\nhttp: {{ listen: \"127.0.0.1:{listen}\" }}\ntelemetry:\n  metrics:\n    prometheus: {{ enabled: true, listen: \"127.0.0.1:{}\" }}\nsubgraphs:\n",
            supergraph.display(),
            self.metrics
        );
        for name in tollgate_demo::SUBGRAPHS {
            yaml.push_str(&format!(
                "  {name}: {{ url: \"http://{subgraphs_at}/{name}\", timeout: 5s }}\n"
            ));
        }
        self.replace(&yaml);
    }

    /// Replaces the file atomically, as editors and ConfigMaps do.
    fn replace(&self, text: &str) {
        let tmp = self.dir.join("router.yaml.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, self.dir.join("router.yaml")).unwrap();
    }
}

#[test]
fn sighup_applies_a_changed_subgraph_url_and_refuses_broken_configs() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (a, b) = runtime.block_on(async {
        let any = "127.0.0.1:0".parse().unwrap();
        (
            tollgate_demo::spawn(any).await.unwrap(),
            tollgate_demo::spawn(any).await.unwrap(),
        )
    });
    let dir = std::env::temp_dir().join(format!("tollgate-sighup-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = Config {
        dir: dir.clone(),
        listen: free_port(),
        metrics: free_port(),
    };
    let supergraph = root().join("schemas/supergraph.graphql");
    config.write(a.addr(), &supergraph, config.listen);
    let log = dir.join("stderr.log");
    let mut router = Router(
        Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .args(["--config", dir.join("router.yaml").to_str().unwrap()])
            .env_remove("TOLLGATE_CONFIG")
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let child = &mut router.0;
    let port = config.listen;
    eventually("the router serves", || {
        http(port, "GET", "/health", "").is_some_and(|(s, _)| s == 200)
    });

    let answer = query(port);
    assert_eq!(answer.0, 200, "{answer:?}");
    assert!(answer.1.contains(r#""name":"Ada Lovelace""#), "{answer:?}");
    assert!(a.requests() > 0 && b.requests() == 0);

    // 1. A changed subgraph URL: after SIGHUP, requests go to B.
    config.write(b.addr(), &supergraph, port);
    signal(child, "HUP");
    eventually("requests reach the new subgraph URL", || {
        let answer = query(port);
        assert_eq!(answer.0, 200, "{answer:?}");
        b.requests() > 0
    });
    assert_eq!(reloads(config.metrics, "success"), 1);
    let at_a = a.requests();

    // 2. Broken configs are refused; B keeps serving.
    let broken: [(&str, String); 2] = [
        (
            "an unknown key",
            format!(
                "supergraph: {{ path: \"{}\" }}\nsubgraphs: {{ accounts: {{ urll: x }} }}\n",
                supergraph.display()
            ),
        ),
        (
            "a missing supergraph",
            std::fs::read_to_string(dir.join("router.yaml"))
                .unwrap()
                .replace(
                    supergraph.to_str().unwrap(),
                    "/nonexistent/supergraph.graphql",
                ),
        ),
    ];
    for (count, (what, text)) in broken.iter().enumerate() {
        config.replace(text);
        signal(child, "HUP");
        eventually(what, || {
            reloads(config.metrics, "failure") == count as u32 + 1
        });
        let at_b = b.requests();
        let answer = query(port);
        assert_eq!(answer.0, 200, "{what}: {answer:?}");
        assert!(answer.1.contains("Ada Lovelace"), "{what}: {answer:?}");
        assert!(b.requests() > at_b, "{what}: still served by B");
    }
    assert_eq!(a.requests(), at_a, "nothing went to A");

    // 3. Back to A with a new listen address: the URL applies, the listen
    //    address needs a restart (the router stays where it is).
    let other = free_port();
    config.write(a.addr(), &supergraph, other);
    signal(child, "HUP");
    eventually("requests reach A again", || {
        let answer = query(port);
        assert_eq!(answer.0, 200, "{answer:?}");
        a.requests() > at_a
    });
    assert_eq!(reloads(config.metrics, "success"), 2);
    assert!(http(other, "GET", "/health", "").is_none());

    signal(child, "TERM");
    let start = Instant::now();
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(start.elapsed() < DEADLINE, "router did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "{exit:?}");
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("config reload refused"), "{log}");
    assert!(log.contains("subgraphs.accounts.urll"), "{log}");
    assert!(log.contains("supergraph.path: cannot read"), "{log}");
    assert!(
        log.contains("restart is needed") && log.contains("http.listen"),
        "{log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
