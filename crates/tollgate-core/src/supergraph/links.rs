//! Reads the supergraph's `@link` (and legacy `@core`) applications: which
//! specs are imported, under which prefix, and which names were imported bare.

use apollo_compiler::ast::Value;
use apollo_compiler::schema::Directive;
use apollo_compiler::Schema;

/// One `@link(url:, as:, import:, for:)` on the schema definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The spec URL, e.g. `https://specs.apollo.dev/join/v0.3`.
    pub url: String,
    /// The spec's name from the URL (`join`).
    pub spec_name: String,
    /// The spec version from the URL (`v0.3`).
    pub version: String,
    /// The prefix used for namespaced names (`as:`, else the spec name).
    pub prefix: String,
    /// Imported elements: (name in the spec, local name), directives start with `@`.
    pub imports: Vec<(String, String)>,
}

impl Link {
    /// Whether this link points at one of the Apollo federation specs, whose
    /// directives and types are machinery and never part of the API schema.
    pub fn is_federation_machinery(&self) -> bool {
        self.url.starts_with("https://specs.apollo.dev/")
    }

    /// The local name of the spec directive `name` (without `@`).
    pub fn directive_name(&self, name: &str) -> String {
        let wanted = format!("@{name}");
        if let Some((_, local)) = self.imports.iter().find(|(n, _)| *n == wanted) {
            return local.trim_start_matches('@').to_owned();
        }
        if name == self.spec_name {
            self.prefix.clone()
        } else {
            format!("{}__{}", self.prefix, name)
        }
    }

    /// Whether a directive or type with this local name belongs to this link.
    pub fn owns_name(&self, local: &str, is_directive: bool) -> bool {
        if is_directive && local == self.prefix {
            return true;
        }
        if local.starts_with(&format!("{}__", self.prefix)) {
            return true;
        }
        self.imports.iter().any(|(_, l)| {
            let l_is_directive = l.starts_with('@');
            l_is_directive == is_directive && l.trim_start_matches('@') == local
        })
    }
}

/// Every `@link`/`@core` on the schema definition.
pub fn schema_links(schema: &Schema) -> Vec<Link> {
    schema
        .schema_definition
        .directives
        .iter()
        .filter(|d| d.name == "link" || d.name == "core")
        .filter_map(|d| parse_link(d))
        .collect()
}

fn parse_link(directive: &Directive) -> Option<Link> {
    let url = directive
        .specified_argument_by_name("url")
        .or_else(|| directive.specified_argument_by_name("feature"))?
        .as_str()?
        .to_owned();
    let trimmed = url.trim_end_matches('/');
    let mut segments = trimmed.rsplit('/');
    let version = segments.next()?.to_owned();
    let spec_name = segments.next()?.to_owned();
    let prefix = directive
        .specified_argument_by_name("as")
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| spec_name.clone());
    let mut imports = Vec::new();
    if let Some(Value::List(items)) = directive
        .specified_argument_by_name("import")
        .map(|v| v.as_ref())
    {
        for item in items {
            match item.as_ref() {
                Value::String(name) => imports.push((name.clone(), name.clone())),
                Value::Object(fields) => {
                    let get = |key: &str| {
                        fields
                            .iter()
                            .find(|(k, _)| k == key)
                            .and_then(|(_, v)| v.as_str())
                            .map(str::to_owned)
                    };
                    if let Some(name) = get("name") {
                        let local = get("as").unwrap_or_else(|| name.clone());
                        imports.push((name, local));
                    }
                }
                _ => {}
            }
        }
    }
    Some(Link {
        url,
        spec_name,
        version,
        prefix,
        imports,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prefix_imports_and_renames() {
        let schema = Schema::parse(
            r#"
            schema
              @link(url: "https://specs.apollo.dev/link/v1.0")
              @link(url: "https://specs.apollo.dev/join/v0.3", for: EXECUTION)
              @link(url: "https://specs.apollo.dev/inaccessible/v0.2", as: "hidden", for: SECURITY)
              @link(url: "https://example.com/custom/v1.0", import: ["@custom", {name: "@other", as: "@mine"}])
            { query: Query }
            directive @link(url: String, as: String, for: String, import: [Import]) repeatable on SCHEMA
            scalar Import
            type Query { a: Int }
            "#,
            "s.graphql",
        )
        .unwrap();
        let links = schema_links(&schema);
        assert_eq!(links.len(), 4);
        assert_eq!(links[1].spec_name, "join");
        assert_eq!(links[1].version, "v0.3");
        assert_eq!(links[1].directive_name("type"), "join__type");
        assert_eq!(links[2].directive_name("inaccessible"), "hidden");
        assert!(links[2].is_federation_machinery());
        assert!(!links[3].is_federation_machinery());
        assert_eq!(links[3].directive_name("other"), "mine");
        assert!(links[3].owns_name("custom", true));
        assert!(!links[3].owns_name("custom", false));
    }
}
