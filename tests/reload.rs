//! Hot reload end to end, in-process against the real demo subgraphs: the
//! supergraph file swapped (renamed over) under bounded load with no failed
//! request, a request in flight finishing on the old supergraph, an invalid
//! new file refused while the old one keeps serving, and a config reload
//! whose new `jwt:` section cannot load keys refused. Every wait polls with a
//! bounded deadline; nothing asserts on elapsed time.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tollgate_e2e::{demo_subgraphs_yaml, workspace_root, TestEnv};

const DEADLINE: Duration = Duration::from_secs(30);

/// The reload counters are process-wide: tests that read them run one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The demo supergraph, and the same without `Query.topProducts`.
fn supergraphs() -> (String, String) {
    let v1 = std::fs::read_to_string(workspace_root().join("schemas/supergraph.graphql")).unwrap();
    let field = "  \"\"\"\n  The first `first` products.\n  \"\"\"\n  topProducts(first: Int! = 5): [Product]! @join__field(graph: PRODUCTS)\n";
    assert!(v1.contains(field));
    let v2 = v1.replace(field, "");
    (v1, v2)
}

/// A fresh directory for one test's files.
fn temp_dir(name: &str) -> PathBuf {
    let dir = tollgate_e2e::temp_file(name, "")
        .parent()
        .unwrap()
        .join(format!("{name}-dir"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Replaces `path` atomically: write a temporary file, rename it over.
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Sum of the samples of `name` whose labels include every `labels` pair.
fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric_name, label_text) = series.split_once('{').unwrap_or((series, ""));
            (metric_name == name
                && labels
                    .iter()
                    .all(|(k, v)| label_text.contains(&format!("{k}=\"{v}\""))))
            .then(|| value.parse::<f64>().ok())
            .flatten()
        })
        .sum()
}

async fn reloads(env: &TestEnv, kind: &str, result: &str) -> f64 {
    let addr = env.router.metrics_addr().expect("metrics are on");
    let text = env
        .client
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    metric(
        &text,
        "tollgate_reload_total",
        &[("kind", kind), ("result", result)],
    )
}

/// Whether the API schema served now has `Query.topProducts`.
async fn has_top_products(env: &TestEnv) -> bool {
    let response = env
        .post(json!({"query": "{ __type(name: \"Query\") { fields { name } } }"}))
        .await;
    assert_eq!(response.status, 200, "{}", response.text);
    response.body["data"]["__type"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["name"] == "topProducts")
}

/// Polls `condition` until it holds, for at most [`DEADLINE`].
async fn eventually<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !condition().await {
        assert!(start.elapsed() < DEADLINE, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn start(dir: &Path, supergraph: &str, extra: &str) -> TestEnv {
    let demo = tollgate_demo::spawn("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    std::fs::write(dir.join("supergraph.graphql"), supergraph).unwrap();
    let yaml = format!(
        "supergraph: {{ path: supergraph.graphql, watch_interval: 50ms }}\n{}telemetry:\n  metrics:\n    prometheus: {{ enabled: true, listen: \"127.0.0.1:0\" }}\n{extra}",
        demo_subgraphs_yaml(&demo)
    );
    let path = dir.join("router.yaml");
    std::fs::write(&path, yaml).unwrap();
    TestEnv::start_file(demo, &path).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn supergraph_swap_under_load_fails_no_request() {
    let _serial = SERIAL.lock().await;
    let (v1, v2) = supergraphs();
    let dir = temp_dir("swap-load");
    let env = Arc::new(start(&dir, &v1, "").await);
    let path = dir.join("supergraph.graphql");
    let (ok_before, failed_before) = (
        reloads(&env, "supergraph", "success").await,
        reloads(&env, "supergraph", "failure").await,
    );
    assert!(has_top_products(&env).await);

    // Bounded load: 6 clients, at most 400 requests each, until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let query = json!({"query": "{ user(id: \"1\") { name reviews { body product { name } } } }"});
    let workers: Vec<_> = (0..6)
        .map(|_| {
            let (env, stop, sent, query) = (env.clone(), stop.clone(), sent.clone(), query.clone());
            tokio::spawn(async move {
                let mut failures = Vec::new();
                for _ in 0..400 {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let response = env.post(query.clone()).await;
                    sent.fetch_add(1, Ordering::SeqCst);
                    let good = response.status == 200
                        && response.body.get("errors").is_none()
                        && response.body["data"]["user"]["name"] == "Ada Lovelace"
                        && response.body["data"]["user"]["reviews"][0]["product"]["name"]
                            .is_string();
                    if !good {
                        failures.push(response.text);
                    }
                }
                failures
            })
        })
        .collect();
    eventually("load running", || async {
        sent.load(Ordering::SeqCst) >= 30
    })
    .await;

    replace(&path, &v2);
    eventually("v2 serving", || async { !has_top_products(&env).await }).await;

    // An invalid file: refused, counted, and v2 keeps serving.
    replace(&path, "type Query { broken");
    eventually("broken file refused", || async {
        reloads(&env, "supergraph", "failure").await > failed_before
    })
    .await;
    assert!(!has_top_products(&env).await, "v2 still serving");

    let mark = sent.load(Ordering::SeqCst);
    replace(&path, &v1);
    eventually("v1 serving again", || async {
        has_top_products(&env).await
    })
    .await;
    eventually("load continued after the swaps", || async {
        sent.load(Ordering::SeqCst) >= mark + 30
    })
    .await;
    stop.store(true, Ordering::SeqCst);

    let mut failures = Vec::new();
    for worker in workers {
        failures.extend(worker.await.unwrap());
    }
    let total = sent.load(Ordering::SeqCst);
    assert!(
        failures.is_empty(),
        "{} of {total} failed: {:?}",
        failures.len(),
        &failures[..1]
    );
    assert_eq!(
        reloads(&env, "supergraph", "success").await - ok_before,
        2.0,
        "v2 then v1 applied"
    );
    assert_eq!(
        reloads(&env, "supergraph", "failure").await - failed_before,
        1.0
    );
}

/// A products subgraph that answers `topProducts` only once released.
async fn gated_products() -> (String, Arc<tokio::sync::Notify>, Arc<AtomicUsize>) {
    let release = Arc::new(tokio::sync::Notify::new());
    let received = Arc::new(AtomicUsize::new(0));
    let state = (release.clone(), received.clone());
    let app = axum::Router::new()
        .route(
            "/products",
            axum::routing::post(
                |axum::extract::State((release, received)): axum::extract::State<(
                    Arc<tokio::sync::Notify>,
                    Arc<AtomicUsize>,
                )>,
                 _body: axum::Json<Value>| async move {
                    received.fetch_add(1, Ordering::SeqCst);
                    release.notified().await;
                    axum::Json(json!({"data": {"topProducts": [{"name": "Gated"}]}}))
                },
            ),
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/products", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, release, received)
}

#[tokio::test]
async fn a_request_in_flight_finishes_on_the_old_supergraph() {
    let _serial = SERIAL.lock().await;
    let (v1, v2) = supergraphs();
    let dir = temp_dir("in-flight");
    let (products, release, received) = gated_products().await;
    let demo = tollgate_demo::spawn("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    std::fs::write(dir.join("supergraph.graphql"), &v1).unwrap();
    let yaml = format!(
        "supergraph: {{ path: supergraph.graphql, watch_interval: 50ms }}\nsubgraphs:\n  accounts: {{ url: \"{}\" }}\n  products: {{ url: \"{products}\" }}\n  reviews: {{ url: \"{}\" }}\n  inventory: {{ url: \"{}\" }}\ntelemetry:\n  metrics:\n    prometheus: {{ enabled: true, listen: \"127.0.0.1:0\" }}\n",
        demo.url("accounts"),
        demo.url("reviews"),
        demo.url("inventory")
    );
    std::fs::write(dir.join("router.yaml"), yaml).unwrap();
    let env = Arc::new(TestEnv::start_file(demo, &dir.join("router.yaml")).await);

    let in_flight = {
        let env = env.clone();
        tokio::spawn(async move { env.post(json!({"query": "{ topProducts { name } }"})).await })
    };
    eventually("the request reached the subgraph", || async {
        received.load(Ordering::SeqCst) == 1
    })
    .await;

    // The new supergraph has no `topProducts`; it is swapped in while the
    // request waits on the subgraph.
    replace(&dir.join("supergraph.graphql"), &v2);
    eventually("v2 serving", || async { !has_top_products(&env).await }).await;
    let refused = env.post(json!({"query": "{ topProducts { name } }"})).await;
    assert_eq!(
        refused.code(),
        Some("GRAPHQL_VALIDATION_FAILED"),
        "{}",
        refused.text
    );

    release.notify_one();
    let finished = in_flight.await.unwrap();
    assert_eq!(finished.status, 200, "{}", finished.text);
    assert_eq!(
        finished.body,
        json!({"data": {"topProducts": [{"name": "Gated"}]}})
    );
}

#[tokio::test]
async fn a_config_reload_whose_jwt_keys_cannot_load_is_refused() {
    let _serial = SERIAL.lock().await;
    let (v1, _) = supergraphs();
    let dir = temp_dir("jwt-reload");
    let jwks = workspace_root().join("dev/dev-jwks.json");
    let file_jwt = format!(
        "jwt:\n  require_authentication: true\n  jwks_providers:\n    - {{ source: file, path: \"{}\" }}\n",
        jwks.display()
    );
    let env = start(&dir, &v1, &file_jwt).await;
    let (ok_before, failed_before) = (
        reloads(&env, "config", "success").await,
        reloads(&env, "config", "failure").await,
    );
    let token = tollgate_e2e::dev_token(&json!({"sub": "1"}));
    let bearer = format!("Bearer {token}");
    let me = json!({"query": "{ user(id: \"1\") { name } }"});
    let answer = env
        .post_with(me.clone(), &[("authorization", &bearer)])
        .await;
    assert_eq!(
        answer.body["data"]["user"]["name"], "Ada Lovelace",
        "{}",
        answer.text
    );
    let anonymous = json!({"query": "{ user(id: \"1\") { name } }"});
    assert_eq!(env.post(anonymous.clone()).await.status, 401);

    // The new jwt section names a JWKS endpoint that is down.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!("http://{}/jwks.json", closed.local_addr().unwrap());
    drop(closed);
    let config = std::fs::read_to_string(dir.join("router.yaml")).unwrap();
    let remote_jwt = format!(
        "jwt:\n  require_authentication: true\n  jwks_providers:\n    - {{ source: remote, url: \"{down}\", prefetch: true }}\n"
    );
    std::fs::write(
        dir.join("router.yaml"),
        config.replace(&file_jwt, &remote_jwt),
    )
    .unwrap();
    let error = env.router.reloader().reload_config().await.unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("jwt: the new settings cannot serve"),
        "{error}"
    );
    assert_eq!(
        reloads(&env, "config", "failure").await - failed_before,
        1.0
    );
    let answer = env
        .post_with(me.clone(), &[("authorization", &bearer)])
        .await;
    assert_eq!(
        answer.body["data"]["user"]["name"], "Ada Lovelace",
        "the old keys keep serving: {}",
        answer.text
    );
    let ready = env
        .send(env.client.get(format!("{}/ready", env.base())))
        .await;
    assert_eq!(ready.status, 200);

    // A config that drops authentication applies, and the next request is
    // answered by the new runtime.
    std::fs::write(dir.join("router.yaml"), config.replace(&file_jwt, "")).unwrap();
    let report = env.router.reloader().reload_config().await.unwrap();
    assert!(report.restart_needed.is_empty(), "{report:?}");
    assert_eq!(reloads(&env, "config", "success").await - ok_before, 1.0);
    let answer = env.post(anonymous).await;
    assert_eq!(
        answer.status, 200,
        "no authentication needed now: {}",
        answer.text
    );
    assert_eq!(answer.body["data"]["user"]["name"], "Ada Lovelace");
}

#[tokio::test]
async fn a_config_reload_recompiles_rhai_scripts_and_refuses_a_broken_one() {
    let _serial = SERIAL.lock().await;
    let (v1, _) = supergraphs();
    let dir = temp_dir("rhai-reload");
    std::fs::create_dir_all(dir.join("rhai")).unwrap();
    let script = |status: u16| {
        format!(
            "fn router_service(service) {{ service.map_request(|request| {{ throw #{{ status: {status}, message: \"script {status}\" }}; }}); }}\n"
        )
    };
    std::fs::write(dir.join("rhai/main.rhai"), script(403)).unwrap();
    let env = start(&dir, &v1, "rhai: { scripts: rhai, main: main.rhai }\n").await;
    let query = json!({"query": "{ __typename }"});
    assert_eq!(env.post(query.clone()).await.status, 403);

    // A changed script applies on reload (the config itself is unchanged).
    std::fs::write(dir.join("rhai/main.rhai"), script(429)).unwrap();
    env.router.reloader().reload_config().await.unwrap();
    let answer = env.post(query.clone()).await;
    assert_eq!(answer.status, 429, "{}", answer.text);

    // A script that does not compile is refused; the running one stays.
    std::fs::write(
        dir.join("rhai/main.rhai"),
        "fn router_service(service) { let = ; }",
    )
    .unwrap();
    let error = env.router.reloader().reload_config().await.unwrap_err();
    assert!(error.to_string().starts_with("rhai.main: "), "{error}");
    assert_eq!(env.post(query).await.status, 429);
}
