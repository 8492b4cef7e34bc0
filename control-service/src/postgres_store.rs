//! Keys, projects and report minutes in Postgres (`--db postgres://...`), shared by every
//! wasp-control replica pointed at the database: a key created or revoked on one replica
//! is seen by the next lookup on any other (within `--key-cache-seconds` when caching).
//!
//! The schema is `migrations/` (sqlx's migrator, applied at open under its advisory lock).
//! Writes that replicas may race on are written to be safe under READ COMMITTED: a new
//! project is inserted with `ON CONFLICT DO NOTHING` and read back; a report row is locked
//! (`FOR UPDATE`) before it is added to, rows in key order so two replicas cannot deadlock;
//! old rows are deleted after the commit, outside that order. Every call has a deadline
//! ([`LOOKUP_DEADLINE`], [`WRITE_DEADLINE`]), so a silent database answers 503 in time.

use async_trait::async_trait;
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Row, Transaction};
use std::time::Duration;

use crate::report_minutes::{LatencyHistogram, MinuteRow, MinuteStore, StoredTotals};
use crate::store::{
    key_hash, mint_key, number_clash, number_taken, random_project_number, validate_new_key,
    KeyInfo, KeyStore, NewKey, StoreError, KEY_COLUMNS,
};

/// The longest a call waits for a pooled connection. Below the gateway's 1 s Check and
/// quota timeouts, so a database that is down answers 503 (the gateway's fail policy)
/// rather than a timeout.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_millis(800);

/// The longest a lookup (a key, a project) may take, connection included, for the same
/// reason: a database that went silent (a partition, not a refused connection) would
/// otherwise hold a call until TCP gives up.
pub const LOOKUP_DEADLINE: Duration = Duration::from_millis(800);

/// The longest a write or a listing may take (a report's rows; the gateway's report call
/// waits 2 s by default).
pub const WRITE_DEADLINE: Duration = Duration::from_millis(1500);

/// Connections per replica; a lookup holds one for well under a millisecond.
const MAX_CONNECTIONS: u32 = 16;

/// `call`, or a database error once `deadline` has passed.
async fn within<T>(
    deadline: Duration,
    call: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(deadline, call).await.map_err(|_| {
        StoreError::Database(format!(
            "no answer from Postgres within {} ms",
            deadline.as_millis()
        ))
    })?
}

pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects, then brings the schema up to date. Fails fast on a bad URL, a server that
    /// is down or a migration that does not apply.
    pub async fn open(url: &str) -> Result<PostgresStore, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(url)
            .await
            .map_err(|e| StoreError::Database(format!("cannot connect: {e}")))?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Database(format!("cannot migrate the schema: {e}")))?;
        Ok(PostgresStore { pool })
    }
}

fn key_info(row: &PgRow) -> Result<KeyInfo, sqlx::Error> {
    Ok(KeyInfo {
        id: row.try_get(0)?,
        project_id: row.try_get(1)?,
        project_number: row.try_get(2)?,
        created_at: row.try_get(3)?,
        revoked_at: row.try_get(4)?,
    })
}

/// Tries for a random project number before giving up (12 digits: a clash is rare).
const RANDOM_NUMBER_ATTEMPTS: usize = 8;

/// Finds or registers the project. Another replica may register it at the same moment:
/// the insert then does nothing and the number read back is theirs.
async fn project_number_for(
    tx: &mut Transaction<'_, Postgres>,
    project_id: &str,
    wanted: Option<i64>,
) -> Result<i64, StoreError> {
    for _ in 0..RANDOM_NUMBER_ATTEMPTS {
        let existing: Option<i64> =
            sqlx::query_scalar("SELECT project_number FROM projects WHERE project_id = $1")
                .bind(project_id)
                .fetch_optional(&mut **tx)
                .await?;
        if let Some(number) = existing {
            return match number_clash(project_id, number, wanted) {
                Some(error) => Err(error),
                None => Ok(number),
            };
        }
        let candidate = wanted.unwrap_or_else(random_project_number);
        let inserted = sqlx::query(
            "INSERT INTO projects (project_id, project_number) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(project_id)
        .bind(candidate)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        if inserted == 1 {
            return Ok(candidate);
        }
        // Either the id was registered meanwhile (the next read finds it) or the number
        // belongs to another project.
        let holder: Option<String> =
            sqlx::query_scalar("SELECT project_id FROM projects WHERE project_number = $1")
                .bind(candidate)
                .fetch_optional(&mut **tx)
                .await?;
        if wanted.is_some() && holder.as_deref().is_some_and(|holder| holder != project_id) {
            return Err(number_taken(candidate));
        }
    }
    Err(StoreError::Database(format!(
        "could not register project {project_id}: {RANDOM_NUMBER_ATTEMPTS} attempts clashed"
    )))
}

#[async_trait]
impl KeyStore for PostgresStore {
    async fn create(
        &self,
        project_id: &str,
        project_number: Option<i64>,
        now: i64,
    ) -> Result<NewKey, StoreError> {
        within(WRITE_DEADLINE, async {
            validate_new_key(project_id, project_number)?;
            let mut tx = self.pool.begin().await?;
            let number = project_number_for(&mut tx, project_id, project_number).await?;
            let (key, id) = mint_key();
            sqlx::query(
                "INSERT INTO api_keys (id, key_sha256, project_id, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(&id)
            .bind(key_hash(&key))
            .bind(project_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(NewKey::issued(key, id, project_id, number, now))
        })
        .await
    }

    async fn list(&self) -> Result<Vec<KeyInfo>, StoreError> {
        within(WRITE_DEADLINE, async {
            let rows = sqlx::query(&format!("{KEY_COLUMNS} ORDER BY k.created_at, k.id"))
                .fetch_all(&self.pool)
                .await?;
            Ok(rows.iter().map(key_info).collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn revoke(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        within(WRITE_DEADLINE, async {
            // One statement: the first revocation time stays, and a known id answers true.
            let found: Option<bool> = sqlx::query_scalar(
                "WITH updated AS (
                     UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING id
                 )
                 SELECT true FROM api_keys WHERE id = $1 UNION ALL SELECT true FROM updated LIMIT 1",
            )
            .bind(id)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
            Ok(found.is_some())
        })
        .await
    }

    async fn lookup_hash(&self, hash: &str) -> Result<Option<KeyInfo>, StoreError> {
        within(LOOKUP_DEADLINE, async {
            let row = sqlx::query(&format!("{KEY_COLUMNS} WHERE k.key_sha256 = $1"))
                .bind(hash)
                .fetch_optional(&self.pool)
                .await?;
            Ok(row.as_ref().map(key_info).transpose()?)
        })
        .await
    }

    async fn project_number(&self, project_id: &str) -> Result<Option<i64>, StoreError> {
        within(LOOKUP_DEADLINE, async {
            Ok(
                sqlx::query_scalar("SELECT project_number FROM projects WHERE project_id = $1")
                    .bind(project_id)
                    .fetch_optional(&self.pool)
                    .await?,
            )
        })
        .await
    }

    async fn project_id(&self, project_number: i64) -> Result<Option<String>, StoreError> {
        within(LOOKUP_DEADLINE, async {
            Ok(
                sqlx::query_scalar("SELECT project_id FROM projects WHERE project_number = $1")
                    .bind(project_number)
                    .fetch_optional(&self.pool)
                    .await?,
            )
        })
        .await
    }
}

#[async_trait]
impl MinuteStore for PostgresStore {
    async fn add_minutes(
        &self,
        rows: &[MinuteRow],
        prune_before: Option<i64>,
    ) -> Result<(), StoreError> {
        within(WRITE_DEADLINE, async {
            let mut tx = self.pool.begin().await?;
            for row in rows {
                add_minute(&mut tx, row).await?;
            }
            tx.commit().await?;
            // Old rows go in a statement of their own: inside the transaction, its locks
            // (in no key order) could meet another replica's row locks in a deadlock.
            if let Some(before) = prune_before {
                sqlx::query("DELETE FROM report_minutes WHERE minute < $1")
                    .bind(before)
                    .execute(&self.pool)
                    .await?;
            }
            Ok(())
        })
        .await
    }

    async fn minutes_between(&self, from: i64, to: i64) -> Result<Vec<MinuteRow>, StoreError> {
        within(WRITE_DEADLINE, async {
            let rows = sqlx::query(
                "SELECT service, operation, consumer, response_code, minute, requests, errors,
                        request_bytes, response_bytes, latency::text
                 FROM report_minutes WHERE minute >= $1 AND minute < $2
                 ORDER BY minute, service, operation, consumer, response_code",
            )
            .bind(from)
            .bind(to)
            .fetch_all(&self.pool)
            .await?;
            rows.iter()
                .map(|r| {
                    let latency: String = r.try_get(9)?;
                    Ok(MinuteRow {
                        service: r.try_get(0)?,
                        operation: r.try_get(1)?,
                        consumer: r.try_get(2)?,
                        response_code: r.try_get(3)?,
                        minute: r.try_get(4)?,
                        requests: r.try_get(5)?,
                        errors: r.try_get(6)?,
                        request_bytes: r.try_get(7)?,
                        response_bytes: r.try_get(8)?,
                        latency: LatencyHistogram::from_stored(&latency),
                    })
                })
                .collect::<Result<_, sqlx::Error>>()
                .map_err(StoreError::from)
        })
        .await
    }
}

/// Adds one row to the stored row with its key: created empty if missing, then locked,
/// added to and written back, so concurrent replicas add rather than overwrite.
async fn add_minute(tx: &mut Transaction<'_, Postgres>, row: &MinuteRow) -> Result<(), StoreError> {
    let (service, operation, consumer, code, minute) = row.key();
    sqlx::query(
        "INSERT INTO report_minutes VALUES ($1, $2, $3, $4, $5, 0, 0, 0, 0, '{}'::jsonb)
         ON CONFLICT DO NOTHING",
    )
    .bind(service)
    .bind(operation)
    .bind(consumer)
    .bind(code)
    .bind(minute)
    .execute(&mut **tx)
    .await?;
    let stored = sqlx::query(
        "SELECT requests, errors, request_bytes, response_bytes, latency::text FROM report_minutes
         WHERE service = $1 AND operation = $2 AND consumer = $3 AND response_code = $4 AND minute = $5
         FOR UPDATE",
    )
    .bind(service)
    .bind(operation)
    .bind(consumer)
    .bind(code)
    .bind(minute)
    .fetch_one(&mut **tx)
    .await?;
    let total = row.added_to(Some(StoredTotals {
        requests: stored.try_get(0)?,
        errors: stored.try_get(1)?,
        request_bytes: stored.try_get(2)?,
        response_bytes: stored.try_get(3)?,
        latency: stored.try_get(4)?,
    }));
    let latency = total.latency.to_stored();
    sqlx::query(
        "UPDATE report_minutes SET requests = $6, errors = $7, request_bytes = $8,
                response_bytes = $9, latency = $10::jsonb
         WHERE service = $1 AND operation = $2 AND consumer = $3 AND response_code = $4 AND minute = $5",
    )
    .bind(service)
    .bind(operation)
    .bind(consumer)
    .bind(code)
    .bind(minute)
    .bind(total.requests)
    .bind(total.errors)
    .bind(total.request_bytes)
    .bind(total.response_bytes)
    .bind(latency)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
