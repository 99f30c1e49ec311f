//! Serves the four subgraphs over HTTP with axum: `POST /accounts`,
//! `/products`, `/reviews`, `/inventory` (GraphQL JSON) and `GET /health`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::accounts::CurrentSubject;
use crate::{accounts, inventory, products, reviews};

#[derive(Clone)]
enum Subgraph {
    Accounts(accounts::AccountsSchema),
    Products(products::ProductsSchema),
    Reviews(reviews::ReviewsSchema),
    Inventory(inventory::InventorySchema),
}

impl Subgraph {
    async fn execute(&self, request: async_graphql::Request) -> async_graphql::Response {
        match self {
            Subgraph::Accounts(s) => s.execute(request).await,
            Subgraph::Products(s) => s.execute(request).await,
            Subgraph::Reviews(s) => s.execute(request).await,
            Subgraph::Inventory(s) => s.execute(request).await,
        }
    }
}

#[derive(Clone)]
struct Route {
    subgraph: Subgraph,
    requests: Arc<AtomicUsize>,
}

/// Builds the axum app serving all four subgraphs (fresh state per call).
pub fn app() -> axum::Router {
    app_counting(Arc::default())
}

/// Like [`app`], counting every GraphQL request in `requests`.
pub fn app_counting(requests: Arc<AtomicUsize>) -> axum::Router {
    let route = |subgraph: Subgraph| {
        post(graphql).with_state(Route {
            subgraph,
            requests: requests.clone(),
        })
    };
    axum::Router::new()
        .route_service("/accounts", route(Subgraph::Accounts(accounts::schema())))
        .route_service("/products", route(Subgraph::Products(products::schema())))
        .route_service("/reviews", route(Subgraph::Reviews(reviews::schema())))
        .route_service(
            "/inventory",
            route(Subgraph::Inventory(inventory::schema())),
        )
        .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
}

fn bad_request(message: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"errors": [{"message": message}]})),
    )
        .into_response()
}

async fn graphql(State(route): State<Route>, body: Bytes) -> Response {
    route.requests.fetch_add(1, Ordering::SeqCst);
    let subgraph = route.subgraph;
    let mut request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) if error.is_data() => {
            return bad_request(format!("invalid GraphQL request: {error}"))
        }
        Err(error) => return bad_request(format!("invalid JSON body: {error}")),
    };
    let subject = match request.extensions.get("jwt") {
        Some(async_graphql::Value::Object(jwt)) => match jwt.get("sub") {
            Some(async_graphql::Value::String(sub)) => Some(sub.clone()),
            _ => None,
        },
        _ => None,
    };
    if let Some(subject) = subject {
        request = request.data(CurrentSubject(subject));
    }
    Json(subgraph.execute(request).await).into_response()
}

/// Serves [`app`] on `listener` until the server stops.
pub async fn serve(listener: TcpListener) -> std::io::Result<()> {
    axum::serve(listener, app()).await
}

/// A demo server running in a background task; dropping it stops the server.
pub struct DemoHandle {
    addr: SocketAddr,
    requests: Arc<AtomicUsize>,
    task: JoinHandle<std::io::Result<()>>,
}

impl DemoHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many GraphQL requests the subgraphs have received.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// The URL of one subgraph, e.g. `http://127.0.0.1:4100/accounts`.
    pub fn url(&self, subgraph: &str) -> String {
        format!("http://{}/{subgraph}", self.addr)
    }
}

impl Drop for DemoHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds `addr` (port 0 for an ephemeral port) and serves in the background.
pub async fn spawn(addr: SocketAddr) -> std::io::Result<DemoHandle> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let requests = Arc::new(AtomicUsize::new(0));
    let app = app_counting(requests.clone());
    let task = tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(DemoHandle {
        addr,
        requests,
        task,
    })
}
