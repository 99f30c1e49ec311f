//! The documentation lists every error code, JWT reason and config key the
//! code has: these tests fail when something is added without its doc.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use std::path::Path;

fn doc(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../docs")
            .join(name),
    )
    .unwrap()
}

#[test]
fn every_error_code_is_documented() {
    let errors = doc("errors.md");
    for code in tollgate_core::error::ERROR_CODES {
        assert!(
            errors.contains(&format!("`{code}`")),
            "docs/errors.md lacks {code}"
        );
    }
}

#[test]
fn every_jwt_reason_is_documented() {
    let jwt = doc("jwt.md");
    for error in tollgate_jwt::AuthError::ALL {
        let reason = error.reason();
        assert!(
            jwt.contains(&format!("`{reason}`")),
            "docs/jwt.md lacks {reason}"
        );
    }
}

#[test]
fn every_config_key_is_documented() {
    let schema = tollgate::config::json_schema();
    let config = doc("config.md")
        + doc("jwt.md").as_str()
        + doc("rhai.md").as_str()
        + doc("telemetry.md").as_str();
    let mut missing = Vec::new();
    collect(&schema, &schema, "", &mut missing, &config, 0);
    assert!(missing.is_empty(), "undocumented config keys: {missing:?}");
    // The walk really reaches nested keys (a key missing from the docs is found).
    let mut found = Vec::new();
    collect(&schema, &schema, "", &mut found, "", 0);
    for key in [
        "http.max_body_bytes",
        "jwt.jwks_providers.polling_interval",
        "jwt.verification_cache.max_entries",
    ] {
        assert!(
            found.iter().any(|k| k == key),
            "{key} not reached: {found:?}"
        );
    }
}

fn collect(
    root: &serde_json::Value,
    node: &serde_json::Value,
    prefix: &str,
    missing: &mut Vec<String>,
    docs: &str,
    depth: usize,
) {
    if depth > 8 {
        return;
    }
    let node = resolve(root, node);
    if let Some(props) = node.get("properties").and_then(|p| p.as_object()) {
        for (key, value) in props {
            if key == "source" {
                continue;
            }
            if !docs.contains(&format!("`{key}`"))
                && !docs.contains(&format!(".{key}`"))
                && !docs.contains(&format!("{key}:"))
            {
                missing.push(format!("{prefix}{key}"));
            }
            collect(
                root,
                value,
                &format!("{prefix}{key}."),
                missing,
                docs,
                depth + 1,
            );
        }
    }
    for combinator in ["anyOf", "oneOf", "allOf"] {
        if let Some(items) = node.get(combinator).and_then(|v| v.as_array()) {
            for item in items {
                collect(root, item, prefix, missing, docs, depth + 1);
            }
        }
    }
    if let Some(items) = node.get("items") {
        collect(root, items, prefix, missing, docs, depth + 1);
    }
}

fn resolve<'a>(root: &'a serde_json::Value, node: &'a serde_json::Value) -> &'a serde_json::Value {
    match node.get("$ref").and_then(|r| r.as_str()) {
        Some(reference) => {
            let name = reference.rsplit('/').next().unwrap_or("");
            root.get("$defs").and_then(|d| d.get(name)).unwrap_or(node)
        }
        None => node,
    }
}
