//! Tollgate's Rhai scripting host: user scripts compiled once at start and
//! run as a router plugin at the router, supergraph and subgraph stages,
//! reading and writing the request context (verified JWT claims are there),
//! headers and the GraphQL body, and rejecting requests with
//! `throw #{status, message}`.

pub mod config;
mod engine;
mod objects;
mod plugin;

pub use config::{RhaiConfig, RhaiLimits};
pub use engine::{APOLLO_JWT_CLAIMS_KEY, JWT_CLAIMS_KEY};
pub use plugin::{RhaiError, RhaiPlugin, Signer};

#[cfg(test)]
mod tests;
