//! The `inventory` subgraph: `Product @key(upc)` with `inStock` and
//! `shippingEstimate @requires(fields: "price weight")`.

use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};

use crate::data::{in_stock, shipping_estimate};

/// `Product` as seen by inventory.
pub struct Product {
    upc: String,
    price: Option<i32>,
    weight: Option<i32>,
}

#[Object]
impl Product {
    async fn upc(&self) -> &str {
        &self.upc
    }

    #[graphql(external)]
    async fn price(&self) -> Option<i32> {
        self.price
    }

    #[graphql(external)]
    async fn weight(&self) -> Option<i32> {
        self.weight
    }

    async fn in_stock(&self) -> Option<bool> {
        Some(in_stock(&self.upc))
    }

    /// Needs `price` and `weight` from the products subgraph.
    #[graphql(requires = "price weight")]
    async fn shipping_estimate(&self) -> Option<i32> {
        Some(shipping_estimate(self.price?, self.weight?))
    }
}

/// Root query of `inventory` (entities only).
pub struct Query;

#[Object]
impl Query {
    #[graphql(entity)]
    async fn find_product_by_upc(
        &self,
        #[graphql(key)] upc: String,
        price: Option<i32>,
        weight: Option<i32>,
    ) -> Product {
        Product { upc, price, weight }
    }
}

/// The `inventory` schema.
pub type InventorySchema = Schema<Query, EmptyMutation, EmptySubscription>;

/// Builds the `inventory` schema.
pub fn schema() -> InventorySchema {
    Schema::build(Query, EmptyMutation, EmptySubscription)
        .enable_federation()
        .finish()
}
