//! [`LedgerWriter`]: one batch, one transaction, every dataset in a fixed order.

use std::time::Duration;

use ams_model::{DatasetId, DatasetKind};
use sqlx::{PgPool, Postgres, Row, Transaction};

use super::batch::LedgerBatch;
use super::buffers::ColumnBuffers;
use super::deltas::Mode;
use super::partitions::{self, KnownPartitions};
use super::{deltas, statements, DatasetCounts, WriteSummary};
use crate::{QuarantineEntry, Store, StoreError, TenantSchema};

/// Concurrent writers of one tenant can deadlock on overlapping keys, or race to COPY the same
/// new idempotency id or rollup key; Postgres then aborts one of them, and that batch is simply
/// written again (its retry sees what the other committed).
const MAX_ATTEMPTS: u32 = 8;

#[derive(Clone)]
pub struct LedgerWriter {
    pool: PgPool,
    first_mode: Mode,
    partitions: KnownPartitions,
}

impl LedgerWriter {
    pub fn new(store: &Store) -> Self {
        LedgerWriter { pool: store.pool().clone(), first_mode: Mode::Copy, partitions: KnownPartitions::default() }
    }

    /// A writer that always takes the upsert path (normally only the retry after a lost race
    /// does). Slower; the tests use it to hold both paths to the same results.
    pub fn upsert_only(store: &Store) -> Self {
        LedgerWriter { pool: store.pool().clone(), first_mode: Mode::Upsert, partitions: KnownPartitions::default() }
    }

    /// Writes the batch in one transaction. On `Ok`, everything in it is durable; on `Err`,
    /// nothing is.
    pub async fn write(&self, schema: &TenantSchema, batch: &LedgerBatch) -> Result<WriteSummary, StoreError> {
        // The month partitions the batch's deltas need, before its transaction (their locks
        // end with their own).
        for (dataset, buffers) in &batch.datasets {
            if let Some(spec) = dataset.delta_spec() {
                let months = partitions::months(partitions::windows(spec, buffers));
                self.partitions.ensure(&self.pool, schema.name(), dataset.table(), &months).await?;
            }
        }
        let mut attempt = 1;
        let mut mode = self.first_mode;
        // Jittered, so that writers that collided do not collide again in step.
        let mut delays = backon::BackoffBuilder::build(
            backon::ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(10))
                .with_max_delay(Duration::from_millis(320))
                .without_max_times()
                .with_jitter(),
        );
        loop {
            match self.try_write(schema, batch, mode).await {
                Err(StoreError::Database(e)) if attempt < MAX_ATTEMPTS && is_transient_conflict(&e) => {
                    tracing::debug!(schema = %schema, attempt, error = %e, "ledger write conflicted; retrying");
                    // A COPY lost a race on a new id or key: upsert, which cannot lose it.
                    mode = Mode::Upsert;
                    tokio::time::sleep(delays.next().unwrap_or(Duration::from_millis(320))).await;
                    attempt += 1;
                }
                Ok(summary) => {
                    self.alert_on_budgets(schema, batch).await;
                    return Ok(summary);
                }
                other => return other,
            }
        }
    }

    /// Budget notifications committed: the tenant's budget rules are evaluated now (a budget
    /// crossing its line reaches webhooks within seconds). A failure here loses nothing: the
    /// runtime's alert sweep evaluates the same rules against the same data again.
    async fn alert_on_budgets(&self, schema: &TenantSchema, batch: &LedgerBatch) {
        if !batch.datasets.keys().any(|d| d.kind() == DatasetKind::BudgetUsage) {
            return;
        }
        let kinds = [crate::alerts::AlertKind::BudgetUsage, crate::alerts::AlertKind::OutOfBudget];
        if let Err(e) = crate::alerts::evaluate::evaluate(&self.pool, schema, &kinds, chrono::Utc::now()).await {
            tracing::warn!(schema = %schema, error = %e, "budget alerts not evaluated after a write; the next sweep will");
        }
    }

    async fn try_write(&self, schema: &TenantSchema, batch: &LedgerBatch, mode: Mode) -> Result<WriteSummary, StoreError> {
        let mut summary = WriteSummary::default();
        if batch.is_empty() {
            return Ok(summary);
        }
        let mut tx = self.pool.begin().await?;
        // Every lookup here is a batch of point lookups that wants a primary key index. With
        // stale statistics (a new or truncated table) Postgres planned the 5,000-id `= ANY`
        // lookup as a sequential scan testing every row against the whole array: 8 s per
        // batch instead of 5 ms. Each statement is planned for its values, so that Postgres
        // prunes the month partitions at planning (a generic plan would lock every month).
        // Both settings end with the transaction.
        //
        // With deltas, the same statement reads the retention horizon FOR SHARE: the upkeep
        // moves it (FOR UPDATE) before dropping months, so a batch either sees the new horizon
        // or has committed before the drop starts; never a month dropped under its lookup.
        let settings = "set_config('enable_seqscan', 'off', true), set_config('plan_cache_mode', 'force_custom_plan', true)";
        let kept_from: Option<chrono::DateTime<chrono::Utc>> = if batch.datasets.keys().any(|d| d.delta_spec().is_some()) {
            sqlx::query_scalar(&format!("SELECT deltas_kept_from, {settings} FROM {schema}.ledger_retention FOR SHARE"))
                .fetch_one(&mut *tx)
                .await?
        } else {
            sqlx::query(&format!("SELECT {settings}")).execute(&mut *tx).await?;
            None
        };
        // BTreeMap order: every writer takes row locks dataset by dataset in the same order.
        for (dataset, buffers) in &batch.datasets {
            let counts = write_dataset(&mut tx, schema.name(), *dataset, buffers, mode, kept_from).await?;
            summary.datasets.insert(*dataset, counts);
        }
        write_activity(&mut tx, schema.name(), batch).await?;
        if !batch.quarantine.is_empty() {
            let new = write_quarantine(&mut tx, schema.name(), batch).await?;
            summary.quarantined = new;
            summary.quarantine_known = batch.quarantine.len() as u64 - new;
            // Large bodies grew this connection's buffers past what normal batches need: give
            // that memory back now rather than pin it to the connection.
            if batch.quarantine.iter().map(|e| e.body.len()).sum::<usize>() > (1 << 20) {
                sqlx::Connection::shrink_buffers(&mut *tx);
            }
        }
        tx.commit().await?;
        Ok(summary)
    }
}

async fn write_dataset(
    tx: &mut Transaction<'_, Postgres>,
    schema: &str,
    dataset: DatasetId,
    buffers: &ColumnBuffers,
    mode: Mode,
    kept_from: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<DatasetCounts, StoreError> {
    let received = buffers.rows() as u64;
    let sql = match dataset.kind() {
        DatasetKind::HourlyDelta => {
            let spec = dataset.delta_spec().expect("delta spec");
            let inserted = deltas::write(tx, schema, spec, buffers, mode, kept_from).await?;
            return Ok(DatasetCounts { received, inserted, duplicates: received - inserted });
        }
        DatasetKind::Entity => statements::entity(schema, dataset.entity_spec().expect("entity spec")),
        DatasetKind::BudgetUsage => statements::budget_usage(schema),
        DatasetKind::Snapshot => statements::snapshot(schema, dataset.snapshot_spec().expect("snapshot spec")),
    };
    let row = buffers.bind(sqlx::query(&sql)).fetch_one(&mut **tx).await?;
    let inserted = row.try_get::<i64, _>(0)? as u64;
    Ok(DatasetCounts { received, inserted, duplicates: received - inserted })
}

/// First and last receipt per (account, dataset) of the batch's records (files have no account).
async fn write_activity(tx: &mut Transaction<'_, Postgres>, schema: &str, batch: &LedgerBatch) -> Result<(), StoreError> {
    type Span = (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>);
    let mut spans: std::collections::BTreeMap<(uuid::Uuid, DatasetId), Span> = std::collections::BTreeMap::new();
    for (dataset, buffers) in &batch.datasets {
        for (account, at) in buffers.hub_account_id.iter().zip(&buffers.received_at) {
            let Some(account) = account else { continue };
            let span = spans.entry((*account, *dataset)).or_insert((*at, *at));
            span.0 = span.0.min(*at);
            span.1 = span.1.max(*at);
        }
    }
    if spans.is_empty() {
        return Ok(());
    }
    // Sorted (BTreeMap): concurrent writers lock these rows in one order.
    let accounts: Vec<uuid::Uuid> = spans.keys().map(|(a, _)| *a).collect();
    let datasets: Vec<&str> = spans.keys().map(|(_, d)| d.as_str()).collect();
    let firsts: Vec<_> = spans.values().map(|s| s.0).collect();
    let lasts: Vec<_> = spans.values().map(|s| s.1).collect();
    sqlx::query(&statements::activity(schema))
        .bind(&accounts)
        .bind(&datasets)
        .bind(&firsts)
        .bind(&lasts)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Bodies one quarantine statement carries at most. A statement is copied whole into the
/// client's argument buffer and its connection's write buffer (which doubles past it), so a
/// batch of large bodies goes in several statements of this size, not one of the batch's.
const QUARANTINE_STATEMENT_BYTES: usize = 4 << 20;

async fn write_quarantine(
    tx: &mut Transaction<'_, Postgres>,
    schema: &str,
    batch: &LedgerBatch,
) -> Result<u64, StoreError> {
    let sql = statements::quarantine(schema);
    let mut written = 0;
    for chunk in chunks_by_bytes(&batch.quarantine, QUARANTINE_STATEMENT_BYTES, |e| e.body.len()) {
        written += write_quarantine_chunk(tx, &sql, chunk).await?;
    }
    Ok(written)
}

/// `items` in order, cut into runs of at most `limit` bytes (a larger item alone).
fn chunks_by_bytes<T>(items: &[T], limit: usize, size: impl Fn(&T) -> usize) -> Vec<&[T]> {
    let mut chunks = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, item) in items.iter().enumerate() {
        let n = size(item);
        if i > start && bytes + n > limit {
            chunks.push(&items[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += n;
    }
    if start < items.len() {
        chunks.push(&items[start..]);
    }
    chunks
}

async fn write_quarantine_chunk(tx: &mut Transaction<'_, Postgres>, sql: &str, q: &[QuarantineEntry]) -> Result<u64, StoreError> {
    let sha: Vec<Vec<u8>> = q.iter().map(|e| e.body_sha256()).collect();
    // Bodies are bound borrowed: a batch of large quarantined bodies is copied once (into the
    // statement), not twice.
    let replaced: Vec<Option<String>> = q.iter().map(|e| e.body.contains('\0').then(|| storable(&e.body))).collect();
    let body: Vec<&str> = q.iter().zip(&replaced).map(|(e, r)| r.as_deref().unwrap_or(&e.body)).collect();
    let code: Vec<&str> = q.iter().map(|e| e.reason_code.as_str()).collect();
    let reason: Vec<String> = q.iter().map(|e| storable(&e.reason)).collect();
    let source: Vec<String> = q.iter().map(|e| storable(&e.source)).collect();
    let message_id: Vec<Option<String>> = q.iter().map(|e| e.message_id.as_deref().map(storable)).collect();
    let account: Vec<Option<uuid::Uuid>> = q.iter().map(|e| e.provenance.hub_account_id).collect();
    let received: Vec<chrono::DateTime<chrono::Utc>> = q.iter().map(|e| e.provenance.received_at).collect();
    let n: i64 = sqlx::query_scalar(sql)
        .bind(&sha)
        .bind(&body)
        .bind(&code)
        .bind(&reason)
        .bind(&source)
        .bind(&message_id)
        .bind(&account)
        .bind(&received)
        .fetch_one(&mut **tx)
        .await?;
    Ok(n as u64)
}

/// Postgres text cannot hold U+0000; a quarantined body must still land, so it is replaced by
/// U+FFFD (the SHA-256 column is of the original bytes).
fn storable(s: &str) -> String {
    if s.contains('\0') {
        s.replace('\0', "\u{FFFD}")
    } else {
        s.to_owned()
    }
}

fn is_transient_conflict(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if matches!(d.code().as_deref(), Some("40P01" | "40001" | "23505")))
}

#[cfg(test)]
mod tests {
    use super::chunks_by_bytes;

    #[test]
    fn chunks_hold_at_most_the_limit_and_a_large_item_alone() {
        let sizes = [3, 3, 3, 10, 1, 1, 4];
        let chunks = chunks_by_bytes(&sizes, 6, |n| *n);
        assert_eq!(chunks, vec![&[3, 3][..], &[3][..], &[10][..], &[1, 1, 4][..]]);
        assert!(chunks_by_bytes(&[] as &[usize], 6, |n| *n).is_empty());
    }
}
