//! The supervisor on paused tokio time, with an in-memory control plane, a connector that
//! hands out in-memory queues, and a normalizer that commits at once: it follows the registry,
//! backs off a failing consumer and shows it degraded with its failure's kind, and at
//! shutdown stops every consumer and releases its leases.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use ams_store::control::consumer_state::ConsumerStateRow;
use ams_store::control::registry::ActiveQueue;
use ams_store::StoreError;
use futures_util::future::LocalBoxFuture;
use tokio::time::Instant;
use uuid::Uuid;

use super::{GetStatus, Reconcile, Shutdown, Supervisor};
use crate::aws::AccountAws;
use super::seams::{Connector, Control};
use crate::pipeline::{Committed, Ingest, QueueContext};
use crate::queue::memory::{Call, MemoryQueue};
use crate::queue::{Queue, SqsError};
use crate::status::{ConsumerReport, ConsumerState, FailureKind};
use crate::RuntimeConfig;

#[derive(Default)]
struct FakeControl {
    queues: RefCell<Vec<ActiveQueue>>,
    released: Cell<bool>,
    rounds: Cell<usize>,
}

impl Control for FakeControl {
    fn active_queues(&self) -> LocalBoxFuture<'_, Result<Vec<ActiveQueue>, StoreError>> {
        self.rounds.set(self.rounds.get() + 1);
        let queues = self.queues.borrow().clone();
        Box::pin(async move { Ok(queues) })
    }

    fn lease_queues<'a>(&'a self, _: &'a str, active: &'a [ams_store::QueueId], _: Duration) -> LocalBoxFuture<'a, Result<HashSet<ams_store::QueueId>, StoreError>> {
        Box::pin(async move { Ok(active.iter().copied().collect()) })
    }

    fn save_consumer_states<'a>(&'a self, _: &'a [ConsumerStateRow]) -> LocalBoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }

    fn release_leases<'a>(&'a self, _: &'a str) -> LocalBoxFuture<'a, Result<(), StoreError>> {
        self.released.set(true);
        Box::pin(async { Ok(()) })
    }
}

/// One in-memory queue per URL, made on first use.
#[derive(Default)]
struct FakeConnector {
    queues: RefCell<HashMap<String, Arc<MemoryQueue>>>,
}

impl FakeConnector {
    fn queue_of(&self, url: &str) -> Arc<MemoryQueue> {
        self.queues.borrow_mut().entry(url.to_owned()).or_default().clone()
    }
}

impl Connector for FakeConnector {
    fn account<'a>(&'a self, _: &'a ActiveQueue) -> LocalBoxFuture<'a, AccountAws> {
        Box::pin(async { AccountAws::offline() })
    }

    fn queue(&self, q: &QueueContext) -> Result<Arc<dyn Queue>, SqsError> {
        Ok(self.queue_of(&q.queue_url))
    }
}

struct Committer;

impl Actor for Committer {
    type Context = Context<Self>;
}

impl Handler<Ingest> for Committer {
    type Result = ();
    fn handle(&mut self, msg: Ingest, _: &mut Context<Self>) {
        let _ = msg.ack.send(Ok(Committed::default()));
    }
}

fn active(name: &str) -> ActiveQueue {
    ActiveQueue {
        queue_id: ams_store::QueueId(Uuid::new_v4()),
        queue_url: format!("https://sqs.us-east-1.amazonaws.com/123456789012/{name}"),
        region: "us-east-1".into(),
        account_id: ams_store::AccountId(Uuid::new_v4()),
        aws_role_arn: None,
        external_id: "ext".into(),
        tenant: ams_store::TenantSlug::parse("acme").unwrap(),
    }
}

struct Harness {
    control: Rc<FakeControl>,
    connector: Rc<FakeConnector>,
    supervisor: Addr<Supervisor>,
}

impl Harness {
    fn start(queues: Vec<ActiveQueue>) -> Harness {
        let control = Rc::new(FakeControl { queues: RefCell::new(queues), ..FakeControl::default() });
        let connector = Rc::new(FakeConnector::default());
        let config = RuntimeConfig { queue_attributes_secs: 0, ..RuntimeConfig::default() };
        let supervisor = Supervisor::with_parts(
            control.clone(),
            connector.clone(),
            config,
            Committer.start().recipient(),
            crate::shutdown::ShutdownSignal::default(),
            crate::budget::MemoryBudget::new(64 << 20),
            "test-replica".into(),
        )
        .start();
        Harness { control, connector, supervisor }
    }

    async fn status(&self) -> Vec<ConsumerReport> {
        self.supervisor.send(GetStatus).await.unwrap()
    }

    fn receives(&self, q: &ActiveQueue) -> usize {
        self.connector.queue_of(&q.queue_url).calls(Call::Receive)
    }
}

/// Waits (in virtual time) until `cond`; fails after ten virtual minutes.
async fn until<F: std::future::Future<Output = bool>>(what: &str, mut cond: impl FnMut() -> F) {
    let deadline = Instant::now() + Duration::from_secs(600);
    while !cond().await {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[actix::test]
async fn consumers_follow_the_registered_queues() {
    tokio::time::pause();
    let (one, two) = (active("one"), active("two"));
    let h = Harness::start(vec![one.clone()]);
    until("one polled", || async { h.receives(&one) > 0 }).await;
    h.control.queues.borrow_mut().push(two.clone());
    h.supervisor.do_send(Reconcile);
    until("two polled", || async { h.receives(&two) > 0 }).await;
    // Messages on either are consumed.
    h.connector.queue_of(&two.queue_url).send("a body");
    until("the body deleted", || async { h.connector.queue_of(&two.queue_url).deleted() == 1 }).await;

    h.control.queues.borrow_mut().retain(|q| q.queue_id != one.queue_id);
    h.supervisor.do_send(Reconcile);
    until("one's consumer gone", || async {
        let s = h.status().await;
        s.len() == 1 && s[0].queue_url == two.queue_url
    })
    .await;
    let polls = h.receives(&one);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(h.receives(&one), polls, "a removed queue is not polled");
}

#[actix::test]
async fn a_failing_consumer_backs_off_and_shows_degraded_with_its_kind() {
    tokio::time::pause();
    let q = active("gone");
    let h = Harness::start(vec![q.clone()]);
    let memory = h.connector.queue_of(&q.queue_url);
    let missing = || SqsError::Service {
        status: 400,
        code: "AWS.SimpleQueueService.NonExistentQueue".into(),
        message: "The specified queue does not exist.".into(),
        server_date: None,
    };
    for _ in 0..3 {
        memory.fail_next(Call::Receive, missing());
    }
    let t0 = Instant::now();
    let mut at = Vec::new();
    for n in 1..=4 {
        until("the next receive", || async { h.receives(&q) >= n }).await;
        at.push(t0.elapsed());
    }
    // Restarted after 0.5 s, 1 s, 2 s (backoff_min_ms doubling), never sooner (each receive
    // is seen within the 10 ms the wait polls at).
    let gaps: Vec<u128> = at.windows(2).map(|w| (w[1] - w[0]).as_millis()).collect();
    for (gap, backoff) in gaps.iter().zip([500, 1000, 2000]) {
        // Doubling, each plus up to as much again (jitter).
        assert!(*gap + 10 >= backoff && *gap < 2 * backoff + 200, "gaps {gaps:?}");
    }
    let s = h.status().await;
    assert_eq!(s[0].row.restarts, 3);
    assert_eq!(s[0].row.failure_kind, Some(FailureKind::QueueMissing));
    // The fourth start receives: running again.
    until("running", || async { h.status().await[0].row.state == ConsumerState::Running }).await;

    // Three failures in a row: degraded.
    for _ in 0..3 {
        memory.fail_next(Call::Receive, missing());
    }
    until("degraded", || async { h.status().await[0].row.state == ConsumerState::Degraded }).await;
    assert!(h.status().await[0].row.last_error.as_deref().unwrap_or("").contains("NonExistentQueue"));
}

#[actix::test]
async fn shutdown_stops_every_consumer_then_releases_the_leases() {
    tokio::time::pause();
    let queues = vec![active("a"), active("b")];
    let h = Harness::start(queues.clone());
    for q in &queues {
        until("polled", || async { h.receives(q) > 0 }).await;
    }
    h.supervisor.send(Shutdown).await.unwrap();
    assert!(h.control.released.get(), "leases released");
    let polls: Vec<usize> = queues.iter().map(|q| h.receives(q)).collect();
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(queues.iter().map(|q| h.receives(q)).collect::<Vec<_>>(), polls, "polled after shutdown");
    assert!(h.status().await.iter().all(|r| r.row.state == ConsumerState::Stopped));
}

#[actix::test]
async fn the_supervisor_reconciles_every_reconcile_secs() {
    tokio::time::pause();
    let h = Harness::start(vec![active("one")]);
    until("the first round", || async { h.control.rounds.get() > 0 }).await;
    let before = h.control.rounds.get();
    tokio::time::sleep(Duration::from_secs(30)).await;
    let rounds = h.control.rounds.get() - before;
    // reconcile_secs is 3 by default: ten rounds in 30 s (the timer's phase may add one).
    assert!((10..=11).contains(&rounds), "{rounds} rounds in 30 s");
}
