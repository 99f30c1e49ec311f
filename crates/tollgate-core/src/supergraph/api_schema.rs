//! Derives the API schema clients see from the supergraph: federation
//! machinery (`@link`, `join__*`, `@inaccessible`, `@tag`, ...) and every
//! `@inaccessible` element are removed; the result is validated.

use std::collections::HashSet;

use apollo_compiler::collections::IndexMap;

use apollo_compiler::schema::{Component, ComponentName, ExtendedType, FieldDefinition};
use apollo_compiler::validation::Valid;
use apollo_compiler::{ast, Name, Schema};

use super::links::Link;
use super::SupergraphError;

/// Builds the API schema for `supergraph` with the given `@link`s.
pub(crate) fn api_schema(
    supergraph: &Schema,
    links: &[Link],
) -> Result<Valid<Schema>, SupergraphError> {
    let machinery: Vec<&Link> = links
        .iter()
        .filter(|l| l.is_federation_machinery())
        .collect();
    let inaccessible = links
        .iter()
        .find(|l| l.spec_name == "inaccessible")
        .map(|l| l.directive_name("inaccessible"))
        .unwrap_or_else(|| "inaccessible".to_owned());
    let is_machinery_directive = |name: &str| {
        name == "link" || name == "core" || machinery.iter().any(|l| l.owns_name(name, true))
    };

    let mut schema = supergraph.clone();
    schema
        .directive_definitions
        .retain(|name, _| !is_machinery_directive(name));

    let removed: HashSet<Name> = schema
        .types
        .iter()
        .filter(|(name, ty)| {
            machinery.iter().any(|l| l.owns_name(name, false))
                || ty
                    .directives()
                    .iter()
                    .any(|d| d.name.as_str() == inaccessible)
        })
        .map(|(name, _)| name.clone())
        .collect();
    schema.types.retain(|name, _| !removed.contains(name));

    let hidden = |directives: &ast::DirectiveList| {
        directives.iter().any(|d| d.name.as_str() == inaccessible)
    };
    let strip_ast = |directives: &mut ast::DirectiveList| {
        directives.0.retain(|d| !is_machinery_directive(&d.name))
    };
    let strip_schema = |directives: &mut apollo_compiler::schema::DirectiveList| {
        directives.0.retain(|d| !is_machinery_directive(&d.name))
    };
    let keep_member = |member: &ComponentName| !removed.contains(&member.name);

    for ty in schema.types.values_mut() {
        match ty {
            ExtendedType::Object(object) => {
                let object = object.make_mut();
                strip_schema(&mut object.directives);
                object.implements_interfaces.retain(keep_member);
                clean_fields(&mut object.fields, &hidden, &strip_ast, &removed);
            }
            ExtendedType::Interface(interface) => {
                let interface = interface.make_mut();
                strip_schema(&mut interface.directives);
                interface.implements_interfaces.retain(keep_member);
                clean_fields(&mut interface.fields, &hidden, &strip_ast, &removed);
            }
            ExtendedType::Union(union_) => {
                let union_ = union_.make_mut();
                strip_schema(&mut union_.directives);
                union_.members.retain(keep_member);
            }
            ExtendedType::Enum(enum_) => {
                let enum_ = enum_.make_mut();
                strip_schema(&mut enum_.directives);
                enum_.values.retain(|_, v| !hidden(&v.directives));
                for value in enum_.values.values_mut() {
                    strip_ast(&mut value.make_mut().directives);
                }
            }
            ExtendedType::InputObject(input) => {
                let input = input.make_mut();
                strip_schema(&mut input.directives);
                input.fields.retain(|_, f| {
                    !hidden(&f.directives) && !removed.contains(f.ty.inner_named_type())
                });
                for field in input.fields.values_mut() {
                    strip_ast(&mut field.make_mut().directives);
                }
            }
            ExtendedType::Scalar(scalar) => {
                strip_schema(&mut scalar.make_mut().directives);
            }
        }
    }

    let definition = schema.schema_definition.make_mut();
    strip_schema(&mut definition.directives);
    for root in [
        &mut definition.query,
        &mut definition.mutation,
        &mut definition.subscription,
    ] {
        if root.as_ref().is_some_and(|r| removed.contains(&r.name)) {
            *root = None;
        }
    }

    schema
        .validate()
        .map_err(|with_errors| SupergraphError::ApiSchema(with_errors.errors.to_string()))
}

/// Drops hidden fields and arguments (and those whose type was removed) and
/// strips machinery directives from the rest.
fn clean_fields(
    fields: &mut IndexMap<Name, Component<FieldDefinition>>,
    hidden: &dyn Fn(&ast::DirectiveList) -> bool,
    strip: &dyn Fn(&mut ast::DirectiveList),
    removed: &HashSet<Name>,
) {
    fields.retain(|_, f| !hidden(&f.directives) && !removed.contains(f.ty.inner_named_type()));
    for field in fields.values_mut() {
        let field = field.make_mut();
        strip(&mut field.directives);
        field
            .arguments
            .retain(|a| !hidden(&a.directives) && !removed.contains(a.ty.inner_named_type()));
        for argument in &mut field.arguments {
            strip(&mut argument.make_mut().directives);
        }
    }
}
