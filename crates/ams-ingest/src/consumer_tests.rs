//! The consumer on paused tokio time with the in-memory queue (no network, no database): the
//! normalizer is replaced by a committer the test drives (commit, hold, fail), the supervisor
//! by a recorder of how the consumer ended. Virtual time makes visibility timeouts and long
//! polls pass in microseconds and exactly.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use ams_store::{TenantSchema, TenantSlug};
use tokio::time::Instant;
use uuid::Uuid;

use super::{LetGo, QueueConsumer, Stop};
use crate::pipeline::{Committed, Ingest, IngestAck, NotCommitted, QueueContext};
use crate::queue::memory::{Call, MemoryQueue};
use crate::queue::SqsError;
use crate::status::FailureKind;
use crate::status::{ConsumerFailure, ConsumerState, ConsumerStatus, Counters};
use crate::supervisor::ConsumerExited;
use crate::RuntimeConfig;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Commit,
    Hold,
    /// Fail this many ingests, then commit.
    Fail(usize),
    /// Commit every message but the one of this id (as a confirmation SNS refused for now).
    Keep(&'static str),
}

#[derive(Default)]
struct Seen {
    /// (message id, receive count) of every message handed over, in order.
    messages: Vec<(String, u32)>,
    held: Vec<(IngestAck, usize)>,
}

struct Committer {
    mode: Rc<RefCell<Mode>>,
    seen: Rc<RefCell<Seen>>,
}

impl Actor for Committer {
    type Context = Context<Self>;
}

impl Handler<Ingest> for Committer {
    type Result = ();
    fn handle(&mut self, msg: Ingest, _: &mut Context<Self>) {
        let mut seen = self.seen.borrow_mut();
        seen.messages.extend(msg.messages.iter().map(|m| (m.message_id.clone(), m.receive_count)));
        let mut mode = self.mode.borrow_mut();
        match *mode {
            Mode::Commit => {
                let _ = msg.ack.send(Ok(Committed::default()));
            }
            Mode::Hold => seen.held.push((msg.ack, msg.messages.len())),
            Mode::Keep(id) => {
                let kept = msg.messages.iter().position(|m| m.message_id == id);
                let kept = kept.map(|i| (i, NotCommitted::ConfirmationFailed("SNS said no".into()))).into_iter().collect();
                let _ = msg.ack.send(Ok(Committed { kept, ..Committed::default() }));
            }
            Mode::Fail(n) => {
                let _ = msg.ack.send(Err(NotCommitted::GivenUp("connection refused".into())));
                *mode = if n > 1 { Mode::Fail(n - 1) } else { Mode::Commit };
            }
        }
    }
}

struct Exits(Rc<RefCell<Vec<Option<ConsumerFailure>>>>);

impl Actor for Exits {
    type Context = Context<Self>;
}

impl Handler<ConsumerExited> for Exits {
    type Result = ();
    fn handle(&mut self, msg: ConsumerExited, _: &mut Context<Self>) {
        self.0.borrow_mut().push(msg.error);
    }
}

struct Harness {
    queue: Arc<MemoryQueue>,
    consumer: Addr<QueueConsumer>,
    mode: Rc<RefCell<Mode>>,
    seen: Rc<RefCell<Seen>>,
    exits: Rc<RefCell<Vec<Option<ConsumerFailure>>>>,
    status: Arc<ConsumerStatus>,
}

fn config() -> RuntimeConfig {
    RuntimeConfig { visibility_secs: 10, max_in_flight: 20, max_pollers: 1, queue_attributes_secs: 0, ..RuntimeConfig::default() }
}

impl Harness {
    fn start(config: RuntimeConfig, mode: Mode, queue: Arc<MemoryQueue>) -> Harness {
        Self::start_within(config, mode, queue, crate::budget::MemoryBudget::new(64 << 20))
    }

    /// A consumer drawing on `budget` (shared by several harnesses: queues of one process).
    fn start_within(config: RuntimeConfig, mode: Mode, queue: Arc<MemoryQueue>, budget: Arc<crate::budget::MemoryBudget>) -> Harness {
        let url = "https://sqs.us-east-1.amazonaws.com/123456789012/ams";
        let slug = TenantSlug::parse("acme").unwrap();
        let ctx = Arc::new(QueueContext {
            queue_id: ams_store::QueueId(Uuid::new_v4()),
            queue_url: url.into(),
            region: "us-east-1".into(),
            account_id: ams_store::AccountId(Uuid::new_v4()),
            schema: TenantSchema::of(&slug),
            aws: crate::AccountAws::offline(),
        });
        let status = Arc::new(ConsumerStatus {
            queue_id: ctx.queue_id,
            queue_url: url.into(),
            tenant: slug.clone(),
            account_id: ctx.account_id,
            state: std::sync::Mutex::new((ConsumerState::Starting, None)),
            restarts: Default::default(),
            counters: Arc::new(Counters::default()),
        });
        let mode = Rc::new(RefCell::new(mode));
        let seen = Rc::new(RefCell::new(Seen::default()));
        let exits = Rc::new(RefCell::new(Vec::new()));
        let committer = Committer { mode: mode.clone(), seen: seen.clone() }.start();
        let recorder = Exits(exits.clone()).start();
        let consumer = QueueConsumer::new(
            ctx,
            queue.clone(),
            committer.recipient(),
            config,
            status.clone(),
            budget,
            recorder.recipient(),
        )
        .start();
        Harness { queue, consumer, mode, seen, exits, status }
    }

    fn held(&self) -> usize {
        self.seen.borrow().held.iter().map(|(_, n)| n).sum()
    }

    /// Answers every held batch: committed, or not.
    fn release(&self, commit: bool) {
        for (ack, _) in self.seen.borrow_mut().held.drain(..) {
            let _ = ack.send(if commit { Ok(Committed::default()) } else { Err(NotCommitted::Stopped("test")) });
        }
    }

    fn committed(&self) -> i64 {
        self.status.counters.committed.load(Ordering::Relaxed)
    }
}

fn filled(n: usize) -> Arc<MemoryQueue> {
    let q = Arc::new(MemoryQueue::new());
    for i in 0..n {
        q.send(format!("body {i}"));
    }
    q
}

/// Waits (in virtual time) until `cond`; fails after ten virtual minutes.
async fn until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(600);
    while !cond() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix::test]
async fn messages_are_deleted_only_after_their_commit_and_stay_invisible_while_held() {
    tokio::time::pause();
    let h = Harness::start(config(), Mode::Hold, filled(5));
    until("5 messages held", || h.held() == 5).await;
    // A minute on, six visibility timeouts: each was extended, none was redelivered or deleted.
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!((h.queue.deleted(), h.queue.in_flight()), (0, 5));
    assert!(h.seen.borrow().messages.iter().all(|(id, _)| h.queue.receive_count(id) == 1));
    assert!(h.queue.calls(Call::ChangeVisibility) >= 10, "extended every visibility_secs / 2");
    assert_eq!(h.committed(), 0);
    h.release(true);
    until("the 5 deleted", || h.queue.deleted() == 5).await;
    assert!(h.queue.is_empty());
    until("the status to count them", || h.committed() == 5).await;
}

#[actix::test]
async fn the_in_flight_limit_stops_receiving_until_commits_make_room() {
    tokio::time::pause();
    let h = Harness::start(config(), Mode::Hold, filled(50));
    until("20 messages held", || h.held() == 20).await;
    tokio::time::sleep(Duration::from_secs(45)).await;
    assert_eq!(h.queue.in_flight(), 20, "no receive past max_in_flight");
    assert_eq!(h.held(), 20);
    *h.mode.borrow_mut() = Mode::Commit;
    h.release(true);
    until("all 50 deleted", || h.queue.deleted() == 50).await;
    assert_eq!(h.seen.borrow().messages.len(), 50, "each handed over once");
}

#[actix::test]
async fn a_batch_not_committed_is_redelivered_after_its_timeout_never_deleted() {
    tokio::time::pause();
    let h = Harness::start(config(), Mode::Fail(1), filled(3));
    until("the 3 deleted", || h.queue.deleted() == 3).await;
    let seen = h.seen.borrow().messages.clone();
    assert_eq!(seen.len(), 6, "{seen:?}");
    assert!(seen[..3].iter().all(|(_, n)| *n == 1) && seen[3..].iter().all(|(_, n)| *n == 2), "{seen:?}");
    assert_eq!(h.queue.calls(Call::Delete), 1, "only the committed delivery is deleted");
    assert_eq!(h.committed(), 3);
}

/// One message the pipeline keeps (a confirmation SNS refused for now) is the only one of its
/// receive left on the queue: the other nine are deleted, and it comes back alone.
#[actix::test]
async fn a_kept_message_is_redelivered_alone_and_the_rest_of_its_receive_is_deleted() {
    tokio::time::pause();
    let q = filled(10);
    let h = Harness::start(config(), Mode::Keep("m-4"), q);
    until("nine deleted", || h.queue.deleted() == 9).await;
    assert_eq!(h.queue.len(), 1, "only the kept message is left");
    assert_eq!(h.committed(), 9);
    // After its visibility timeout it is received again, alone.
    until("the kept message redelivered", || h.queue.receive_count("m-4") == 2).await;
    let seen = h.seen.borrow().messages.clone();
    assert_eq!(seen.iter().filter(|(id, _)| id == "m-4").count(), 2, "{seen:?}");
    assert_eq!(seen.iter().filter(|(id, _)| id != "m-4").count(), 9, "no other message came back: {seen:?}");
}

#[actix::test]
async fn at_least_once_duplicates_are_both_handed_over_and_both_deleted() {
    tokio::time::pause();
    let q = filled(2);
    q.duplicate_next(2);
    let h = Harness::start(config(), Mode::Commit, q);
    until("the 2 deleted", || h.queue.is_empty()).await;
    assert_eq!(h.seen.borrow().messages.len(), 4);
    assert_eq!(h.committed(), 4, "the status counts deliveries");
}

#[actix::test]
async fn stop_receives_nothing_new_commits_what_is_held_then_reports() {
    tokio::time::pause();
    let h = Harness::start(config(), Mode::Hold, filled(5));
    until("5 held", || h.held() == 5).await;
    h.consumer.do_send(Stop);
    // The long poll in progress at Stop is not cancelled (SQS may be handing it messages);
    // once it ends, nothing new is received.
    tokio::time::sleep(Duration::from_secs(21)).await;
    let receives = h.queue.calls(Call::Receive);
    for i in 0..5 {
        h.queue.send(format!("after stop {i}"));
    }
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(h.queue.calls(Call::Receive), receives, "a receive after Stop");
    assert!(h.exits.borrow().is_empty(), "a held batch keeps the consumer until its commit");
    h.release(true);
    until("the consumer to report", || !h.exits.borrow().is_empty()).await;
    assert_eq!(h.exits.borrow()[0], None, "a clean stop");
    assert_eq!(h.queue.deleted(), 5);
    assert_eq!((h.queue.len(), h.queue.in_flight()), (5, 0), "nothing received after Stop");
}

#[actix::test]
async fn let_go_makes_held_messages_visible_at_once_and_reports_a_database_failure() {
    tokio::time::pause();
    let h = Harness::start(config(), Mode::Hold, filled(5));
    until("5 held", || h.held() == 5).await;
    h.consumer.do_send(LetGo);
    until("the consumer to report", || !h.exits.borrow().is_empty()).await;
    let exit = h.exits.borrow()[0].clone().expect("letting go is a failure");
    assert_eq!(exit.kind, FailureKind::Database);
    assert_eq!((h.queue.len(), h.queue.in_flight(), h.queue.deleted()), (5, 0, 0), "visible again for the new owner");
}

#[actix::test]
async fn a_receive_failure_ends_the_consumer_with_its_kind() {
    tokio::time::pause();
    let q = filled(0);
    q.fail_next(Call::Receive, SqsError::Service {
        status: 400,
        code: "AWS.SimpleQueueService.NonExistentQueue".into(),
        message: "The specified queue does not exist.".into(),
        server_date: None,
    });
    let h = Harness::start(config(), Mode::Commit, q);
    until("the consumer to report", || !h.exits.borrow().is_empty()).await;
    let exit = h.exits.borrow()[0].clone().expect("a failure");
    assert_eq!(exit.kind, FailureKind::QueueMissing);
    assert!(exit.message.contains("NonExistentQueue"), "{}", exit.message);
}

#[actix::test]
async fn an_idle_queue_costs_one_long_poll_per_wait() {
    tokio::time::pause();
    let h = Harness::start(config(), Mode::Commit, filled(0));
    tokio::time::sleep(Duration::from_secs(200)).await;
    // 20 s long polls: ten (or eleven, the one in progress) in 200 s, whatever the pollers.
    let receives = h.queue.calls(Call::Receive);
    assert!((10..=11).contains(&receives), "{receives} receives");
    h.queue.send("late");
    until("the late one deleted", || h.queue.deleted() == 1).await;
}

#[actix::test]
async fn many_busy_queues_never_hold_more_than_the_budget() {
    tokio::time::pause();
    // 20 queues of 256 KiB bodies on a 4 MiB budget: each full receive brings 2.5 MiB, so
    // admission alone (room checked when the receive starts) would let all 20 read at once.
    let budget = crate::budget::MemoryBudget::new(4 << 20);
    let config = RuntimeConfig { max_pollers: 4, ..config() };
    let body = "#".repeat(256 << 10);
    let harnesses: Vec<Harness> = (0..20)
        .map(|_| Harness::start_within(config.clone(), Mode::Commit, filled(0), budget.clone()))
        .collect();
    // Every queue long-polling (admitted while the budget was empty), then a flood on all.
    until("every consumer polling", || harnesses.iter().all(|h| h.queue.calls(Call::Receive) > 0)).await;
    for h in &harnesses {
        for _ in 0..15 {
            h.queue.send(body.clone());
        }
    }
    until("every queue drained", || harnesses.iter().all(|h| h.queue.deleted() == 15)).await;
    assert!(budget.peak() <= budget.total(), "held {} of a {} budget", budget.peak(), budget.total());
    assert_eq!(budget.used(), 0);
    assert!(harnesses.iter().all(|h| h.seen.borrow().messages.len() == 15), "each message handed over once");
}
