//! The hot path: hourly deltas. Per dataset and batch, in the batch's transaction:
//!
//! 1. look up which `idempotency_id`s the batch's months already hold, and with which window
//!    (one indexed `= ANY($1)` query, pruned to those month partitions); a known id with the
//!    same window is a redelivery, with another window a conflict (refused, quarantined);
//! 2. binary-COPY the rows that are new (and not twice in the batch) into the delta table;
//! 3. sum those rows per natural key here, in exact decimals;
//! 4. add the sums to existing rollup rows (`UPDATE … FROM UNNEST`), then COPY the rollup rows
//!    of keys seen for the first time.
//!
//! Only rows this transaction inserted reach the rollup, so a replay changes nothing. Two
//! writers racing on the same new id or key cannot both win: the primary keys refuse the
//! second COPY and its transaction aborts. `writer.rs` then writes that batch again in
//! [`Mode::Upsert`]: `INSERT … ON CONFLICT`, which waits for the other transaction and skips
//! (or adds to) what it committed, so contention cannot make a batch fail over and over.
//! Upsert costs about twice as much per row as COPY (docs/performance.md), hence COPY first.

use std::collections::{HashMap, HashSet};

use ams_model::{ColumnKind, DeltaSpec, QuarantineReason};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use sqlx::{Postgres, Row, Transaction};
use uuid::Uuid;

use super::buffers::{Buffer, ColumnBuffers, TextColumn};
use super::copy::CopyData;
use super::{partitions, statements};
use crate::StoreError;

/// How new rows go in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Lookup + binary COPY: the fast path.
    Copy,
    /// INSERT … ON CONFLICT: immune to concurrent writers of the same ids and keys.
    Upsert,
}

/// The half-open span of whole months a batch's windows cover: bounds every lookup, so that
/// Postgres prunes the tables to the batch's month partitions (the writer plans each
/// statement for its values: `plan_cache_mode = force_custom_plan`, `writer.rs`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Months {
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

impl Months {
    fn of(windows: &[Option<DateTime<Utc>>]) -> Months {
        let mut it = windows.iter().flatten();
        let first = *it.next().expect("a delta batch has rows, and every delta a window");
        let (lo, hi) = it.fold((first, first), |(lo, hi), &t| (lo.min(t), hi.max(t)));
        Months { from: partitions::month_start(partitions::month_of(lo)), until: partitions::month_start(partitions::next_month(partitions::month_of(hi))) }
    }
}

/// Writes the deltas of one dataset; returns how many were new. `kept_from` is the tenant's
/// retention horizon: an older delta is refused (`beyond_retention`).
pub(crate) async fn write(
    tx: &mut Transaction<'_, Postgres>,
    schema: &str,
    spec: &DeltaSpec,
    b: &ColumnBuffers,
    mode: Mode,
    kept_from: Option<DateTime<Utc>>,
) -> Result<u64, StoreError> {
    let table = format!("{schema}.{}", spec.dataset.table());
    let Buffer::Text(ids) = &b.buffers[0] else { unreachable!("idempotency_id is the first, text column") };
    let windows = partitions::windows(spec, b);
    if let Some(horizon) = kept_from {
        if let Some(i) = windows.iter().position(|w| w.is_some_and(|w| w < horizon)) {
            return Err(StoreError::RecordRefused {
                reason: QuarantineReason::BeyondRetention,
                detail: format!(
                    "{} delta {:?} is for {}, before the tenant's retention horizon {horizon}: the deltas of that \
                     hour are gone, so a redelivery could not be told from a new record",
                    spec.dataset,
                    ids.get(i).unwrap_or_default(),
                    windows[i].expect("checked"),
                ),
            });
        }
    }
    let months = Months::of(windows);
    // Every id of the batch that the batch's months hold, with its window. Encode every row
    // while the server looks them up (most are new in the hot path).
    let lookup_sql = format!(
        "SELECT idempotency_id, time_window_start FROM {table}
         WHERE idempotency_id = ANY($1::text[]) AND time_window_start >= $2 AND time_window_start < $3"
    );
    let lookup = sqlx::query_as::<_, (String, DateTime<Utc>)>(&lookup_sql)
        .bind(ids.values())
        .bind(months.from)
        .bind(months.until)
        .fetch_all(&mut **tx);
    if mode == Mode::Upsert {
        let known = lookup.await?;
        fresh_rows(spec, ids, windows, &known)?;
        return write_upsert(tx, &table, spec, b).await;
    }
    let (known, encoded) = tokio::join!(lookup, async { encode_delta_rows(b) });
    let fresh = fresh_rows(spec, ids, windows, &known?)?;
    if fresh.is_empty() {
        return Ok(0);
    }
    let mut data = CopyData::new(fresh.len());
    for &row in &fresh {
        data.raw(encoded.row(row));
    }
    let names: Vec<&str> = b.columns.iter().map(|c| c.name).collect();
    // While the server inserts the deltas, sum them per key and encode the rollup rows.
    let (groups, rows) = copy_in(
        tx,
        &format!("COPY {table} ({}, hub_account_id, received_at) FROM STDIN WITH (FORMAT binary)", names.join(", ")),
        data.finish(),
        || -> Result<_, StoreError> {
            let groups = aggregate(spec, b, &fresh)?;
            let rows = encode_rollup_rows(spec, b, &groups);
            Ok((groups, rows))
        },
    )
    .await??;
    rollup(tx, &table, spec, b, groups, rows, months).await?;
    Ok(fresh.len() as u64)
}

/// The rows to insert: each id's first row, unless the ledger has it. An id the ledger (or
/// the batch) has with the same window is a redelivery, skipped; with another window it is a
/// conflict, refused whole (`idempotency_conflict`): summing it could count one record twice,
/// skipping it could lose one.
fn fresh_rows(
    spec: &DeltaSpec,
    ids: &TextColumn,
    windows: &[Option<DateTime<Utc>>],
    known: &[(String, DateTime<Utc>)],
) -> Result<Vec<usize>, StoreError> {
    let known: HashMap<&str, DateTime<Utc>> = known.iter().map(|(id, w)| (id.as_str(), *w)).collect();
    let mut seen: HashMap<&str, Option<DateTime<Utc>>> = HashMap::with_capacity(ids.len());
    let mut fresh = Vec::with_capacity(ids.len());
    for (i, &window) in windows.iter().enumerate() {
        let id = ids.get(i).expect("idempotency_id is required");
        let held = match known.get(id) {
            Some(&w) => Some(Some(w)),
            None => seen.get(id).copied(),
        };
        match held {
            Some(w) if w == window => {}
            Some(w) => {
                return Err(StoreError::RecordRefused {
                    reason: QuarantineReason::IdempotencyConflict,
                    detail: format!(
                        "{} delta {id:?} is for {}, but the ledger holds that idempotency_id for {}: one id names one record",
                        spec.dataset,
                        window.map_or("no hour".into(), |w| w.to_rfc3339()),
                        w.map_or("no hour".into(), |w| w.to_rfc3339()),
                    ),
                })
            }
            None => {
                seen.insert(id, window);
                fresh.push(i);
            }
        }
    }
    Ok(fresh)
}

async fn write_upsert(
    tx: &mut Transaction<'_, Postgres>,
    table: &str,
    spec: &DeltaSpec,
    b: &ColumnBuffers,
) -> Result<u64, StoreError> {
    let sql = format!(
        "INSERT INTO {table} ({}) {} ON CONFLICT (idempotency_id, time_window_start) DO NOTHING RETURNING idempotency_id",
        statements::column_list(b.columns),
        statements::unnest_select(b.columns),
    );
    let inserted: Vec<String> = b.bind(sqlx::query(&sql)).fetch_all(&mut **tx).await?
        .into_iter()
        .map(|row| row.get(0))
        .collect();
    let Buffer::Text(ids) = &b.buffers[0] else { unreachable!("idempotency_id is the first, text column") };
    let mut inserted: HashSet<&str> = inserted.iter().map(String::as_str).collect();
    // The first row of each inserted id is the one that went in.
    let fresh: Vec<usize> =
        (0..ids.len()).filter(|&i| inserted.remove(ids.get(i).expect("required"))).collect();
    if fresh.is_empty() {
        return Ok(0);
    }
    let groups = aggregate(spec, b, &fresh)?;
    let key_and_attrs = key_and_attribute_columns(spec, b);
    let rows: Vec<usize> = groups.iter().map(|g| g.row).collect();
    let gathered: Vec<Buffer> = key_and_attrs.iter().map(|&c| b.buffers[c].gather(&rows)).collect();
    let mut arrays = vec!["$1::uuid[]".to_owned()];
    let mut names = vec!["key_hash"];
    for (i, &c) in key_and_attrs.iter().enumerate() {
        arrays.push(format!("${}::{}", i + 2, statements::array_type(b.columns[c].kind)));
        names.push(b.columns[c].name);
    }
    let n = arrays.len();
    for (i, m) in spec.metrics.iter().enumerate() {
        let t = if spec.column(m).kind == ColumnKind::Long { "bigint[]" } else { "numeric[]" };
        arrays.push(format!("${}::{t}", n + i + 1));
        names.push(m);
    }
    arrays.push(format!("${}::bigint[]", arrays.len() + 1));
    names.push("delta_count");
    let updates: Vec<String> = spec.metrics.iter().map(|m| format!("{m} = h.{m} + excluded.{m}")).collect();
    let sql = format!(
        "INSERT INTO {table}_hourly AS h ({names}, updated_at)
         SELECT u.*, now() FROM UNNEST({arrays}) AS u({names})
         ON CONFLICT (key_hash, time_window_start) DO UPDATE SET {updates},
             delta_count = h.delta_count + excluded.delta_count, updated_at = excluded.updated_at",
        names = names.join(", "),
        arrays = arrays.join(", "),
        updates = updates.join(", "),
    );
    let hashes: Vec<Uuid> = groups.iter().map(|g| g.key_hash).collect();
    let mut q = sqlx::query(&sql).bind(&hashes);
    for g in &gathered {
        q = g.bind(q);
    }
    let (longs, decimals) = sum_columns(spec, &groups);
    for (i, m) in spec.metrics.iter().enumerate() {
        q = if spec.column(m).kind == ColumnKind::Long { q.bind(&longs[i]) } else { q.bind(&decimals[i]) };
    }
    let counts: Vec<i64> = groups.iter().map(|g| g.count).collect();
    q.bind(counts).execute(&mut **tx).await?;
    Ok(fresh.len() as u64)
}

/// Per metric, the group sums as a bigint array and as a numeric array (one of them filled).
fn sum_columns<'g>(spec: &DeltaSpec, groups: impl IntoIterator<Item = &'g Group>) -> (Vec<Vec<i64>>, Vec<Vec<Decimal>>) {
    let mut longs = vec![Vec::new(); spec.metrics.len()];
    let mut decimals = vec![Vec::new(); spec.metrics.len()];
    for g in groups {
        for (i, s) in g.sums.iter().enumerate() {
            match *s {
                Sum::Long(v) => longs[i].push(v),
                Sum::Decimal(v) => decimals[i].push(v),
            }
        }
    }
    (longs, decimals)
}

/// Positions of the rollup's key and attribute columns in the delta buffers.
fn key_and_attribute_columns(spec: &DeltaSpec, b: &ColumnBuffers) -> Vec<usize> {
    spec.key.iter().map(|k| position(b, k)).chain(spec.attributes().map(|a| position(b, a.name))).collect()
}

fn position(b: &ColumnBuffers, name: &str) -> usize {
    b.columns.iter().position(|c| c.name == name).expect("column of this dataset")
}

fn encode(data: &mut CopyData, b: &ColumnBuffers, column: usize, row: usize) {
    match &b.buffers[column] {
        Buffer::Text(v) if b.columns[column].kind == ColumnKind::Json => data.jsonb(v.get(row)),
        Buffer::Text(v) => data.text(v.get(row)),
        Buffer::Long(v) => data.int8(v[row]),
        Buffer::Decimal(v) => data.numeric(v[row]),
        Buffer::Timestamp(v) => data.timestamptz(v[row]),
        Buffer::LocalTimestamp(v) => data.timestamp(v[row]),
        Buffer::Bool(v) => data.boolean(v[row]),
    }
}

#[derive(Clone, Copy)]
enum Sum {
    Long(i64),
    Decimal(Decimal),
}

/// The new deltas of one natural key, summed.
struct Group {
    key_hash: Uuid,
    /// A row of the batch with this key: source of the key and attribute values.
    row: usize,
    sums: Vec<Sum>,
    count: i64,
}

/// The rollup row identity: the hour (4 bytes, big-endian hours since the epoch) then 12 bytes
/// of SHA-256 over the natural key, each part encoded unambiguously (null vs empty string,
/// length-prefixed text, the instant in microseconds). The hour prefix makes an hour's keys
/// neighbours in the primary key index, as with UUIDv7: inserts touch a few hot pages instead
/// of random ones (and write fewer full-page images after a checkpoint).
fn key_hash(b: &ColumnBuffers, key: &[usize], row: usize, scratch: &mut Vec<u8>) -> Uuid {
    scratch.clear();
    let mut hour: u32 = 0;
    for &c in key {
        match &b.buffers[c] {
            Buffer::Text(v) => match v.get(row) {
                None => scratch.push(0),
                Some(s) => {
                    scratch.push(1);
                    scratch.extend_from_slice(&(s.len() as u32).to_le_bytes());
                    scratch.extend_from_slice(s.as_bytes());
                }
            },
            Buffer::Timestamp(v) => match v[row] {
                None => scratch.push(0),
                Some(t) => {
                    scratch.push(2);
                    scratch.extend_from_slice(&t.timestamp_micros().to_le_bytes());
                    hour = (t.timestamp().div_euclid(3600)).clamp(0, u32::MAX as i64) as u32;
                }
            },
            _ => unreachable!("natural keys are text and instants"),
        }
    }
    let digest = Sha256::digest(&scratch[..]);
    let mut bytes = [0u8; 16];
    bytes[..4].copy_from_slice(&hour.to_be_bytes());
    bytes[4..].copy_from_slice(&digest[..12]);
    Uuid::from_bytes(bytes)
}

fn aggregate(spec: &DeltaSpec, b: &ColumnBuffers, fresh: &[usize]) -> Result<Vec<Group>, StoreError> {
    let key: Vec<usize> = spec.key.iter().map(|k| position(b, k)).collect();
    let metrics: Vec<usize> = spec.metrics.iter().map(|m| position(b, m)).collect();
    let mut index: HashMap<Uuid, usize> = HashMap::with_capacity(fresh.len());
    let mut groups: Vec<Group> = Vec::new();
    let mut scratch = Vec::with_capacity(256);
    for &row in fresh {
        let hash = key_hash(b, &key, row, &mut scratch);
        let g = *index.entry(hash).or_insert_with(|| {
            groups.push(Group {
                key_hash: hash,
                row,
                sums: metrics
                    .iter()
                    .map(|&m| match &b.buffers[m] {
                        Buffer::Long(_) => Sum::Long(0),
                        _ => Sum::Decimal(Decimal::ZERO),
                    })
                    .collect(),
                count: 0,
            });
            groups.len() - 1
        });
        let group = &mut groups[g];
        group.count += 1;
        for (sum, &m) in group.sums.iter_mut().zip(&metrics) {
            match (sum, &b.buffers[m]) {
                (Sum::Long(s), Buffer::Long(v)) => {
                    *s = s.checked_add(v[row].unwrap_or(0)).ok_or_else(|| {
                        StoreError::Overflow(format!("{} sum overflows bigint", b.columns[m].name))
                    })?;
                }
                (Sum::Decimal(s), Buffer::Decimal(v)) => {
                    *s = s.checked_add(v[row].unwrap_or(Decimal::ZERO)).ok_or_else(|| {
                        StoreError::Overflow(format!("{} sum overflows a decimal", b.columns[m].name))
                    })?;
                }
                _ => unreachable!("metrics are longs and decimals"),
            }
        }
    }
    // A fixed order for the UPDATE's row locks: concurrent writers of a tenant lock in step.
    groups.sort_by_key(|g| g.key_hash);
    Ok(groups)
}

async fn rollup(
    tx: &mut Transaction<'_, Postgres>,
    table: &str,
    spec: &DeltaSpec,
    b: &ColumnBuffers,
    groups: Vec<Group>,
    rows: EncodedRows,
    months: Months,
) -> Result<(), StoreError> {
    // 1. Keys the rollup already has (an index lookup per key: `= ANY` on the primary key,
    //    in the batch's months only; an UPDATE joined to all keys was planned as a full index
    //    scan, growing with the table): add to those rows.
    let hashes: Vec<Uuid> = groups.iter().map(|g| g.key_hash).collect();
    let existing: HashSet<Uuid> = sqlx::query_scalar::<_, Uuid>(&format!(
        "SELECT key_hash FROM {table}_hourly
         WHERE key_hash = ANY($1::uuid[]) AND time_window_start >= $2 AND time_window_start < $3"
    ))
    .bind(&hashes)
    .bind(months.from)
    .bind(months.until)
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .collect();
    let known: Vec<&Group> = groups.iter().filter(|g| existing.contains(&g.key_hash)).collect();
    if !known.is_empty() {
        add_to_existing(tx, table, spec, &known, months).await?;
    }

    // 2. Keys seen for the first time: COPY their (already encoded) rows.
    if known.len() == groups.len() {
        return Ok(());
    }
    let mut data = CopyData::new(groups.len());
    for (i, g) in groups.iter().enumerate() {
        if !existing.contains(&g.key_hash) {
            data.raw(rows.row(i));
        }
    }
    let key_and_attrs = key_and_attribute_columns(spec, b);
    let mut names: Vec<&str> = vec!["key_hash"];
    names.extend(key_and_attrs.iter().map(|&c| b.columns[c].name));
    names.extend(spec.metrics);
    names.extend(["delta_count", "updated_at"]);
    copy_in(
        tx,
        &format!("COPY {table}_hourly ({}) FROM STDIN WITH (FORMAT binary)", names.join(", ")),
        data.finish(),
        || (),
    )
    .await
}

/// COPYs `data`, running `meanwhile` between sending and waiting for the server: the server
/// (another core) parses and inserts while we do the next step's CPU work.
async fn copy_in<T>(
    tx: &mut Transaction<'_, Postgres>,
    statement: &str,
    data: Vec<u8>,
    meanwhile: impl FnOnce() -> T,
) -> Result<T, StoreError> {
    let mut copy = tx.copy_in_raw(statement).await?;
    if let Err(e) = copy.send(data).await {
        let _ = copy.abort("send failed").await;
        return Err(e.into());
    }
    let out = meanwhile();
    copy.finish().await?;
    Ok(out)
}

/// Rows encoded for COPY one after another; `ends[i]` is where row i's bytes end.
struct EncodedRows {
    data: CopyData,
    ends: Vec<usize>,
}

impl EncodedRows {
    fn row(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.data.bytes()[start..self.ends[i]]
    }
}

fn encode_delta_rows(b: &ColumnBuffers) -> EncodedRows {
    let mut data = CopyData::rows_only(b.rows());
    let mut ends = Vec::with_capacity(b.rows());
    for row in 0..b.rows() {
        data.row(b.columns.len() + 2);
        for c in 0..b.columns.len() {
            encode(&mut data, b, c, row);
        }
        data.uuid(b.hub_account_id[row]);
        data.timestamptz(Some(b.received_at[row]));
        ends.push(data.len());
    }
    EncodedRows { data, ends }
}

fn encode_rollup_rows(spec: &DeltaSpec, b: &ColumnBuffers, groups: &[Group]) -> EncodedRows {
    let key_and_attrs = key_and_attribute_columns(spec, b);
    let now = Utc::now();
    let mut data = CopyData::rows_only(groups.len());
    let mut ends = Vec::with_capacity(groups.len());
    for g in groups {
        data.row(1 + key_and_attrs.len() + g.sums.len() + 2);
        data.uuid(Some(g.key_hash));
        for &c in &key_and_attrs {
            encode(&mut data, b, c, g.row);
        }
        for s in &g.sums {
            match *s {
                Sum::Long(v) => data.int8(Some(v)),
                Sum::Decimal(v) => data.numeric(Some(v)),
            }
        }
        data.int8(Some(g.count));
        data.timestamptz(Some(now));
        ends.push(data.len());
    }
    EncodedRows { data, ends }
}

async fn add_to_existing(
    tx: &mut Transaction<'_, Postgres>,
    table: &str,
    spec: &DeltaSpec,
    groups: &[&Group],
    months: Months,
) -> Result<(), StoreError> {
    let mut arrays = vec!["$1::uuid[]".to_owned()];
    let mut sets = Vec::new();
    for (i, m) in spec.metrics.iter().enumerate() {
        let t = if spec.column(m).kind == ColumnKind::Long { "bigint[]" } else { "numeric[]" };
        arrays.push(format!("${}::{t}", i + 2));
        sets.push(format!("{m} = h.{m} + u.{m}"));
    }
    let n = spec.metrics.len();
    arrays.push(format!("${}::bigint[]", n + 2));
    let sql = format!(
        "UPDATE {table}_hourly AS h SET {}, delta_count = h.delta_count + u.delta_count, updated_at = now()
         FROM UNNEST({}) AS u(key_hash, {}, delta_count)
         WHERE h.key_hash = u.key_hash AND h.key_hash = ANY($1::uuid[])
           AND h.time_window_start >= ${} AND h.time_window_start < ${}",
        sets.join(", "),
        arrays.join(", "),
        spec.metrics.join(", "),
        n + 3,
        n + 4,
    );
    let hashes: Vec<Uuid> = groups.iter().map(|g| g.key_hash).collect();
    let mut q = sqlx::query(&sql).bind(&hashes);
    let (longs, decimals) = sum_columns(spec, groups.iter().copied());
    for (i, m) in spec.metrics.iter().enumerate() {
        q = if spec.column(m).kind == ColumnKind::Long { q.bind(&longs[i]) } else { q.bind(&decimals[i]) };
    }
    let counts: Vec<i64> = groups.iter().map(|g| g.count).collect();
    let done = q.bind(counts).bind(months.from).bind(months.until).execute(&mut **tx).await?.rows_affected();
    if done != groups.len() as u64 {
        // Rollup rows are never deleted; failing the batch beats losing its sums.
        return Err(StoreError::Inconsistent(format!(
            "{table}_hourly: {} of {} rollup rows found a moment ago are gone",
            groups.len() as u64 - done,
            groups.len()
        )));
    }
    Ok(())
}
