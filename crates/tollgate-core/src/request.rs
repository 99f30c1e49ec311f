//! Reading a GraphQL request from an HTTP request: the JSON body of a POST or
//! the query string of a GET, with precise client errors for every malformed
//! shape.

use serde_json::{Map, Value};

use crate::error::ClientError;

/// A GraphQL request as the client sent it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GraphqlRequest {
    /// The GraphQL document.
    pub query: String,
    /// Which operation of the document to run.
    pub operation_name: Option<String>,
    /// Variable values, not yet coerced.
    pub variables: Map<String, Value>,
    /// Request extensions.
    pub extensions: Map<String, Value>,
}

impl GraphqlRequest {
    /// Reads a POST body (`application/json`).
    pub fn from_json_body(body: &[u8]) -> Result<Self, ClientError> {
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            ClientError::InvalidRequest(format!("the request body is not valid JSON: {e}"))
        })?;
        match value {
            Value::Object(object) => Self::from_object(object),
            Value::Array(_) => Err(ClientError::InvalidRequest(
                "batched requests (a JSON array) are not supported; send one request object"
                    .to_owned(),
            )),
            _ => Err(ClientError::InvalidRequest(
                "the request body must be a JSON object".to_owned(),
            )),
        }
    }

    fn from_object(mut object: Map<String, Value>) -> Result<Self, ClientError> {
        let query = match object.remove("query") {
            Some(Value::String(query)) => query,
            // A persisted query sent by id: the document comes from the
            // manifest or the APQ cache (`crate::persisted`).
            None | Some(Value::Null)
                if object
                    .get("extensions")
                    .and_then(|e| e.get("persistedQuery"))
                    .is_some() =>
            {
                String::new()
            }
            None | Some(Value::Null) => {
                return Err(ClientError::InvalidRequest(
                    "the request has no `query`".to_owned(),
                ))
            }
            Some(_) => {
                return Err(ClientError::InvalidRequest(
                    "`query` must be a string".to_owned(),
                ))
            }
        };
        let operation_name = match object.remove("operationName") {
            None | Some(Value::Null) => None,
            Some(Value::String(name)) => Some(name),
            Some(_) => {
                return Err(ClientError::InvalidRequest(
                    "`operationName` must be a string or null".to_owned(),
                ))
            }
        };
        Ok(Self {
            query,
            operation_name,
            variables: take_object(&mut object, "variables")?,
            extensions: take_object(&mut object, "extensions")?,
        })
    }

    /// Reads a GET query string (`query`, `operationName`, and JSON-encoded
    /// `variables` and `extensions`).
    pub fn from_query_string(query_string: &str) -> Result<Self, ClientError> {
        let mut object = Map::new();
        for (key, value) in url::form_urlencoded::parse(query_string.as_bytes()) {
            let parsed = match key.as_ref() {
                "query" | "operationName" => Value::String(value.into_owned()),
                "variables" | "extensions" => {
                    if value.is_empty() {
                        Value::Null
                    } else {
                        serde_json::from_str(&value).map_err(|_| {
                            ClientError::InvalidRequest(format!(
                                "the `{key}` parameter must be a JSON-encoded object"
                            ))
                        })?
                    }
                }
                _ => continue,
            };
            if object.insert(key.into_owned(), parsed).is_some() {
                return Err(ClientError::InvalidRequest(
                    "a request parameter is given more than once".to_owned(),
                ));
            }
        }
        Self::from_object(object)
    }
}

fn take_object(
    object: &mut Map<String, Value>,
    key: &str,
) -> Result<Map<String, Value>, ClientError> {
    match object.remove(key) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(map)) => Ok(map),
        Some(_) => Err(ClientError::InvalidRequest(format!(
            "`{key}` must be an object or null"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(result: Result<GraphqlRequest, ClientError>) -> String {
        match result {
            Err(ClientError::InvalidRequest(message)) => message,
            other => panic!("expected InvalidRequest, got {other:?}"),
        }
    }

    #[test]
    fn reads_a_full_post_body() {
        let request = GraphqlRequest::from_json_body(
            br#"{"query":"{ a }","operationName":"A","variables":{"x":1},"extensions":{"e":true}}"#,
        )
        .unwrap();
        assert_eq!(request.query, "{ a }");
        assert_eq!(request.operation_name.as_deref(), Some("A"));
        assert_eq!(request.variables["x"], 1);
        assert_eq!(request.extensions["e"], true);
    }

    #[test]
    fn rejects_malformed_bodies() {
        assert!(invalid(GraphqlRequest::from_json_body(b"{nope")).contains("not valid JSON"));
        assert!(invalid(GraphqlRequest::from_json_body(b"[]")).contains("batched"));
        assert!(invalid(GraphqlRequest::from_json_body(b"42")).contains("JSON object"));
        assert!(invalid(GraphqlRequest::from_json_body(b"{}")).contains("no `query`"));
        assert!(invalid(GraphqlRequest::from_json_body(br#"{"query":1}"#)).contains("string"));
        assert!(invalid(GraphqlRequest::from_json_body(
            br#"{"query":"{a}","variables":[1]}"#
        ))
        .contains("`variables`"));
        assert!(invalid(GraphqlRequest::from_json_body(
            br#"{"query":"{a}","operationName":3}"#
        ))
        .contains("operationName"));
    }

    #[test]
    fn reads_get_parameters() {
        let request = GraphqlRequest::from_query_string(
            "query=query%20Q(%24id%3A%20ID)%20%7B%20a%20%7D&operationName=Q&variables=%7B%22id%22%3A%221%22%7D",
        )
        .unwrap();
        assert_eq!(request.query, "query Q($id: ID) { a }");
        assert_eq!(request.variables["id"], "1");
        assert!(invalid(GraphqlRequest::from_query_string(
            "query={a}&variables=nope"
        ))
        .contains("JSON-encoded"));
        assert!(invalid(GraphqlRequest::from_query_string("")).contains("no `query`"));
    }
}
