//! A bounded soak of the real `tollgate` binary (run by `bench/soak.sh`, not
//! by `cargo test`): concurrent clients send a fixed mix of valid and invalid
//! tokens and operations for `--seconds`, while the products subgraph flaps
//! behind a TCP proxy (forwarding, then refusing connections, then resetting
//! them, in turn). Every answer is checked against the answers recorded
//! before the load with products up and with products down; the router's
//! memory (VmRSS) is sampled; its log is searched for panics. Exits 1 on any
//! wrong answer, router connection failure, panic, or early router exit.
//!
//! Usage: soak --router PATH [--seconds N] [--concurrency N] [--flap-ms N]

#![allow(clippy::unwrap_used, clippy::print_stdout)] // A bench driver: fail loudly.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

const UP: u8 = 0;
const DOWN: u8 = 1;
const RESET: u8 = 2;

struct Args {
    router: String,
    seconds: u64,
    concurrency: usize,
    flap: Duration,
}

fn args() -> Args {
    let mut args = Args {
        router: "target/release/tollgate".to_owned(),
        seconds: 300,
        concurrency: 16,
        flap: Duration::from_millis(1500),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_default();
        match flag.as_str() {
            "--router" => args.router = value,
            "--seconds" => args.seconds = value.parse().unwrap(),
            "--concurrency" => args.concurrency = value.parse().unwrap(),
            "--flap-ms" => args.flap = Duration::from_millis(value.parse().unwrap()),
            other => panic!("unknown flag {other}"),
        }
    }
    args
}

/// A TCP proxy to one upstream whose mode changes at run time: forward,
/// refuse (nothing listening), or accept and reset.
struct Flapper {
    addr: SocketAddr,
    mode: Arc<AtomicU8>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    upstream: SocketAddr,
}

impl Flapper {
    async fn start(upstream: SocketAddr) -> Arc<Flapper> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let flapper = Arc::new(Flapper {
            addr: listener.local_addr().unwrap(),
            mode: Arc::new(AtomicU8::new(UP)),
            task: Mutex::new(None),
            upstream,
        });
        flapper.listen(listener);
        flapper
    }

    fn listen(&self, listener: TcpListener) {
        let (mode, upstream) = (self.mode.clone(), self.upstream);
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((mut client, _)) = accepted else { continue };
                        if mode.load(Ordering::SeqCst) == RESET {
                            let _ = client.set_zero_linger();
                            continue;
                        }
                        connections.spawn(async move {
                            if let Ok(mut server) = TcpStream::connect(upstream).await {
                                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                            }
                        });
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        });
        *self.task.lock().unwrap() = Some(task);
    }

    /// Switches mode; every open connection is cut.
    async fn set(&self, mode: u8) {
        let task = self.task.lock().unwrap().take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
        self.mode.store(mode, Ordering::SeqCst);
        if mode != DOWN {
            let listener = TcpListener::bind(self.addr).await.unwrap();
            self.listen(listener);
        }
    }
}

/// One kind of request of the mix.
struct Case {
    name: &'static str,
    body: String,
    headers: Vec<(&'static str, String)>,
    /// Whether the operation reads from products (one fetch).
    uses_products: bool,
}

fn cases() -> Vec<Case> {
    let valid = tollgate_e2e::dev_token(&json!({"sub": "1"}));
    let expired = tollgate_e2e::dev_token(&json!({"sub": "1", "exp": 1_000_000}));
    // Another token's signature on this token's header and payload.
    let other = tollgate_e2e::dev_token(&json!({"sub": "2"}));
    let (signed, _) = valid.rsplit_once('.').unwrap();
    let (_, signature) = other.rsplit_once('.').unwrap();
    let tampered = format!("{signed}.{signature}");
    let bearer = |token: &str| vec![("authorization", format!("Bearer {token}"))];
    let query = |q: &str| json!({ "query": q }).to_string();
    vec![
        Case {
            name: "users and reviews (valid token)",
            body: query("{ users { id name reviews { body } } }"),
            headers: bearer(&valid),
            uses_products: false,
        },
        Case {
            name: "me (valid token)",
            body: query("{ me { id name } }"),
            headers: bearer(&valid),
            uses_products: false,
        },
        Case {
            name: "top products (anonymous)",
            body: query("{ topProducts { upc name price } }"),
            headers: Vec::new(),
            uses_products: true,
        },
        Case {
            name: "review products by entity fetch (valid token)",
            body: query("{ users { id reviews { product { upc name } } } }"),
            headers: bearer(&valid),
            uses_products: true,
        },
        Case {
            name: "expired token",
            body: query("{ users { id } }"),
            headers: bearer(&expired),
            uses_products: false,
        },
        Case {
            name: "garbage token",
            body: query("{ users { id } }"),
            headers: bearer("not.a.token"),
            uses_products: false,
        },
        Case {
            name: "tampered token",
            body: query("{ users { id } }"),
            headers: bearer(&tampered),
            uses_products: false,
        },
        Case {
            name: "validation error",
            body: query("{ users { nope } }"),
            headers: Vec::new(),
            uses_products: false,
        },
        Case {
            name: "too deep",
            body: query(&format!(
                "{{ users {}{{ id }} {}}}",
                "{ reviews { author ".repeat(12),
                "} } ".repeat(12)
            )),
            headers: Vec::new(),
            uses_products: false,
        },
        Case {
            name: "not JSON",
            body: "{\"query\": ".to_owned(),
            headers: Vec::new(),
            uses_products: false,
        },
    ]
}

/// What a response must equal: status and body, with error messages
/// dropped (a refused and a reset connection word their error differently).
fn normalize(status: u16, body: &str) -> (u16, Value) {
    let mut value: Value = serde_json::from_str(body).unwrap_or(Value::String(body.to_owned()));
    if let Some(errors) = value.get_mut("errors").and_then(Value::as_array_mut) {
        for error in errors {
            if let Some(object) = error.as_object_mut() {
                object.remove("message");
            }
        }
    }
    (status, value)
}

async fn ask(client: &reqwest::Client, url: &str, case: &Case) -> Result<(u16, Value), String> {
    let mut request = client
        .post(url)
        .header("content-type", "application/json")
        .body(case.body.clone());
    for (name, value) in &case.headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let text = response.text().await.map_err(|e| e.to_string())?;
    Ok(normalize(status, &text))
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

struct RouterProcess(Child);

impl Drop for RouterProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = args();
    let root = tollgate_e2e::workspace_root();
    let demo = tollgate_demo::spawn("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let flapper = Flapper::start(demo.addr()).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut yaml = format!(
        "supergraph: {{ path: {} }}\nhttp: {{ listen: \"127.0.0.1:{port}\" }}\nsubgraphs:\n",
        root.join("schemas/supergraph.graphql").display()
    );
    for name in tollgate_demo::SUBGRAPHS {
        let url = if name == "products" {
            format!("http://{}/products", flapper.addr)
        } else {
            demo.url(name)
        };
        yaml.push_str(&format!("  {name}: {{ url: \"{url}\", timeout: 2s }}\n"));
    }
    yaml.push_str(&format!(
        "jwt:\n  jwks_providers: [{{ source: file, path: {} }}]\n  forward_claims_to_upstream_extensions: {{ enabled: true, field_name: jwt }}\nlimits: {{ max_depth: 20 }}\nlog: {{ level: warn }}\n",
        root.join("dev/dev-jwks.json").display()
    ));
    let dir = root.join("target").join("soak");
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("router.yaml");
    std::fs::write(&config, yaml).unwrap();
    let log = dir.join("router.log");
    let mut router = RouterProcess(
        Command::new(&args.router)
            .args(["--config", config.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", args.router)),
    );
    let pid = router.0.id();
    let url = format!("http://127.0.0.1:{port}/graphql");
    let client = reqwest::Client::new();
    let started = Instant::now();
    while client
        .get(format!("http://127.0.0.1:{port}/health"))
        .send()
        .await
        .is_err()
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "router did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The expected answers: products up, and products down.
    let cases = Arc::new(cases());
    let mut expected: Vec<Vec<(u16, Value)>> = Vec::new();
    for case in cases.iter() {
        expected.push(vec![ask(&client, &url, case).await.unwrap()]);
    }
    flapper.set(DOWN).await;
    for (case, answers) in cases.iter().zip(&mut expected) {
        let down = ask(&client, &url, case).await.unwrap();
        assert_eq!(
            down != answers[0],
            case.uses_products,
            "{}: products down changes exactly the products cases: {down:?}",
            case.name
        );
        if case.uses_products {
            answers.push(down);
        }
    }
    flapper.set(UP).await;
    for (case, answers) in cases.iter().zip(&expected) {
        println!("expected {}: {}", case.name, answers[0].1);
    }
    let expected = Arc::new(expected);

    // Warm-up, then the memory baseline.
    for _ in 0..200 {
        for case in cases.iter() {
            let _ = ask(&client, &url, case).await;
        }
    }
    let rss_start = rss_kib(pid).unwrap_or(0);

    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let flapping = {
        let flapper = flapper.clone();
        let period = args.flap;
        tokio::spawn(async move {
            let mut flaps = 0u64;
            for mode in [UP, DOWN, UP, RESET].into_iter().cycle() {
                if Instant::now() >= deadline {
                    break;
                }
                flapper.set(mode).await;
                flaps += 1;
                tokio::time::sleep(period).await;
            }
            flapper.set(UP).await;
            flaps
        })
    };
    let total = Arc::new(AtomicU64::new(0));
    let wrong = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let degraded = Arc::new(AtomicU64::new(0));
    let statuses = Arc::new(Mutex::new(BTreeMap::<u16, u64>::new()));
    let samples = Arc::new(Mutex::new(vec![rss_start]));
    let sampler = {
        let samples = samples.clone();
        tokio::spawn(async move {
            while Instant::now() < deadline {
                tokio::time::sleep(Duration::from_secs(5)).await;
                if let Some(rss) = rss_kib(pid) {
                    samples.lock().unwrap().push(rss);
                }
            }
        })
    };
    let mut workers = JoinSet::new();
    for worker in 0..args.concurrency {
        let (client, url, cases, expected) =
            (client.clone(), url.clone(), cases.clone(), expected.clone());
        let (total, wrong, failed, degraded, statuses) = (
            total.clone(),
            wrong.clone(),
            failed.clone(),
            degraded.clone(),
            statuses.clone(),
        );
        workers.spawn(async move {
            let mut i = worker;
            while Instant::now() < deadline {
                let index = i % cases.len();
                i += 1;
                let case = &cases[index];
                total.fetch_add(1, Ordering::Relaxed);
                match ask(&client, &url, case).await {
                    Ok(answer) => {
                        *statuses.lock().unwrap().entry(answer.0).or_default() += 1;
                        match expected[index].iter().position(|e| *e == answer) {
                            Some(0) => {}
                            Some(_) => {
                                degraded.fetch_add(1, Ordering::Relaxed);
                            }
                            None => {
                                if wrong.fetch_add(1, Ordering::Relaxed) < 5 {
                                    println!("WRONG {}: {:?}", case.name, answer);
                                }
                            }
                        }
                    }
                    Err(error) => {
                        if failed.fetch_add(1, Ordering::Relaxed) < 5 {
                            println!("FAILED {}: {error}", case.name);
                        }
                    }
                }
            }
        });
    }
    while workers.join_next().await.is_some() {}
    let flaps = flapping.await.unwrap();
    sampler.await.unwrap();
    let rss_end = rss_kib(pid).unwrap_or(0);
    let alive = router.0.try_wait().unwrap().is_none();
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    let panics = log_text.matches("panicked").count();
    let samples = samples.lock().unwrap().clone();
    let rss_max = samples.iter().copied().max().unwrap_or(0);
    let total = total.load(Ordering::Relaxed);
    let wrong = wrong.load(Ordering::Relaxed);
    let failed = failed.load(Ordering::Relaxed);
    println!("seconds: {}", args.seconds);
    println!("concurrency: {}", args.concurrency);
    println!(
        "flaps: {flaps} (every {} ms: up, down, up, reset)",
        args.flap.as_millis()
    );
    println!(
        "requests: {total} ({:.0}/s)",
        total as f64 / args.seconds as f64
    );
    println!("statuses: {:?}", statuses.lock().unwrap());
    println!(
        "answers with products down: {}",
        degraded.load(Ordering::Relaxed)
    );
    println!("wrong answers: {wrong}");
    println!("failed requests: {failed}");
    println!("router panics: {panics}");
    println!("router alive: {alive}");
    println!(
        "router VmRSS KiB: after warm-up {rss_start}, max {rss_max}, end {rss_end} (samples every 5 s: {samples:?})"
    );
    if wrong > 0 || failed > 0 || panics > 0 || !alive {
        std::process::exit(1);
    }
}
