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

use crate::executor::data;
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

/// An entity fetch applied at one or more response paths: one `_entities`
/// request carries the representations of the objects found at every path.
#[derive(Debug, Clone, PartialEq)]
pub struct FlattenNode {
    /// Where the entities are and how to represent them, one entry per path
    /// (several when the planner merged fetches to one subgraph).
    pub inputs: Vec<EntityInput>,
    /// The fetch.
    pub fetch: FetchNode,
}

/// The objects at one response path an entity fetch resolves.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityInput {
    /// Where the entities are in the response (`@` = every list item).
    pub path: Vec<PathElem>,
    /// Which of them, and the representation each one sends.
    pub entity: EntityFetch,
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
    /// Whether the representation can be written straight from the data
    /// ([`Selection::names_unique`]).
    pub direct: bool,
}

impl EntityFetch {
    /// Writes the representation of a response object as JSON text into
    /// `out`; `None` when the object lacks a field the representation needs.
    pub fn write_representation(
        &self,
        object: &data::Object,
        matches: &dyn Fn(&str, &str) -> bool,
        out: &mut Vec<u8>,
    ) -> Option<()> {
        if self.direct {
            return self
                .representation
                .write_representation(object, &self.type_name, matches, out);
        }
        // Fields selected twice (merged by projecting) go through a copy.
        let mut rep = self.representation.project(object, matches)?;
        rep.insert(
            "__typename",
            data::Value::String(self.type_name.as_str().into()),
        );
        data::write_json(out, &data::Value::Object(rep));
        Some(())
    }
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
            let sets = merge_sets(supergraph, &groups, members);
            let mut nodes = Vec::with_capacity(sets.len());
            for set in sets {
                let set: Vec<&build::Group> = set.iter().map(|i| &groups[*i]).collect();
                nodes.push(fetch_node(supergraph, operation, &set, fetch_index));
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

/// Splits the groups of one level into the sets that share one fetch. Entity
/// groups for the same subgraph are merged into one `_entities` request
/// when that cannot change any answer: each group's entity type is an object
/// type; two groups of the same type also send the same representation
/// (inline fragments on one type all apply to every entity of it, so a
/// `@requires` field must not reach representations without its
/// requirements); no response key is selected with two different
/// meanings; and answers merged at one path cannot add objects at another
/// ([`nested_paths_untouched`]). Root groups and everything else keep a fetch of their own.
fn merge_sets(
    supergraph: &Supergraph,
    groups: &[build::Group],
    members: Vec<usize>,
) -> Vec<Vec<usize>> {
    let schema = supergraph.supergraph_schema();
    let mut sets: Vec<Vec<usize>> = Vec::with_capacity(members.len());
    for index in members {
        let group = &groups[index];
        let target = match &group.kind {
            GroupKind::Entity {
                type_name,
                representation,
                ..
            } if schema.get_object(type_name).is_some() => sets.iter().position(|set| {
                set.iter().all(|other| {
                    let other = &groups[*other];
                    match &other.kind {
                        GroupKind::Entity {
                            type_name: other_type,
                            representation: other_representation,
                            ..
                        } => {
                            let same = other_type == type_name;
                            other.graph == group.graph
                                && other.chunk == group.chunk
                                && schema.get_object(other_type).is_some()
                                && (!same || other_representation == representation)
                                && group.selection.mergeable_with(&other.selection, same)
                        }
                        GroupKind::Root => false,
                    }
                }) && nested_paths_untouched(groups, set, index)
            }),
            _ => None,
        };
        match target {
            Some(position) => sets[position].push(index),
            None => sets.push(vec![index]),
        }
    }
    sets
}

/// Whether adding group `extra` to `set` keeps every member's objects
/// where the executor found them. Representations are read for all members
/// before any answer is merged; when one member's path is a proper prefix of
/// another's (`a.@` and `a.@.b.@`), merging answers at the shorter path must
/// not add objects at the longer one, so the merged fetch may not select (or
/// rename to) the response key that leads from one to the other.
fn nested_paths_untouched(groups: &[build::Group], set: &[usize], extra: usize) -> bool {
    let members: Vec<&build::Group> = set
        .iter()
        .chain(std::iter::once(&extra))
        .map(|i| &groups[*i])
        .collect();
    let path = |group: &build::Group| match &group.kind {
        GroupKind::Entity { path, .. } => path.clone(),
        GroupKind::Root => Vec::new(),
    };
    for a in &members {
        let short = path(a);
        for b in &members {
            let long = path(b);
            if short.len() >= long.len() || !long.starts_with(&short) {
                continue;
            }
            let Some(key) = long[short.len()..].iter().find_map(|elem| match elem {
                PathElem::Key(key) => Some(key),
                PathElem::List => None,
            }) else {
                return false;
            };
            let touched = members
                .iter()
                .any(|m| m.selection.selects_key(key) || m.renames.iter().any(|(_, to)| to == key));
            if touched {
                return false;
            }
        }
    }
    true
}

/// The fetch for a set of groups from [`merge_sets`]: one root group, or
/// entity groups of one subgraph.
fn fetch_node(
    supergraph: &Supergraph,
    operation: &Operation,
    set: &[&build::Group],
    index: usize,
) -> PlanNode {
    let first = set[0];
    let subgraph = supergraph.subgraphs()[first.graph].name.as_str();
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
    for group in set {
        group.selection.variables(&mut variables);
    }
    // Keep the client's declaration order.
    let declared: Vec<_> = operation
        .variables
        .iter()
        .filter(|v| variables.contains(&v.name))
        .collect();
    let variables: Vec<Name> = declared.iter().map(|v| v.name.clone()).collect();

    let mut text = String::with_capacity(128);
    let kind = match first.kind {
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
    let entity = matches!(first.kind, GroupKind::Entity { .. });
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
    let mut renames = Vec::new();
    for group in set {
        for rename in &group.renames {
            if !renames.contains(rename) {
                renames.push(rename.clone());
            }
        }
    }
    let mut inputs = Vec::new();
    if let GroupKind::Root = first.kind {
        first.selection.write(&mut text);
    } else {
        // One inline fragment per entity type, in the order the types first
        // appear; groups of one type share its fragment.
        let mut fragments: Vec<(&Name, Selection)> = Vec::new();
        for group in set {
            let GroupKind::Entity {
                type_name,
                path,
                representation,
            } = &group.kind
            else {
                continue;
            };
            match fragments.iter_mut().find(|(name, _)| *name == type_name) {
                Some((_, selection)) => selection.merge_selection(&group.selection),
                None => fragments.push((type_name, group.selection.clone())),
            }
            inputs.push(EntityInput {
                path: path.clone(),
                entity: EntityFetch {
                    type_name: type_name.clone(),
                    representation: representation.clone(),
                    direct: representation.names_unique(),
                },
            });
        }
        text.push_str("{ _entities(representations: $representations) {");
        for (type_name, selection) in &fragments {
            text.push_str(" ... on ");
            text.push_str(type_name);
            text.push(' ');
            selection.write(&mut text);
        }
        text.push_str(" } }");
    }
    let fetch = FetchNode {
        subgraph: Arc::from(subgraph),
        graph: first.graph,
        kind,
        operation: Arc::from(text),
        operation_name,
        variables,
        renames,
    };
    if inputs.is_empty() {
        PlanNode::Fetch(fetch)
    } else {
        PlanNode::Flatten(FlattenNode { inputs, fetch })
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
            PlanNode::Fetch(fetch) => fetch.fmt_indented(f, depth, &[]),
            PlanNode::Flatten(flatten) => {
                let paths: Vec<String> = flatten
                    .inputs
                    .iter()
                    .map(|input| format!("path: \"{}\"", path_string(&input.path)))
                    .collect();
                writeln!(f, "{pad}Flatten({}) {{", paths.join(", "))?;
                flatten.fetch.fmt_indented(f, depth + 1, &flatten.inputs)?;
                writeln!(f, "{pad}}},")
            }
        }
    }
}

impl FetchNode {
    fn fmt_indented(
        &self,
        f: &mut fmt::Formatter<'_>,
        depth: usize,
        inputs: &[EntityInput],
    ) -> fmt::Result {
        let pad = "  ".repeat(depth);
        writeln!(f, "{pad}Fetch(service: \"{}\") {{", self.subgraph)?;
        for input in inputs {
            let mut rep = String::new();
            if inputs.len() > 1 {
                rep.push_str("on ");
                rep.push_str(&input.entity.type_name);
                rep.push(' ');
            }
            input.entity.representation.write(&mut rep);
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
