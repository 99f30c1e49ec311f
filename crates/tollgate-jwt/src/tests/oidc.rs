//! OpenID Connect providers against a local discovery server with one
//! tenant per path: issuer checks, missing `jwks_uri`, discovery down then
//! up, and two tenants whose keys never verify each other's tokens.

use super::*;

/// One tenant of the local IdP: its discovery document (or `None`: 503),
/// its JWKS, and how many requests each endpoint received.
#[derive(Default)]
struct Tenant {
    discovery: Option<Value>,
    jwks: Option<Value>,
    discovery_hits: usize,
    jwks_hits: usize,
}

type Tenants = Arc<parking_lot::Mutex<std::collections::HashMap<String, Tenant>>>;

struct Idp {
    base: String,
    tenants: Tenants,
    _task: tokio::task::JoinHandle<()>,
}

impl Idp {
    async fn start() -> Self {
        let tenants: Tenants = Arc::default();
        let (d, j) = (tenants.clone(), tenants.clone());
        let app = axum::Router::new()
            .route(
                "/{tenant}/.well-known/openid-configuration",
                axum::routing::get(
                    move |axum::extract::Path(tenant): axum::extract::Path<String>| {
                        let tenants = d.clone();
                        async move {
                            let mut tenants = tenants.lock();
                            let entry = tenants.entry(tenant).or_default();
                            entry.discovery_hits += 1;
                            match &entry.discovery {
                                Some(doc) => (http::StatusCode::OK, doc.to_string()),
                                None => (http::StatusCode::SERVICE_UNAVAILABLE, String::new()),
                            }
                        }
                    },
                ),
            )
            .route(
                "/{tenant}/jwks.json",
                axum::routing::get(
                    move |axum::extract::Path(tenant): axum::extract::Path<String>| {
                        let tenants = j.clone();
                        async move {
                            let mut tenants = tenants.lock();
                            let entry = tenants.entry(tenant).or_default();
                            entry.jwks_hits += 1;
                            match &entry.jwks {
                                Some(doc) => (http::StatusCode::OK, doc.to_string()),
                                None => (http::StatusCode::SERVICE_UNAVAILABLE, String::new()),
                            }
                        }
                    },
                ),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base,
            tenants,
            _task: task,
        }
    }

    fn issuer(&self, tenant: &str) -> String {
        format!("{}/{tenant}", self.base)
    }

    /// Serves a correct discovery document and `keys` for `tenant`.
    fn serve(&self, tenant: &str, keys: &[&TestKey]) {
        let doc = json!({
            "issuer": self.issuer(tenant),
            "jwks_uri": format!("{}/jwks.json", self.issuer(tenant)),
            "id_token_signing_alg_values_supported": ["RS256", "EdDSA"],
        });
        self.set(tenant, Some(doc), Some(jwks(keys)));
    }

    fn set(&self, tenant: &str, discovery: Option<Value>, keys: Option<Value>) {
        let mut tenants = self.tenants.lock();
        let entry = tenants.entry(tenant.to_owned()).or_default();
        entry.discovery = discovery;
        entry.jwks = keys;
    }

    /// (discovery hits, JWKS hits) of `tenant`.
    fn hits(&self, tenant: &str) -> (usize, usize) {
        let tenants = self.tenants.lock();
        tenants
            .get(tenant)
            .map_or((0, 0), |t| (t.discovery_hits, t.jwks_hits))
    }

    fn total_hits(&self) -> usize {
        let tenants = self.tenants.lock();
        tenants
            .values()
            .map(|t| t.discovery_hits + t.jwks_hits)
            .sum()
    }

    async fn auth(&self, tenants: &[&str], extra: &str) -> Result<JwtAuthenticator, JwtSetupError> {
        let providers: Vec<String> = tenants
            .iter()
            .map(|t| format!("{{ source: oidc, issuer: '{}'{extra} }}", self.issuer(t)))
            .collect();
        let yaml = format!(
            "jwks_providers: [{}]\nunknown_kid_cooldown: 1s\n",
            providers.join(", ")
        );
        let config: JwtConfig = serde_yaml::from_str(&yaml).unwrap();
        JwtAuthenticator::new(config, std::path::Path::new(".")).await
    }
}

fn claims_from(iss: &str) -> Value {
    json!({"sub": "u", "iss": iss, "exp": now() + 600})
}

#[tokio::test]
async fn two_tenants_verify_only_their_own_tokens_and_unknown_issuers_stay_offline() {
    let idp = Idp::start().await;
    let (a, b) = (ed_key("a"), rsa_key("b", Algorithm::RS256, false));
    idp.serve("tenant-a", &[&a]);
    idp.serve("tenant-b", &[&b]);
    let auth = idp.auth(&["tenant-a", "tenant-b"], "").await.unwrap();
    assert_eq!(idp.total_hits(), 0, "no prefetch: nothing fetched at start");

    let token_a = sign(&a, Some("a"), &claims_from(&idp.issuer("tenant-a")));
    let token_b = sign(&b, Some("b"), &claims_from(&idp.issuer("tenant-b")));
    assert_eq!(reason(&auth, &bearer(&token_a)).await, "VERIFIED");
    assert_eq!(idp.hits("tenant-a"), (1, 1));
    assert_eq!(
        idp.hits("tenant-b"),
        (0, 0),
        "tenant B not contacted for A's token"
    );
    assert_eq!(reason(&auth, &bearer(&token_b)).await, "VERIFIED");
    assert_eq!(idp.hits("tenant-b"), (1, 1));

    // A's key, claiming B's issuer: only B's keys are tried.
    let forged = sign(&a, Some("a"), &claims_from(&idp.issuer("tenant-b")));
    assert_eq!(reason(&auth, &bearer(&forged)).await, "UNKNOWN_KEY");
    let forged = sign(&a, None, &claims_from(&idp.issuer("tenant-b")));
    assert_ne!(reason(&auth, &bearer(&forged)).await, "VERIFIED");

    // Issuers that are not configured never cause a network call.
    let before = idp.total_hits();
    for iss in [idp.issuer("tenant-c"), "https://evil.example/".to_owned()] {
        let token = sign(&a, Some("a"), &claims_from(&iss));
        assert_eq!(reason(&auth, &bearer(&token)).await, "INVALID_ISSUER");
    }
    let no_iss = sign(&a, Some("a"), &json!({"sub": "u", "exp": now() + 600}));
    assert_eq!(reason(&auth, &bearer(&no_iss)).await, "INVALID_ISSUER");
    assert_eq!(idp.total_hits(), before, "unknown issuers contacted nobody");
    auth.shutdown();
}

#[tokio::test]
async fn a_discovery_document_for_another_issuer_or_without_jwks_uri_is_refused() {
    let idp = Idp::start().await;
    let key = ed_key("k");
    // The document claims a different issuer (a look-alike with a slash).
    idp.set(
        "t",
        Some(json!({"issuer": format!("{}/", idp.issuer("t")), "jwks_uri": format!("{}/jwks.json", idp.issuer("t"))})),
        Some(jwks(&[&key])),
    );
    let auth = idp.auth(&["t"], ", prefetch: true").await.unwrap();
    assert!(!auth.has_keys());
    assert_eq!(
        idp.hits("t"),
        (1, 0),
        "the JWKS of a mismatched issuer is never fetched"
    );
    let token = sign(&key, Some("k"), &claims_from(&idp.issuer("t")));
    assert_eq!(reason(&auth, &bearer(&token)).await, "KEYS_UNAVAILABLE");
    auth.shutdown();

    idp.set(
        "u",
        Some(json!({"issuer": idp.issuer("u")})),
        Some(jwks(&[&key])),
    );
    let auth = idp.auth(&["u"], ", prefetch: true").await.unwrap();
    assert!(!auth.has_keys(), "no jwks_uri: no keys");
    assert_eq!(idp.hits("u"), (1, 0));
    auth.shutdown();
}

#[tokio::test]
async fn discovery_down_then_up_and_the_last_good_keys_survive_outages() {
    let idp = Idp::start().await;
    let key = ed_key("k");
    let auth = idp
        .auth(&["t"], ", prefetch: true, polling_interval: 200ms")
        .await
        .unwrap();
    assert!(!auth.has_keys(), "IdP down at start");
    let token = sign(&key, Some("k"), &claims_from(&idp.issuer("t")));
    assert_eq!(reason(&auth, &bearer(&token)).await, "KEYS_UNAVAILABLE");
    idp.serve("t", &[&key]);
    let loaded = tokio::time::timeout(Duration::from_secs(5), async {
        while !auth.has_keys() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(loaded.is_ok(), "keys loaded once discovery answers");
    assert_eq!(reason(&auth, &bearer(&token)).await, "VERIFIED");
    // Discovery and JWKS both down: the keys stay.
    idp.set("t", None, None);
    let before = idp.hits("t");
    tokio::time::timeout(Duration::from_secs(5), async {
        while idp.hits("t").0 + idp.hits("t").1 < before.0 + before.1 + 2 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap();
    let fresh = sign(
        &key,
        Some("k"),
        &json!({"sub": "v", "iss": idp.issuer("t"), "exp": now() + 60}),
    );
    assert_eq!(reason(&auth, &bearer(&fresh)).await, "VERIFIED");
    auth.shutdown();
}

#[tokio::test]
async fn oidc_issuers_join_the_accepted_issuers_and_config_mistakes_name_the_key() {
    let idp = Idp::start().await;
    let key = ed_key("k");
    idp.serve("t", &[&key]);
    let yaml = format!(
        "jwks_providers: [{{ source: oidc, issuer: '{}' }}]\nissuers: [https://other.example/]\n",
        idp.issuer("t")
    );
    let auth = JwtAuthenticator::new(
        serde_yaml::from_str(&yaml).unwrap(),
        std::path::Path::new("."),
    )
    .await
    .unwrap();
    let token = sign(&key, Some("k"), &claims_from(&idp.issuer("t")));
    assert_eq!(reason(&auth, &bearer(&token)).await, "VERIFIED");
    auth.shutdown();

    let error = |yaml: &str| {
        let yaml = yaml.to_owned();
        async move {
            let config: JwtConfig = serde_yaml::from_str(&yaml).unwrap();
            match JwtAuthenticator::new(config, std::path::Path::new(".")).await {
                Ok(_) => panic!("accepted: {yaml}"),
                Err(e) => e.to_string(),
            }
        }
    };
    let dup = error("jwks_providers: [{ source: oidc, issuer: 'https://a.example/' }, { source: oidc, issuer: 'https://a.example/' }]").await;
    assert!(dup.contains("jwt.jwks_providers[1].issuer"), "{dup}");
    let bad = error("jwks_providers: [{ source: oidc, issuer: 'ftp://a.example/' }]").await;
    assert!(bad.contains("jwt.jwks_providers[0].issuer"), "{bad}");
    let zero = error(
        "jwks_providers: [{ source: oidc, issuer: 'https://a.example/', polling_interval: 0s }]",
    )
    .await;
    assert!(zero.contains("polling_interval"), "{zero}");
}
