//! The ledger's upkeep, run by the runtime for every tenant ([`Store::ledger_upkeep`]): month
//! partitions made ahead of the data, and retention: whole months of deltas (and of the hourly
//! rollups `campaign_daily` keeps by day) dropped once they fall behind the tenant's horizon.
//!
//! Dropping a month of deltas takes away the memory of which of its records were already
//! counted, so the order matters:
//! 1. the horizon in `ledger_retention` moves first (`UPDATE`, which waits for every writer
//!    holding it `FOR SHARE`, `writer.rs`); from its commit on, a delta older than the horizon
//!    is refused (`beyond_retention`), never added to a rollup whose deltas are gone;
//! 2. then each month wholly before it is detached `CONCURRENTLY` (writers of other months
//!    never wait) and dropped.
//!
//! A crash between the steps leaves the horizon moved and the month still there: the next
//! upkeep finishes the job (a detach left pending is finalized). Replicas take turns through a
//! session advisory lock per tenant; a replica that does not get it skips the tenant this time.

use std::time::Duration;

use ams_model::DatasetId;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::pool::PoolConnection;
use sqlx::{Postgres, Row};

use super::partitions::{ensure_month, month_of, month_start, next_month};
use crate::{Store, StoreError, TenantSchema};

/// How long a tenant keeps its deltas and its hourly rollups (None: for ever).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    pub deltas_days: Option<u32>,
    pub hourly_days: Option<u32>,
}

impl Retention {
    /// SQS keeps a message 14 days and Amazon's corrections of an hour come later than that;
    /// a shorter horizon would refuse them.
    pub const MIN_DELTAS_DAYS: u32 = 30;

    /// Why these settings cannot be used, if they cannot.
    pub fn check(&self) -> Result<(), String> {
        if let Some(d) = self.deltas_days {
            if d < Self::MIN_DELTAS_DAYS {
                return Err(format!(
                    "retention.deltas_days must be at least {} (Amazon corrects an hour for longer than SQS keeps a message); got {d}",
                    Self::MIN_DELTAS_DAYS
                ));
            }
        }
        match (self.deltas_days, self.hourly_days) {
            (None, Some(_)) => Err("retention.hourly_days needs retention.deltas_days: hourly rollups cannot go before the deltas they sum".into()),
            (Some(d), Some(h)) if h < d => Err(format!(
                "retention.hourly_days ({h}) must be at least retention.deltas_days ({d}): a delta that is kept must have its rollup"
            )),
            _ => Ok(()),
        }
    }

    /// The horizons these settings give at `now`: the start of the month holding the oldest
    /// day kept (whole months go).
    fn horizons(&self, now: DateTime<Utc>) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        let at = |days: u32| month_start(month_of(now - chrono::Duration::days(days as i64)));
        (self.deltas_days.map(at), self.hourly_days.map(at))
    }
}

/// What the ledger keeps, as the status and `/metrics` show it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LedgerHorizon {
    /// Deltas before this instant have been dropped (None: none has).
    pub deltas_kept_from: Option<DateTime<Utc>>,
    /// Hourly rollups (of the datasets `campaign_daily` sums) before this instant have been
    /// dropped; their days remain in `campaign_daily`.
    pub hourly_kept_from: Option<DateTime<Utc>>,
    /// The first day of the oldest month of deltas held.
    pub oldest_kept_day: Option<NaiveDate>,
}

/// What one upkeep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Upkeep {
    /// Partitions made (delta tables and rollups).
    pub made: usize,
    /// Partitions dropped, by name.
    pub dropped: Vec<String>,
    /// False when another replica held the tenant's upkeep lock (nothing was dropped).
    pub ran: bool,
}

/// A month partition of `parent`: `<parent>_pYYYY_MM`.
fn partition_month(parent: &str, name: &str) -> Option<NaiveDate> {
    let suffix = name.strip_prefix(parent)?.strip_prefix("_p")?;
    let (y, m) = suffix.split_once('_')?;
    NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, 1)
}

/// The delta tables, and whether their rollup may be dropped by `hourly_days` (only those
/// whose days `campaign_daily` keeps).
fn delta_tables() -> impl Iterator<Item = (&'static str, bool)> {
    DatasetId::ALL.into_iter().filter(|d| d.delta_spec().is_some()).map(|d| {
        let hourly = format!("{}_hourly", d.table());
        (d.table(), migration::tenant::reporting::DAILY_ROLLED_UP.contains(&hourly.as_str()))
    })
}

impl Store {
    /// Makes this month's and next month's partitions (of `now`), moves the retention horizons
    /// and drops the months behind them. Idempotent.
    pub async fn ledger_upkeep(&self, schema: &TenantSchema, retention: Retention, now: DateTime<Utc>) -> Result<Upkeep, StoreError> {
        let mut out = Upkeep::default();
        let this_month = month_of(now);
        for (table, _) in delta_tables() {
            for month in [this_month, next_month(this_month)] {
                out.made += ensure_month(self.pool(), schema.name(), table, month).await?;
            }
        }
        let (deltas, hourly) = retention.horizons(now);
        if deltas.is_none() && hourly.is_none() {
            out.ran = true;
            return Ok(out);
        }
        let mut conn = self.pool().acquire().await?;
        let key = format!("ams-hub ledger upkeep {schema}");
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
            .bind(&key)
            .fetch_one(&mut *conn)
            .await?;
        if !locked {
            return Ok(out);
        }
        let result = drop_behind(&mut conn, schema, deltas, hourly, &mut out).await;
        let unlocked = sqlx::query("SELECT pg_advisory_unlock(hashtextextended($1, 0))").bind(&key).execute(&mut *conn).await;
        result?;
        unlocked?;
        out.ran = true;
        Ok(out)
    }

    /// The tenant's horizons and the oldest month of deltas it holds.
    pub async fn ledger_horizon(&self, schema: &TenantSchema) -> Result<LedgerHorizon, StoreError> {
        let (deltas_kept_from, hourly_kept_from): (Option<DateTime<Utc>>, Option<DateTime<Utc>>) =
            sqlx::query_as(&format!("SELECT deltas_kept_from, hourly_kept_from FROM {schema}.ledger_retention"))
                .fetch_one(self.pool())
                .await?;
        let months = partitions_of(self.pool(), schema, delta_tables().map(|(t, _)| t.to_owned())).await?;
        let oldest_kept_day = months.into_iter().map(|(_, m)| m).min();
        Ok(LedgerHorizon { deltas_kept_from, hourly_kept_from, oldest_kept_day })
    }
}

/// (parent, month) of every month partition of `parents`.
async fn partitions_of<'e, E>(db: E, schema: &TenantSchema, parents: impl Iterator<Item = String>) -> Result<Vec<(String, NaiveDate)>, StoreError>
where
    E: sqlx::PgExecutor<'e>,
{
    let parents: Vec<String> = parents.collect();
    let rows = sqlx::query(
        "SELECT p.relname, c.relname FROM pg_inherits i
         JOIN pg_class c ON c.oid = i.inhrelid
         JOIN pg_class p ON p.oid = i.inhparent
         JOIN pg_namespace n ON n.oid = p.relnamespace
         WHERE n.nspname = $1 AND p.relname = ANY($2::text[])",
    )
    .bind(schema.name())
    .bind(&parents)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let parent: String = r.get(0);
            let name: String = r.get(1);
            partition_month(&parent, &name).map(|m| (parent, m))
        })
        .collect())
}

/// Moves the horizons forward (never back: what is dropped is gone) and drops every month
/// wholly before them.
async fn drop_behind(
    conn: &mut PoolConnection<Postgres>,
    schema: &TenantSchema,
    deltas: Option<DateTime<Utc>>,
    hourly: Option<DateTime<Utc>>,
    out: &mut Upkeep,
) -> Result<(), StoreError> {
    // A writer holds the row FOR SHARE for a batch (milliseconds); a report never does.
    sqlx::query("SET lock_timeout = '30s'").execute(&mut **conn).await?;
    let (deltas, hourly): (Option<DateTime<Utc>>, Option<DateTime<Utc>>) = sqlx::query_as(&format!(
        "UPDATE {schema}.ledger_retention SET
             deltas_kept_from = CASE WHEN $1::timestamptz IS NULL THEN deltas_kept_from ELSE greatest(deltas_kept_from, $1) END,
             hourly_kept_from = CASE WHEN $2::timestamptz IS NULL THEN hourly_kept_from ELSE greatest(hourly_kept_from, $2) END
         RETURNING deltas_kept_from, hourly_kept_from"
    ))
    .bind(deltas)
    .bind(hourly)
    .fetch_one(&mut **conn)
    .await?;
    let mut parents = Vec::new();
    for (table, rolled_up_daily) in delta_tables() {
        parents.push((table.to_owned(), deltas));
        // Without a daily rollup, the hours are the only totals left: kept.
        if rolled_up_daily {
            parents.push((format!("{table}_hourly"), hourly));
        }
    }
    let found = partitions_of(&mut **conn, schema, parents.iter().map(|(p, _)| p.clone())).await?;
    for (parent, month) in found {
        let Some(Some(horizon)) = parents.iter().find(|(p, _)| *p == parent).map(|(_, h)| *h) else { continue };
        if month_start(next_month(month)) > horizon {
            continue;
        }
        let part = format!("{parent}_p{}", month.format("%Y_%m"));
        let started = std::time::Instant::now();
        detach(conn, schema, &parent, &part).await?;
        sqlx::raw_sql(&format!("DROP TABLE {schema}.{part}")).execute(&mut **conn).await?;
        tracing::info!(schema = %schema, partition = %part, ms = started.elapsed().as_millis() as u64, "retention dropped a month");
        out.dropped.push(part);
    }
    sqlx::query("RESET lock_timeout").execute(&mut **conn).await?;
    Ok(())
}

/// `DETACH … CONCURRENTLY` (outside any transaction: simple protocol, one statement), or
/// `FINALIZE` for a detach an earlier upkeep left pending.
async fn detach(conn: &mut PoolConnection<Postgres>, schema: &TenantSchema, parent: &str, part: &str) -> Result<(), StoreError> {
    let pending: bool = sqlx::query_scalar(
        "SELECT i.inhdetachpending FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
    )
    .bind(schema.name())
    .bind(part)
    .fetch_one(&mut **conn)
    .await?;
    let how = if pending { "FINALIZE" } else { "CONCURRENTLY" };
    sqlx::raw_sql(&format!("ALTER TABLE {schema}.{parent} DETACH PARTITION {schema}.{part} {how}")).execute(&mut **conn).await?;
    Ok(())
}

/// How often the runtime runs the upkeep (hourly: partitions are made a month ahead).
pub const UPKEEP_EVERY: Duration = Duration::from_secs(3600);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_names_give_their_month() {
        let d = |y, m| NaiveDate::from_ymd_opt(y, m, 1).unwrap();
        assert_eq!(partition_month("amzn_stream_sp_traffic", "amzn_stream_sp_traffic_p2026_02"), Some(d(2026, 2)));
        assert_eq!(partition_month("amzn_stream_sp_traffic", "amzn_stream_sp_traffic_hourly_p2026_02"), None);
        assert_eq!(partition_month("amzn_stream_sp_traffic_hourly", "amzn_stream_sp_traffic_hourly_p2026_13"), None);
    }

    #[test]
    fn retention_settings_are_checked() {
        let r = |d, h| Retention { deltas_days: d, hourly_days: h };
        assert!(r(None, None).check().is_ok());
        assert!(r(Some(30), None).check().is_ok());
        assert!(r(Some(90), Some(400)).check().is_ok());
        assert!(r(Some(29), None).check().unwrap_err().contains("at least 30"));
        assert!(r(None, Some(400)).check().unwrap_err().contains("needs retention.deltas_days"));
        assert!(r(Some(90), Some(60)).check().unwrap_err().contains("at least retention.deltas_days"));
    }

    #[test]
    fn horizons_keep_whole_months() {
        let now = DateTime::parse_from_rfc3339("2026-12-03T10:00:00Z").unwrap().with_timezone(&Utc);
        let (d, h) = Retention { deltas_days: Some(30), hourly_days: Some(400) }.horizons(now);
        // 30 days before Dec 3 is Nov 3: November is kept whole.
        assert_eq!(d.unwrap().to_rfc3339(), "2026-11-01T00:00:00+00:00");
        assert_eq!(h.unwrap().to_rfc3339(), "2025-10-01T00:00:00+00:00");
    }
}
