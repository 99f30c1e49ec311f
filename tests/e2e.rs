//! The end-to-end suite: the real router app (or the real binary) against
//! the real demo subgraphs over loopback HTTP, one module per area. It is one
//! test binary so a cold build links the router once, not once per area; run
//! one area with `cargo test -p tollgate-e2e --test e2e jwt::`. The tests
//! of process-wide state (the global metrics recorder: `telemetry.rs`;
//! `tracing`'s callsite cache: `spans.rs`, `otel.rs`) are binaries of their own.

mod authorization;
mod faults;
mod federation;
mod http;
mod issuer;
mod jwt;
mod limits;
mod persisted;
mod reload;
mod rhai;
mod web;
