//! The pipeline contract: what travels between the runtime's actors, in the order it travels.
//!
//! ```text
//! QueueConsumer ── Ingest{queue, messages, ack, memory}      ──▶ Normalizer
//! Normalizer    ── Append{messages: [Decoded], kept, ack}    ──▶ TenantWriter
//! TenantWriter  ── ack: Result<Committed{kept}, NotCommitted> ──▶ QueueConsumer
//!                  (deletes every receipt but the kept ones, or none)
//! ```
//! Every Ingest reaches the writer, confirmations included (as a quarantine entry, as nothing
//! to write, or as a kept message), so every ack comes from the writer after its commit, over
//! one route. A whole Ingest fails only when its commit does (`NotCommitted`); one message
//! is held back alone (`kept`).

use std::sync::Arc;

use actix::prelude::*;
use ams_model::DatasetId;
/// One message as the writer takes it (decoded below the runtime, in the store, so that a
/// replay from the API decodes the same way).
pub use ams_store::Decoded;
use ams_store::{AccountId, QueueId, TenantSchema};
use tokio::sync::oneshot;

use crate::aws::AccountAws;

/// What a consumer knows about its queue, shared with the messages it sends.
pub struct QueueContext {
    pub queue_id: QueueId,
    /// Shared by the messages' origins (their quarantine source).
    pub queue_url: Arc<str>,
    pub region: String,
    pub account_id: AccountId,
    /// The tenant's schema, and its slug: whose share of the memory budget the messages count
    /// against.
    pub schema: TenantSchema,
    pub aws: AccountAws,
}

pub struct SqsMessage {
    pub message_id: String,
    pub body: String,
    /// SQS `ApproximateReceiveCount`: 1 on first delivery.
    pub receive_count: u32,
}

/// What became of an Ingest's messages once committed: every message is committed except the
/// `kept` ones, which stay on the queue.
#[derive(Debug, Default)]
pub struct Committed {
    /// Messages (by position in the Ingest) not committed, each with why: the consumer does
    /// not delete them and SQS delivers them again after their visibility timeout.
    pub kept: Vec<(usize, NotCommitted)>,
    pub quarantined: usize,
    /// Records per dataset, indexed by [`ams_model::DatasetId::index`].
    pub records: [u32; DatasetId::ALL.len()],
    /// Of those, records Amazon had truncated to fit SQS (`PAYLOAD_TRUNCATED`).
    pub truncated: u32,
}

/// Why messages were not committed (all of an Ingest's, or one in [`Committed::kept`]): they
/// are not deleted, and SQS delivers them again after their visibility timeout.
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

/// An Ingest's messages, decoded, answered once they are committed: `ack` (the consumer's
/// own, so every answer comes straight from the writer) gets what was committed, counted for
/// the consumer's status, or the error. `kept`: messages of the Ingest the normalizer held back
/// (a confirmation SNS refused for now), passed through to the answer.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Append {
    pub messages: Vec<Decoded>,
    pub kept: Vec<(usize, NotCommitted)>,
    pub ack: IngestAck,
}


