//! Reads the join spec (`@join__graph`, `@join__type`, `@join__field`,
//! `@join__unionMember`) into plain lookup tables: which subgraphs define
//! each type and which can resolve each field.

use std::collections::HashMap;

use apollo_compiler::ast::{self, Value};
use apollo_compiler::schema::ExtendedType;
use apollo_compiler::{Name, Schema};

use super::links::Link;
use super::SupergraphError;

/// Index of a subgraph in [`super::Supergraph::subgraphs`].
pub type GraphId = usize;

/// A set of subgraphs, as a growable bitset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GraphSet(Vec<u64>);

impl GraphSet {
    /// The set of every graph in `0..count`.
    pub fn all(count: usize) -> Self {
        let mut set = Self::default();
        for id in 0..count {
            set.insert(id);
        }
        set
    }

    /// Adds a graph.
    pub fn insert(&mut self, id: GraphId) {
        let (word, bit) = (id / 64, id % 64);
        if self.0.len() <= word {
            self.0.resize(word + 1, 0);
        }
        self.0[word] |= 1 << bit;
    }

    /// Whether `id` is in the set.
    pub fn contains(&self, id: GraphId) -> bool {
        self.0
            .get(id / 64)
            .is_some_and(|w| w & (1 << (id % 64)) != 0)
    }

    /// Keeps only the graphs also in `other`.
    pub fn intersect_with(&mut self, other: &GraphSet) {
        for (i, word) in self.0.iter_mut().enumerate() {
            *word &= other.0.get(i).copied().unwrap_or(0);
        }
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }

    /// The graphs in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = GraphId> + '_ {
        self.0.iter().enumerate().flat_map(|(i, word)| {
            (0..64)
                .filter(move |b| word & (1 << b) != 0)
                .map(move |b| i * 64 + b)
        })
    }
}

/// One subgraph declared by `join__Graph`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubgraphInfo {
    /// The subgraph name (`@join__graph(name:)`).
    pub name: String,
    /// The `join__Graph` enum value naming it.
    pub enum_value: Name,
    /// The routing URL from the supergraph.
    pub url: String,
}

/// Which subgraphs define which types and resolve which fields.
#[derive(Debug, Default)]
pub struct JoinTables {
    pub(crate) types: HashMap<Name, GraphSet>,
    pub(crate) fields: HashMap<(Name, Name), GraphSet>,
}

impl JoinTables {
    /// Subgraphs that define `type_name` (every subgraph for types without `@join__type`).
    pub fn type_graphs(&self, type_name: &str) -> Option<&GraphSet> {
        self.types.get(type_name)
    }

    /// Subgraphs that can resolve `type_name.field_name`.
    pub fn field_graphs(&self, type_name: &str, field_name: &str) -> Option<&GraphSet> {
        self.fields.get(&(
            Name::new_unchecked(type_name),
            Name::new_unchecked(field_name),
        ))
    }
}

/// Reads the `join__Graph` enum into the subgraph list.
pub(crate) fn read_subgraphs(
    schema: &Schema,
    join: &Link,
) -> Result<Vec<SubgraphInfo>, SupergraphError> {
    let enum_name = format!("{}__Graph", join.prefix);
    let graph_directive = join.directive_name("graph");
    let Some(ExtendedType::Enum(graphs)) = schema.types.get(enum_name.as_str()) else {
        return Err(SupergraphError::Invalid(format!(
            "the join spec's `{enum_name}` enum is missing"
        )));
    };
    let mut subgraphs = Vec::new();
    for (value, definition) in &graphs.values {
        let directive = definition.directives.get(&graph_directive).ok_or_else(|| {
            SupergraphError::Invalid(format!(
                "`{enum_name}.{value}` has no @{graph_directive}(name:, url:)"
            ))
        })?;
        let arg = |name: &str| {
            directive
                .specified_argument_by_name(name)
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        let name = arg("name").ok_or_else(|| {
            SupergraphError::Invalid(format!("`{enum_name}.{value}` has no subgraph name"))
        })?;
        subgraphs.push(SubgraphInfo {
            name,
            enum_value: value.clone(),
            url: arg("url").unwrap_or_default(),
        });
    }
    if subgraphs.is_empty() {
        return Err(SupergraphError::Invalid(format!(
            "`{enum_name}` declares no subgraph"
        )));
    }
    Ok(subgraphs)
}

/// Builds the type and field ownership tables.
pub(crate) fn read_tables(schema: &Schema, join: &Link, subgraphs: &[SubgraphInfo]) -> JoinTables {
    let type_directive = join.directive_name("type");
    let field_directive = join.directive_name("field");
    let member_directive = join.directive_name("unionMember");
    let graph_id = |value: Option<&Value>| -> Option<GraphId> {
        let name = value?.as_enum()?;
        subgraphs.iter().position(|s| s.enum_value == *name)
    };
    let all = GraphSet::all(subgraphs.len());
    let mut tables = JoinTables::default();

    for (type_name, ty) in &schema.types {
        if ty.is_built_in() {
            continue;
        }
        let mut graphs = GraphSet::default();
        let mut declared = false;
        for directive in ty.directives().get_all(&type_directive) {
            declared = true;
            if let Some(id) = graph_id(directive.specified_argument_by_name("graph").map(|v| &**v))
            {
                graphs.insert(id);
            }
        }
        if let ExtendedType::Union(union_) = ty {
            for directive in union_.directives.get_all(&member_directive) {
                declared = true;
                if let Some(id) =
                    graph_id(directive.specified_argument_by_name("graph").map(|v| &**v))
                {
                    graphs.insert(id);
                }
            }
        }
        let graphs = if declared { graphs } else { all.clone() };

        let fields = match ty {
            ExtendedType::Object(o) => Some(&o.fields),
            ExtendedType::Interface(i) => Some(&i.fields),
            _ => None,
        };
        for (field_name, field) in fields.into_iter().flatten() {
            let field_graphs = field_graphs(&field.directives, &field_directive, &graph_id)
                .unwrap_or_else(|| graphs.clone());
            tables
                .fields
                .insert((type_name.clone(), field_name.clone()), field_graphs);
        }
        tables.types.insert(type_name.clone(), graphs);
    }
    tables
}

/// Graphs named by `@join__field` applications that really resolve the field
/// (not `external`, not overridden); `None` when the field has no such
/// application with a graph, meaning "every graph defining the type".
fn field_graphs(
    directives: &ast::DirectiveList,
    field_directive: &str,
    graph_id: &dyn Fn(Option<&Value>) -> Option<GraphId>,
) -> Option<GraphSet> {
    let mut graphs = GraphSet::default();
    let mut any_with_graph = false;
    for directive in directives.get_all(field_directive) {
        let Some(id) = graph_id(directive.specified_argument_by_name("graph").map(|v| &**v)) else {
            continue;
        };
        any_with_graph = true;
        let flag = |name: &str| {
            directive
                .specified_argument_by_name(name)
                .is_some_and(|v| v.to_bool() == Some(true))
        };
        if flag("external") || flag("usedOverridden") {
            continue;
        }
        graphs.insert(id);
    }
    any_with_graph.then_some(graphs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_set_operations() {
        let mut a = GraphSet::all(3);
        let mut b = GraphSet::default();
        b.insert(2);
        b.insert(70);
        assert!(b.contains(70) && !b.contains(69));
        a.intersect_with(&b);
        assert_eq!(a.iter().collect::<Vec<_>>(), vec![2]);
        let mut c = GraphSet::default();
        c.insert(1);
        a.intersect_with(&c);
        assert!(a.is_empty());
    }
}
