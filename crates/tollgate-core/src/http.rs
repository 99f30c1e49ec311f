//! GraphQL over HTTP: the axum app with the GraphQL endpoint (POST JSON and
//! GET query strings), content negotiation between
//! `application/graphql-response+json` and `application/json`, body limits,
//! and the health endpoint.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;

use crate::config::{BatchingConfig, HttpConfig};
use crate::error::ClientError;
use crate::observe;
use crate::pipeline::{self, RequestParts};
use crate::request::{GraphqlRequest, RequestBody};
use crate::response::GraphqlResponse;
use crate::runtime::RuntimeHandle;

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const APPLICATION_JSON: &str = "application/json";

/// The response media type chosen from the client's `Accept` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    /// `application/graphql-response+json`: request errors answered with 4xx.
    GraphqlResponseJson,
    /// Legacy `application/json`: well-formed requests answered with 200.
    Json,
}

impl MediaType {
    fn header_value(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            MediaType::GraphqlResponseJson => "application/graphql-response+json; charset=utf-8",
            MediaType::Json => "application/json; charset=utf-8",
        })
    }
}

#[derive(Clone)]
struct AppState {
    runtime: Arc<RuntimeHandle>,
    max_body_bytes: usize,
    request_timeout: std::time::Duration,
    batching: BatchingConfig,
    csrf: crate::csrf::CsrfGuard,
    /// The CSRF headers as the client-facing message lists them.
    csrf_headers: Arc<str>,
}

/// Why the HTTP app could not be built; each message names the key.
#[derive(Debug, thiserror::Error)]
pub enum HttpSetupError {
    /// `http.cors` is unusable.
    #[error(transparent)]
    Cors(#[from] crate::cors::CorsError),
    /// `http.csrf` is unusable.
    #[error(transparent)]
    Csrf(#[from] crate::csrf::CsrfError),
}

/// Builds the client-facing axum app (checking `http.cors` and `http.csrf`).
pub fn router(
    runtime: Arc<RuntimeHandle>,
    config: &HttpConfig,
) -> Result<axum::Router, HttpSetupError> {
    let csrf_headers = config
        .csrf
        .required_headers
        .iter()
        .map(|h| format!("`{h}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let state = AppState {
        csrf: crate::csrf::CsrfGuard::new(&config.csrf)?,
        csrf_headers: Arc::from(csrf_headers),
        runtime,
        max_body_bytes: config.max_body_bytes,
        request_timeout: config.request_timeout,
        batching: config.batching.clone(),
    };
    let endpoint =
        crate::traffic::shed_load(get(graphql).post(graphql), config.max_concurrent_requests);
    let app = axum::Router::new()
        .route(&config.graphql_path, endpoint)
        .route(&config.health_path, get(health))
        .route(&config.ready_path, get(ready))
        .with_state(state);
    Ok(match &config.cors {
        Some(cors) => app.layer(cors.layer()?),
        None => app,
    })
}

/// 200 `{"status":"ready"}` when the supergraph is loaded and every plugin
/// is ready (with required authentication: a JWKS key set is loaded), else
/// 503 `{"status":"unavailable","reason":...}`.
async fn ready(State(state): State<AppState>) -> Response {
    let runtime = state.runtime.load();
    for plugin in &runtime.plugins {
        if let Err(reason) = plugin.ready().await {
            let body = serde_json::json!({"status": "unavailable", "reason": reason});
            return json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                MediaType::Json.header_value(),
                body.to_string().into_bytes(),
            );
        }
    }
    json_response(
        StatusCode::OK,
        MediaType::Json.header_value(),
        br#"{"status":"ready"}"#.to_vec(),
    )
}

/// Whether a browser is asking (an `Accept` naming `text/html`).
fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("text/html"))
}

/// A small self-contained page explaining the endpoint (no scripts).
fn landing_page(uri: &Uri) -> Response {
    let path = uri.path();
    let html = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tollgate GraphQL endpoint</title>
<style>body{{font-family:system-ui,sans-serif;max-width:42rem;margin:3rem auto;padding:0 1rem;line-height:1.5}}pre{{background:#f4f4f4;padding:1rem;overflow-x:auto}}</style></head>
<body><h1>Tollgate</h1>
<p>This is a GraphQL endpoint. Send queries with <code>POST</code> (JSON body with
<code>query</code>, <code>operationName</code>, <code>variables</code>) or with <code>GET</code>
and a <code>query</code> parameter (GET needs the header <code>apollo-require-preflight: true</code>).</p>
<pre>curl -s {path} -H 'content-type: application/json'   -H 'authorization: Bearer $TOKEN'   -d '{{"query":"{{ __typename }}"}}'</pre>
<p>Replace <code>{path}</code> with this page's full URL.</p>
</body></html>
"#
    );
    let mut response = (StatusCode::OK, html).into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

async fn health() -> Response {
    json_response(
        StatusCode::OK,
        MediaType::Json.header_value(),
        br#"{"status":"ok"}"#.to_vec(),
    )
}

async fn graphql(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = std::time::Instant::now();
    let _in_flight = observe::InFlight::start();
    let span = tracing::info_span!("graphql request", method = %method, path = uri.path());
    if observe::otel() && observe::propagating() {
        use tracing_opentelemetry::OpenTelemetrySpanExt as _;
        let _ = span.set_parent(observe::extract_context(&headers));
    }
    let response =
        tracing::Instrument::instrument(graphql_inner(state, method, uri, headers, body), span)
            .await;
    observe::http_request(response.status().as_u16(), started.elapsed());
    response
}

async fn graphql_inner(
    state: AppState,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if method == Method::GET && uri.query().is_none() && wants_html(&headers) {
        return landing_page(&uri);
    }
    let media = match negotiate(&headers) {
        Some(media) => media,
        None => return error_response(&ClientError::NotAcceptable, MediaType::Json),
    };
    let timeout = state.request_timeout;
    let work = respond(state, method, uri, headers, body, media);
    match tokio::time::timeout(timeout, work).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(timeout = ?timeout, "the request did not complete within http.request_timeout");
            error_response(&ClientError::GatewayTimeout(timeout), media)
        }
    }
}

/// Reads the request, runs it through the pipeline and writes the response.
async fn respond(
    state: AppState,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
    media: MediaType,
) -> Response {
    let runtime = state.runtime.load();
    let parts = RequestParts {
        method: &method,
        uri: &uri,
        headers: &headers,
    };
    if let Err(error) = check_head(&state, &method, &headers) {
        return error_response(&error, media);
    }
    // The JWT checkpoint before the body is read: a refused request never
    // reaches the JSON parser.
    let context = match pipeline::router_stage(&runtime, &parts).await {
        Ok(context) => context,
        Err(error) => return error_response(&error, media),
    };
    let request = match read_request(&state, &method, &uri, body).await {
        Ok(RequestBody::Single(request)) => request,
        Ok(RequestBody::Batch(items)) => {
            let (responses, headers) = crate::batch::run(&runtime, &parts, items, &context).await;
            return batch_response(media, &responses, headers);
        }
        Err(error) => return error_response(&error, media),
    };
    match pipeline::run_after_router_stage(&runtime, parts, request, context).await {
        Ok(response) => {
            let mut http_response =
                graphql_response(response.status, media, response.body, Vec::new());
            for (name, value) in &response.headers {
                http_response.headers_mut().append(name, value.clone());
            }
            http_response
        }
        Err(error) => error_response(&error, media),
    }
}

/// The checks that need only the request's head: a JSON content type for
/// POST, the CSRF header, a declared length within `http.max_body_bytes`.
fn check_head(state: &AppState, method: &Method, headers: &HeaderMap) -> Result<(), ClientError> {
    if method != Method::GET && !is_json_content_type(headers) {
        return Err(ClientError::UnsupportedMediaType);
    }
    if !state.csrf.allows(headers) {
        return Err(ClientError::CsrfPrevention(state.csrf_headers.to_string()));
    }
    let limit = state.max_body_bytes;
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if method != Method::GET && declared.is_some_and(|len| len > limit as u64) {
        return Err(ClientError::PayloadTooLarge { limit });
    }
    Ok(())
}

/// Reads and parses the request (after [`check_head`]): the GET query
/// string, or the POST body up to `http.max_body_bytes`.
async fn read_request(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    body: Body,
) -> Result<RequestBody, ClientError> {
    if method == Method::GET {
        return GraphqlRequest::from_query_string(uri.query().unwrap_or(""))
            .map(RequestBody::Single);
    }
    let limit = state.max_body_bytes;
    let bytes = match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => {
            return Err(ClientError::PayloadTooLarge { limit })
        }
        Err(_) => {
            return Err(ClientError::InvalidRequest(
                "the request body could not be read".to_owned(),
            ))
        }
    };
    RequestBody::from_json_body(&bytes, &state.batching)
}

fn is_json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case(APPLICATION_JSON)
}

/// Picks the response media type; `None` when the client accepts neither.
pub fn negotiate(headers: &HeaderMap) -> Option<MediaType> {
    let mut values = headers.get_all(ACCEPT).iter().peekable();
    if values.peek().is_none() {
        return Some(MediaType::Json);
    }
    // (q, exact) for each candidate: the most specific matching range decides.
    let mut graphql: Option<(f32, u8)> = None;
    let mut json: Option<(f32, u8)> = None;
    for value in values {
        let Ok(value) = value.to_str() else { continue };
        for range in value.split(',') {
            let mut parts = range.split(';');
            let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            if essence.is_empty() {
                continue;
            }
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let specificity = match essence.as_str() {
                "*/*" => 0,
                "application/*" => 1,
                _ => 2,
            };
            for (candidate, slot) in [
                (GRAPHQL_RESPONSE_JSON, &mut graphql),
                (APPLICATION_JSON, &mut json),
            ] {
                let matches = specificity < 2 || essence == candidate;
                if matches && slot.is_none_or(|(_, s)| specificity >= s) {
                    *slot = Some((q, specificity));
                }
            }
        }
    }
    let score = |slot: Option<(f32, u8)>| slot.filter(|(q, _)| *q > 0.0);
    match (score(graphql), score(json)) {
        (None, None) => None,
        (Some(_), None) => Some(MediaType::GraphqlResponseJson),
        (None, Some(_)) => Some(MediaType::Json),
        (Some((gq, gs)), Some((jq, js))) => {
            if gq > jq || (gq == jq && gs > js) {
                Some(MediaType::GraphqlResponseJson)
            } else {
                Some(MediaType::Json)
            }
        }
    }
}

/// The HTTP response for a request-ending error, in the negotiated media type.
pub(crate) fn error_response(error: &ClientError, media: MediaType) -> Response {
    let status = error.status(media == MediaType::GraphqlResponseJson);
    graphql_response(status, media, error.to_graphql_response(), error.headers())
}

fn graphql_response(
    status: StatusCode,
    media: MediaType,
    body: GraphqlResponse,
    headers: Vec<(http::HeaderName, HeaderValue)>,
) -> Response {
    observe::graphql_errors(&body);
    let chunks = match body.into_json_chunks() {
        Ok(chunks) => chunks,
        Err(error) => {
            tracing::error!(%error, "serializing a response failed");
            [
                Bytes::from_static(
                    br#"{"errors":[{"message":"Internal server error","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}"#,
                ),
                Bytes::new(),
                Bytes::new(),
            ]
        }
    };
    let mut response = (status, Body::new(Chunks(chunks))).into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, media.header_value());
    for (name, value) in headers {
        response.headers_mut().insert(name, value);
    }
    response
}

/// A batch's answers: a JSON array in the batch's order, status 200.
fn batch_response(media: MediaType, responses: &[GraphqlResponse], headers: HeaderMap) -> Response {
    for response in responses {
        observe::graphql_errors(response);
    }
    let joined = responses.iter().try_fold(vec![b'['], |mut out, response| {
        if out.len() > 1 {
            out.push(b',');
        }
        out.extend_from_slice(&response.to_json_bytes()?);
        Ok::<_, serde_json::Error>(out)
    });
    let bytes = match joined.map(|mut out| {
        out.push(b']');
        out
    }) {
        Ok(bytes) => bytes,
        Err(error) => {
            tracing::error!(%error, "serializing a batch response failed");
            return error_response(&ClientError::Internal, media);
        }
    };
    let mut response = json_response(StatusCode::OK, media.header_value(), bytes);
    for (name, value) in &headers {
        response.headers_mut().append(name, value.clone());
    }
    response
}

/// A body of ready chunks (empty ones skipped) with its exact length known:
/// hyper sends it with a `Content-Length` and writes the chunks as they are,
/// without joining them into one buffer first.
struct Chunks([Bytes; 3]);

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let next = self
            .get_mut()
            .0
            .iter_mut()
            .find(|chunk| !chunk.is_empty())
            .map(std::mem::take);
        Poll::Ready(next.map(|chunk| Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.iter().all(Bytes::is_empty)
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.0.iter().map(|chunk| chunk.len() as u64).sum())
    }
}

fn json_response(status: StatusCode, content_type: HeaderValue, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(CONTENT_TYPE, content_type);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_large_response_goes_out_in_chunks_of_exact_length() {
        let data = format!(r#"{{"s":"{}"}}"#, "y".repeat(100_000));
        let body = GraphqlResponse {
            serialized_data: Some(data.clone()),
            extensions: Some(serde_json::Map::from_iter([("k".to_owned(), 1.into())])),
            ..Default::default()
        };
        let expected = body.to_json_bytes().unwrap();
        let response = graphql_response(StatusCode::OK, MediaType::Json, body, Vec::new());
        assert_eq!(
            response.headers()[CONTENT_TYPE],
            "application/json; charset=utf-8"
        );
        let body = response.into_body();
        assert_eq!(
            http_body::Body::size_hint(&body).exact(),
            Some(expected.len() as u64)
        );
        let mut frames = 0;
        let mut collected = Vec::new();
        let mut body = std::pin::pin!(body);
        while let Some(frame) = body.frame().await {
            collected.extend_from_slice(frame.unwrap().data_ref().unwrap());
            frames += 1;
        }
        assert_eq!(frames, 3);
        assert_eq!(collected, expected);
        let parsed: serde_json::Value = serde_json::from_slice(&collected).unwrap();
        assert_eq!(parsed["data"]["s"].as_str().unwrap().len(), 100_000);
        assert_eq!(parsed["extensions"]["k"], 1);

        // A small response is one frame; the empty chunks are skipped.
        let small = GraphqlResponse {
            serialized_data: Some(r#"{"a":1}"#.to_owned()),
            ..Default::default()
        };
        let response = graphql_response(StatusCode::OK, MediaType::Json, small, Vec::new());
        let mut body = std::pin::pin!(response.into_body());
        let frame = body.frame().await.unwrap().unwrap();
        assert_eq!(frame.data_ref().unwrap().as_ref(), br#"{"data":{"a":1}}"#);
        assert!(body.frame().await.is_none());
    }

    fn accept(value: &str) -> Option<MediaType> {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_str(value).unwrap());
        negotiate(&headers)
    }

    #[test]
    fn negotiates_media_types() {
        assert_eq!(negotiate(&HeaderMap::new()), Some(MediaType::Json));
        assert_eq!(
            accept("application/graphql-response+json"),
            Some(MediaType::GraphqlResponseJson)
        );
        assert_eq!(accept("application/json"), Some(MediaType::Json));
        assert_eq!(accept("*/*"), Some(MediaType::Json));
        assert_eq!(
            accept("application/graphql-response+json, application/json;q=0.9"),
            Some(MediaType::GraphqlResponseJson)
        );
        assert_eq!(
            accept("application/graphql-response+json;q=0.5, application/json"),
            Some(MediaType::Json)
        );
        assert_eq!(accept("text/html"), None);
        assert_eq!(accept("application/json;q=0"), None);
    }

    #[test]
    fn content_type_must_be_json() {
        let mut headers = HeaderMap::new();
        assert!(!is_json_content_type(&headers));
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("Application/JSON; charset=utf-8"),
        );
        assert!(is_json_content_type(&headers));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert!(!is_json_content_type(&headers));
    }
}
