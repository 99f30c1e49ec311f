//! The GraphQL response format: `errors`, `data` and `extensions`, with the
//! distinction between an absent `data` (request error) and `data: null`.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Data text at least this long goes out as a chunk of its own instead of
/// being copied into one buffer with the rest of the response.
const OWN_CHUNK_BYTES: usize = 16 * 1024;

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
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct GraphqlResponse {
    /// Errors, serialized first as the spec suggests.
    #[serde(default)]
    pub errors: Vec<GraphqlError>,
    /// `None`: no `data` key (request error). `Some(Value::Null)`: `"data": null`.
    #[serde(default, deserialize_with = "deserialize_present")]
    pub data: Option<Value>,
    /// `data` as JSON text, written straight by the executor; when set it
    /// is what goes out, in place of [`GraphqlResponse::data`]. Code that
    /// reads or changes the data calls [`GraphqlResponse::data_mut`] first.
    #[serde(skip)]
    pub serialized_data: Option<String>,
    /// Response extensions.
    #[serde(default)]
    pub extensions: Option<Map<String, Value>>,
}

impl Serialize for GraphqlResponse {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error as _, SerializeMap as _};
        let mut map = serializer.serialize_map(None)?;
        if !self.errors.is_empty() {
            map.serialize_entry("errors", &self.errors)?;
        }
        if let Some(text) = &self.serialized_data {
            let data: Value = serde_json::from_str(text).map_err(S::Error::custom)?;
            map.serialize_entry("data", &data)?;
        } else if let Some(data) = &self.data {
            map.serialize_entry("data", data)?;
        }
        if let Some(extensions) = &self.extensions {
            map.serialize_entry("extensions", extensions)?;
        }
        map.end()
    }
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
            serialized_data: None,
            extensions: None,
        }
    }

    /// The `data`, as a value that can be changed (parsing
    /// [`GraphqlResponse::serialized_data`] first when that is set).
    pub fn data_mut(&mut self) -> &mut Option<Value> {
        if let Some(text) = self.serialized_data.take() {
            self.data = Some(serde_json::from_str(&text).unwrap_or(Value::Null));
        }
        &mut self.data
    }

    /// The response as JSON bytes: like serializing it, but copying
    /// [`GraphqlResponse::serialized_data`] as it is.
    pub fn to_json_bytes(&self) -> serde_json::Result<Vec<u8>> {
        let capacity = self.serialized_data.as_ref().map_or(64, |d| d.len() + 64);
        let mut out = Vec::with_capacity(capacity);
        self.write_head(&mut out)?;
        if let Some(text) = &self.serialized_data {
            out.extend_from_slice(text.as_bytes());
        } else if let Some(data) = &self.data {
            serde_json::to_writer(&mut out, data)?;
        }
        self.write_tail(&mut out)?;
        Ok(out)
    }

    /// The response as JSON bytes in up to three chunks to send one after
    /// another (empty chunks stand for none): a large
    /// [`GraphqlResponse::serialized_data`] is the middle one, moved and not
    /// copied, between what comes before it (`{`, the errors, the `data`
    /// key) and what follows it (the extensions, `}`); anything else is one
    /// chunk. Concatenated, the chunks are [`GraphqlResponse::to_json_bytes`].
    pub fn into_json_chunks(mut self) -> serde_json::Result<[Bytes; 3]> {
        let large = self
            .serialized_data
            .as_ref()
            .is_some_and(|text| text.len() >= OWN_CHUNK_BYTES);
        if !large {
            return Ok([self.to_json_bytes()?.into(), Bytes::new(), Bytes::new()]);
        }
        let (mut head, mut tail) = (Vec::with_capacity(16), Vec::with_capacity(1));
        self.write_head(&mut head)?;
        self.write_tail(&mut tail)?;
        let text = self.serialized_data.take().unwrap_or_default();
        Ok([head.into(), text.into(), tail.into()])
    }

    /// Whether the response has a `data` key.
    fn has_data(&self) -> bool {
        self.serialized_data.is_some() || self.data.is_some()
    }

    /// Everything before the data's value: `{`, the errors, the `data` key.
    fn write_head(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        out.push(b'{');
        if !self.errors.is_empty() {
            out.extend_from_slice(b"\"errors\":");
            serde_json::to_writer(&mut *out, &self.errors)?;
        }
        if self.has_data() {
            if !self.errors.is_empty() {
                out.push(b',');
            }
            out.extend_from_slice(b"\"data\":");
        }
        Ok(())
    }

    /// Everything after the data's value: the extensions and `}`.
    fn write_tail(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        if let Some(extensions) = &self.extensions {
            if self.has_data() || !self.errors.is_empty() {
                out.push(b',');
            }
            out.extend_from_slice(b"\"extensions\":");
            serde_json::to_writer(&mut *out, extensions)?;
        }
        out.push(b'}');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialized_data_goes_out_as_it_is_and_can_be_changed() {
        let mut response = GraphqlResponse {
            errors: vec![GraphqlError::new("boom", "X")],
            serialized_data: Some(r#"{"b":1,"a":[null]}"#.to_owned()),
            extensions: Some(Map::from_iter([("k".to_owned(), Value::Bool(true))])),
            ..Default::default()
        };
        let expected = r#"{"errors":[{"message":"boom","extensions":{"code":"X"}}],"data":{"b":1,"a":[null]},"extensions":{"k":true}}"#;
        assert_eq!(
            String::from_utf8(response.to_json_bytes().unwrap()).unwrap(),
            expected
        );
        assert_eq!(serde_json::to_string(&response).unwrap(), expected);
        response.data_mut().as_mut().unwrap()["b"] = Value::from(2);
        assert_eq!(response.serialized_data, None);
        assert_eq!(
            String::from_utf8(response.to_json_bytes().unwrap()).unwrap(),
            expected.replace(r#""b":1"#, r#""b":2"#)
        );
        let empty = GraphqlResponse::default();
        assert_eq!(empty.to_json_bytes().unwrap(), b"{}");
    }

    #[test]
    fn json_chunks_concatenate_to_the_json_bytes() {
        let large = format!(r#"{{"s":"{}"}}"#, "x".repeat(OWN_CHUNK_BYTES));
        let small = r#"{"b":1}"#.to_owned();
        for data in [Some(large.clone()), Some(small), None] {
            for errors in [vec![], vec![GraphqlError::new("boom", "X")]] {
                for extensions in [None, Some(Map::from_iter([("k".to_owned(), Value::Null)]))] {
                    let response = GraphqlResponse {
                        errors: errors.clone(),
                        data: data.is_none().then_some(Value::Null),
                        serialized_data: data.clone(),
                        extensions,
                    };
                    let whole = response.to_json_bytes().unwrap();
                    let chunks = response.into_json_chunks().unwrap();
                    assert_eq!(chunks.concat(), whole);
                    let own_chunk = data.as_deref() == Some(large.as_str());
                    let used = chunks.iter().filter(|chunk| !chunk.is_empty()).count();
                    assert_eq!(used, if own_chunk { 3 } else { 1 });
                    if own_chunk {
                        assert_eq!(chunks[1], large.as_bytes());
                    }
                    let parsed: serde_json::Value = serde_json::from_slice(&whole).unwrap();
                    assert_eq!(parsed.get("errors").is_some(), !errors.is_empty());
                }
            }
        }
    }

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
            serialized_data: None,
            extensions: None,
        };
        assert_eq!(
            serde_json::to_string(&response).unwrap(),
            r#"{"errors":[{"message":"boom","extensions":{"code":"X"}}],"data":{"a":1}}"#
        );
    }
}
