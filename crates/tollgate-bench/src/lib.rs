//! Fixtures for Tollgate's criterion micro-benchmarks (`cargo bench -p
//! tollgate-bench`): a signed token and authenticators (verification cache
//! on and off) per JWT algorithm ([`jwt`]), and the demo supergraph with a
//! subgraph client that answers from memory, so planning, execution, merging
//! and shaping are measured without sockets ([`graph`]).
//!
//! The benches in `benches/` only time these fixtures; every fixture checks
//! once, when built, that it does what the bench claims to measure (the
//! token verifies, the response holds every entity).

pub mod graph;
pub mod jwt;

/// Why a fixture could not be built.
#[derive(Debug)]
pub struct FixtureError(pub String);

impl std::fmt::Display for FixtureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FixtureError {}

impl FixtureError {
    fn new(context: &str, error: impl std::fmt::Display) -> Self {
        Self(format!("{context}: {error}"))
    }
}
