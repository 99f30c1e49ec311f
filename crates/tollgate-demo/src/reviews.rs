//! The `reviews` subgraph: `Review @key(id)` with `author @provides(username)`
//! and `product`, and `User.reviews` / `Product.reviews` on the entities it
//! extends.

use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema, ID};

use crate::data::{ReviewRow, REVIEWS, USERS};

/// A review.
pub struct Review(&'static ReviewRow);

#[Object]
impl Review {
    async fn id(&self) -> ID {
        ID(self.0.id.to_owned())
    }

    async fn body(&self) -> Option<&str> {
        Some(self.0.body)
    }

    /// The author, with `username` provided by this subgraph.
    #[graphql(provides = "username")]
    async fn author(&self) -> Option<User> {
        Some(User {
            id: self.0.author_id.to_owned(),
        })
    }

    async fn product(&self) -> Option<Product> {
        Some(Product {
            upc: self.0.product_upc.to_owned(),
        })
    }
}

/// `User` as seen by reviews.
pub struct User {
    id: String,
}

#[Object]
impl User {
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }

    #[graphql(external)]
    async fn username(&self) -> Option<&str> {
        USERS.iter().find(|u| u.id == self.id).map(|u| u.username)
    }

    async fn reviews(&self) -> Vec<Review> {
        REVIEWS
            .iter()
            .filter(|r| r.author_id == self.id)
            .map(Review)
            .collect()
    }
}

/// `Product` as seen by reviews.
pub struct Product {
    upc: String,
}

#[Object]
impl Product {
    async fn upc(&self) -> &str {
        &self.upc
    }

    async fn reviews(&self) -> Vec<Review> {
        REVIEWS
            .iter()
            .filter(|r| r.product_upc == self.upc)
            .map(Review)
            .collect()
    }
}

/// Root query of `reviews` (entities only).
pub struct Query;

#[Object]
impl Query {
    #[graphql(entity)]
    async fn find_user_by_id(&self, id: ID) -> User {
        User { id: id.0 }
    }

    #[graphql(entity)]
    async fn find_product_by_upc(&self, upc: String) -> Product {
        Product { upc }
    }

    #[graphql(entity)]
    async fn find_review_by_id(&self, id: ID) -> Option<Review> {
        REVIEWS.iter().find(|r| r.id == id.as_str()).map(Review)
    }
}

/// The `reviews` schema.
pub type ReviewsSchema = Schema<Query, EmptyMutation, EmptySubscription>;

/// Builds the `reviews` schema.
pub fn schema() -> ReviewsSchema {
    Schema::build(Query, EmptyMutation, EmptySubscription)
        .enable_federation()
        .finish()
}
