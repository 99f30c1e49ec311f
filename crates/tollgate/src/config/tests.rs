use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

fn errors(text: &str) -> Vec<String> {
    parse(text, &no_env).expect_err("config should be rejected")
}

#[test]
fn the_default_router_yaml_parses() {
    let text = include_str!("../../../../router.yaml");
    let config = parse(text, &no_env).unwrap();
    assert_eq!(config.http.listen.to_string(), "127.0.0.1:4000");
    assert!(config.jwt.is_some());
}

#[test]
fn every_documented_key_parses() {
    let text = r#"
supergraph:
  path: schemas/supergraph.graphql
http:
  listen: 0.0.0.0:8080
  graphql_path: /api/graphql
  health_path: /healthz
  max_body_bytes: 1000
subgraphs:
  accounts:
    url: http://127.0.0.1:9999/accounts
    timeout: 1500ms
limits:
  max_query_bytes: 1000
  max_parser_depth: 10
  max_tokens: 100
  plan_cache_size: 5
log:
  level: debug
  format: json
jwt:
  require_authentication: true
  jwks_providers:
    - source: remote
      url: https://idp.example.com/.well-known/jwks.json
      polling_interval: 15m
      prefetch: true
      headers: { x-api-key: "secret" }
    - source: file
      path: ./dev-jwks.json
  lookup_locations:
    - { source: header, name: authorization, prefix: "Bearer " }
    - { source: cookies, name: auth_token }
    - { source: header, name: x-api-token }
  audiences: [https://api.example.com]
  issuers: [https://idp.example.com/]
  allowed_algorithms: [RS256, ES256]
  leeway: 60s
  forward_claims_to_upstream_extensions:
    enabled: true
    field_name: jwt
    include_claims: [sub, scope]
"#;
    let config = parse(text, &no_env).unwrap();
    assert_eq!(config.http.graphql_path, "/api/graphql");
    assert_eq!(config.http.max_body_bytes, 1000);
    assert_eq!(
        config.subgraphs["accounts"].timeout,
        std::time::Duration::from_millis(1500)
    );
    assert_eq!(config.limits.plan_cache_size, 5);
    assert_eq!(config.log.format, tollgate_telemetry::LogFormat::Json);
    let jwt = config.jwt.unwrap();
    assert!(jwt.require_authentication);
    assert_eq!(jwt.jwks_providers.len(), 2);
    assert_eq!(jwt.issuers, vec!["https://idp.example.com/".to_owned()]);
}

#[test]
fn defaults_apply() {
    let config = parse("supergraph: { path: s.graphql }", &no_env).unwrap();
    assert_eq!(config.http.listen.to_string(), "127.0.0.1:4000");
    assert_eq!(config.http.graphql_path, "/graphql");
    assert_eq!(config.http.health_path, "/health");
    assert!(config.jwt.is_none());
    assert!(config.subgraphs.is_empty());
}

#[test]
fn unknown_keys_name_the_key_and_line() {
    let errors =
        errors("supergraph:\n  path: s.graphql\nhttp:\n  listen: 127.0.0.1:1\n  bogus: 1\n");
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].starts_with("http.bogus: unknown field `bogus`"),
        "{}",
        errors[0]
    );
    assert!(errors[0].contains("line 5"), "{}", errors[0]);
}

#[test]
fn unknown_provider_source_lists_the_variants() {
    let errors = errors(
        "supergraph: { path: s.graphql }\njwt:\n  jwks_providers:\n    - source: s3\n      url: x\n",
    );
    assert!(
        errors[0].starts_with("jwt.jwks_providers[0]"),
        "{}",
        errors[0]
    );
    assert!(errors[0].contains("unknown variant `s3`"), "{}", errors[0]);
    assert!(errors[0].contains("remote"), "{}", errors[0]);
    assert!(errors[0].contains("file"), "{}", errors[0]);
}

#[test]
fn wrong_types_name_the_key() {
    let found = errors("supergraph: { path: s.graphql }\nhttp:\n  max_body_bytes: lots\n");
    assert!(
        found[0].starts_with("http.max_body_bytes: invalid type"),
        "{}",
        found[0]
    );
    let found = errors("supergraph: { path: s.graphql }\nsubgraphs:\n  a: { timeout: soon }\n");
    assert!(
        found[0].starts_with("subgraphs.a.timeout: "),
        "{}",
        found[0]
    );
    let found = errors("supergraph: { path: s.graphql }\nhttp: { listen: nowhere }\n");
    assert!(found[0].starts_with("http.listen: "), "{}", found[0]);
}

#[test]
fn missing_required_and_empty_configs() {
    assert!(errors("http: {}\n")[0].contains("missing field `supergraph`"));
    assert!(errors("")[0].contains("supergraph.path"));
    assert!(!errors("supergraph: [")[0].is_empty());
}

#[test]
fn semantic_errors_are_all_reported() {
    let errors = errors(
        "supergraph: { path: s.graphql }\nhttp: { graphql_path: graphql, health_path: graphql, max_body_bytes: 0 }\n",
    );
    assert_eq!(errors.len(), 4, "{errors:?}");
    assert!(errors.iter().any(|e| e.starts_with("http.graphql_path:")));
    assert!(errors.iter().any(|e| e.starts_with("http.max_body_bytes:")));
}

#[test]
fn env_placeholders_expand_in_values() {
    let lookup = |name: &str| (name == "SG").then(|| "from-env.graphql".to_owned());
    let config = parse(
        "supergraph: { path: \"${env.SG}\" }\nhttp: { graphql_path: \"${env.GQL:-/gql}\" }\n",
        &lookup,
    )
    .unwrap();
    assert_eq!(config.supergraph.path.to_str(), Some("from-env.graphql"));
    assert_eq!(config.http.graphql_path, "/gql");
    let errors = parse("supergraph: { path: \"${env.MISSING}\" }\n", &lookup).unwrap_err();
    assert!(
        errors[0].starts_with("supergraph.path: environment variable `MISSING`"),
        "{}",
        errors[0]
    );
}

#[test]
fn the_json_schema_describes_every_section() {
    let schema = json_schema();
    let properties = &schema["properties"];
    for key in ["supergraph", "http", "subgraphs", "limits", "jwt", "log"] {
        assert!(properties.get(key).is_some(), "missing {key} in {schema}");
    }
    assert!(schema.to_string().contains("jwks_providers"));
}

#[test]
fn hardening_keys_have_safe_defaults_and_checked_values() {
    let config = parse("supergraph: { path: s.graphql }", &no_env).unwrap();
    assert_eq!(
        config.http.request_timeout,
        std::time::Duration::from_secs(60)
    );
    assert_eq!(config.http.max_concurrent_requests, 1024);
    assert!(!config.http.batching.enabled);
    assert!(config.http.cors.is_none(), "no CORS unless configured");
    assert!(config.http.csrf.enabled, "CSRF prevention on by default");
    assert!(config.supergraph.introspection);
    assert!(
        !config.include_subgraph_errors.all,
        "subgraph errors redacted"
    );
    assert_eq!(
        (
            config.limits.max_depth,
            config.limits.max_aliases,
            config.limits.max_root_fields
        ),
        (32, 128, 64)
    );

    let found = errors(
        "supergraph: { path: s.graphql }
http: { request_timeout: 0s, max_concurrent_requests: 0, batching: { enabled: true, max_size: 0 } }
limits: { max_depth: 0, max_root_fields: 0, max_aliases: 0 }
",
    );
    for key in [
        "http.request_timeout: must be greater than 0",
        "http.max_concurrent_requests: must be greater than 0",
        "http.batching.max_size: must be greater than 0",
        "limits.max_depth: must be greater than 0",
        "limits.max_root_fields: must be greater than 0",
    ] {
        assert!(found.iter().any(|e| e == key), "{key} in {found:?}");
    }
    assert_eq!(
        found.len(),
        5,
        "max_aliases: 0 (no aliases) is allowed: {found:?}"
    );
    let found = errors("supergraph: { path: s.graphql }\nhttp: { cors: { origin: [x] } }\n");
    assert!(
        found[0].starts_with("http.cors.origin: unknown field"),
        "{}",
        found[0]
    );
}
