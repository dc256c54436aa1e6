//! Per-tenant schema migrations. Each tenant schema records what it has applied in
//! `<schema>.schema_migrations`; `ams-store` applies the missing ones, in order, in one
//! transaction per schema, under an advisory lock (so two processes never race).
//!
//! Rules for the next engineer:
//! * Never edit a released migration's effect. Add `vNNN` with the change.
//! * Ledger tables are built from the column lists in `ams-model`, each dataset by the migration
//!   its `since_schema` (in `DATASETS`) names. A new dataset: give it the next version and add
//!   that version here with `dataset_tables(schema, N)`; existing tenants get its tables in place.
//! * Since v005 delta tables and rollups are partitioned by month (`partitioning.rs`): a delta
//!   dataset added later creates its tables with `partitioning::delta_tables`, not v001's.
//! * When a dataset gains a column, add a migration using `ADD COLUMN IF NOT EXISTS`: new
//!   tenants already get the column from the dataset's table migration, existing ones get it
//!   from the new migration.
//! * The BI views (`bi.rs`, v7) are views over the reporting views: a migration that drops
//!   and recreates reporting views runs `bi::objects` after them.

pub mod bi;
mod ledger_tables;
pub mod partitioning;
pub mod reporting;

pub struct TenantMigration {
    pub version: i32,
    pub name: &'static str,
    /// The statements, for the given (already validated, quoted) schema name.
    pub statements: fn(schema: &str) -> Vec<String>,
}

pub const TENANT_MIGRATIONS: &[TenantMigration] = &[
    TenantMigration {
        version: 1,
        name: "ledger tables for the 13 datasets, rollups, quarantine",
        statements: ledger_tables::statements,
    },
    TenantMigration {
        version: 2,
        name: "Amazon DSP and recommendation datasets (the tables of ten datasets)",
        statements: |schema| ledger_tables::dataset_tables(schema, 2),
    },
    TenantMigration {
        version: 3,
        name: "account_activity: first and last record received per account and dataset",
        statements: |schema| {
            vec![format!(
                "CREATE TABLE {schema}.account_activity (
    hub_account_id uuid NOT NULL,
    dataset text NOT NULL,
    first_received_at timestamptz NOT NULL,
    last_received_at timestamptz NOT NULL,
    PRIMARY KEY (hub_account_id, dataset)
)"
            )]
        },
    },
    TenantMigration {
        version: 4,
        name: "reporting views: performance (hourly, daily, base), budget pacing, marketplace time zones",
        statements: reporting::statements,
    },
    TenantMigration {
        version: 5,
        name: "hourly deltas and rollups partitioned by month; ledger_retention",
        statements: partitioning::statements,
    },
    TenantMigration {
        version: 6,
        name: "campaign_daily: statistics on how many campaigns a range holds",
        statements: |schema| {
            // Without them Postgres multiplies the distinct counts of the grouping columns
            // (440,000 groups for 20,000 campaigns when a report groups by all of them), judges
            // a hash too large and sorts a month of campaign-days on disk instead
            // (docs/performance.md, Ledger at scale). Reports group by the currency as
            // `nullif(currency, '')`: the expression is what is counted.
            vec![
                format!(
                    "CREATE STATISTICS IF NOT EXISTS {schema}.campaign_daily_groups (ndistinct)
                     ON product, marketplace_id, advertiser_id, campaign_id, (nullif(currency, '')) FROM {schema}.campaign_daily"
                ),
                format!("ANALYZE {schema}.campaign_daily"),
            ]
        },
    },
    TenantMigration {
        version: 7,
        name: "BI logins: bi_ views of the reporting views, filtered by the login reading them, and who reads them",
        statements: bi::statements,
    },
    TenantMigration {
        version: 8,
        name: "stream_v2_objects: each Stream v2 object version landed or quarantined, once",
        statements: |schema| {
            // The primary key is what makes a version land once: the loader inserts this row
            // in the transaction that copies the version's rows, so a second loader (another
            // replica, a redelivered notification) waits on it, then finds it and rolls back.
            // `amzn_stream_v2_<dataset>` tables are created by the loader from the files'
            // schemas, not here.
            vec![
                format!(
                    "CREATE TABLE {schema}.stream_v2_objects (
    bucket text NOT NULL,
    object_key text NOT NULL,
    version_id text NOT NULL,
    hub_account_id uuid NOT NULL,
    last_modified timestamptz NOT NULL,
    size_bytes bigint NOT NULL,
    dataset text,
    table_name text,
    status text NOT NULL CHECK (status IN ('loaded', 'quarantined')),
    reason text,
    rows bigint NOT NULL DEFAULT 0,
    landed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (bucket, object_key, version_id)
)"
                ),
                format!("CREATE INDEX stream_v2_objects_recent ON {schema}.stream_v2_objects (hub_account_id, last_modified)"),
                // The newest landed version of each object key: an overwritten file supersedes
                // the old one in the per-dataset `_latest` views.
                format!(
                    "CREATE VIEW {schema}.stream_v2_latest_versions AS
SELECT DISTINCT ON (hub_account_id, bucket, object_key) hub_account_id, bucket, object_key, version_id
FROM {schema}.stream_v2_objects
WHERE status = 'loaded'
ORDER BY hub_account_id, bucket, object_key, last_modified DESC, landed_at DESC"
                ),
            ]
        },
    },
];

/// The newest tenant schema version this build knows.
pub fn latest_version() -> i32 {
    TENANT_MIGRATIONS.last().map_or(0, |m| m.version)
}
