//! Choosing where a field is resolved: the cost model (hops first, then
//! fields moved to later fetches), entity keys a fetch can supply, field
//! locality (with `@provides` and `@requires`), and the schema questions the
//! walk asks.

use std::sync::Arc;

use apollo_compiler::executable::{Field, Selection as ExecSelection, SelectionSet};
use apollo_compiler::schema::ExtendedType;
use apollo_compiler::{Name, Node};

use super::{selection_size, Builder, Choice, Provided, HOP, MAX_DEPTH, MAX_KEY_HOPS};
use crate::planner::PlanError;
use crate::supergraph::{EntityKey, GraphId};

impl Builder<'_> {
    pub(super) fn choose(
        &mut self,
        graph: GraphId,
        provided: Option<&Arc<Provided>>,
        object: &Name,
        field: &Node<Field>,
        depth: usize,
    ) -> Result<Choice, PlanError> {
        self.best_choice(graph, provided, object, field, depth)
            .map(|(_, choice)| choice)
            .ok_or_else(|| {
                PlanError::Unsatisfiable(format!(
                    "cannot reach `{object}.{}` from subgraph `{}`: no entity key leads to a subgraph that resolves it",
                    field.name,
                    self.supergraph.subgraphs()[graph].name
                ))
            })
    }

    /// The cheapest single way to resolve `field` (with its whole
    /// sub-selection) from a fetch in `graph`, with its cost in hops.
    pub(super) fn best_choice(
        &mut self,
        graph: GraphId,
        provided: Option<&Arc<Provided>>,
        object: &Name,
        field: &Node<Field>,
        depth: usize,
    ) -> Option<(u32, Choice)> {
        let owners = self.join_field_graphs(object, &field.name)?;
        let local = self.is_local(graph, provided, object, &field.name);
        let composite = !field.selection_set.selections.is_empty();
        if local && !composite {
            return Some((0, Choice::Stay));
        }
        let mut best: Option<(u32, Choice)> = None;
        if local {
            let child_provided = provided
                .and_then(|p| p.child(object, &field.name))
                .filter(|p| !p.is_empty())
                .or_else(|| self.provides(object, &field.name, graph));
            if let Some(cost) = self.child_cost(graph, field, child_provided.as_ref(), depth) {
                best = Some((cost, Choice::Stay));
            }
        }
        if best.as_ref().is_some_and(|(cost, _)| *cost == 0) {
            return best;
        }
        for target in owners {
            if target == graph && local {
                continue;
            }
            let entity_type = self.entity_type(object, target);
            let requires = self
                .supergraph
                .join()
                .field_join(&entity_type, &field.name, target)
                .is_some_and(|j| j.requires.is_some());
            let Some((key, key_cost)) = self.key_to(graph, provided, object, target) else {
                continue;
            };
            let child_provided = self.provides(&entity_type, &field.name, target);
            let Some(child) = self.child_cost(target, field, child_provided.as_ref(), depth) else {
                continue;
            };
            // A hop costs far more than anything else; among plans with as
            // many hops, the one moving fewer fields to later fetches wins.
            let cost = HOP
                .saturating_mul(1 + u32::from(requires))
                .saturating_add(key_cost)
                .saturating_add(child)
                .saturating_add(selection_size(&field.selection_set, 0));
            if best.as_ref().is_none_or(|(b, _)| cost < *b) {
                best = Some((cost, Choice::Jump { graph: target, key }));
            }
        }
        best
    }

    /// A resolvable key of `object` in `target` that the fetch in `graph`
    /// can supply, with the hops needed to get its fields (0 when the fetch
    /// selects them itself).
    pub(super) fn key_to(
        &mut self,
        graph: GraphId,
        provided: Option<&Arc<Provided>>,
        object: &Name,
        target: GraphId,
    ) -> Option<(EntityKey, u32)> {
        let entity_type = self.entity_type(object, target);
        let keys: Vec<EntityKey> = self
            .supergraph
            .join()
            .keys(&entity_type)
            .iter()
            .filter(|k| k.graph == target && k.resolvable)
            .cloned()
            .collect();
        if let Some(key) = keys
            .iter()
            .find(|k| self.set_is_local(graph, provided, object, &k.fields))
        {
            return Some((key.clone(), 0));
        }
        let frame = (graph, object.clone(), target);
        if self.key_stack.len() >= MAX_KEY_HOPS || self.key_stack.contains(&frame) {
            return None;
        }
        self.key_stack.push(frame);
        let mut best: Option<(EntityKey, u32)> = None;
        for key in keys {
            if let Some(cost) = self.object_cost(graph, object, &key.fields, provided, 0) {
                if best.as_ref().is_none_or(|(_, b)| cost < *b) {
                    best = Some((key, cost));
                }
            }
        }
        self.key_stack.pop();
        best
    }

    /// Whether every field of a field set is selectable in `graph` without a hop.
    pub(super) fn set_is_local(
        &self,
        graph: GraphId,
        provided: Option<&Arc<Provided>>,
        parent: &Name,
        set: &SelectionSet,
    ) -> bool {
        set.selections.iter().all(|selection| match selection {
            ExecSelection::Field(field) => {
                field.name.starts_with("__")
                    || (self.is_local(graph, provided, parent, &field.name)
                        && self
                            .supergraph
                            .join()
                            .field_join(parent, &field.name, graph)
                            .is_none_or(|j| j.requires.is_none())
                        && (field.selection_set.selections.is_empty() || {
                            let nested = provided.and_then(|p| p.child(parent, &field.name));
                            self.set_is_local(
                                graph,
                                nested.as_ref(),
                                &field.selection_set.ty,
                                &field.selection_set,
                            )
                        }))
            }
            ExecSelection::InlineFragment(inline) => self.set_is_local(
                graph,
                provided,
                inline.type_condition.as_ref().unwrap_or(parent),
                &inline.selection_set,
            ),
            ExecSelection::FragmentSpread(_) => true,
        })
    }

    /// The type entity fetches to `target` use for `object`s (an interface
    /// that `target` has as `@interfaceObject`, else the object itself).
    pub(super) fn entity_type(&self, object: &Name, target: GraphId) -> Name {
        self.supergraph
            .join()
            .entity_type_in(self.supergraph.supergraph_schema(), object, target)
            .unwrap_or_else(|| object.clone())
    }

    pub(super) fn is_local(
        &self,
        graph: GraphId,
        provided: Option<&Arc<Provided>>,
        parent: &Name,
        field: &Name,
    ) -> bool {
        if provided.is_some_and(|p| p.child(parent, field).is_some()) {
            return true;
        }
        self.supergraph
            .join()
            .field_graphs_with(parent, field, self.active)
            .is_some_and(|g| g.contains(graph))
            && self
                .supergraph
                .join()
                .field_join(parent, field, graph)
                .is_none_or(|j| j.requires.is_none())
    }

    pub(super) fn join_field_graphs(&self, parent: &Name, field: &Name) -> Option<Vec<GraphId>> {
        let graphs: Vec<GraphId> = self
            .supergraph
            .join()
            .field_graphs_with(parent, field, self.active)?
            .iter()
            .collect();
        (!graphs.is_empty()).then_some(graphs)
    }

    pub(super) fn provides(
        &self,
        parent: &Name,
        field: &Name,
        graph: GraphId,
    ) -> Option<Arc<Provided>> {
        self.supergraph
            .join()
            .field_join(parent, field, graph)
            .and_then(|j| j.provides.as_deref())
            .map(Provided::from_set)
    }

    /// Hops needed below `field` when it is resolved in `graph`; `None` when
    /// some sub-field cannot be reached from there.
    pub(super) fn child_cost(
        &mut self,
        graph: GraphId,
        field: &Field,
        provided: Option<&Arc<Provided>>,
        depth: usize,
    ) -> Option<u32> {
        if field.selection_set.selections.is_empty() {
            return Some(0);
        }
        self.set_cost(
            graph,
            &field.selection_set.ty,
            &field.selection_set,
            provided,
            depth + 1,
        )
    }

    pub(super) fn set_cost(
        &mut self,
        graph: GraphId,
        parent: &Name,
        set: &SelectionSet,
        provided: Option<&Arc<Provided>>,
        depth: usize,
    ) -> Option<u32> {
        if depth > MAX_DEPTH {
            return Some(0);
        }
        let memo_key = (graph, parent.clone(), set as *const SelectionSet as usize);
        if provided.is_none() {
            if let Some(cost) = self.memo.get(&memo_key) {
                return *cost;
            }
        }
        let cost = if self.is_abstract(parent)
            && !self.supergraph.join().is_interface_object(parent, graph)
        {
            let types: Vec<Name> = self
                .supergraph
                .join()
                .possible_types(parent, graph)
                .to_vec();
            let mut total = 0u32;
            let mut ok = true;
            for object in types {
                match self.object_cost(graph, &object, set, provided, depth) {
                    Some(cost) => total = total.saturating_add(cost),
                    None => {
                        ok = false;
                        break;
                    }
                }
            }
            ok.then_some(total)
        } else {
            self.object_cost(graph, parent, set, provided, depth)
        };
        if provided.is_none() && self.key_stack.is_empty() {
            self.memo.insert(memo_key, cost);
        }
        cost
    }

    pub(super) fn object_cost(
        &mut self,
        graph: GraphId,
        object: &Name,
        set: &SelectionSet,
        provided: Option<&Arc<Provided>>,
        depth: usize,
    ) -> Option<u32> {
        let mut fields = Vec::new();
        self.fields_on(object, set, &mut fields, 0);
        let mut total = 0u32;
        for field in fields {
            let cost = match self.best_choice(graph, provided, object, &field, depth) {
                Some((cost, _)) => cost,
                None => self.split_cost(graph, provided, object, &field, depth)?,
            };
            total = total.saturating_add(cost);
        }
        Some(total)
    }

    /// Cost of resolving a field's sub-selection in parts from different
    /// subgraphs; `None` when some part cannot be resolved at all.
    pub(super) fn split_cost(
        &mut self,
        graph: GraphId,
        provided: Option<&Arc<Provided>>,
        object: &Name,
        field: &Node<Field>,
        depth: usize,
    ) -> Option<u32> {
        if field.selection_set.selections.len() < 2 || depth > MAX_DEPTH {
            return None;
        }
        let mut total = 0u32;
        for unit in field.selection_set.selections.clone() {
            let part = self.part_of(field, vec![unit]);
            let (cost, _) = self.best_choice(graph, provided, object, &part, depth + 1)?;
            total = total.saturating_add(cost);
        }
        Some(total)
    }

    /// A copy of `field` selecting only `units`, kept alive for the whole
    /// planning (the cost memo is keyed by selection-set addresses).
    pub(super) fn part_of(
        &mut self,
        field: &Node<Field>,
        units: Vec<ExecSelection>,
    ) -> Node<Field> {
        let mut part = field.clone();
        part.make_mut().selection_set.selections = units;
        self.parts.push(part.clone());
        part
    }

    /// The fields of `set` (through fragments) that apply to `object`.
    pub(super) fn fields_on(
        &self,
        object: &Name,
        set: &SelectionSet,
        out: &mut Vec<Node<Field>>,
        depth: usize,
    ) {
        if depth > MAX_DEPTH {
            return;
        }
        for selection in &set.selections {
            match selection {
                ExecSelection::Field(field) => {
                    if !field.name.starts_with("__") {
                        out.push(field.clone());
                    }
                }
                ExecSelection::InlineFragment(inline) => {
                    if inline
                        .type_condition
                        .as_ref()
                        .is_none_or(|c| self.applies(c, object))
                    {
                        self.fields_on(object, &inline.selection_set, out, depth + 1);
                    }
                }
                ExecSelection::FragmentSpread(spread) => {
                    if let Some(fragment) = self.document.fragments.get(&spread.fragment_name) {
                        if self.applies(fragment.type_condition(), object) {
                            self.fields_on(object, &fragment.selection_set, out, depth + 1);
                        }
                    }
                }
            }
        }
    }

    pub(super) fn selects_fields_on(&self, object: &Name, set: &SelectionSet) -> bool {
        let mut fields = Vec::new();
        self.fields_on(object, set, &mut fields, 0);
        !fields.is_empty()
    }

    // ----- schema helpers -----

    pub(super) fn is_abstract(&self, name: &Name) -> bool {
        matches!(
            self.supergraph.supergraph_schema().types.get(name),
            Some(ExtendedType::Interface(_) | ExtendedType::Union(_))
        )
    }

    /// Whether a fragment on `condition` applies to objects of `object`.
    pub(super) fn applies(&self, condition: &Name, object: &Name) -> bool {
        condition == object
            || self
                .supergraph
                .supergraph_schema()
                .is_subtype(condition, object)
    }
}
