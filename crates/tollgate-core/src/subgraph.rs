//! The boundary to subgraphs: the request the executor builds, the response
//! it gets back, and the [`SubgraphClient`] trait a transport implements
//! (`tollgate-subgraph` provides the pooled HTTP one; tests use fakes).

use std::any::Any;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{HeaderMap, StatusCode};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// The GraphQL request body sent to a subgraph.
#[derive(Debug, Clone)]
pub struct SubgraphRequestBody {
    /// The subgraph operation text.
    pub query: Arc<str>,
    /// The operation name, when the operation has one.
    pub operation_name: Option<Arc<str>>,
    /// Only the variables the operation uses, besides `representations`.
    pub variables: Map<String, Value>,
    /// The `representations` variable of an entity fetch, as the JSON array
    /// text the executor wrote from the response data: sent as is, never
    /// parsed. Sent as `variables.representations` (it takes the place of a
    /// `representations` key in [`variables`](Self::variables)); see
    /// [`all_variables`](Self::all_variables) for one map of both. Clear it
    /// when replacing the variables with a map that has its own.
    pub representations: Option<RawJson>,
    /// Request extensions (forwarded JWT claims go here).
    pub extensions: Map<String, Value>,
}

impl SubgraphRequestBody {
    /// Every variable as one map, `representations` parsed into it (for
    /// plugins that show or edit the variables).
    pub fn all_variables(&self) -> Map<String, Value> {
        all_variables(&self.variables, self.representations.as_ref())
    }
}

/// JSON text sent as is: one JSON value, checked when made with
/// [`RawJson::new`], or written by the executor's own JSON writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawJson(String);

impl RawJson {
    /// `text`, when it is one JSON value.
    pub fn new(text: String) -> Result<Self, serde_json::Error> {
        serde_json::from_str::<serde::de::IgnoredAny>(&text)?;
        Ok(Self(text))
    }

    /// Text the executor's JSON writer produced (valid by construction).
    pub(crate) fn written(text: String) -> Self {
        Self(text)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl SubgraphRequestBody {
    /// The body as JSON, as it goes on the wire (and as [`Serialize`]
    /// gives it), with the representations copied in without another check.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        let representations = self.representations.as_ref().map_or(0, |r| r.0.len());
        let mut out = Vec::with_capacity(self.query.len() + representations + 64);
        out.extend_from_slice(b"{\"query\":");
        serde_json::to_writer(&mut out, &*self.query)?;
        if let Some(name) = &self.operation_name {
            out.extend_from_slice(b",\"operationName\":");
            serde_json::to_writer(&mut out, &**name)?;
        }
        if self.representations.is_some() || !self.variables.is_empty() {
            out.extend_from_slice(b",\"variables\":{");
            let mut first = true;
            if let Some(representations) = &self.representations {
                out.extend_from_slice(b"\"representations\":");
                out.extend_from_slice(representations.0.as_bytes());
                first = false;
            }
            for (name, value) in &self.variables {
                if self.representations.is_some() && name == "representations" {
                    continue;
                }
                if !first {
                    out.push(b',');
                }
                first = false;
                serde_json::to_writer(&mut out, name)?;
                out.push(b':');
                serde_json::to_writer(&mut out, value)?;
            }
            out.push(b'}');
        }
        if !self.extensions.is_empty() {
            out.extend_from_slice(b",\"extensions\":");
            serde_json::to_writer(&mut out, &self.extensions)?;
        }
        out.push(b'}');
        Ok(out)
    }
}

/// `variables` with `representations` (raw, when there are some) parsed
/// into them under `representations`.
pub fn all_variables(
    variables: &Map<String, Value>,
    representations: Option<&RawJson>,
) -> Map<String, Value> {
    let Some(representations) = representations else {
        return variables.clone();
    };
    let mut all = Map::with_capacity(variables.len() + 1);
    let parsed = serde_json::from_str(representations.as_str()).unwrap_or(Value::Null);
    all.insert("representations".to_owned(), parsed);
    for (name, value) in variables {
        if name != "representations" {
            all.insert(name.clone(), value.clone());
        }
    }
    all
}

impl Serialize for SubgraphRequestBody {
    /// The document [`SubgraphRequestBody::to_json`] writes.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error;
        let json = self.to_json().map_err(S::Error::custom)?;
        let text = String::from_utf8(json).map_err(S::Error::custom)?;
        RawValue::from_string(text)
            .map_err(S::Error::custom)?
            .serialize(serializer)
    }
}

/// One request to one subgraph.
#[derive(Debug, Clone)]
pub struct SubgraphRequest {
    /// The subgraph's name from the supergraph (`join__graph(name:)`).
    pub subgraph: Arc<str>,
    /// Where to send it.
    pub url: Arc<str>,
    /// How long to wait for the whole response.
    pub timeout: Duration,
    /// Largest response body to accept, in bytes.
    pub max_response_bytes: usize,
    /// Headers to send besides content negotiation.
    pub headers: HeaderMap,
    /// Whether an identical in-flight request may share this one's answer
    /// (queries on subgraphs with `deduplicate_requests`; never mutations).
    pub deduplicate: bool,
    /// The GraphQL body.
    pub body: SubgraphRequestBody,
}

/// A subgraph's raw HTTP answer.
#[derive(Debug, Clone)]
pub struct SubgraphResponse {
    /// HTTP status.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// Response body, already bounded in size by the client.
    pub body: Bytes,
    /// The body as the executor parsed it, shared by every copy of this
    /// response (requests joined by deduplication parse one answer once).
    pub parsed: ParsedBody,
}

/// The executor's parse of a [`SubgraphResponse`] body, shared between
/// copies of the response. It is tied to the body it was made from: a
/// plugin that replaces the body gets it parsed afresh.
#[derive(Clone, Default)]
pub struct ParsedBody(Arc<OnceLock<Parsed>>);

type Parsed = (Bytes, Arc<dyn Any + Send + Sync>);

impl std::fmt::Debug for ParsedBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "ParsedBody(parsed)"
        } else {
            "ParsedBody(empty)"
        })
    }
}

impl ParsedBody {
    /// Whether other copies of the response share this one.
    pub(crate) fn shared(&self) -> bool {
        Arc::strong_count(&self.0) > 1
    }

    /// `parse(body)`, computed by the first copy that asks and reused by
    /// the others while the body is the same.
    pub(crate) fn get_or_parse<T: Send + Sync + 'static>(
        &self,
        body: &Bytes,
        parse: impl Fn(&[u8]) -> T,
    ) -> Arc<T> {
        let (parsed_body, value) = self.0.get_or_init(|| {
            (
                body.clone(),
                Arc::new(parse(body)) as Arc<dyn Any + Send + Sync>,
            )
        });
        let same = parsed_body.as_ptr() == body.as_ptr() && parsed_body.len() == body.len();
        match (same, Arc::clone(value).downcast::<T>()) {
            (true, Ok(value)) => value,
            _ => Arc::new(parse(body)),
        }
    }
}

/// Why a subgraph request produced no response. Messages are client-safe:
/// they never contain the subgraph URL or internal addresses.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SubgraphError {
    /// No answer within the subgraph's timeout.
    #[error("request timed out")]
    Timeout,
    /// The connection could not be made or broke.
    #[error("connection failed")]
    Connect,
    /// The response was larger than the allowed size.
    #[error("response body too large")]
    BodyTooLarge,
    /// Any other transport failure.
    #[error("transport error")]
    Transport,
}

/// Sends subgraph requests. Implementations are shared by all requests.
pub trait SubgraphClient: Send + Sync + 'static {
    /// Sends one request and returns the raw response.
    fn send(
        &self,
        request: SubgraphRequest,
    ) -> BoxFuture<'_, Result<SubgraphResponse, SubgraphError>>;

    /// Sends one request whose body a wrapper has already encoded: `body` is
    /// `request.body` as JSON. Transports that send JSON use it instead of
    /// encoding the body again; the default ignores it.
    fn send_encoded(
        &self,
        request: SubgraphRequest,
        body: Bytes,
    ) -> BoxFuture<'_, Result<SubgraphResponse, SubgraphError>> {
        let _ = body;
        self.send(request)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn representations_are_sent_as_written_inside_variables() {
        let mut variables = Map::new();
        variables.insert("representations".to_owned(), Value::from("shadowed"));
        variables.insert("id".to_owned(), Value::from(1));
        let mut body = SubgraphRequestBody {
            query: Arc::from("query($representations:[_Any!]!){_entities{__typename}}"),
            operation_name: Some(Arc::from("Q")),
            variables,
            representations: Some(
                RawJson::new(r#"[{"__typename":"A","id":"1"}]"#.to_owned()).unwrap(),
            ),
            extensions: Map::new(),
        };
        let wire = |body: &SubgraphRequestBody| String::from_utf8(body.to_json().unwrap()).unwrap();
        assert_eq!(
            wire(&body),
            r#"{"query":"query($representations:[_Any!]!){_entities{__typename}}","operationName":"Q","variables":{"representations":[{"__typename":"A","id":"1"}],"id":1}}"#
        );
        assert_eq!(serde_json::to_string(&body).unwrap(), wire(&body));
        let all = body.all_variables();
        assert_eq!(
            Value::Object(all.clone()),
            serde_json::json!({"representations": [{"__typename": "A", "id": "1"}], "id": 1})
        );
        // A plugin's edited map replaces both.
        let mut edited = all;
        edited.insert("representations".to_owned(), serde_json::json!([]));
        body.variables = edited;
        body.representations = None;
        body.extensions
            .insert("claims".to_owned(), serde_json::json!({"sub": "a\"b"}));
        let sent: Value = serde_json::from_str(&wire(&body)).unwrap();
        assert_eq!(
            sent,
            serde_json::json!({
                "query": "query($representations:[_Any!]!){_entities{__typename}}",
                "operationName": "Q",
                "variables": {"representations": [], "id": 1},
                "extensions": {"claims": {"sub": "a\"b"}}
            })
        );
        assert!(RawJson::new("[1,".to_owned()).is_err());

        body.variables.clear();
        body.extensions.clear();
        body.operation_name = None;
        assert_eq!(
            wire(&body),
            r#"{"query":"query($representations:[_Any!]!){_entities{__typename}}"}"#
        );
    }

    #[test]
    fn copies_of_a_response_parse_its_body_once_unless_it_was_replaced() {
        let calls = AtomicUsize::new(0);
        let parse = |body: &[u8]| {
            calls.fetch_add(1, Ordering::Relaxed);
            body.len()
        };
        let first = SubgraphResponse {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: Bytes::from_static(b"{\"data\":{}}"),
            parsed: ParsedBody::default(),
        };
        assert!(!first.parsed.shared());
        let mut second = first.clone();
        assert!(first.parsed.shared());
        assert_eq!(*first.parsed.get_or_parse(&first.body, parse), 11);
        assert_eq!(*second.parsed.get_or_parse(&second.body, parse), 11);
        assert_eq!(
            calls.load(Ordering::Relaxed),
            1,
            "parsed once for both copies"
        );
        // A plugin replaced one copy's body: that copy is parsed afresh.
        second.body = Bytes::from_static(b"{}");
        assert_eq!(*second.parsed.get_or_parse(&second.body, parse), 2);
        assert_eq!(calls.load(Ordering::Relaxed), 2);
        assert_eq!(*first.parsed.get_or_parse(&first.body, parse), 11);
        assert_eq!(calls.load(Ordering::Relaxed), 2);
    }
}
