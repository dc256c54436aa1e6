//! The pipeline contract: what travels between the runtime's actors, in the order it travels.
//!
//! ```text
//! QueueConsumer ── Ingest{queue, messages, ack, memory} ──▶ Normalizer
//! Normalizer    ── Append{messages: [Decoded], ack}     ──▶ TenantWriter
//! TenantWriter  ── ack: Result<Committed, NotCommitted> ──▶ QueueConsumer (deletes, or not)
//! ```
//! Every message reaches the writer, a subscription confirmation included (as a quarantine
//! entry or as nothing to write), so every ack comes from the writer after its commit.

use std::sync::Arc;

use actix::prelude::*;
use ams_model::{DatasetId, Record};
use ams_store::{AccountId, Origin, QuarantineEntry, QueueId, TenantSchema};
use tokio::sync::oneshot;

use crate::aws::AccountAws;

/// What a consumer knows about its queue, shared with the messages it sends.
pub struct QueueContext {
    pub queue_id: QueueId,
    /// Shared by the messages' origins (their quarantine source).
    pub queue_url: Arc<str>,
    /// The tenant's slug: whose share of the memory budget the messages count against.
    pub tenant: Arc<str>,
    pub region: String,
    pub account_id: AccountId,
    pub schema: TenantSchema,
    pub aws: AccountAws,
}

pub struct SqsMessage {
    pub message_id: String,
    pub body: String,
    /// SQS `ApproximateReceiveCount`: 1 on first delivery.
    pub receive_count: u32,
}

/// What became of an Ingest's messages once committed.
#[derive(Debug, Default)]
pub struct Committed {
    pub quarantined: usize,
    /// Records per dataset, indexed by [`ams_model::DatasetId::index`].
    pub records: [u32; DatasetId::ALL.len()],
    /// Of those, records Amazon had truncated to fit SQS (`PAYLOAD_TRUNCATED`).
    pub truncated: u32,
}

/// Why an Ingest's messages were not committed: they are not deleted, and SQS delivers them
/// again after their visibility timeout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotCommitted {
    /// The ledger write still failed when shutdown gave up retrying (the database's words).
    #[error("ledger write failed at shutdown: {0}")]
    GivenUp(String),
    /// Amazon's subscription confirmation could not be confirmed yet: the message stays on the
    /// queue to be tried again (Amazon sends it only once).
    #[error("subscription confirmation failed: {0}")]
    ConfirmationFailed(String),
    /// An actor on the way stopped before answering (shutdown).
    #[error("the {0} stopped before the commit")]
    Stopped(&'static str),
}

pub type IngestAck = oneshot::Sender<Result<Committed, NotCommitted>>;

#[derive(Message)]
#[rtype(result = "()")]
pub struct Ingest {
    pub queue: Arc<QueueContext>,
    pub messages: Vec<SqsMessage>,
    pub ack: IngestAck,
    /// The bytes the messages hold; decoding adds what their rows take.
    pub memory: Option<crate::budget::Reservation>,
}

/// Some messages, decoded, answered once they are committed: `ack` gets what was committed
/// (counted for the consumer's status) or the error. The ack is the consumer's own when no
/// confirmation is involved: no task in between, one wake-up fewer.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Append {
    pub messages: Vec<Decoded>,
    pub ack: IngestAck,
}

/// One message as the writer takes it: its records (with the body, quarantined in their place
/// if Postgres refuses them), or its quarantine entry.
pub enum Decoded {
    Records { origin: Origin, records: Vec<Record> },
    Quarantined(QuarantineEntry),
}

