//! Load shedding in front of the GraphQL endpoint: at most
//! `http.max_concurrent_requests` requests are served at once (tower's
//! concurrency limit, one semaphore shared by every method of the route); a
//! request beyond that is refused at once (tower's load shed) with 503
//! `SERVICE_OVERLOADED` and `Retry-After`, instead of queueing without bound.

use axum::error_handling::HandleErrorLayer;
use axum::response::Response;
use axum::routing::MethodRouter;
use http::HeaderMap;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::BoxError;

use crate::error::ClientError;
use crate::http::{error_response, negotiate, MediaType};

/// Serves at most `max` requests of `route` at a time; refuses the rest.
pub(crate) fn shed_load<S>(route: MethodRouter<S>, max: usize) -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    route.layer(
        tower::ServiceBuilder::new()
            .layer(HandleErrorLayer::new(overloaded))
            .load_shed()
            .layer(GlobalConcurrencyLimitLayer::new(max)),
    )
}

async fn overloaded(headers: HeaderMap, error: BoxError) -> Response {
    let media = negotiate(&headers).unwrap_or(MediaType::Json);
    let error = if error.is::<tower::load_shed::error::Overloaded>() {
        ClientError::Overloaded
    } else {
        tracing::error!(%error, "the request service failed");
        ClientError::Internal
    };
    let response = error_response(&error, media);
    crate::observe::http_request(response.status().as_u16(), std::time::Duration::ZERO);
    response
}
