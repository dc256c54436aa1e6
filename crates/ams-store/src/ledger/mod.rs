//! The ledger: a batch of decoded records (and unreadable bodies) for one tenant, written in
//! one transaction so that what is acknowledged to SQS afterwards is exactly what committed.
//!
//! * deltas: inserted unless their `idempotency_id` is known; the `_hourly` rollup is updated
//!   from the rows that statement really inserted, so a replay changes nothing;
//! * entities: every version once in `_history`; current replaced only by a higher version;
//! * budget usage: each distinct notification once; current = newest `usage_updated_timestamp`;
//! * unreadable bodies: `quarantine`, once per distinct body.
//!
//! Deltas (the volume) go in by binary COPY after an indexed lookup of known ids
//! (`deltas.rs`). Entities, budget usage and quarantine use one bulk
//! `INSERT … SELECT … FROM UNNEST($1::text[], …) ON CONFLICT …` each: one bind per column
//! whatever the row count (a 16-column VALUES list breaks past 4,095 rows).

mod batch;
mod buffers;
mod copy;
pub mod decode;
mod deltas;
mod isolation;
pub mod partitions;
mod retention;
mod statements;
mod writer;

pub use batch::{LedgerBatch, Origin, Provenance, QuarantineEntry};
pub use decode::{decode, Decoded, DecodedBody};
pub use isolation::Isolated;
pub use retention::{LedgerHorizon, Retention, Upkeep, UPKEEP_EVERY};
pub use writer::LedgerWriter;

use std::collections::BTreeMap;

use ams_model::DatasetId;

/// What one batch did to one dataset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DatasetCounts {
    /// Records in the batch.
    pub received: u64,
    /// Rows that were new: deltas, entity versions, distinct budget notifications.
    pub inserted: u64,
    /// Records already in the ledger (or twice in the batch): ignored.
    pub duplicates: u64,
}

impl DatasetCounts {
    pub fn add(&mut self, o: DatasetCounts) {
        self.received += o.received;
        self.inserted += o.inserted;
        self.duplicates += o.duplicates;
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteSummary {
    pub datasets: BTreeMap<DatasetId, DatasetCounts>,
    /// Bodies newly quarantined.
    pub quarantined: u64,
    /// Bodies that were already in quarantine.
    pub quarantine_known: u64,
}

impl WriteSummary {
    pub fn add(&mut self, o: &WriteSummary) {
        for (d, c) in &o.datasets {
            self.datasets.entry(*d).or_default().add(*c);
        }
        self.quarantined += o.quarantined;
        self.quarantine_known += o.quarantine_known;
    }
    pub fn inserted(&self) -> u64 {
        self.datasets.values().map(|c| c.inserted).sum()
    }
}
