//! When Postgres refuses a batch for its data (a sum past `bigint`, a value too large for an
//! index, anything the decoder could not foresee), retrying the same batch fails the same way
//! for ever, and every message batched with the culprit waits with it. Instead the batch is
//! split in halves until the refused units (SQS messages, file values) stand alone. Each of
//! those is quarantined with Postgres's error text in place of its rows, and the rest commits.
//! The ledger's own refusals (a delta whose id it holds with another window, a delta beyond
//! the tenant's retention: [`StoreError::RecordRefused`]) take the same path with their reason.
//!
//! Every write here is idempotent (known ids, versions, notifications and quarantined bodies
//! are skipped), so halves that committed before a transient error are harmless when the
//! caller retries the whole batch. Units are written in order, so when two records of one
//! rollup key overflow it together, the later one is the one quarantined, and the key's total
//! stays exact for what was accepted.

use std::ops::Range;

use super::batch::{LedgerBatch, QuarantineEntry};
use super::WriteSummary;
use crate::{LedgerWriter, StoreError, TenantSchema};

/// The outcome of [`LedgerWriter::write_isolating`].
#[derive(Debug, Default)]
pub struct Isolated {
    pub summary: WriteSummary,
    /// Units (indices into the batch) whose rows Postgres refused; each is now in quarantine.
    pub refused: Vec<usize>,
}

impl LedgerWriter {
    /// Writes the batch; when Postgres refuses it for its data, isolates and quarantines the
    /// refused units and commits the rest. `Err` only for errors worth retrying (connection,
    /// conflicts, shutdown), or for a refused unit that has no origin to quarantine.
    pub async fn write_isolating(&self, schema: &TenantSchema, batch: &LedgerBatch) -> Result<Isolated, StoreError> {
        let first = match self.write(schema, batch).await {
            Ok(summary) => return Ok(Isolated { summary, refused: Vec::new() }),
            Err(e) if e.is_permanent() => e,
            Err(e) => return Err(e),
        };
        tracing::warn!(schema = %schema, units = batch.units(), error = %first,
            "Postgres refused a batch for its data; isolating the refused messages");
        let mut out = Isolated::default();
        // Depth first, left half before right: units are written in their order.
        let mut stack: Vec<(Range<usize>, Option<StoreError>)> = vec![(0..batch.units(), Some(first))];
        while let Some((range, failed)) = stack.pop() {
            match failed {
                Some(e) if range.len() == 1 => {
                    self.quarantine_refused(schema, batch, range.start, &e, &mut out).await?;
                }
                Some(_) => {
                    let mid = range.start + range.len() / 2;
                    stack.push((mid..range.end, None));
                    stack.push((range.start..mid, None));
                }
                None => match self.write(schema, &batch.slice(range.clone())).await {
                    Ok(s) => out.summary.add(&s),
                    Err(e) if e.is_permanent() => stack.push((range, Some(e))),
                    Err(e) => return Err(e),
                },
            }
        }
        out.refused.sort_unstable();
        Ok(out)
    }

    async fn quarantine_refused(
        &self,
        schema: &TenantSchema,
        batch: &LedgerBatch,
        unit: usize,
        error: &StoreError,
        out: &mut Isolated,
    ) -> Result<(), StoreError> {
        let u = &batch.units[unit];
        let Some(origin) = &u.origin else {
            // Nothing to keep in its place (a replay, a quarantine row itself): the caller
            // must see the refusal.
            return Err(StoreError::Refused(database_text(error)));
        };
        tracing::warn!(schema = %schema, source = %origin.source, message_id = ?origin.message_id,
            error = %error, "quarantining a message whose rows Postgres refused");
        let mut q = LedgerBatch::new();
        // The unit's own quarantine entries (none for an ordinary message) stay with it.
        for e in &batch.quarantine[u.quarantine.clone()] {
            q.quarantine(e.clone());
        }
        let (reason_code, reason) = match error {
            StoreError::RecordRefused { reason, detail } => (*reason, detail.clone()),
            other => (ams_model::QuarantineReason::RefusedByDatabase, format!("Postgres refused its rows: {}", database_text(other))),
        };
        q.quarantine(QuarantineEntry {
            body: origin.body.clone(),
            reason_code,
            reason,
            source: origin.source.to_string(),
            message_id: origin.message_id.clone(),
            provenance: origin.provenance,
        });
        let s = self.write(schema, &q).await?;
        out.summary.add(&s);
        out.refused.push(unit);
        Ok(())
    }
}

/// The database's own words, without our "database error:" prefix.
fn database_text(e: &StoreError) -> String {
    match e {
        StoreError::Database(sqlx::Error::Database(d)) => match d.code() {
            Some(code) => format!("{} (SQLSTATE {code})", d.message()),
            None => d.message().to_owned(),
        },
        other => other.to_string(),
    }
}
