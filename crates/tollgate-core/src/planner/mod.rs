//! Query planning: turns a validated operation into a [`QueryPlan`], a tree
//! of `Sequence` / `Parallel` / `Fetch` / `Flatten` nodes.
//!
//! [`build`] decides which subgraph fetch resolves each field, crossing
//! subgraphs through entity keys; this module orders the fetches (each runs
//! once everything it depends on has been merged; independent fetches run in
//! parallel; mutation root fields keep their order) and prints each fetch's
//! operation text. Introspection fields are answered by the router itself.

mod build;
pub mod selection;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use apollo_compiler::executable::{ExecutableDocument, Operation, OperationType};
use apollo_compiler::{Name, Node};

use crate::supergraph::Supergraph;
use build::{Builder, GroupKind};
pub use selection::Selection;

/// A plan for one operation.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryPlan {
    /// The fetches; `None` when the router answers everything itself.
    pub node: Option<PlanNode>,
    /// Whether the operation selects `__schema`/`__type`, answered by the router.
    pub has_introspection: bool,
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq)]
pub enum PlanNode {
    /// Children run one after the other.
    Sequence(Vec<PlanNode>),
    /// Children run at the same time.
    Parallel(Vec<PlanNode>),
    /// A root fetch.
    Fetch(FetchNode),
    /// An entity fetch for the objects found at a path.
    Flatten(FlattenNode),
}

/// An entity fetch applied at a response path.
#[derive(Debug, Clone, PartialEq)]
pub struct FlattenNode {
    /// Where the entities are in the response (`@` = every list item).
    pub path: Vec<PathElem>,
    /// The fetch (with [`FetchNode::entity`] set).
    pub fetch: FetchNode,
}

/// One element of a response path in a plan.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathElem {
    /// A response key.
    Key(Name),
    /// Every item of a list.
    List,
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
    /// Its name, when the client's operation has one.
    pub operation_name: Option<Arc<str>>,
    /// The client variables it uses (only these are sent).
    pub variables: Vec<Name>,
    /// For entity fetches: which objects and how to represent them.
    pub entity: Option<EntityFetch>,
    /// Aliases used to keep conflicting selections apart in the subgraph
    /// operation, renamed back to the client's keys on receipt.
    pub renames: Vec<(Name, Name)>,
}

/// What an entity fetch sends as `representations`.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityFetch {
    /// Objects at the path whose `__typename` is this type are fetched.
    pub type_name: Name,
    /// The fields each representation carries (`__typename`, key, requirements).
    pub representation: Selection,
}

/// Why an operation cannot be planned.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PlanError {
    /// The supergraph gives no way to resolve some selected field.
    #[error("{0}")]
    Unsatisfiable(String),
    /// A planner invariant broke.
    #[error("{0}")]
    Internal(String),
}

/// Plans `operation` of `document` (validated against the API schema).
/// `active_labels` flags, by index into the supergraph's
/// `override_labels()`, the progressive-override labels that are on.
pub fn plan_operation(
    supergraph: &Supergraph,
    document: &ExecutableDocument,
    operation: &Node<Operation>,
    active_labels: &[bool],
) -> Result<QueryPlan, PlanError> {
    let mut builder = Builder::new(supergraph, document, active_labels);
    builder.plan(operation)?;
    let has_introspection = builder.has_introspection;
    let mut groups = std::mem::take(&mut builder.groups);
    if groups.is_empty() {
        return Ok(QueryPlan {
            node: None,
            has_introspection,
        });
    }
    for group in &mut groups {
        group.selection.finish();
    }

    let mut levels = vec![None; groups.len()];
    for index in 0..groups.len() {
        level(&groups, index, &mut levels, 0)?;
    }
    let chunks = groups.iter().map(|g| g.chunk).max().unwrap_or(0) + 1;
    let mut sequence = Vec::new();
    let mut fetch_index = 0;
    for chunk in 0..chunks {
        let mut by_level: Vec<Vec<usize>> = Vec::new();
        for (index, group) in groups.iter().enumerate() {
            if group.chunk != chunk {
                continue;
            }
            let level = levels[index].unwrap_or(0);
            if by_level.len() <= level {
                by_level.resize(level + 1, Vec::new());
            }
            by_level[level].push(index);
        }
        for members in by_level.into_iter().filter(|m| !m.is_empty()) {
            let mut nodes = Vec::with_capacity(members.len());
            for index in members {
                nodes.push(fetch_node(
                    supergraph,
                    operation,
                    &groups[index],
                    fetch_index,
                ));
                fetch_index += 1;
            }
            sequence.push(if nodes.len() == 1 {
                nodes.remove(0)
            } else {
                PlanNode::Parallel(nodes)
            });
        }
    }
    let node = if sequence.len() == 1 {
        sequence.remove(0)
    } else {
        PlanNode::Sequence(sequence)
    };
    Ok(QueryPlan {
        node: Some(node),
        has_introspection,
    })
}

/// Level of a group: 0 for roots, else one more than its deepest dependency.
fn level(
    groups: &[build::Group],
    index: usize,
    levels: &mut [Option<usize>],
    depth: usize,
) -> Result<usize, PlanError> {
    if let Some(level) = levels[index] {
        return Ok(level);
    }
    if depth > groups.len() {
        return Err(PlanError::Internal(
            "fetch dependencies form a cycle".to_owned(),
        ));
    }
    let mut result = 0;
    for dep in &groups[index].deps {
        if *dep != index {
            result = result.max(level(groups, *dep, levels, depth + 1)? + 1);
        }
    }
    levels[index] = Some(result);
    Ok(result)
}

fn fetch_node(
    supergraph: &Supergraph,
    operation: &Operation,
    group: &build::Group,
    index: usize,
) -> PlanNode {
    let subgraph = supergraph.subgraphs()[group.graph].name.as_str();
    let operation_name = operation.name.as_ref().map(|name| {
        let safe: String = subgraph
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        Arc::<str>::from(format!("{name}__{safe}__{index}"))
    });
    let mut variables = Vec::new();
    group.selection.variables(&mut variables);
    // Keep the client's declaration order.
    let declared: Vec<_> = operation
        .variables
        .iter()
        .filter(|v| variables.contains(&v.name))
        .collect();
    let variables: Vec<Name> = declared.iter().map(|v| v.name.clone()).collect();

    let mut text = String::with_capacity(128);
    let kind = match group.kind {
        GroupKind::Root => operation.operation_type,
        GroupKind::Entity { .. } => OperationType::Query,
    };
    text.push_str(match kind {
        OperationType::Query => "query",
        OperationType::Mutation => "mutation",
        OperationType::Subscription => "subscription",
    });
    if let Some(name) = &operation_name {
        text.push(' ');
        text.push_str(name);
    }
    let entity = matches!(group.kind, GroupKind::Entity { .. });
    if entity || !declared.is_empty() {
        text.push('(');
        let mut first = true;
        if entity {
            text.push_str("$representations: [_Any!]!");
            first = false;
        }
        for definition in &declared {
            if !first {
                text.push_str(", ");
            }
            first = false;
            text.push_str(&definition.to_string());
        }
        text.push(')');
    }
    text.push(' ');
    let entity = match &group.kind {
        GroupKind::Root => {
            group.selection.write(&mut text);
            None
        }
        GroupKind::Entity {
            type_name,
            path,
            representation,
        } => {
            text.push_str("{ _entities(representations: $representations) { ... on ");
            text.push_str(type_name);
            text.push(' ');
            group.selection.write(&mut text);
            text.push_str(" } }");
            Some((
                path.clone(),
                EntityFetch {
                    type_name: type_name.clone(),
                    representation: representation.clone(),
                },
            ))
        }
    };
    let mut fetch = FetchNode {
        subgraph: Arc::from(subgraph),
        graph: group.graph,
        kind,
        operation: Arc::from(text),
        operation_name,
        variables,
        entity: None,
        renames: group.renames.clone(),
    };
    match entity {
        None => PlanNode::Fetch(fetch),
        Some((path, entity)) => {
            fetch.entity = Some(entity);
            PlanNode::Flatten(FlattenNode { path, fetch })
        }
    }
}

impl fmt::Display for PathElem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElem::Key(key) => f.write_str(key),
            PathElem::List => f.write_str("@"),
        }
    }
}

/// Prints a path as `a.@.b`.
pub fn path_string(path: &[PathElem]) -> String {
    path.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(".")
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
            PlanNode::Sequence(nodes) | PlanNode::Parallel(nodes) => {
                let name = if matches!(self, PlanNode::Sequence(_)) {
                    "Sequence"
                } else {
                    "Parallel"
                };
                writeln!(f, "{pad}{name} {{")?;
                for node in nodes {
                    node.fmt_indented(f, depth + 1)?;
                }
                writeln!(f, "{pad}}},")
            }
            PlanNode::Fetch(fetch) => fetch.fmt_indented(f, depth),
            PlanNode::Flatten(flatten) => {
                writeln!(
                    f,
                    "{pad}Flatten(path: \"{}\") {{",
                    path_string(&flatten.path)
                )?;
                flatten.fetch.fmt_indented(f, depth + 1)?;
                writeln!(f, "{pad}}},")
            }
        }
    }
}

impl FetchNode {
    fn fmt_indented(&self, f: &mut fmt::Formatter<'_>, depth: usize) -> fmt::Result {
        let pad = "  ".repeat(depth);
        writeln!(f, "{pad}Fetch(service: \"{}\") {{", self.subgraph)?;
        if let Some(entity) = &self.entity {
            let mut rep = String::new();
            entity.representation.write(&mut rep);
            writeln!(f, "{pad}  {rep} =>")?;
        }
        writeln!(f, "{pad}  {}", self.operation)?;
        writeln!(f, "{pad}}},")
    }
}

/// Counts fetches per subgraph (for tests and debugging).
pub fn fetch_counts(plan: &QueryPlan) -> HashMap<Arc<str>, usize> {
    fn walk(node: &PlanNode, out: &mut HashMap<Arc<str>, usize>) {
        match node {
            PlanNode::Sequence(nodes) | PlanNode::Parallel(nodes) => {
                for node in nodes {
                    walk(node, out);
                }
            }
            PlanNode::Fetch(fetch) => *out.entry(fetch.subgraph.clone()).or_default() += 1,
            PlanNode::Flatten(flatten) => {
                *out.entry(flatten.fetch.subgraph.clone()).or_default() += 1;
            }
        }
    }
    let mut out = HashMap::new();
    if let Some(node) = &plan.node {
        walk(node, &mut out);
    }
    out
}

#[cfg(test)]
mod tests;
