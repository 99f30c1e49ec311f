//! In-flight request deduplication: identical subgraph queries (same URL,
//! body and headers) that are sent while one is already on the wire share
//! its response instead of making another HTTP call. Only requests marked
//! [`SubgraphRequest::deduplicate`] (queries, on subgraphs where it is
//! enabled) take part; mutations are never merged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::future::{BoxFuture, FutureExt, WeakShared};
use http::{HeaderName, HeaderValue};
use tollgate_core::subgraph::{SubgraphClient, SubgraphError, SubgraphRequest, SubgraphResponse};

type Call = BoxFuture<'static, Result<SubgraphResponse, SubgraphError>>;

/// The map holds only a weak handle: when every waiter of a call is gone
/// (cancelled requests), the call is dropped and the entry stops matching.
type InFlight = WeakShared<Call>;

type InFlightMap = HashMap<Arc<RequestKey>, InFlight, foldhash::quality::RandomState>;

/// Above this many entries, entries nobody waits on any more are swept.
const SWEEP_ABOVE: usize = 1024;

/// Wraps a client so identical in-flight requests share one call.
pub struct DeduplicatingClient<C> {
    inner: Arc<C>,
    in_flight: Arc<Mutex<InFlightMap>>,
}

impl<C: SubgraphClient> DeduplicatingClient<C> {
    /// Wraps `inner`.
    pub fn new(inner: C) -> Self {
        Self {
            inner: Arc::new(inner),
            in_flight: Arc::new(Mutex::new(HashMap::default())),
        }
    }

    /// Number of requests currently shared (for tests).
    pub fn in_flight(&self) -> usize {
        self.in_flight.lock().map_or(0, |m| m.len())
    }
}

/// Everything that makes two requests the same: URL, encoded body and
/// headers (sorted). Keys are compared in full, so two different requests
/// never share an answer however their hashes fall; the body is the same
/// buffer that goes on the wire.
#[derive(PartialEq, Eq, Hash)]
struct RequestKey {
    url: Arc<str>,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
}

impl RequestKey {
    fn new(request: &SubgraphRequest, body: Bytes) -> Self {
        let mut headers: Vec<(HeaderName, HeaderValue)> = request
            .headers
            .iter()
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        headers.sort_unstable_by(|(a, x), (b, y)| {
            (a.as_str(), x.as_bytes()).cmp(&(b.as_str(), y.as_bytes()))
        });
        Self {
            url: request.url.clone(),
            headers,
            body,
        }
    }
}

impl<C: SubgraphClient> SubgraphClient for DeduplicatingClient<C> {
    fn send(
        &self,
        request: SubgraphRequest,
    ) -> BoxFuture<'_, Result<SubgraphResponse, SubgraphError>> {
        if !request.deduplicate {
            return self.inner.send(request);
        }
        // Encoded once: for the key, and as the body the transport sends.
        let Ok(body) = request.body.to_json() else {
            return self.inner.send(request);
        };
        let body = Bytes::from(body);
        let key = Arc::new(RequestKey::new(&request, body.clone()));
        let shared = {
            let Ok(mut map) = self.in_flight.lock() else {
                return self.inner.send_encoded(request, body);
            };
            if let Some(existing) = map.get(&key).and_then(WeakShared::upgrade) {
                existing
            } else {
                if map.len() > SWEEP_ABOVE {
                    map.retain(|_, f| f.upgrade().is_some());
                }
                let inner = self.inner.clone();
                let in_flight = self.in_flight.clone();
                let done = key.clone();
                let future = async move {
                    let result = inner.send_encoded(request, body).await;
                    if let Ok(mut map) = in_flight.lock() {
                        map.remove(&done);
                    }
                    result
                }
                .boxed()
                .shared();
                if let Some(weak) = future.downgrade() {
                    map.insert(key, weak);
                }
                future
            }
        };
        Box::pin(shared)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use bytes::Bytes;
    use tollgate_core::subgraph::SubgraphRequestBody;

    use super::*;

    /// Counts calls and answers after a short delay so requests overlap.
    struct Slow(Arc<AtomicUsize>);

    impl SubgraphClient for Slow {
        fn send(
            &self,
            request: SubgraphRequest,
        ) -> BoxFuture<'_, Result<SubgraphResponse, SubgraphError>> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Ok(SubgraphResponse {
                    status: http::StatusCode::OK,
                    headers: http::HeaderMap::new(),
                    body: Bytes::from(request.body.query.to_string()),
                    parsed: Default::default(),
                })
            })
        }
    }

    fn request(query: &str, deduplicate: bool) -> SubgraphRequest {
        SubgraphRequest {
            subgraph: Arc::from("s"),
            url: Arc::from("http://127.0.0.1:9/s"),
            timeout: Duration::from_secs(1),
            max_response_bytes: 1024,
            headers: http::HeaderMap::new(),
            deduplicate,
            body: SubgraphRequestBody {
                query: Arc::from(query),
                operation_name: None,
                variables: serde_json::Map::new(),
                representations: None,
                extensions: serde_json::Map::new(),
            },
        }
    }

    #[tokio::test]
    async fn identical_in_flight_requests_share_one_call() {
        let calls = Arc::new(AtomicUsize::new(0));
        let client = DeduplicatingClient::new(Slow(calls.clone()));
        let (a, b, c) = tokio::join!(
            client.send(request("{ a }", true)),
            client.send(request("{ a }", true)),
            client.send(request("{ b }", true)),
        );
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "{{ a }} once, {{ b }} once"
        );
        assert_eq!(&a.unwrap().body[..], b"{ a }");
        assert_eq!(&b.unwrap().body[..], b"{ a }");
        assert_eq!(&c.unwrap().body[..], b"{ b }");
        assert_eq!(client.in_flight(), 0, "finished requests are forgotten");
        // Later identical requests make a new call.
        client.send(request("{ a }", true)).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }
    #[tokio::test]
    async fn requests_differing_in_headers_or_url_are_not_merged() {
        let calls = Arc::new(AtomicUsize::new(0));
        let client = DeduplicatingClient::new(Slow(calls.clone()));
        let with = |pairs: &[(&'static str, &'static str)]| {
            let mut r = request("{ a }", true);
            for (name, value) in pairs {
                r.headers
                    .append(*name, http::HeaderValue::from_static(value));
            }
            r
        };
        let mut other_url = request("{ a }", true);
        other_url.url = Arc::from("http://127.0.0.1:9/other");
        let (_, _, _, _, _) = tokio::join!(
            client.send(with(&[("x-a", "1"), ("x-b", "2")])),
            // The same headers in another order: the same request.
            client.send(with(&[("x-b", "2"), ("x-a", "1")])),
            client.send(with(&[("x-a", "1"), ("x-b", "3")])),
            client.send(with(&[("x-a", "1")])),
            client.send(other_url),
        );
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn a_cancelled_call_is_not_joined_later() {
        let calls = Arc::new(AtomicUsize::new(0));
        let client = DeduplicatingClient::new(Slow(calls.clone()));
        // Started, then dropped before it finishes (the client went away).
        let abandoned = client.send(request("{ a }", true));
        let _ = tokio::time::timeout(Duration::from_millis(5), abandoned).await;
        let answer = client.send(request("{ a }", true)).await.unwrap();
        assert_eq!(&answer.body[..], b"{ a }");
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "a new call, not the dropped one"
        );
    }

    #[tokio::test]
    async fn requests_not_marked_are_never_merged() {
        let calls = Arc::new(AtomicUsize::new(0));
        let client = DeduplicatingClient::new(Slow(calls.clone()));
        let (a, b) = tokio::join!(
            client.send(request("mutation { m }", false)),
            client.send(request("mutation { m }", false)),
        );
        a.unwrap();
        b.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn different_headers_are_different_requests() {
        let calls = Arc::new(AtomicUsize::new(0));
        let client = DeduplicatingClient::new(Slow(calls.clone()));
        let mut other = request("{ a }", true);
        other
            .headers
            .insert("x-user", http::HeaderValue::from_static("2"));
        let (a, b) = tokio::join!(client.send(request("{ a }", true)), client.send(other));
        a.unwrap();
        b.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
