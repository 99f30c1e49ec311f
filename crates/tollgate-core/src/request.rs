//! Reading a GraphQL request from an HTTP request: the JSON body of a POST
//! (one request, or a batch when enabled) or the query string of a GET, with
//! precise client errors for every malformed shape.

use serde_json::{Map, Value};

use crate::config::BatchingConfig;
use crate::error::ClientError;

/// What a POST body holds.
#[derive(Debug)]
pub enum RequestBody {
    /// One request object.
    Single(GraphqlRequest),
    /// A batch: each item read on its own (a malformed item is answered with
    /// its error in its place, the others run).
    Batch(Vec<Result<GraphqlRequest, ClientError>>),
}

impl RequestBody {
    /// Reads a POST body, accepting a JSON array of requests when batching is on.
    pub fn from_json_body(body: &[u8], batching: &BatchingConfig) -> Result<Self, ClientError> {
        match parse_json(body)? {
            Value::Array(items) => {
                if !batching.enabled {
                    return Err(ClientError::BatchingDisabled);
                }
                if items.is_empty() {
                    return Err(ClientError::InvalidRequest(
                        "the batch is empty; send at least one request object".to_owned(),
                    ));
                }
                if items.len() > batching.max_size {
                    return Err(ClientError::BatchTooLarge {
                        size: items.len(),
                        limit: batching.max_size,
                    });
                }
                Ok(Self::Batch(
                    items.into_iter().map(GraphqlRequest::from_value).collect(),
                ))
            }
            value => GraphqlRequest::from_value(value).map(Self::Single),
        }
    }
}

fn parse_json(body: &[u8]) -> Result<Value, ClientError> {
    serde_json::from_slice(body).map_err(|e| {
        ClientError::InvalidRequest(format!("the request body is not valid JSON: {e}"))
    })
}

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
        Self::from_value(parse_json(body)?)
    }

    /// Reads one request object (a batch is refused).
    pub fn from_value(value: Value) -> Result<Self, ClientError> {
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
    fn batches_are_read_item_by_item_within_the_limit() {
        let off = BatchingConfig::default();
        let on = BatchingConfig {
            enabled: true,
            max_size: 2,
        };
        let batch = br#"[{"query":"{ a }"},{"query":1}]"#;
        assert_eq!(
            RequestBody::from_json_body(batch, &off).unwrap_err().code(),
            "BATCHING_NOT_ENABLED"
        );
        match RequestBody::from_json_body(batch, &on).unwrap() {
            RequestBody::Batch(items) => {
                assert_eq!(items[0].as_ref().unwrap().query, "{ a }");
                assert!(invalid(items[1].clone()).contains("string"));
            }
            other => panic!("expected a batch, got {other:?}"),
        }
        let three = br#"[{"query":"{ a }"},{"query":"{ a }"},{"query":"{ a }"}]"#;
        assert_eq!(
            RequestBody::from_json_body(three, &on).unwrap_err().code(),
            "BATCH_LIMIT_EXCEEDED"
        );
        assert!(invalid(
            RequestBody::from_json_body(b"[]", &on).map(|_| GraphqlRequest::default())
        )
        .contains("empty"));
        assert!(matches!(
            RequestBody::from_json_body(br#"{"query":"{ a }"}"#, &off).unwrap(),
            RequestBody::Single(_)
        ));
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
