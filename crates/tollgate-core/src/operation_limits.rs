//! Operation limits checked after validation: selection depth, aliased fields
//! and root fields, all counted with fragments expanded (a fragment spread
//! twice counts twice). Each fragment is measured once and remembered, so a
//! document of fragments that spread each other many times costs time linear
//! in its size, never exponential.

use std::collections::HashMap;

use apollo_compiler::executable::{ExecutableDocument, Operation, Selection, SelectionSet};
use apollo_compiler::Name;

use crate::config::LimitsConfig;
use crate::error::ClientError;

/// Nesting of selection sets and fragment spreads the walk follows before it
/// gives up; validation already refuses fragment chains this long.
const MAX_WALK: usize = 512;

/// What a selection set amounts to once its fragments are expanded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Measure {
    /// Deepest field nesting (a set of leaf fields is depth 1).
    pub depth: usize,
    /// Aliased fields, at any depth.
    pub aliases: usize,
    /// Fields directly in the set (fragments at this level included).
    pub fields: usize,
}

/// Measures `operation` and refuses it when it exceeds `limits`.
pub fn check(
    document: &ExecutableDocument,
    operation: &Operation,
    limits: &LimitsConfig,
) -> Result<Measure, ClientError> {
    let measure = measure(document, operation)?;
    let exceeded = |code, what: &str, found: usize, limit: usize| ClientError::LimitExceeded {
        code,
        message: format!("the operation has {what} {found}, over the limit of {limit}"),
    };
    if measure.depth > limits.max_depth {
        return Err(exceeded(
            "MAX_DEPTH_EXCEEDED",
            "a depth of",
            measure.depth,
            limits.max_depth,
        ));
    }
    if measure.fields > limits.max_root_fields {
        return Err(exceeded(
            "MAX_ROOT_FIELDS_EXCEEDED",
            "a root field count of",
            measure.fields,
            limits.max_root_fields,
        ));
    }
    if measure.aliases > limits.max_aliases {
        return Err(exceeded(
            "MAX_ALIASES_EXCEEDED",
            "an alias count of",
            measure.aliases,
            limits.max_aliases,
        ));
    }
    Ok(measure)
}

/// Measures an operation's selection set, fragments expanded.
pub fn measure(
    document: &ExecutableDocument,
    operation: &Operation,
) -> Result<Measure, ClientError> {
    let mut walk = Walk {
        document,
        fragments: HashMap::new(),
    };
    walk.set(&operation.selection_set, 0)
}

struct Walk<'d> {
    document: &'d ExecutableDocument,
    /// Measured fragments; `None` while a fragment is being measured (a
    /// cycle, which validation forbids, then counts as empty).
    fragments: HashMap<&'d Name, Option<Measure>>,
}

impl<'d> Walk<'d> {
    fn set(&mut self, set: &'d SelectionSet, nesting: usize) -> Result<Measure, ClientError> {
        if nesting > MAX_WALK {
            return Err(ClientError::LimitExceeded {
                code: "MAX_DEPTH_EXCEEDED",
                message: "the operation nests selections or fragments too deeply".to_owned(),
            });
        }
        let mut total = Measure::default();
        for selection in &set.selections {
            let inner = match selection {
                Selection::Field(field) => {
                    let child = if field.selection_set.selections.is_empty() {
                        Measure::default()
                    } else {
                        self.set(&field.selection_set, nesting + 1)?
                    };
                    Measure {
                        depth: child.depth + 1,
                        aliases: child.aliases + usize::from(field.alias.is_some()),
                        fields: 1,
                    }
                }
                Selection::InlineFragment(inline) => {
                    self.set(&inline.selection_set, nesting + 1)?
                }
                Selection::FragmentSpread(spread) => {
                    self.fragment(&spread.fragment_name, nesting)?
                }
            };
            total.depth = total.depth.max(inner.depth);
            total.aliases = total.aliases.saturating_add(inner.aliases);
            total.fields = total.fields.saturating_add(inner.fields);
        }
        Ok(total)
    }

    fn fragment(&mut self, name: &'d Name, nesting: usize) -> Result<Measure, ClientError> {
        if let Some(known) = self.fragments.get(name) {
            return Ok(known.unwrap_or_default());
        }
        let Some(fragment) = self.document.fragments.get(name) else {
            return Ok(Measure::default());
        };
        self.fragments.insert(name, None);
        let measure = self.set(&fragment.selection_set, nesting + 1)?;
        self.fragments.insert(name, Some(measure));
        Ok(measure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use apollo_compiler::validation::Valid;
    use apollo_compiler::Schema;

    fn schema() -> Valid<Schema> {
        Schema::parse_and_validate(
            "type Query { me: User users: [User] top: [Product] }
             type User { id: ID! name: String friends: [User] }
             type Product { upc: String! }",
            "s.graphql",
        )
        .unwrap()
    }

    fn document(query: &str) -> Valid<ExecutableDocument> {
        ExecutableDocument::parse_and_validate(&schema(), query, "q.graphql").unwrap()
    }

    fn measured(query: &str) -> Measure {
        let document = document(query);
        let operation = document.operations.get(None).unwrap();
        measure(&document, operation).unwrap()
    }

    #[test]
    fn counts_depth_aliases_and_root_fields_with_fragments_expanded() {
        assert_eq!(
            measured("{ __typename }"),
            Measure {
                depth: 1,
                aliases: 0,
                fields: 1
            }
        );
        let m = measured(
            "{ a: me { id ...U } b: me { ...U } top { upc } }
             fragment U on User { x: id friends { name } }",
        );
        // me → friends → name: depth 3; aliases a, b, and x twice.
        assert_eq!(
            m,
            Measure {
                depth: 3,
                aliases: 4,
                fields: 3
            }
        );
        let m = measured(
            "{ ... on Query { me { id } top { upc } } ...R } fragment R on Query { users { id } }",
        );
        assert_eq!(m.fields, 3, "fragments at the root count their fields");
        assert_eq!(m.depth, 2, "fragments add no depth");
    }

    #[test]
    fn fragment_fan_out_is_counted_without_expanding() {
        // Each level spreads the next twice: 2^24 aliased leaves, measured at once.
        let mut query = String::from("{ me { ...F0 } }\n");
        for i in 0..24 {
            query.push_str(&format!(
                "fragment F{i} on User {{ ...F{} ...F{} }}\n",
                i + 1,
                i + 1
            ));
        }
        query.push_str("fragment F24 on User { x: id }\n");
        let m = measured(&query);
        assert_eq!(m.aliases, 1 << 24);
        assert_eq!(m.depth, 2);
    }

    #[test]
    fn limits_give_their_codes() {
        let limits = LimitsConfig {
            max_depth: 2,
            max_aliases: 1,
            max_root_fields: 2,
            ..LimitsConfig::default()
        };
        let code = |query: &str| {
            let document = document(query);
            let operation = document.operations.get(None).unwrap();
            check(&document, operation, &limits)
                .map(|_| ())
                .map_err(|e| e.code().to_owned())
        };
        assert_eq!(code("{ me { id } a: users { id } }"), Ok(()));
        assert_eq!(
            code("{ me { friends { id } } }").unwrap_err(),
            "MAX_DEPTH_EXCEEDED"
        );
        assert_eq!(
            code("{ a: me { id } b: me { id } }").unwrap_err(),
            "MAX_ALIASES_EXCEEDED"
        );
        assert_eq!(
            code("{ me { id } users { id } top { upc } }").unwrap_err(),
            "MAX_ROOT_FIELDS_EXCEEDED"
        );
    }
}
