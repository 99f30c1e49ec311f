//! Response shaping: walks the client's operation over the merged data and
//! builds exactly the requested response — fields in request order under
//! their aliases, `@skip`/`@include` applied, fragments matched against each
//! object's runtime type, planner-added fields (keys, requirements,
//! `__typename`) left out — and applies the spec's null propagation: a null
//! in a non-null position makes the nearest nullable parent null.
//!
//! CollectFields runs once per request for each selection and runtime type
//! reached, not once per object: its result (a [`Plan`]: each field's
//! response key, output type and what completing it takes) is kept in the
//! field above it and reused for every object of a list. The response path
//! is a stack of borrowed keys and indexes, turned into JSON only when an
//! error needs it.

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use apollo_compiler::ast;
use apollo_compiler::executable::{ExecutableDocument, Field, Operation, Selection, SelectionSet};
use apollo_compiler::response::JsonMap;
use apollo_compiler::schema::{EnumType, ExtendedType};
use apollo_compiler::validation::Valid;
use apollo_compiler::{Name, Node, Schema};
use serde_json::Value;

use super::data::{write_json as write_data, Object, Value as Data};
use super::merge::Step;
use crate::response::GraphqlError;

/// Shapes `data` for `operation`; returns the response's `data` as JSON
/// text (`null` when a null propagated to the root), adding errors to the
/// state's.
pub(super) fn shape(
    schema: &Valid<Schema>,
    document: &ExecutableDocument,
    operation: &Operation,
    variables: &Valid<JsonMap>,
    denied: &HashSet<usize>,
    state: &mut super::State,
) -> String {
    let (data, size_hint, errors) = (&state.data, state.received, &mut state.errors);
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
    let root = shaper.plan(&operation.selection_set.ty, &[&operation.selection_set]);
    let empty = Object::new();
    let object = data.as_object().unwrap_or(&empty);
    // About the size of the subgraph answers, within bounds.
    let mut out = Vec::with_capacity(size_hint.clamp(256, 1 << 20));
    if !shaper.object(&root, object, &mut out) {
        out.clear();
        out.extend_from_slice(b"null");
    }
    // Only JSON the shaper wrote: keys and type names are GraphQL names,
    // values come escaped from serde_json.
    String::from_utf8(out).unwrap_or_else(|_| "null".to_owned())
}

/// Writes `"key":`. Response keys are GraphQL names (`[_A-Za-z][_0-9A-Za-z]*`):
/// nothing to escape.
fn write_key(out: &mut Vec<u8>, key: &str) {
    out.push(b'"');
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
}

/// The collected fields of one set of merged selection sets on one runtime
/// type, in response order.
struct Plan<'a> {
    /// The runtime type (an object type, or the abstract type itself for an
    /// `@interfaceObject` object that kept the interface's name).
    type_name: &'a Name,
    fields: Vec<PlannedField<'a>>,
}

struct PlannedField<'a> {
    /// Response key (alias or name).
    key: &'a str,
    /// Field name, for error messages.
    name: &'a Name,
    action: Action<'a>,
    /// Where `key` was in the last data object it was looked up in: data
    /// objects of a list usually share their key order.
    position: Cell<usize>,
}

enum Action<'a> {
    /// `__typename`: the runtime type's name.
    Typename,
    /// `__schema` / `__type`: the introspection answer as it is in the data.
    Introspection,
    /// Refused by authorization: `null` with an error.
    Denied { non_null: bool },
    Complete {
        ty: &'a ast::Type,
        output: Output<'a>,
    },
}

/// What completing a value of the field's named type takes.
enum Output<'a> {
    /// Custom scalars (and names the schema does not know): the value as it is.
    Leaf,
    /// A built-in scalar: the value after the spec's result coercion.
    Scalar(Builtin),
    Enum(&'a Node<EnumType>),
    Object {
        type_name: &'a Name,
        sets: Vec<&'a SelectionSet>,
        plan: OnceCell<Plan<'a>>,
    },
    /// Interface or union: one plan per runtime type met so far.
    Abstract {
        type_name: &'a Name,
        sets: Vec<&'a SelectionSet>,
        plans: RefCell<Vec<Rc<Plan<'a>>>>,
    },
}

/// The built-in scalars, whose result coercion the spec defines (§3.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Builtin {
    Int,
    Float,
    String,
    Boolean,
    Id,
}

impl Builtin {
    fn of(name: &str) -> Option<Self> {
        Some(match name {
            "Int" => Self::Int,
            "Float" => Self::Float,
            "String" => Self::String,
            "Boolean" => Self::Boolean,
            "ID" => Self::Id,
            _ => return None,
        })
    }

    /// Writes `value` coerced to this scalar; `false` (nothing written)
    /// when it cannot be: Int takes integers in the signed 32-bit range
    /// (an integral float such as `2.0` is written as `2`), Float any
    /// number, String only strings, Boolean only booleans, and ID strings
    /// or integers (written as strings).
    fn write(self, value: &Data, out: &mut Vec<u8>) -> bool {
        match (self, value) {
            (Self::String | Self::Id, Data::String(_))
            | (Self::Boolean, Data::Bool(_))
            | (Self::Float, Data::Number(_)) => {
                write_data(out, value);
                true
            }
            (Self::Int, Data::Number(n)) => {
                if n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()) {
                    write_data(out, value);
                    return true;
                }
                let integral = n.as_f64().filter(|f| {
                    f.fract() == 0.0 && *f >= f64::from(i32::MIN) && *f <= f64::from(i32::MAX)
                });
                match integral {
                    Some(f) => {
                        // In range and integral: the cast is exact.
                        out.extend_from_slice((f as i32).to_string().as_bytes());
                        true
                    }
                    None => false,
                }
            }
            (Self::Id, Data::Number(n)) if n.is_i64() || n.is_u64() => {
                out.push(b'"');
                write_data(out, value);
                out.push(b'"');
                true
            }
            _ => false,
        }
    }
}

/// CollectFields' grouped field set: fields by response key, in order of
/// first appearance. Selection sets hold a handful of keys, so keys are
/// found by a scan; past [`GROUP_SCAN_LIMIT`] keys through an index.
#[derive(Default)]
struct Groups<'a> {
    groups: Vec<(&'a Name, Vec<&'a Node<Field>>)>,
    index: HashMap<&'a str, usize, foldhash::fast::RandomState>,
}

const GROUP_SCAN_LIMIT: usize = 16;

impl<'a> Groups<'a> {
    fn add(&mut self, field: &'a Node<Field>) {
        let key = field.response_key();
        let found = if self.groups.len() > GROUP_SCAN_LIMIT {
            if self.index.is_empty() {
                for (i, (k, _)) in self.groups.iter().enumerate() {
                    self.index.insert(k.as_str(), i);
                }
            }
            self.index.get(key.as_str()).copied()
        } else {
            self.groups.iter().position(|(k, _)| *k == key)
        };
        match found {
            Some(i) => self.groups[i].1.push(field),
            None => {
                if !self.index.is_empty() {
                    self.index.insert(key.as_str(), self.groups.len());
                }
                self.groups.push((key, vec![field]));
            }
        }
    }
}

struct Shaper<'a, 'e> {
    schema: &'a Valid<Schema>,
    document: &'a ExecutableDocument,
    variables: &'a Valid<JsonMap>,
    /// Field nodes authorization refused.
    denied: &'a HashSet<usize>,
    errors: &'e mut Vec<GraphqlError>,
    /// Whether fetches reported errors (then a missing value is explained
    /// by them and gets no error of its own).
    had_errors: bool,
    path: Vec<Step<'a>>,
}

impl<'a> Shaper<'a, '_> {
    /// Writes an object completed with `plan`; `false` means null
    /// propagated into it (the caller drops what was written).
    fn object(&mut self, plan: &Plan<'a>, data: &Object, out: &mut Vec<u8>) -> bool {
        out.push(b'{');
        for (index, field) in plan.fields.iter().enumerate() {
            if index > 0 {
                out.push(b',');
            }
            write_key(out, field.key);
            match &field.action {
                Action::Typename => {
                    out.push(b'"');
                    out.extend_from_slice(plan.type_name.as_str().as_bytes());
                    out.push(b'"');
                }
                Action::Introspection => match data.get(field.key) {
                    Some(value) => write_data(out, value),
                    None => out.extend_from_slice(b"null"),
                },
                Action::Denied { non_null } => {
                    self.path.push(Step::Key(field.key));
                    self.errors.push(
                        GraphqlError::new(
                            "Unauthorized field or type",
                            crate::authorization::UNAUTHORIZED_CODE,
                        )
                        .with_path(self.path_value()),
                    );
                    self.path.pop();
                    if *non_null {
                        return false;
                    }
                    out.extend_from_slice(b"null");
                }
                Action::Complete { ty, output } => {
                    self.path.push(Step::Key(field.key));
                    let data = lookup(data, field);
                    let written = self.value(ty, plan.type_name, field.name, output, data, out);
                    self.path.pop();
                    if !written {
                        return false;
                    }
                }
            }
        }
        out.push(b'}');
        true
    }

    /// Writes one value of type `ty` for field `parent.field`; `false`
    /// means null in a non-null position (nothing is left written).
    fn value(
        &mut self,
        ty: &'a ast::Type,
        parent: &'a Name,
        field: &'a Name,
        output: &Output<'a>,
        value: Option<&Data>,
        out: &mut Vec<u8>,
    ) -> bool {
        let start = out.len();
        let completed = match value {
            None | Some(Data::Null) => false,
            Some(value) => self.non_null_value(ty, parent, field, output, value, out),
        };
        if completed {
            return true;
        }
        out.truncate(start);
        if ty.is_non_null() {
            if value.is_some() || !self.had_errors {
                self.null_error(parent, field);
            }
            return false;
        }
        out.extend_from_slice(b"null");
        true
    }

    /// Writes a present, non-null value; `false` when it turned null.
    fn non_null_value(
        &mut self,
        ty: &'a ast::Type,
        parent: &'a Name,
        field: &'a Name,
        output: &Output<'a>,
        value: &Data,
        out: &mut Vec<u8>,
    ) -> bool {
        if let ast::Type::List(inner) | ast::Type::NonNullList(inner) = ty {
            let Data::Array(items) = value else {
                self.invalid(parent, field);
                return false;
            };
            out.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                self.path.push(Step::Index(index));
                let completed = self.value(inner, parent, field, output, Some(item), out);
                self.path.pop();
                if !completed {
                    return false;
                }
            }
            out.push(b']');
            return true;
        }
        match output {
            Output::Leaf => {
                write_data(out, value);
                true
            }
            Output::Scalar(builtin) => {
                if builtin.write(value, out) {
                    true
                } else {
                    self.invalid(parent, field);
                    false
                }
            }
            Output::Enum(enum_) => {
                let known = value.as_str().is_some_and(|v| enum_.values.contains_key(v));
                if known {
                    write_data(out, value);
                    true
                } else {
                    self.invalid(parent, field);
                    false
                }
            }
            Output::Object {
                type_name,
                sets,
                plan,
            } => {
                let Data::Object(object) = value else {
                    self.invalid(parent, field);
                    return false;
                };
                let plan = plan.get_or_init(|| self.plan(type_name, sets));
                self.object(plan, object, out)
            }
            Output::Abstract {
                type_name,
                sets,
                plans,
            } => {
                let Data::Object(object) = value else {
                    self.invalid(parent, field);
                    return false;
                };
                let typename = object.get("__typename").and_then(Data::as_str);
                let Some(plan) = self.runtime_plan(type_name, sets, plans, typename) else {
                    self.invalid(parent, field);
                    return false;
                };
                self.object(&plan, object, out)
            }
        }
    }

    /// The plan for an object of abstract type `abstract_type` whose
    /// `__typename` is `typename`; `None` when that is not one of its
    /// possible types.
    fn runtime_plan(
        &self,
        abstract_type: &'a Name,
        sets: &[&'a SelectionSet],
        plans: &RefCell<Vec<Rc<Plan<'a>>>>,
        typename: Option<&str>,
    ) -> Option<Rc<Plan<'a>>> {
        let typename = typename?;
        if let Some(plan) = plans
            .borrow()
            .iter()
            .find(|p| p.type_name.as_str() == typename)
        {
            return Some(Rc::clone(plan));
        }
        // An object from an `@interfaceObject` subgraph whose concrete type
        // the operation did not need keeps the interface's name: shape it on
        // the interface.
        let runtime = if typename == abstract_type.as_str() {
            abstract_type
        } else {
            let object = self.schema.get_object(typename)?;
            if !self.schema.is_subtype(abstract_type, &object.name) {
                return None;
            }
            &object.name
        };
        let plan = Rc::new(self.plan(runtime, sets));
        plans.borrow_mut().push(Rc::clone(&plan));
        Some(plan)
    }

    /// CollectFields of the spec over `sets` for runtime type `type_name`,
    /// with what completing each field takes.
    fn plan(&self, type_name: &'a Name, sets: &[&'a SelectionSet]) -> Plan<'a> {
        let mut groups = Groups::default();
        let mut visited = HashSet::default();
        for set in sets {
            self.collect(type_name, set, &mut groups, &mut visited);
        }
        let fields = groups
            .groups
            .into_iter()
            .map(|(key, group)| PlannedField {
                key: key.as_str(),
                name: &group[0].name,
                action: self.action(type_name, &group),
                position: Cell::new(0),
            })
            .collect();
        Plan { type_name, fields }
    }

    fn action(&self, type_name: &'a Name, group: &[&'a Node<Field>]) -> Action<'a> {
        let first = group[0];
        if first.name == "__typename" {
            return Action::Typename;
        }
        if first.name == "__schema" || first.name == "__type" {
            return Action::Introspection;
        }
        let ty = self
            .schema
            .type_field(type_name, &first.name)
            .map_or(&first.definition.ty, |def| &def.ty);
        if !self.denied.is_empty()
            && group
                .iter()
                .any(|f| self.denied.contains(&crate::authorization::field_id(f)))
        {
            return Action::Denied {
                non_null: ty.is_non_null(),
            };
        }
        let sets = || group.iter().map(|f| &f.selection_set).collect();
        let output = match self.schema.types.get(ty.inner_named_type()) {
            Some(ExtendedType::Object(object)) => Output::Object {
                type_name: &object.name,
                sets: sets(),
                plan: OnceCell::new(),
            },
            Some(ExtendedType::Interface(interface)) => Output::Abstract {
                type_name: &interface.name,
                sets: sets(),
                plans: RefCell::new(Vec::new()),
            },
            Some(ExtendedType::Union(union_)) => Output::Abstract {
                type_name: &union_.name,
                sets: sets(),
                plans: RefCell::new(Vec::new()),
            },
            Some(ExtendedType::Enum(enum_)) => Output::Enum(enum_),
            Some(ExtendedType::Scalar(scalar)) => {
                Builtin::of(scalar.name.as_str()).map_or(Output::Leaf, Output::Scalar)
            }
            _ => Output::Leaf,
        };
        Action::Complete { ty, output }
    }

    /// CollectFields of the spec for an object of runtime type `type_name`.
    fn collect(
        &self,
        type_name: &Name,
        set: &'a SelectionSet,
        out: &mut Groups<'a>,
        visited: &mut HashSet<&'a Name, foldhash::fast::RandomState>,
    ) {
        for selection in &set.selections {
            if !self.included(selection.directives()) {
                continue;
            }
            match selection {
                Selection::Field(field) => out.add(field),
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

    /// The current response path as JSON.
    fn path_value(&self) -> Vec<Value> {
        self.path.iter().map(|step| step.to_json()).collect()
    }

    fn null_error(&mut self, parent: &Name, field: &Name) {
        // An error at this path, above it or under it already explains the null.
        let covered = self.errors.iter().any(|e| {
            e.path.as_ref().is_some_and(|p| {
                p.iter()
                    .zip(&self.path)
                    .all(|(value, step)| step.matches(value))
            })
        });
        if !covered {
            self.errors.push(
                GraphqlError::new(
                    format!("Cannot return null for non-nullable field {parent}.{field}."),
                    "RESPONSE_VALIDATION_FAILED",
                )
                .with_path(self.path_value()),
            );
        }
    }

    fn invalid(&mut self, parent: &Name, field: &Name) {
        self.errors.push(
            GraphqlError::new(
                format!("Invalid value found for field {parent}.{field}."),
                "RESPONSE_VALIDATION_FAILED",
            )
            .with_path(self.path_value()),
        );
    }
}

/// `data[field.key]`, trying first where the key was in the previous object
/// (objects of one list usually share their key order).
fn lookup<'d>(data: &'d Object, field: &PlannedField<'_>) -> Option<&'d Data> {
    if let Some((key, value)) = data.entry_at(field.position.get()) {
        if key == field.key {
            return Some(value);
        }
    }
    let position = data.position(field.key)?;
    field.position.set(position);
    data.entry_at(position).map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaf_values_are_written_as_serde_json_writes_them() {
        let value = serde_json::json!({
            "plain": "Lorem ipsum dolor sit amet",
            "escaped": "a \"quote\", a \\ backslash, a\nnewline, a \u{1} control, a \u{7f} del",
            "unicode": "żółw 🐢 /slash",
            "numbers": [0, -7, 18446744073709551615u64, 1.5, -2.5e-10],
            "nested": {"k\"ey": [true, false, null, {}], "": []}
        });
        let mut out = Vec::new();
        write_data(&mut out, &Data::from(value.clone()));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            serde_json::to_string(&value).unwrap()
        );
    }
    use apollo_compiler::executable::Fragment;
    use serde_json::json;

    const SDL: &str = r#"
        type Query {
          me: User!
          node: Node
          nodes: [Node!]
          a: [Node]
          b: [Node]
          things: [Thing]
          items: [Item]
          strictItems: [Item!]!
          color: Color
          colors: [Color!]
          secret: String
          secretStrict: String!
        }
        interface Node { id: ID! }
        type User implements Node {
          id: ID!
          name: String
          email: String!
          friends: [User!]
          color: Color
        }
        type Product implements Node {
          id: ID!
          upc: String!
          price: Int
          owner: User
        }
        union Thing = User | Product
        type Item { label: String, tags: [Tag!]! }
        type Tag { label: String! }
        enum Color { RED GREEN }
    "#;

    struct Case {
        schema: Valid<Schema>,
        document: Valid<ExecutableDocument>,
    }

    impl Case {
        fn new(query: &str) -> Self {
            let schema = Schema::parse_and_validate(SDL, "schema.graphql").unwrap();
            let document =
                ExecutableDocument::parse_and_validate(&schema, query, "query.graphql").unwrap();
            Self { schema, document }
        }

        /// Field nodes named `name` anywhere in the document.
        fn fields_named(&self, name: &str) -> HashSet<usize> {
            fn walk(set: &SelectionSet, name: &str, out: &mut HashSet<usize>) {
                for selection in &set.selections {
                    match selection {
                        Selection::Field(f) => {
                            if f.name == name {
                                out.insert(crate::authorization::field_id(f));
                            }
                            walk(&f.selection_set, name, out);
                        }
                        Selection::InlineFragment(i) => walk(&i.selection_set, name, out),
                        Selection::FragmentSpread(_) => {}
                    }
                }
            }
            let mut out = HashSet::new();
            for operation in self.document.operations.iter() {
                walk(&operation.selection_set, name, &mut out);
            }
            for fragment in self.document.fragments.values() {
                let fragment: &Node<Fragment> = fragment;
                walk(&fragment.selection_set, name, &mut out);
            }
            out
        }

        fn run(
            &self,
            variables: Value,
            denied: &HashSet<usize>,
            data: Value,
            errors: &mut Vec<GraphqlError>,
        ) -> Value {
            let operation = self.document.operations.get(None).unwrap();
            let variables: JsonMap = serde_json::from_value(variables).unwrap();
            let variables = apollo_compiler::request::coerce_variable_values(
                &self.schema,
                operation,
                &variables,
            )
            .unwrap();
            let mut state = super::super::State {
                data: Data::from(data),
                received: 0,
                errors: std::mem::take(errors),
            };
            let text = shape(
                &self.schema,
                &self.document,
                operation,
                &variables,
                denied,
                &mut state,
            );
            *errors = state.errors;
            serde_json::from_str(&text).unwrap()
        }

        fn shape(&self, variables: Value, data: Value) -> (Value, Vec<Value>) {
            let mut errors = Vec::new();
            let out = self.run(variables, &HashSet::new(), data, &mut errors);
            (out, errors_json(&errors))
        }
    }

    #[test]
    fn many_response_keys_keep_their_order_and_merge_repeats() {
        // Past the scan limit, keys are found through an index: a repeated
        // key still merges into its first place.
        let aliases: Vec<String> = (1..=24).map(|i| format!("a{i}: name")).collect();
        let query = format!("{{ me {{ {} a3: name id a20: name }} }}", aliases.join(" "));
        let case = Case::new(&query);
        let mut me = serde_json::Map::new();
        for i in 1..=24 {
            me.insert(format!("a{i}"), json!(format!("n{i}")));
        }
        me.insert("id".to_owned(), json!("1"));
        let (out, errors) = case.shape(json!({}), json!({"me": me}));
        assert!(errors.is_empty(), "{errors:?}");
        let keys: Vec<&str> = out["me"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected: Vec<String> = (1..=24).map(|i| format!("a{i}")).collect();
        expected.push("id".to_owned());
        assert_eq!(keys, expected);
        assert_eq!(out["me"]["a20"], "n20");
    }

    fn errors_json(errors: &[GraphqlError]) -> Vec<Value> {
        errors
            .iter()
            .map(|e| serde_json::to_value(e).unwrap())
            .collect()
    }

    fn validation_error(message: &str, path: Value) -> Value {
        json!({
            "message": message,
            "path": path,
            "extensions": {"code": "RESPONSE_VALIDATION_FAILED"},
        })
    }

    #[test]
    fn fields_follow_the_runtime_type_of_each_list_item() {
        let case = Case::new(
            "query($withName: Boolean!) {
               nodes {
                 kind: __typename
                 ... on User { name @include(if: $withName) id }
                 ... on Product { upc ident: id }
                 ...ProductPrice
               }
             }
             fragment ProductPrice on Product { price }",
        );
        let data = json!({"nodes": [
            {"__typename": "User", "id": "u1", "name": "Ann", "extra": 1},
            {"__typename": "Product", "ident": "p1", "upc": "x", "price": 3, "id": "p1"},
            {"__typename": "User", "id": "u2", "name": "Bob"},
            {"__typename": "Product", "ident": "p2", "upc": "y", "price": null},
        ]});
        let (out, errors) = case.shape(json!({"withName": true}), data.clone());
        assert_eq!(errors, Vec::<Value>::new());
        assert_eq!(
            serde_json::to_string(&out).unwrap(),
            serde_json::to_string(&json!({"nodes": [
                {"kind": "User", "name": "Ann", "id": "u1"},
                {"kind": "Product", "upc": "x", "ident": "p1", "price": 3},
                {"kind": "User", "name": "Bob", "id": "u2"},
                {"kind": "Product", "upc": "y", "ident": "p2", "price": null},
            ]}))
            .unwrap()
        );
        let (out, _) = case.shape(json!({"withName": false}), data);
        assert_eq!(
            out["nodes"],
            json!([
                {"kind": "User", "id": "u1"},
                {"kind": "Product", "upc": "x", "ident": "p1", "price": 3},
                {"kind": "User", "id": "u2"},
                {"kind": "Product", "upc": "y", "ident": "p2", "price": null},
            ])
        );
    }

    #[test]
    fn the_same_type_under_different_selections_keeps_each_selection() {
        // `a` and `b` hold objects of the same runtime types with different
        // selections; so do `me.friends` and the friends of `node`.
        let case = Case::new(
            "{
               a { ... on User { name } ... on Product { upc } }
               b { id ... on User { email } }
               me { friends { name } }
               me { id }
               node { ... on User { friends { id email } } }
             }",
        );
        let user = json!({"__typename": "User", "id": "u1", "name": "Ann", "email": "a@x"});
        let product = json!({"__typename": "Product", "id": "p1", "upc": "x"});
        let (out, errors) = case.shape(
            json!({}),
            json!({
                "a": [user, product],
                "b": [user, product],
                "me": {"id": "me", "friends": [user]},
                "node": {"__typename": "User", "friends": [user, user]},
            }),
        );
        assert_eq!(errors, Vec::<Value>::new());
        assert_eq!(
            serde_json::to_string(&out).unwrap(),
            serde_json::to_string(&json!({
                "a": [{"name": "Ann"}, {"upc": "x"}],
                "b": [{"id": "u1", "email": "a@x"}, {"id": "p1"}],
                "me": {"friends": [{"name": "Ann"}], "id": "me"},
                "node": {"friends": [{"id": "u1", "email": "a@x"}, {"id": "u1", "email": "a@x"}]},
            }))
            .unwrap()
        );
    }

    #[test]
    fn keys_are_found_in_objects_of_any_key_order_and_size() {
        let case = Case::new("{ things { ... on User { id name color } } }");
        let mut large = serde_json::Map::new();
        for i in 0..40 {
            large.insert(format!("_extra{i}"), json!(i));
        }
        large.insert("color".to_owned(), json!("GREEN"));
        large.insert("__typename".to_owned(), json!("User"));
        large.insert("id".to_owned(), json!("u4"));
        let (out, errors) = case.shape(
            json!({}),
            json!({"things": [
                {"__typename": "User", "id": "u1", "name": "a", "color": "RED"},
                {"color": "GREEN", "name": "b", "id": "u2", "__typename": "User"},
                {"__typename": "User", "id": "u3"},
                large,
                {"name": "e", "__typename": "User", "id": "u5", "color": null},
            ]}),
        );
        assert_eq!(errors, Vec::<Value>::new());
        assert_eq!(
            out,
            json!({"things": [
                {"id": "u1", "name": "a", "color": "RED"},
                {"id": "u2", "name": "b", "color": "GREEN"},
                {"id": "u3", "name": null, "color": null},
                {"id": "u4", "name": null, "color": "GREEN"},
                {"id": "u5", "name": "e", "color": null},
            ]})
        );
    }

    #[test]
    fn a_null_deep_in_a_list_propagates_to_the_nearest_nullable_parent() {
        let case = Case::new("{ items { label tags { label } } }");
        let tag = json!({"label": "t"});
        let (out, errors) = case.shape(
            json!({}),
            json!({"items": [
                {"label": "0", "tags": [tag]},
                {"label": "1", "tags": [tag, tag]},
                {"label": "2", "tags": [tag, {"label": null}, {"label": null}]},
                {"label": "3", "tags": []},
            ]}),
        );
        assert_eq!(
            out,
            json!({"items": [
                {"label": "0", "tags": [{"label": "t"}]},
                {"label": "1", "tags": [{"label": "t"}, {"label": "t"}]},
                null,
                {"label": "3", "tags": []},
            ]})
        );
        assert_eq!(
            errors,
            vec![validation_error(
                "Cannot return null for non-nullable field Tag.label.",
                json!(["items", 2, "tags", 1, "label"]),
            )]
        );
    }

    #[test]
    fn a_null_in_a_non_null_root_field_nulls_data() {
        let case = Case::new("{ color strictItems { tags { label } } }");
        let (out, errors) = case.shape(
            json!({}),
            json!({"color": "RED", "strictItems": [{"tags": [{"label": "a"}]}, {"tags": null}]}),
        );
        assert_eq!(out, Value::Null);
        assert_eq!(
            errors,
            vec![validation_error(
                "Cannot return null for non-nullable field Item.tags.",
                json!(["strictItems", 1, "tags"]),
            )]
        );
        // `me: User!` absent without fetch errors.
        let case = Case::new("{ me { id } }");
        let (out, errors) = case.shape(json!({}), json!({}));
        assert_eq!(out, Value::Null);
        assert_eq!(
            errors,
            vec![validation_error(
                "Cannot return null for non-nullable field Query.me.",
                json!(["me"]),
            )]
        );
    }

    #[test]
    fn fetch_errors_cover_nulls_at_or_under_their_path() {
        let case = Case::new("{ items { tags { label } } me { email } }");
        let data = json!({
            "items": [{"tags": [{"label": null}]}, {"tags": [{"label": null}]}],
            "me": {"email": null},
        });
        let mut errors = vec![GraphqlError::new("boom", "SUBGRAPH_REQUEST_FAILED")
            .with_path(vec![json!("items"), json!(1)])];
        let out = case.run(json!({}), &HashSet::new(), data, &mut errors);
        assert_eq!(out, Value::Null);
        let errors = errors_json(&errors);
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert_eq!(
            errors[1],
            validation_error(
                "Cannot return null for non-nullable field Tag.label.",
                json!(["items", 0, "tags", 0, "label"]),
            )
        );
        assert_eq!(
            errors[2],
            validation_error(
                "Cannot return null for non-nullable field User.email.",
                json!(["me", "email"]),
            )
        );
        // With fetch errors, a missing value is explained by them.
        let mut errors = vec![GraphqlError::new("boom", "SUBGRAPH_REQUEST_FAILED")];
        let out = case.run(
            json!({}),
            &HashSet::new(),
            json!({"items": null}),
            &mut errors,
        );
        assert_eq!(out, Value::Null);
        assert_eq!(errors.len(), 1);
    }

    #[test]
    fn values_of_the_wrong_shape_are_invalid() {
        let case =
            Case::new("{ color colors things { ... on User { id } } a { id } items { label } }");
        let (out, errors) = case.shape(
            json!({}),
            json!({
                "color": "BLUE",
                "colors": ["RED", "PURPLE"],
                "things": [{"__typename": "User", "id": "u"}, {"__typename": "Tag"}, {"id": "x"}, 3],
                "a": {"id": "not a list"},
                "items": [{"label": "ok"}, "not an object"],
            }),
        );
        assert_eq!(
            out,
            json!({
                "color": null,
                "colors": null,
                "things": [{"id": "u"}, null, null, null],
                "a": null,
                "items": [{"label": "ok"}, null],
            })
        );
        assert_eq!(
            errors,
            vec![
                validation_error(
                    "Invalid value found for field Query.color.",
                    json!(["color"])
                ),
                validation_error(
                    "Invalid value found for field Query.colors.",
                    json!(["colors", 1])
                ),
                validation_error(
                    "Invalid value found for field Query.things.",
                    json!(["things", 1])
                ),
                validation_error(
                    "Invalid value found for field Query.things.",
                    json!(["things", 2])
                ),
                validation_error(
                    "Invalid value found for field Query.things.",
                    json!(["things", 3])
                ),
                validation_error("Invalid value found for field Query.a.", json!(["a"])),
                validation_error(
                    "Invalid value found for field Query.items.",
                    json!(["items", 1])
                ),
            ]
        );
    }

    #[test]
    fn built_in_scalars_are_coerced_or_invalid() {
        let case =
            Case::new("{ nodes { id ... on User { name } ... on Product { upc price } } secret }");
        let product = |id: Value, upc: Value, price: Value| json!({"__typename": "Product", "id": id, "upc": upc, "price": price});
        let (out, errors) = case.shape(
            json!({}),
            json!({
                "nodes": [
                    product(json!("p1"), json!("u"), json!(2147483647)),
                    product(json!(7), json!("u"), json!(-2147483648)),
                    product(json!("p3"), json!("u"), json!(3.0)),
                    {"__typename": "User", "id": "u1", "name": 5},
                    {"__typename": "User", "id": "u2", "name": true},
                    product(json!("p4"), json!("u"), json!(2147483648u64)),
                    product(json!("p5"), json!("u"), json!(1.5)),
                    product(json!("p6"), json!("u"), json!("12")),
                ],
                "secret": {"not": "a string"},
            }),
        );
        assert_eq!(
            out,
            json!({
                "nodes": [
                    {"id": "p1", "upc": "u", "price": 2147483647},
                    {"id": "7", "upc": "u", "price": -2147483648},
                    {"id": "p3", "upc": "u", "price": 3},
                    {"id": "u1", "name": null},
                    {"id": "u2", "name": null},
                    {"id": "p4", "upc": "u", "price": null},
                    {"id": "p5", "upc": "u", "price": null},
                    {"id": "p6", "upc": "u", "price": null},
                ],
                "secret": null,
            })
        );
        let messages: Vec<(String, Value)> = errors
            .iter()
            .map(|e| (e["message"].as_str().unwrap().to_owned(), e["path"].clone()))
            .collect();
        assert_eq!(
            messages,
            vec![
                (
                    "Invalid value found for field User.name.".to_owned(),
                    json!(["nodes", 3, "name"])
                ),
                (
                    "Invalid value found for field User.name.".to_owned(),
                    json!(["nodes", 4, "name"])
                ),
                (
                    "Invalid value found for field Product.price.".to_owned(),
                    json!(["nodes", 5, "price"])
                ),
                (
                    "Invalid value found for field Product.price.".to_owned(),
                    json!(["nodes", 6, "price"])
                ),
                (
                    "Invalid value found for field Product.price.".to_owned(),
                    json!(["nodes", 7, "price"])
                ),
                (
                    "Invalid value found for field Query.secret.".to_owned(),
                    json!(["secret"])
                ),
            ]
        );
        // An invalid value in a non-null position propagates like a null:
        // `id: ID!` in `[Node!]` nulls the list.
        let (out, errors) = case.shape(
            json!({}),
            json!({
                "nodes": [product(json!(1.5), json!("u"), json!(1))],
                "secret": "s",
            }),
        );
        assert_eq!(out, json!({"nodes": null, "secret": "s"}));
        assert_eq!(
            errors,
            vec![validation_error(
                "Invalid value found for field Product.id.",
                json!(["nodes", 0, "id"])
            )]
        );
    }

    #[test]
    fn objects_keeping_the_interface_name_are_shaped_on_the_interface() {
        let case = Case::new("{ nodes { __typename id ... on Node { id } ... on User { name } } }");
        let (out, errors) = case.shape(
            json!({}),
            json!({"nodes": [
                {"__typename": "Node", "id": "n1", "name": "hidden"},
                {"__typename": "User", "id": "u1", "name": "Ann"},
                {"__typename": "Node", "id": "n2"},
            ]}),
        );
        assert_eq!(errors, Vec::<Value>::new());
        assert_eq!(
            out,
            json!({"nodes": [
                {"__typename": "Node", "id": "n1"},
                {"__typename": "User", "id": "u1", "name": "Ann"},
                {"__typename": "Node", "id": "n2"},
            ]})
        );
    }

    #[test]
    fn skip_and_include_follow_variables_and_literals() {
        let case = Case::new(
            "query($skip: Boolean = false, $show: Boolean!) {
               me {
                 id @skip(if: $skip)
                 name @include(if: $show)
                 ... @include(if: false) { email }
                 ...Mail @skip(if: $show)
               }
             }
             fragment Mail on User { email }",
        );
        let data = json!({"me": {"id": "1", "name": "Ann", "email": "a@x"}});
        let (out, _) = case.shape(json!({"show": true}), data.clone());
        assert_eq!(out, json!({"me": {"id": "1", "name": "Ann"}}));
        let (out, _) = case.shape(json!({"skip": true, "show": false}), data);
        assert_eq!(out, json!({"me": {"email": "a@x"}}));
    }

    #[test]
    fn typename_and_introspection_are_answered_and_planner_fields_dropped() {
        let case = Case::new(
            "{ __typename t: __typename __schema { queryType { name } } me { __typename id } }",
        );
        let (out, errors) = case.shape(
            json!({}),
            json!({
                "__schema": {"queryType": {"name": "Query"}, "raw": true},
                "me": {"__typename": "User", "id": "1", "_tg_key": "k"},
                "extra": 1,
            }),
        );
        assert_eq!(errors, Vec::<Value>::new());
        assert_eq!(
            serde_json::to_string(&out).unwrap(),
            serde_json::to_string(&json!({
                "__typename": "Query",
                "t": "Query",
                "__schema": {"queryType": {"name": "Query"}, "raw": true},
                "me": {"__typename": "User", "id": "1"},
            }))
            .unwrap()
        );
    }

    #[test]
    fn denied_fields_are_null_with_an_error_and_propagate() {
        let case = Case::new("{ secret nodes { id ... on User { email name } } }");
        let mut denied = case.fields_named("secret");
        denied.extend(case.fields_named("email"));
        let mut errors = Vec::new();
        let out = case.run(
            json!({}),
            &denied,
            json!({"nodes": [
                {"__typename": "Product", "id": "p"},
                {"__typename": "User", "id": "u", "name": "Ann"},
            ]}),
            &mut errors,
        );
        assert_eq!(out, json!({"secret": null, "nodes": null}));
        let unauthorized = |path: Value| {
            json!({
                "message": "Unauthorized field or type",
                "path": path,
                "extensions": {"code": "UNAUTHORIZED_FIELD_OR_TYPE"},
            })
        };
        assert_eq!(
            errors_json(&errors),
            vec![
                unauthorized(json!(["secret"])),
                unauthorized(json!(["nodes", 1, "email"])),
            ]
        );
        let case = Case::new("{ secretStrict }");
        let denied = case.fields_named("secretStrict");
        let mut errors = Vec::new();
        let out = case.run(json!({}), &denied, json!({}), &mut errors);
        assert_eq!(out, Value::Null);
        assert_eq!(
            errors_json(&errors),
            vec![unauthorized(json!(["secretStrict"]))]
        );
    }
}
