//! The demo supergraph in a [`Runtime`] whose subgraph client answers from
//! memory ([`CannedClient`]), the harness's operations, and the
//! 1,000-entity operation: `topProducts(first: 1000)` from `products`, each
//! product then joined with `inStock` and `shippingEstimate` (`@requires`)
//! from `inventory`, so executing it parses two answers, builds 1,000
//! representations, merges 1,000 entities and shapes 1,000 list items.

use std::collections::HashMap;
use std::sync::Arc;

use apollo_compiler::response::JsonMap;
use apollo_compiler::validation::Valid;
use bytes::Bytes;
use futures::future::BoxFuture;
use http::StatusCode;
use serde_json::{json, Value};
use tollgate_core::config::{DebugConfig, LimitsConfig, SubgraphsConfig};
use tollgate_core::pipeline::{self, PreparedOperation};
use tollgate_core::subgraph::{SubgraphClient, SubgraphError, SubgraphRequest, SubgraphResponse};
use tollgate_core::{Runtime, Supergraph};

use crate::FixtureError;

/// The demo supergraph SDL (`schemas/supergraph.graphql`).
pub const SUPERGRAPH_SDL: &str = include_str!("../../../schemas/supergraph.graphql");
/// Workload 1 of the end-to-end harness (`bench/queries/deep.graphql`).
pub const DEEP_QUERY: &str = include_str!("../../../bench/queries/deep.graphql");
/// Workload 2 of the end-to-end harness (`bench/queries/single.graphql`).
pub const SINGLE_QUERY: &str = include_str!("../../../bench/queries/single.graphql");

/// The parsed demo supergraph.
pub fn supergraph() -> Result<Arc<Supergraph>, FixtureError> {
    Supergraph::parse(SUPERGRAPH_SDL)
        .map(Arc::new)
        .map_err(|e| FixtureError::new("supergraph", e))
}

/// A subgraph client answering every request to a subgraph with the same
/// body, or HTTP 500 for a subgraph it has no answer for.
#[derive(Debug, Default, Clone)]
pub struct CannedClient {
    answers: HashMap<String, Bytes>,
}

impl CannedClient {
    /// Answers requests to `subgraph` with `body`.
    pub fn with(mut self, subgraph: &str, body: &Value) -> Self {
        self.answers
            .insert(subgraph.to_owned(), Bytes::from(body.to_string()));
        self
    }
}

impl SubgraphClient for CannedClient {
    fn send(
        &self,
        request: SubgraphRequest,
    ) -> BoxFuture<'_, Result<SubgraphResponse, SubgraphError>> {
        let answer = self.answers.get(&*request.subgraph).cloned();
        Box::pin(async move {
            Ok(match answer {
                Some(body) => SubgraphResponse {
                    status: StatusCode::OK,
                    headers: http::HeaderMap::new(),
                    body,
                    parsed: Default::default(),
                },
                None => SubgraphResponse {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    headers: http::HeaderMap::new(),
                    body: Bytes::from_static(b"{}"),
                    parsed: Default::default(),
                },
            })
        })
    }
}

/// A runtime on the demo supergraph with default limits, no plugins and
/// `client` as the transport.
pub fn runtime(
    supergraph: Arc<Supergraph>,
    client: Arc<dyn SubgraphClient>,
) -> Result<Runtime, FixtureError> {
    Runtime::new(
        supergraph,
        &SubgraphsConfig::default(),
        LimitsConfig::default(),
        DebugConfig::default(),
        client,
        Vec::new(),
    )
    .map_err(|e| FixtureError::new("runtime", e))
}

/// The 1,000-entity operation with its canned subgraph answers.
pub struct EntityList {
    /// Number of products.
    pub count: usize,
    /// The client operation.
    pub query: String,
    /// Answers of `products` (the list) and `inventory` (the entities).
    pub client: CannedClient,
}

/// Builds the operation and answers for `count` products.
pub fn entity_list(count: usize) -> EntityList {
    let products: Vec<Value> = (0..count)
        .map(|i| {
            json!({
                "__typename": "Product",
                "upc": format!("upc-{i}"),
                "name": format!("Product number {i}"),
                "price": 100 + (i % 2000),
                "weight": 10 + (i % 500),
            })
        })
        .collect();
    let entities: Vec<Value> = (0..count)
        .map(|i| {
            json!({
                "__typename": "Product",
                "inStock": i % 3 != 0,
                "shippingEstimate": (10 + (i % 500)) / 2,
            })
        })
        .collect();
    let client = CannedClient::default()
        .with("products", &json!({"data": {"topProducts": products}}))
        .with("inventory", &json!({"data": {"_entities": entities}}));
    EntityList {
        count,
        query: format!(
            "query Entities {{ topProducts(first: {count}) {{ upc name price weight inStock shippingEstimate }} }}"
        ),
        client,
    }
}

/// Prepares `query` on `runtime` (through its plan cache).
pub fn prepare(runtime: &Runtime, query: &str) -> Result<Arc<PreparedOperation>, FixtureError> {
    pipeline::prepare(runtime, query, None).map_err(|e| FixtureError::new("prepare", e))
}

/// The operation's variables coerced with no client values (its defaults).
pub fn no_variables(
    runtime: &Runtime,
    prepared: &PreparedOperation,
) -> Result<Valid<JsonMap>, FixtureError> {
    apollo_compiler::request::coerce_variable_values(
        runtime.supergraph().api_schema(),
        &prepared.operation,
        &JsonMap::new(),
    )
    .map_err(|e| FixtureError::new("variables", e.message()))
}

/// Checks that an executed [`entity_list`] response holds every product
/// with its joined fields and no error.
pub fn check_entity_list(
    response: &tollgate_core::GraphqlResponse,
    count: usize,
) -> Result<(), FixtureError> {
    if !response.errors.is_empty() {
        return Err(FixtureError(format!(
            "the entity list answered errors: {:?}",
            response.errors
        )));
    }
    let mut response = response.clone();
    let items = response
        .data_mut()
        .as_ref()
        .and_then(|d| d["topProducts"].as_array())
        .ok_or_else(|| FixtureError("no topProducts list in the response".to_owned()))?;
    let joined = items
        .iter()
        .filter(|p| p["shippingEstimate"].is_i64() && p["name"].is_string())
        .count();
    if items.len() != count || joined != count {
        return Err(FixtureError(format!(
            "expected {count} joined products, got {} items ({joined} joined)",
            items.len()
        )));
    }
    Ok(())
}
