//! Tenant schema v5: the hourly delta tables and their `_hourly` rollups partitioned by month of
//! `time_window_start` (UTC), so that a year of a thousand brands stays as fast to write as its
//! first month, and old months can go whole (retention) instead of row by row.
//!
//! * A delta table's primary key becomes (`idempotency_id`, `time_window_start`): Postgres
//!   needs the partition key in every unique index. A redelivery carries the same id and the
//!   same window, so it meets its first copy in the same partition, and the writer's lookup of
//!   the batch's months catches it (ams-store, `ledger/deltas.rs`; the same id seen with
//!   another window in those months is quarantined as `idempotency_conflict`).
//! * A rollup's primary key becomes (`key_hash`, `time_window_start`) (the hash covers the
//!   hour already: nothing changes in what a row is).
//! * Partitions are `<parent>_pYYYY_MM`, made by `<schema>.ensure_month_partition(parent,
//!   month)`: created empty beside the parent, then attached. `CREATE TABLE … PARTITION OF`
//!   would take an ACCESS EXCLUSIVE lock on the parent (every writer of the dataset waits);
//!   `ATTACH PARTITION` takes SHARE UPDATE EXCLUSIVE, which writers do not conflict with. The
//!   runtime makes the current and next month ahead of the data; the writer makes any other
//!   month the moment a record needs it (`ledger/partitions.rs`), so a record never fails
//!   for want of a partition.
//! * There is **no DEFAULT partition**, on purpose: Postgres refuses `DETACH PARTITION …
//!   CONCURRENTLY` on a table that has one, and retention must drop a month without blocking
//!   the current month's writes. Creating the missing month on demand gives the same promise
//!   (no record fails) without the lock.
//! * `ledger_retention` holds the horizon below which deltas (and rollups) have been dropped;
//!   the writer refuses an older delta (`beyond_retention`) instead of adding it to a rollup
//!   whose deltas are gone.
//!
//! Existing tenants are converted in place, in the migration's one transaction: each table is
//! renamed aside, its partitioned successor created with a partition per month its rows
//! cover, the rows copied, the counts compared (the transaction aborts if any differ), and the
//! old table dropped. The reporting views and `campaign_daily`'s triggers are recreated over
//! the new tables; `campaign_daily` itself is untouched (the copy fires no trigger).

use ams_model::{DatasetId, DeltaSpec};

use super::ledger_tables::{delta_columns, PROVENANCE};
use super::reporting;

/// Creates the month partition of `parent` (a table of this schema) that holds `month`, if it
/// is missing. Returns whether it made one. Safe to call concurrently (the parent is locked in
/// the mode `ATTACH` takes, which no writer conflicts with).
fn ensure_month_partition(schema: &str) -> String {
    format!(
        "CREATE OR REPLACE FUNCTION {schema}.ensure_month_partition(parent text, month date) RETURNS boolean
         LANGUAGE plpgsql AS $f$
         DECLARE
             first date := date_trunc('month', month)::date;
             part text := parent || '_p' || to_char(first, 'YYYY_MM');
             lo timestamptz := first::timestamp AT TIME ZONE 'UTC';
             hi timestamptz := (first + interval '1 month')::timestamp AT TIME ZONE 'UTC';
             storage text := CASE WHEN parent LIKE '%\\_hourly' THEN ' WITH (fillfactor = 85)' ELSE '' END;
         BEGIN
             IF to_regclass('{schema}.' || quote_ident(part)) IS NOT NULL THEN
                 RETURN false;
             END IF;
             -- Below the retention horizon nothing is written (the writer refuses such deltas):
             -- a dropped month is never made again.
             IF EXISTS (SELECT 1 FROM {schema}.ledger_retention WHERE hi <= deltas_kept_from) THEN
                 RETURN false;
             END IF;
             -- Serializes makers of the parent's partitions (writers do not conflict with this
             -- mode). A relation lock, unlike an advisory lock, also brings this session's
             -- catalog up to date: the check below sees a partition another session just made.
             EXECUTE format('LOCK TABLE {schema}.%I IN SHARE UPDATE EXCLUSIVE MODE', parent);
             IF to_regclass('{schema}.' || quote_ident(part)) IS NOT NULL THEN
                 RETURN false;
             END IF;
             EXECUTE format('CREATE TABLE {schema}.%I (LIKE {schema}.%I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)%s',
                            part, parent, storage);
             EXECUTE format('ALTER TABLE {schema}.%I ATTACH PARTITION {schema}.%I FOR VALUES FROM (%L) TO (%L)',
                            parent, part, lo, hi);
             RETURN true;
         END $f$"
    )
}

/// The partitioned delta table and rollup of `spec` (no partitions yet).
pub fn delta_tables(schema: &str, spec: &DeltaSpec) -> Vec<String> {
    let table = spec.dataset.table();
    let (cols, rollup) = delta_columns(spec);
    vec![
        format!(
            "CREATE TABLE {schema}.{table} (\n    {},\n    {PROVENANCE},\n    \
             PRIMARY KEY (idempotency_id, time_window_start)\n) PARTITION BY RANGE (time_window_start)",
            cols.join(",\n    ")
        ),
        // `key_hash`: see v001. fillfactor (room for HOT updates) is set per partition: a
        // partitioned table has no storage of its own.
        format!(
            "CREATE TABLE {schema}.{table}_hourly (\n    key_hash uuid NOT NULL,\n    {},\n    \
             delta_count bigint NOT NULL,\n    updated_at timestamptz NOT NULL,\n    \
             PRIMARY KEY (key_hash, time_window_start)\n) PARTITION BY RANGE (time_window_start)",
            rollup.join(",\n    "),
        ),
        format!("CREATE INDEX {table}_hourly_time ON {schema}.{table}_hourly USING brin (time_window_start)"),
    ]
}

/// The columns the delta table and the rollup of `spec` have in common with their v4 shape.
fn column_names(spec: &DeltaSpec) -> (String, String) {
    let mut delta: Vec<&str> = spec.columns.iter().map(|c| c.name).collect();
    delta.extend(["hub_account_id", "received_at"]);
    let mut rollup = vec!["key_hash"];
    rollup.extend(spec.key.iter().copied());
    rollup.extend(spec.attributes().map(|c| c.name));
    rollup.extend(spec.metrics.iter().copied());
    rollup.extend(["delta_count", "updated_at"]);
    (delta.join(", "), rollup.join(", "))
}

/// Converts one dataset's v4 tables (renamed `<table>_v4…`) into partitioned ones.
fn convert(schema: &str, spec: &DeltaSpec) -> Vec<String> {
    let t = spec.dataset.table();
    let (delta_cols, rollup_cols) = column_names(spec);
    let mut out = vec![
        format!("ALTER TABLE {schema}.{t} RENAME TO {t}_v4"),
        format!("ALTER INDEX {schema}.{t}_pkey RENAME TO {t}_v4_pkey"),
        format!("ALTER TABLE {schema}.{t}_hourly RENAME TO {t}_v4_hourly"),
        format!("ALTER INDEX {schema}.{t}_hourly_pkey RENAME TO {t}_v4_hourly_pkey"),
        format!("ALTER INDEX {schema}.{t}_hourly_time RENAME TO {t}_v4_hourly_time"),
        format!("ALTER INDEX IF EXISTS {schema}.{t}_hourly_campaign_hour RENAME TO {t}_v4_hourly_campaign_hour"),
    ];
    out.extend(delta_tables(schema, spec));
    // A partition for every month the rows cover, and the current and next month.
    out.push(format!(
        "DO $do$ DECLARE m date; BEGIN
             FOR m IN
                 SELECT date_trunc('month', time_window_start AT TIME ZONE 'UTC')::date FROM {schema}.{t}_v4
                 UNION SELECT date_trunc('month', time_window_start AT TIME ZONE 'UTC')::date FROM {schema}.{t}_v4_hourly
                 UNION SELECT date_trunc('month', now() AT TIME ZONE 'UTC')::date
                 UNION SELECT (date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month')::date
             LOOP
                 PERFORM {schema}.ensure_month_partition('{t}', m);
                 PERFORM {schema}.ensure_month_partition('{t}_hourly', m);
             END LOOP;
         END $do$"
    ));
    out.push(format!("INSERT INTO {schema}.{t} ({delta_cols}) SELECT {delta_cols} FROM {schema}.{t}_v4"));
    out.push(format!("INSERT INTO {schema}.{t}_hourly ({rollup_cols}) SELECT {rollup_cols} FROM {schema}.{t}_v4_hourly"));
    // Nothing is dropped unless every row arrived.
    for (new, old) in [(t.to_owned(), format!("{t}_v4")), (format!("{t}_hourly"), format!("{t}_v4_hourly"))] {
        out.push(format!(
            "DO $do$ DECLARE a bigint; b bigint; BEGIN
                 SELECT count(*) INTO a FROM {schema}.{old};
                 SELECT count(*) INTO b FROM {schema}.{new};
                 IF a <> b THEN
                     RAISE EXCEPTION 'partitioning {schema}.{new}: % rows before, % after', a, b;
                 END IF;
             END $do$"
        ));
    }
    out.push(format!("DROP TABLE {schema}.{t}_v4, {schema}.{t}_v4_hourly"));
    out
}

/// v005.
pub fn statements(schema: &str) -> Vec<String> {
    let mut out = vec![
        ensure_month_partition(schema),
        format!(
            "CREATE TABLE {schema}.ledger_retention (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    -- deltas (and their rollups) before these instants have been dropped; NULL: none
    deltas_kept_from timestamptz,
    hourly_kept_from timestamptz
)"
        ),
        format!("INSERT INTO {schema}.ledger_retention DEFAULT VALUES"),
        // The views over the rollups go first (they would hold on to the old tables).
        format!("DROP VIEW {schema}.performance_daily, {schema}.performance_hourly"),
        format!("DROP VIEW {schema}.performance_base"),
        format!("DROP VIEW {schema}.performance_facts"),
    ];
    for d in DatasetId::ALL {
        if let Some(spec) = d.delta_spec() {
            out.extend(convert(schema, spec));
        }
    }
    out.extend(reporting::objects(schema, false));
    out
}
