//! Month partitions of the delta tables and rollups (tenant schema v5, `migrations`
//! `tenant/partitioning.rs`): which months a batch touches, and making sure they exist before
//! its transaction starts. The runtime makes the current and next month ahead
//! ([`crate::Store::ledger_upkeep`]); this covers everything else (a late record of a month
//! whose partition retention has not reached yet, a window far ahead), so no record fails for
//! want of a partition.

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex};

use ams_model::DeltaSpec;
use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use sqlx::PgPool;

use super::buffers::{Buffer, ColumnBuffers};
use crate::StoreError;

/// The first day of `t`'s month (UTC): a partition's name and lower bound.
pub fn month_of(t: DateTime<Utc>) -> NaiveDate {
    NaiveDate::from_ymd_opt(t.year(), t.month(), 1).expect("the first of a month exists")
}

/// The instant a month starts (UTC).
pub fn month_start(month: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&month.and_hms_opt(0, 0, 0).expect("midnight"))
}

/// The month after `month`.
pub fn next_month(month: NaiveDate) -> NaiveDate {
    month.checked_add_months(chrono::Months::new(1)).expect("a month within chrono's range")
}

/// The `time_window_start` column of a delta batch.
pub(crate) fn windows<'b>(spec: &DeltaSpec, b: &'b ColumnBuffers) -> &'b [Option<DateTime<Utc>>] {
    let i = b.columns.iter().position(|c| c.name == "time_window_start").expect("deltas have a time window");
    debug_assert!(spec.key.contains(&"time_window_start"));
    match &b.buffers[i] {
        Buffer::Timestamp(v) => v,
        _ => unreachable!("time_window_start is an instant"),
    }
}

/// The months a batch's windows fall in.
pub(crate) fn months(windows: &[Option<DateTime<Utc>>]) -> BTreeSet<NaiveDate> {
    windows.iter().flatten().map(|t| month_of(*t)).collect()
}

/// The partitions this process knows exist: (schema, parent table, month). A partition is
/// only ever removed below the retention horizon, where the writer refuses records before it
/// would need one, so a stale entry is harmless.
#[derive(Clone, Default)]
pub(crate) struct KnownPartitions(Arc<Mutex<HashSet<(String, &'static str, NaiveDate)>>>);

impl KnownPartitions {
    /// Makes the partitions of `table` and `table_hourly` for `months` that are not known to
    /// exist, each in its own short transaction (the attach's lock is released at once).
    pub async fn ensure(&self, pool: &PgPool, schema: &str, table: &'static str, months: &BTreeSet<NaiveDate>) -> Result<(), StoreError> {
        let missing: Vec<NaiveDate> = {
            let known = self.0.lock().expect("not poisoned");
            months.iter().copied().filter(|m| !known.contains(&(schema.to_owned(), table, *m))).collect()
        };
        for month in missing {
            ensure_month(pool, schema, table, month).await?;
            self.0.lock().expect("not poisoned").insert((schema.to_owned(), table, month));
        }
        Ok(())
    }
}

/// Makes `table`'s and its rollup's partition for `month` if missing; returns how many it made.
pub(crate) async fn ensure_month(pool: &PgPool, schema: &str, table: &str, month: NaiveDate) -> Result<usize, StoreError> {
    let mut made = 0;
    for parent in [table.to_owned(), format!("{table}_hourly")] {
        made += sqlx::query_scalar::<_, bool>(&format!("SELECT {schema}.ensure_month_partition($1, $2)"))
            .bind(&parent)
            .bind(month)
            .fetch_one(pool)
            .await? as usize;
    }
    Ok(made)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_utc_calendar_months() {
        let t = |s: &str| Some(DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc));
        let m = months(&[t("2026-01-31T23:00:00Z"), t("2026-02-01T00:00:00Z"), t("2026-01-31T19:00:00-05:00"), None]);
        let d = |y, m| NaiveDate::from_ymd_opt(y, m, 1).unwrap();
        assert_eq!(m.into_iter().collect::<Vec<_>>(), [d(2026, 1), d(2026, 2)]);
        assert_eq!(next_month(d(2026, 12)), d(2027, 1));
        assert_eq!(month_start(d(2026, 2)).to_rfc3339(), "2026-02-01T00:00:00+00:00");
    }
}
