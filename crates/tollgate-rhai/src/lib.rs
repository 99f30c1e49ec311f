//! tollgate-rhai
