//! The demo's fixed data set, shared by the four subgraphs.

/// A user of the accounts subgraph.
#[derive(Debug, Clone)]
pub struct UserRow {
    /// Key.
    pub id: &'static str,
    /// Full name.
    pub name: &'static str,
    /// Handle.
    pub username: &'static str,
}

/// A product of the products subgraph.
#[derive(Debug, Clone)]
pub struct ProductRow {
    /// Key.
    pub upc: String,
    /// Name.
    pub name: String,
    /// Price in cents.
    pub price: i32,
    /// Weight in grams.
    pub weight: i32,
}

/// A review of the reviews subgraph.
#[derive(Debug, Clone)]
pub struct ReviewRow {
    /// Key.
    pub id: &'static str,
    /// Text.
    pub body: &'static str,
    /// Author's user id.
    pub author_id: &'static str,
    /// Reviewed product's upc.
    pub product_upc: &'static str,
}

/// Users "1" to "4".
pub const USERS: [UserRow; 4] = [
    UserRow {
        id: "1",
        name: "Ada Lovelace",
        username: "@ada",
    },
    UserRow {
        id: "2",
        name: "Alan Turing",
        username: "@complete",
    },
    UserRow {
        id: "3",
        name: "Grace Hopper",
        username: "@grace",
    },
    UserRow {
        id: "4",
        name: "Edsger Dijkstra",
        username: "@ewd",
    },
];

/// Reviews "1" to "5".
pub const REVIEWS: [ReviewRow; 5] = [
    ReviewRow {
        id: "1",
        body: "Love it!",
        author_id: "1",
        product_upc: "1",
    },
    ReviewRow {
        id: "2",
        body: "Too expensive.",
        author_id: "1",
        product_upc: "2",
    },
    ReviewRow {
        id: "3",
        body: "Could be better.",
        author_id: "2",
        product_upc: "3",
    },
    ReviewRow {
        id: "4",
        body: "Prefer something else.",
        author_id: "2",
        product_upc: "1",
    },
    ReviewRow {
        id: "5",
        body: "Sturdy.",
        author_id: "3",
        product_upc: "3",
    },
];

/// Products "1" to "4" (the products subgraph can add more at run time).
pub fn initial_products() -> Vec<ProductRow> {
    [
        ("1", "Table", 899, 100),
        ("2", "Couch", 1299, 1000),
        ("3", "Chair", 54, 50),
        ("4", "Lamp", 35, 10),
    ]
    .into_iter()
    .map(|(upc, name, price, weight)| ProductRow {
        upc: upc.to_owned(),
        name: name.to_owned(),
        price,
        weight,
    })
    .collect()
}

/// In-stock status by upc (inventory subgraph).
pub fn in_stock(upc: &str) -> bool {
    upc != "2"
}

/// Shipping estimate from price and weight: free above 1000, else half the weight.
pub fn shipping_estimate(price: i32, weight: i32) -> i32 {
    if price > 1000 {
        0
    } else {
        weight / 2
    }
}
