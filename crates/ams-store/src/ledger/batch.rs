//! A batch being assembled: records go straight into per-dataset column buffers (no
//! intermediate row objects), unreadable bodies into the quarantine list.

use std::collections::BTreeMap;

use ams_model::{columns_of, decode_body, Body, DatasetId, DecodeError, Record, SubscriptionConfirmation};
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
    pub reason_code: String,
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
            reason_code: err.code().to_owned(),
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

/// What became of a body given to [`LedgerBatch::push_body`].
#[derive(Debug)]
pub enum Pushed {
    /// Its records (possibly none, for an empty array) are in the batch.
    Records(usize),
    /// It could not be decoded and is in the batch's quarantine list.
    Quarantined,
    /// An SNS subscription confirmation: the caller decides (confirm, or quarantine).
    Confirmation(SubscriptionConfirmation),
}

#[derive(Default)]
pub struct LedgerBatch {
    pub(crate) datasets: BTreeMap<DatasetId, ColumnBuffers>,
    pub(crate) quarantine: Vec<QuarantineEntry>,
}

impl LedgerBatch {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, record: &Record, provenance: Provenance) {
        let dataset = record.dataset();
        let buffers = self
            .datasets
            .entry(dataset)
            .or_insert_with(|| ColumnBuffers::new(columns_of(dataset)));
        buffers.push_row(record, provenance);
    }

    /// Decodes an SQS body into the batch: its records, or its quarantine entry.
    pub fn push_body(&mut self, body: &str, source: impl FnOnce() -> String, provenance: Provenance) -> Pushed {
        match decode_body(body) {
            Ok(Body::Records(records)) => {
                for r in &records {
                    self.push(r, provenance);
                }
                Pushed::Records(records.len())
            }
            Ok(Body::Confirmation(c)) => Pushed::Confirmation(c),
            Err(e) => {
                self.quarantine(QuarantineEntry::from_error(body, &e, source(), provenance));
                Pushed::Quarantined
            }
        }
    }

    pub fn quarantine(&mut self, entry: QuarantineEntry) {
        self.quarantine.push(entry);
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
