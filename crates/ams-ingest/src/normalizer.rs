//! Normalizer: turns SQS bodies into ledger rows for the right tenant. Records go to the
//! tenant's writer; unreadable bodies to its quarantine; SNS subscription confirmations are
//! confirmed through the SNS API (`ConfirmSubscription` in the topic's region, with the
//! account's credentials) only when the topic is Amazon's for a dataset in that realm
//! (docs/ams.md §5). Every confirmation is recorded in `control.subscriptions`; one refused is
//! also quarantined. No URL taken from a message is ever fetched.

use std::collections::HashMap;

use actix::prelude::*;
use ams_model::{confirmable, QuarantineReason, SubscriptionConfirmation};
use ams_store::control::registry::ConfirmationRecord;
use ams_store::{Provenance, QuarantineEntry, Store, TenantSchema};
use tokio::sync::oneshot;

use crate::decode::{decode, DecodedBody};
use crate::pipeline::{Append, Decoded, Ingest, NotCommitted, QueueContext, SqsMessage};
use crate::writer::TenantWriter;
use crate::RuntimeConfig;

/// Receives after which a confirmation that SNS keeps rejecting is quarantined.
const CONFIRM_ATTEMPTS: u32 = 5;

pub struct Normalizer {
    store: Store,
    config: RuntimeConfig,
    writers: HashMap<TenantSchema, Addr<TenantWriter>>,
    shutdown: crate::shutdown::ShutdownSignal,
}

impl Normalizer {
    /// `shutdown` tells the writers when to stop retrying failed writes.
    pub fn new(store: Store, config: RuntimeConfig, shutdown: crate::shutdown::ShutdownSignal) -> Self {
        Normalizer { store, config, writers: HashMap::new(), shutdown }
    }

    fn writer(&mut self, schema: &TenantSchema) -> Addr<TenantWriter> {
        let (store, config, stop) = (&self.store, &self.config, &self.shutdown);
        self.writers
            .entry(schema.clone())
            .or_insert_with(|| TenantWriter::new(store, schema.clone(), config.clone(), stop.clone()).start())
            .clone()
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
        let mut confirmations = Vec::new();
        for m in msg.messages {
            match decode(m.body, q.queue_url.clone(), Some(m.message_id), provenance) {
                DecodedBody::Ledger(d) => messages.push(d),
                DecodedBody::Confirmation { body, message_id, confirmation } => {
                    let m = SqsMessage { message_id: message_id.unwrap_or_default(), body, receive_count: m.receive_count };
                    confirmations.push((m, confirmation));
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
            // The common case: the writer answers the consumer itself.
            writer.do_send(Append { messages, ack: msg.ack });
            return;
        }
        let store = self.store.clone();
        actix::spawn(async move {
            let mut failed = None;
            for (m, c) in confirmations {
                match confirm(&store, &q, &m, &c).await {
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
                    Confirmation::Failed(e) => failed = Some(e),
                }
            }
            let (tx, rx) = oneshot::channel();
            writer.do_send(Append { messages, ack: tx });
            let result = match (rx.await, failed) {
                // Amazon sends a confirmation once: keep it on the queue to try again later.
                (Ok(Ok(_)), Some(e)) => Err(NotCommitted::ConfirmationFailed(e)),
                (Ok(r), None) => r,
                (Ok(Err(e)), _) => Err(e),
                (Err(_), _) => Err(NotCommitted::Stopped("writer")),
            };
            let _ = msg.ack.send(result);
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
async fn confirm(store: &Store, q: &QueueContext, m: &SqsMessage, c: &SubscriptionConfirmation) -> Confirmation {
    let provenance = Provenance::now(Some(q.account_id.0));
    let (status, dataset, error, refused) = match confirmable(&c.topic_arn, c.subscribe_url.as_deref()) {
        Ok((dataset, realm)) => {
            let sns = q.aws.sns(realm.region());
            match sns.confirm_subscription().topic_arn(&c.topic_arn).token(&c.token).send().await {
                Ok(_) => ("confirmed", Some(dataset), None, false),
                Err(e) => ("confirmation_failed", Some(dataset), Some(format!("ConfirmSubscription: {}", crate::aws::describe(&e))), false),
            }
        }
        Err(reason) => ("refused", None, Some(reason), true),
    };
    tracing::info!(topic = %c.topic_arn, status, queue = %q.queue_url, "subscription confirmation");
    // A marketplace id is readable from Amazon's topic names (…-<dataset>-<marketplace>-…).
    let marketplace = dataset.and_then(|d| {
        let name = c.topic_arn.rsplit(':').next()?;
        let after = name.split(&format!("-{d}-")).nth(1)?;
        Some(after.split('-').next()?.to_owned())
    });
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
    if let Err(e) = store.record_confirmation(&record).await {
        tracing::warn!(error = %e, "could not record a subscription confirmation");
    }
    // The Marketing Stream subscription it belongs to (same queue, dataset, marketplace).
    if let (Some(d), Ok((_, realm)), "confirmed") = (dataset, confirmable(&c.topic_arn, c.subscribe_url.as_deref()), status) {
        if let Some(arn) = ams_model::queue_arn(&q.queue_url, realm.region()) {
            if let Err(e) = store.stream_confirmed(&arn, d, marketplace.as_deref()).await {
                tracing::warn!(error = %e, "could not mark a Marketing Stream subscription confirmed");
            }
        }
    }
    match (refused, error) {
        (true, error) => Confirmation::Refused(QuarantineEntry {
            body: m.body.clone(),
            reason_code: QuarantineReason::RefusedConfirmation,
            reason: format!("subscription confirmation not confirmed: {}", error.unwrap_or_default()),
            source: q.queue_url.to_string(),
            message_id: Some(m.message_id.clone()),
            provenance,
        }),
        (false, Some(e)) => Confirmation::Failed(e),
        (false, None) => Confirmation::Confirmed,
    }
}
