//! Tollgate's Rhai scripting host.
//!
//! Empty on purpose until the Rhai issue lands: it will compile the user's
//! scripts once (with operation, call-depth, expression-depth, string, array
//! and map limits), discover the hooks they define (`router_service`,
//! `supergraph_service`, `execution_service`, `subgraph_service`) and run them
//! as a `tollgate_core::Plugin`, reading verified JWT claims from the request
//! context (`tollgate::authentication::jwt_claims`, also available under
//! Apollo's `apollo::authentication::jwt_claims`). Nothing here is wired into
//! the router yet, and no config key enables it.
