//! Tollgate's router core.
//!
//! - [`supergraph`]: the Federation v2 supergraph model and the API schema.
//! - [`pipeline`]: one client request, top to bottom: read → plugins (JWT) →
//!   parse + validate (cached) → plan (cached) → execute → respond.
//! - [`planner`] and [`executor`]: the query plan and how it runs.
//! - [`plugin`]: the plugin interface; [`subgraph`]: the transport boundary.
//! - [`http`]: the axum app serving GraphQL over HTTP and health.
//! - [`error`], [`response`], [`context`], [`config`]: shared types.
//! - [`watch`]: noticing that a watched file (supergraph, JWKS) changed.

pub mod authorization;
mod batch;
pub mod config;
pub mod context;
pub mod cors;
pub mod csrf;
pub mod error;
pub mod executor;
pub mod headers;
pub mod http;
pub mod observe;
pub mod operation_limits;
pub mod persisted;
pub mod pipeline;
pub mod planner;
pub mod plugin;
pub mod request;
pub mod response;
pub mod runtime;
pub mod subgraph;
pub mod subgraph_errors;
pub mod supergraph;
mod traffic;
pub mod watch;

pub use context::RequestContext;
pub use error::{ClientError, InternalError};
pub use plugin::{Flow, Plugin, RouterRequest};
pub use response::{GraphqlError, GraphqlResponse};
pub use runtime::{Runtime, RuntimeHandle};
pub use supergraph::Supergraph;
