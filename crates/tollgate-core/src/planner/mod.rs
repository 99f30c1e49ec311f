//! Query planning: turns a validated operation into a [`QueryPlan`] of
//! subgraph fetches.
//!
//! Plans are plain data with a readable `Display`. This slice plans
//! operations that one subgraph can answer whole (every selected field and
//! type condition is resolvable there); operations that need several
//! subgraphs are refused with `QUERY_PLANNING_FAILED` until entity planning
//! lands. Introspection root fields are answered by the router itself.

mod single;

use std::fmt;
use std::sync::Arc;

use apollo_compiler::executable::OperationType;
use apollo_compiler::Name;

pub use single::plan_operation;

/// A plan for one operation.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryPlan {
    /// The fetches; `None` when the router answers everything itself
    /// (introspection-only operations).
    pub node: Option<PlanNode>,
    /// Whether the operation selects `__schema`/`__type`/root `__typename`,
    /// answered by the router.
    pub has_introspection: bool,
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq)]
pub enum PlanNode {
    /// Send one operation to one subgraph.
    Fetch(FetchNode),
}

/// A request to one subgraph.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchNode {
    /// Subgraph name.
    pub subgraph: Arc<str>,
    /// Index of the subgraph in the supergraph.
    pub graph: usize,
    /// Operation kind.
    pub kind: OperationType,
    /// The operation text sent to the subgraph.
    pub operation: Arc<str>,
    /// Its name, when it has one.
    pub operation_name: Option<Arc<str>>,
    /// The variables it declares (only these are sent).
    pub variables: Vec<Name>,
}

/// Why an operation cannot be planned.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PlanError {
    /// No single subgraph can resolve every selected field.
    #[error("this operation needs fields from several subgraphs ({0}); planning across subgraphs is not available in this version of Tollgate")]
    NeedsSeveralSubgraphs(String),
    /// The generated subgraph operation could not be built.
    #[error("{0}")]
    Internal(String),
}

impl fmt::Display for QueryPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "QueryPlan {{")?;
        if self.has_introspection {
            writeln!(f, "  Introspection,")?;
        }
        if let Some(node) = &self.node {
            node.fmt_indented(f, 1)?;
        }
        write!(f, "}}")
    }
}

impl PlanNode {
    fn fmt_indented(&self, f: &mut fmt::Formatter<'_>, depth: usize) -> fmt::Result {
        let pad = "  ".repeat(depth);
        match self {
            PlanNode::Fetch(fetch) => {
                writeln!(f, "{pad}Fetch(service: \"{}\") {{", fetch.subgraph)?;
                for line in fetch.operation.lines() {
                    writeln!(f, "{pad}  {line}")?;
                }
                writeln!(f, "{pad}}},")
            }
        }
    }
}
