//! API keys and the consumer projects they belong to: what every key database holds, and
//! the rules both backends share (`sqlite_store.rs`, one host; `postgres_store.rs`, replicas
//! on many machines).
//!
//! The plaintext key is returned once, by [`KeyStore::create`], and never stored. Keys are
//! 256-bit random strings, so an unsalted SHA-256 is enough: there is nothing to guess.
//! Each key belongs to a consumer project (id + number); a project keeps one number so every
//! key of a project reports the same consumer.

use async_trait::async_trait;
use rand::distr::{Alphanumeric, SampleString};
use rand::Rng;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::fmt;

/// Printed in front of every key so a leaked one is recognisable in logs and scans.
const KEY_PREFIX: &str = "wasp";
const KEY_RANDOM_CHARS: usize = 43; // 43 alphanumerics carry > 256 bits
pub const PROJECT_NUMBER_RANGE: std::ops::RangeInclusive<i64> = 100_000_000_000..=999_999_999_999;

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

impl NewKey {
    /// A key [`mint_key`] made, as stored for `project_id` (its number `project_number`) at `now`.
    pub fn issued(
        key: String,
        id: String,
        project_id: &str,
        project_number: i64,
        now: i64,
    ) -> NewKey {
        NewKey {
            key,
            info: KeyInfo {
                id,
                project_id: project_id.to_string(),
                project_number,
                created_at: now,
                revoked_at: None,
            },
        }
    }
}

/// The columns of a [`KeyInfo`], in its field order, for both databases' key queries.
pub const KEY_COLUMNS: &str =
    "SELECT k.id, k.project_id, p.project_number, k.created_at, k.revoked_at
     FROM api_keys k JOIN projects p USING (project_id)";

/// Why a key operation failed, split by who must act.
#[derive(Debug)]
pub enum StoreError {
    /// The caller's input is wrong (bad project id, number clash); say what to change.
    Invalid(String),
    /// The database failed (file, lock, corruption, a Postgres that is down).
    Database(String),
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
        StoreError::Database(e.to_string())
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}

/// Where keys and projects live. Every answer is the database's at the time of the call:
/// a key created or revoked by another process or replica counts at once.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Creates a key for `project_id`. The project keeps the number it already has; a new
    /// project gets `project_number` or a random 12-digit one.
    async fn create(
        &self,
        project_id: &str,
        project_number: Option<i64>,
        now: i64,
    ) -> Result<NewKey, StoreError>;

    /// Every key, oldest first.
    async fn list(&self) -> Result<Vec<KeyInfo>, StoreError>;

    /// Marks a key revoked. `false` when no key has this id. Revoking twice keeps the first
    /// revocation time.
    async fn revoke(&self, id: &str, now: i64) -> Result<bool, StoreError>;

    /// The key whose SHA-256 is `hash` ([`key_hash`]), revoked or not; `None` if never issued.
    async fn lookup_hash(&self, hash: &str) -> Result<Option<KeyInfo>, StoreError>;

    /// The number of a known project.
    async fn project_number(&self, project_id: &str) -> Result<Option<i64>, StoreError>;

    /// The id of the project with this number, if known.
    async fn project_id(&self, project_number: i64) -> Result<Option<String>, StoreError>;

    /// The key with this plaintext, revoked or not.
    async fn lookup(&self, key: &str) -> Result<Option<KeyInfo>, StoreError> {
        self.lookup_hash(&key_hash(key)).await
    }
}

/// A new key's plaintext and id.
pub fn mint_key() -> (String, String) {
    let mut rng = rand::rng();
    let key = format!(
        "{KEY_PREFIX}{}",
        Alphanumeric.sample_string(&mut rng, KEY_RANDOM_CHARS)
    );
    let id = format!("k{:016x}", rng.random::<u64>());
    (key, id)
}

/// A random number for a new project (the caller retries on a clash).
pub fn random_project_number() -> i64 {
    rand::rng().random_range(PROJECT_NUMBER_RANGE)
}

/// Checks what `create` is given before any database work.
pub fn validate_new_key(project_id: &str, project_number: Option<i64>) -> Result<(), StoreError> {
    validate_project_id(project_id)?;
    match project_number {
        Some(number) if number <= 0 => Err(StoreError::Invalid(format!(
            "project number {number} is not positive; pass a positive --project-number or omit it"
        ))),
        _ => Ok(()),
    }
}

/// A project that exists with `existing` when `wanted` was asked for.
pub fn number_clash(project_id: &str, existing: i64, wanted: Option<i64>) -> Option<StoreError> {
    match wanted {
        Some(w) if w != existing => Some(StoreError::Invalid(format!(
            "project {project_id} already has number {existing}; omit --project-number or pass {existing}"
        ))),
        _ => None,
    }
}

/// The error for a wanted number another project holds.
pub fn number_taken(number: i64) -> StoreError {
    StoreError::Invalid(format!(
        "project number {number} already belongs to another project; pass a different --project-number"
    ))
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

    #[test]
    fn keys_are_prefixed_and_long_and_ids_short() {
        let (key, id) = mint_key();
        assert!(key.starts_with("wasp") && key.len() == 47);
        assert!(id.starts_with('k') && id.len() == 17);
        assert_ne!(mint_key().0, key);
        assert_eq!(key_hash("a").len(), 64);
    }

    #[test]
    fn rejects_bad_project_ids_and_numbers() {
        for bad in ["", "a:b", "a b", "ü"] {
            assert!(
                matches!(validate_new_key(bad, None), Err(StoreError::Invalid(_))),
                "{bad:?}"
            );
        }
        assert!(validate_new_key("shop", Some(0)).is_err());
        assert!(validate_new_key("shop.v2_x-y", Some(7)).is_ok());
    }
}
