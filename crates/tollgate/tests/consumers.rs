//! Consumer credentials through the real binary: `tollgate consumers
//! create|list|revoke|add-key` against a SQLite store, a running router
//! (real binary, debug logs) accepting the consumer's tokens, refusing
//! unknown ones, and refusing a revoked credential within five seconds
//! while requests keep coming; the secret never shows in listings, errors
//! or logs.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tollgate(config: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("TG_CONSUMERS_KEY", KEY)
        .output()
        .unwrap()
}

fn field<'a>(stdout: &'a str, label: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(label))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no `{label}` in {stdout}"))
}

fn hs_token(sub: &str, secret: &str) -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": sub, "exp": exp}),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

async fn query(client: &reqwest::Client, url: &str, token: &str) -> (u16, Value, String) {
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {token}"))
        .body(r#"{"query":"{ topProducts { upc } }"}"#)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    )
}

fn reason(body: &Value) -> &str {
    body["errors"][0]["extensions"]["reason"]
        .as_str()
        .unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_are_created_used_and_revoked_on_a_running_router() {
    let demo = tollgate_demo::spawn("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(format!("tollgate-consumers-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut subgraphs = String::new();
    for name in tollgate_demo::SUBGRAPHS {
        subgraphs.push_str(&format!("  {name}: {{ url: \"{}\" }}\n", demo.url(name)));
    }
    let config = dir.join("router.yaml");
    std::fs::write(
        &config,
        format!(
            "supergraph: {{ path: {} }}\nhttp: {{ listen: \"127.0.0.1:{port}\" }}\nsubgraphs:\n{subgraphs}jwt:\n  require_authentication: true\n  consumers:\n    store: sqlite://data/tollgate.db\n    check_credential_existence: true\n    encryption_key: ${{env.TG_CONSUMERS_KEY}}\n    refresh_interval: 1s\nlog: {{ level: debug }}\n",
            root().join("schemas/supergraph.graphql").display()
        ),
    )
    .unwrap();

    // CLI: create two credentials, list them.
    let created = tollgate(
        &config,
        &["consumers", "create", "billing", "--scope", "invoices"],
    );
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let stdout = String::from_utf8(created.stdout).unwrap();
    let key_id = field(&stdout, "key id:").to_owned();
    let secret = field(&stdout, "secret:").to_owned();
    let other = tollgate(&config, &["consumers", "create", "reports"]);
    let other_stdout = String::from_utf8(other.stdout).unwrap();
    let other_id = field(&other_stdout, "key id:").to_owned();
    let other_secret = field(&other_stdout, "secret:").to_owned();
    let listed = tollgate(&config, &["consumers", "list"]);
    let listing = String::from_utf8(listed.stdout).unwrap();
    assert!(
        listing.contains(&key_id) && listing.contains(&other_id),
        "{listing}"
    );
    assert!(!listing.contains(&secret) && !listing.contains(&other_secret));
    let jwk = dir.join("app.jwk");
    std::fs::write(&jwk, r#"{"kty":"oct","k":"c2VjcmV0"}"#).unwrap();
    let refused = tollgate(
        &config,
        &[
            "consumers",
            "add-key",
            "mobile",
            "--jwk",
            jwk.to_str().unwrap(),
        ],
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("public key only"));
    let unknown = tollgate(&config, &["consumers", "revoke", "ck_nope"]);
    assert!(!unknown.status.success());

    // The router.
    let mut child = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .arg("--config")
        .arg(&config)
        .env("TG_CONSUMERS_KEY", KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/graphql");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while client
        .get(format!("http://127.0.0.1:{port}/health"))
        .send()
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "router did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let token = hs_token(&key_id, &secret);
    let (status, body, _) = query(&client, &url, &token).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"]["topProducts"].is_array(), "{body}");
    let (status, body, text) = query(&client, &url, &hs_token("ck_unknown", &secret)).await;
    assert_eq!((status, reason(&body)), (401, "UNKNOWN_CONSUMER"), "{body}");
    assert!(!text.contains(&secret));
    let (status, body, _) = query(&client, &url, &hs_token(&key_id, &other_secret)).await;
    assert_eq!(
        (status, reason(&body)),
        (401, "INVALID_SIGNATURE"),
        "{body}"
    );

    // Requests keep coming while the credential is revoked.
    let stop = Instant::now() + Duration::from_secs(15);
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (client, url, token) = (client.clone(), url.clone(), token.clone());
            tokio::spawn(async move {
                let mut outcomes = Vec::new();
                while Instant::now() < stop {
                    let (status, body, _) = query(&client, &url, &token).await;
                    let outcome = (status, reason(&body).to_owned());
                    let refused = outcome.1 == "CONSUMER_REVOKED";
                    outcomes.push(outcome);
                    if refused {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                outcomes
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let revoked = tollgate(&config, &["consumers", "revoke", &key_id]);
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    let revoked_at = Instant::now();
    let mut refused_after = None;
    while revoked_at.elapsed() < Duration::from_secs(5) {
        let (status, body, _) = query(&client, &url, &token).await;
        if (status, reason(&body)) == (401, "CONSUMER_REVOKED") {
            refused_after = Some(revoked_at.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        refused_after.is_some(),
        "a revoked credential is refused within 5 seconds"
    );
    for worker in workers {
        for (status, reason) in worker.await.unwrap() {
            assert!(
                status == 200 || (status, reason.as_str()) == (401, "CONSUMER_REVOKED"),
                "only answers or revocations during the switch: {status} {reason}"
            );
        }
    }
    // Another consumer is unaffected.
    let (status, _, _) = query(&client, &url, &hs_token(&other_id, &other_secret)).await;
    assert_eq!(status, 200);

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "router did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut logs = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    assert!(logs.contains("consumer credentials reloaded"), "{logs}");
    for secret in [&secret, &other_secret] {
        assert!(!logs.contains(secret.as_str()), "a secret in the logs");
    }
    assert!(!logs.contains(KEY), "the encryption key in the logs");
    let _ = std::fs::remove_dir_all(&dir);
}
