//! Tollgate's subgraph transport: [`HttpSubgraphClient`], one pooled
//! HTTP/1.1 client (hyper, rustls with the Mozilla roots) shared by every
//! request, with a per-request timeout and bound on response size (both
//! from the subgraph's settings). It implements the core's
//! [`SubgraphClient`] trait. [`DeduplicatingClient`] wraps it so identical
//! in-flight queries share one call. Requests go straight to the subgraph:
//! no redirects are followed and no proxy settings from the environment
//! are read.

mod dedup;

pub use dedup::DeduplicatingClient;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use http::header::{ACCEPT, CONTENT_TYPE};
use http::{HeaderValue, Uri};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tollgate_core::subgraph::{SubgraphClient, SubgraphError, SubgraphRequest, SubgraphResponse};

/// Why the client could not be built.
#[derive(Debug, thiserror::Error)]
#[error("building the subgraph HTTP client failed: {0}")]
pub struct ClientBuildError(#[from] rustls::Error);

/// The pooled HTTP transport to subgraphs.
#[derive(Debug, Clone)]
pub struct HttpSubgraphClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// Parsed subgraph URLs, bounded by [`MAX_CACHED_URLS`] (plugins may
    /// route requests anywhere; beyond the bound URLs are parsed each time).
    urls: Arc<RwLock<HashMap<Arc<str>, Uri>>>,
}

/// Most distinct subgraph URLs kept parsed.
const MAX_CACHED_URLS: usize = 256;

/// How long an idle pooled connection is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Most idle connections kept per subgraph host.
const POOL_MAX_IDLE_PER_HOST: usize = 256;

impl HttpSubgraphClient {
    /// Builds the shared client.
    pub fn new() -> Result<Self, ClientBuildError> {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
            .pool_timer(TokioTimer::new())
            .build(https);
        Ok(Self {
            client,
            urls: Arc::default(),
        })
    }

    /// The parsed URL of a subgraph (parsed once per distinct URL). Only
    /// absolute `http` and `https` URLs are accepted.
    fn uri(&self, url: &Arc<str>) -> Result<Uri, SubgraphError> {
        if let Some(parsed) = self.urls.read().ok().and_then(|m| m.get(url).cloned()) {
            return Ok(parsed);
        }
        let parsed: Uri = url.parse().map_err(|_| SubgraphError::Transport)?;
        if !matches!(parsed.scheme_str(), Some("http" | "https")) || parsed.host().is_none() {
            return Err(SubgraphError::Transport);
        }
        if let Ok(mut urls) = self.urls.write() {
            if urls.len() < MAX_CACHED_URLS {
                urls.insert(url.clone(), parsed.clone());
            }
        }
        Ok(parsed)
    }

    async fn send_inner(
        &self,
        request: SubgraphRequest,
        body: Bytes,
    ) -> Result<SubgraphResponse, SubgraphError> {
        let uri = self.uri(&request.url)?;
        let timeout = request.timeout;
        let limit = request.max_response_bytes;
        let mut http_request = http::Request::new(Full::new(body));
        *http_request.method_mut() = http::Method::POST;
        *http_request.uri_mut() = uri;
        let headers = http_request.headers_mut();
        *headers = request.headers;
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(
            ACCEPT,
            HeaderValue::from_static("application/graphql-response+json, application/json;q=0.9"),
        );
        let exchange = async {
            let response = self.client.request(http_request).await.map_err(classify)?;
            let (parts, body) = response.into_parts();
            let expected = parts
                .headers
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if expected.is_some_and(|len| len > limit as u64) {
                return Err(SubgraphError::BodyTooLarge);
            }
            // Collected without a copy when the body arrives in one chunk.
            let body = Limited::new(body, limit)
                .collect()
                .await
                .map_err(|error| {
                    if error.downcast_ref::<LengthLimitError>().is_some() {
                        SubgraphError::BodyTooLarge
                    } else {
                        tracing::debug!(error = %error, "subgraph response body failed");
                        SubgraphError::Transport
                    }
                })?
                .to_bytes();
            Ok(SubgraphResponse {
                status: parts.status,
                headers: parts.headers,
                body,
                parsed: Default::default(),
            })
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| SubgraphError::Timeout)?
    }
}

fn classify(error: hyper_util::client::legacy::Error) -> SubgraphError {
    if error.is_connect() {
        SubgraphError::Connect
    } else {
        tracing::debug!(error = %error, "subgraph transport error");
        SubgraphError::Transport
    }
}

impl SubgraphClient for HttpSubgraphClient {
    fn send(
        &self,
        request: SubgraphRequest,
    ) -> BoxFuture<'_, Result<SubgraphResponse, SubgraphError>> {
        match request.body.to_json() {
            Ok(body) => Box::pin(self.send_inner(request, Bytes::from(body))),
            Err(_) => Box::pin(std::future::ready(Err(SubgraphError::Transport))),
        }
    }

    fn send_encoded(
        &self,
        request: SubgraphRequest,
        body: Bytes,
    ) -> BoxFuture<'_, Result<SubgraphResponse, SubgraphError>> {
        Box::pin(self.send_inner(request, body))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::routing::post;
    use tollgate_core::subgraph::SubgraphRequestBody;

    use super::*;

    async fn server(app: axum::Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/graphql")
    }

    /// Sends the test request to `url` with a 5 s timeout.
    async fn send(
        client: &HttpSubgraphClient,
        url: &str,
    ) -> Result<SubgraphResponse, SubgraphError> {
        client.send(request(url, Duration::from_secs(5))).await
    }

    fn request(url: &str, timeout: Duration) -> SubgraphRequest {
        SubgraphRequest {
            subgraph: Arc::from("test"),
            url: Arc::from(url),
            timeout,
            max_response_bytes: 1024,
            headers: http::HeaderMap::new(),
            deduplicate: false,
            body: SubgraphRequestBody {
                query: Arc::from("{ a }"),
                operation_name: None,
                variables: serde_json::Map::new(),
                representations: None,
                extensions: serde_json::Map::new(),
            },
        }
    }

    #[tokio::test]
    async fn posts_json_and_returns_the_body() {
        let url = server(axum::Router::new().route(
            "/graphql",
            post(|headers: http::HeaderMap, body: String| async move {
                assert_eq!(headers[CONTENT_TYPE], "application/json");
                body
            }),
        ))
        .await;
        let client = HttpSubgraphClient::new().unwrap();
        let response = send(&client, &url).await.unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(&response.body[..], br#"{"query":"{ a }"}"#);
    }

    #[tokio::test]
    async fn bounds_the_response_size() {
        let url =
            server(axum::Router::new().route("/graphql", post(|| async { "x".repeat(2048) })))
                .await;
        let client = HttpSubgraphClient::new().unwrap();
        let error = send(&client, &url).await.unwrap_err();
        assert!(matches!(error, SubgraphError::BodyTooLarge));
    }

    /// A body streamed in chunks (no content-length), paced so the client
    /// reads them one by one.
    async fn chunked_server(chunks: Vec<String>) -> String {
        server(axum::Router::new().route(
            "/graphql",
            post(move || {
                let chunks = chunks.clone();
                async move {
                    let stream = futures::stream::unfold(chunks.into_iter(), |mut rest| async {
                        let chunk = rest.next()?;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Some((Ok::<_, std::io::Error>(Bytes::from(chunk)), rest))
                    });
                    axum::body::Body::from_stream(stream)
                }
            }),
        ))
        .await
    }

    #[tokio::test]
    async fn assembles_a_body_sent_in_chunks_and_bounds_it() {
        let client = HttpSubgraphClient::new().unwrap();
        let parts = ["{\"data\":", "{\"a\":", "1}}"];
        let url = chunked_server(parts.map(str::to_owned).to_vec()).await;
        let response = send(&client, &url).await.unwrap();
        assert_eq!(&response.body[..], br#"{"data":{"a":1}}"#);

        let url = chunked_server(vec!["x".repeat(600), "y".repeat(600)]).await;
        let error = send(&client, &url).await.unwrap_err();
        assert!(matches!(error, SubgraphError::BodyTooLarge), "{error:?}");
    }

    #[tokio::test]
    async fn redirects_are_not_followed_and_only_http_urls_are_sent() {
        let url = server(axum::Router::new().route(
            "/graphql",
            post(|| async {
                (
                    http::StatusCode::TEMPORARY_REDIRECT,
                    [(http::header::LOCATION, "http://127.0.0.1:9/elsewhere")],
                    "moved",
                )
            }),
        ))
        .await;
        let client = HttpSubgraphClient::new().unwrap();
        let response = send(&client, &url).await.unwrap();
        assert_eq!(response.status, http::StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(&response.body[..], b"moved");

        for bad in ["ftp://127.0.0.1:9/x", "/relative", "not a url"] {
            let error = send(&client, bad).await.unwrap_err();
            assert!(
                matches!(error, SubgraphError::Transport),
                "{bad}: {error:?}"
            );
        }

        // TLS to a server that speaks plain HTTP fails instead of hanging.
        let plain = url.replace("http://", "https://");
        let error = send(&client, &plain).await.unwrap_err();
        assert!(
            matches!(error, SubgraphError::Connect | SubgraphError::Transport),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn times_out_and_reports_refused_connections() {
        let url = server(axum::Router::new().route(
            "/graphql",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                "late"
            }),
        ))
        .await;
        let client = HttpSubgraphClient::new().unwrap();
        let error = client
            .send(request(&url, Duration::from_millis(100)))
            .await
            .unwrap_err();
        assert!(matches!(error, SubgraphError::Timeout), "{error:?}");

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed = format!("http://{}/graphql", listener.local_addr().unwrap());
        drop(listener);
        let error = send(&client, &closed).await.unwrap_err();
        assert!(matches!(error, SubgraphError::Connect), "{error:?}");
    }
}
