//! Supervisor: keeps one QueueConsumer running per registered queue of an active account —
//! at start, every `reconcile_secs`, and when told (`Reconcile`, sent by the admin API).
//! A consumer that fails is restarted after an exponential backoff; after three failures in
//! a row it shows as `degraded` with its last error. One account failing never touches
//! another's consumers. States and counters are saved to `control.consumer_states` every
//! second, for the status API and operators.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use ams_store::control::consumer_state::ConsumerStateRow;
use ams_store::control::registry::ActiveQueue;
use ams_store::{QueueId, Store, TenantSchema};
use tokio::sync::oneshot;
// tokio's clock: the unit tests run the supervisor on paused time.
use tokio::time::Instant;
use uuid::Uuid;

use crate::consumer::{LetGo, QueueConsumer, Stop};
use crate::status::ConsumerReport;
use crate::normalizer::Normalizer;
pub mod seams;

use seams::{AwsConnector, Connector, Control};
use crate::events::{ConsumerFailed, InternalEvent};
use crate::pipeline::{Ingest, QueueContext};
use crate::status::{ConsumerFailure, ConsumerState, ConsumerStatus, Counters};
use crate::{Aws, RuntimeConfig};

/// Failures in a row after which a consumer shows as degraded.
const DEGRADED_AFTER: u32 = 3;

#[derive(Message)]
#[rtype(result = "()")]
pub struct ConsumerExited {
    pub queue_id: QueueId,
    pub error: Option<ConsumerFailure>,
}

/// Compare running consumers with the control plane now.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Reconcile;

#[derive(Message)]
#[rtype(result = "Vec<ConsumerReport>")]
pub struct GetStatus;

/// Stop receiving, commit and delete what is in flight, then answer.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown;

struct Entry {
    queue: ActiveQueue,
    status: Arc<ConsumerStatus>,
    consumer: Option<Addr<QueueConsumer>>,
    starting: bool,
    failures: u32,
    retry_at: Option<Instant>,
    wanted: bool,
}

pub struct Supervisor {
    store: Rc<dyn Control>,
    connector: Rc<dyn Connector>,
    config: RuntimeConfig,
    normalizer: Recipient<Ingest>,
    entries: HashMap<QueueId, Entry>,
    shutting_down: bool,
    /// Shared with the writers: at shutdown they stop retrying failed writes.
    shutdown: crate::shutdown::ShutdownSignal,
    waiters: Vec<oneshot::Sender<()>>,
    /// This process's name in `control.replicas` and `control.queue_leases`.
    replica: String,
    /// When the last successful lease renewal started: past that plus the lease time, other
    /// replicas may have taken our queues.
    leases_renewed: Instant,
    /// The consumers were told to let go, and no renewal has succeeded since.
    let_go: bool,
    /// Bytes received but not deleted, process-wide (budget.rs).
    budget: Arc<crate::budget::MemoryBudget>,
    /// A reconcile round is running; another was asked for meanwhile.
    reconciling: bool,
    reconcile_again: bool,
}

impl Supervisor {
    /// The production supervisor: Postgres, AWS as configured, the configured replica id.
    pub fn new(
        store: Store,
        aws: Aws,
        config: RuntimeConfig,
        normalizer: Addr<Normalizer>,
        shutdown: crate::shutdown::ShutdownSignal,
        budget: Arc<crate::budget::MemoryBudget>,
    ) -> Self {
        let connector = Rc::new(AwsConnector { aws, client: config.sqs_client });
        // The binary always names the replica; a caller that did not (a bench) gets a fresh name.
        let replica = config.replica_id.clone().unwrap_or_else(|| format!("ams-hub-{}", Uuid::new_v4().simple()));
        Self::with_parts(Rc::new(store), connector, config, normalizer.recipient(), shutdown, budget, replica)
    }

    pub fn with_parts(
        store: Rc<dyn Control>,
        connector: Rc<dyn Connector>,
        config: RuntimeConfig,
        normalizer: Recipient<Ingest>,
        shutdown: crate::shutdown::ShutdownSignal,
        budget: Arc<crate::budget::MemoryBudget>,
        replica: String,
    ) -> Self {
        Supervisor {
            store,
            connector,
            config,
            normalizer,
            entries: HashMap::new(),
            shutting_down: false,
            shutdown,
            waiters: Vec::new(),
            replica,
            leases_renewed: Instant::now(),
            let_go: false,
            budget,
            reconciling: false,
            reconcile_again: false,
        }
    }

    fn lease_ttl(&self) -> Duration {
        Duration::from_secs(self.config.lease_secs.max(3))
    }

    /// A replica that has not renewed its leases for a whole lease time (Postgres unreachable,
    /// or too slow) must assume others took its queues: its consumers let go at once, instead
    /// of extending the visibility of what they hold, which the new owner could not receive.
    fn check_leases(&mut self) {
        if self.let_go || self.shutting_down || self.leases_renewed.elapsed() < self.lease_ttl() {
            return;
        }
        self.let_go = true;
        let running: Vec<&Addr<QueueConsumer>> = self.entries.values().filter_map(|e| e.consumer.as_ref()).collect();
        tracing::warn!(consumers = running.len(), unrenewed_secs = self.leases_renewed.elapsed().as_secs(),
            "the queue leases could not be renewed for a whole lease time: letting go of every queue");
        for c in running {
            c.do_send(LetGo);
        }
    }

    /// Compares consumers with the registered queues. One round at a time: asked while a
    /// round runs (the API registering queues one after another, the timer), it runs once
    /// more when that round ends, however often it was asked meanwhile.
    fn reconcile(&mut self, ctx: &mut Context<Self>) {
        if self.shutting_down {
            return;
        }
        if self.reconciling {
            self.reconcile_again = true;
            return;
        }
        self.reconciling = true;
        let store = self.store.clone();
        let replica = self.replica.clone();
        let ttl = self.lease_ttl();
        let started = Instant::now();
        // Only the queues this replica holds a lease on (docs/runtime.md, "Several replicas").
        let mine = async move {
            let queues = store.active_queues().await?;
            let read = started.elapsed();
            let ids: Vec<QueueId> = queues.iter().map(|q| q.queue_id).collect();
            let leased = store.lease_queues(&replica, &ids, ttl).await?;
            crate::metrics::metrics().reconcile_round(read, started.elapsed() - read);
            Ok::<_, ams_store::StoreError>(queues.into_iter().filter(|q| leased.contains(&q.queue_id)).collect())
        };
        // A round that hangs (a black-holed database connection) must not block every later
        // one: it is given up after a lease time.
        let mine = async move {
            tokio::time::timeout(ttl, mine).await.unwrap_or_else(|_| {
                Err(ams_store::StoreError::Inconsistent("reading the queues and leases took longer than a lease".into()))
            })
        };
        ctx.spawn(mine.into_actor(self).map(move |result, act, ctx| {
            act.reconciling = false;
            match result {
                Ok(queues) => {
                    act.leases_renewed = act.leases_renewed.max(started);
                    act.let_go = false;
                    act.apply(queues, ctx)
                }
                Err(e) => tracing::warn!(error = %e, "cannot read the registered queues; keeping the consumers as they are"),
            }
            if std::mem::take(&mut act.reconcile_again) {
                act.reconcile(ctx);
            }
        }));
    }

    fn apply(&mut self, queues: Vec<ActiveQueue>, ctx: &mut Context<Self>) {
        if self.shutting_down {
            return;
        }
        let wanted: HashSet<QueueId> = queues.iter().map(|q| q.queue_id).collect();
        for q in queues {
            let entry = self.entries.entry(q.queue_id).or_insert_with(|| Entry {
                status: Arc::new(ConsumerStatus {
                    queue_id: q.queue_id,
                    queue_url: q.queue_url.clone(),
                    tenant: q.tenant.clone(),
                    account_id: q.account_id,
                    state: std::sync::Mutex::new((ConsumerState::Starting, None)),
                    restarts: Default::default(),
                    counters: Arc::new(Counters::default()),
                }),
                queue: q.clone(),
                consumer: None,
                starting: false,
                failures: 0,
                retry_at: None,
                wanted: true,
            });
            entry.wanted = true;
            // Credentials or the URL changed: restart with the new ones.
            if entry.queue != q {
                entry.queue = q;
                if let Some(c) = &entry.consumer {
                    c.do_send(Stop);
                }
            }
        }
        let now = Instant::now();
        let mut start = Vec::new();
        for (id, e) in self.entries.iter_mut() {
            if !wanted.contains(id) {
                e.wanted = false;
                if let Some(c) = &e.consumer {
                    c.do_send(Stop);
                }
            } else if e.consumer.is_none() && !e.starting && e.retry_at.is_none_or(|t| t <= now) {
                e.starting = true;
                start.push(*id);
            }
        }
        self.entries.retain(|_, e| e.wanted || e.consumer.is_some() || e.starting);
        for id in start {
            self.start_consumer(id, ctx);
        }
    }

    fn start_consumer(&mut self, id: QueueId, ctx: &mut Context<Self>) {
        let Some(e) = self.entries.get(&id) else { return };
        let q = e.queue.clone();
        let status = e.status.clone();
        let connector = self.connector.clone();
        let setup = async move {
            let account = connector.account(&q).await;
            Arc::new(QueueContext {
                queue_id: q.queue_id,
                queue_url: q.queue_url.as_str().into(),
                region: q.region.clone(),
                account_id: q.account_id,
                schema: TenantSchema::of(&q.tenant),
                aws: account,
            })
        };
        ctx.spawn(setup.into_actor(self).map(move |queue, act, ctx| {
            let Some(e) = act.entries.get_mut(&id) else { return };
            e.starting = false;
            if act.shutting_down || !e.wanted {
                return;
            }
            tracing::info!(queue = %queue.queue_url, tenant = %e.queue.tenant, account = %e.queue.account_id, "starting consumer");
            match act.connector.queue(&queue) {
                Ok(sqs) => {
                    let normalizer = act.normalizer.clone();
                    let consumer = QueueConsumer::new(queue, sqs, normalizer, act.config.clone(), status, act.budget.clone(), ctx.address().recipient());
                    e.consumer = Some(consumer.start());
                }
                // Like a consumer that failed at once: backoff, degraded, the error in status.
                Err(error) => {
                    let error = ConsumerFailure { kind: error.kind(), message: error.to_string() };
                    ctx.notify(ConsumerExited { queue_id: id, error: Some(error) })
                }
            }
        }));
    }

    fn save_states(&mut self, ctx: &mut Context<Self>) {
        let rows: Vec<ConsumerStateRow> = self.entries.values().map(|e| e.status.snapshot()).collect();
        let store = self.store.clone();
        ctx.spawn(
            async move {
                if let Err(e) = store.save_consumer_states(&rows).await {
                    tracing::debug!(error = %e, "could not save consumer states");
                }
            }
            .into_actor(self),
        );
    }

    fn running(&self) -> usize {
        self.entries.values().filter(|e| e.consumer.is_some() || e.starting).count()
    }
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.reconcile(ctx);
        // Leases are renewed at every reconcile: at least three times per lease.
        let every = self.config.reconcile_secs.min(self.config.lease_secs / 3).max(1);
        ctx.run_interval(Duration::from_secs(every), |act, ctx| act.reconcile(ctx));
        ctx.run_interval(Duration::from_secs(1), |act, ctx| {
            act.check_leases();
            act.save_states(ctx);
        });
    }
}

impl Handler<ConsumerExited> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: ConsumerExited, ctx: &mut Context<Self>) {
        let Some(e) = self.entries.get_mut(&msg.queue_id) else { return };
        e.consumer = None;
        match msg.error {
            Some(error) => {
                e.failures += 1;
                e.status.restarts.fetch_add(1, Ordering::Relaxed);
                let delay = self.config.backoff(e.failures - 1);
                e.retry_at = Some(Instant::now() + delay);
                let state = if e.failures >= DEGRADED_AFTER { ConsumerState::Degraded } else { ConsumerState::BackingOff };
                let (tenant, queue) = (e.queue.tenant.as_str(), &e.queue.queue_url);
                ConsumerFailed { tenant, queue, failures: e.failures, retry_in: delay, failure: &error }.emit();
                e.status.set(state, Some(error));
                ctx.run_later(delay, |act, ctx| act.reconcile(ctx));
            }
            None => {
                e.failures = 0;
                e.retry_at = None;
                e.status.set(ConsumerState::Stopped, None);
                if e.wanted && !self.shutting_down {
                    // Stopped to pick up new settings: start again now.
                    self.reconcile(ctx);
                }
            }
        }
        if self.shutting_down && self.running() == 0 {
            self.save_states(ctx);
            for w in self.waiters.drain(..) {
                let _ = w.send(());
            }
        }
    }
}

impl Handler<Reconcile> for Supervisor {
    type Result = ();
    fn handle(&mut self, _: Reconcile, ctx: &mut Context<Self>) {
        self.reconcile(ctx);
    }
}

impl Handler<GetStatus> for Supervisor {
    type Result = Vec<ConsumerReport>;
    fn handle(&mut self, _: GetStatus, _: &mut Context<Self>) -> Self::Result {
        self.entries.values().map(|e| e.status.report()).collect()
    }
}

impl Handler<Shutdown> for Supervisor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Shutdown, _: &mut Context<Self>) -> Self::Result {
        self.shutting_down = true;
        // Writes still failing a while from now are given up: their messages stay on the queue.
        self.shutdown.begin();
        for e in self.entries.values() {
            if let Some(c) = &e.consumer {
                c.do_send(Stop);
            }
        }
        let (tx, rx) = oneshot::channel();
        if self.running() == 0 {
            let _ = tx.send(());
        } else {
            self.waiters.push(tx);
        }
        let (store, replica) = (self.store.clone(), self.replica.clone());
        Box::pin(async move {
            let _ = rx.await;
            // Everything committed and deleted: the other replicas may take the queues now.
            if let Err(e) = store.release_leases(&replica).await {
                tracing::warn!(error = %e, "could not release the queue leases; they expire by themselves");
            }
        })
    }
}

#[cfg(test)]
mod actor_tests;
