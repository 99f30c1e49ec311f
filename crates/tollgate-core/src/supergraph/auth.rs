//! Authorization requirements from the supergraph: `@authenticated`,
//! `@requiresScopes(scopes: [[...]])` and `@policy(policies: [[...]])` on
//! types and fields, read once per schema version.

use std::collections::HashMap;

use apollo_compiler::ast::{DirectiveList, Value};
use apollo_compiler::schema::ExtendedType;
use apollo_compiler::{Name, Schema};

use super::links::Link;

/// What one element requires. Several requirements on a path all apply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requirement {
    /// A verified token is needed.
    pub authenticated: bool,
    /// Scope sets, one of which must be fully held (outer OR, inner AND).
    pub scopes: Option<Vec<Vec<String>>>,
    /// Policy sets, one of which must be fully granted (outer OR, inner AND).
    pub policies: Option<Vec<Vec<String>>>,
}

impl Requirement {
    fn is_empty(&self) -> bool {
        !self.authenticated && self.scopes.is_none() && self.policies.is_none()
    }
}

/// Requirements by type and by field.
#[derive(Debug, Default)]
pub struct AuthRules {
    types: HashMap<Name, Requirement>,
    fields: HashMap<(Name, Name), Requirement>,
}

impl AuthRules {
    /// Whether the supergraph has no authorization directive.
    pub fn is_empty(&self) -> bool {
        self.types.is_empty() && self.fields.is_empty()
    }

    /// Whether any element carries `@policy`.
    pub fn has_policies(&self) -> bool {
        self.types
            .values()
            .chain(self.fields.values())
            .any(|r| r.policies.is_some())
    }

    /// The requirement of a type, if any.
    pub fn on_type(&self, name: &str) -> Option<&Requirement> {
        self.types.get(name)
    }

    /// The requirement of a field, if any.
    pub fn on_field(&self, parent: &Name, field: &Name) -> Option<&Requirement> {
        self.fields.get(&(parent.clone(), field.clone()))
    }
}

/// Reads the directives (under whatever names the `@link`s give them).
pub(crate) fn read(schema: &Schema, links: &[Link]) -> AuthRules {
    let name_of = |spec: &str| {
        links
            .iter()
            .find(|l| l.spec_name == spec)
            .map(|l| l.directive_name(spec))
    };
    let names = Names {
        authenticated: name_of("authenticated"),
        scopes: name_of("requiresScopes"),
        policy: name_of("policy"),
    };
    let mut rules = AuthRules::default();
    if names.authenticated.is_none() && names.scopes.is_none() && names.policy.is_none() {
        return rules;
    }
    for (type_name, ty) in &schema.types {
        if ty.is_built_in() {
            continue;
        }
        let requirement = names.requirement(ty.directives());
        if !requirement.is_empty() {
            rules.types.insert(type_name.clone(), requirement);
        }
        let fields = match ty {
            ExtendedType::Object(o) => Some(&o.fields),
            ExtendedType::Interface(i) => Some(&i.fields),
            _ => None,
        };
        for (field_name, field) in fields.into_iter().flatten() {
            let requirement = names.requirement(&field.directives);
            if !requirement.is_empty() {
                rules
                    .fields
                    .insert((type_name.clone(), field_name.clone()), requirement);
            }
        }
    }
    rules
}

struct Names {
    authenticated: Option<String>,
    scopes: Option<String>,
    policy: Option<String>,
}

impl Names {
    fn requirement<'a>(&self, directives: impl Into<DirectiveSource<'a>>) -> Requirement {
        let directives = directives.into();
        let has = |name: &Option<String>| name.as_ref().is_some_and(|n| directives.has(n));
        let sets = |name: &Option<String>, argument: &str| {
            name.as_ref().and_then(|n| directives.sets(n, argument))
        };
        Requirement {
            authenticated: has(&self.authenticated),
            scopes: sets(&self.scopes, "scopes"),
            policies: sets(&self.policy, "policies"),
        }
    }
}

/// Type directives and field directives have different list types.
enum DirectiveSource<'a> {
    Component(&'a apollo_compiler::schema::DirectiveList),
    Ast(&'a DirectiveList),
}

impl<'a> From<&'a apollo_compiler::schema::DirectiveList> for DirectiveSource<'a> {
    fn from(list: &'a apollo_compiler::schema::DirectiveList) -> Self {
        Self::Component(list)
    }
}

impl<'a> From<&'a DirectiveList> for DirectiveSource<'a> {
    fn from(list: &'a DirectiveList) -> Self {
        Self::Ast(list)
    }
}

impl DirectiveSource<'_> {
    fn has(&self, name: &str) -> bool {
        match self {
            Self::Component(list) => list.get(name).is_some(),
            Self::Ast(list) => list.get(name).is_some(),
        }
    }

    /// `[[String]]` argument of every application, AND-ed: with several
    /// applications each must be met, so their sets are combined.
    fn sets(&self, name: &str, argument: &str) -> Option<Vec<Vec<String>>> {
        let values: Vec<Value> = match self {
            Self::Component(list) => list
                .get_all(name)
                .filter_map(|d| {
                    d.specified_argument_by_name(argument)
                        .map(|v| (**v).clone())
                })
                .collect(),
            Self::Ast(list) => list
                .get_all(name)
                .filter_map(|d| {
                    d.specified_argument_by_name(argument)
                        .map(|v| (**v).clone())
                })
                .collect(),
        };
        let mut combined: Option<Vec<Vec<String>>> = None;
        for value in values {
            let sets = string_sets(&value);
            combined = Some(match combined {
                None => sets,
                // (a OR b) AND (c OR d) = ac OR ad OR bc OR bd
                Some(previous) => previous
                    .iter()
                    .flat_map(|p| {
                        sets.iter().map(move |s| {
                            let mut both = p.clone();
                            both.extend(s.iter().cloned());
                            both
                        })
                    })
                    .collect(),
            });
        }
        combined
    }
}

fn string_sets(value: &Value) -> Vec<Vec<String>> {
    match value {
        Value::List(outer) => outer
            .iter()
            .map(|inner| match &**inner {
                Value::List(items) => items
                    .iter()
                    .filter_map(|i| i.as_str().map(str::to_owned))
                    .collect(),
                Value::String(single) => vec![single.clone()],
                _ => Vec::new(),
            })
            .collect(),
        Value::String(single) => vec![vec![single.clone()]],
        _ => Vec::new(),
    }
}
