//! Normalizer: turns SQS bodies into ledger rows for the right tenant. Records go to the
//! tenant's writer; unreadable bodies to its quarantine; SNS subscription confirmations are
//! confirmed through the SNS API (`ConfirmSubscription` in the topic's region, with the
//! account's credentials) only when the topic is Amazon's for a dataset in that realm
//! (docs/ams.md §5). Every confirmation is recorded in `control.subscriptions`; one refused is
//! also quarantined. No URL taken from a message is ever fetched.
//!
//! Acks are per message: a confirmation SNS refuses for now is held back (`Append::kept`) and
//! only its own message stays on the queue; the others of its receive are committed and
//! deleted. SNS and Postgres are behind the [`Subscriptions`] seam and the writers behind a
//! factory, so the actor is unit-tested on paused time (`normalizer_tests.rs`).

use std::collections::HashMap;
use std::rc::Rc;

use actix::prelude::*;
use ams_model::{confirmable, QuarantineReason, SubscriptionConfirmation};
use ams_store::control::registry::{ConfirmationRecord, ConfirmationStatus};
use ams_store::{decode, DecodedBody, Provenance, QuarantineEntry, Store, TenantSchema};
use futures_util::future::LocalBoxFuture;

use crate::pipeline::{Append, Decoded, Ingest, NotCommitted, QueueContext, SqsMessage};
use crate::writer::TenantWriter;
use crate::RuntimeConfig;

/// Receives after which a confirmation that SNS keeps rejecting is quarantined.
pub const CONFIRM_ATTEMPTS: u32 = 5;

/// Where subscription confirmations go: SNS (as the queue's account) and Postgres in
/// production; a test's stand-in.
pub trait Subscriptions {
    /// `ConfirmSubscription` in `region` as the queue's account; `Err`: SNS's words.
    fn confirm<'a>(&'a self, q: &'a QueueContext, region: &'a str, c: &'a SubscriptionConfirmation) -> LocalBoxFuture<'a, Result<(), String>>;
    /// Records what became of it; a confirmed one also marks the Marketing Stream subscription
    /// of `queue_arn` (same dataset and marketplace) confirmed. Best effort: logged on failure.
    fn record<'a>(&'a self, record: ConfirmationRecord<'a>, queue_arn: Option<String>) -> LocalBoxFuture<'a, ()>;
}

/// SNS through the queue's account's credentials; outcomes in `control.subscriptions`.
pub struct SnsAndStore(pub Store);

impl Subscriptions for SnsAndStore {
    fn confirm<'a>(&'a self, q: &'a QueueContext, region: &'a str, c: &'a SubscriptionConfirmation) -> LocalBoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let sns = q.aws.sns(region);
            match sns.confirm_subscription().topic_arn(&c.topic_arn).token(&c.token).send().await {
                Ok(_) => Ok(()),
                Err(e) => Err(format!("ConfirmSubscription: {}", crate::aws::describe(&e))),
            }
        })
    }

    fn record<'a>(&'a self, record: ConfirmationRecord<'a>, queue_arn: Option<String>) -> LocalBoxFuture<'a, ()> {
        Box::pin(async move {
            if let Err(e) = self.0.record_confirmation(&record).await {
                tracing::warn!(error = %e, "could not record a subscription confirmation");
            }
            if let (ConfirmationStatus::Confirmed, Some(d), Some(arn)) = (record.status, record.dataset_id, queue_arn) {
                if let Err(e) = self.0.stream_confirmed(&arn, d, record.marketplace_id).await {
                    tracing::warn!(error = %e, "could not mark a Marketing Stream subscription confirmed");
                }
            }
        })
    }
}

/// A tenant's writer, started on first use.
pub type Writers = Box<dyn Fn(&TenantSchema) -> Recipient<Append>>;

pub struct Normalizer {
    subscriptions: Rc<dyn Subscriptions>,
    start_writer: Writers,
    writers: HashMap<TenantSchema, Recipient<Append>>,
}

impl Normalizer {
    /// `shutdown` tells the writers when to stop retrying failed writes.
    pub fn new(store: Store, config: RuntimeConfig, shutdown: crate::shutdown::ShutdownSignal) -> Self {
        let writers_store = store.clone();
        let start_writer: Writers = Box::new(move |schema: &TenantSchema| {
            TenantWriter::new(&writers_store, schema.clone(), config.clone(), shutdown.clone()).start().recipient()
        });
        Self::with_seams(Rc::new(SnsAndStore(store)), start_writer)
    }

    pub fn with_seams(subscriptions: Rc<dyn Subscriptions>, start_writer: Writers) -> Self {
        Normalizer { subscriptions, start_writer, writers: HashMap::new() }
    }

    fn writer(&mut self, schema: &TenantSchema) -> Recipient<Append> {
        let start = &self.start_writer;
        self.writers.entry(schema.clone()).or_insert_with(|| start(schema)).clone()
    }
}

impl Actor for Normalizer {
    type Context = Context<Self>;
}

impl Handler<Ingest> for Normalizer {
    type Result = ();

    fn handle(&mut self, msg: Ingest, _ctx: &mut Context<Self>) {
        let q = msg.queue.clone();
        let provenance = Provenance::now(Some(q.account_id.0));
        // Nearly every message holds one record, and a Record is ~1.1 KB: growing the vector
        // by doubling copied them over and over (docs/performance.md, Runtime).
        let mut messages = Vec::with_capacity(msg.messages.len());
        // Each with its position in the Ingest: what the ack names when it is kept.
        let mut confirmations = Vec::new();
        for (i, m) in msg.messages.into_iter().enumerate() {
            match decode(m.body, q.queue_url.clone(), Some(m.message_id), provenance) {
                DecodedBody::Ledger(d) => messages.push(d),
                DecodedBody::Confirmation { body, message_id, confirmation } => {
                    let m = SqsMessage { message_id: message_id.unwrap_or_default(), body, receive_count: m.receive_count };
                    confirmations.push((i, m, confirmation));
                }
            }
        }
        if let Some(memory) = &msg.memory {
            // The rows take about as much again as the records' text (column buffers).
            let rows: usize = messages
                .iter()
                .map(|m| match m {
                    Decoded::Records { records, .. } => records.iter().map(|r| r.raw().len()).sum(),
                    Decoded::Quarantined(_) => 0,
                })
                .sum();
            memory.grow(rows as u64);
        }
        let writer = self.writer(&q.schema);
        if confirmations.is_empty() {
            // The common case: nothing to wait for before the writer.
            writer.do_send(Append { messages, kept: Vec::new(), ack: msg.ack });
            return;
        }
        let subscriptions = self.subscriptions.clone();
        actix::spawn(async move {
            let mut kept = Vec::new();
            for (i, m, c) in confirmations {
                match confirm(subscriptions.as_ref(), &q, &m, &c).await {
                    Confirmation::Confirmed => {}
                    Confirmation::Refused(entry) => messages.push(Decoded::Quarantined(entry)),
                    Confirmation::Failed(e) if m.receive_count >= CONFIRM_ATTEMPTS => {
                        messages.push(Decoded::Quarantined(QuarantineEntry {
                            body: m.body.clone(),
                            reason_code: QuarantineReason::ConfirmationFailed,
                            reason: format!("gave up after {} receives: {e}", m.receive_count),
                            source: q.queue_url.to_string(),
                            message_id: Some(m.message_id.clone()),
                            provenance,
                        }));
                    }
                    // Amazon sends a confirmation once: its message stays on the queue to be
                    // tried again; the rest of the receive is committed as usual.
                    Confirmation::Failed(e) => kept.push((i, NotCommitted::ConfirmationFailed(e))),
                }
            }
            writer.do_send(Append { messages, kept, ack: msg.ack });
        });
    }
}

enum Confirmation {
    Confirmed,
    /// Not Amazon's: never confirmed, quarantined.
    Refused(QuarantineEntry),
    /// Amazon's, but SNS said no (or was unreachable): retried on redelivery.
    Failed(String),
}

/// Confirms an Amazon subscription, or refuses; records the outcome.
async fn confirm(subscriptions: &dyn Subscriptions, q: &QueueContext, m: &SqsMessage, c: &SubscriptionConfirmation) -> Confirmation {
    let provenance = Provenance::now(Some(q.account_id.0));
    let amazon = confirmable(&c.topic_arn, c.subscribe_url.as_deref());
    let (status, dataset, error) = match &amazon {
        Ok((dataset, realm)) => match subscriptions.confirm(q, realm.region(), c).await {
            Ok(()) => (ConfirmationStatus::Confirmed, Some(*dataset), None),
            Err(e) => (ConfirmationStatus::ConfirmationFailed, Some(*dataset), Some(e)),
        },
        Err(reason) => (ConfirmationStatus::Refused, None, Some(reason.clone())),
    };
    tracing::info!(topic = %c.topic_arn, status = status.as_str(), queue = %q.queue_url, "subscription confirmation");
    // A marketplace id is readable from Amazon's topic names (…-<dataset>-<marketplace>-…).
    let marketplace = dataset.and_then(|d| {
        let name = c.topic_arn.rsplit(':').next()?;
        let after = name.split(&format!("-{d}-")).nth(1)?;
        Some(after.split('-').next()?.to_owned())
    });
    // The Marketing Stream subscription it belongs to (same queue, dataset, marketplace).
    let queue_arn = amazon.as_ref().ok().and_then(|(_, realm)| ams_model::queue_arn(&q.queue_url, realm.region()));
    let record = ConfirmationRecord {
        account_id: Some(q.account_id),
        queue_id: Some(q.queue_id),
        message_id: &m.message_id,
        topic_arn: &c.topic_arn,
        dataset_id: dataset,
        marketplace_id: marketplace.as_deref(),
        status,
        error: error.as_deref(),
    };
    subscriptions.record(record, queue_arn).await;
    match (status, error) {
        (ConfirmationStatus::Refused, error) => Confirmation::Refused(QuarantineEntry {
            body: m.body.clone(),
            reason_code: QuarantineReason::RefusedConfirmation,
            reason: format!("subscription confirmation not confirmed: {}", error.unwrap_or_default()),
            source: q.queue_url.to_string(),
            message_id: Some(m.message_id.clone()),
            provenance,
        }),
        (_, Some(e)) => Confirmation::Failed(e),
        (_, None) => Confirmation::Confirmed,
    }
}

#[cfg(test)]
#[path = "normalizer_tests.rs"]
mod actor_tests;
