//! Interfaces a subgraph only knows as `@interfaceObject`: their fields are
//! planned on that object, and the concrete type (with type-conditioned
//! fields) comes from a subgraph that has the real interface.

use apollo_compiler::ast;
use apollo_compiler::executable::{Selection as ExecSelection, SelectionSet};
use apollo_compiler::Name;

use super::{check_depth, Builder, Pos, MAX_DEPTH};
use crate::planner::PlanError;

impl Builder<'_> {
    /// An interface the fetch's subgraph only knows as an `@interfaceObject`:
    /// its fields are planned as fields of that object; when the selection
    /// needs the concrete type (`__typename`, fragments on implementations),
    /// an entity fetch to a subgraph that has the real interface supplies it
    /// together with the type-conditioned fields.
    pub(super) fn walk_interface_object(
        &mut self,
        pos: &Pos,
        interface: &Name,
        set: &SelectionSet,
        depth: usize,
    ) -> Result<(), PlanError> {
        self.selection_mut(pos)?.add_typename();
        self.walk_object(pos, interface, set, depth + 1)?;
        if !self.needs_concrete_type(interface, set, 0) {
            return Ok(());
        }
        let graph = self.groups[pos.group].graph;
        let join = self.supergraph.join();
        let target = join
            .keys(interface)
            .iter()
            .filter(|k| k.resolvable && !join.is_interface_object(interface, k.graph))
            .find(|k| self.set_is_local(graph, pos.provided.as_ref(), interface, &k.fields))
            .cloned();
        let Some(key) = target else {
            return Err(PlanError::Unsatisfiable(format!(
                "the concrete type of `{interface}` objects from subgraph `{}` cannot be resolved: no subgraph defining the interface has a key for it",
                self.supergraph.subgraphs()[graph].name
            )));
        };
        let group = self.entity_group(pos, interface, key.graph, &key, None)?;
        let entity = Pos {
            group,
            selection: Vec::new(),
            path: pos.path.clone(),
            provided: None,
            candidates: pos.candidates.clone(),
        };
        self.selection_mut(&entity)?.add_typename();
        let types: Vec<Name> = self
            .supergraph
            .join()
            .possible_types(interface, key.graph)
            .to_vec();
        for object in types {
            let index = self
                .selection_mut(&entity)?
                .add_fragment(Some(&object), &ast::DirectiveList::new());
            let mut inner = entity.clone();
            inner.selection.push(index);
            self.walk_conditional(&inner, interface, &object, set, depth + 1)?;
        }
        Ok(())
    }

    /// Plans, for objects of `object`, only the parts of `set` under
    /// fragments on types other than `interface` (the rest was planned on
    /// the interface object).
    fn walk_conditional(
        &mut self,
        pos: &Pos,
        interface: &Name,
        object: &Name,
        set: &SelectionSet,
        depth: usize,
    ) -> Result<(), PlanError> {
        check_depth(depth)?;
        for selection in &set.selections {
            let (condition, directives, nested) = match selection {
                ExecSelection::Field(_) => continue,
                ExecSelection::InlineFragment(inline) => (
                    inline.type_condition.clone(),
                    &inline.directives,
                    &inline.selection_set,
                ),
                ExecSelection::FragmentSpread(spread) => {
                    let Some(fragment) = self.document.fragments.get(&spread.fragment_name) else {
                        continue;
                    };
                    (
                        Some(fragment.type_condition().clone()),
                        &spread.directives,
                        &fragment.selection_set,
                    )
                }
            };
            let inner = self.conditional(pos, directives)?;
            match condition {
                Some(c) if c != *interface => {
                    if self.applies(&c, object) {
                        self.walk_object(&inner, object, nested, depth + 1)?;
                    }
                }
                _ => self.walk_conditional(&inner, interface, object, nested, depth + 1)?,
            }
        }
        Ok(())
    }

    /// Whether a selection on an interface needs each object's concrete type.
    fn needs_concrete_type(&self, interface: &Name, set: &SelectionSet, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            return false;
        }
        set.selections.iter().any(|selection| match selection {
            ExecSelection::Field(field) => field.name == "__typename",
            ExecSelection::InlineFragment(inline) => match &inline.type_condition {
                Some(c) if c != interface => true,
                _ => self.needs_concrete_type(interface, &inline.selection_set, depth + 1),
            },
            ExecSelection::FragmentSpread(spread) => self
                .document
                .fragments
                .get(&spread.fragment_name)
                .is_some_and(|f| {
                    f.type_condition() != interface
                        || self.needs_concrete_type(interface, &f.selection_set, depth + 1)
                }),
        })
    }
}
