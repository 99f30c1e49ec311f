//! The GraphQL response format: `errors`, `data` and `extensions`, with the
//! distinction between an absent `data` (request error) and `data: null`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One location in the GraphQL document an error refers to (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// Line, starting at 1.
    pub line: usize,
    /// Column, starting at 1.
    pub column: usize,
}

/// A GraphQL error object as it appears in a response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GraphqlError {
    /// Human-readable description, safe to show to clients.
    pub message: String,
    /// Locations in the operation document, if any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub locations: Vec<Location>,
    /// Response path of the field the error belongs to, if it is a field error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<Vec<Value>>,
    /// Extra data; Tollgate always sets `code`.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub extensions: Map<String, Value>,
}

impl GraphqlError {
    /// An error with a message and an `extensions.code`.
    pub fn new(message: impl Into<String>, code: &str) -> Self {
        let mut extensions = Map::new();
        extensions.insert("code".to_owned(), Value::String(code.to_owned()));
        Self {
            message: message.into(),
            locations: Vec::new(),
            path: None,
            extensions,
        }
    }

    /// Adds one extension entry.
    pub fn with_extension(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extensions.insert(key.to_owned(), value.into());
        self
    }

    /// Sets the response path.
    pub fn with_path(mut self, path: Vec<Value>) -> Self {
        self.path = Some(path);
        self
    }

    /// The `extensions.code` of this error, if any.
    pub fn code(&self) -> Option<&str> {
        self.extensions.get("code").and_then(Value::as_str)
    }
}

/// A complete GraphQL response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GraphqlResponse {
    /// Errors, serialized first as the spec suggests.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<GraphqlError>,
    /// `None`: no `data` key (request error). `Some(Value::Null)`: `"data": null`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "deserialize_present"
    )]
    pub data: Option<Value>,
    /// Response extensions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<Map<String, Value>>,
}

/// Keeps `"data": null` as `Some(Value::Null)` instead of collapsing it to `None`.
fn deserialize_present<'de, D>(deserializer: D) -> Result<Option<Value>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Value::deserialize(deserializer).map(Some)
}

impl GraphqlResponse {
    /// A response that carries only errors and no `data` key.
    pub fn from_errors(errors: Vec<GraphqlError>) -> Self {
        Self {
            errors,
            data: None,
            extensions: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_and_null_data_are_distinct() {
        let absent: GraphqlResponse = serde_json::from_str(r#"{"errors":[]}"#).unwrap();
        assert_eq!(absent.data, None);
        let null: GraphqlResponse = serde_json::from_str(r#"{"data":null}"#).unwrap();
        assert_eq!(null.data, Some(Value::Null));
        assert_eq!(serde_json::to_string(&null).unwrap(), r#"{"data":null}"#);
        assert_eq!(serde_json::to_string(&absent).unwrap(), "{}");
    }

    #[test]
    fn errors_serialize_before_data() {
        let response = GraphqlResponse {
            errors: vec![GraphqlError::new("boom", "X")],
            data: Some(serde_json::json!({"a": 1})),
            extensions: None,
        };
        assert_eq!(
            serde_json::to_string(&response).unwrap(),
            r#"{"errors":[{"message":"boom","extensions":{"code":"X"}}],"data":{"a":1}}"#
        );
    }
}
