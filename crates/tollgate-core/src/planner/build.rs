//! Builds fetch groups from an operation: walks the client's selections,
//! keeps each field in the subgraph fetch already open at its position when
//! that subgraph can resolve it, and otherwise crosses to another subgraph
//! through an entity key (`_entities`), adding the key and any `@requires`
//! fields to the fetches that must provide them. Where several subgraphs
//! could serve a field (`@shareable`, `@provides`, overrides), the one with
//! the fewest further hops for the whole sub-selection wins.
//!
//! The walk also tracks which subgraphs could resolve each position
//! ([`Pos::candidates`]): below a `@shareable` field, or a field of an
//! entity any keyed subgraph resolves, more than one could. A union's
//! members are then only those every such subgraph has; a member only some
//! of them return is not selected (its fields answer `null`), so the answer
//! does not depend on which of them the plan happens to use.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use apollo_compiler::ast;
use apollo_compiler::executable::{
    ExecutableDocument, Field, Operation, OperationType, Selection as ExecSelection, SelectionSet,
};
use apollo_compiler::{Name, Node};

use super::selection::{conditions, conflict_key, internal_key, Selection};
use super::{PathElem, PlanError};
use crate::supergraph::{EntityKey, GraphId, GraphSet, Supergraph};

mod choose;
mod interface_object;

/// Deepest selection nesting the planner follows (the parser's own limit
/// is lower; this only guards the recursion).
const MAX_DEPTH: usize = 256;

/// Cost of one more fetch, in the planner's cost units (one unit per field
/// moved to a later fetch).
const HOP: u32 = 1000;

/// How many entity hops deep the planner looks for a key's own fields.
const MAX_KEY_HOPS: usize = 4;

/// What a fetch group fetches.
#[derive(Debug, Clone)]
pub(crate) enum GroupKind {
    /// Root fields of the operation.
    Root,
    /// Entities of `type_name` at `path`, from representations selected by
    /// `representation`.
    Entity {
        type_name: Name,
        path: Vec<PathElem>,
        representation: Selection,
    },
}

/// One future subgraph fetch.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub graph: GraphId,
    pub kind: GroupKind,
    pub selection: Selection,
    pub deps: BTreeSet<usize>,
    pub parent: Option<usize>,
    /// Aliases to rename back in this fetch's response (alias, client key).
    pub renames: Vec<(Name, Name)>,
    /// Mutation root fields run in order; each run of consecutive root
    /// fields of one subgraph is a chunk, and chunks run in sequence.
    pub chunk: usize,
}

/// Where the walk is: a group, a position in its selection, the response
/// path, and the fields a `@provides` made local there.
#[derive(Debug, Clone)]
struct Pos {
    group: usize,
    selection: Vec<usize>,
    path: Vec<PathElem>,
    provided: Option<Arc<Provided>>,
    /// The subgraphs that could resolve the field this position is the
    /// sub-selection of (every subgraph at the root).
    candidates: Arc<GraphSet>,
}

/// Fields made resolvable by `@provides`, as a tree by field name, with
/// the parts under type conditions (`... on Book { title }`) kept per type.
#[derive(Debug, Default)]
struct Provided {
    fields: HashMap<Name, Arc<Provided>>,
    by_type: HashMap<Name, Provided>,
}

impl Provided {
    fn from_set(set: &SelectionSet) -> Arc<Self> {
        let mut provided = Provided::default();
        provided.add(set);
        Arc::new(provided)
    }

    fn add(&mut self, set: &SelectionSet) {
        for selection in &set.selections {
            match selection {
                ExecSelection::Field(field) => {
                    let mut nested = Provided::default();
                    nested.add(&field.selection_set);
                    self.fields.insert(field.name.clone(), Arc::new(nested));
                }
                ExecSelection::InlineFragment(inline) => match &inline.type_condition {
                    Some(condition) => self
                        .by_type
                        .entry(condition.clone())
                        .or_default()
                        .add(&inline.selection_set),
                    None => self.add(&inline.selection_set),
                },
                ExecSelection::FragmentSpread(_) => {}
            }
        }
    }

    /// The provided sub-tree of `field` on objects of `type_name`, if provided.
    fn child(&self, type_name: &Name, field: &Name) -> Option<Arc<Provided>> {
        self.fields
            .get(field)
            .cloned()
            .or_else(|| self.by_type.get(type_name)?.child(type_name, field))
    }

    fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.by_type.is_empty()
    }
}

/// How a field gets resolved from a position.
#[derive(Debug, Clone)]
enum Choice {
    /// In the fetch already open there.
    Stay,
    /// Through an entity fetch to another (or the same) subgraph; key
    /// fields the open fetch lacks are planned like requirements.
    Jump { graph: GraphId, key: EntityKey },
}

pub(crate) struct Builder<'a> {
    supergraph: &'a Supergraph,
    /// Progressive-override labels on for this plan.
    active: &'a [bool],
    document: &'a ExecutableDocument,
    pub groups: Vec<Group>,
    touched: Option<BTreeSet<usize>>,
    memo: HashMap<(GraphId, Name, usize), Option<u32>>,
    key_stack: Vec<(GraphId, Name, GraphId)>,
    parts: Vec<Node<Field>>,
    /// Above zero while planning keys and requirements (fields the client
    /// did not ask for).
    internal: usize,
    pub has_introspection: bool,
    chunk: usize,
}

impl<'a> Builder<'a> {
    pub(super) fn new(
        supergraph: &'a Supergraph,
        document: &'a ExecutableDocument,
        active: &'a [bool],
    ) -> Self {
        Self {
            supergraph,
            active,
            document,
            groups: Vec::new(),
            touched: None,
            memo: HashMap::new(),
            key_stack: Vec::new(),
            parts: Vec::new(),
            internal: 0,
            has_introspection: false,
            chunk: 0,
        }
    }

    /// Plans every root field of the operation.
    pub(super) fn plan(&mut self, operation: &Operation) -> Result<(), PlanError> {
        let root = operation.selection_set.ty.clone();
        let kind = operation.operation_type;
        self.root_set(&root, kind, &operation.selection_set, &[])
    }

    fn root_set(
        &mut self,
        root: &Name,
        kind: OperationType,
        set: &SelectionSet,
        wrappers: &[ast::DirectiveList],
    ) -> Result<(), PlanError> {
        for selection in &set.selections {
            match selection {
                ExecSelection::Field(field) => {
                    if field.name.starts_with("__") {
                        if field.name != "__typename" {
                            self.has_introspection = true;
                        }
                        continue;
                    }
                    self.root_field(root, kind, field, wrappers)?;
                }
                ExecSelection::InlineFragment(inline) => {
                    let mut inner = wrappers.to_vec();
                    let directives = conditions(&inline.directives);
                    if !directives.is_empty() {
                        inner.push(directives);
                    }
                    self.root_set(root, kind, &inline.selection_set, &inner)?;
                }
                ExecSelection::FragmentSpread(spread) => {
                    let Some(fragment) = self.document.fragments.get(&spread.fragment_name) else {
                        continue;
                    };
                    let mut inner = wrappers.to_vec();
                    let directives = conditions(&spread.directives);
                    if !directives.is_empty() {
                        inner.push(directives);
                    }
                    self.root_set(root, kind, &fragment.selection_set, &inner)?;
                }
            }
        }
        Ok(())
    }

    fn root_field(
        &mut self,
        root: &Name,
        kind: OperationType,
        field: &Node<Field>,
        wrappers: &[ast::DirectiveList],
    ) -> Result<(), PlanError> {
        let graphs: Vec<GraphId> = self.join_field_graphs(root, &field.name).ok_or_else(|| {
            PlanError::Unsatisfiable(format!("no subgraph resolves `{root}.{}`", field.name))
        })?;
        if let Some(graph) = self.best_root_graph(root, kind, field, &graphs) {
            return self.root_field_in(root, kind, field, wrappers, graph);
        }
        // No subgraph serves the whole sub-selection: split it by parts
        // (a shared root field asked of several subgraphs).
        if field.selection_set.selections.len() > 1 {
            let mut parts: Vec<(GraphId, Vec<ExecSelection>)> = Vec::new();
            let mut complete = true;
            for unit in field.selection_set.selections.clone() {
                let part = self.part_of(field, vec![unit.clone()]);
                match self.best_root_graph(root, kind, &part, &graphs) {
                    Some(graph) => match parts.iter_mut().find(|(g, _)| *g == graph) {
                        Some((_, units)) => units.push(unit),
                        None => parts.push((graph, vec![unit])),
                    },
                    None => {
                        complete = false;
                        break;
                    }
                }
            }
            if complete {
                for (graph, units) in parts {
                    let part = self.part_of(field, units);
                    self.root_field_in(root, kind, &part, wrappers, graph)?;
                }
                return Ok(());
            }
        }
        // Plan from the first subgraph anyway: the walk then names the
        // unreachable field.
        let graph = first_graph(Some(graphs))?;
        self.root_field_in(root, kind, field, wrappers, graph)
    }

    /// The cheapest subgraph for a root field, preferring one whose root
    /// fetch already exists.
    fn best_root_graph(
        &mut self,
        root: &Name,
        kind: OperationType,
        field: &Node<Field>,
        graphs: &[GraphId],
    ) -> Option<GraphId> {
        let mut best: Option<(u32, GraphId)> = None;
        for graph in graphs.iter().copied() {
            let provided = self.provides(root, &field.name, graph);
            let Some(cost) = self.child_cost(graph, field, provided.as_ref(), 0) else {
                continue;
            };
            let reuse = self.root_group(kind, graph).is_some();
            let better = match best {
                None => true,
                Some((best_cost, best_graph)) => {
                    cost < best_cost
                        || (cost == best_cost
                            && reuse
                            && self.root_group(kind, best_graph).is_none())
                }
            };
            if better {
                best = Some((cost, graph));
            }
        }
        best.map(|(_, graph)| graph)
    }

    fn root_field_in(
        &mut self,
        root: &Name,
        kind: OperationType,
        field: &Node<Field>,
        wrappers: &[ast::DirectiveList],
        graph: GraphId,
    ) -> Result<(), PlanError> {
        let group = match self.root_group(kind, graph) {
            Some(group) => group,
            None => {
                if kind == OperationType::Mutation && !self.groups.is_empty() {
                    self.chunk += 1;
                }
                self.groups.push(Group {
                    graph,
                    kind: GroupKind::Root,
                    selection: Selection::default(),
                    deps: BTreeSet::new(),
                    parent: None,
                    renames: Vec::new(),
                    chunk: self.chunk,
                });
                self.groups.len() - 1
            }
        };
        let mut pos = Pos {
            group,
            selection: Vec::new(),
            path: Vec::new(),
            provided: None,
            candidates: Arc::new(GraphSet::all(self.supergraph.subgraphs().len())),
        };
        for directives in wrappers {
            let index = self.selection_mut(&pos)?.add_fragment(None, directives);
            pos.selection.push(index);
        }
        self.add_and_descend(&pos, root, field, graph)
    }

    /// The root group for `graph` that a new root field may join: any for
    /// queries; for mutations only the last one (fields run in order).
    fn root_group(&self, kind: OperationType, graph: GraphId) -> Option<usize> {
        let mut roots = self
            .groups
            .iter()
            .enumerate()
            .filter(|(_, g)| matches!(g.kind, GroupKind::Root));
        if kind == OperationType::Mutation {
            roots
                .next_back()
                .filter(|(_, g)| g.graph == graph)
                .map(|(i, _)| i)
        } else {
            roots.find(|(_, g)| g.graph == graph).map(|(i, _)| i)
        }
    }

    // ----- the walk -----

    fn walk_set(
        &mut self,
        pos: &Pos,
        parent: &Name,
        set: &SelectionSet,
        depth: usize,
    ) -> Result<(), PlanError> {
        check_depth(depth)?;
        let graph = self.groups[pos.group].graph;
        if self.is_abstract(parent) && self.supergraph.join().is_interface_object(parent, graph) {
            return self.walk_interface_object(pos, parent, set, depth);
        }
        if self.is_abstract(parent) {
            self.selection_mut(pos)?.add_typename();
            let types = self.members_everywhere(parent, graph, &pos.candidates);
            if types.is_empty() {
                // The subgraph knows no implementation: only the interface's
                // own fields can be asked for (through its key elsewhere).
                return self.walk_object(pos, parent, set, depth + 1);
            }
            for object in types {
                if !self.selects_fields_on(&object, set) {
                    continue;
                }
                let index = self
                    .selection_mut(pos)?
                    .add_fragment(Some(&object), &ast::DirectiveList::new());
                let mut inner = pos.clone();
                inner.selection.push(index);
                self.walk_object(&inner, &object, set, depth + 1)?;
            }
            Ok(())
        } else {
            self.walk_object(pos, parent, set, depth + 1)
        }
    }

    /// The subgraphs that could resolve `parent.field` at a position that
    /// `level` could resolve: those of them that resolve the field, and,
    /// when `parent` is an entity, any subgraph that resolves it by key.
    fn field_candidates(&self, level: &GraphSet, parent: &Name, field: &Name) -> GraphSet {
        let join = self.supergraph.join();
        let mut reach = level.clone();
        for key in join.keys(parent).iter().filter(|k| k.resolvable) {
            reach.insert(key.graph);
        }
        let mut graphs = join
            .field_graphs_with(parent, field, self.active)
            .unwrap_or_default();
        graphs.intersect_with(&reach);
        graphs
    }

    /// The object types to select for an abstract type in `graph`. For a
    /// union, only the members every candidate subgraph that has the union
    /// also has (see the module docs); for an interface, every type `graph`
    /// can return.
    fn members_everywhere(
        &self,
        parent: &Name,
        graph: GraphId,
        candidates: &GraphSet,
    ) -> Vec<Name> {
        let join = self.supergraph.join();
        let mut types = join.possible_types(parent, graph).to_vec();
        let is_union = matches!(
            self.supergraph.supergraph_schema().types.get(parent),
            Some(apollo_compiler::schema::ExtendedType::Union(_))
        );
        if !is_union {
            return types;
        }
        let defines = join.type_graphs(parent);
        for other in candidates.iter() {
            if other == graph || !defines.is_some_and(|d| d.contains(other)) {
                continue;
            }
            let theirs = join.possible_types(parent, other);
            types.retain(|t| theirs.contains(t));
        }
        types
    }

    fn walk_object(
        &mut self,
        pos: &Pos,
        object: &Name,
        set: &SelectionSet,
        depth: usize,
    ) -> Result<(), PlanError> {
        for selection in &set.selections {
            match selection {
                ExecSelection::Field(field) => {
                    if field.name.starts_with("__") {
                        continue;
                    }
                    self.plan_field(pos, object, field, depth)?;
                }
                ExecSelection::InlineFragment(inline) => {
                    if let Some(condition) = &inline.type_condition {
                        if !self.applies(condition, object) {
                            continue;
                        }
                    }
                    let inner = self.conditional(pos, &inline.directives)?;
                    self.walk_object(&inner, object, &inline.selection_set, depth + 1)?;
                }
                ExecSelection::FragmentSpread(spread) => {
                    let Some(fragment) = self.document.fragments.get(&spread.fragment_name) else {
                        continue;
                    };
                    if !self.applies(fragment.type_condition(), object) {
                        continue;
                    }
                    let inner = self.conditional(pos, &spread.directives)?;
                    self.walk_object(&inner, object, &fragment.selection_set, depth + 1)?;
                }
            }
        }
        Ok(())
    }

    /// The position inside a condition-only fragment carrying `@skip`/`@include`.
    fn conditional(
        &mut self,
        pos: &Pos,
        directives: &ast::DirectiveList,
    ) -> Result<Pos, PlanError> {
        let directives = conditions(directives);
        if directives.is_empty() {
            return Ok(pos.clone());
        }
        let index = self.selection_mut(pos)?.add_fragment(None, &directives);
        let mut inner = pos.clone();
        inner.selection.push(index);
        Ok(inner)
    }

    fn plan_field(
        &mut self,
        pos: &Pos,
        object: &Name,
        field: &Node<Field>,
        depth: usize,
    ) -> Result<(), PlanError> {
        let graph = self.groups[pos.group].graph;
        match self.choose(graph, pos.provided.as_ref(), object, field, depth) {
            Ok(choice) => self.apply_choice(pos, object, field, choice, depth),
            Err(error) => {
                // No single subgraph serves the whole sub-selection: resolve
                // the field once per part, each part where it can be.
                let Some(parts) = self.split(pos, object, field, depth) else {
                    return Err(error);
                };
                for (choice, part) in parts {
                    self.apply_choice(pos, object, &part, choice, depth)?;
                }
                Ok(())
            }
        }
    }

    /// Splits a composite field's sub-selection into parts, each with a
    /// choice that can resolve it; parts with the same choice are merged.
    fn split(
        &mut self,
        pos: &Pos,
        object: &Name,
        field: &Node<Field>,
        depth: usize,
    ) -> Option<Vec<(Choice, Node<Field>)>> {
        if field.selection_set.selections.len() < 2 {
            return None;
        }
        let graph = self.groups[pos.group].graph;
        let mut groups: Vec<(Choice, Vec<ExecSelection>)> = Vec::new();
        for unit in field.selection_set.selections.clone() {
            let part = self.part_of(field, vec![unit.clone()]);
            let (_, choice) =
                self.best_choice(graph, pos.provided.as_ref(), object, &part, depth + 1)?;
            match groups.iter_mut().find(|(c, _)| same_choice(c, &choice)) {
                Some((_, units)) => units.push(unit),
                None => groups.push((choice, vec![unit])),
            }
        }
        Some(
            groups
                .into_iter()
                .map(|(choice, units)| {
                    let part = self.part_of(field, units);
                    (choice, part)
                })
                .collect(),
        )
    }

    fn apply_choice(
        &mut self,
        pos: &Pos,
        object: &Name,
        field: &Node<Field>,
        choice: Choice,
        depth: usize,
    ) -> Result<(), PlanError> {
        let graph = self.groups[pos.group].graph;
        match choice {
            Choice::Stay => self.add_and_descend_with(pos, object, field, graph, depth),
            Choice::Jump { graph: target, key } => {
                let entity_type = self.entity_type(object, target);
                let requires = self
                    .supergraph
                    .join()
                    .field_join(&entity_type, &field.name, target)
                    .and_then(|j| j.requires.clone());
                let group = self.entity_group(pos, object, target, &key, requires.as_deref())?;
                let entity = Pos {
                    group,
                    selection: Vec::new(),
                    path: pos.path.clone(),
                    provided: None,
                    candidates: pos.candidates.clone(),
                };
                self.add_and_descend_with(&entity, &entity_type, field, target, depth)
            }
        }
    }

    fn add_and_descend(
        &mut self,
        pos: &Pos,
        parent: &Name,
        field: &Node<Field>,
        graph: GraphId,
    ) -> Result<(), PlanError> {
        self.add_and_descend_with(pos, parent, field, graph, 0)
    }

    /// Adds `field` at `pos` (whose group is in `graph`) and plans its sub-selection.
    fn add_and_descend_with(
        &mut self,
        pos: &Pos,
        parent: &Name,
        field: &Node<Field>,
        graph: GraphId,
        depth: usize,
    ) -> Result<(), PlanError> {
        let composite = !field.selection_set.selections.is_empty();
        let join = self.supergraph.join();
        let subgraph_type = join
            .field_type_in(parent, &field.name, graph)
            .cloned()
            .unwrap_or_else(|| field.ty().clone());
        let type_text = subgraph_type.to_string();
        // Fields the planner adds with arguments get a reserved alias; a
        // client field whose subgraph type clashes with another selection of
        // its response key gets one too and is renamed back on receipt.
        let (fetched_key, data_key) = if self.internal > 0 && !field.arguments.is_empty() {
            let key = internal_key(field);
            (key.clone(), key)
        } else {
            let group = &self.groups[pos.group];
            let level_len = group.selection.level_of(&pos.selection);
            let conflict = group
                .selection
                .at(&pos.selection[..level_len])
                .is_some_and(|level| level.type_conflict(field.response_key(), &type_text));
            if conflict {
                let alias = conflict_key(field.response_key(), &type_text);
                let rename = (alias.clone(), field.response_key().clone());
                let renames = &mut self.groups[pos.group].renames;
                if !renames.contains(&rename) {
                    renames.push(rename);
                }
                (alias, field.response_key().clone())
            } else {
                (field.response_key().clone(), field.response_key().clone())
            }
        };
        let selection = self.selection_mut(pos)?;
        let index = selection.add_field(
            &fetched_key,
            &field.name,
            &field.arguments,
            &conditions(&field.directives),
            composite,
        );
        selection.set_type(index, type_text);
        if !composite {
            return Ok(());
        }
        let mut path = pos.path.clone();
        path.push(PathElem::Key(data_key));
        for _ in 0..list_depth(field.ty()) {
            path.push(PathElem::List);
        }
        let provided = pos
            .provided
            .as_ref()
            .and_then(|p| p.child(parent, &field.name))
            .filter(|p| !p.is_empty())
            .or_else(|| self.provides(parent, &field.name, graph));
        let mut selection = pos.selection.clone();
        selection.push(index);
        let child = Pos {
            group: pos.group,
            selection,
            path,
            provided,
            candidates: Arc::new(self.field_candidates(&pos.candidates, parent, &field.name)),
        };
        let child_type = subgraph_type.inner_named_type().clone();
        if child_type != field.selection_set.ty && self.is_abstract(&field.selection_set.ty) {
            // The client's type is abstract: the response needs `__typename`.
            self.selection_mut(&child)?.add_typename();
        }
        self.walk_set(&child, &child_type, &field.selection_set, depth + 1)
    }

    /// Finds or creates the entity fetch of `object`s at `from` in `target`,
    /// adding the key (and requirements) to the fetches that provide them.
    fn entity_group(
        &mut self,
        from: &Pos,
        object: &Name,
        target: GraphId,
        key: &EntityKey,
        requires: Option<&SelectionSet>,
    ) -> Result<usize, PlanError> {
        let entity_type = self.entity_type(object, target);
        let mut representation = Selection::default();
        representation.add_typename();
        representation.merge_field_set(&key.fields);
        // The key (and requirements) come from the fetch open at `from`, or
        // from the fetches the planner adds to supply them.
        self.selection_mut(from)?.add_typename();
        let mut deps = BTreeSet::from([from.group]);
        deps.extend(self.tracked(|this| this.walk_object(from, object, &key.fields, 0))?);
        if let Some(set) = requires {
            representation.merge_field_set(set);
            deps.extend(self.tracked(|this| this.walk_object(from, object, set, 0))?);
        }
        // One entity fetch per subgraph, path, type and parent, even when
        // fields need different requirements (subgraphs may have side
        // effects per call) — unless a supplier depends on that fetch.
        let existing = self.groups.iter().position(|g| {
            g.graph == target
                && g.parent == Some(from.group)
                && matches!(&g.kind, GroupKind::Entity { type_name, path, .. }
                    if *type_name == entity_type && *path == from.path)
        });
        let existing = existing.filter(|e| {
            !deps.iter().any(|d| self.reaches(*d, *e, 0))
                && match &self.groups[*e].kind {
                    // A representation carries one value per field name: the
                    // same field with other arguments needs its own fetch.
                    GroupKind::Entity {
                        representation: existing,
                        ..
                    } => !existing.argument_clash(&representation),
                    GroupKind::Root => false,
                }
        });
        if let Some(index) = existing {
            let group = &mut self.groups[index];
            group.deps.extend(deps);
            if let GroupKind::Entity {
                representation: existing,
                ..
            } = &mut group.kind
            {
                existing.merge_selection(&representation);
            }
            return Ok(index);
        }
        let chunk = self.groups[from.group].chunk;
        self.groups.push(Group {
            graph: target,
            kind: GroupKind::Entity {
                type_name: entity_type,
                path: from.path.clone(),
                representation,
            },
            selection: Selection::default(),
            deps,
            parent: Some(from.group),
            renames: Vec::new(),
            chunk,
        });
        Ok(self.groups.len() - 1)
    }

    /// Whether group `from` depends (transitively) on group `to`.
    fn reaches(&self, from: usize, to: usize, depth: usize) -> bool {
        if from == to {
            return true;
        }
        if depth > self.groups.len() {
            return false;
        }
        self.groups[from]
            .deps
            .iter()
            .any(|d| *d != from && self.reaches(*d, to, depth + 1))
    }

    /// Runs `plan` and returns the groups it added fields to.
    fn tracked(
        &mut self,
        plan: impl FnOnce(&mut Self) -> Result<(), PlanError>,
    ) -> Result<BTreeSet<usize>, PlanError> {
        let outer = self.touched.replace(BTreeSet::new());
        self.internal += 1;
        let result = plan(self);
        self.internal -= 1;
        let touched = std::mem::replace(&mut self.touched, outer).unwrap_or_default();
        result?;
        if let Some(outer) = &mut self.touched {
            outer.extend(touched.iter().copied());
        }
        Ok(touched)
    }

    fn selection_mut(&mut self, pos: &Pos) -> Result<&mut Selection, PlanError> {
        if let Some(touched) = &mut self.touched {
            touched.insert(pos.group);
        }
        self.groups[pos.group]
            .selection
            .at_mut(&pos.selection)
            .ok_or_else(|| PlanError::Internal("planner lost its place in a selection".to_owned()))
    }
}

/// Refuses selections nested beyond [`MAX_DEPTH`].
fn check_depth(depth: usize) -> Result<(), PlanError> {
    if depth > MAX_DEPTH {
        return Err(PlanError::Unsatisfiable(
            "the operation is nested too deeply".to_owned(),
        ));
    }
    Ok(())
}

fn first_graph(graphs: Option<Vec<GraphId>>) -> Result<GraphId, PlanError> {
    graphs
        .and_then(|g| g.first().copied())
        .ok_or_else(|| PlanError::Internal("a root field lost its subgraphs".to_owned()))
}

/// Number of fields in a selection set, nested ones included.
fn selection_size(set: &SelectionSet, depth: usize) -> u32 {
    if depth > MAX_DEPTH {
        return 0;
    }
    set.selections
        .iter()
        .map(|selection| match selection {
            ExecSelection::Field(field) => 1 + selection_size(&field.selection_set, depth + 1),
            ExecSelection::InlineFragment(inline) => {
                selection_size(&inline.selection_set, depth + 1)
            }
            ExecSelection::FragmentSpread(_) => 1,
        })
        .fold(0u32, u32::saturating_add)
}

fn same_choice(a: &Choice, b: &Choice) -> bool {
    match (a, b) {
        (Choice::Stay, Choice::Stay) => true,
        (Choice::Jump { graph: g1, key: k1 }, Choice::Jump { graph: g2, key: k2 }) => {
            g1 == g2 && Arc::ptr_eq(&k1.fields, &k2.fields)
        }
        _ => false,
    }
}

/// How many list wrappers a type has (`[[A!]]!` → 2).
fn list_depth(ty: &ast::Type) -> usize {
    match ty {
        ast::Type::Named(_) | ast::Type::NonNullNamed(_) => 0,
        ast::Type::List(inner) | ast::Type::NonNullList(inner) => 1 + list_depth(inner),
    }
}
