//! `--db`: which database holds keys and report minutes. A `postgres://` (or
//! `postgresql://`) URL selects Postgres, shared by replicas on many machines; anything
//! else is a SQLite file path, the embedded default for one host.

use std::path::PathBuf;

use crate::redact::without_password;
use std::sync::Arc;

use crate::postgres_store::PostgresStore;
use crate::report_minutes::MinuteStore;
use crate::sqlite_store::SqliteStore;
use crate::store::{KeyStore, StoreError};

/// The parsed `--db` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseAddress {
    Sqlite(PathBuf),
    Postgres(String),
}

impl DatabaseAddress {
    pub fn parse(text: &str) -> DatabaseAddress {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            DatabaseAddress::Postgres(text.to_string())
        } else {
            DatabaseAddress::Sqlite(PathBuf::from(text))
        }
    }

    /// How errors and the start line name it: the path, or the URL without its password.
    pub fn describe(&self) -> String {
        match self {
            DatabaseAddress::Sqlite(path) => path.display().to_string(),
            DatabaseAddress::Postgres(url) => without_password(url),
        }
    }
}

/// An open database: one object serving both the keys and the report minutes.
#[derive(Clone)]
pub struct Database {
    pub keys: Arc<dyn KeyStore>,
    pub minutes: Arc<dyn MinuteStore>,
}

impl Database {
    pub async fn open(address: &DatabaseAddress) -> Result<Database, StoreError> {
        match address {
            DatabaseAddress::Sqlite(path) => {
                let store = Arc::new(SqliteStore::open(path)?);
                Ok(Database {
                    keys: store.clone(),
                    minutes: store,
                })
            }
            DatabaseAddress::Postgres(url) => {
                let store = Arc::new(PostgresStore::open(url).await?);
                Ok(Database {
                    keys: store.clone(),
                    minutes: store,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_urls_select_postgres_and_anything_else_is_a_file() {
        let pg = DatabaseAddress::parse("postgres://wasp:s3cret@db:5432/wasp");
        assert_eq!(pg.describe(), "postgres://wasp:***@db:5432/wasp");
        assert!(matches!(
            DatabaseAddress::parse("postgresql://db/wasp"),
            DatabaseAddress::Postgres(_)
        ));
        assert_eq!(
            DatabaseAddress::parse("keys.db"),
            DatabaseAddress::Sqlite("keys.db".into())
        );
    }
}
