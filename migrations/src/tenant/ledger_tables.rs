//! The ledger tables of every dataset (docs/architecture.md), generated from the column lists
//! in `ams-model` so that the writer and the tables agree by construction. Each dataset's
//! tables are created by the migration its `since_schema` names: v001 the first 13 datasets,
//! quarantine included; v002 the ten added later (existing tenants get them in place).

use ams_model::{
    BudgetUsage, Column, Columns, DatasetId, DatasetKind, DeltaSpec, EntitySpec, SnapshotSpec,
};

fn column_ddl(c: &Column) -> String {
    format!("{} {}{}", c.name, c.kind.sql_type(), if c.required { " NOT NULL" } else { "" })
}

/// Columns every ledger table carries besides the record's own: which of the tenant's
/// accounts (control.accounts.id) the record came through, and when it was received.
pub(super) const PROVENANCE: &str = "hub_account_id uuid,\n    received_at timestamptz NOT NULL";

/// The column definitions of a delta table and of its hourly rollup (without provenance,
/// `key_hash`, `delta_count` and `updated_at`).
pub(super) fn delta_columns(spec: &DeltaSpec) -> (Vec<String>, Vec<String>) {
    let cols: Vec<String> = spec.columns.iter().map(column_ddl).collect();
    let mut rollup: Vec<String> = spec.key.iter().map(|k| column_ddl(spec.column(k))).collect();
    rollup.extend(spec.attributes().map(column_ddl));
    rollup.extend(spec.metrics.iter().map(|m| {
        format!("{m} {} NOT NULL DEFAULT 0", spec.column(m).kind.sql_type())
    }));
    (cols, rollup)
}

/// The unpartitioned tables of v001 and v002 (v005 partitions them: `partitioning.rs`).
fn delta(schema: &str, spec: &DeltaSpec) -> Vec<String> {
    let table = spec.dataset.table();
    let (cols, rollup) = delta_columns(spec);
    vec![
        format!(
            "CREATE TABLE {schema}.{table} (\n    {},\n    {PROVENANCE},\n    PRIMARY KEY (idempotency_id)\n)",
            cols.join(",\n    ")
        ),
        // One row per natural key, identified by `key_hash`: the first 16 bytes of SHA-256 over
        // the key (ams-store, ledger/deltas.rs). A 16-byte primary key is far cheaper to
        // maintain than a unique index over ten text columns (docs/performance.md).
        // fillfactor leaves room for HOT updates when corrections arrive.
        format!(
            "CREATE TABLE {schema}.{table}_hourly (\n    key_hash uuid PRIMARY KEY,\n    {},\n    \
             delta_count bigint NOT NULL,\n    updated_at timestamptz NOT NULL\n) WITH (fillfactor = 85)",
            rollup.join(",\n    "),
        ),
        // Hourly data arrives roughly in time order: a BRIN index is nearly free to maintain.
        format!("CREATE INDEX {table}_hourly_time ON {schema}.{table}_hourly USING brin (time_window_start)"),
    ]
}

fn entity(schema: &str, spec: &EntitySpec) -> Vec<String> {
    let table = spec.dataset.table();
    let cols: Vec<String> = spec.columns.iter().map(column_ddl).collect();
    let cols = cols.join(",\n    ");
    let key = spec.key.join(", ");
    vec![
        format!(
            "CREATE TABLE {schema}.{table} (\n    {cols},\n    {PROVENANCE},\n    PRIMARY KEY ({key})\n)"
        ),
        format!(
            "CREATE TABLE {schema}.{table}_history (\n    {cols},\n    {PROVENANCE},\n    PRIMARY KEY ({key}, version)\n)"
        ),
    ]
}

fn budget(schema: &str) -> Vec<String> {
    let cols: Vec<String> = BudgetUsage::columns().iter().map(column_ddl).collect();
    let cols = cols.join(",\n    ");
    vec![
        format!(
            "CREATE TABLE {schema}.amzn_stream_budget_usage (\n    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n    \
             {cols},\n    {PROVENANCE},\n    CONSTRAINT amzn_stream_budget_usage_notification UNIQUE NULLS NOT DISTINCT ({})\n)",
            BudgetUsage::IDENTITY.join(", ")
        ),
        format!(
            "CREATE TABLE {schema}.amzn_stream_budget_usage_current (\n    {cols},\n    {PROVENANCE},\n    PRIMARY KEY ({})\n)",
            BudgetUsage::SCOPE_KEY.join(", ")
        ),
    ]
}

fn quarantine(schema: &str) -> Vec<String> {
    vec![format!(
        "CREATE TABLE {schema}.quarantine (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- the same bytes are quarantined once, however often they are redelivered or re-read
    body_sha256 bytea NOT NULL UNIQUE,
    body text NOT NULL,
    reason_code text NOT NULL,
    reason text NOT NULL,
    source text NOT NULL,
    message_id text,
    hub_account_id uuid,
    received_at timestamptz NOT NULL,
    quarantined_at timestamptz NOT NULL DEFAULT now()
)"
    )]
}

/// A snapshot dataset: `_history` holds each distinct state once (`payload_md5`, a hash of the
/// normalised `jsonb`, so formatting differences are the same state); the current table one
/// row per key; and the dataset's view over it.
fn snapshot(schema: &str, spec: &SnapshotSpec) -> Vec<String> {
    let table = spec.dataset.table();
    let cols: Vec<String> = spec.columns.iter().map(column_ddl).collect();
    let cols = cols.join(",\n    ");
    let key = spec.key.join(", ");
    let (suffix, body) = spec.view;
    vec![
        format!("CREATE TABLE {schema}.{table} (\n    {cols},\n    {PROVENANCE},\n    PRIMARY KEY ({key})\n)"),
        format!(
            "CREATE TABLE {schema}.{table}_history (\n    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n    \
             {cols},\n    {PROVENANCE},\n    \
             payload_md5 text GENERATED ALWAYS AS (md5(payload::text)) STORED UNIQUE\n)"
        ),
        format!("CREATE INDEX {table}_history_key ON {schema}.{table}_history ({key})"),
        format!(
            "CREATE VIEW {schema}.{table}{suffix} AS {}",
            body.replace("{t}", &format!("{schema}.{table}"))
        ),
    ]
}

/// The tables of every dataset introduced by tenant schema version `version`.
pub fn dataset_tables(schema: &str, version: i32) -> Vec<String> {
    let mut out = Vec::new();
    for d in DatasetId::ALL.into_iter().filter(|d| d.info().since_schema == version) {
        out.extend(match d.kind() {
            DatasetKind::HourlyDelta => delta(schema, d.delta_spec().expect("delta spec")),
            DatasetKind::Entity => entity(schema, d.entity_spec().expect("entity spec")),
            DatasetKind::BudgetUsage => budget(schema),
            DatasetKind::Snapshot => snapshot(schema, d.snapshot_spec().expect("snapshot spec")),
        });
    }
    out
}

/// v001: the first 13 datasets and quarantine.
pub fn statements(schema: &str) -> Vec<String> {
    let mut out = dataset_tables(schema, 1);
    out.extend(quarantine(schema));
    out
}
