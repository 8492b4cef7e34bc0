//! API keys, stored durably in SQLite as SHA-256 hashes.
//!
//! The plaintext key is returned once, by [`KeyStore::create`], and never stored. Keys are
//! 256-bit random strings, so an unsalted SHA-256 is enough: there is nothing to guess.
//! Each key belongs to a consumer project (id + number); the `projects` table keeps one
//! number per project id so every key of a project reports the same consumer.
//! The database runs in WAL mode so the CLI can create or revoke keys while a server
//! has it open; the server reads it on every lookup, so a revocation applies at once.

use rand::distr::{Alphanumeric, SampleString};
use rand::Rng;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

/// Printed in front of every key so a leaked one is recognisable in logs and scans.
const KEY_PREFIX: &str = "wasp";
const KEY_RANDOM_CHARS: usize = 43; // 43 alphanumerics carry > 256 bits
const PROJECT_NUMBER_RANGE: std::ops::RangeInclusive<i64> = 100_000_000_000..=999_999_999_999;

/// A key as the admin API lists it: everything but the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    pub id: String,
    pub project_id: String,
    pub project_number: i64,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds; `None` while the key is valid.
    pub revoked_at: Option<i64>,
}

impl KeyInfo {
    pub fn is_revoked(&self) -> bool {
        self.revoked_at.is_some()
    }
}

/// A freshly created key: the only time the plaintext exists.
#[derive(Debug, Clone, Serialize)]
pub struct NewKey {
    pub key: String,
    #[serde(flatten)]
    pub info: KeyInfo,
}

/// Why a key operation failed, split by who must act.
#[derive(Debug)]
pub enum StoreError {
    /// The caller's input is wrong (bad project id, number clash); say what to change.
    Invalid(String),
    /// The database failed (file, lock, corruption).
    Database(rusqlite::Error),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Invalid(message) => f.write_str(message),
            StoreError::Database(e) => write!(f, "key database error: {e}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(e)
    }
}

/// The key database. Cheap lookups by hash; one connection behind a mutex (a lookup
/// is an indexed read of microseconds, and the filter caches check results).
pub struct KeyStore {
    conn: Mutex<Connection>,
}

impl KeyStore {
    /// Opens (creating if needed) the database file and its tables.
    pub fn open(path: &Path) -> Result<KeyStore, StoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS projects (
                 project_id     TEXT PRIMARY KEY,
                 project_number INTEGER NOT NULL UNIQUE
             );
             CREATE TABLE IF NOT EXISTS api_keys (
                 id             TEXT PRIMARY KEY,
                 key_sha256     TEXT NOT NULL UNIQUE,
                 project_id     TEXT NOT NULL REFERENCES projects(project_id),
                 created_at     INTEGER NOT NULL,
                 revoked_at     INTEGER
             );",
        )?;
        Ok(KeyStore {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (every write
        // is one transaction), so a poisoned lock is safe to reuse.
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Creates a key for `project_id`. The project keeps the number it already has;
    /// a new project gets `project_number` or a random 12-digit one.
    pub fn create(
        &self,
        project_id: &str,
        project_number: Option<i64>,
        now: i64,
    ) -> Result<NewKey, StoreError> {
        validate_project_id(project_id)?;
        if let Some(number) = project_number {
            if number <= 0 {
                return Err(StoreError::Invalid(format!(
                    "project number {number} is not positive; pass a positive --project-number or omit it"
                )));
            }
        }
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let number = project_number_for(&tx, project_id, project_number)?;
        let mut rng = rand::rng();
        let key = format!(
            "{KEY_PREFIX}{}",
            Alphanumeric.sample_string(&mut rng, KEY_RANDOM_CHARS)
        );
        let id = format!("k{:016x}", rng.random::<u64>());
        tx.execute(
            "INSERT INTO api_keys (id, key_sha256, project_id, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![id, key_hash(&key), project_id, now],
        )?;
        tx.commit()?;
        Ok(NewKey {
            key,
            info: KeyInfo {
                id,
                project_id: project_id.to_string(),
                project_number: number,
                created_at: now,
                revoked_at: None,
            },
        })
    }

    /// Every key, oldest first.
    pub fn list(&self) -> Result<Vec<KeyInfo>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT k.id, k.project_id, p.project_number, k.created_at, k.revoked_at
             FROM api_keys k JOIN projects p USING (project_id) ORDER BY k.created_at, k.id",
        )?;
        let rows = stmt.query_map([], key_info_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Marks a key revoked. Returns `false` when no key has this id. Revoking twice
    /// keeps the first revocation time.
    pub fn revoke(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        let conn = self.conn();
        let exists: bool = conn.query_row(
            "SELECT EXISTS(SELECT 1 FROM api_keys WHERE id = ?1)",
            [id],
            |r| r.get(0),
        )?;
        if exists {
            conn.execute(
                "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                params![id, now],
            )?;
        }
        Ok(exists)
    }

    /// The key with this plaintext, revoked or not; `None` if it was never issued.
    pub fn lookup(&self, key: &str) -> Result<Option<KeyInfo>, StoreError> {
        let conn = self.conn();
        let info = conn
            .query_row(
                "SELECT k.id, k.project_id, p.project_number, k.created_at, k.revoked_at
                 FROM api_keys k JOIN projects p USING (project_id) WHERE k.key_sha256 = ?1",
                [key_hash(key)],
                key_info_from_row,
            )
            .optional()?;
        Ok(info)
    }

    /// The number of a known project.
    pub fn project_number(&self, project_id: &str) -> Result<Option<i64>, StoreError> {
        let conn = self.conn();
        Ok(conn
            .query_row(
                "SELECT project_number FROM projects WHERE project_id = ?1",
                [project_id],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// The id of the project with this number, if known.
    pub fn project_id(&self, project_number: i64) -> Result<Option<String>, StoreError> {
        let conn = self.conn();
        Ok(conn
            .query_row(
                "SELECT project_id FROM projects WHERE project_number = ?1",
                [project_number],
                |r| r.get(0),
            )
            .optional()?)
    }
}

fn key_info_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<KeyInfo> {
    Ok(KeyInfo {
        id: row.get(0)?,
        project_id: row.get(1)?,
        project_number: row.get(2)?,
        created_at: row.get(3)?,
        revoked_at: row.get(4)?,
    })
}

/// Finds or registers the project, keeping its number stable.
fn project_number_for(
    tx: &rusqlite::Transaction<'_>,
    project_id: &str,
    wanted: Option<i64>,
) -> Result<i64, StoreError> {
    let existing: Option<i64> = tx
        .query_row(
            "SELECT project_number FROM projects WHERE project_id = ?1",
            [project_id],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(number) = existing {
        return match wanted {
            Some(w) if w != number => Err(StoreError::Invalid(format!(
                "project {project_id} already has number {number}; omit --project-number or pass {number}"
            ))),
            _ => Ok(number),
        };
    }
    let taken = |number: i64| -> rusqlite::Result<bool> {
        tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM projects WHERE project_number = ?1)",
            [number],
            |r| r.get(0),
        )
    };
    let number = match wanted {
        Some(number) if taken(number)? => {
            return Err(StoreError::Invalid(format!(
                "project number {number} already belongs to another project; pass a different --project-number"
            )))
        }
        Some(number) => number,
        None => {
            let mut rng = rand::rng();
            loop {
                let candidate = rng.random_range(PROJECT_NUMBER_RANGE);
                if !taken(candidate)? {
                    break candidate;
                }
            }
        }
    };
    tx.execute(
        "INSERT INTO projects (project_id, project_number) VALUES (?1, ?2)",
        params![project_id, number],
    )?;
    Ok(number)
}

/// Project ids end up in consumer ids (`project:<id>`) and quota keys, so keep them to
/// the characters Google project ids use (plus `_` and `.`).
fn validate_project_id(project_id: &str) -> Result<(), StoreError> {
    let ok = !project_id.is_empty()
        && project_id.len() <= 100
        && project_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "project id {project_id:?} is not valid: use 1-100 characters from a-z, A-Z, 0-9, '-', '_', '.'"
        )))
    }
}

/// Hex SHA-256 of a key: what the database stores instead of the key.
pub fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_store() -> (tempfile::TempDir, KeyStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::open(&dir.path().join("keys.db")).unwrap();
        (dir, store)
    }

    #[test]
    fn created_key_is_found_by_plaintext_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.db");
        let created = KeyStore::open(&path)
            .unwrap()
            .create("shop", Some(4242), 10)
            .unwrap();
        assert!(created.key.starts_with("wasp") && created.key.len() == 47);

        let reopened = KeyStore::open(&path).unwrap();
        let found = reopened.lookup(&created.key).unwrap().unwrap();
        assert_eq!(found, created.info);
        assert_eq!(found.project_number, 4242);
        assert!(reopened.lookup("wasp-not-a-key").unwrap().is_none());
    }

    #[test]
    fn plaintext_never_reaches_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.db");
        let created = KeyStore::open(&path)
            .unwrap()
            .create("shop", None, 1)
            .unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        if let Ok(wal) = std::fs::read(dir.path().join("keys.db-wal")) {
            bytes.extend(wal);
        }
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(&created.key));
        assert!(text.contains(&key_hash(&created.key)));
    }

    #[test]
    fn revoke_marks_the_key_and_reports_unknown_ids() {
        let (_dir, store) = temp_store();
        let created = store.create("shop", None, 1).unwrap();
        assert!(store.revoke(&created.info.id, 5).unwrap());
        assert!(store.revoke(&created.info.id, 9).unwrap());
        assert_eq!(
            store.lookup(&created.key).unwrap().unwrap().revoked_at,
            Some(5)
        );
        assert!(!store.revoke("k-unknown", 5).unwrap());
    }

    #[test]
    fn a_project_keeps_one_number() {
        let (_dir, store) = temp_store();
        let first = store.create("shop", None, 1).unwrap();
        assert!(PROJECT_NUMBER_RANGE.contains(&first.info.project_number));
        let second = store.create("shop", None, 2).unwrap();
        assert_eq!(first.info.project_number, second.info.project_number);
        let clash = store
            .create("shop", Some(first.info.project_number + 1), 3)
            .unwrap_err();
        assert!(clash.to_string().contains("already has number"));
        let taken = store
            .create("other", Some(first.info.project_number), 3)
            .unwrap_err();
        assert!(taken.to_string().contains("already belongs"));
        assert_eq!(
            store
                .project_id(first.info.project_number)
                .unwrap()
                .as_deref(),
            Some("shop")
        );
        assert_eq!(store.list().unwrap().len(), 2);
    }

    #[test]
    fn rejects_bad_project_ids() {
        let (_dir, store) = temp_store();
        for bad in ["", "a:b", "a b", "ü"] {
            assert!(
                matches!(store.create(bad, None, 1), Err(StoreError::Invalid(_))),
                "{bad:?}"
            );
        }
    }
}
