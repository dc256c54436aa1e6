//! A batch being assembled: records go straight into per-dataset column buffers (no
//! intermediate row objects), unreadable bodies into the quarantine list.

use std::collections::BTreeMap;
use std::ops::Range;

use smallvec::SmallVec;

use ams_model::{columns_of, DatasetId, DecodeError, QuarantineReason, Record};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::buffers::ColumnBuffers;

/// Where and when a record or body was received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Provenance {
    /// The tenant's account (control.accounts.id) whose queue delivered it; none for files.
    pub hub_account_id: Option<Uuid>,
    pub received_at: DateTime<Utc>,
}

impl Provenance {
    pub fn now(hub_account_id: Option<Uuid>) -> Provenance {
        Provenance { hub_account_id, received_at: Utc::now() }
    }
}

/// A body that could not be understood, kept whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantineEntry {
    pub body: String,
    pub reason_code: QuarantineReason,
    pub reason: String,
    /// Where it came from: a queue URL, or `file:<path>:<line>`.
    pub source: String,
    /// The SQS message id, when there is one.
    pub message_id: Option<String>,
    pub provenance: Provenance,
}

impl QuarantineEntry {
    pub fn from_error(body: &str, err: &DecodeError, source: String, provenance: Provenance) -> Self {
        QuarantineEntry {
            body: body.to_owned(),
            reason_code: err.reason(),
            reason: err.to_string(),
            source,
            message_id: None,
            provenance,
        }
    }

    pub(crate) fn body_sha256(&self) -> Vec<u8> {
        Sha256::digest(self.body.as_bytes()).to_vec()
    }
}

/// Where a unit came from: what is quarantined in its place if Postgres refuses its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The SQS body (or file value) exactly as received.
    pub body: String,
    /// A queue URL, or `file:<path>:<line>` (shared: every message of a queue has the same).
    pub source: std::sync::Arc<str>,
    pub message_id: Option<String>,
    pub provenance: Provenance,
}

/// The part of a batch that stands or falls together: one SQS message, one value of a file.
/// Units are pushed one after another, so the rows of consecutive units are consecutive in
/// every dataset's buffers, and any run of units is a contiguous slice of the batch.
#[derive(Debug, Clone)]
pub(crate) struct Unit {
    pub origin: Option<Origin>,
    /// Per dataset: the unit's rows in that dataset's buffers (inline for the usual one
    /// dataset: no allocation per message).
    pub rows: SmallVec<[(DatasetId, Range<usize>); 1]>,
    pub quarantine: Range<usize>,
}

#[derive(Default)]
pub struct LedgerBatch {
    pub(crate) datasets: BTreeMap<DatasetId, ColumnBuffers>,
    pub(crate) quarantine: Vec<QuarantineEntry>,
    pub(crate) units: Vec<Unit>,
}

impl LedgerBatch {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a unit: its records and the bodies of it already quarantined. `origin` is what
    /// replaces the unit in quarantine if Postgres refuses its rows; without one, such a
    /// refusal fails the write.
    pub fn push_unit(&mut self, origin: Option<Origin>, records: &[Record], provenance: Provenance, quarantine: Vec<QuarantineEntry>) {
        let mut rows: SmallVec<[(DatasetId, Range<usize>); 1]> = SmallVec::new();
        for record in records {
            let dataset = record.dataset();
            let buffers = self
                .datasets
                .entry(dataset)
                .or_insert_with(|| ColumnBuffers::new(columns_of(dataset)));
            let row = buffers.rows();
            buffers.push_row(record, provenance);
            match rows.iter_mut().find(|(d, _)| *d == dataset) {
                Some((_, r)) => r.end = row + 1,
                None => rows.push((dataset, row..row + 1)),
            }
        }
        let start = self.quarantine.len();
        self.quarantine.extend(quarantine);
        self.units.push(Unit { origin, rows, quarantine: start..self.quarantine.len() });
    }

    /// Records without an origin (a replay from quarantine, a test): one unit.
    pub fn push_records(&mut self, records: &[Record], provenance: Provenance) {
        self.push_unit(None, records, provenance, Vec::new());
    }

    /// A quarantine entry as a unit of its own.
    pub fn quarantine(&mut self, entry: QuarantineEntry) {
        self.push_unit(None, &[], entry.provenance, vec![entry]);
    }

    /// Units in the batch, in the order they were pushed.
    pub fn units(&self) -> usize {
        self.units.len()
    }

    /// Records per dataset of one unit.
    pub fn unit_records(&self, unit: usize) -> impl Iterator<Item = (DatasetId, usize)> + '_ {
        self.units[unit].rows.iter().map(|(d, r)| (*d, r.len()))
    }

    /// A batch of the units `range` only (their rows, quarantine entries and origins).
    pub(crate) fn slice(&self, range: Range<usize>) -> LedgerBatch {
        let units = &self.units[range];
        let mut out = LedgerBatch::new();
        let mut spans: BTreeMap<DatasetId, Range<usize>> = BTreeMap::new();
        for u in units {
            for (d, r) in &u.rows {
                let span = spans.entry(*d).or_insert(r.clone());
                span.start = span.start.min(r.start);
                span.end = span.end.max(r.end);
            }
        }
        for (d, span) in &spans {
            out.datasets.insert(*d, self.datasets[d].slice(span.clone()));
        }
        let q_start = units.first().map_or(0, |u| u.quarantine.start);
        let q_end = units.last().map_or(0, |u| u.quarantine.end);
        out.quarantine = self.quarantine[q_start..q_end].to_vec();
        out.units = units
            .iter()
            .map(|u| Unit {
                origin: u.origin.clone(),
                rows: u.rows.iter().map(|(d, r)| (*d, r.start - spans[d].start..r.end - spans[d].start)).collect(),
                quarantine: u.quarantine.start - q_start..u.quarantine.end - q_start,
            })
            .collect();
        out
    }

    /// Records in the batch (quarantined bodies not counted).
    pub fn records(&self) -> usize {
        self.datasets.values().map(ColumnBuffers::rows).sum()
    }

    /// Bodies to quarantine in the batch.
    pub fn quarantine_len(&self) -> usize {
        self.quarantine.len()
    }

    pub fn is_empty(&self) -> bool {
        self.datasets.is_empty() && self.quarantine.is_empty()
    }
}
