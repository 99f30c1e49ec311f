//! The real `tollgate` binary: config validation, the JSON Schema, start-up
//! errors before listening, serving /health, and graceful exit on SIGTERM.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tollgate(args: &[&str]) -> std::process::Output {
    tollgate_with_env(args, &[])
}

/// Runs the binary with `env` set (and `TOLLGATE_CONFIG` unset).
fn tollgate_with_env(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(args)
        .current_dir(root())
        .env_remove("TOLLGATE_CONFIG")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn temp_config(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tollgate-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("router.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn validate_accepts_the_default_config() {
    let output = tollgate(&["config", "validate"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "ok");
}

#[test]
fn validate_reports_every_error_with_its_key() {
    let path = temp_config(
        "bad",
        "supergraph: { path: x.graphql }\nhttp: { graphql_path: nope, max_body_bytes: 0 }\n",
    );
    let output = tollgate(&["config", "validate", "--config", path.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("http.graphql_path: `nope` must start with `/`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("http.max_body_bytes: must be greater than 0"),
        "{stderr}"
    );

    let path = temp_config(
        "variant",
        "supergraph: { path: x.graphql }\njwt:\n  jwks_providers:\n    - source: s3\n",
    );
    let output = tollgate(&["config", "validate", "--config", path.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("jwt.jwks_providers[0]"), "{stderr}");
    assert!(
        stderr.contains("unknown variant `s3`, expected one of `remote`, `oidc`, `file`"),
        "{stderr}"
    );
    assert!(stderr.contains("line 4"), "{stderr}");
}

#[test]
fn validate_checks_referenced_files() {
    let path = temp_config("missing", "supergraph: { path: missing.graphql }\n");
    let output = tollgate(&["config", "validate", "--config", path.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("supergraph.path: cannot read"), "{stderr}");

    let sg = root().join("schemas/supergraph.graphql");
    let text = format!(
        "supergraph: {{ path: {} }}\nsubgraphs: {{ billing: {{ timeout: 1s }} }}\n",
        sg.display()
    );
    let path = temp_config("unknown-subgraph", &text);
    let output = tollgate(&["config", "validate", "--config", path.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("subgraphs.billing: no subgraph named `billing`"),
        "{stderr}"
    );
}

#[test]
fn schema_prints_json_schema() {
    let output = tollgate(&["config", "schema"]);
    assert!(output.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(schema.to_string().contains("jwks_providers"), "{schema}");
    assert!(schema["properties"]["supergraph"].is_object());
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn get_health(port: u16) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

#[test]
fn serves_health_and_exits_cleanly_on_sigterm() {
    let port = free_port();
    let sg = root().join("schemas/supergraph.graphql");
    let path = temp_config(
        "serve",
        &format!(
            "supergraph: {{ path: {} }}\nhttp: {{ listen: \"127.0.0.1:{port}\" }}\n",
            sg.display()
        ),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["--config", path.to_str().unwrap(), "--log-format", "json"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut health = None;
    while Instant::now() < deadline {
        if let Some(response) = get_health(port) {
            health = Some(response);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let health = health.expect("router answered /health");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(health.ends_with(r#"{"status":"ok"}"#), "{health}");

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "router did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(
        stderr.contains("\"Tollgate is listening\""),
        "JSON log lines: {stderr}"
    );
}

#[test]
fn startup_errors_exit_non_zero_before_listening() {
    let path = temp_config("bad-sg", "supergraph: { path: /dev/null }\n");
    let output = tollgate(&["--config", path.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("supergraph.path"), "{stderr}");
}

/// A minimal OTLP/HTTP collector: records the request line and content
/// type of each POST it receives, answers 200.
fn fake_collector() -> (u16, std::sync::mpsc::Receiver<String>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(32) {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buffer = Vec::new();
            let mut chunk = [0u8; 4096];
            let head_end = loop {
                match stream.read(&mut chunk) {
                    Ok(0) | Err(_) => break None,
                    Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                }
                if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                    break Some(end + 4);
                }
            };
            let Some(head_end) = head_end else { continue };
            let head = String::from_utf8_lossy(&buffer[..head_end]).to_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while buffer.len() < head_end + length {
                match stream.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                }
            }
            let content_type = head
                .lines()
                .find_map(|l| l.strip_prefix("content-type:"))
                .unwrap_or("")
                .trim()
                .to_owned();
            let request_line = head.lines().next().unwrap_or("").to_owned();
            let _ = tx.send(format!("{request_line} | {content_type} | {length}"));
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
        }
    });
    (port, rx)
}

#[test]
fn spans_are_exported_over_otlp_http() {
    let (collector, received) = fake_collector();
    let port = free_port();
    let sg = root().join("schemas/supergraph.graphql");
    let path = temp_config(
        "otlp",
        &format!(
            "supergraph: {{ path: {} }}\nhttp: {{ listen: \"127.0.0.1:{port}\" }}\ntelemetry:\n  tracing:\n    otlp: {{ endpoint: \"http://127.0.0.1:{collector}/v1/traces\", protocol: http }}\n",
            sg.display()
        ),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["--config", path.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while get_health(port).is_none() {
        assert!(Instant::now() < deadline, "router did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let body = r#"{"query":"{ __typename }"}"#;
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .write_all(
            format!(
                "POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.contains(r#""__typename":"Query""#), "{answer}");

    // Stopping flushes the buffered spans.
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "router did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    let export = received
        .recv_timeout(Duration::from_secs(10))
        .expect("the collector received spans");
    assert!(export.starts_with("post /v1/traces"), "{export}");
    assert!(export.contains("application/x-protobuf"), "{export}");
}

#[test]
fn plan_prints_the_query_plan() {
    let query = temp_config("plan-query", "{ topProducts { name inStock } }");
    let sg = root().join("schemas/supergraph.graphql");
    let output = tollgate(&[
        "plan",
        "--supergraph",
        sg.to_str().unwrap(),
        "--query",
        query.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{output:?}");
    let plan = String::from_utf8(output.stdout).unwrap();
    assert!(plan.contains("Fetch(service: \"products\")"), "{plan}");
    assert!(plan.contains("Flatten(path: \"topProducts.@\")"), "{plan}");
    assert!(plan.contains("... on Product { inStock }"), "{plan}");

    let bad = temp_config("plan-bad", "{ nope }");
    let output = tollgate(&[
        "plan",
        "--supergraph",
        sg.to_str().unwrap(),
        "--query",
        bad.to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("does not have a field `nope`"), "{stderr}");
}

#[test]
fn token_prints_a_signed_token_with_the_given_claims() {
    let sg = root().join("schemas/supergraph.graphql");
    let path = temp_config(
        "token",
        &format!(
            "supergraph: {{ path: {} }}\nissuer: {{ issuer: \"https://router.example\", development: true }}\n",
            sg.display()
        ),
    );
    let output = tollgate(&[
        "--config",
        path.to_str().unwrap(),
        "token",
        "--sub",
        "alice",
        "--claim",
        "scope=read write",
        "--claim",
        "level=3",
        "--expires-in",
        "1h",
    ]);
    assert!(output.status.success(), "{output:?}");
    let token = String::from_utf8(output.stdout).unwrap();
    let parts: Vec<&str> = token.trim().split('.').collect();
    assert_eq!(parts.len(), 3);
    use base64::Engine as _;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[1])
        .unwrap();
    let claims: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["scope"], "read write");
    assert_eq!(claims["level"], 3);
    assert_eq!(claims["iss"], "https://router.example");
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        3600
    );

    let no_issuer = temp_config(
        "token-none",
        &format!("supergraph: {{ path: {} }}\n", sg.display()),
    );
    let output = tollgate(&[
        "--config",
        no_issuer.to_str().unwrap(),
        "token",
        "--sub",
        "a",
    ]);
    assert!(!output.status.success());
    assert!(String::from_utf8(output.stderr).unwrap().contains("issuer"));
}

/// A directory with a config referencing one of each kind of file
/// (supergraph, JWKS, Rhai script, issuer key), all good.
fn referenced_files(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tollgate-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("rhai")).unwrap();
    for (from, to) in [
        ("schemas/supergraph.graphql", "supergraph.graphql"),
        ("dev/dev-jwks.json", "jwks.json"),
        ("dev/dev-private-key.pem", "issuer.pem"),
    ] {
        std::fs::copy(root().join(from), dir.join(to)).unwrap();
    }
    std::fs::write(
        dir.join("rhai/main.rhai"),
        "fn router_service(service) { service.map_request(|request| { request.headers[\"x-seen\"] = \"1\"; }); }\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("router.yaml"),
        "supergraph: { path: supergraph.graphql }\n\
         jwt:\n  jwks_providers: [ { source: file, path: jwks.json } ]\n\
         issuer: { issuer: \"https://router.example\", algorithm: RS256, keys: [ { kid: k1, private_key_path: issuer.pem } ] }\n\
         rhai: { scripts: rhai, main: main.rhai }\n\
         headers: { all: { request: [ { propagate: { matching: \"^x-tenant\" } } ] } }\n",
    )
    .unwrap();
    dir
}

fn validate_dir(dir: &Path, extra: &[&str]) -> (bool, String) {
    let config = dir.join("router.yaml");
    let mut args = vec!["config", "validate", "--config", config.to_str().unwrap()];
    args.extend_from_slice(extra);
    let output = tollgate(&args);
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn validate_names_each_broken_referenced_file() {
    let dir = referenced_files("referenced");
    let (ok, stderr) = validate_dir(&dir, &[]);
    assert!(ok, "the good set validates: {stderr}");
    let config = std::fs::read_to_string(dir.join("router.yaml")).unwrap();

    // (what breaks, how: (file, new content) or a config edit, the expected error)
    type Break = (
        &'static str,
        Option<(&'static str, &'static str)>,
        Option<(&'static str, &'static str)>,
        &'static str,
    );
    let cases: [Break; 11] = [
        (
            "supergraph unparsable",
            Some(("supergraph.graphql", "type Query {")),
            None,
            "supergraph.path: ",
        ),
        (
            "supergraph missing",
            None,
            Some(("path: supergraph.graphql", "path: gone.graphql")),
            "supergraph.path: cannot read",
        ),
        (
            "JWKS not JSON",
            Some(("jwks.json", "{ nope")),
            None,
            "jwt.jwks_providers[0].path: ",
        ),
        (
            "JWKS without keys",
            Some(("jwks.json", r#"{"keys":[]}"#)),
            None,
            "jwt.jwks_providers[0].path: ",
        ),
        (
            "JWKS missing",
            None,
            Some(("path: jwks.json", "path: gone.json")),
            "jwt.jwks_providers[0].path: cannot read",
        ),
        (
            "JWKS keys unfit for the algorithms",
            None,
            Some((
                "path: jwks.json } ]",
                "path: jwks.json } ]\n  allowed_algorithms: [ES256]",
            )),
            "none of its keys can verify an allowed algorithm (ES256)",
        ),
        (
            "Rhai syntax error",
            Some(("rhai/main.rhai", "fn router_service(service) { let = ; }")),
            None,
            "rhai.main: ",
        ),
        (
            "Rhai missing",
            None,
            Some(("main: main.rhai", "main: gone.rhai")),
            "rhai.main: cannot read",
        ),
        (
            "issuer key missing",
            None,
            Some(("private_key_path: issuer.pem", "private_key_path: gone.pem")),
            "issuer.keys[0].private_key_path: cannot read",
        ),
        (
            "issuer key unfit for the algorithm",
            None,
            Some(("algorithm: RS256", "algorithm: ES256")),
            "issuer.keys[0]: ",
        ),
        (
            "header rule regex",
            None,
            Some(("^x-tenant", "(unclosed")),
            "headers.all.request[0]",
        ),
    ];
    for (what, file, edit, expected) in cases {
        let dir = referenced_files("case");
        if let Some((name, text)) = file {
            std::fs::write(dir.join(name), text).unwrap();
        }
        if let Some((from, to)) = edit {
            assert!(config.contains(from), "{what}: {from}");
            std::fs::write(dir.join("router.yaml"), config.replace(from, to)).unwrap();
        }
        let (ok, stderr) = validate_dir(&dir, &[]);
        assert!(!ok, "{what}: must fail");
        assert!(
            stderr.contains(expected),
            "{what}: expected `{expected}` in:\n{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    }

    // Several broken files at once: each is reported.
    let dir = referenced_files("several");
    std::fs::write(dir.join("supergraph.graphql"), "type Query {").unwrap();
    std::fs::write(dir.join("jwks.json"), "{ nope").unwrap();
    std::fs::write(
        dir.join("router.yaml"),
        config.replace("private_key_path: issuer.pem", "private_key_path: gone.pem"),
    )
    .unwrap();
    let (ok, stderr) = validate_dir(&dir, &[]);
    assert!(!ok);
    for expected in [
        "supergraph.path: ",
        "jwt.jwks_providers[0].path: ",
        "issuer.keys[0].private_key_path: cannot read",
    ] {
        assert!(stderr.contains(expected), "`{expected}` in:\n{stderr}");
    }
}

#[test]
fn validate_contacts_remote_jwks_only_when_asked() {
    let dir = referenced_files("remote");
    // An IdP that is up but never answers usefully: validate must not connect.
    let idp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    idp.set_nonblocking(true).unwrap();
    let closed = free_port();
    let config = std::fs::read_to_string(dir.join("router.yaml"))
        .unwrap()
        .replace(
            "jwks_providers: [ { source: file, path: jwks.json } ]",
            &format!(
                "jwks_providers:\n    - {{ source: file, path: jwks.json }}\n    - {{ source: remote, url: \"http://{}/jwks.json\", prefetch: true }}\n    - {{ source: remote, url: \"http://127.0.0.1:{closed}/jwks.json\", prefetch: true }}",
                idp.local_addr().unwrap()
            ),
        );
    std::fs::write(dir.join("router.yaml"), config).unwrap();
    let (ok, stderr) = validate_dir(&dir, &[]);
    assert!(ok, "{stderr}");
    assert!(
        matches!(idp.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "validate connected to the remote JWKS provider"
    );
    drop(idp);
    let (ok, stderr) = validate_dir(&dir, &["--fetch-jwks"]);
    assert!(!ok);
    assert!(stderr.contains("jwt.jwks_providers[1].url: "), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "jwt.jwks_providers[2].url: http://127.0.0.1:{closed}/jwks.json: connection failed"
        )),
        "{stderr}"
    );
}

#[test]
fn a_bad_worker_thread_count_is_a_clear_error_not_a_panic() {
    for bad in ["abc", "0"] {
        let output = tollgate_with_env(&["config", "validate"], &[("TOKIO_WORKER_THREADS", bad)]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{bad:?}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "error: TOKIO_WORKER_THREADS: must be a whole number from 1 to 1024, got \"{bad}\""
            )),
            "{bad:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{bad:?}: {stderr}");
    }
    let output = tollgate_with_env(&["config", "validate"], &[("TOKIO_WORKER_THREADS", "1")]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_bad_span_batch_variable_is_a_clear_error_not_a_panic() {
    let sg = root().join("schemas/supergraph.graphql");
    // Nothing listens on the collector's port: the router must stop before
    // it exports anything (and before it listens).
    let path = temp_config(
        "otlp-env",
        &format!(
            "supergraph: {{ path: {} }}\nhttp: {{ listen: \"127.0.0.1:{}\" }}\ntelemetry:\n  tracing:\n    otlp: {{ endpoint: \"http://127.0.0.1:9/v1/traces\", protocol: http }}\n",
            sg.display(),
            free_port()
        ),
    );
    let config = path.to_str().unwrap();
    for args in [
        vec!["--config", config],
        vec!["config", "validate", "--config", config],
    ] {
        let output = tollgate_with_env(&args, &[("OTEL_BSP_MAX_QUEUE_SIZE", "0")]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("OTEL_BSP_MAX_QUEUE_SIZE: must be a whole number of spans from 1 to 1048576, got \"0\""),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn a_missing_config_file_is_reported_once() {
    let output = tollgate(&["config", "validate", "--config", "/nonexistent/router.yaml"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.trim(),
        "error: cannot read config file /nonexistent/router.yaml: No such file or directory (os error 2)"
    );
}
