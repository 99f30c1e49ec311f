//! The supergraph model: the parsed Federation v2 supergraph SDL, its
//! subgraphs (`join__Graph`), the join ownership tables used by the planner,
//! and the API schema clients query and introspect.

mod api_schema;
pub mod auth;
pub mod join;
pub mod links;

use std::fmt::Write as _;

use apollo_compiler::collections::HashMap;
use apollo_compiler::schema::Implementers;
use apollo_compiler::validation::Valid;
use apollo_compiler::{Name, Schema};
use sha2::{Digest, Sha256};

pub use join::{EntityKey, FieldJoin, GraphId, GraphSet, JoinTables, SubgraphInfo};
pub use links::Link;

/// The `@link` (v1.0) and `@join__*` (v0.3) declarations a composed
/// supergraph carries, for writing small supergraphs by hand (tests, tools):
/// add a `schema` block with the `@link`s, the `join__Graph` enum and the types.
pub const JOIN_PRELUDE: &str = "directive @join__enumValue(graph: join__Graph!) repeatable on ENUM_VALUE\ndirective @join__field(graph: join__Graph, requires: join__FieldSet, provides: join__FieldSet, type: String, external: Boolean, override: String, usedOverridden: Boolean) repeatable on FIELD_DEFINITION | INPUT_FIELD_DEFINITION\ndirective @join__graph(name: String!, url: String!) on ENUM_VALUE\ndirective @join__implements(graph: join__Graph!, interface: String!) repeatable on OBJECT | INTERFACE\ndirective @join__type(graph: join__Graph!, key: join__FieldSet, extension: Boolean! = false, resolvable: Boolean! = true, isInterfaceObject: Boolean! = false) repeatable on OBJECT | INTERFACE | UNION | ENUM | INPUT_OBJECT | SCALAR\ndirective @join__unionMember(graph: join__Graph!, member: String!) repeatable on UNION\ndirective @link(url: String, as: String, for: link__Purpose, import: [link__Import]) repeatable on SCHEMA\nscalar join__FieldSet\nscalar link__Import\nenum link__Purpose { SECURITY EXECUTION }\n";

/// Why a supergraph could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SupergraphError {
    /// The SDL does not parse or is not a valid schema.
    #[error("the supergraph SDL is not a valid GraphQL schema:\n{0}")]
    Schema(String),
    /// The SDL is valid GraphQL but not a usable Federation v2 supergraph.
    #[error("not a Federation v2 supergraph: {0}")]
    Invalid(String),
    /// Removing the federation machinery left an invalid API schema.
    #[error("the API schema derived from the supergraph is invalid:\n{0}")]
    ApiSchema(String),
}

/// A loaded supergraph. Built once per schema version and shared read-only.
#[derive(Debug)]
pub struct Supergraph {
    schema: Valid<Schema>,
    api_schema: Valid<Schema>,
    implementers: HashMap<Name, Implementers>,
    subgraphs: Vec<SubgraphInfo>,
    join: JoinTables,
    auth: auth::AuthRules,
    hash: String,
}

impl Supergraph {
    /// Parses and checks a supergraph SDL and derives its API schema.
    pub fn parse(sdl: &str) -> Result<Self, SupergraphError> {
        let schema = Schema::parse_and_validate(sdl, "supergraph.graphql")
            .map_err(|e| SupergraphError::Schema(e.errors.to_string()))?;
        let links = links::schema_links(&schema);
        let join = links
            .iter()
            .find(|l| l.spec_name == "join")
            .ok_or_else(|| {
                SupergraphError::Invalid(
                    "no @link to the join spec (https://specs.apollo.dev/join/v0.x)".to_owned(),
                )
            })?;
        if !matches!(join.version.as_str(), "v0.2" | "v0.3" | "v0.4" | "v0.5") {
            return Err(SupergraphError::Invalid(format!(
                "join spec {} is not supported (Federation v2 supergraphs use join v0.2 to v0.5)",
                join.version
            )));
        }
        let subgraphs = join::read_subgraphs(&schema, join)?;
        let tables = join::read_tables(&schema, join, &subgraphs)?;
        let api_schema = api_schema::api_schema(&schema, &links)?;
        let auth = auth::read(&schema, &links);
        let implementers = api_schema.implementers_map();
        let digest = Sha256::digest(sdl.as_bytes());
        let mut hash = String::with_capacity(64);
        for byte in digest {
            let _ = write!(hash, "{byte:02x}");
        }
        Ok(Self {
            schema,
            api_schema,
            implementers,
            subgraphs,
            join: tables,
            auth,
            hash,
        })
    }

    /// The full supergraph schema, join directives included.
    pub fn supergraph_schema(&self) -> &Valid<Schema> {
        &self.schema
    }

    /// The schema clients see.
    pub fn api_schema(&self) -> &Valid<Schema> {
        &self.api_schema
    }

    /// The API schema's implementers map (for introspection).
    pub fn implementers(&self) -> &HashMap<Name, Implementers> {
        &self.implementers
    }

    /// The subgraphs, in `join__Graph` order.
    pub fn subgraphs(&self) -> &[SubgraphInfo] {
        &self.subgraphs
    }

    /// The subgraph with this name.
    pub fn subgraph(&self, name: &str) -> Option<(GraphId, &SubgraphInfo)> {
        self.subgraphs
            .iter()
            .enumerate()
            .find(|(_, s)| s.name == name)
    }

    /// Type and field ownership tables.
    pub fn join(&self) -> &JoinTables {
        &self.join
    }

    /// Authorization requirements (`@authenticated`, `@requiresScopes`, `@policy`).
    pub fn auth(&self) -> &auth::AuthRules {
        &self.auth
    }

    /// Hex SHA-256 of the SDL text.
    pub fn hash(&self) -> &str {
        &self.hash
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small two-subgraph supergraph used by the core's unit tests.
    pub(crate) fn supergraph_sdl() -> String {
        SUPERGRAPH.replace("# JOIN_PRELUDE\n", JOIN_PRELUDE)
    }

    const SUPERGRAPH: &str = r#"
schema
  @link(url: "https://specs.apollo.dev/link/v1.0")
  @link(url: "https://specs.apollo.dev/join/v0.3", for: EXECUTION)
  @link(url: "https://specs.apollo.dev/inaccessible/v0.2", for: SECURITY)
{
  query: Query
  mutation: Mutation
}

# JOIN_PRELUDE
directive @inaccessible on FIELD_DEFINITION | OBJECT | INTERFACE | UNION | ARGUMENT_DEFINITION | SCALAR | ENUM | ENUM_VALUE | INPUT_OBJECT | INPUT_FIELD_DEFINITION


enum join__Graph {
  ACCOUNTS @join__graph(name: "accounts", url: "http://accounts.example/graphql")
  PRODUCTS @join__graph(name: "products", url: "http://products.example/graphql")
}

type Query @join__type(graph: ACCOUNTS) @join__type(graph: PRODUCTS) {
  me: User @join__field(graph: ACCOUNTS)
  topProducts(first: Int = 5): [Product] @join__field(graph: PRODUCTS)
  secret: String @join__field(graph: ACCOUNTS) @inaccessible
}

type Mutation @join__type(graph: PRODUCTS) {
  createProduct(upc: String!): Product
}

type User @join__type(graph: ACCOUNTS, key: "id") {
  id: ID!
  name: String
  internal: Hidden @inaccessible
}

type Hidden @join__type(graph: ACCOUNTS) @inaccessible {
  x: Int
}

type Product @join__type(graph: PRODUCTS, key: "upc") {
  upc: String!
  name: String
}
"#;

    #[test]
    fn reads_subgraphs_and_ownership() {
        let supergraph = Supergraph::parse(&supergraph_sdl()).unwrap();
        let names: Vec<_> = supergraph
            .subgraphs()
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(names, ["accounts", "products"]);
        assert_eq!(
            supergraph.subgraphs()[1].url,
            "http://products.example/graphql"
        );
        let join = supergraph.join();
        assert_eq!(
            join.field_graphs("Query", "me")
                .unwrap()
                .iter()
                .collect::<Vec<_>>(),
            [0]
        );
        assert_eq!(
            join.field_graphs("Product", "name")
                .unwrap()
                .iter()
                .collect::<Vec<_>>(),
            [1]
        );
        assert_eq!(
            join.type_graphs("Query")
                .unwrap()
                .iter()
                .collect::<Vec<_>>(),
            [0, 1]
        );
        assert_eq!(supergraph.hash().len(), 64);
    }

    #[test]
    fn api_schema_drops_machinery_and_inaccessible() {
        let supergraph = Supergraph::parse(&supergraph_sdl()).unwrap();
        let api = supergraph.api_schema();
        let printed = api.to_string();
        assert!(!printed.contains("join__"), "{printed}");
        assert!(!printed.contains("link"), "{printed}");
        assert!(!printed.contains("inaccessible"), "{printed}");
        assert!(!printed.contains("secret"), "{printed}");
        assert!(!printed.contains("Hidden"), "{printed}");
        assert!(
            printed.contains("topProducts(first: Int = 5): [Product]"),
            "{printed}"
        );
    }

    #[test]
    fn rejects_non_supergraphs() {
        let err = Supergraph::parse("type Query { a: Int }").unwrap_err();
        assert!(err.to_string().contains("join spec"), "{err}");
        let err = Supergraph::parse("type Query {").unwrap_err();
        assert!(matches!(err, SupergraphError::Schema(_)));
    }
}
