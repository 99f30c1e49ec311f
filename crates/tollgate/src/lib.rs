//! The Tollgate binary's library half: config loading ([`config`]), the
//! server wiring ([`server`]), hot reload ([`reload`]), `config validate`
//! ([`validate`]) and the `dev` demo helpers ([`dev`]). `main.rs`
//! is the CLI on top; end-to-end tests use this library to start the real
//! app in-process.

pub mod config;
pub mod dev;
pub mod plan;
pub mod reload;
pub mod server;
pub mod validate;
