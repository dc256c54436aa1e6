//! Decoding a body into what the ledger takes, in one place for every path that writes: the
//! runtime's normalizer (SQS), `ams-hub ingest-file` (files), and a replay from quarantine
//! (the API). It lives here, below the runtime and the API, so that both reach it without
//! reaching each other; the ledger itself takes decoded records only.

use std::sync::Arc;

use ams_model::{decode_body, Body, Record, SubscriptionConfirmation};

use super::{LedgerBatch, Origin, Provenance, QuarantineEntry};

/// One message as the writer takes it: its records (with the body, quarantined in their place
/// if Postgres refuses them), or its quarantine entry.
pub enum Decoded {
    Records { origin: Origin, records: Vec<Record> },
    Quarantined(QuarantineEntry),
}

/// A body off a queue (or a file line), decoded: what the ledger takes, or a confirmation.
pub enum DecodedBody {
    /// Its records (with the body as their origin), or its quarantine entry: ready for the
    /// ledger.
    Ledger(Decoded),
    /// An SNS subscription confirmation: the caller confirms it or quarantines it.
    Confirmation { body: String, message_id: Option<String>, confirmation: SubscriptionConfirmation },
}

/// `source`: the queue URL, or `file:<path>:<line>`.
pub fn decode(body: String, source: Arc<str>, message_id: Option<String>, provenance: Provenance) -> DecodedBody {
    match decode_body(&body) {
        Ok(Body::Records(records)) => {
            DecodedBody::Ledger(Decoded::Records { origin: Origin { body, source, message_id, provenance }, records })
        }
        Ok(Body::Confirmation(confirmation)) => DecodedBody::Confirmation { body, message_id, confirmation },
        Err(e) => {
            let mut entry = QuarantineEntry::from_error(&body, &e, source.to_string(), provenance);
            entry.message_id = message_id;
            DecodedBody::Ledger(Decoded::Quarantined(entry))
        }
    }
}

impl Decoded {
    /// Into the batch as one unit.
    pub fn push_into(self, batch: &mut LedgerBatch) {
        match self {
            Decoded::Records { origin, records } => {
                let provenance = origin.provenance;
                batch.push_unit(Some(origin), &records, provenance, Vec::new());
            }
            Decoded::Quarantined(entry) => batch.quarantine(entry),
        }
    }
}
