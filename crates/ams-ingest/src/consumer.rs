//! QueueConsumer: one per registered queue. Long-polls SQS (`WaitTimeSeconds` 20, 10 messages,
//! `SentTimestamp` and `ApproximateReceiveCount`), hands the bodies to the normalizer, and
//! deletes them (`DeleteMessageBatch`) only when their transaction has committed. While a
//! batch waits, its visibility is extended. A semaphore bounds the messages in flight: a slow
//! database stops the receiving instead of filling memory. A busy queue (full receives) gets
//! more concurrent polls, up to `max_pollers`; an idle one keeps a single poll.
//!
//! `Stop` is graceful: no new receive, in-flight batches are committed and deleted, then the
//! consumer reports to the supervisor and ends. A receive error ends it too, with the error.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::{oneshot, watch, OwnedSemaphorePermit, Semaphore};
use tracing::Instrument;

use crate::events::{InternalEvent, VisibilityExtensionFailed};
use crate::pipeline::{Committed, Ingest, NotCommitted, QueueContext, SqsMessage};
use crate::queue::{Queue, SqsClient, SqsError};
use crate::status::{ConsumerFailure, ConsumerState, ConsumerStatus, Counters};
use crate::supervisor::ConsumerExited;
use crate::RuntimeConfig;

const RECEIVE_MAX: usize = 10;

#[derive(Message)]
#[rtype(result = "()")]
pub struct Stop;

/// Let go of the queue now, without waiting for commits: this replica has lost (or cannot
/// renew) its lease, so another one may be consuming the queue. No receive, no visibility
/// extension; what is held is made visible again at once for the new owner. A commit that
/// still happens later is harmless (the ledger ignores records it has).
#[derive(Message)]
#[rtype(result = "()")]
pub struct LetGo;

pub struct QueueConsumer {
    shared: Rc<Shared>,
    stop: watch::Sender<bool>,
    let_go: watch::Sender<bool>,
    supervisor: Recipient<ConsumerExited>,
}

struct Shared {
    queue: Arc<QueueContext>,
    /// The queue's SQS (queue/): the thin client, the SDK, or a test's in-memory queue.
    sqs: Arc<dyn Queue>,
    normalizer: Recipient<Ingest>,
    config: RuntimeConfig,
    status: Arc<ConsumerStatus>,
    in_flight: Arc<Semaphore>,
    pollers: Cell<usize>,
    /// True once the consumer was told to [`LetGo`].
    let_go: watch::Receiver<bool>,
    budget: Arc<crate::budget::MemoryBudget>,
    /// The tenant's slug, as the budget keys its shares (shared, not copied, by every receive).
    budget_key: Arc<str>,
}

impl QueueConsumer {
    pub fn new(
        queue: Arc<QueueContext>,
        sqs: Arc<dyn Queue>,
        normalizer: Recipient<Ingest>,
        config: RuntimeConfig,
        status: Arc<ConsumerStatus>,
        budget: Arc<crate::budget::MemoryBudget>,
        supervisor: Recipient<ConsumerExited>,
    ) -> Self {
        let in_flight = Arc::new(Semaphore::new(config.max_in_flight));
        let (stop, _) = watch::channel(false);
        let (let_go, let_go_rx) = watch::channel(false);
        let budget_key = queue.schema.slug().as_str().into();
        let shared = Rc::new(Shared {
            budget_key,
            queue,
            sqs,
            normalizer,
            config,
            status,
            in_flight,
            pollers: Cell::new(0),
            let_go: let_go_rx,
            budget,
        });
        QueueConsumer { shared, stop, let_go, supervisor }
    }
}

/// The queue's SQS client of the configured kind, in the queue's region.
pub fn connect(queue: &QueueContext, client: SqsClient) -> Result<Arc<dyn Queue>, SqsError> {
    let region = queue_region(&queue.queue_url).unwrap_or_else(|| queue.region.clone());
    Ok(match client {
        SqsClient::Thin => Arc::new(queue.aws.sqs_fast(&region)?),
        SqsClient::Sdk => Arc::new(crate::queue::SdkQueue::new(queue.aws.sqs(&region))),
    })
}

/// The region of a real SQS URL (`https://sqs.<region>.amazonaws.com/...`); None for an
/// emulator's, whose region is then the one registered with the queue.
fn queue_region(url: &str) -> Option<String> {
    let host = url.split("://").nth(1)?.split('/').next()?;
    let region = host.strip_prefix("sqs.")?.strip_suffix(".amazonaws.com")?;
    Some(region.to_owned())
}

impl Actor for QueueConsumer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let shared = self.shared.clone();
        let stop = self.stop.subscribe();
        let q = &self.shared.queue;
        let span = tracing::info_span!("consumer", tenant = %q.schema, account = %q.account_id, queue = %q.queue_url);
        let run = async move {
            // While it runs, the consumer's tenant is owed its share of the memory budget.
            let _slot = shared.budget.consumer(&shared.budget_key);
            let result = poll(shared.clone(), stop, true).await;
            // Every in-flight batch holds permits until it is committed and deleted (or given up).
            let all = shared.config.max_in_flight as u32;
            let _ = shared.in_flight.acquire_many(all).await;
            result
        }
        .instrument(span.clone());
        if self.shared.config.queue_attributes_secs > 0 {
            ctx.spawn(backlog(self.shared.clone(), self.stop.subscribe()).instrument(span).into_actor(self));
        }
        ctx.spawn(run.into_actor(self).map(|result, act, ctx| {
            let error = match result {
                Ok(()) if *act.shared.let_go.borrow() => Some(ConsumerFailure {
                    kind: crate::status::FailureKind::Database,
                    message: "let go of the queue: the lease could not be renewed (database unreachable?)".to_owned(),
                }),
                other => other.err(),
            };
            act.supervisor.do_send(ConsumerExited { queue_id: act.shared.queue.queue_id, error });
            ctx.stop();
        }));
    }
}

impl Handler<Stop> for QueueConsumer {
    type Result = ();
    fn handle(&mut self, _: Stop, _: &mut Context<Self>) {
        let _ = self.stop.send(true);
    }
}

impl Handler<LetGo> for QueueConsumer {
    type Result = ();
    fn handle(&mut self, _: LetGo, _: &mut Context<Self>) {
        let _ = self.let_go.send(true);
        let _ = self.stop.send(true);
    }
}

/// Polls the queue's approximate backlog for the status API until the consumer stops. A
/// failure only leaves the last figures in place: receiving is what matters.
async fn backlog(shared: Rc<Shared>, mut stop: watch::Receiver<bool>) {
    let every = Duration::from_secs(shared.config.queue_attributes_secs);
    // Spread the first polls over the interval: a thousand consumers starting together must not
    // all call GetQueueAttributes at once (a burst of requests and memory).
    let offset = (shared.queue.queue_id.0.as_u128() % every.as_millis().max(1)) as u64;
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_millis(offset)) => {}
        _ = stop.changed() => return,
    }
    loop {
        match shared.sqs.backlog(&shared.queue.queue_url).await {
            Ok(b) => {
                let c = &shared.status.counters;
                c.approximate_visible.store(b.visible, Ordering::Relaxed);
                c.approximate_in_flight.store(b.in_flight, Ordering::Relaxed);
                c.approximate_unix_ms.store(chrono::Utc::now().timestamp_millis(), Ordering::Relaxed);
            }
            Err(e) => tracing::debug!(error = %e, "GetQueueAttributes failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
    }
}

async fn poll(shared: Rc<Shared>, mut stop: watch::Receiver<bool>, primary: bool) -> Result<(), ConsumerFailure> {
    shared.pollers.set(shared.pollers.get() + 1);
    let result = poll_loop(&shared, &mut stop, primary).await;
    shared.pollers.set(shared.pollers.get() - 1);
    result
}

async fn poll_loop(shared: &Rc<Shared>, stop: &mut watch::Receiver<bool>, primary: bool) -> Result<(), ConsumerFailure> {
    let q = &shared.queue;
    loop {
        if *stop.borrow() {
            return Ok(());
        }
        let permits = tokio::select! {
            p = shared.in_flight.clone().acquire_many_owned(RECEIVE_MAX as u32) => p.expect("semaphore open"),
            _ = stop.changed() => return Ok(()),
        };
        // Room in the process's memory budget for what this receive may bring (budget.rs):
        // when the budget is full, or this tenant holds its share while others wait, the
        // receive waits; nothing is dropped.
        let memory = tokio::select! {
            m = shared.budget.admit(&shared.budget_key, crate::budget::RECEIVE_RESERVE) => m,
            _ = stop.changed() => return Ok(()),
        };
        let stopping = stop.clone();
        let keep_trying = move || !*stopping.borrow();
        let receive = shared.sqs.receive(
            &q.queue_url,
            RECEIVE_MAX as i32,
            shared.config.wait_seconds,
            shared.config.visibility_secs,
            &keep_trying,
            &memory,
        );
        // A receive in progress is not cancelled at Stop: SQS may already have handed its
        // messages to us, and dropping them would leave them invisible until their timeout.
        // The poll ends within WaitTimeSeconds (≤ 20 s) plus the client's request margin (a
        // dead connection), its messages are committed, and a failed attempt is not retried
        // once stopping.
        let messages = receive
            .await
            .map_err(|e| ConsumerFailure { kind: e.kind(), message: format!("ReceiveMessage: {e}") })?;
        if primary {
            shared.status.set(ConsumerState::Running, None);
        }
        if messages.is_empty() {
            if primary {
                continue;
            }
            return Ok(()); // a helper poller ends when the queue runs dry
        }
        memory.set(messages.iter().map(|m| (m.body.len() + m.receipt_handle.len() + m.message_id.len()) as u64).sum());
        let mut permits = permits;
        if messages.len() < RECEIVE_MAX {
            drop(permits.split(RECEIVE_MAX - messages.len()));
        }
        let counters = &shared.status.counters;
        Counters::add(&counters.received, messages.len());
        let now_ms = chrono::Utc::now().timestamp_millis();
        counters.last_receive_unix_ms.store(now_ms, Ordering::Relaxed);
        let full = messages.len() == RECEIVE_MAX;
        // How long the oldest message of this receive waited in the queue (SentTimestamp).
        let oldest = messages
            .iter()
            .filter_map(|m| m.attributes.sent_timestamp.as_deref()?.parse::<i64>().ok())
            .min();
        if let Some(sent) = oldest {
            counters.oldest_received_age_ms.store((now_ms - sent).max(0), Ordering::Relaxed);
        }
        // One span per batch, from receive to delete (exported over OTLP when configured),
        // naming the SQS messages it holds.
        let span = tracing::info_span!(
            "sqs.batch",
            otel.kind = "consumer",
            messaging.system = "aws_sqs",
            messaging.destination.name = %q.queue_url,
            messaging.batch.message_count = messages.len(),
            messaging.message.ids = %messages.iter().map(|m| m.message_id.as_str()).collect::<Vec<_>>().join(","),
        );
        let mut receipts = Vec::with_capacity(messages.len());
        let mut bodies = Vec::with_capacity(messages.len());
        for m in messages {
            let receive_count = m.attributes.approximate_receive_count.as_deref().and_then(|v| v.parse().ok()).unwrap_or(1);
            receipts.push(m.receipt_handle);
            bodies.push(SqsMessage { message_id: m.message_id, body: m.body, receive_count });
        }
        let (tx, rx) = oneshot::channel();
        shared.normalizer.do_send(Ingest { queue: q.clone(), messages: bodies, ack: tx, memory: Some(memory.clone()) });
        actix::spawn(settle(shared.clone(), receipts, rx, (permits, memory)).instrument(span));
        if full && shared.pollers.get() < shared.config.max_pollers {
            actix::spawn(poll(shared.clone(), stop.clone(), false).in_current_span());
        }
    }
}

/// Waits for the commit of one receive's messages, extending their visibility meanwhile, then
/// deletes them. Not committed: nothing is deleted and SQS redelivers after the timeout.
async fn settle(
    shared: Rc<Shared>,
    receipts: Vec<String>,
    mut committed: oneshot::Receiver<Result<Committed, NotCommitted>>,
    // Messages and bytes in flight: both given back when this batch is done.
    permits: (OwnedSemaphorePermit, crate::budget::Reservation),
) {
    let q = &shared.queue;
    let extend_every = Duration::from_secs((shared.config.visibility_secs.max(2) / 2) as u64);
    let mut let_go = shared.let_go.clone();
    let result = loop {
        tokio::select! {
            r = &mut committed => break r.unwrap_or(Err(NotCommitted::Stopped("writer"))),
            Ok(_) = let_go.wait_for(|v| *v) => {
                // Visible again now, for the replica that holds the lease (best effort: at
                // worst they come back when their visibility timeout ends).
                let released = shared.sqs.change_visibility_batch(&q.queue_url, &receipts, 0).await;
                tracing::warn!(queue = %q.queue_url, messages = receipts.len(), released = released.is_ok(),
                    "let go of uncommitted messages: they are visible to the lease's new owner");
                drop(permits);
                return;
            }
            _ = tokio::time::sleep(extend_every) => {
                // A failure is counted and logged; the batch still waits for its commit (at worst
                // SQS redelivers its messages, and the ledger ignores them).
                match shared.sqs.change_visibility_batch(&q.queue_url, &receipts, shared.config.visibility_secs).await {
                    Ok(0) => {}
                    Ok(failed) => VisibilityExtensionFailed { queue: &q.queue_url, messages: failed as u64, error: None }.emit(),
                    Err(e) => {
                        VisibilityExtensionFailed { queue: &q.queue_url, messages: receipts.len() as u64, error: Some(&e) }.emit()
                    }
                }
            }
        }
    };
    match result {
        Ok(done) => {
            // Every receipt but the kept ones (a confirmation to try again): those stay on the
            // queue alone and come back after their visibility timeout.
            let deleted: Vec<String> = if done.kept.is_empty() {
                receipts
            } else {
                for (i, why) in &done.kept {
                    tracing::warn!(queue = %q.queue_url, message = i, error = %why, "message not committed; SQS will redeliver it");
                }
                receipts.into_iter().enumerate().filter(|(i, _)| !done.kept.iter().any(|(k, _)| k == i)).map(|(_, r)| r).collect()
            };
            if !deleted.is_empty() {
                match shared.sqs.delete_batch(&q.queue_url, &deleted).await {
                    Ok(0) => {}
                    Ok(failed) => {
                        tracing::warn!(queue = %q.queue_url, failed, "some deletes failed; they will be redelivered and ignored as duplicates");
                    }
                    Err(e) => {
                        tracing::warn!(queue = %q.queue_url, error = %e, "delete failed; the messages will be redelivered and ignored as duplicates");
                    }
                }
            }
            let counters = &shared.status.counters;
            Counters::add(&counters.committed, deleted.len());
            Counters::add(&counters.quarantined, done.quarantined);
            Counters::add(&counters.truncated, done.truncated as usize);
            for (c, n) in counters.records.iter().zip(done.records) {
                Counters::add(c, n as usize);
            }
        }
        Err(e) => {
            tracing::warn!(queue = %q.queue_url, error = %e, messages = receipts.len(), "batch not committed; SQS will redeliver it");
        }
    }
    drop(permits);
}

#[cfg(test)]
#[path = "consumer_tests.rs"]
mod actor_tests;

#[cfg(test)]
mod tests {
    #[test]
    fn regions_come_from_real_queue_urls_only() {
        assert_eq!(super::queue_region("https://sqs.eu-west-1.amazonaws.com/123/q").as_deref(), Some("eu-west-1"));
        assert_eq!(super::queue_region("http://127.0.0.1:5000/123456789012/q"), None);
    }
}
