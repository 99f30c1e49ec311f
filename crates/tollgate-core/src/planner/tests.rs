//! Planner snapshots on the demo supergraph and on small hand-written ones.

use apollo_compiler::ExecutableDocument;

use super::*;
use crate::supergraph::Supergraph;

const DEMO: &str = include_str!("../../../../schemas/supergraph.graphql");

fn plan_on(sdl: &str, query: &str) -> Result<QueryPlan, PlanError> {
    let sdl = sdl.replace("# JOIN_PRELUDE\n", crate::supergraph::JOIN_PRELUDE);
    let supergraph = Supergraph::parse(&sdl).unwrap();
    let document =
        ExecutableDocument::parse_and_validate(supergraph.api_schema(), query, "q.graphql")
            .unwrap();
    let operation = document.operations.get(None).unwrap().clone();
    plan_operation(&supergraph, &document, &operation, &[])
}

fn plan(query: &str) -> String {
    plan_on(DEMO, query).unwrap().to_string()
}

#[test]
fn single_subgraph_query_is_one_fetch() {
    assert_eq!(
        plan("query Top($n: Int!) { topProducts(first: $n) { upc name } }"),
        r#"QueryPlan {
  Fetch(service: "products") {
    query Top__products__0($n: Int!) { topProducts(first: $n) { upc name } }
  },
}"#
    );
}

#[test]
fn root_fields_of_two_subgraphs_run_in_parallel() {
    assert_eq!(
        plan("{ me { name } topProducts { name } }"),
        r#"QueryPlan {
  Parallel {
    Fetch(service: "accounts") {
      query { me { name } }
    },
    Fetch(service: "products") {
      query { topProducts { name } }
    },
  },
}"#
    );
}

#[test]
fn requires_fetches_required_fields_first() {
    assert_eq!(
        plan("{ topProducts { name shippingEstimate } }"),
        r#"QueryPlan {
  Sequence {
    Fetch(service: "products") {
      query { topProducts { name __typename upc price weight } }
    },
    Flatten(path: "topProducts.@") {
      Fetch(service: "inventory") {
        { __typename upc price weight } =>
        query($representations: [_Any!]!) { _entities(representations: $representations) { ... on Product { shippingEstimate } } }
      },
    },
  },
}"#
    );
}

#[test]
fn provides_avoids_a_hop_and_nested_entities_chain() {
    assert_eq!(
        plan("{ me { reviews { body author { username } product { name inStock } } } }"),
        r#"QueryPlan {
  Sequence {
    Fetch(service: "accounts") {
      query { me { __typename id } }
    },
    Flatten(path: "me") {
      Fetch(service: "reviews") {
        { __typename id } =>
        query($representations: [_Any!]!) { _entities(representations: $representations) { ... on User { reviews { body author { username } product { __typename upc } } } } }
      },
    },
    Parallel {
      Flatten(path: "me.reviews.@.product") {
        Fetch(service: "products") {
          { __typename upc } =>
          query($representations: [_Any!]!) { _entities(representations: $representations) { ... on Product { name } } }
        },
      },
      Flatten(path: "me.reviews.@.product") {
        Fetch(service: "inventory") {
          { __typename upc } =>
          query($representations: [_Any!]!) { _entities(representations: $representations) { ... on Product { inStock } } }
        },
      },
    },
  },
}"#
    );
}

#[test]
fn requirements_from_another_subgraph_are_fetched_before() {
    let plan = plan("{ me { reviews { product { shippingEstimate } } } }");
    // products supplies price/weight for inventory's representation.
    let products = plan.find("Fetch(service: \"products\")").unwrap();
    let inventory = plan.find("Fetch(service: \"inventory\")").unwrap();
    assert!(products < inventory, "{plan}");
    assert!(
        plan.contains("{ __typename upc price weight } =>"),
        "{plan}"
    );
}

#[test]
fn mutations_keep_their_order() {
    let plan = plan(
        r#"mutation { a: createProduct(upc: "9", name: "x", price: 1, weight: 1) { upc inStock } b: createProduct(upc: "8", name: "y", price: 1, weight: 1) { upc } }"#,
    );
    assert!(plan.starts_with("QueryPlan {\n  Sequence {\n    Fetch(service: \"products\") {\n      mutation { a: createProduct"), "{plan}");
    assert!(plan.contains("b: createProduct"), "{plan}");
}

#[test]
fn skip_and_include_are_forwarded() {
    let plan = plan(
        "query($s: Boolean!) { topProducts { name @skip(if: $s) ... @include(if: $s) { upc } } }",
    );
    assert!(
        plan.contains("query($s: Boolean!) { topProducts { name @skip(if: $s) ... @include(if: $s) { upc } } }"),
        "{plan}"
    );
}

#[test]
fn introspection_only_needs_no_fetch() {
    let plan = plan_on(DEMO, "{ __typename __type(name: \"User\") { name } }").unwrap();
    assert_eq!(plan.node, None);
    assert!(plan.has_introspection);
}

const SHAPES: &str = r#"
schema
  @link(url: "https://specs.apollo.dev/link/v1.0")
  @link(url: "https://specs.apollo.dev/join/v0.3", for: EXECUTION)
{
  query: Query
}

# JOIN_PRELUDE
enum join__Graph {
  A @join__graph(name: "a", url: "http://a.example/graphql")
  B @join__graph(name: "b", url: "http://b.example/graphql")
}

type Query @join__type(graph: A) @join__type(graph: B) {
  media: [Media] @join__field(graph: A)
  shapes: [Shape] @join__field(graph: A)
}

union Media @join__type(graph: A) @join__unionMember(graph: A, member: "Book") @join__unionMember(graph: A, member: "Movie") = Book | Movie

interface Shape @join__type(graph: A) {
  id: ID!
}

type Book @join__type(graph: A, key: "id") @join__type(graph: B, key: "id") {
  id: ID!
  title: String @join__field(graph: A)
  reviews: Int @join__field(graph: B)
}

type Movie @join__type(graph: A) {
  id: ID!
  length: Int
}

type Square implements Shape @join__type(graph: A, key: "id") @join__type(graph: B, key: "id") @join__implements(graph: A, interface: "Shape") {
  id: ID!
  side: Int @join__field(graph: B)
}
"#;

#[test]
fn unions_and_interfaces_explode_into_possible_types() {
    assert_eq!(
        plan_on(SHAPES, "{ media { ... on Book { title reviews } ... on Movie { length } } shapes { id ... on Square { side } } }")
            .unwrap()
            .to_string(),
        r#"QueryPlan {
  Sequence {
    Fetch(service: "a") {
      query { media { __typename ... on Book { title __typename id } ... on Movie { length } } shapes { __typename ... on Square { id __typename } } }
    },
    Flatten(path: "media.@", path: "shapes.@") {
      Fetch(service: "b") {
        on Book { __typename id } =>
        on Square { __typename id } =>
        query($representations: [_Any!]!) { _entities(representations: $representations) { ... on Book { reviews } ... on Square { side } } }
      },
    },
  },
}"#
    );
}

#[test]
fn unreachable_fields_are_a_planning_error() {
    // Movie has no key, so nothing can be fetched for it elsewhere; but
    // everything here is local, so this plans. A field only B resolves on a
    // type without a key in B cannot be reached:
    let sdl = SHAPES.replace(
        "type Movie @join__type(graph: A) {\n  id: ID!\n  length: Int\n}",
        "type Movie @join__type(graph: A) @join__type(graph: B) {\n  id: ID!\n  length: Int @join__field(graph: B)\n}",
    );
    let err = plan_on(&sdl, "{ media { ... on Movie { length } } }").unwrap_err();
    assert!(err.to_string().contains("Movie.length"), "{err}");
}

/// A supergraph with the usual header and the given subgraphs (lower-case
/// names; enum values upper-case) and type definitions.
fn supergraph(graphs: &[&str], types: &str) -> String {
    let header = SHAPES.split("enum join__Graph").next().unwrap();
    let mut sdl = header.replace("# JOIN_PRELUDE\n", crate::supergraph::JOIN_PRELUDE);
    sdl.push_str("enum join__Graph {\n");
    for graph in graphs {
        sdl.push_str(&format!(
            "  {} @join__graph(name: \"{graph}\", url: \"http://{graph}.example/graphql\")\n",
            graph.to_uppercase()
        ));
    }
    sdl.push_str("}\n");
    sdl.push_str(types);
    sdl
}

const INTERFACE_OBJECT: &str = r#"
type Query @join__type(graph: A) @join__type(graph: B) {
  users: [Node] @join__field(graph: A)
  others: [Node] @join__field(graph: B)
}
interface Node @join__type(graph: A, key: "id") @join__type(graph: B, key: "id", isInterfaceObject: true) {
  id: ID!
  username: String @join__field(graph: B)
}
type User implements Node @join__implements(graph: A, interface: "Node") @join__type(graph: A, key: "id") {
  id: ID!
  age: Int
  username: String @join__field
}
"#;

#[test]
fn interface_object_fields_go_through_the_interface_key() {
    let sdl = supergraph(&["a", "b"], INTERFACE_OBJECT);
    let plan = plan_on(&sdl, "{ users { id username } }")
        .unwrap()
        .to_string();
    assert!(
        plan.contains("query { users { __typename ... on User { id __typename } } }"),
        "{plan}"
    );
    assert!(
        plan.contains("{ __typename id } =>\n        query($representations: [_Any!]!) { _entities(representations: $representations) { ... on Node { username } } }"),
        "{plan}"
    );
}

#[test]
fn interface_object_concrete_types_come_from_the_real_interface() {
    let sdl = supergraph(&["a", "b"], INTERFACE_OBJECT);
    let plan = plan_on(&sdl, "{ others { username ... on User { age } } }")
        .unwrap()
        .to_string();
    assert!(
        plan.contains("Fetch(service: \"b\") {\n      query { others { __typename username id } }"),
        "{plan}"
    );
    assert!(
        plan.contains("_entities(representations: $representations) { ... on Node { __typename ... on User { age } } }"),
        "{plan}"
    );
    // Without a type condition no second fetch is needed.
    let plan = plan_on(&sdl, "{ others { id username } }").unwrap();
    assert_eq!(fetch_counts(&plan).len(), 1, "{plan}");
}

#[test]
fn a_shared_root_field_is_split_across_subgraphs() {
    let sdl = supergraph(
        &["a", "b"],
        r#"
type Query @join__type(graph: A) @join__type(graph: B) {
  product: Product
}
type Product @join__type(graph: A) @join__type(graph: B) {
  id: ID!
  name: String @join__field(graph: A)
  price: Int @join__field(graph: B)
}
"#,
    );
    let plan = plan_on(&sdl, "{ product { id name price } }")
        .unwrap()
        .to_string();
    assert!(plan.contains("query { product { id name } }"), "{plan}");
    assert!(plan.contains("query { product { price } }"), "{plan}");
    assert!(plan.contains("Parallel"), "{plan}");
}

#[test]
fn key_fields_missing_locally_are_fetched_first() {
    let sdl = supergraph(
        &["a", "b", "c"],
        r#"
type Query @join__type(graph: A) @join__type(graph: B) @join__type(graph: C) {
  products: [Product] @join__field(graph: A)
}
type Product @join__type(graph: A, key: "id") @join__type(graph: B, key: "id pid") @join__type(graph: C, key: "id") {
  id: ID!
  pid: ID @join__field(graph: B) @join__field(graph: C)
  stock: Int @join__field(graph: B)
}
"#,
    );
    let plan = plan_on(&sdl, "{ products { stock } }").unwrap().to_string();
    let c = plan.find("... on Product { pid }").expect(&plan);
    let b = plan.find("... on Product { stock }").expect(&plan);
    assert!(c < b, "pid from c before stock from b:\n{plan}");
    assert!(plan.contains("{ __typename id pid } =>"), "{plan}");
}

#[test]
fn type_conditioned_provides_only_cover_their_type() {
    let sdl = supergraph(
        &["a", "b"],
        r#"
type Query @join__type(graph: A) @join__type(graph: B) {
  media: [Media] @join__field(graph: A, provides: "... on Book { title }")
}
union Media @join__type(graph: A) @join__unionMember(graph: A, member: "Book") @join__unionMember(graph: A, member: "Movie") = Book | Movie
type Book @join__type(graph: A, key: "id") @join__type(graph: B, key: "id") {
  id: ID!
  title: String @join__field(graph: A, external: true) @join__field(graph: B)
}
type Movie @join__type(graph: A, key: "id") @join__type(graph: B, key: "id") {
  id: ID!
  title: String @join__field(graph: A, external: true) @join__field(graph: B)
}
"#,
    );
    let plan = plan_on(
        &sdl,
        "{ media { ... on Book { title } ... on Movie { title } } }",
    )
    .unwrap()
    .to_string();
    assert!(plan.contains("... on Book { title }"), "{plan}");
    assert!(plan.contains("... on Movie { __typename id }"), "{plan}");
    assert!(
        plan.contains("_entities(representations: $representations) { ... on Movie { title } }"),
        "{plan}"
    );
}

#[test]
fn a_field_typed_as_an_object_in_its_subgraph_gets_no_foreign_fragments() {
    let sdl = supergraph(
        &["a", "b"],
        r#"
type Query @join__type(graph: A) @join__type(graph: B) {
  book: Media @join__field(graph: A, type: "Book")
}
union Media @join__type(graph: A) @join__type(graph: B) @join__unionMember(graph: A, member: "Book") @join__unionMember(graph: A, member: "Song") = Book | Song
type Book @join__type(graph: A) { title: String }
type Song @join__type(graph: A) { title: String }
"#,
    );
    let plan = plan_on(
        &sdl,
        "{ book { ... on Song { title } ... on Book { title } } }",
    )
    .unwrap()
    .to_string();
    assert!(
        plan.contains("query { book { __typename title } }"),
        "{plan}"
    );
}

const PRICES: &str = r#"
type Query @join__type(graph: A) @join__type(graph: B) {
  products: [Product] @join__field(graph: B)
}
type Product @join__type(graph: A, key: "upc") @join__type(graph: B, key: "upc") {
  upc: String!
  price(currency: String!): Int @join__field(graph: A, external: true) @join__field(graph: B)
  usd: Int @join__field(graph: A, requires: "price(currency: \"USD\")")
  eur: Int @join__field(graph: A, requires: "price(currency: \"EUR\")")
}
"#;

#[test]
fn requirements_with_arguments_are_aliased_and_never_share_a_representation() {
    let sdl = supergraph(&["a", "b"], PRICES);
    let plan = plan_on(&sdl, "{ products { price(currency: \"GBP\") usd eur } }").unwrap();
    let text = plan.to_string();
    // The client's own `price` keeps its key; the requirements are aliased.
    assert!(text.contains("price(currency: \"GBP\")"), "{text}");
    assert!(text.contains(": price(currency: \"USD\")"), "{text}");
    assert!(text.contains(": price(currency: \"EUR\")"), "{text}");
    assert!(text.contains("_tg_price_"), "{text}");
    assert_eq!(
        fetch_counts(&plan)["a"],
        2,
        "one fetch per requirement:\n{text}"
    );
}

#[test]
fn clashing_subgraph_types_are_aliased_and_renamed_back() {
    let sdl = supergraph(
        &["a"],
        r#"
type Query @join__type(graph: A) {
  accounts: [Account] @join__field(graph: A)
}
union Account @join__type(graph: A) @join__unionMember(graph: A, member: "User") @join__unionMember(graph: A, member: "Admin") = User | Admin
type User @join__type(graph: A) {
  id: ID @join__field(graph: A, type: "ID!")
}
type Admin @join__type(graph: A) {
  id: ID
}
"#,
    );
    let plan = plan_on(
        &sdl,
        "{ accounts { ... on User { id } ... on Admin { id } } }",
    )
    .unwrap();
    let Some(PlanNode::Fetch(fetch)) = &plan.node else {
        panic!("{plan}")
    };
    assert!(fetch.operation.contains("... on User { id }"), "{plan}");
    assert!(fetch.operation.contains("... on Admin { _tg_id_"), "{plan}");
    assert_eq!(fetch.renames.len(), 1);
    assert_eq!(fetch.renames[0].1, "id");
}

#[test]
fn fields_needing_different_requirements_share_one_entity_fetch() {
    let sdl = supergraph(
        &["a", "b"],
        r#"
type Query @join__type(graph: A) @join__type(graph: B) {
  product: Product @join__field(graph: A)
}
type Product @join__type(graph: A, key: "id") @join__type(graph: B, key: "id") {
  id: ID!
  price: Int @join__field(graph: A) @join__field(graph: B, external: true)
  expensive: Boolean @join__field(graph: B, requires: "price")
  available: Boolean @join__field(graph: B)
}
"#,
    );
    let plan = plan_on(&sdl, "{ product { expensive available } }").unwrap();
    assert_eq!(fetch_counts(&plan)["b"], 1, "{plan}");
    assert!(
        plan.to_string().contains("{ __typename id price } =>"),
        "{plan}"
    );
}

#[test]
fn progressive_override_follows_the_label() {
    let sdl = supergraph(
        &["a", "b"],
        r#"
type Query @join__type(graph: A) @join__type(graph: B) {
  t: T @join__field(graph: A)
}
type T @join__type(graph: A, key: "id") @join__type(graph: B, key: "id") {
  id: ID!
  v: Int @join__field(graph: A, overrideLabel: "percent(25)") @join__field(graph: B, override: "a", overrideLabel: "percent(25)")
}
"#,
    )
    .replace("join__field(graph: join__Graph, requires", "join__field(graph: join__Graph, overrideLabel: String, requires");
    let parsed = Supergraph::parse(&sdl).unwrap();
    assert_eq!(parsed.join().override_labels(), ["percent(25)".to_owned()]);
    let document =
        ExecutableDocument::parse_and_validate(parsed.api_schema(), "{ t { v } }", "q.graphql")
            .unwrap();
    let operation = document.operations.get(None).unwrap().clone();
    let off = plan_operation(&parsed, &document, &operation, &[false]).unwrap();
    assert_eq!(
        fetch_counts(&off).len(),
        1,
        "label off: a keeps the field\n{off}"
    );
    let on = plan_operation(&parsed, &document, &operation, &[true]).unwrap();
    assert_eq!(fetch_counts(&on)["b"], 1, "label on: b serves it\n{on}");
    assert!(on.to_string().contains("... on T { v }"), "{on}");
}

#[test]
fn entity_fetches_to_one_subgraph_at_one_level_share_one_request() {
    assert_eq!(
        plan("{ users { id reviews { body } } topProducts(first: 2) { upc reviews { body } } }"),
        r#"QueryPlan {
  Sequence {
    Parallel {
      Fetch(service: "accounts") {
        query { users { id __typename } }
      },
      Fetch(service: "products") {
        query { topProducts(first: 2) { upc __typename } }
      },
    },
    Flatten(path: "users.@", path: "topProducts.@") {
      Fetch(service: "reviews") {
        on User { __typename id } =>
        on Product { __typename upc } =>
        query($representations: [_Any!]!) { _entities(representations: $representations) { ... on User { reviews { body } } ... on Product { reviews { body } } } }
      },
    },
  },
}"#
    );
}

#[test]
fn the_deep_benchmark_query_needs_one_fetch_per_subgraph_and_level() {
    let query = include_str!("../../../../bench/queries/deep.graphql");
    let plan = plan_on(DEMO, query).unwrap();
    let counts = fetch_counts(&plan);
    // accounts: users, then authors at two paths; products: topProducts,
    // then products at three paths (one nested under another, but the
    // products fetch does not select `reviews`, the key between them);
    // reviews: users' and topProducts' reviews; inventory: topProducts'
    // shipping estimates, then every other product's stock and estimate.
    assert_eq!(counts["accounts"], 2, "{plan}");
    assert_eq!(counts["products"], 2, "{plan}");
    assert_eq!(counts["reviews"], 1, "{plan}");
    assert_eq!(counts["inventory"], 2, "{plan}");
    assert!(
        plan.to_string().contains(r#"Flatten(path: "users.@.reviews.@.product", path: "users.@.reviews.@.product.reviews.@.author.reviews.@.product", path: "topProducts.@.reviews.@.author.reviews.@.product")"#),
        "{plan}"
    );
}

/// Hand-built entity groups on the demo supergraph for [`merge_sets`].
fn entity_group(
    type_name: &str,
    path: &str,
    representation: &[&str],
    fields: &[&str],
) -> build::Group {
    let name = |n: &str| Name::new(n).unwrap();
    let mut rep = Selection::default();
    for field in representation {
        rep.add_field(&name(field), &name(field), &[], &Default::default(), false);
    }
    let mut selection = Selection::default();
    for field in fields {
        let index =
            selection.add_field(&name(field), &name(field), &[], &Default::default(), false);
        selection.set_type(index, "String".to_owned());
    }
    build::Group {
        graph: 0,
        kind: GroupKind::Entity {
            type_name: name(type_name),
            path: path
                .split('.')
                .map(|p| {
                    if p == "@" {
                        PathElem::List
                    } else {
                        PathElem::Key(name(p))
                    }
                })
                .collect(),
            representation: rep,
        },
        selection,
        deps: Default::default(),
        parent: None,
        renames: Vec::new(),
        chunk: 0,
    }
}

#[test]
fn fetches_merge_only_when_no_answer_can_change() {
    let sdl = DEMO.replace("# JOIN_PRELUDE\n", crate::supergraph::JOIN_PRELUDE);
    let supergraph = Supergraph::parse(&sdl).unwrap();
    // One type, the same representation: merged.
    let groups = vec![
        entity_group("Product", "a.@", &["upc"], &["name"]),
        entity_group("Product", "b.@", &["upc"], &["price"]),
    ];
    assert_eq!(
        merge_sets(&supergraph, &groups, vec![0, 1]),
        vec![vec![0, 1]]
    );
    // One type, representations differ (a requirement): the fragment would
    // apply to both, so the fields needing the requirement stay apart.
    let groups = vec![
        entity_group("Product", "a.@", &["upc"], &["name"]),
        entity_group("Product", "b.@", &["upc", "price"], &["shippingEstimate"]),
    ];
    assert_eq!(
        merge_sets(&supergraph, &groups, vec![0, 1]),
        vec![vec![0], vec![1]]
    );
    let name = |n: &str| Name::new(n).unwrap();
    // Two types: merged (a shared key of one subgraph type is fine); but
    // not with a group of another subgraph.
    let mut groups = vec![
        entity_group("Product", "a.@", &["upc"], &["name"]),
        entity_group("User", "b.@", &["id"], &["name"]),
        entity_group("User", "c.@", &["id"], &["name"]),
    ];
    groups[2].graph = 1;
    assert_eq!(
        merge_sets(&supergraph, &groups, vec![0, 1, 2]),
        vec![vec![0, 1], vec![2]]
    );
    // Two types sharing a key whose subgraph type was not recorded: the
    // types could differ, so no merge.
    let mut groups = vec![
        entity_group("Product", "a.@", &["upc"], &[]),
        entity_group("User", "b.@", &["id"], &[]),
    ];
    for group in &mut groups {
        group
            .selection
            .add_field(&name("id"), &name("id"), &[], &Default::default(), false);
    }
    assert_eq!(
        merge_sets(&supergraph, &groups, vec![0, 1]),
        vec![vec![0], vec![1]]
    );
    // A nested path under a merged one: fine unless the fetch selects the
    // key leading to it (merging would add the objects the executor is
    // about to fill).
    let groups = vec![
        entity_group("Product", "a.@", &["upc"], &["name"]),
        entity_group("User", "a.@.reviews.@.author", &["id"], &["name"]),
    ];
    assert_eq!(
        merge_sets(&supergraph, &groups, vec![0, 1]),
        vec![vec![0, 1]]
    );
    let groups = vec![
        entity_group("Product", "a.@", &["upc"], &["reviews"]),
        entity_group("User", "a.@.reviews.@.author", &["id"], &["name"]),
    ];
    assert_eq!(
        merge_sets(&supergraph, &groups, vec![0, 1]),
        vec![vec![0], vec![1]]
    );
    // One response key with two meanings (an alias over another field).
    let mut groups = vec![
        entity_group("Product", "a.@", &["upc"], &["name"]),
        entity_group("User", "b.@", &["id"], &[]),
    ];
    let index = groups[1].selection.add_field(
        &name("name"),
        &name("username"),
        &[],
        &Default::default(),
        false,
    );
    groups[1].selection.set_type(index, "String".to_owned());
    assert_eq!(
        merge_sets(&supergraph, &groups, vec![0, 1]),
        vec![vec![0], vec![1]]
    );
}

#[test]
fn representations_written_directly_match_the_projection() {
    use crate::executor::data;
    let name = |n: &str| Name::new(n).unwrap();
    // { __typename id dims { w h } tags { label } ... on Book { isbn } }
    let mut rep = Selection::default();
    rep.add_typename();
    rep.add_field(&name("id"), &name("id"), &[], &Default::default(), false);
    let dims = rep.add_field(&name("dims"), &name("dims"), &[], &Default::default(), true);
    let tags = rep.add_field(&name("tags"), &name("tags"), &[], &Default::default(), true);
    for (index, fields) in [(dims, &["w", "h"][..]), (tags, &["label"][..])] {
        let nested = rep.at_mut(&[index]).unwrap();
        for field in fields {
            nested.add_field(&name(field), &name(field), &[], &Default::default(), false);
        }
    }
    let book = rep.add_fragment(Some(&name("Book")), &Default::default());
    rep.at_mut(&[book]).unwrap().add_field(
        &name("isbn"),
        &name("isbn"),
        &[],
        &Default::default(),
        false,
    );
    assert!(rep.names_unique());
    let matches = |condition: &str, typename: &str| condition == typename;
    for object in [
        serde_json::json!({"__typename": "Book", "id": "1", "isbn": "x\"y", "dims": {"h": 2, "w": 1.5}, "tags": [{"label": "a"}, null], "extra": 1}),
        serde_json::json!({"__typename": "Film", "id": 2, "dims": null, "tags": []}),
    ] {
        let object = match data::Value::from(object) {
            data::Value::Object(object) => object,
            _ => unreachable!(),
        };
        let mut direct = Vec::new();
        rep.write_representation(&object, "Media", &matches, &mut direct)
            .unwrap();
        let mut projected = rep.project(&object, &matches).unwrap();
        projected.insert("__typename", data::Value::String("Media".into()));
        let direct: serde_json::Value = serde_json::from_slice(&direct).unwrap();
        assert_eq!(direct, data::Value::Object(projected).to_json());
        assert_eq!(direct["__typename"], "Media");
    }
    // A missing field, a scalar where an object is selected: no representation.
    for object in [
        serde_json::json!({"__typename": "Film", "dims": null, "tags": []}),
        serde_json::json!({"__typename": "Film", "id": 1, "dims": 3, "tags": []}),
    ] {
        let data::Value::Object(object) = data::Value::from(object) else {
            unreachable!()
        };
        assert!(rep
            .write_representation(&object, "Media", &matches, &mut Vec::new())
            .is_none());
        assert!(rep.project(&object, &matches).is_none());
    }
    // The same field name twice (another key): not written directly.
    rep.add_field(&name("other"), &name("id"), &[], &Default::default(), false);
    assert!(!rep.names_unique());
}

/// `Container` is an entity of both subgraphs and `wrapper`/`actions` are
/// shared; the union's members differ per subgraph (partial-union-complex
/// of the federation audit).
const PARTIAL_UNION: &str = include_str!("testdata/partial_union.graphql");

#[test]
fn union_members_below_a_field_several_subgraphs_resolve_are_the_common_ones() {
    let sdl = supergraph(&["a", "b"], PARTIAL_UNION);
    let all =
        "actions { __typename ... on Common { label } ... on OnlyA { a } ... on OnlyB { b } }";
    // `wrapper` could come from either subgraph (Container has a key in
    // both): only `Common` is a member everywhere, so `OnlyA` is not asked
    // of `a` even though the plan stays there.
    let plan = plan_on(&sdl, &format!("{{ rootA {{ wrapper {{ {all} }} }} }}"))
        .unwrap()
        .to_string();
    assert!(plan.contains("... on Common { label }"), "{plan}");
    assert!(!plan.contains("OnlyA") && !plan.contains("OnlyB"), "{plan}");
    // `bWrapper` only `b` resolves: its members are `b`'s.
    let plan = plan_on(&sdl, &format!("{{ rootA {{ bWrapper {{ {all} }} }} }}"))
        .unwrap()
        .to_string();
    assert!(plan.contains("... on OnlyB { b }"), "{plan}");
    assert!(!plan.contains("OnlyA"), "{plan}");
}
