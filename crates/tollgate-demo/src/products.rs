//! The `products` subgraph: `Product @key(upc)`, `topProducts`, `product`
//! and the `createProduct` mutation (in-memory, per server instance).

use std::sync::{Arc, RwLock};

use async_graphql::{Context, EmptySubscription, Object, Result, Schema, SimpleObject};

use crate::data::{initial_products, ProductRow};

/// The products store of one server instance.
#[derive(Clone)]
pub struct Store(Arc<RwLock<Vec<ProductRow>>>);

impl Store {
    fn read(&self) -> Vec<ProductRow> {
        self.0.read().map(|rows| rows.clone()).unwrap_or_default()
    }
}

/// A product.
#[derive(SimpleObject, Clone)]
pub struct Product {
    upc: String,
    name: Option<String>,
    price: Option<i32>,
    weight: Option<i32>,
}

impl From<ProductRow> for Product {
    fn from(row: ProductRow) -> Self {
        Self {
            upc: row.upc,
            name: Some(row.name),
            price: Some(row.price),
            weight: Some(row.weight),
        }
    }
}

fn store<'a>(ctx: &Context<'a>) -> Result<&'a Store> {
    ctx.data::<Store>()
}

/// Root query of `products`.
pub struct Query;

#[Object]
impl Query {
    /// The first `first` products.
    async fn top_products(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 5)] first: i32,
    ) -> Result<Vec<Option<Product>>> {
        let take = usize::try_from(first.max(0)).unwrap_or(0);
        Ok(store(ctx)?
            .read()
            .into_iter()
            .take(take)
            .map(|p| Some(p.into()))
            .collect())
    }

    /// One product by upc.
    async fn product(&self, ctx: &Context<'_>, upc: String) -> Result<Option<Product>> {
        Ok(store(ctx)?
            .read()
            .into_iter()
            .find(|p| p.upc == upc)
            .map(Product::from))
    }

    #[graphql(entity)]
    async fn find_product_by_upc(&self, ctx: &Context<'_>, upc: String) -> Result<Option<Product>> {
        Ok(store(ctx)?
            .read()
            .into_iter()
            .find(|p| p.upc == upc)
            .map(Product::from))
    }
}

/// Root mutation of `products`.
pub struct Mutation;

#[Object]
impl Mutation {
    /// Adds (or replaces) a product.
    async fn create_product(
        &self,
        ctx: &Context<'_>,
        upc: String,
        name: String,
        price: i32,
        weight: i32,
    ) -> Result<Product> {
        let row = ProductRow {
            upc,
            name,
            price,
            weight,
        };
        let mut rows = store(ctx)?
            .0
            .write()
            .map_err(|_| async_graphql::Error::new("store unavailable"))?;
        rows.retain(|p| p.upc != row.upc);
        rows.push(row.clone());
        Ok(row.into())
    }
}

/// The `products` schema.
pub type ProductsSchema = Schema<Query, Mutation, EmptySubscription>;

/// Builds the `products` schema with a fresh store.
pub fn schema() -> ProductsSchema {
    Schema::build(Query, Mutation, EmptySubscription)
        .enable_federation()
        .data(Store(Arc::new(RwLock::new(initial_products()))))
        .finish()
}
