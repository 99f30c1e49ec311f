//! The `accounts` subgraph: `User @key(id)`, `me` (from the forwarded JWT
//! claims' `sub`), `user(id)` and `users`.

use async_graphql::{Context, EmptyMutation, EmptySubscription, Object, Schema, SimpleObject, ID};

use crate::data::{UserRow, USERS};

/// The subject from `extensions.jwt.sub` of the incoming request, if any.
#[derive(Debug, Clone)]
pub struct CurrentSubject(pub String);

/// A user.
#[derive(SimpleObject, Clone)]
pub struct User {
    id: ID,
    name: Option<String>,
    username: Option<String>,
}

impl From<&UserRow> for User {
    fn from(row: &UserRow) -> Self {
        Self {
            id: ID(row.id.to_owned()),
            name: Some(row.name.to_owned()),
            username: Some(row.username.to_owned()),
        }
    }
}

fn find(id: &str) -> Option<User> {
    USERS.iter().find(|u| u.id == id).map(User::from)
}

/// Root query of `accounts`.
pub struct Query;

#[Object]
impl Query {
    /// The user named by the verified token's `sub`, forwarded by the router.
    async fn me(&self, ctx: &Context<'_>) -> Option<User> {
        let subject = ctx.data_opt::<CurrentSubject>()?;
        find(&subject.0)
    }

    /// One user by id.
    async fn user(&self, id: ID) -> Option<User> {
        find(&id)
    }

    /// Every user.
    async fn users(&self) -> Vec<User> {
        USERS.iter().map(User::from).collect()
    }

    #[graphql(entity)]
    async fn find_user_by_id(&self, id: ID) -> Option<User> {
        find(&id)
    }
}

/// The `accounts` schema.
pub type AccountsSchema = Schema<Query, EmptyMutation, EmptySubscription>;

/// Builds the `accounts` schema.
pub fn schema() -> AccountsSchema {
    Schema::build(Query, EmptyMutation, EmptySubscription)
        .enable_federation()
        .finish()
}
