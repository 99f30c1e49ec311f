//! Enforces the supergraph's `@authenticated`, `@requiresScopes` and
//! `@policy` per request, from the verified claims in the context. By
//! default unauthorized fields are removed before planning (never fetched)
//! and answered with `null` and an `UNAUTHORIZED_FIELD_OR_TYPE` error at
//! their path; `authorization.reject_unauthorized` refuses the request
//! instead and `authorization.dry_run` only logs and counts.

use std::collections::HashSet;
use std::sync::Arc;

use apollo_compiler::executable::{ExecutableDocument, Field, Selection, SelectionSet};
use apollo_compiler::validation::Valid;
use apollo_compiler::Node;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use crate::context::{RequestContext, JWT_CLAIMS_KEY};
use crate::error::ClientError;
use crate::pipeline::PreparedOperation;
use crate::supergraph::auth::Requirement;
use crate::supergraph::Supergraph;

/// Context key of the policies an operation needs: a map from policy name
/// to `null`, which a script sets to `true` to grant (unset means denied).
/// Apollo Router's key, so its policy scripts run unchanged.
pub const POLICIES_KEY: &str = "apollo::authorization::required_policies";

/// Error code of an unauthorized field.
pub const UNAUTHORIZED_CODE: &str = "UNAUTHORIZED_FIELD_OR_TYPE";

/// `authorization:` section.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthorizationConfig {
    /// Refuse the whole request (403) when any selected field is unauthorized.
    #[serde(default)]
    pub reject_unauthorized: bool,
    /// Only log and count unauthorized fields; serve them anyway.
    #[serde(default)]
    pub dry_run: bool,
    /// Persisted operations (names in `persisted_queries.manifest`) that run
    /// without a token although `jwt.require_authentication` is on. Only the
    /// manifest's own document qualifies, sent by id or as its text.
    #[serde(default)]
    pub allow_anonymous_operations: Vec<String>,
}

/// Identity of a field node of a prepared document.
pub(crate) fn field_id(field: &Node<Field>) -> usize {
    std::ptr::from_ref::<Field>(field) as usize
}

/// The caller as authorization sees it.
struct Caller {
    authenticated: bool,
    scopes: HashSet<String>,
    granted: HashSet<String>,
}

impl Caller {
    fn from_context(context: &RequestContext, scopes_claim: Option<&str>) -> Self {
        let claims = context.get(JWT_CLAIMS_KEY);
        let mut scopes = HashSet::new();
        if let Some(claims) = claims {
            let value = match scopes_claim {
                Some(name) => claims.get(name),
                None => claims.get("scope").or_else(|| claims.get("scopes")),
            };
            match value {
                Some(Value::String(text)) => {
                    scopes.extend(text.split_whitespace().map(str::to_owned));
                }
                Some(Value::Array(items)) => {
                    scopes.extend(items.iter().filter_map(Value::as_str).map(str::to_owned));
                }
                _ => {}
            }
        }
        // Scopes bound to the consumer credential that verified the token.
        if let Some(Value::Array(items)) = context
            .get(crate::context::CONSUMER_KEY)
            .and_then(|consumer| consumer.get("scopes"))
        {
            scopes.extend(items.iter().filter_map(Value::as_str).map(str::to_owned));
        }
        let granted = match context.get(POLICIES_KEY) {
            Some(Value::Object(policies)) => policies
                .iter()
                .filter(|(_, v)| **v == Value::Bool(true))
                .map(|(k, _)| k.clone())
                .collect(),
            _ => HashSet::new(),
        };
        Self {
            authenticated: claims.is_some(),
            scopes,
            granted,
        }
    }

    fn satisfies(&self, requirement: &Requirement) -> bool {
        if requirement.authenticated && !self.authenticated {
            return false;
        }
        if let Some(sets) = &requirement.scopes {
            if !sets
                .iter()
                .any(|set| set.iter().all(|s| self.scopes.contains(s)))
            {
                return false;
            }
        }
        match &requirement.policies {
            // Granted by scripts through the context (unset: denied).
            Some(sets) => sets
                .iter()
                .any(|set| set.iter().all(|p| self.granted.contains(p))),
            None => true,
        }
    }
}

/// Visits the fields of a selection (through fragments, each fragment
/// once) with their parent type; `visit` says whether to go below a field.
fn visit_fields(
    document: &ExecutableDocument,
    set: &SelectionSet,
    visit: &mut dyn FnMut(&apollo_compiler::Name, &Node<Field>) -> bool,
    visited: &mut HashSet<apollo_compiler::Name>,
    depth: usize,
) {
    if depth > 256 {
        return;
    }
    for selection in &set.selections {
        match selection {
            Selection::Field(field) => {
                if visit(&set.ty, field) {
                    visit_fields(document, &field.selection_set, visit, visited, depth + 1);
                }
            }
            Selection::InlineFragment(inline) => {
                visit_fields(document, &inline.selection_set, visit, visited, depth + 1);
            }
            Selection::FragmentSpread(spread) => {
                if visited.insert(spread.fragment_name.clone()) {
                    if let Some(fragment) = document.fragments.get(&spread.fragment_name) {
                        visit_fields(document, &fragment.selection_set, visit, visited, depth + 1);
                    }
                }
            }
        }
    }
}

/// The requirements on a field and on its return type.
fn requirements<'a>(
    supergraph: &'a Supergraph,
    parent: &apollo_compiler::Name,
    field: &Field,
) -> impl Iterator<Item = &'a Requirement> {
    let rules = supergraph.auth();
    [
        rules.on_field(parent, &field.name),
        rules.on_type(field.selection_set.ty.as_str()),
    ]
    .into_iter()
    .flatten()
}

/// The policies the fields of an operation name, for scripts to decide.
pub fn required_policies(
    supergraph: &Supergraph,
    document: &ExecutableDocument,
    selection_set: &SelectionSet,
) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    visit_fields(
        document,
        selection_set,
        &mut |parent, field| {
            for requirement in requirements(supergraph, parent, field) {
                for policies in requirement.policies.iter().flatten() {
                    out.extend(policies.iter().cloned());
                }
            }
            true
        },
        &mut HashSet::new(),
        0,
    );
    out
}

/// The unauthorized field nodes of the operation (not looking below them).
fn unauthorized_fields(
    supergraph: &Supergraph,
    document: &ExecutableDocument,
    selection_set: &SelectionSet,
    caller: &Caller,
) -> HashSet<usize> {
    let mut out = HashSet::new();
    visit_fields(
        document,
        selection_set,
        &mut |parent, field| {
            if field.name.starts_with("__") {
                return false;
            }
            let denied = requirements(supergraph, parent, field).any(|r| !caller.satisfies(r));
            if denied {
                out.insert(field_id(field));
            }
            !denied
        },
        &mut HashSet::new(),
        0,
    );
    out
}

/// What the request may run: the operation to plan (unauthorized fields
/// removed) and the fields to answer with an authorization error.
pub(crate) struct Authorized {
    pub plan_from: Arc<PreparedOperation>,
    pub denied: HashSet<usize>,
}

/// Applies the rules to a prepared operation.
pub(crate) fn authorize(
    supergraph: &Supergraph,
    config: &AuthorizationConfig,
    scopes_claim: Option<&str>,
    prepared: &Arc<PreparedOperation>,
    context: &RequestContext,
    plan_filtered: impl FnOnce(Valid<ExecutableDocument>) -> Result<Arc<PreparedOperation>, ClientError>,
) -> Result<Authorized, ClientError> {
    let unchanged = || Authorized {
        plan_from: prepared.clone(),
        denied: HashSet::new(),
    };
    if supergraph.auth().is_empty() {
        return Ok(unchanged());
    }
    let caller = Caller::from_context(context, scopes_claim);
    let denied = unauthorized_fields(
        supergraph,
        &prepared.document,
        &prepared.operation.selection_set,
        &caller,
    );
    if denied.is_empty() {
        return Ok(unchanged());
    }
    crate::observe::unauthorized(denied.len(), config.dry_run);
    if config.dry_run {
        tracing::info!(
            request_id = context.request_id(),
            fields = denied.len(),
            "authorization dry run: unauthorized fields served"
        );
        return Ok(unchanged());
    }
    if config.reject_unauthorized {
        return Err(ClientError::Rejected {
            status: http::StatusCode::FORBIDDEN,
            code: UNAUTHORIZED_CODE.to_owned(),
            message: "Unauthorized field or type".to_owned(),
        });
    }
    let mut document = (*prepared.document).clone();
    for fragment in document.fragments.values_mut() {
        remove_fields(&mut fragment.make_mut().selection_set, &denied, supergraph);
    }
    if let Some(operation) = &mut document.operations.anonymous {
        remove_fields(&mut operation.make_mut().selection_set, &denied, supergraph);
    }
    for operation in document.operations.named.values_mut() {
        remove_fields(&mut operation.make_mut().selection_set, &denied, supergraph);
    }
    // Removing fields keeps the document valid except for now-unused
    // variables, which planning does not care about.
    let plan_from = plan_filtered(Valid::assume_valid(document))?;
    Ok(Authorized { plan_from, denied })
}

fn remove_fields(set: &mut SelectionSet, denied: &HashSet<usize>, supergraph: &Supergraph) {
    set.selections.retain(|selection| match selection {
        Selection::Field(field) => !denied.contains(&field_id(field)),
        _ => true,
    });
    for selection in &mut set.selections {
        match selection {
            Selection::Field(field) => {
                if !field.selection_set.selections.is_empty() {
                    remove_fields(&mut field.make_mut().selection_set, denied, supergraph);
                }
            }
            Selection::InlineFragment(inline) => {
                remove_fields(&mut inline.make_mut().selection_set, denied, supergraph);
            }
            Selection::FragmentSpread(_) => {}
        }
    }
    if set.selections.is_empty() {
        if let Ok(definition) = supergraph.api_schema().type_field(&set.ty, "__typename") {
            set.selections.push(Selection::Field(Node::new(Field::new(
                apollo_compiler::name!("__typename"),
                definition.node.clone(),
            ))));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn caller(claims: Option<Value>, scopes_claim: Option<&str>) -> Caller {
        let mut context = RequestContext::new();
        if let Some(claims) = claims {
            context.insert(JWT_CLAIMS_KEY, claims);
        }
        Caller::from_context(&context, scopes_claim)
    }

    fn scopes(sets: &[&[&str]]) -> Requirement {
        Requirement {
            scopes: Some(
                sets.iter()
                    .map(|s| s.iter().map(|x| (*x).to_owned()).collect())
                    .collect(),
            ),
            ..Requirement::default()
        }
    }

    #[test]
    fn consumer_credential_scopes_join_the_token_scopes() {
        let mut context = RequestContext::new();
        context.insert(JWT_CLAIMS_KEY, json!({"sub": "ck_1", "scope": "a"}));
        let both = scopes(&[&["a", "invoices"]]);
        assert!(!Caller::from_context(&context, None).satisfies(&both));
        context.insert(
            crate::context::CONSUMER_KEY,
            json!({"name": "billing", "key_id": "ck_1", "scopes": ["invoices"]}),
        );
        assert!(Caller::from_context(&context, None).satisfies(&both));
    }

    #[test]
    fn requirements_against_callers() {
        let authenticated = Requirement {
            authenticated: true,
            ..Requirement::default()
        };
        assert!(!caller(None, None).satisfies(&authenticated));
        assert!(caller(Some(json!({"sub": "1"})), None).satisfies(&authenticated));

        let string = caller(Some(json!({"scope": "a b"})), None);
        let array = caller(Some(json!({"scopes": ["a", "c"]})), None);
        let custom = caller(Some(json!({"perms": "b c", "scope": "a"})), Some("perms"));
        let either = scopes(&[&["a", "b"], &["c"]]);
        assert!(string.satisfies(&either));
        assert!(array.satisfies(&either));
        assert!(custom.satisfies(&either));
        assert!(!caller(Some(json!({"scope": "a"})), None).satisfies(&either));
        assert!(!caller(None, None).satisfies(&either));

        let policy = Requirement {
            policies: Some(vec![vec!["p".to_owned()]]),
            ..Requirement::default()
        };
        assert!(!string.satisfies(&policy), "unset policies are denied");
        let mut context = RequestContext::new();
        context.insert(JWT_CLAIMS_KEY, json!({"sub": "1"}));
        context.insert(POLICIES_KEY, json!({"p": true, "q": false}));
        assert!(Caller::from_context(&context, None).satisfies(&policy));
        context.insert(POLICIES_KEY, json!({"p": false}));
        assert!(!Caller::from_context(&context, None).satisfies(&policy));
    }
}
