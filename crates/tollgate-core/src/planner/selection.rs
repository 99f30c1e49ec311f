//! The planner's own selection tree: what one subgraph fetch selects. Fields
//! are merged as the planner adds them, the tree is printed as GraphQL text
//! for the subgraph, and at run time the executor walks representation
//! selections with it to build `_entities` inputs.

use std::fmt::Write as _;

use sha2::Digest as _;

use crate::executor::data;
use apollo_compiler::ast::{self, Value};
use apollo_compiler::executable::{self, SelectionSet};
use apollo_compiler::{Name, Node};

/// An ordered selection of fields and inline fragments.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selection {
    /// The items, in the order they were added.
    pub items: Vec<Item>,
}

/// One item of a [`Selection`].
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// A field, possibly aliased.
    Field(FieldItem),
    /// An inline fragment, with or without type condition.
    Fragment(FragmentItem),
}

/// A selected field.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldItem {
    /// The key in the response (the alias, else the name).
    pub response_key: Name,
    /// The field name.
    pub name: Name,
    /// Arguments as written by the client.
    pub arguments: Vec<Node<ast::Argument>>,
    /// `@skip`/`@include` applications.
    pub directives: ast::DirectiveList,
    /// The sub-selection of a composite field; `None` for leaves.
    pub selection: Option<Selection>,
    /// The field's type in the fetch's subgraph, when known (conflict checks).
    pub ty: Option<String>,
}

/// An inline fragment.
#[derive(Debug, Clone, PartialEq)]
pub struct FragmentItem {
    /// `... on Type`, or `None` for a condition-only fragment.
    pub type_condition: Option<Name>,
    /// `@skip`/`@include` applications.
    pub directives: ast::DirectiveList,
    /// The fragment's selection.
    pub selection: Selection,
}

impl Selection {
    /// Whether nothing is selected.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The nested selection reached by following item indices.
    ///
    /// Indices come from [`Selection::add_field`] / [`Selection::add_fragment`]
    /// and stay valid because items are only ever appended.
    pub fn at_mut(&mut self, path: &[usize]) -> Option<&mut Selection> {
        let mut current = self;
        for index in path {
            current = match current.items.get_mut(*index)? {
                Item::Field(field) => field.selection.as_mut()?,
                Item::Fragment(fragment) => &mut fragment.selection,
            };
        }
        Some(current)
    }

    /// The nested selection reached by following item indices, read-only.
    pub fn at(&self, path: &[usize]) -> Option<&Selection> {
        let mut current = self;
        for index in path {
            current = match current.items.get(*index)? {
                Item::Field(field) => field.selection.as_ref()?,
                Item::Fragment(fragment) => &fragment.selection,
            };
        }
        Some(current)
    }

    /// Adds a field (merging with an identical one) and returns its index.
    pub fn add_field(
        &mut self,
        response_key: &Name,
        name: &Name,
        arguments: &[Node<ast::Argument>],
        directives: &ast::DirectiveList,
        composite: bool,
    ) -> usize {
        let found = self.items.iter().position(|item| match item {
            Item::Field(f) => {
                f.response_key == *response_key
                    && f.name == *name
                    && f.arguments == arguments
                    && f.directives == *directives
            }
            Item::Fragment(_) => false,
        });
        if let Some(index) = found {
            return index;
        }
        self.items.push(Item::Field(FieldItem {
            response_key: response_key.clone(),
            name: name.clone(),
            arguments: arguments.to_vec(),
            directives: directives.clone(),
            selection: composite.then(Selection::default),
            ty: None,
        }));
        self.items.len() - 1
    }

    /// The index path of the selection set a position belongs to for field
    /// merging: `path` without its trailing fragment steps.
    pub fn level_of(&self, path: &[usize]) -> usize {
        let mut current = self;
        let mut level = 0;
        for (depth, index) in path.iter().enumerate() {
            match current.items.get(*index) {
                Some(Item::Field(field)) => match &field.selection {
                    Some(nested) => {
                        current = nested;
                        level = depth + 1;
                    }
                    None => break,
                },
                Some(Item::Fragment(fragment)) => current = &fragment.selection,
                None => break,
            }
        }
        level
    }

    /// Whether a field with `response_key` and subgraph type `ty` would
    /// conflict with one already selected in this set (fragments included):
    /// same response key, different type.
    pub fn type_conflict(&self, response_key: &Name, ty: &str) -> bool {
        self.items.iter().any(|item| match item {
            Item::Field(field) => {
                field.response_key == *response_key && field.ty.as_deref().is_some_and(|t| t != ty)
            }
            Item::Fragment(fragment) => fragment.selection.type_conflict(response_key, ty),
        })
    }

    /// Records the subgraph type of the field at `index`.
    pub fn set_type(&mut self, index: usize, ty: String) {
        if let Some(Item::Field(field)) = self.items.get_mut(index) {
            field.ty.get_or_insert(ty);
        }
    }

    /// Adds `__typename` unless present.
    pub fn add_typename(&mut self) {
        let name = typename();
        self.add_field(&name, &name, &[], &ast::DirectiveList::new(), false);
    }

    /// Adds an inline fragment (merging with an identical one) and returns its index.
    pub fn add_fragment(
        &mut self,
        type_condition: Option<&Name>,
        directives: &ast::DirectiveList,
    ) -> usize {
        let found = self.items.iter().position(|item| match item {
            Item::Fragment(f) => {
                f.type_condition.as_ref() == type_condition && f.directives == *directives
            }
            Item::Field(_) => false,
        });
        if let Some(index) = found {
            return index;
        }
        self.items.push(Item::Fragment(FragmentItem {
            type_condition: type_condition.cloned(),
            directives: directives.clone(),
            selection: Selection::default(),
        }));
        self.items.len() - 1
    }

    /// Merges a field set (keys, requirements) into this selection, fragments
    /// kept, aliases and directives dropped.
    pub fn merge_field_set(&mut self, set: &SelectionSet) {
        for selection in &set.selections {
            match selection {
                executable::Selection::Field(field) => {
                    let composite = !field.selection_set.selections.is_empty();
                    let index = self.add_field(
                        &internal_key(field),
                        &field.name,
                        &field.arguments,
                        &ast::DirectiveList::new(),
                        composite,
                    );
                    if let Some(Item::Field(FieldItem {
                        selection: Some(nested),
                        ..
                    })) = self.items.get_mut(index)
                    {
                        nested.merge_field_set(&field.selection_set);
                    }
                }
                executable::Selection::InlineFragment(inline) => {
                    let index = self
                        .add_fragment(inline.type_condition.as_ref(), &ast::DirectiveList::new());
                    if let Some(Item::Fragment(fragment)) = self.items.get_mut(index) {
                        fragment.selection.merge_field_set(&inline.selection_set);
                    }
                }
                executable::Selection::FragmentSpread(_) => {}
            }
        }
    }

    /// Whether `other` selects a field by a name this selection also selects,
    /// with different arguments (at any depth, fragments flattened).
    pub fn argument_clash(&self, other: &Selection) -> bool {
        let mine = self.fields_flat();
        other.fields_flat().iter().any(|theirs| {
            mine.iter().any(|m| {
                m.name == theirs.name
                    && (m.arguments != theirs.arguments
                        || match (&m.selection, &theirs.selection) {
                            (Some(a), Some(b)) => a.argument_clash(b),
                            _ => false,
                        })
            })
        })
    }

    /// Whether this selection and `other` can be sent in one subgraph
    /// operation without changing either's answer: every response key both
    /// select (fragments flattened, at any depth) names the same field with
    /// the same arguments and directives, of the same subgraph type.
    /// `same_parent` says both select on the same type; otherwise a field
    /// whose type the planner did not record (keys and requirements) does
    /// not match, since two types may give one field name different types.
    pub fn mergeable_with(&self, other: &Selection, same_parent: bool) -> bool {
        let mine = self.fields_flat();
        other.fields_flat().iter().all(|theirs| {
            mine.iter()
                .filter(|m| m.response_key == theirs.response_key)
                .all(|m| {
                    let types = match (&m.ty, &theirs.ty) {
                        (Some(a), Some(b)) => a == b,
                        _ => same_parent || m.name == "__typename",
                    };
                    m.name == theirs.name
                        && m.arguments == theirs.arguments
                        && m.directives == theirs.directives
                        && types
                        && match (&m.selection, &theirs.selection) {
                            (Some(a), Some(b)) => a.mergeable_with(b, same_parent),
                            (None, None) => true,
                            _ => false,
                        }
                })
        })
    }

    /// Whether a field with this response key is selected at this level
    /// (fragments flattened).
    pub fn selects_key(&self, key: &Name) -> bool {
        self.fields_flat().iter().any(|f| f.response_key == *key)
    }

    fn fields_flat(&self) -> Vec<&FieldItem> {
        let mut out = Vec::new();
        for item in &self.items {
            match item {
                Item::Field(field) => out.push(field),
                Item::Fragment(fragment) => out.extend(fragment.selection.fields_flat()),
            }
        }
        out
    }

    /// Merges another selection into this one.
    pub fn merge_selection(&mut self, other: &Selection) {
        for item in &other.items {
            match item {
                Item::Field(field) => {
                    let index = self.add_field(
                        &field.response_key,
                        &field.name,
                        &field.arguments,
                        &field.directives,
                        field.selection.is_some(),
                    );
                    if let (Some(nested), Some(Item::Field(target))) =
                        (&field.selection, self.items.get_mut(index))
                    {
                        if let Some(target) = &mut target.selection {
                            target.merge_selection(nested);
                        }
                    }
                }
                Item::Fragment(fragment) => {
                    let index =
                        self.add_fragment(fragment.type_condition.as_ref(), &fragment.directives);
                    if let Some(Item::Fragment(target)) = self.items.get_mut(index) {
                        target.selection.merge_selection(&fragment.selection);
                    }
                }
            }
        }
    }

    /// Makes the selection sendable: composite fields left empty select
    /// `__typename`, empty fragments are dropped.
    pub fn finish(&mut self) {
        self.items.retain_mut(|item| match item {
            Item::Field(field) => {
                if let Some(nested) = &mut field.selection {
                    nested.finish();
                    if nested.is_empty() {
                        nested.add_typename();
                    }
                }
                true
            }
            Item::Fragment(fragment) => {
                fragment.selection.finish();
                !fragment.selection.is_empty()
            }
        });
    }

    /// Prints `{ ... }` as GraphQL.
    pub fn write(&self, out: &mut String) {
        out.push('{');
        for item in &self.items {
            out.push(' ');
            match item {
                Item::Field(field) => {
                    if field.response_key != field.name {
                        let _ = write!(out, "{}: ", field.response_key);
                    }
                    out.push_str(&field.name);
                    if !field.arguments.is_empty() {
                        out.push('(');
                        for (i, argument) in field.arguments.iter().enumerate() {
                            if i > 0 {
                                out.push_str(", ");
                            }
                            let _ = write!(out, "{}: {}", argument.name, argument.value);
                        }
                        out.push(')');
                    }
                    write_directives(&field.directives, out);
                    if let Some(nested) = &field.selection {
                        out.push(' ');
                        nested.write(out);
                    }
                }
                Item::Fragment(fragment) => {
                    out.push_str("...");
                    if let Some(condition) = &fragment.type_condition {
                        let _ = write!(out, " on {condition}");
                    }
                    write_directives(&fragment.directives, out);
                    out.push(' ');
                    fragment.selection.write(out);
                }
            }
        }
        out.push_str(" }");
    }

    /// Names of the variables the selection uses, appended without duplicates.
    pub fn variables(&self, out: &mut Vec<Name>) {
        for item in &self.items {
            match item {
                Item::Field(field) => {
                    for argument in &field.arguments {
                        value_variables(&argument.value, out);
                    }
                    directive_variables(&field.directives, out);
                    if let Some(nested) = &field.selection {
                        nested.variables(out);
                    }
                }
                Item::Fragment(fragment) => {
                    directive_variables(&fragment.directives, out);
                    fragment.selection.variables(out);
                }
            }
        }
    }

    /// Projects a response object onto this selection (a representation):
    /// `None` when a selected field is missing, so no representation is made
    /// from an object whose key could not be fetched. `matches` decides
    /// whether an inline fragment's type condition applies to a `__typename`.
    pub fn project(
        &self,
        object: &data::Object,
        matches: &dyn Fn(&str, &str) -> bool,
    ) -> Option<data::Object> {
        let mut out = data::Object::new();
        self.project_into(object, matches, &mut out)?;
        Some(out)
    }

    fn project_into(
        &self,
        object: &data::Object,
        matches: &dyn Fn(&str, &str) -> bool,
        out: &mut data::Object,
    ) -> Option<()> {
        for item in &self.items {
            match item {
                Item::Field(field) => {
                    let value = object.get(field.response_key.as_str())?;
                    let projected = match &field.selection {
                        Some(nested) => project_value(nested, value, matches)?,
                        None => value.clone(),
                    };
                    // Representations name fields, whatever key they were fetched under.
                    match out.get_mut(field.name.as_str()) {
                        Some(existing) => crate::executor::merge::deep_merge(existing, projected),
                        None => out.insert(field.name.as_str(), projected),
                    }
                }
                Item::Fragment(fragment) => {
                    if fragment.applies(object, matches) {
                        fragment.selection.project_into(object, matches, out)?;
                    }
                }
            }
        }
        Some(())
    }
}

impl FragmentItem {
    /// Whether this fragment applies to a response object: no type
    /// condition, or one `matches` accepts for the object's `__typename`.
    fn applies(&self, object: &data::Object, matches: &dyn Fn(&str, &str) -> bool) -> bool {
        match &self.type_condition {
            None => true,
            Some(condition) => object
                .get("__typename")
                .and_then(data::Value::as_str)
                .is_some_and(|t| matches(condition, t)),
        }
    }
}

impl Selection {
    /// Whether no field name appears twice at any level (fragments
    /// flattened): then [`Selection::write_representation`] gives the same
    /// representation as [`Selection::project`], which merges such fields.
    pub fn names_unique(&self) -> bool {
        let fields = self.fields_flat();
        fields
            .iter()
            .enumerate()
            .all(|(i, f)| fields[..i].iter().all(|g| g.name != f.name))
            && fields
                .iter()
                .all(|f| f.selection.as_ref().is_none_or(Selection::names_unique))
    }

    /// Writes the representation of `object` straight as JSON text:
    /// `{"__typename":"<typename>", ...fields}` with this selection's other
    /// top-level fields in order. `None` (with `out` left partly written)
    /// when a selected field is missing, as for [`Selection::project`].
    pub fn write_representation(
        &self,
        object: &data::Object,
        typename: &str,
        matches: &dyn Fn(&str, &str) -> bool,
        out: &mut Vec<u8>,
    ) -> Option<()> {
        out.extend_from_slice(b"{\"__typename\":");
        data::write_str(out, typename);
        self.write_fields(object, matches, out, true)?;
        out.push(b'}');
        Some(())
    }

    /// Writes `,"name":value` for each selected field; `skip_typename` at
    /// the top level, where `__typename` is already written.
    fn write_fields(
        &self,
        object: &data::Object,
        matches: &dyn Fn(&str, &str) -> bool,
        out: &mut Vec<u8>,
        skip_typename: bool,
    ) -> Option<()> {
        for item in &self.items {
            match item {
                Item::Field(field) => {
                    if skip_typename && field.name == "__typename" {
                        continue;
                    }
                    let value = object.get(field.response_key.as_str())?;
                    if out.last() != Some(&b'{') {
                        out.push(b',');
                    }
                    data::write_str(out, field.name.as_str());
                    out.push(b':');
                    match &field.selection {
                        Some(nested) => write_value(nested, value, matches, out)?,
                        None => data::write_json(out, value),
                    }
                }
                Item::Fragment(fragment) => {
                    if fragment.applies(object, matches) {
                        fragment
                            .selection
                            .write_fields(object, matches, out, skip_typename)?;
                    }
                }
            }
        }
        Some(())
    }
}

fn write_value(
    selection: &Selection,
    value: &data::Value,
    matches: &dyn Fn(&str, &str) -> bool,
    out: &mut Vec<u8>,
) -> Option<()> {
    match value {
        data::Value::Null => out.extend_from_slice(b"null"),
        data::Value::Array(items) => {
            out.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_value(selection, item, matches, out)?;
            }
            out.push(b']');
        }
        data::Value::Object(object) => {
            out.push(b'{');
            selection.write_fields(object, matches, out, false)?;
            out.push(b'}');
        }
        _ => return None,
    }
    Some(())
}

fn project_value(
    selection: &Selection,
    value: &data::Value,
    matches: &dyn Fn(&str, &str) -> bool,
) -> Option<data::Value> {
    match value {
        data::Value::Null => Some(data::Value::Null),
        data::Value::Array(items) => items
            .iter()
            .map(|item| project_value(selection, item, matches))
            .collect::<Option<Vec<_>>>()
            .map(data::Value::Array),
        data::Value::Object(object) => selection.project(object, matches).map(data::Value::Object),
        _ => None,
    }
}

/// The response key the planner uses for a field it adds itself (keys and
/// requirements): the field name, or for a field with arguments a reserved
/// alias derived from them, so it never collides with the client's own
/// selection of the same field with other arguments.
pub fn internal_key(field: &executable::Field) -> Name {
    if field.arguments.is_empty() {
        return field.name.clone();
    }
    let mut text = String::new();
    for argument in &field.arguments {
        let _ = write!(text, "{}:{},", argument.name, argument.value);
    }
    let digest = sha2::Sha256::digest(text.as_bytes());
    let alias = format!(
        "_tg_{}_{:02x}{:02x}{:02x}{:02x}",
        field.name, digest[0], digest[1], digest[2], digest[3]
    );
    Name::new(&alias).unwrap_or_else(|_| field.name.clone())
}

/// The alias for a client field whose type in the subgraph differs from
/// another selection of the same response key (renamed back on receipt).
pub fn conflict_key(response_key: &Name, ty: &str) -> Name {
    let digest = sha2::Sha256::digest(ty.as_bytes());
    let alias = format!(
        "_tg_{}_{:02x}{:02x}{:02x}{:02x}",
        response_key, digest[0], digest[1], digest[2], digest[3]
    );
    Name::new(&alias).unwrap_or_else(|_| response_key.clone())
}

/// The `__typename` name.
pub fn typename() -> Name {
    Name::new_static_unchecked("__typename")
}

fn write_directives(directives: &ast::DirectiveList, out: &mut String) {
    for directive in directives.iter() {
        let _ = write!(out, " {directive}");
    }
}

fn directive_variables(directives: &ast::DirectiveList, out: &mut Vec<Name>) {
    for directive in directives.iter() {
        for argument in &directive.arguments {
            value_variables(&argument.value, out);
        }
    }
}

fn value_variables(value: &Value, out: &mut Vec<Name>) {
    match value {
        Value::Variable(name) if !out.contains(name) => out.push(name.clone()),
        Value::List(items) => {
            for item in items {
                value_variables(item, out);
            }
        }
        Value::Object(fields) => {
            for (_, item) in fields {
                value_variables(item, out);
            }
        }
        _ => {}
    }
}

/// The `@skip`/`@include` applications of a directive list (others are
/// client-side or unknown to subgraphs and are not forwarded).
pub fn conditions(directives: &ast::DirectiveList) -> ast::DirectiveList {
    ast::DirectiveList(
        directives
            .iter()
            .filter(|d| d.name == "skip" || d.name == "include")
            .cloned()
            .collect(),
    )
}
