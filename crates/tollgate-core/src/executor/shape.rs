//! Response shaping: walks the client's operation over the merged data and
//! builds exactly the requested response — fields in request order under
//! their aliases, `@skip`/`@include` applied, fragments matched against each
//! object's runtime type, planner-added fields (keys, requirements,
//! `__typename`) left out — and applies the spec's null propagation: a null
//! in a non-null position makes the nearest nullable parent null.

use std::collections::HashSet;

use apollo_compiler::ast;
use apollo_compiler::executable::{ExecutableDocument, Field, Operation, Selection, SelectionSet};
use apollo_compiler::response::JsonMap;
use apollo_compiler::schema::ExtendedType;
use apollo_compiler::validation::Valid;
use apollo_compiler::{Name, Node, Schema};
use indexmap::IndexMap;
use serde_json::{Map, Value};

use super::data::{Object, Value as Data};
use crate::response::GraphqlError;

/// Shapes `data` for `operation`; returns the response's `data` value
/// (`null` when a null propagated to the root).
pub(super) fn shape(
    schema: &Valid<Schema>,
    document: &ExecutableDocument,
    operation: &Operation,
    variables: &Valid<JsonMap>,
    denied: &HashSet<usize>,
    data: &Data,
    errors: &mut Vec<GraphqlError>,
) -> Value {
    let had_errors = !errors.is_empty();
    let mut shaper = Shaper {
        schema,
        document,
        variables,
        denied,
        errors,
        had_errors,
        path: Vec::new(),
    };
    let root = operation.selection_set.ty.clone();
    let empty = Object::new();
    let object = data.as_object().unwrap_or(&empty);
    match shaper.object(&root, &[&operation.selection_set], object) {
        Some(map) => Value::Object(map),
        None => Value::Null,
    }
}

struct Shaper<'a> {
    schema: &'a Valid<Schema>,
    document: &'a ExecutableDocument,
    variables: &'a Valid<JsonMap>,
    /// Field nodes authorization refused.
    denied: &'a HashSet<usize>,
    errors: &'a mut Vec<GraphqlError>,
    /// Whether fetches reported errors (then a missing value is explained
    /// by them and gets no error of its own).
    had_errors: bool,
    path: Vec<Value>,
}

impl<'a> Shaper<'a> {
    /// Completes an object of runtime type `type_name`; `None` means null
    /// propagated into it.
    fn object(
        &mut self,
        type_name: &Name,
        sets: &[&'a SelectionSet],
        data: &Object,
    ) -> Option<Map<String, Value>> {
        let mut fields: IndexMap<&'a Name, Vec<&'a Node<Field>>> = IndexMap::new();
        let mut visited = HashSet::new();
        for set in sets {
            self.collect(type_name, set, &mut fields, &mut visited);
        }
        let mut out = Map::with_capacity(fields.len());
        for (key, group) in fields {
            let first = group[0];
            if first.name == "__typename" {
                out.insert(
                    key.as_str().to_owned(),
                    Value::String(type_name.as_str().to_owned()),
                );
                continue;
            }
            if first.name == "__schema" || first.name == "__type" {
                out.insert(
                    key.as_str().to_owned(),
                    data.get(key.as_str())
                        .map(Data::to_json)
                        .unwrap_or(Value::Null),
                );
                continue;
            }
            let ty = self
                .schema
                .type_field(type_name, &first.name)
                .map(|def| def.ty.clone())
                .unwrap_or_else(|_| first.definition.ty.clone());
            self.path.push(Value::String(key.as_str().to_owned()));
            if !self.denied.is_empty()
                && group
                    .iter()
                    .any(|f| self.denied.contains(&crate::authorization::field_id(f)))
            {
                self.errors.push(
                    GraphqlError::new(
                        "Unauthorized field or type",
                        crate::authorization::UNAUTHORIZED_CODE,
                    )
                    .with_path(self.path.clone()),
                );
                self.path.pop();
                if ty.is_non_null() {
                    return None;
                }
                out.insert(key.as_str().to_owned(), Value::Null);
                continue;
            }
            let value = self.value(&ty, type_name, &group, data.get(key.as_str()));
            self.path.pop();
            out.insert(key.as_str().to_owned(), value?);
        }
        Some(out)
    }

    /// Completes one value of type `ty`; `None` means null in a non-null position.
    fn value(
        &mut self,
        ty: &ast::Type,
        parent: &Name,
        fields: &[&'a Node<Field>],
        value: Option<&Data>,
    ) -> Option<Value> {
        let completed = match value {
            None | Some(Data::Null) => None,
            Some(value) => self.non_null_value(ty, parent, fields, value),
        };
        match completed {
            Some(value) => Some(value),
            None if ty.is_non_null() => {
                if value.is_some() || !self.had_errors {
                    self.null_error(parent, &fields[0].name);
                }
                None
            }
            None => Some(Value::Null),
        }
    }

    /// Completes a present, non-null value; `None` when it turned null.
    fn non_null_value(
        &mut self,
        ty: &ast::Type,
        parent: &Name,
        fields: &[&'a Node<Field>],
        value: &Data,
    ) -> Option<Value> {
        match ty {
            ast::Type::List(inner) | ast::Type::NonNullList(inner) => {
                let Data::Array(items) = value else {
                    self.invalid(parent, &fields[0].name);
                    return None;
                };
                let mut out = Vec::with_capacity(items.len());
                for (index, item) in items.iter().enumerate() {
                    self.path.push(Value::from(index));
                    let completed = self.value(inner, parent, fields, Some(item));
                    self.path.pop();
                    out.push(completed?);
                }
                Some(Value::Array(out))
            }
            ast::Type::Named(name) | ast::Type::NonNullNamed(name) => {
                match self.schema.types.get(name) {
                    Some(ExtendedType::Object(_)) => {
                        let Data::Object(object) = value else {
                            self.invalid(parent, &fields[0].name);
                            return None;
                        };
                        let sets: Vec<&SelectionSet> =
                            fields.iter().map(|f| &f.selection_set).collect();
                        self.object(name, &sets, object).map(Value::Object)
                    }
                    Some(ExtendedType::Interface(_) | ExtendedType::Union(_)) => {
                        let Data::Object(object) = value else {
                            self.invalid(parent, &fields[0].name);
                            return None;
                        };
                        let typename = object.get("__typename").and_then(Data::as_str);
                        // An object from an `@interfaceObject` subgraph whose
                        // concrete type the operation did not need keeps the
                        // interface's name: shape it on the interface.
                        let runtime = if typename == Some(name.as_str()) {
                            Some(name.clone())
                        } else {
                            typename
                                .and_then(|t| self.schema.get_object(t))
                                .map(|o| o.name.clone())
                                .filter(|t| self.schema.is_subtype(name, t))
                        };
                        let Some(runtime) = runtime else {
                            self.invalid(parent, &fields[0].name);
                            return None;
                        };
                        let sets: Vec<&SelectionSet> =
                            fields.iter().map(|f| &f.selection_set).collect();
                        self.object(&runtime, &sets, object).map(Value::Object)
                    }
                    Some(ExtendedType::Enum(enum_)) => {
                        let known = value.as_str().is_some_and(|v| enum_.values.contains_key(v));
                        if known {
                            Some(value.to_json())
                        } else {
                            self.invalid(parent, &fields[0].name);
                            None
                        }
                    }
                    _ => Some(value.to_json()),
                }
            }
        }
    }

    /// CollectFields of the spec for an object of runtime type `type_name`.
    fn collect(
        &self,
        type_name: &Name,
        set: &'a SelectionSet,
        out: &mut IndexMap<&'a Name, Vec<&'a Node<Field>>>,
        visited: &mut HashSet<&'a Name>,
    ) {
        for selection in &set.selections {
            if !self.included(selection.directives()) {
                continue;
            }
            match selection {
                Selection::Field(field) => out.entry(field.response_key()).or_default().push(field),
                Selection::InlineFragment(inline) => {
                    if inline
                        .type_condition
                        .as_ref()
                        .is_none_or(|c| self.applies(c, type_name))
                    {
                        self.collect(type_name, &inline.selection_set, out, visited);
                    }
                }
                Selection::FragmentSpread(spread) => {
                    if !visited.insert(&spread.fragment_name) {
                        continue;
                    }
                    if let Some(fragment) = self.document.fragments.get(&spread.fragment_name) {
                        if self.applies(fragment.type_condition(), type_name) {
                            self.collect(type_name, &fragment.selection_set, out, visited);
                        }
                    }
                }
            }
        }
    }

    fn applies(&self, condition: &Name, type_name: &Name) -> bool {
        condition == type_name || self.schema.is_subtype(condition, type_name)
    }

    /// `@skip(if:)` / `@include(if:)` with literal or variable arguments.
    fn included(&self, directives: &ast::DirectiveList) -> bool {
        let flag = |name: &str| -> Option<bool> {
            let directive = directives.get(name)?;
            let argument = directive.specified_argument_by_name("if")?;
            match &**argument {
                ast::Value::Boolean(b) => Some(*b),
                ast::Value::Variable(v) => self.variables.get(v.as_str()).and_then(|v| v.as_bool()),
                _ => None,
            }
        };
        flag("skip") != Some(true) && flag("include") != Some(false)
    }

    fn null_error(&mut self, parent: &Name, field: &Name) {
        let path = &self.path;
        let covered = self.errors.iter().any(|e| {
            e.path
                .as_ref()
                .is_some_and(|p| p.starts_with(path) || path.starts_with(p))
        });
        if !covered {
            self.errors.push(
                GraphqlError::new(
                    format!("Cannot return null for non-nullable field {parent}.{field}."),
                    "RESPONSE_VALIDATION_FAILED",
                )
                .with_path(self.path.clone()),
            );
        }
    }

    fn invalid(&mut self, parent: &Name, field: &Name) {
        self.errors.push(
            GraphqlError::new(
                format!("Invalid value found for field {parent}.{field}."),
                "RESPONSE_VALIDATION_FAILED",
            )
            .with_path(self.path.clone()),
        );
    }
}
