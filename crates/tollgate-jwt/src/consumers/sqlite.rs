//! The embedded credential store: one SQLite database file, created and
//! migrated on open (schema version in `PRAGMA user_version`), in WAL mode so
//! the router reads while `tollgate consumers` writes. `PRAGMA data_version`
//! tells the router cheaply whether another connection changed anything.

use std::path::Path;

use parking_lot::Mutex;
use rusqlite::{params, Connection, OptionalExtension as _};

use super::{ConsumerError, CredentialRecord, CredentialStore, StoredKey};

/// The schema version this build writes and reads.
const SCHEMA_VERSION: i64 = 1;

const MIGRATION_1: &str = "
CREATE TABLE credentials (
    key_id     TEXT PRIMARY KEY NOT NULL,
    consumer   TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('secret', 'jwk')),
    secret     BLOB,
    jwk        TEXT,
    scopes     TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    revoked_at INTEGER,
    CHECK ((kind = 'secret' AND secret IS NOT NULL AND jwk IS NULL)
        OR (kind = 'jwk' AND jwk IS NOT NULL AND secret IS NULL))
);
CREATE INDEX credentials_consumer ON credentials (consumer);
";

/// A SQLite database file holding the credentials.
pub struct SqliteStore {
    connection: Mutex<Connection>,
}

fn store_error(error: rusqlite::Error) -> ConsumerError {
    ConsumerError::Store(error.to_string())
}

impl SqliteStore {
    /// Opens (creating and migrating when needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, ConsumerError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| ConsumerError::Config {
                key: "store",
                reason: format!("cannot create {}: {e}", parent.display()),
            })?;
        }
        let connection = Connection::open(path).map_err(|e| ConsumerError::Config {
            key: "store",
            reason: format!("cannot open {}: {e}", path.display()),
        })?;
        connection
            .busy_timeout(std::time::Duration::from_secs(5))
            .map_err(store_error)?;
        connection
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(store_error)?;
        let version: i64 = connection
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(store_error)?;
        match version {
            0 => {
                connection
                    .execute_batch(&format!(
                        "BEGIN; {MIGRATION_1} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
                    ))
                    .map_err(store_error)?;
            }
            SCHEMA_VERSION => {}
            newer => {
                return Err(ConsumerError::Config {
                    key: "store",
                    reason: format!(
                    "{} has schema version {newer}, newer than this Tollgate's {SCHEMA_VERSION}",
                    path.display()
                ),
                })
            }
        }
        Ok(Self {
            connection: Mutex::new(connection),
        })
    }
}

impl CredentialStore for SqliteStore {
    fn credentials(&self) -> Result<Vec<CredentialRecord>, ConsumerError> {
        let connection = self.connection.lock();
        let mut statement = connection
            .prepare(
                "SELECT key_id, consumer, kind, secret, jwk, scopes, created_at, revoked_at FROM credentials",
            )
            .map_err(store_error)?;
        let rows = statement
            .query_map([], |row| {
                let kind: String = row.get(2)?;
                let key = if kind == "secret" {
                    StoredKey::Secret(row.get(3)?)
                } else {
                    StoredKey::Jwk(row.get(4)?)
                };
                let scopes: String = row.get(5)?;
                Ok(CredentialRecord {
                    key_id: row.get(0)?,
                    consumer: row.get(1)?,
                    key,
                    scopes: scopes.split_whitespace().map(str::to_owned).collect(),
                    created_at: u64::try_from(row.get::<_, i64>(6)?).unwrap_or(0),
                    revoked_at: row
                        .get::<_, Option<i64>>(7)?
                        .map(|at| u64::try_from(at).unwrap_or(0)),
                })
            })
            .map_err(store_error)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(store_error)
    }

    fn version(&self) -> Result<u64, ConsumerError> {
        let connection = self.connection.lock();
        let version: i64 = connection
            .pragma_query_value(None, "data_version", |row| row.get(0))
            .map_err(store_error)?;
        Ok(u64::try_from(version).unwrap_or(0))
    }

    fn insert(&self, record: &CredentialRecord) -> Result<(), ConsumerError> {
        let (kind, secret, jwk) = match &record.key {
            StoredKey::Secret(sealed) => ("secret", Some(sealed.as_slice()), None),
            StoredKey::Jwk(text) => ("jwk", None, Some(text.as_str())),
        };
        let connection = self.connection.lock();
        connection
            .execute(
                "INSERT INTO credentials (key_id, consumer, kind, secret, jwk, scopes, created_at, revoked_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    record.key_id,
                    record.consumer,
                    kind,
                    secret,
                    jwk,
                    record.scopes.join(" "),
                    i64::try_from(record.created_at).unwrap_or(i64::MAX),
                    record.revoked_at.map(|at| i64::try_from(at).unwrap_or(i64::MAX)),
                ],
            )
            .map_err(store_error)?;
        Ok(())
    }

    fn revoke(&self, key_id: &str, at: u64) -> Result<bool, ConsumerError> {
        let connection = self.connection.lock();
        let exists: Option<Option<i64>> = connection
            .query_row(
                "SELECT revoked_at FROM credentials WHERE key_id = ?1",
                params![key_id],
                |row| row.get(0),
            )
            .optional()
            .map_err(store_error)?;
        match exists {
            None => Ok(false),
            Some(Some(_)) => Ok(true),
            Some(None) => {
                connection
                    .execute(
                        "UPDATE credentials SET revoked_at = ?2 WHERE key_id = ?1",
                        params![key_id, i64::try_from(at).unwrap_or(i64::MAX)],
                    )
                    .map_err(store_error)?;
                Ok(true)
            }
        }
    }
}
