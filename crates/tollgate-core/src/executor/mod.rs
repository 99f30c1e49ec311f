//! Plan execution: runs the plan's fetches (parallel where the plan says
//! so), merges every answer into one response tree in place, answers
//! introspection locally, then [`shape`]s the tree into exactly the
//! response the client asked for.

pub mod data;
mod fetch;
pub mod merge;
mod shape;

use std::collections::HashMap;

use apollo_compiler::response::JsonMap;
use apollo_compiler::validation::Valid;
use futures::future::BoxFuture;
use serde_json::{Map, Value};
use tracing::Instrument as _;

use crate::context::RequestContext;
use crate::error::{ClientError, InternalError};
use crate::pipeline::PreparedOperation;
use crate::planner::{EntityInput, FetchNode, PlanNode};
use crate::response::{GraphqlError, GraphqlResponse};
use crate::runtime::Runtime;
use fetch::{Answer, FetchOutcome};

/// The response being assembled.
struct State {
    data: data::Value,
    /// Bytes of subgraph answers merged so far (the response is about as large).
    received: usize,
    errors: Vec<GraphqlError>,
}

/// Runs a prepared operation with coerced variables. `plan_from` supplies
/// the plan (the operation without unauthorized fields); the response is
/// shaped for `prepared`, the client's operation, with the `denied` fields
/// answered by an authorization error.
pub async fn execute(
    runtime: &Runtime,
    context: &RequestContext,
    plan_from: &PreparedOperation,
    prepared: &PreparedOperation,
    denied: &std::collections::HashSet<usize>,
    variables: &Valid<JsonMap>,
) -> Result<GraphqlResponse, ClientError> {
    let json_variables = match serde_json::to_value(&**variables).map_err(InternalError::from)? {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let mut state = State {
        data: data::Value::Object(data::Object::new()),
        received: 0,
        errors: Vec::new(),
    };
    if let Some(node) = &plan_from.plan.node {
        let run = Run {
            runtime,
            context,
            variables: &json_variables,
        };
        run.node(node, &mut state).await?;
    }
    if plan_from.plan.has_introspection {
        introspect(runtime, prepared, variables, &mut state)?;
    }
    let data = shape::shape(
        runtime.supergraph().api_schema(),
        &prepared.document,
        &prepared.operation,
        variables,
        denied,
        &mut state,
    );
    Ok(GraphqlResponse {
        errors: state.errors,
        data: None,
        serialized_data: Some(data),
        extensions: None,
    })
}

struct Run<'a> {
    runtime: &'a Runtime,
    context: &'a RequestContext,
    variables: &'a Map<String, Value>,
}

/// A fetch ready to send: the representations read from the data, and
/// where each one's answer goes.
struct Pending<'p> {
    fetch: &'p FetchNode,
    /// The entity inputs (empty for a root fetch).
    inputs: &'p [EntityInput],
    /// The representations, written as one JSON array.
    representations: Representations,
    /// Per input, for each object visited at its path, in visit order, the
    /// index of its representation (`None`: not of the entity's type or no
    /// key).
    slots: Vec<Vec<Option<usize>>>,
    /// The response path of the first object for each representation.
    paths: Paths<'p>,
}

impl Run<'_> {
    fn node<'s>(
        &'s self,
        node: &'s PlanNode,
        state: &'s mut State,
    ) -> BoxFuture<'s, Result<(), ClientError>> {
        Box::pin(async move {
            match node {
                PlanNode::Sequence(nodes) => {
                    for node in nodes {
                        self.node(node, state).await?;
                    }
                }
                PlanNode::Parallel(nodes) => {
                    if nodes
                        .iter()
                        .all(|n| matches!(n, PlanNode::Fetch(_) | PlanNode::Flatten(_)))
                    {
                        self.fetches(nodes, state).await?;
                    } else {
                        for node in nodes {
                            self.node(node, state).await?;
                        }
                    }
                }
                PlanNode::Fetch(_) | PlanNode::Flatten(_) => {
                    self.fetches(std::slice::from_ref(node), state).await?;
                }
            }
            Ok(())
        })
    }

    /// Runs fetches that do not depend on each other concurrently, then
    /// merges their answers in plan order.
    async fn fetches(&self, nodes: &[PlanNode], state: &mut State) -> Result<(), ClientError> {
        let supergraph = self.runtime.supergraph();
        let schema = supergraph.supergraph_schema();
        let matches = |condition: &str, typename: &str| {
            condition == typename || schema.is_subtype(condition, typename)
        };
        let mut pending = Vec::with_capacity(nodes.len());
        for node in nodes {
            match node {
                PlanNode::Fetch(fetch) => pending.push(Pending {
                    fetch,
                    inputs: &[],
                    representations: Representations::default(),
                    slots: Vec::new(),
                    paths: Paths::default(),
                }),
                PlanNode::Flatten(flatten) => {
                    let mut item = Pending {
                        fetch: &flatten.fetch,
                        inputs: &flatten.inputs,
                        representations: Representations::default(),
                        slots: Vec::with_capacity(flatten.inputs.len()),
                        paths: Paths::default(),
                    };
                    // Representations are deduplicated across all inputs:
                    // one entity found at several paths is fetched once. The
                    // key is the representation's JSON text.
                    let mut seen: HashMap<Vec<u8>, usize, foldhash::fast::RandomState> =
                        HashMap::default();
                    let mut text = Vec::with_capacity(128);
                    for input in &flatten.inputs {
                        let entity = &input.entity;
                        let mut slots = Vec::new();
                        merge::visit(
                            &state.data,
                            &input.path,
                            &mut Vec::new(),
                            &mut |object, concrete| {
                                let typename =
                                    object.get("__typename").and_then(data::Value::as_str);
                                // Objects of the entity type, or of an implementation
                                // when the entity type is an interface (object).
                                let slot = if typename.is_none_or(|t| matches(&entity.type_name, t))
                                {
                                    text.clear();
                                    entity
                                        .write_representation(object, &matches, &mut text)
                                        .map(|()| match seen.get(text.as_slice()) {
                                            Some(index) => *index,
                                            None => {
                                                let index = item.representations.push(&text);
                                                item.paths.push(concrete);
                                                seen.insert(text.clone(), index);
                                                index
                                            }
                                        })
                                } else {
                                    None
                                };
                                slots.push(slot);
                            },
                        );
                        item.slots.push(slots);
                    }
                    if !item.representations.is_empty() {
                        pending.push(item);
                    }
                }
                PlanNode::Sequence(_) | PlanNode::Parallel(_) => {}
            }
        }
        let outcomes = futures::future::join_all(pending.iter_mut().map(|item| {
            let representations = (!item.inputs.is_empty())
                .then(|| std::mem::take(&mut item.representations).finish());
            let span = tracing::info_span!(target: crate::observe::STAGE_TARGET, "subgraph fetch", subgraph = %item.fetch.subgraph);
            fetch::send(
                self.runtime,
                self.context,
                item.fetch,
                self.variables,
                representations,
            )
            .instrument(span)
        }))
        .await;
        for (item, outcome) in pending.iter().zip(outcomes) {
            let mut outcome = outcome?;
            state.received += outcome.body_len;
            if !item.fetch.renames.is_empty() {
                if let Some(answer) = outcome.data.take() {
                    let mut data = answer.into_owned();
                    merge::rename_keys(&mut data, &item.fetch.renames, 0);
                    outcome.data = Some(Answer::Owned(data));
                }
            }
            if item.inputs.is_empty() {
                apply_root(state, outcome);
            } else {
                apply_entities(state, item, outcome);
            }
        }
        Ok(())
    }
}

/// The response paths of an entity fetch's representations, kept as
/// borrowed steps in one buffer (turned into JSON only for an error).
#[derive(Default)]
struct Paths<'p> {
    steps: Vec<merge::Step<'p>>,
    /// Where each path ends in `steps`.
    ends: Vec<usize>,
}

impl<'p> Paths<'p> {
    fn push(&mut self, path: &[merge::Step<'p>]) {
        self.steps.extend_from_slice(path);
        self.ends.push(self.steps.len());
    }

    fn get(&self, index: usize) -> Option<&[merge::Step<'p>]> {
        let end = *self.ends.get(index)?;
        let start = index.checked_sub(1).map_or(0, |i| self.ends[i]);
        self.steps.get(start..end)
    }
}

/// The `representations` of one entity fetch, written as one JSON array
/// text while the data is visited.
#[derive(Default)]
struct Representations {
    json: Vec<u8>,
    count: usize,
}

impl Representations {
    /// Appends one representation's JSON text; returns its index.
    fn push(&mut self, representation: &[u8]) -> usize {
        self.json.push(if self.count == 0 { b'[' } else { b',' });
        self.json.extend_from_slice(representation);
        self.count += 1;
        self.count - 1
    }

    fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The array and how many representations it holds.
    fn finish(mut self) -> (Vec<u8>, usize) {
        if self.count == 0 {
            self.json.push(b'[');
        }
        self.json.push(b']');
        (self.json, self.count)
    }
}

fn apply_root(state: &mut State, outcome: FetchOutcome) {
    match outcome.data {
        Some(Answer::Owned(data)) => merge::deep_merge(&mut state.data, data),
        Some(shared) => merge::deep_merge_ref(&mut state.data, shared.get()),
        None => {}
    }
    state.errors.extend(outcome.errors);
}

fn apply_entities(state: &mut State, item: &Pending<'_>, outcome: FetchOutcome) {
    let FetchOutcome { data, errors, .. } = outcome;
    for mut error in errors {
        error.path = match error.path.take() {
            Some(path) if path.first().and_then(Value::as_str) == Some("_entities") => path
                .get(1)
                .and_then(Value::as_u64)
                .and_then(|i| item.paths.get(i as usize))
                .map(|prefix| {
                    let mut full: Vec<Value> = prefix.iter().map(|s| s.to_json()).collect();
                    full.extend(path.into_iter().skip(2));
                    full
                }),
            // Not a path into this fetch's `_entities`: it points nowhere
            // in the client's response.
            _ => None,
        };
        state.errors.push(error);
    }
    match data {
        Some(Answer::Owned(data::Value::Object(mut data))) => {
            if let Some(data::Value::Array(entities)) = data.remove("_entities") {
                merge_entities(state, item, Entities::Owned(entities));
            }
        }
        Some(shared @ Answer::Shared(_)) => {
            if let Some(data::Value::Array(entities)) =
                shared.get().as_object().and_then(|d| d.get("_entities"))
            {
                merge_entities(state, item, Entities::Shared(entities));
            }
        }
        _ => {}
    }
}

/// An entity fetch's `_entities`: owned, or borrowed from a shared answer.
enum Entities<'a> {
    Owned(Vec<data::Value>),
    Shared(&'a [data::Value]),
}

/// Merges each entity into every object whose representation it answers.
fn merge_entities(state: &mut State, item: &Pending<'_>, mut entities: Entities<'_>) {
    let len = match &entities {
        Entities::Owned(entities) => entities.len(),
        Entities::Shared(entities) => entities.len(),
    };
    if len == 0 {
        return;
    }
    // Owned entities used by several objects get a copy each; the last user
    // takes the original.
    let mut remaining = Vec::new();
    if let Entities::Owned(_) = entities {
        remaining = vec![0usize; len];
        for slot in item.slots.iter().flatten().flatten() {
            if let Some(count) = remaining.get_mut(*slot) {
                *count += 1;
            }
        }
    }
    for (input, slots) in item.inputs.iter().zip(&item.slots) {
        let mut visit_index = 0;
        merge::visit_mut(&mut state.data, &input.path, &mut |object| {
            let slot = slots.get(visit_index).copied().flatten();
            visit_index += 1;
            let Some(slot) = slot.filter(|slot| *slot < len) else {
                return;
            };
            match &mut entities {
                Entities::Owned(entities) => {
                    remaining[slot] -= 1;
                    let entity = if remaining[slot] == 0 {
                        std::mem::take(&mut entities[slot])
                    } else {
                        entities[slot].clone()
                    };
                    if let data::Value::Object(entity) = entity {
                        merge::merge_objects(object, entity);
                    }
                }
                Entities::Shared(entities) => {
                    if let data::Value::Object(entity) = &entities[slot] {
                        merge::merge_objects_ref(object, entity);
                    }
                }
            }
        });
    }
}

fn introspect(
    runtime: &Runtime,
    prepared: &PreparedOperation,
    variables: &Valid<JsonMap>,
    state: &mut State,
) -> Result<(), ClientError> {
    let supergraph = runtime.supergraph();
    let operation = &prepared.operation;
    apollo_compiler::introspection::check_max_depth(&prepared.document, operation).map_err(
        |e| {
            ClientError::ValidationFailed(vec![GraphqlError::new(
                e.message().to_string(),
                "GRAPHQL_VALIDATION_FAILED",
            )])
        },
    )?;
    let partial = apollo_compiler::introspection::partial_execute(
        supergraph.api_schema(),
        supergraph.implementers(),
        &prepared.document,
        operation,
        variables,
    )
    .map_err(|e| {
        ClientError::from(InternalError::Operation(format!(
            "introspection failed: {}",
            e.message()
        )))
    })?;
    for error in partial.errors {
        state.errors.push(GraphqlError {
            message: error.message,
            locations: Vec::new(),
            path: None,
            extensions: Map::new(),
        });
    }
    if let Some(data) = partial.data {
        let data = serde_json::to_value(data).map_err(InternalError::from)?;
        merge::deep_merge(&mut state.data, data::Value::from(data));
    }
    Ok(())
}
