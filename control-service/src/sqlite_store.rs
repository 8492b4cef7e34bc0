//! The embedded database: keys, projects and report minutes in one SQLite file (WAL), for a
//! single host. The CLI can create or revoke keys while a server has the file open; the
//! server reads it on every lookup, so a change applies at once. WAL does not work over a
//! network filesystem: replicas on several machines use Postgres (`postgres_store.rs`).
//!
//! Calls run inline on the async worker: a lookup is an indexed read of microseconds.

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use crate::report_minutes::{LatencyHistogram, MinuteRow, MinuteStore, StoredTotals};
use crate::store::{
    mint_key, number_clash, number_taken, random_project_number, validate_new_key, KeyInfo,
    KeyStore, NewKey, StoreError, KEY_COLUMNS,
};

/// Two connections, so a report's transaction (an fsync) never holds up a key lookup.
pub struct SqliteStore {
    keys: Mutex<Connection>,
    minutes: Mutex<Connection>,
}

fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

fn lock(conn: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // Every write is one transaction, so a panic while holding the lock cannot leave
    // SQLite inconsistent: a poisoned lock is safe to reuse.
    conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and its tables.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let keys = connect(path)?;
        keys.execute_batch(
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
             );
             CREATE TABLE IF NOT EXISTS report_minutes (
                 service        TEXT NOT NULL,
                 operation      TEXT NOT NULL,
                 consumer       TEXT NOT NULL,
                 response_code  TEXT NOT NULL,
                 minute         INTEGER NOT NULL,
                 requests       INTEGER NOT NULL,
                 errors         INTEGER NOT NULL,
                 request_bytes  INTEGER NOT NULL,
                 response_bytes INTEGER NOT NULL,
                 latency        TEXT NOT NULL,
                 PRIMARY KEY (service, operation, consumer, response_code, minute)
             );
             CREATE INDEX IF NOT EXISTS report_minutes_by_minute ON report_minutes (minute);",
        )?;
        Ok(SqliteStore {
            keys: Mutex::new(keys),
            minutes: Mutex::new(connect(path)?),
        })
    }
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn create(
        &self,
        project_id: &str,
        project_number: Option<i64>,
        now: i64,
    ) -> Result<NewKey, StoreError> {
        validate_new_key(project_id, project_number)?;
        let mut conn = lock(&self.keys);
        let tx = conn.transaction()?;
        let number = project_number_for(&tx, project_id, project_number)?;
        let (key, id) = mint_key();
        tx.execute(
            "INSERT INTO api_keys (id, key_sha256, project_id, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![id, crate::store::key_hash(&key), project_id, now],
        )?;
        tx.commit()?;
        Ok(NewKey::issued(key, id, project_id, number, now))
    }

    async fn list(&self) -> Result<Vec<KeyInfo>, StoreError> {
        let conn = lock(&self.keys);
        let mut stmt = conn.prepare(&format!("{KEY_COLUMNS} ORDER BY k.created_at, k.id"))?;
        let rows = stmt.query_map([], key_info_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    async fn revoke(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        let conn = lock(&self.keys);
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

    async fn lookup_hash(&self, hash: &str) -> Result<Option<KeyInfo>, StoreError> {
        let conn = lock(&self.keys);
        Ok(conn
            .query_row(
                &format!("{KEY_COLUMNS} WHERE k.key_sha256 = ?1"),
                [hash],
                key_info_from_row,
            )
            .optional()?)
    }

    async fn project_number(&self, project_id: &str) -> Result<Option<i64>, StoreError> {
        let conn = lock(&self.keys);
        Ok(conn
            .query_row(
                "SELECT project_number FROM projects WHERE project_id = ?1",
                [project_id],
                |r| r.get(0),
            )
            .optional()?)
    }

    async fn project_id(&self, project_number: i64) -> Result<Option<String>, StoreError> {
        let conn = lock(&self.keys);
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
        return match number_clash(project_id, number, wanted) {
            Some(error) => Err(error),
            None => Ok(number),
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
        Some(number) if taken(number)? => return Err(number_taken(number)),
        Some(number) => number,
        None => loop {
            let candidate = random_project_number();
            if !taken(candidate)? {
                break candidate;
            }
        },
    };
    tx.execute(
        "INSERT INTO projects (project_id, project_number) VALUES (?1, ?2)",
        params![project_id, number],
    )?;
    Ok(number)
}

#[async_trait]
impl MinuteStore for SqliteStore {
    async fn add_minutes(
        &self,
        rows: &[MinuteRow],
        prune_before: Option<i64>,
    ) -> Result<(), StoreError> {
        let conn = lock(&self.minutes);
        let tx = conn.unchecked_transaction()?;
        for row in rows {
            add_minute(&tx, row)?;
        }
        if let Some(before) = prune_before {
            tx.execute(
                "DELETE FROM report_minutes WHERE minute < ?1",
                params![before],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    async fn minutes_between(&self, from: i64, to: i64) -> Result<Vec<MinuteRow>, StoreError> {
        let conn = lock(&self.minutes);
        let mut statement = conn.prepare(
            "SELECT service, operation, consumer, response_code, minute, requests, errors,
                    request_bytes, response_bytes, latency
             FROM report_minutes WHERE minute >= ?1 AND minute < ?2
             ORDER BY minute, service, operation, consumer, response_code",
        )?;
        let rows = statement.query_map(params![from, to], |r| {
            let latency: String = r.get(9)?;
            Ok(MinuteRow {
                service: r.get(0)?,
                operation: r.get(1)?,
                consumer: r.get(2)?,
                response_code: r.get(3)?,
                minute: r.get(4)?,
                requests: r.get(5)?,
                errors: r.get(6)?,
                request_bytes: r.get(7)?,
                response_bytes: r.get(8)?,
                latency: LatencyHistogram::from_stored(&latency),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// Adds one row to the stored row with its key (inside the caller's transaction).
fn add_minute(tx: &rusqlite::Transaction, row: &MinuteRow) -> rusqlite::Result<()> {
    let (service, operation, consumer, code, minute) = row.key();
    let stored = tx
        .query_row(
            "SELECT requests, errors, request_bytes, response_bytes, latency FROM report_minutes
             WHERE service = ?1 AND operation = ?2 AND consumer = ?3 AND response_code = ?4 AND minute = ?5",
            params![service, operation, consumer, code, minute],
            |r| {
                Ok(StoredTotals {
                    requests: r.get(0)?,
                    errors: r.get(1)?,
                    request_bytes: r.get(2)?,
                    response_bytes: r.get(3)?,
                    latency: r.get(4)?,
                })
            },
        )
        .optional()?;
    let total = row.added_to(stored);
    let latency = total.latency.to_stored();
    tx.execute(
        "INSERT OR REPLACE INTO report_minutes VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            service,
            operation,
            consumer,
            code,
            minute,
            total.requests,
            total.errors,
            total.request_bytes,
            total.response_bytes,
            latency
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report_minutes::fixtures::reported;
    use crate::report_minutes::ReportMinutes;
    use crate::store::{key_hash, PROJECT_NUMBER_RANGE};
    use std::sync::Arc;

    fn temp_store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("keys.db")).unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn created_key_is_found_by_plaintext_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.db");
        let created = SqliteStore::open(&path)
            .unwrap()
            .create("shop", Some(4242), 10)
            .await
            .unwrap();
        assert!(created.key.starts_with("wasp") && created.key.len() == 47);

        let reopened = SqliteStore::open(&path).unwrap();
        let found = reopened.lookup(&created.key).await.unwrap().unwrap();
        assert_eq!(found, created.info);
        assert_eq!(found.project_number, 4242);
        assert!(reopened.lookup("wasp-not-a-key").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn plaintext_never_reaches_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.db");
        let created = SqliteStore::open(&path)
            .unwrap()
            .create("shop", None, 1)
            .await
            .unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        if let Ok(wal) = std::fs::read(dir.path().join("keys.db-wal")) {
            bytes.extend(wal);
        }
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(&created.key));
        assert!(text.contains(&key_hash(&created.key)));
    }

    #[tokio::test]
    async fn revoke_marks_the_key_and_reports_unknown_ids() {
        let (_dir, store) = temp_store();
        let created = store.create("shop", None, 1).await.unwrap();
        assert!(store.revoke(&created.info.id, 5).await.unwrap());
        assert!(store.revoke(&created.info.id, 9).await.unwrap());
        assert_eq!(
            store
                .lookup(&created.key)
                .await
                .unwrap()
                .unwrap()
                .revoked_at,
            Some(5)
        );
        assert!(!store.revoke("k-unknown", 5).await.unwrap());
    }

    #[tokio::test]
    async fn a_project_keeps_one_number() {
        let (_dir, store) = temp_store();
        let first = store.create("shop", None, 1).await.unwrap();
        assert!(PROJECT_NUMBER_RANGE.contains(&first.info.project_number));
        let second = store.create("shop", None, 2).await.unwrap();
        assert_eq!(first.info.project_number, second.info.project_number);
        let clash = store
            .create("shop", Some(first.info.project_number + 1), 3)
            .await
            .unwrap_err();
        assert!(clash.to_string().contains("already has number"));
        let taken = store
            .create("other", Some(first.info.project_number), 3)
            .await
            .unwrap_err();
        assert!(taken.to_string().contains("already belongs"));
        assert_eq!(
            store
                .project_id(first.info.project_number)
                .await
                .unwrap()
                .as_deref(),
            Some("shop")
        );
        assert_eq!(store.list().await.unwrap().len(), 2);
    }

    /// Report minutes in a real SQLite file at `path`.
    fn minutes_in(path: &std::path::Path, retention_days: u32) -> ReportMinutes {
        ReportMinutes::new(Arc::new(SqliteStore::open(path).unwrap()), retention_days)
    }

    #[tokio::test]
    async fn operations_of_one_minute_add_up_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.db");
        let store = minutes_in(&path, 7);
        let now = 1_800_000_030; // 30 s into a minute
        for (code, start, requests, buckets) in [
            ("200", now - 10, 3, vec![0, 2, 1, 0]),
            ("200", now - 5, 2, vec![0, 1, 1, 0]),
            ("503", now - 5, 1, vec![0, 0, 0, 1]),
        ] {
            let operation = reported(code, start, requests, buckets);
            store
                .record("s", &[(&operation, "project:p".into())], now)
                .await
                .unwrap();
        }
        drop(store);
        let store = minutes_in(&path, 7);
        let rows = store.between(now - 60, now + 60).await.unwrap();
        assert_eq!(rows.len(), 2, "{rows:?}");
        let ok = &rows[0];
        assert_eq!(
            (ok.response_code.as_str(), ok.requests, ok.errors),
            ("200", 5, 0)
        );
        assert_eq!((ok.request_bytes, ok.response_bytes), (500, 250));
        assert_eq!(ok.latency.count, 5);
        assert_eq!(ok.latency.bucket_counts, [0, 3, 2, 0]);
        assert!((ok.latency.sum_seconds - 0.010).abs() < 1e-9);
        assert_eq!(ok.minute % 60, 0);
        assert_eq!((rows[1].response_code.as_str(), rows[1].errors), ("503", 1));
        assert!(store.between(now + 60, now + 120).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn rows_past_the_retention_go_when_a_new_minute_arrives() {
        let dir = tempfile::tempdir().unwrap();
        let store = minutes_in(&dir.path().join("keys.db"), 1);
        let day = 86_400;
        let old = 1_800_000_000;
        store
            .record("s", &[(&reported("200", old, 1, vec![]), "c".into())], old)
            .await
            .unwrap();
        let later = old + 2 * day;
        store
            .record(
                "s",
                &[(&reported("200", later, 1, vec![]), "c".into())],
                later,
            )
            .await
            .unwrap();
        let rows = store.between(0, i64::MAX).await.unwrap();
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0].minute, later - later % 60);
    }
}
