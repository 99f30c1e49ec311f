//! Tollgate's demo graph: four Apollo Federation v2 subgraphs written with
//! async-graphql, served by one axum app at `/accounts`, `/products`,
//! `/reviews` and `/inventory`. `tollgate dev` and the end-to-end tests start
//! it in-process; `tollgate-demo --listen ADDR` runs it alone.
//!
//! - `accounts`: `User @key(id)`; `me` comes from the forwarded JWT claims
//!   (`extensions.jwt.sub`).
//! - `products`: `Product @key(upc)`, `topProducts`, `createProduct`.
//! - `reviews`: `Review`, extends `User` and `Product` with `reviews`;
//!   `author @provides(fields: "username")`.
//! - `inventory`: extends `Product` with `inStock` and
//!   `shippingEstimate @requires(fields: "price weight")`.

pub mod accounts;
pub mod data;
pub mod inventory;
pub mod products;
pub mod reviews;
mod server;

pub use server::{app, app_counting, serve, spawn, DemoHandle};

/// The subgraph names, which are also their URL paths.
pub const SUBGRAPHS: [&str; 4] = ["accounts", "products", "reviews", "inventory"];

/// A subgraph's SDL as its `_service { sdl }` answers it.
pub fn subgraph_sdl(name: &str) -> Option<String> {
    use async_graphql::SDLExportOptions;
    let options = || SDLExportOptions::new().federation().compose_directive();
    Some(match name {
        "accounts" => accounts::schema().sdl_with_options(options()),
        "products" => products::schema().sdl_with_options(options()),
        "reviews" => reviews::schema().sdl_with_options(options()),
        "inventory" => inventory::schema().sdl_with_options(options()),
        _ => return None,
    })
}

#[cfg(test)]
mod tests;
