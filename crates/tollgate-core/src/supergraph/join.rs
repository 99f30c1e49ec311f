//! Reads the join spec (`@join__graph`, `@join__type`, `@join__field`,
//! `@join__unionMember`, `@join__implements`) into plain lookup tables: which
//! subgraphs define each type and resolve each field, entity keys,
//! `requires`/`provides` field sets and per-subgraph possible types.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use apollo_compiler::ast::{self, Value};
use apollo_compiler::executable::{FieldSet, SelectionSet};
use apollo_compiler::schema::ExtendedType;
use apollo_compiler::validation::Valid;
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

    /// Removes a graph.
    pub fn remove(&mut self, id: GraphId) {
        if let Some(word) = self.0.get_mut(id / 64) {
            *word &= !(1 << (id % 64));
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

/// An `@key` of an entity type in one subgraph.
#[derive(Debug, Clone)]
pub struct EntityKey {
    /// The subgraph declaring the key.
    pub graph: GraphId,
    /// The key's field set, parsed against the supergraph schema.
    pub fields: Arc<SelectionSet>,
    /// Whether the subgraph can resolve the entity from this key (`resolvable`).
    pub resolvable: bool,
}

/// What `@join__field` says about one field in one subgraph.
#[derive(Debug, Clone, Default)]
pub struct FieldJoin {
    /// Fields the subgraph needs in the representation to resolve it (`requires`).
    pub requires: Option<Arc<SelectionSet>>,
    /// Fields of the returned type the subgraph resolves along (`provides`).
    pub provides: Option<Arc<SelectionSet>>,
}

/// Which subgraphs define which types and resolve which fields, with the
/// keys, requirements and possible types the planner needs.
#[derive(Debug, Default)]
pub struct JoinTables {
    pub(crate) types: HashMap<Name, GraphSet>,
    pub(crate) fields: HashMap<(Name, Name), GraphSet>,
    pub(crate) keys: HashMap<Name, Vec<EntityKey>>,
    pub(crate) field_joins: HashMap<(Name, Name, GraphId), FieldJoin>,
    pub(crate) possible: HashMap<(Name, GraphId), Vec<Name>>,
    pub(crate) interface_objects: HashSet<(Name, GraphId)>,
    pub(crate) field_types: HashMap<(Name, Name, GraphId), ast::Type>,
    pub(crate) overrides: HashMap<(Name, Name), LabeledOverride>,
    pub(crate) labels: Vec<String>,
}

/// A progressive `@override(label:)`: while the label is active the field
/// is resolved by `to`, otherwise by the `from` subgraphs.
#[derive(Debug, Clone)]
pub struct LabeledOverride {
    /// Index into [`JoinTables::override_labels`].
    pub label: usize,
    /// The overriding subgraph.
    pub to: GraphId,
    /// The subgraphs the field is taken from.
    pub from: Vec<GraphId>,
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

    /// Subgraphs that resolve `type_name.field_name` when the override
    /// labels flagged in `active` (by index into [`Self::override_labels`])
    /// are on.
    pub fn field_graphs_with(
        &self,
        type_name: &Name,
        field_name: &Name,
        active: &[bool],
    ) -> Option<GraphSet> {
        let mut graphs = self
            .fields
            .get(&(type_name.clone(), field_name.clone()))?
            .clone();
        if let Some(labeled) = self.overrides.get(&(type_name.clone(), field_name.clone())) {
            if active.get(labeled.label).copied().unwrap_or(false) {
                for from in &labeled.from {
                    graphs.remove(*from);
                }
            } else {
                graphs.remove(labeled.to);
            }
        }
        Some(graphs)
    }

    /// The distinct progressive-override labels of the supergraph.
    pub fn override_labels(&self) -> &[String] {
        &self.labels
    }

    /// The `@key`s of an entity type, in every subgraph.
    pub fn keys(&self, type_name: &str) -> &[EntityKey] {
        self.keys.get(type_name).map_or(&[], Vec::as_slice)
    }

    /// `requires`/`provides` of a field in one subgraph.
    pub fn field_join(
        &self,
        type_name: &Name,
        field_name: &Name,
        graph: GraphId,
    ) -> Option<&FieldJoin> {
        self.field_joins
            .get(&(type_name.clone(), field_name.clone(), graph))
    }

    /// The type a field has in one subgraph when `@join__field(type:)` says
    /// so (it may differ from the supergraph's: nullability, or an object
    /// where the supergraph has a union).
    pub fn field_type_in(
        &self,
        type_name: &Name,
        field_name: &Name,
        graph: GraphId,
    ) -> Option<&ast::Type> {
        self.field_types
            .get(&(type_name.clone(), field_name.clone(), graph))
    }

    /// The object types a subgraph can return for an abstract type.
    pub fn possible_types(&self, abstract_type: &Name, graph: GraphId) -> &[Name] {
        self.possible
            .get(&(abstract_type.clone(), graph))
            .map_or(&[], Vec::as_slice)
    }

    /// The type an entity fetch to `graph` uses for an object of type
    /// `object`: the object itself when the subgraph defines it, else an
    /// interface it implements that the subgraph has as `@interfaceObject`.
    pub fn entity_type_in(&self, schema: &Schema, object: &Name, graph: GraphId) -> Option<Name> {
        if self.types.get(object).is_some_and(|g| g.contains(graph)) {
            return Some(object.clone());
        }
        let ExtendedType::Object(def) = schema.types.get(object)? else {
            return None;
        };
        def.implements_interfaces
            .iter()
            .find(|i| self.interface_objects.contains(&(i.name.clone(), graph)))
            .map(|i| i.name.clone())
    }

    /// Whether `type_name` is an `@interfaceObject` in `graph`.
    pub fn is_interface_object(&self, type_name: &Name, graph: GraphId) -> bool {
        self.interface_objects.contains(&(type_name.clone(), graph))
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
pub(crate) fn read_tables(
    schema: &Valid<Schema>,
    join: &Link,
    subgraphs: &[SubgraphInfo],
) -> Result<JoinTables, SupergraphError> {
    let type_directive = join.directive_name("type");
    let field_directive = join.directive_name("field");
    let member_directive = join.directive_name("unionMember");
    let implements_directive = join.directive_name("implements");
    let graph_id = |value: Option<&Value>| -> Option<GraphId> {
        let name = value?.as_enum()?;
        subgraphs.iter().position(|s| s.enum_value == *name)
    };
    let all = GraphSet::all(subgraphs.len());
    let mut tables = JoinTables::default();
    // (object, graph) -> interfaces it implements there, from @join__implements.
    let mut implements: HashMap<(Name, GraphId), Vec<Name>> = HashMap::new();
    let mut has_implements_directive: HashSet<Name> = HashSet::new();
    let mut from_interface_objects: Vec<(Name, Name)> = Vec::new();

    for (type_name, ty) in &schema.types {
        if ty.is_built_in() {
            continue;
        }
        let mut graphs = GraphSet::default();
        let mut declared = false;
        for directive in ty.directives().get_all(&type_directive) {
            declared = true;
            let Some(id) = graph_id(directive.specified_argument_by_name("graph").map(|v| &**v))
            else {
                continue;
            };
            graphs.insert(id);
            let flag = |name: &str| {
                directive
                    .specified_argument_by_name(name)
                    .and_then(|v| v.to_bool())
            };
            if flag("isInterfaceObject") == Some(true) {
                tables.interface_objects.insert((type_name.clone(), id));
            }
            if let Some(key) = directive
                .specified_argument_by_name("key")
                .and_then(|v| v.as_str())
            {
                let fields = parse_field_set(schema, type_name, key, "key")?;
                tables
                    .keys
                    .entry(type_name.clone())
                    .or_default()
                    .push(EntityKey {
                        graph: id,
                        fields,
                        resolvable: flag("resolvable") != Some(false),
                    });
            }
        }
        if let ExtendedType::Union(union_) = ty {
            for directive in union_.directives.get_all(&member_directive) {
                declared = true;
                let id = graph_id(directive.specified_argument_by_name("graph").map(|v| &**v));
                let member = directive
                    .specified_argument_by_name("member")
                    .and_then(|v| v.as_str());
                if let (Some(id), Some(member)) = (id, member) {
                    graphs.insert(id);
                    if let Ok(member) = Name::new(member) {
                        tables
                            .possible
                            .entry((type_name.clone(), id))
                            .or_default()
                            .push(member);
                    }
                }
            }
        }
        for directive in ty.directives().get_all(&implements_directive) {
            has_implements_directive.insert(type_name.clone());
            let id = graph_id(directive.specified_argument_by_name("graph").map(|v| &**v));
            let interface = directive
                .specified_argument_by_name("interface")
                .and_then(|v| v.as_str())
                .and_then(|i| Name::new(i).ok());
            if let (Some(id), Some(interface)) = (id, interface) {
                implements
                    .entry((type_name.clone(), id))
                    .or_default()
                    .push(interface);
            }
        }
        let graphs = if declared { graphs } else { all.clone() };

        let fields = match ty {
            ExtendedType::Object(o) => Some(&o.fields),
            ExtendedType::Interface(i) => Some(&i.fields),
            _ => None,
        };
        for (field_name, field) in fields.into_iter().flatten() {
            let field_graphs = match field_graphs(&field.directives, &field_directive, &graph_id) {
                Some(graphs) => graphs,
                // `@join__field` without a graph: contributed by an
                // `@interfaceObject` elsewhere; filled in below.
                None if field.directives.get(&field_directive).is_some() => {
                    from_interface_objects.push((type_name.clone(), field_name.clone()));
                    GraphSet::default()
                }
                None => graphs.clone(),
            };
            let mut labeled: Vec<(String, GraphId, bool)> = Vec::new();
            for directive in field.directives.get_all(&field_directive) {
                let Some(id) =
                    graph_id(directive.specified_argument_by_name("graph").map(|v| &**v))
                else {
                    continue;
                };
                let field_set =
                    |name: &str,
                     target: &Name|
                     -> Result<Option<Arc<SelectionSet>>, SupergraphError> {
                        match directive
                            .specified_argument_by_name(name)
                            .and_then(|v| v.as_str())
                        {
                            Some(source) => parse_field_set(schema, target, source, name).map(Some),
                            None => Ok(None),
                        }
                    };
                if let Some(ty) = directive
                    .specified_argument_by_name("type")
                    .and_then(|v| v.as_str())
                    .and_then(|t| ast::Type::parse(t, "type.graphql").ok())
                {
                    tables
                        .field_types
                        .insert((type_name.clone(), field_name.clone(), id), ty);
                }
                if let Some(label) = directive
                    .specified_argument_by_name("overrideLabel")
                    .and_then(|v| v.as_str())
                {
                    let overriding = directive.specified_argument_by_name("override").is_some();
                    labeled.push((label.to_owned(), id, overriding));
                }
                let requires = field_set("requires", type_name)?;
                let provides = field_set("provides", field.ty.inner_named_type())?;
                if requires.is_some() || provides.is_some() {
                    tables.field_joins.insert(
                        (type_name.clone(), field_name.clone(), id),
                        FieldJoin { requires, provides },
                    );
                }
            }
            if let Some((label, to, _)) = labeled.iter().find(|(_, _, overriding)| *overriding) {
                let index = match tables.labels.iter().position(|l| l == label) {
                    Some(index) => index,
                    None => {
                        tables.labels.push(label.clone());
                        tables.labels.len() - 1
                    }
                };
                let from = labeled
                    .iter()
                    .filter(|(l, _, overriding)| l == label && !overriding)
                    .map(|(_, graph, _)| *graph)
                    .collect();
                tables.overrides.insert(
                    (type_name.clone(), field_name.clone()),
                    LabeledOverride {
                        label: index,
                        to: *to,
                        from,
                    },
                );
            }
            tables
                .fields
                .insert((type_name.clone(), field_name.clone()), field_graphs);
        }
        tables.types.insert(type_name.clone(), graphs);
    }

    // Fields an object gets from an interface that is an @interfaceObject in
    // some subgraph are resolved there, through the interface's key.
    for (type_name, field_name) in from_interface_objects {
        let mut graphs = GraphSet::default();
        if let Some(ExtendedType::Object(object)) = schema.types.get(&type_name) {
            for interface in &object.implements_interfaces {
                let Some(interface_graphs) = tables
                    .fields
                    .get(&(interface.name.clone(), field_name.clone()))
                else {
                    continue;
                };
                for graph in interface_graphs.iter() {
                    if tables
                        .interface_objects
                        .contains(&(interface.name.clone(), graph))
                    {
                        graphs.insert(graph);
                    }
                }
            }
        }
        tables.fields.insert((type_name, field_name), graphs);
    }

    // Possible object types of each interface, per subgraph.
    for (type_name, ty) in &schema.types {
        let ExtendedType::Object(object) = ty else {
            continue;
        };
        let Some(graphs) = tables.types.get(type_name).cloned() else {
            continue;
        };
        for graph in graphs.iter() {
            let interfaces: Vec<Name> = if has_implements_directive.contains(type_name) {
                implements
                    .get(&(type_name.clone(), graph))
                    .cloned()
                    .unwrap_or_default()
            } else {
                object
                    .implements_interfaces
                    .iter()
                    .map(|i| i.name.clone())
                    .collect()
            };
            for interface in interfaces {
                tables
                    .possible
                    .entry((interface, graph))
                    .or_default()
                    .push(type_name.clone());
            }
        }
    }
    // Unions without @join__unionMember: every member the subgraph defines.
    for (type_name, ty) in &schema.types {
        let ExtendedType::Union(union_) = ty else {
            continue;
        };
        if union_.directives.get(&member_directive).is_some() {
            continue;
        }
        for graph in all.iter() {
            let members: Vec<Name> = union_
                .members
                .iter()
                .filter(|m| tables.types.get(&m.name).is_some_and(|g| g.contains(graph)))
                .map(|m| m.name.clone())
                .collect();
            if !members.is_empty() {
                tables.possible.insert((type_name.clone(), graph), members);
            }
        }
    }
    Ok(tables)
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

fn parse_field_set(
    schema: &Valid<Schema>,
    type_name: &Name,
    source: &str,
    what: &str,
) -> Result<Arc<SelectionSet>, SupergraphError> {
    FieldSet::parse_and_validate(schema, type_name.clone(), source, "field_set.graphql")
        .map(|set| Arc::new(set.into_inner().selection_set))
        .map_err(|e| {
            SupergraphError::Invalid(format!(
                "the {what} field set \"{source}\" on `{type_name}` is invalid: {}",
                e.errors
            ))
        })
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
