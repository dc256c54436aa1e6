//! SQL of the ledger, generated from the column lists of ams-model (the same lists the tenant
//! migration builds the tables from). Schema names come from `TenantSchema` only.

use ams_model::{BudgetUsage, Column, ColumnKind, Columns, EntitySpec, SnapshotSpec};

pub(crate) fn array_type(kind: ColumnKind) -> &'static str {
    match kind {
        ColumnKind::Text | ColumnKind::Json => "text[]",
        ColumnKind::Long => "bigint[]",
        ColumnKind::Decimal => "numeric[]",
        ColumnKind::Timestamp => "timestamptz[]",
        ColumnKind::LocalTimestamp => "timestamp[]",
        ColumnKind::Bool => "boolean[]",
    }
}

/// Column names plus the provenance columns, comma separated.
pub(crate) fn column_list(columns: &[Column]) -> String {
    let mut names: Vec<&str> = columns.iter().map(|c| c.name).collect();
    names.extend(["hub_account_id", "received_at"]);
    names.join(", ")
}

/// `SELECT <columns> FROM UNNEST($1::text[], …) AS u(<columns>)`, binds in
/// `ColumnBuffers::bind` order.
pub(crate) fn unnest_select(columns: &[Column]) -> String {
    let mut arrays = Vec::new();
    let mut exprs = Vec::new();
    for (i, c) in columns.iter().enumerate() {
        arrays.push(format!("${}::{}", i + 1, array_type(c.kind)));
        exprs.push(if c.kind == ColumnKind::Json { format!("u.{0}::jsonb", c.name) } else { format!("u.{}", c.name) });
    }
    let n = columns.len();
    arrays.push(format!("${}::uuid[]", n + 1));
    arrays.push(format!("${}::timestamptz[]", n + 2));
    exprs.extend(["u.hub_account_id".into(), "u.received_at".into()]);
    format!(
        "SELECT {} FROM UNNEST({}) AS u({})",
        exprs.join(", "),
        arrays.join(", "),
        column_list(columns)
    )
}

/// `SET c = excluded.c` for every column but the key's.
fn updates(columns: &[Column], key: &[&str]) -> String {
    let updates: Vec<String> = columns
        .iter()
        .map(|c| c.name)
        .chain(["hub_account_id", "received_at"])
        .filter(|c| !key.contains(c))
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    updates.join(", ")
}

/// History once per (key, version); current replaced only by a higher version.
/// Returns one row: (new versions, current rows written).
pub(crate) fn entity(schema: &str, spec: &EntitySpec) -> String {
    let table = spec.dataset.table();
    let t = format!("{schema}.{table}");
    let key = spec.key.join(", ");
    let cols = column_list(spec.columns);
    format!(
        "WITH incoming AS MATERIALIZED ({incoming}),
        history AS (
            INSERT INTO {t}_history ({cols}) SELECT {cols} FROM incoming
            ON CONFLICT ({key}, version) DO NOTHING
            RETURNING 1
        ), newest AS (
            SELECT DISTINCT ON ({key}) {cols} FROM incoming
            ORDER BY {key}, version DESC
        ), current AS (
            INSERT INTO {t} AS cur ({cols}) SELECT {cols} FROM newest ORDER BY {key}
            ON CONFLICT ({key}) DO UPDATE SET {updates}
            WHERE cur.version < excluded.version
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM history), (SELECT count(*) FROM current)",
        incoming = unnest_select(spec.columns),
        updates = updates(spec.columns, spec.key),
    )
}

/// Each distinct state once in history (by `payload_md5`, generated from the normalised
/// payload); current per key = the newest of the states that were new to history, by the
/// state's own time and then by receipt, so a redelivered old state changes nothing.
/// Returns one row: (new states, current rows written).
pub(crate) fn snapshot(schema: &str, spec: &SnapshotSpec) -> String {
    let t = format!("{schema}.{}", spec.dataset.table());
    let key = spec.key.join(", ");
    let cols = column_list(spec.columns);
    let order = spec.order;
    let rank = |p: &str| format!("(COALESCE({p}{order}, '-infinity'::timestamptz), {p}received_at)");
    format!(
        "WITH incoming AS MATERIALIZED ({incoming}),
        history AS (
            INSERT INTO {t}_history ({cols}) SELECT {cols} FROM incoming
            ON CONFLICT (payload_md5) DO NOTHING
            RETURNING {cols}
        ), newest AS (
            SELECT DISTINCT ON ({key}) {cols} FROM history
            ORDER BY {key}, {order} DESC NULLS LAST, received_at DESC
        ), current AS (
            INSERT INTO {t} AS cur ({cols}) SELECT {cols} FROM newest ORDER BY {key}
            ON CONFLICT ({key}) DO UPDATE SET {updates}
            WHERE {old} <= {new}
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM history), (SELECT count(*) FROM current)",
        incoming = unnest_select(spec.columns),
        updates = updates(spec.columns, spec.key),
        old = rank("cur."),
        new = rank("excluded."),
    )
}

/// Each distinct notification once; current per scope = the newest, ties broken by the
/// larger usage and budget so that arrival order never matters.
pub(crate) fn budget_usage(schema: &str) -> String {
    let columns = BudgetUsage::columns();
    let t = format!("{schema}.amzn_stream_budget_usage");
    let cols = column_list(columns);
    let scope = BudgetUsage::SCOPE_KEY.join(", ");
    let order = |p: &str| {
        format!(
            "({p}usage_updated_at, COALESCE({p}budget_usage_percentage, -1), COALESCE({p}budget, -1))"
        )
    };
    format!(
        "WITH incoming AS MATERIALIZED ({incoming}),
        history AS (
            INSERT INTO {t} ({cols}) SELECT {cols} FROM incoming
            ON CONFLICT ON CONSTRAINT amzn_stream_budget_usage_notification DO NOTHING
            RETURNING 1
        ), newest AS (
            SELECT DISTINCT ON ({scope}) {cols} FROM incoming
            ORDER BY {scope}, usage_updated_at DESC, COALESCE(budget_usage_percentage, -1) DESC,
                COALESCE(budget, -1) DESC
        ), current AS (
            INSERT INTO {t}_current AS cur ({cols}) SELECT {cols} FROM newest ORDER BY {scope}
            ON CONFLICT ({scope}) DO UPDATE SET {updates}
            WHERE {old} < {new}
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM history), (SELECT count(*) FROM current)",
        incoming = unnest_select(columns),
        updates = updates(columns, BudgetUsage::SCOPE_KEY),
        old = order("cur."),
        new = order("excluded."),
    )
}

/// When each account's records of each dataset were first and last received (the onboarding
/// checklist reads it; scanning the ledger tables by account would read them whole).
pub(crate) fn activity(schema: &str) -> String {
    format!(
        "INSERT INTO {schema}.account_activity AS a (hub_account_id, dataset, first_received_at, last_received_at)
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::timestamptz[], $4::timestamptz[])
         ON CONFLICT (hub_account_id, dataset) DO UPDATE SET
             first_received_at = least(a.first_received_at, excluded.first_received_at),
             last_received_at = greatest(a.last_received_at, excluded.last_received_at)"
    )
}

/// Quarantines bodies, once per distinct body. Returns one row: the number newly quarantined.
pub(crate) fn quarantine(schema: &str) -> String {
    format!(
        "WITH q AS (
            INSERT INTO {schema}.quarantine
                (body_sha256, body, reason_code, reason, source, message_id, hub_account_id, received_at)
            SELECT * FROM UNNEST($1::bytea[], $2::text[], $3::text[], $4::text[], $5::text[],
                $6::text[], $7::uuid[], $8::timestamptz[])
            ON CONFLICT (body_sha256) DO NOTHING
            RETURNING 1
        )
        SELECT count(*) FROM q"
    )
}
