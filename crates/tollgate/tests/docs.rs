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

/// Every document of the ```yaml blocks of a doc.
fn yaml_documents(text: &str) -> Vec<serde_yaml::Value> {
    use serde::Deserialize as _;
    let mut documents = Vec::new();
    for block in text.split("```yaml\n").skip(1) {
        let block = block.split("\n```").next().unwrap();
        for document in serde_yaml::Deserializer::from_str(block) {
            documents.push(serde_yaml::Value::deserialize(document).unwrap());
        }
    }
    documents
}

fn text<'a>(value: &'a serde_yaml::Value, path: &[&str]) -> &'a str {
    path.iter()
        .fold(value, |v, key| &v[*key])
        .as_str()
        .unwrap_or_else(|| panic!("{path:?} is not a string"))
}

#[test]
fn deploy_manifests_parse_and_fit_the_router() {
    let documents = yaml_documents(&doc("deploy.md"));
    let kind = |wanted: &str| {
        documents
            .iter()
            .find(|d| d["kind"] == wanted)
            .unwrap_or_else(|| panic!("docs/deploy.md has no {wanted}"))
    };
    for document in &documents {
        assert!(document["apiVersion"].is_string(), "{document:?}");
        assert!(document["metadata"]["name"].is_string(), "{document:?}");
    }
    let (config_map, secret, deployment, service, hpa) = (
        kind("ConfigMap"),
        kind("Secret"),
        kind("Deployment"),
        kind("Service"),
        kind("HorizontalPodAutoscaler"),
    );
    kind("PodDisruptionBudget");

    // The ConfigMap's router.yaml is a valid config for this router.
    let router_yaml = text(config_map, &["data", "router.yaml"]);
    let config = tollgate::config::parse(router_yaml, &|name| {
        (name == "JWKS_API_KEY").then(|| "key".to_owned())
    })
    .unwrap_or_else(|errors| panic!("the ConfigMap's router.yaml: {errors:?}"));

    let pod = &deployment["spec"]["template"];
    let container = &pod["spec"]["containers"][0];
    let port = |name: &str| {
        container["ports"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .and_then(|p| p["containerPort"].as_u64())
            .unwrap_or_else(|| panic!("no {name} port"))
    };
    assert_eq!(port("http"), u64::from(config.http.listen.port()));
    assert!(
        config.http.listen.ip().is_unspecified(),
        "listens on 0.0.0.0"
    );
    let prometheus = &config.telemetry.metrics.prometheus;
    assert!(prometheus.enabled);
    assert_eq!(port("metrics"), u64::from(prometheus.listen.port()));
    assert_eq!(
        text(container, &["livenessProbe", "httpGet", "path"]),
        config.http.health_path
    );
    assert_eq!(
        text(container, &["startupProbe", "httpGet", "path"]),
        config.http.health_path
    );
    assert_eq!(
        text(container, &["readinessProbe", "httpGet", "path"]),
        config.http.ready_path
    );

    // Every file the config names is in a mounted volume, the config where
    // TOLLGATE_CONFIG says, and the Secret holds what the pod reads from it.
    let mounts: Vec<(&str, &str)> = container["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|m| (text(m, &["name"]), text(m, &["mountPath"])))
        .collect();
    let mounted = |path: &str| {
        mounts
            .iter()
            .any(|(_, dir)| path.starts_with(&format!("{dir}/")))
    };
    let env = container["env"].as_sequence().unwrap();
    let config_path = env
        .iter()
        .find(|e| e["name"] == "TOLLGATE_CONFIG")
        .map(|e| text(e, &["value"]))
        .unwrap();
    assert!(mounted(config_path), "{config_path}");
    assert!(mounted(config.supergraph.path.to_str().unwrap()));
    for key in &config.issuer.as_ref().unwrap().keys {
        assert!(mounted(key.private_key_path.to_str().unwrap()));
    }
    for entry in env.iter().filter(|e| e["valueFrom"].is_mapping()) {
        let reference = &entry["valueFrom"]["secretKeyRef"];
        assert_eq!(reference["name"], secret["metadata"]["name"]);
        let key = text(reference, &["key"]);
        assert!(secret["stringData"][key].is_string(), "{key}");
    }
    for volume in pod["spec"]["volumes"].as_sequence().unwrap() {
        let name = text(volume, &["name"]);
        assert!(mounts.iter().any(|(n, _)| *n == name), "{name} unmounted");
    }

    // The Service and the autoscaler point at the Deployment's pods.
    let labels = &pod["metadata"]["labels"];
    assert_eq!(&deployment["spec"]["selector"]["matchLabels"], labels);
    assert_eq!(&service["spec"]["selector"], labels);
    assert_eq!(
        hpa["spec"]["scaleTargetRef"]["name"],
        deployment["metadata"]["name"]
    );
    assert_eq!(hpa["spec"]["scaleTargetRef"]["kind"], "Deployment");
}
