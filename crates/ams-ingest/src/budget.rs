//! The process-wide ceiling on received-but-not-deleted bytes, shared fairly between tenants.
//!
//! Every message a consumer receives stays in memory (its body, its decoded rows) until it is
//! committed and deleted. Per queue, `max_in_flight` bounds the messages; across queues only
//! this budget bounds the bytes: one tenant filling its queues with 256 KiB bodies (or JSON
//! arrays of a thousand records) must not be able to push the pod past its memory limit.
//!
//! How a receive takes its memory:
//! 1. Before it is issued, the consumer is *admitted*: the budget has room for a typical full
//!    receive (10 × 256 KiB) and the tenant holds less than its fair share (the budget divided
//!    among the tenants with running consumers). Admission holds nothing: an idle long poll
//!    (most of a thousand queues) must not sit on memory for 20 s.
//! 2. When the answer's headers are in, before its body is read, the receive *holds* twice the
//!    announced length (the response, and the bodies unescaped out of it), waiting for room if
//!    need be ([`Reservation::hold`], the receive's [`ReceiveRoom`]). A long poll therefore
//!    never reads more than the budget has, however many queues poll at once and however large
//!    SQS lets messages be; an answer without a length holds the worst case
//!    (`queue::thin::client::RECEIVE_WORST_CASE`).
//! 3. Once the bodies are out, the response is dropped and the hold shrinks to the bodies;
//!    decoding adds what the records take; the delete after the commit gives it all back.
//!
//! Nothing is dropped: receiving just pauses. What the budget does not count (buffers of
//! connections, the allocator's pages, the database client's statement buffers) is a fixed
//! overhead, measured in docs/performance.md.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use tokio::sync::Notify;

use crate::queue::ReceiveRoom;

/// What one receive may bring: 10 messages of SQS's classic 256 KiB limit (AMS's messages are
/// a few KiB; bigger ones are counted when they arrive).
pub const RECEIVE_RESERVE: u64 = 10 * 256 * 1024;

/// The budget when the container's memory limit cannot be read.
pub const DEFAULT_BUDGET: u64 = 256 * 1024 * 1024;

pub struct MemoryBudget {
    total: u64,
    state: Mutex<State>,
    changed: Notify,
    /// Receives (or reservations) that had to wait for room.
    waits: AtomicU64,
    /// The most ever held at once.
    peak: AtomicU64,
}

#[derive(Default)]
struct State {
    used: u64,
    tenants: HashMap<Arc<str>, TenantUse>,
}

#[derive(Default)]
struct TenantUse {
    held: u64,
    waiting: usize,
    /// Running consumers of the tenant: a tenant with consumers is owed its share.
    consumers: usize,
}

impl State {
    /// One holding of `tenant` goes from `from` bytes to `to`.
    fn shift(&mut self, tenant: &Arc<str>, from: u64, to: u64) {
        self.used = self.used.saturating_sub(from) + to;
        let t = self.tenants.entry(tenant.clone()).or_default();
        t.held = t.held.saturating_sub(from) + to;
    }
}

impl TenantUse {
    fn idle(&self) -> bool {
        self.held == 0 && self.waiting == 0 && self.consumers == 0
    }
}

impl MemoryBudget {
    pub fn new(total: u64) -> Arc<MemoryBudget> {
        Arc::new(MemoryBudget {
            total: total.max(RECEIVE_RESERVE),
            state: Mutex::default(),
            changed: Notify::new(),
            waits: AtomicU64::new(0),
            peak: AtomicU64::new(0),
        })
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// How many times a receive had to wait for room.
    pub fn waits(&self) -> u64 {
        self.waits.load(Ordering::Relaxed)
    }

    /// The most bytes ever held at once.
    pub fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }

    /// Bytes held now.
    pub fn used(&self) -> u64 {
        self.state.lock().expect("memory budget lock").used
    }

    /// Bytes held per tenant now.
    pub fn by_tenant(&self) -> Vec<(Arc<str>, u64)> {
        let s = self.state.lock().expect("memory budget lock");
        let mut v: Vec<(Arc<str>, u64)> = s.tenants.iter().map(|(k, t)| (k.clone(), t.held)).collect();
        v.sort();
        v
    }

    /// Bytes a tenant holds now.
    pub fn held_by(&self, tenant: &str) -> u64 {
        self.state.lock().expect("memory budget lock").tenants.get(tenant).map_or(0, |t| t.held)
    }

    /// Waits until `bytes` may be held by `tenant`, then holds them.
    pub async fn reserve(self: &Arc<Self>, tenant: &Arc<str>, bytes: u64) -> Reservation {
        let bytes = bytes.min(self.total);
        self.wait_for_room(tenant, bytes, |s| s.shift(tenant, 0, bytes)).await;
        Reservation(Arc::new(Inner { budget: self.clone(), tenant: tenant.clone(), bytes: AtomicU64::new(bytes) }))
    }

    /// Waits until `room` bytes would fit `tenant` (as [`reserve`](Self::reserve) would),
    /// then holds nothing yet: the receive holds what its answer takes once it knows
    /// ([`Reservation::hold`], as the receive's [`ReceiveRoom`]). An idle long poll (most of a
    /// thousand queues) must not sit on memory it never uses.
    pub async fn admit(self: &Arc<Self>, tenant: &Arc<str>, room: u64) -> Reservation {
        self.wait_for_room(tenant, room.min(self.total), |_| ()).await;
        Reservation(Arc::new(Inner { budget: self.clone(), tenant: tenant.clone(), bytes: AtomicU64::new(0) }))
    }

    /// Waits until `room` more bytes fit `tenant`, then runs `take` under the same lock.
    async fn wait_for_room(&self, tenant: &Arc<str>, room: u64, take: impl FnOnce(&mut State)) {
        let mut registered = false;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut s = self.state.lock().expect("memory budget lock");
                if self.fits(&s, tenant, room) {
                    if registered {
                        s.tenants.entry(tenant.clone()).or_default().waiting -= 1;
                    }
                    take(&mut s);
                    self.peak.fetch_max(s.used, Ordering::Relaxed);
                    return;
                }
                if !registered {
                    s.tenants.entry(tenant.clone()).or_default().waiting += 1;
                    self.waits.fetch_add(1, Ordering::Relaxed);
                    registered = true;
                }
            }
            // A waiter that is dropped (its consumer stopping) unregisters itself.
            let guard = WaitGuard { budget: self, tenant };
            notified.await;
            std::mem::forget(guard);
        }
    }

    /// Whether `tenant` may start something that may bring `room` bytes: the budget has the
    /// room, and the tenant holds less than its share (the budget divided among the tenants
    /// with consumers, holdings or waiters). The share is kept for every consumer, not only
    /// for those waiting right now: a tenant whose batches commit slowly (large bodies) must not
    /// fill the budget and leave a busy neighbour no room for its next receive.
    fn fits(&self, s: &State, tenant: &str, room: u64) -> bool {
        if s.used + room > self.total {
            return false;
        }
        let held = s.tenants.get(tenant).map_or(0, |t| t.held);
        let active = s.tenants.values().filter(|t| !t.idle()).count().max(1) as u64;
        // Held, not held + room: with many tenants a share can be smaller than one receive's
        // worst case, and a tenant of small messages must still have several in flight.
        held < self.total / active
    }

    /// Registers a running consumer of `tenant` (until the returned value is dropped): its
    /// tenant is owed a share of the budget.
    pub fn consumer(self: &Arc<Self>, tenant: &Arc<str>) -> ConsumerSlot {
        self.state.lock().expect("memory budget lock").tenants.entry(tenant.clone()).or_default().consumers += 1;
        ConsumerSlot { budget: self.clone(), tenant: tenant.clone() }
    }

    fn adjust(&self, tenant: &Arc<str>, from: u64, to: u64) {
        let mut s = self.state.lock().expect("memory budget lock");
        s.shift(tenant, from, to);
        self.peak.fetch_max(s.used, Ordering::Relaxed);
        if s.tenants.get(tenant).is_some_and(TenantUse::idle) {
            s.tenants.remove(tenant);
        }
        drop(s);
        if to < from {
            self.changed.notify_waiters();
        }
    }
}

/// Undoes a waiter's registration if its `reserve` future is dropped while waiting.
struct WaitGuard<'a> {
    budget: &'a MemoryBudget,
    tenant: &'a str,
}

impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        let mut s = self.budget.state.lock().expect("memory budget lock");
        if let Some(t) = s.tenants.get_mut(self.tenant) {
            t.waiting = t.waiting.saturating_sub(1);
            if t.idle() {
                s.tenants.remove(self.tenant);
            }
        }
    }
}

/// A running consumer's claim on its tenant's share; see [`MemoryBudget::consumer`].
pub struct ConsumerSlot {
    budget: Arc<MemoryBudget>,
    tenant: Arc<str>,
}

impl Drop for ConsumerSlot {
    fn drop(&mut self) {
        let mut s = self.budget.state.lock().expect("memory budget lock");
        if let Some(t) = s.tenants.get_mut(&*self.tenant) {
            t.consumers = t.consumers.saturating_sub(1);
            if t.idle() {
                s.tenants.remove(&*self.tenant);
            }
        }
        drop(s);
        // Fewer tenants: bigger shares.
        self.budget.changed.notify_waiters();
    }
}

/// Bytes held for one batch; released when the last clone is dropped (after the delete).
#[derive(Clone)]
pub struct Reservation(Arc<Inner>);

struct Inner {
    budget: Arc<MemoryBudget>,
    tenant: Arc<str>,
    bytes: AtomicU64,
}

impl Reservation {
    /// Holds `bytes` from now on: less returns the rest to the budget; more is counted at once
    /// (the memory is in use already), and later reservations wait for it.
    pub fn set(&self, bytes: u64) {
        let from = self.0.bytes.swap(bytes, Ordering::Relaxed);
        self.0.budget.adjust(&self.0.tenant, from, bytes);
    }

    /// Waits until the budget has room for this reservation to hold `bytes` (at most the whole
    /// budget), then holds them in place of what it held. Room is what the budget lacks beyond
    /// what this reservation holds already.
    pub async fn hold(&self, bytes: u64) {
        let inner = &self.0;
        let bytes = bytes.min(inner.budget.total);
        let from = inner.bytes.load(Ordering::Relaxed);
        if bytes <= from {
            // Less is never waited for.
            self.set(bytes);
            return;
        }
        inner
            .budget
            .wait_for_room(&inner.tenant, bytes - from, |s| s.shift(&inner.tenant, inner.bytes.swap(bytes, Ordering::Relaxed), bytes))
            .await;
    }

    /// Holds `extra` more bytes.
    pub fn grow(&self, extra: u64) {
        let from = self.0.bytes.fetch_add(extra, Ordering::Relaxed);
        self.0.budget.adjust(&self.0.tenant, from, from + extra);
    }

    pub fn bytes(&self) -> u64 {
        self.0.bytes.load(Ordering::Relaxed)
    }
}

/// A receive's memory comes from its consumer's reservation.
impl ReceiveRoom for Reservation {
    fn hold(&self, bytes: u64) -> BoxFuture<'_, ()> {
        Box::pin(Reservation::hold(self, bytes))
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let from = self.bytes.load(Ordering::Relaxed);
        self.budget.adjust(&self.tenant, from, 0);
    }
}

/// The default budget: a quarter of the container's memory limit (cgroup v2 or v1), leaving
/// the rest for decoded rows, buffers and the allocator; 256 MiB without a readable limit.
pub fn default_budget() -> u64 {
    container_memory_limit().map_or(DEFAULT_BUDGET, |limit| (limit / 4).max(RECEIVE_RESERVE * 4))
}

fn container_memory_limit() -> Option<u64> {
    let read = |p: &str| std::fs::read_to_string(p).ok().map(|s| s.trim().to_owned());
    let limit = read("/sys/fs/cgroup/memory.max").or_else(|| read("/sys/fs/cgroup/memory/memory.limit_in_bytes"))?;
    // "max" (v2), or v1's "no limit" (a page-rounded i64::MAX).
    limit.parse::<u64>().ok().filter(|&l| l < (1 << 60))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const MIB: u64 = 1024 * 1024;

    #[tokio::test(start_paused = true)]
    async fn a_full_budget_makes_receives_wait_and_frees_them_on_release() {
        let budget = MemoryBudget::new(10 * MIB);
        let a: Arc<str> = "a".into();
        let first = budget.reserve(&a, 6 * MIB).await;
        let second = budget.reserve(&a, 4 * MIB).await;
        assert_eq!(budget.used(), 10 * MIB);
        let waiting = tokio::spawn({
            let (budget, a) = (budget.clone(), a.clone());
            async move { budget.reserve(&a, 3 * MIB).await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!waiting.is_finished(), "granted past the budget");
        // The batch turned out small: most of its reservation comes back.
        first.set(MIB);
        let third = tokio::time::timeout(Duration::from_secs(1), waiting).await.expect("woken").unwrap();
        assert_eq!(budget.used(), 8 * MIB);
        drop((second, third));
        assert_eq!(budget.used(), MIB);
        drop(first);
        assert_eq!(budget.used(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_tenant_holding_its_share_waits_and_leaves_room_for_the_others() {
        let budget = MemoryBudget::new(10 * MIB);
        let (hog, calm): (Arc<str>, Arc<str>) = ("hog".into(), "calm".into());
        let _hog_consumer = budget.consumer(&hog);
        // Alone, the hog may take the whole budget.
        let alone = budget.reserve(&hog, 6 * MIB).await;
        drop(alone);
        // With another tenant consuming, the hog is held to half: at 5 MiB it waits, although
        // the budget has room and nobody else waits.
        let calm_consumer = budget.consumer(&calm);
        let held = budget.reserve(&hog, 5 * MIB).await;
        let hog_waits = tokio::spawn({
            let (budget, hog) = (budget.clone(), hog.clone());
            async move { budget.admit(&hog, MIB).await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!hog_waits.is_finished(), "the hog took more than its share");
        // The calm tenant gets its receives at once.
        let calm_held = tokio::time::timeout(Duration::from_secs(1), budget.reserve(&calm, 2 * MIB)).await.expect("room for the calm tenant");
        // The calm tenant stops consuming: the hog's share grows to the whole budget.
        drop((calm_consumer, calm_held));
        tokio::time::timeout(Duration::from_secs(1), hog_waits).await.expect("the hog's share grew").unwrap();
        drop(held);
        assert_eq!(budget.used(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn admission_checks_room_without_holding_it() {
        let budget = MemoryBudget::new(10 * MIB);
        let a: Arc<str> = "a".into();
        let polls: Vec<Reservation> = futures_util::future::join_all((0..100).map(|_| budget.admit(&a, 3 * MIB))).await;
        assert_eq!(budget.used(), 0, "idle polls hold nothing");
        polls[0].set(9 * MIB);
        // 1 MiB left: no room for another receive's worst case.
        let next = tokio::time::timeout(Duration::from_secs(1), budget.admit(&a, 3 * MIB)).await;
        assert!(next.is_err(), "a receive started without room");
        drop(polls);
        assert_eq!(budget.used(), 0);
        tokio::time::timeout(Duration::from_secs(1), budget.admit(&a, 3 * MIB)).await.expect("room again");
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_is_held_only_once_the_budget_has_room_for_it() {
        let budget = MemoryBudget::new(10 * MIB);
        let a: Arc<str> = "a".into();
        let busy = budget.reserve(&a, 8 * MIB).await;
        // Admitted while the budget had room for a typical receive; its answer is larger.
        let receive = budget.admit(&a, MIB).await;
        let reading = tokio::spawn({
            let receive = receive.clone();
            async move { receive.hold(6 * MIB).await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!reading.is_finished(), "an answer read past the budget");
        assert_eq!(budget.used(), 8 * MIB);
        drop(busy);
        tokio::time::timeout(Duration::from_secs(1), reading).await.expect("room came").unwrap();
        assert_eq!((receive.bytes(), budget.used()), (6 * MIB, 6 * MIB));
        // Shrinking to the bodies never waits; an answer larger than the budget takes all of it.
        receive.hold(2 * MIB).await;
        assert_eq!(budget.used(), 2 * MIB);
        receive.hold(40 * MIB).await;
        assert_eq!(budget.used(), 10 * MIB);
        drop(receive);
        assert_eq!((budget.used(), budget.peak()), (0, 10 * MIB));
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_waiter_does_not_hold_its_place() {
        let budget = MemoryBudget::new(4 * MIB);
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        let held = budget.reserve(&a, 3 * MIB).await;
        let waiter = tokio::spawn({
            let (budget, b) = (budget.clone(), b.clone());
            async move { budget.reserve(&b, 2 * MIB).await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        waiter.abort();
        let _ = waiter.await;
        // No one waits any more: `a` is not held back by a phantom waiter.
        let more = tokio::time::timeout(Duration::from_secs(1), budget.reserve(&a, MIB)).await.expect("not blocked");
        assert_eq!(budget.used(), 4 * MIB);
        drop((held, more));
    }
}
