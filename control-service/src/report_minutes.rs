//! Reports kept durably: one row per (service, operation, consumer, response code, minute)
//! in the key database (SQLite), with the requests, the errors among them, the request and
//! response bytes, and the latency histogram the gateways sent (Service Control's
//! exponential-bucket `Distribution`, merged bucket by bucket). Rows older than the
//! retention period are deleted as new minutes arrive. Survives a restart; the admin API
//! reads it by time range (`GET /admin/reports/minutes?from=&to=`).

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Mutex;
use wasp_servicecontrol::metric_value::Value;
use wasp_servicecontrol::{Distribution, Operation};

use crate::reported::{request_count, response_code};

const PRODUCER: &str = "serviceruntime.googleapis.com/api/producer/";

/// A latency histogram as reported: counts per bucket (underflow first, overflow last) of
/// exponential buckets `scale * growth^i` seconds, their count and sum.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyHistogram {
    pub count: i64,
    pub sum_seconds: f64,
    pub growth_factor: f64,
    pub scale_seconds: f64,
    pub bucket_counts: Vec<i64>,
}

impl LatencyHistogram {
    fn from_distribution(d: &Distribution) -> LatencyHistogram {
        let (growth_factor, scale_seconds) = match &d.bucket_option {
            Some(wasp_servicecontrol::distribution::BucketOption::ExponentialBuckets(e)) => {
                (e.growth_factor, e.scale)
            }
            _ => (0.0, 0.0),
        };
        LatencyHistogram {
            count: d.count,
            sum_seconds: d.mean * d.count as f64,
            growth_factor,
            scale_seconds,
            bucket_counts: d.bucket_counts.clone(),
        }
    }

    /// Adds `other`; buckets of a different shape are left out (count and sum still add).
    fn merge(&mut self, other: &LatencyHistogram) {
        if self.count == 0 {
            *self = other.clone();
            return;
        }
        self.count = self.count.saturating_add(other.count);
        self.sum_seconds += other.sum_seconds;
        let same_shape = self.bucket_counts.len() == other.bucket_counts.len()
            && self.growth_factor == other.growth_factor
            && self.scale_seconds == other.scale_seconds;
        if same_shape {
            for (mine, theirs) in self.bucket_counts.iter_mut().zip(&other.bucket_counts) {
                *mine = mine.saturating_add(*theirs);
            }
        }
    }
}

/// One minute of one (service, operation, consumer, response code).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MinuteRow {
    pub service: String,
    pub operation: String,
    pub consumer: String,
    pub response_code: String,
    /// Unix seconds at the start of the minute.
    pub minute: i64,
    pub requests: i64,
    /// Requests answered 400 or above.
    pub errors: i64,
    pub request_bytes: i64,
    pub response_bytes: i64,
    pub latency: LatencyHistogram,
}

/// The rows' table, on its own connection to the key database.
pub struct ReportMinutes {
    conn: Mutex<Connection>,
    retention_secs: i64,
    /// The last minute old rows were deleted for.
    pruned_at: Mutex<i64>,
}

fn distribution<'a>(operation: &'a Operation, metric: &str) -> Option<&'a Distribution> {
    let name = format!("{PRODUCER}{metric}");
    operation
        .metric_value_sets
        .iter()
        .find(|set| set.metric_name == name)?
        .metric_values
        .iter()
        .find_map(|value| match &value.value {
            Some(Value::DistributionValue(d)) => Some(d),
            _ => None,
        })
}

fn bytes(operation: &Operation, metric: &str) -> i64 {
    distribution(operation, metric).map_or(0, |d| (d.mean * d.count as f64).round() as i64)
}

impl ReportMinutes {
    /// Opens (and creates) the table in `path`; rows older than `retention_days` go.
    pub fn open(path: &Path, retention_days: u32) -> rusqlite::Result<ReportMinutes> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS report_minutes (
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
        Ok(ReportMinutes {
            conn: Mutex::new(conn),
            retention_secs: i64::from(retention_days) * 86_400,
            pruned_at: Mutex::new(0),
        })
    }

    /// Adds the operations of one report (each with its resolved consumer) to their minutes
    /// (an operation's start, else `now`), all or none.
    pub fn record(
        &self,
        service: &str,
        operations: &[(&Operation, String)],
        now: i64,
    ) -> rusqlite::Result<()> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let tx = conn.unchecked_transaction()?;
        for (operation, consumer) in operations {
            add(&tx, service, operation, consumer, now)?;
        }
        let mut pruned_at = self.pruned_at.lock().unwrap_or_else(|e| e.into_inner());
        let this_minute = now - now.rem_euclid(60);
        if *pruned_at != this_minute {
            tx.execute(
                "DELETE FROM report_minutes WHERE minute < ?1",
                params![this_minute - self.retention_secs],
            )?;
            *pruned_at = this_minute;
        }
        tx.commit()
    }

    /// The rows whose minute is in `[from, to)`, oldest first.
    pub fn between(&self, from: i64, to: i64) -> rusqlite::Result<Vec<MinuteRow>> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
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
                latency: serde_json::from_str(&latency).unwrap_or_default(),
            })
        })?;
        rows.collect()
    }
}

/// Adds one operation to its row.
fn add(
    tx: &rusqlite::Transaction,
    service: &str,
    operation: &Operation,
    consumer: &str,
    now: i64,
) -> rusqlite::Result<()> {
    let at = operation.start_time.as_ref().map_or(now, |t| t.seconds);
    let minute = at - at.rem_euclid(60);
    let code = response_code(operation);
    let requests = i64::try_from(request_count(operation)).unwrap_or(i64::MAX);
    let errors = if code.parse::<u16>().is_ok_and(|c| c >= 400) {
        requests
    } else {
        0
    };
    let latency = distribution(operation, "total_latencies")
        .map(LatencyHistogram::from_distribution)
        .unwrap_or_default();
    let key = params![service, operation.operation_name, consumer, code, minute];
    let existing: Option<(i64, i64, i64, i64, String)> = tx
            .query_row(
                "SELECT requests, errors, request_bytes, response_bytes, latency FROM report_minutes
                 WHERE service = ?1 AND operation = ?2 AND consumer = ?3 AND response_code = ?4 AND minute = ?5",
                key,
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?;
    let (mut total, mut row_errors, mut in_bytes, mut out_bytes, mut histogram) = match existing {
        Some((r, e, i, o, text)) => (r, e, i, o, serde_json::from_str(&text).unwrap_or_default()),
        None => (0, 0, 0, 0, LatencyHistogram::default()),
    };
    total = total.saturating_add(requests);
    row_errors = row_errors.saturating_add(errors);
    in_bytes = in_bytes.saturating_add(bytes(operation, "request_sizes"));
    out_bytes = out_bytes.saturating_add(bytes(operation, "response_sizes"));
    histogram.merge(&latency);
    let latency_text = serde_json::to_string(&histogram).unwrap_or_else(|_| "{}".into());
    tx.execute(
        "INSERT OR REPLACE INTO report_minutes VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            service,
            operation.operation_name,
            consumer,
            code,
            minute,
            total,
            row_errors,
            in_bytes,
            out_bytes,
            latency_text
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasp_servicecontrol::distribution::{BucketOption, ExponentialBuckets};
    use wasp_servicecontrol::{MetricValue, MetricValueSet, Timestamp};

    fn dist_set(metric: &str, count: i64, mean: f64, buckets: Vec<i64>) -> MetricValueSet {
        MetricValueSet {
            metric_name: format!("{PRODUCER}{metric}"),
            metric_values: vec![MetricValue {
                value: Some(Value::DistributionValue(Distribution {
                    count,
                    mean,
                    bucket_counts: buckets,
                    bucket_option: Some(BucketOption::ExponentialBuckets(ExponentialBuckets {
                        num_finite_buckets: 2,
                        growth_factor: 2.0,
                        scale: 1e-3,
                    })),
                    ..Distribution::default()
                })),
                ..MetricValue::default()
            }],
        }
    }

    fn reported(code: &str, start: i64, requests: i64, latency_buckets: Vec<i64>) -> Operation {
        let mut op = Operation {
            operation_name: "1.shop.List".into(),
            start_time: Some(Timestamp {
                seconds: start,
                nanos: 0,
            }),
            metric_value_sets: vec![
                MetricValueSet::int64(format!("{PRODUCER}request_count"), requests),
                dist_set("total_latencies", requests, 0.002, latency_buckets),
                dist_set("request_sizes", requests, 100.0, vec![]),
                dist_set("response_sizes", requests, 50.0, vec![]),
            ],
            ..Operation::default()
        };
        op.labels.insert("/response_code".into(), code.into());
        op
    }

    #[test]
    fn operations_of_one_minute_add_up_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.db");
        let store = ReportMinutes::open(&path, 7).unwrap();
        let now = 1_800_000_030; // 30 s into a minute
        for (code, start, requests, buckets) in [
            ("200", now - 10, 3, vec![0, 2, 1, 0]),
            ("200", now - 5, 2, vec![0, 1, 1, 0]),
            ("503", now - 5, 1, vec![0, 0, 0, 1]),
        ] {
            let operation = reported(code, start, requests, buckets);
            store
                .record("s", &[(&operation, "project:p".into())], now)
                .unwrap();
        }
        drop(store);
        let store = ReportMinutes::open(&path, 7).unwrap();
        let rows = store.between(now - 60, now + 60).unwrap();
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
        assert!(store.between(now + 60, now + 120).unwrap().is_empty());
    }

    #[test]
    fn rows_past_the_retention_go_when_a_new_minute_arrives() {
        let dir = tempfile::tempdir().unwrap();
        let store = ReportMinutes::open(&dir.path().join("keys.db"), 1).unwrap();
        let day = 86_400;
        let old = 1_800_000_000;
        store
            .record("s", &[(&reported("200", old, 1, vec![]), "c".into())], old)
            .unwrap();
        let later = old + 2 * day;
        store
            .record(
                "s",
                &[(&reported("200", later, 1, vec![]), "c".into())],
                later,
            )
            .unwrap();
        let rows = store.between(0, i64::MAX).unwrap();
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0].minute, later - later % 60);
    }
}
