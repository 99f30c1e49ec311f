//! Header propagation: the `headers:` rules (`propagate`, `insert`,
//! `remove`, for all subgraphs and per subgraph), checked and compiled once,
//! then applied in order to build each subgraph request's headers from the
//! client's headers, the request context and the verified claims.

use indexmap::IndexMap;
use regex::Regex;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::context::{RequestContext, JWT_CLAIMS_KEY};

/// `headers:` section.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeadersConfig {
    /// Rules for every subgraph (applied first).
    #[serde(default)]
    pub all: Option<HeaderRules>,
    /// Rules per subgraph name (applied after `all`).
    #[serde(default)]
    pub subgraphs: IndexMap<String, HeaderRules>,
}

/// Rules for requests to subgraphs.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeaderRules {
    /// Applied in order to each subgraph request.
    #[serde(default)]
    pub request: Vec<HeaderRule>,
}

/// One rule: exactly one of `propagate`, `insert` or `remove`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeaderRule {
    /// Copy client headers.
    #[serde(default)]
    pub propagate: Option<PropagateRule>,
    /// Set a header.
    #[serde(default)]
    pub insert: Option<InsertRule>,
    /// Drop headers set by earlier rules.
    #[serde(default)]
    pub remove: Option<RemoveRule>,
}

/// `propagate: { named, rename, default }` or `propagate: { matching }`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PropagateRule {
    /// The client header to copy.
    #[serde(default)]
    pub named: Option<String>,
    /// Send it under this name instead.
    #[serde(default)]
    pub rename: Option<String>,
    /// Value to send when the client did not send the header.
    #[serde(default)]
    pub default: Option<String>,
    /// Copy every client header whose name matches this regex (hop-by-hop,
    /// framing and `authorization` headers excepted).
    #[serde(default)]
    pub matching: Option<String>,
}

/// `insert: { name, value | from_context | from_claim }`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InsertRule {
    /// Header name.
    pub name: String,
    /// A fixed value.
    #[serde(default)]
    pub value: Option<String>,
    /// The request context entry with this key.
    #[serde(default)]
    pub from_context: Option<String>,
    /// The verified JWT claim with this name.
    #[serde(default)]
    pub from_claim: Option<String>,
}

/// `remove: { named }` or `remove: { matching }`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoveRule {
    /// Header name.
    #[serde(default)]
    pub named: Option<String>,
    /// Regex over header names.
    #[serde(default)]
    pub matching: Option<String>,
}

/// A rule that does not make sense; the message names the key.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{path}: {message}")]
pub struct HeaderRuleError {
    /// Config path of the rule, e.g. `headers.all.request[1].propagate`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// Headers a `matching` rule never copies.
const NEVER_MATCHED: [&str; 15] = [
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "content-type",
    "content-encoding",
    "host",
    "accept",
    "accept-encoding",
    "authorization",
    "proxy-authorization",
    "proxy-authenticate",
];

fn never_matched(name: &HeaderName) -> bool {
    let name = name.as_str();
    NEVER_MATCHED.contains(&name) || name.starts_with("proxy-")
}

#[derive(Debug, Clone)]
enum Source {
    Value(HeaderValue),
    Context(String),
    Claim(String),
}

#[derive(Debug, Clone)]
enum Compiled {
    PropagateNamed {
        from: HeaderName,
        to: HeaderName,
        default: Option<HeaderValue>,
    },
    PropagateMatching(Regex),
    Insert(HeaderName, Source),
    RemoveNamed(HeaderName),
    RemoveMatching(Regex),
}

/// Compiled rules, per subgraph (in supergraph order).
#[derive(Debug, Clone, Default)]
pub struct HeaderPlan {
    per_graph: Vec<Vec<Compiled>>,
}

impl HeaderPlan {
    /// Checks and compiles the rules for subgraphs named `subgraphs`.
    pub fn compile(config: &HeadersConfig, subgraphs: &[String]) -> Result<Self, HeaderRuleError> {
        for name in config.subgraphs.keys() {
            if !subgraphs.contains(name) {
                return Err(HeaderRuleError {
                    path: format!("headers.subgraphs.{name}"),
                    message: format!("no subgraph named `{name}` in the supergraph"),
                });
            }
        }
        let all = match &config.all {
            Some(rules) => compile_rules(&rules.request, "headers.all.request")?,
            None => Vec::new(),
        };
        let mut per_graph = Vec::with_capacity(subgraphs.len());
        for name in subgraphs {
            let mut rules = all.clone();
            if let Some(own) = config.subgraphs.get(name) {
                rules.extend(compile_rules(
                    &own.request,
                    &format!("headers.subgraphs.{name}.request"),
                )?);
            }
            per_graph.push(rules);
        }
        Ok(Self { per_graph })
    }

    /// Whether any rule exists (the client's headers are kept only then).
    pub fn is_empty(&self) -> bool {
        self.per_graph.iter().all(Vec::is_empty)
    }

    /// Applies the rules of subgraph `graph` to `out`.
    pub fn apply(
        &self,
        graph: usize,
        client: &HeaderMap,
        context: &RequestContext,
        out: &mut HeaderMap,
    ) {
        let Some(rules) = self.per_graph.get(graph) else {
            return;
        };
        for rule in rules {
            match rule {
                Compiled::PropagateNamed { from, to, default } => {
                    let values: Vec<&HeaderValue> = client.get_all(from).iter().collect();
                    if values.is_empty() {
                        if let Some(default) = default {
                            out.insert(to.clone(), default.clone());
                        }
                    } else {
                        out.remove(to);
                        for value in values {
                            out.append(to.clone(), value.clone());
                        }
                    }
                }
                Compiled::PropagateMatching(regex) => {
                    for (name, value) in client {
                        if !never_matched(name) && regex.is_match(name.as_str()) {
                            out.append(name.clone(), value.clone());
                        }
                    }
                }
                Compiled::Insert(name, source) => {
                    let value = match source {
                        Source::Value(value) => Some(value.clone()),
                        Source::Context(key) => context.get(key).and_then(header_value),
                        Source::Claim(claim) => context
                            .get(JWT_CLAIMS_KEY)
                            .and_then(|claims| claims.get(claim))
                            .and_then(header_value),
                    };
                    if let Some(value) = value {
                        out.insert(name.clone(), value);
                    }
                }
                Compiled::RemoveNamed(name) => {
                    out.remove(name);
                }
                Compiled::RemoveMatching(regex) => {
                    let names: Vec<HeaderName> = out
                        .keys()
                        .filter(|n| regex.is_match(n.as_str()))
                        .cloned()
                        .collect();
                    for name in names {
                        out.remove(name);
                    }
                }
            }
        }
    }
}

/// A JSON value as a header value: strings as they are, others as JSON.
fn header_value(value: &Value) -> Option<HeaderValue> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Null => return None,
        Value::Array(items) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    };
    HeaderValue::from_str(&text).ok()
}

fn compile_rules(rules: &[HeaderRule], path: &str) -> Result<Vec<Compiled>, HeaderRuleError> {
    let mut out = Vec::with_capacity(rules.len());
    for (i, rule) in rules.iter().enumerate() {
        let (kind, compiled) = match (&rule.propagate, &rule.insert, &rule.remove) {
            (Some(p), None, None) => ("propagate", compile_propagate(p)),
            (None, Some(i), None) => ("insert", compile_insert(i)),
            (None, None, Some(r)) => ("remove", compile_remove(r)),
            _ => {
                return Err(HeaderRuleError {
                    path: format!("{path}[{i}]"),
                    message: "a rule is exactly one of `propagate`, `insert` or `remove`"
                        .to_owned(),
                })
            }
        };
        out.push(compiled.map_err(|message| HeaderRuleError {
            path: format!("{path}[{i}].{kind}"),
            message,
        })?);
    }
    Ok(out)
}

fn name(text: &str) -> Result<HeaderName, String> {
    HeaderName::from_bytes(text.as_bytes())
        .map_err(|_| format!("`{text}` is not a valid header name"))
}

fn regex(text: &str) -> Result<Regex, String> {
    // Header names are lower-case; match them case-insensitively anyway.
    Regex::new(&format!("(?i){text}")).map_err(|e| format!("`{text}` is not a valid regex: {e}"))
}

fn compile_propagate(rule: &PropagateRule) -> Result<Compiled, String> {
    match (&rule.named, &rule.matching) {
        (Some(named), None) => {
            let from = name(named)?;
            let to = match &rule.rename {
                Some(rename) => name(rename)?,
                None => from.clone(),
            };
            let default = match &rule.default {
                Some(value) => Some(
                    HeaderValue::from_str(value)
                        .map_err(|_| "`default` is not a valid header value".to_owned())?,
                ),
                None => None,
            };
            Ok(Compiled::PropagateNamed { from, to, default })
        }
        (None, Some(matching)) => {
            if rule.rename.is_some() || rule.default.is_some() {
                return Err("`rename` and `default` go with `named`, not `matching`".to_owned());
            }
            Ok(Compiled::PropagateMatching(regex(matching)?))
        }
        _ => Err("give exactly one of `named` or `matching`".to_owned()),
    }
}

fn compile_insert(rule: &InsertRule) -> Result<Compiled, String> {
    let header = name(&rule.name)?;
    let source = match (&rule.value, &rule.from_context, &rule.from_claim) {
        (Some(value), None, None) => Source::Value(
            HeaderValue::from_str(value)
                .map_err(|_| "`value` is not a valid header value".to_owned())?,
        ),
        (None, Some(key), None) => Source::Context(key.clone()),
        (None, None, Some(claim)) => Source::Claim(claim.clone()),
        _ => return Err("give exactly one of `value`, `from_context` or `from_claim`".to_owned()),
    };
    Ok(Compiled::Insert(header, source))
}

fn compile_remove(rule: &RemoveRule) -> Result<Compiled, String> {
    match (&rule.named, &rule.matching) {
        (Some(named), None) => Ok(Compiled::RemoveNamed(name(named)?)),
        (None, Some(matching)) => Ok(Compiled::RemoveMatching(regex(matching)?)),
        _ => Err("give exactly one of `named` or `matching`".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn plan(yaml: &str) -> Result<HeaderPlan, HeaderRuleError> {
        let config: HeadersConfig = serde_yaml::from_str(yaml).unwrap();
        HeaderPlan::compile(&config, &["products".to_owned(), "reviews".to_owned()])
    }

    fn client() -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("x-tenant", "acme"),
            ("x-trace-id", "t1"),
            ("x-trace-span", "s1"),
            ("authorization", "Bearer secret"),
            ("content-type", "application/json"),
            ("cookie", "a=b"),
        ] {
            headers.insert(name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn rules_apply_in_order_per_subgraph() {
        let plan = plan(
            r#"
all:
  request:
    - propagate: { named: x-tenant }
    - propagate: { matching: "^x-trace-" }
    - propagate: { matching: ".*" }
    - propagate: { named: x-missing, rename: x-other, default: none }
    - insert: { name: x-user, from_claim: sub }
    - insert: { name: x-scopes, from_claim: scope }
    - insert: { name: x-plan, from_context: plan }
subgraphs:
  products:
    request:
      - insert: { name: x-source, value: tollgate }
      - remove: { named: cookie }
      - remove: { matching: "^x-trace-s" }
"#,
        )
        .unwrap();
        let mut context = RequestContext::new();
        context.insert(
            JWT_CLAIMS_KEY,
            json!({"sub": "u1", "scope": ["read", "write"]}),
        );
        context.insert("plan", json!({"tier": 1}));

        let mut products = HeaderMap::new();
        plan.apply(0, &client(), &context, &mut products);
        assert_eq!(products["x-tenant"], "acme");
        assert_eq!(products["x-trace-id"], "t1");
        assert!(
            products.get("x-trace-span").is_none(),
            "removed by the products rule"
        );
        assert_eq!(products["x-other"], "none");
        assert_eq!(products["x-user"], "u1");
        assert_eq!(products["x-scopes"], "read write");
        assert_eq!(products["x-plan"], r#"{"tier":1}"#);
        assert_eq!(products["x-source"], "tollgate");
        assert!(products.get("cookie").is_none());
        assert!(
            products.get("authorization").is_none(),
            "never copied by a regex"
        );
        assert!(products.get("content-type").is_none(), "framing header");

        let mut reviews = HeaderMap::new();
        plan.apply(1, &client(), &context, &mut reviews);
        assert_eq!(reviews["x-trace-span"], "s1");
        assert_eq!(reviews["cookie"], "a=b", ".* copies it for reviews");
        assert!(reviews.get("x-source").is_none());
    }

    #[test]
    fn authorization_only_when_named() {
        let plan = plan("all: { request: [ { propagate: { named: Authorization } } ] }").unwrap();
        let mut out = HeaderMap::new();
        plan.apply(0, &client(), &RequestContext::new(), &mut out);
        assert_eq!(out["authorization"], "Bearer secret");
    }

    #[test]
    fn bad_rules_name_their_key() {
        let cases = [
            ("all: { request: [ { propagate: { matching: \"(\" } } ] }", "headers.all.request[0].propagate", "not a valid regex"),
            ("all: { request: [ { propagate: {} } ] }", "headers.all.request[0].propagate", "exactly one"),
            ("subgraphs: { products: { request: [ { insert: { name: \"bad name\", value: x } } ] } }", "headers.subgraphs.products.request[0].insert", "not a valid header name"),
            ("subgraphs: { nope: { request: [] } }", "headers.subgraphs.nope", "no subgraph"),
            ("all: { request: [ { remove: { named: a, matching: b } } ] }", "headers.all.request[0].remove", "exactly one"),
            ("all: { request: [ { remove: { named: a }, insert: { name: b, value: c } } ] }", "headers.all.request[0]", "exactly one"),
        ];
        for (yaml, path, message) in cases {
            let error = plan(yaml).unwrap_err();
            assert_eq!(error.path, path, "{yaml}");
            assert!(error.message.contains(message), "{yaml}: {error}");
        }
        assert!(plan("{}").unwrap().is_empty());
    }
}
