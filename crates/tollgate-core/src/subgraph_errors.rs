//! `include_subgraph_errors:` whether the errors a subgraph returns reach
//! the client as they are, or redacted. Subgraph messages and extensions can
//! carry internal detail (stack traces, SQL, host names), so by default they
//! are replaced by a fixed message with the code `SUBGRAPH_ERROR_REDACTED`;
//! the error's `path` (already the client's) and `serviceName` stay, and the
//! original is logged at debug level. Errors the router itself writes about a
//! fetch (`SUBREQUEST_HTTP_ERROR`, ...) are client-safe and always shown.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::response::GraphqlError;

/// The message of a redacted subgraph error.
pub const REDACTED_MESSAGE: &str = "Subgraph errors redacted";

/// `include_subgraph_errors:` pass subgraph errors through, or redact them.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubgraphErrorsConfig {
    /// Pass every subgraph's errors through unchanged (default: redacted).
    #[serde(default)]
    pub all: bool,
    /// Per subgraph name: `true` passes its errors through, `false` redacts them (beats `all`).
    #[serde(default)]
    pub subgraphs: IndexMap<String, bool>,
}

impl SubgraphErrorsConfig {
    /// Whether the errors of `subgraph` are passed through.
    pub fn includes(&self, subgraph: &str) -> bool {
        self.subgraphs.get(subgraph).copied().unwrap_or(self.all)
    }
}

/// The redacted form of a subgraph error: a fixed message and code; the
/// path and `serviceName` kept.
pub(crate) fn redact(error: GraphqlError, subgraph: &str) -> GraphqlError {
    tracing::debug!(subgraph, message = %error.message, "subgraph error redacted (include_subgraph_errors)");
    let mut extensions = Map::new();
    extensions.insert(
        "code".to_owned(),
        Value::String("SUBGRAPH_ERROR_REDACTED".to_owned()),
    );
    extensions.insert("serviceName".to_owned(), Value::String(subgraph.to_owned()));
    GraphqlError {
        message: REDACTED_MESSAGE.to_owned(),
        locations: Vec::new(),
        path: error.path,
        extensions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_subgraph_entries_beat_all() {
        let config: SubgraphErrorsConfig =
            serde_yaml::from_str("all: true\nsubgraphs: { billing: false }").unwrap();
        assert!(config.includes("products"));
        assert!(!config.includes("billing"));
        let config = SubgraphErrorsConfig::default();
        assert!(!config.includes("products"));
    }

    #[test]
    fn redaction_keeps_only_path_and_service() {
        let error = GraphqlError {
            message: "SELECT * FROM users failed on db-7.internal".to_owned(),
            locations: Vec::new(),
            path: Some(vec![Value::from("me"), Value::from("name")]),
            extensions: Map::from_iter([("stack".to_owned(), Value::from("at ..."))]),
        };
        let redacted = serde_json::to_value(redact(error, "accounts")).unwrap();
        assert_eq!(
            redacted,
            serde_json::json!({
                "message": "Subgraph errors redacted",
                "path": ["me", "name"],
                "extensions": {"code": "SUBGRAPH_ERROR_REDACTED", "serviceName": "accounts"}
            })
        );
    }
}
