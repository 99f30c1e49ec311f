//! Single-subgraph planning: find a subgraph that can resolve the whole
//! operation and build the operation text to send it.

use std::collections::HashSet;
use std::sync::Arc;

use apollo_compiler::executable::{
    ExecutableDocument, Fragment, Operation, Selection, SelectionSet,
};
use apollo_compiler::validation::Valid;
use apollo_compiler::{Name, Node};

use super::{FetchNode, PlanError, PlanNode, QueryPlan};
use crate::supergraph::{GraphSet, Supergraph};

const INTROSPECTION_ROOT_FIELDS: [&str; 2] = ["__schema", "__type"];

/// Plans `operation` of `document` (validated against the API schema).
pub fn plan_operation(
    supergraph: &Supergraph,
    document: &Valid<ExecutableDocument>,
    operation: &Node<Operation>,
) -> Result<QueryPlan, PlanError> {
    let mut walk = Walk {
        supergraph,
        document,
        candidates: GraphSet::all(supergraph.subgraphs().len()),
        visited_fragments: HashSet::new(),
        concrete_root_fields: false,
        has_introspection: false,
    };
    walk.root_selection_set(&operation.selection_set);

    if !walk.concrete_root_fields {
        return Ok(QueryPlan {
            node: None,
            has_introspection: true,
        });
    }
    let Some(graph) = walk.candidates.iter().next() else {
        return Err(PlanError::NeedsSeveralSubgraphs(owners_summary(
            supergraph, document, operation,
        )));
    };
    let subgraph: Arc<str> = Arc::from(supergraph.subgraphs()[graph].name.as_str());
    let text = subgraph_operation(document, operation)?;
    Ok(QueryPlan {
        node: Some(PlanNode::Fetch(FetchNode {
            subgraph,
            graph,
            kind: operation.operation_type,
            operation: Arc::from(text),
            operation_name: operation.name.as_ref().map(|n| Arc::from(n.as_str())),
            variables: operation.variables.iter().map(|v| v.name.clone()).collect(),
        })),
        has_introspection: walk.has_introspection,
    })
}

struct Walk<'a> {
    supergraph: &'a Supergraph,
    document: &'a Valid<ExecutableDocument>,
    candidates: GraphSet,
    visited_fragments: HashSet<Name>,
    concrete_root_fields: bool,
    has_introspection: bool,
}

impl Walk<'_> {
    fn root_selection_set(&mut self, set: &SelectionSet) {
        for selection in &set.selections {
            match selection {
                Selection::Field(field) => {
                    let name = field.name.as_str();
                    if INTROSPECTION_ROOT_FIELDS.contains(&name) || name == "__typename" {
                        self.has_introspection = true;
                    } else {
                        self.concrete_root_fields = true;
                        self.field(&set.ty, field);
                    }
                }
                Selection::InlineFragment(inline) => {
                    self.type_condition(inline.type_condition.as_ref());
                    self.root_selection_set(&inline.selection_set);
                }
                Selection::FragmentSpread(spread) => {
                    if let Some(fragment) = self.fragment(&spread.fragment_name) {
                        self.root_selection_set(&fragment.selection_set);
                    }
                }
            }
        }
    }

    fn selection_set(&mut self, set: &SelectionSet) {
        for selection in &set.selections {
            match selection {
                Selection::Field(field) => {
                    if field.name != "__typename" {
                        self.field(&set.ty, field);
                    }
                }
                Selection::InlineFragment(inline) => {
                    self.type_condition(inline.type_condition.as_ref());
                    self.selection_set(&inline.selection_set);
                }
                Selection::FragmentSpread(spread) => {
                    if let Some(fragment) = self.fragment(&spread.fragment_name) {
                        self.type_condition(Some(fragment.type_condition()));
                        self.selection_set(&fragment.selection_set);
                    }
                }
            }
        }
    }

    fn field(&mut self, parent: &Name, field: &apollo_compiler::executable::Field) {
        match self.supergraph.join().field_graphs(parent, &field.name) {
            Some(graphs) => self.candidates.intersect_with(graphs),
            None => self.candidates = GraphSet::default(),
        }
        self.selection_set(&field.selection_set);
    }

    fn type_condition(&mut self, condition: Option<&Name>) {
        if let Some(graphs) = condition.and_then(|c| self.supergraph.join().type_graphs(c)) {
            self.candidates.intersect_with(graphs);
        }
    }

    fn fragment(&mut self, name: &Name) -> Option<Node<Fragment>> {
        let fragment = self.document.fragments.get(name)?.clone();
        // A fragment's fields are the same wherever it is spread; walk it once.
        self.visited_fragments
            .insert(name.clone())
            .then_some(fragment)
    }
}

/// Lists, for the error message, which subgraphs own the root fields.
fn owners_summary(
    supergraph: &Supergraph,
    document: &ExecutableDocument,
    operation: &Operation,
) -> String {
    let mut names: Vec<&str> = Vec::new();
    for field in operation.root_fields(document) {
        if let Some(graphs) = supergraph
            .join()
            .field_graphs(&operation.selection_set.ty, &field.name)
        {
            for id in graphs.iter() {
                let name = supergraph.subgraphs()[id].name.as_str();
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
    }
    if names.len() < 2 {
        "nested fields live in other subgraphs".to_owned()
    } else {
        names.join(", ")
    }
}

/// The operation alone with the fragments it uses, root introspection fields removed.
fn subgraph_operation(
    document: &ExecutableDocument,
    operation: &Node<Operation>,
) -> Result<String, PlanError> {
    let mut out = ExecutableDocument::new();
    let mut operation = operation.clone();
    operation
        .make_mut()
        .selection_set
        .selections
        .retain(|s| !matches!(s, Selection::Field(f) if INTROSPECTION_ROOT_FIELDS.contains(&f.name.as_str())));
    let mut pending: Vec<Name> = Vec::new();
    collect_spreads(&operation.selection_set, &mut pending);
    while let Some(name) = pending.pop() {
        if out.fragments.contains_key(&name) {
            continue;
        }
        let fragment = document
            .fragments
            .get(&name)
            .ok_or_else(|| PlanError::Internal(format!("fragment {name} is not defined")))?;
        collect_spreads(&fragment.selection_set, &mut pending);
        out.fragments.insert(name, fragment.clone());
    }
    match &operation.name {
        Some(name) => {
            out.operations.named.insert(name.clone(), operation.clone());
        }
        None => out.operations.anonymous = Some(operation.clone()),
    }
    Ok(out.serialize().no_indent().to_string())
}

fn collect_spreads(set: &SelectionSet, out: &mut Vec<Name>) {
    for selection in &set.selections {
        match selection {
            Selection::Field(field) => collect_spreads(&field.selection_set, out),
            Selection::InlineFragment(inline) => collect_spreads(&inline.selection_set, out),
            Selection::FragmentSpread(spread) => out.push(spread.fragment_name.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supergraph::tests::SUPERGRAPH;

    fn plan(query: &str) -> Result<QueryPlan, PlanError> {
        let supergraph = Supergraph::parse(SUPERGRAPH).unwrap();
        let document =
            ExecutableDocument::parse_and_validate(supergraph.api_schema(), query, "q.graphql")
                .unwrap();
        let operation = document.operations.get(None).unwrap().clone();
        plan_operation(&supergraph, &document, &operation)
    }

    #[test]
    fn plans_a_single_subgraph_query_with_fragments() {
        let plan = plan(
            "query Top($n: Int) { topProducts(first: $n) { ...P } __schema { queryType { name } } } fragment P on Product { upc name }",
        )
        .unwrap();
        assert!(plan.has_introspection);
        assert_eq!(
            plan.to_string(),
            "QueryPlan {\n  Introspection,\n  Fetch(service: \"products\") {\n    query Top($n: Int) { topProducts(first: $n) { ...P } } fragment P on Product { upc name }\n  },\n}"
        );
        let Some(PlanNode::Fetch(fetch)) = plan.node else {
            panic!()
        };
        assert_eq!(fetch.operation_name.as_deref(), Some("Top"));
        assert_eq!(fetch.variables, vec![Name::new("n").unwrap()]);
    }

    #[test]
    fn introspection_only_needs_no_fetch() {
        let plan = plan("{ __typename __type(name: \"User\") { name } }").unwrap();
        assert_eq!(plan.node, None);
        assert!(plan.has_introspection);
    }

    #[test]
    fn cross_subgraph_operations_are_refused_clearly() {
        let err = plan("{ me { id } topProducts { upc } }").unwrap_err();
        assert!(err.to_string().contains("accounts, products"), "{err}");
    }

    #[test]
    fn mutations_go_to_their_subgraph() {
        let plan = plan("mutation { createProduct(upc: \"9\") { upc } }").unwrap();
        let Some(PlanNode::Fetch(fetch)) = plan.node else {
            panic!()
        };
        assert_eq!(&*fetch.subgraph, "products");
        assert_eq!(
            fetch.kind,
            apollo_compiler::executable::OperationType::Mutation
        );
    }
}
