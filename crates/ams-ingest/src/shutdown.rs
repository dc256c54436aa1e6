//! Shutdown: the one signal the runtime stops on, and every shutdown timing in one place.
//!
//! At SIGTERM `ams-hub serve`, in order: stops the admin API ([`API_DRAIN`]) and the metrics
//! listener ([`METRICS_DRAIN`]); then the runtime ([`RUNTIME`]): consumers receive nothing new
//! (a long poll in progress ends within its wait), batches in flight commit and are deleted,
//! writes still failing after [`GIVE_UP_WRITES_AFTER`] are given up (their messages stay on
//! the queue for the next owner), and the leases are released. The pod's
//! `terminationGracePeriodSeconds` must cover [`TOTAL`] plus [`POD_MARGIN`]; a test of the
//! ams-hub crate reads the deployment and checks it.

use std::time::Duration;

use actix::prelude::*;
use tokio_util::sync::CancellationToken;

pub const API_DRAIN: Duration = Duration::from_secs(5);
pub const METRICS_DRAIN: Duration = Duration::from_secs(1);
/// Stopping the runtime: from `Shutdown` to every consumer gone and the leases released.
pub const RUNTIME: Duration = Duration::from_secs(28);
/// Within [`RUNTIME`]: a ledger write still failing this long after shutdown began is given
/// up instead of retried.
pub const GIVE_UP_WRITES_AFTER: Duration = Duration::from_secs(20);
/// The most `serve` takes from SIGTERM to exit.
pub const TOTAL: Duration = Duration::from_secs(API_DRAIN.as_secs() + METRICS_DRAIN.as_secs() + RUNTIME.as_secs());
/// What the pod's grace period must leave beyond [`TOTAL`] (process exit, the kubelet's own
/// latency) before Kubernetes sends SIGKILL.
pub const POD_MARGIN: Duration = Duration::from_secs(5);

/// The runtime's shutdown signal, shared by the supervisor, the normalizer and the writers.
#[derive(Clone, Default)]
pub struct ShutdownSignal {
    began: CancellationToken,
    give_up_writes: CancellationToken,
}

impl ShutdownSignal {
    /// Shutdown begins now; writes are given up [`GIVE_UP_WRITES_AFTER`] from now.
    pub fn begin(&self) {
        if self.began.is_cancelled() {
            return;
        }
        self.began.cancel();
        let give_up = self.give_up_writes.clone();
        tokio::spawn(async move {
            tokio::time::sleep(GIVE_UP_WRITES_AFTER).await;
            give_up.cancel();
        });
    }

    pub fn began(&self) -> bool {
        self.began.is_cancelled()
    }

    /// Resolves when shutdown begins.
    pub fn cancelled(&self) -> tokio_util::sync::WaitForCancellationFutureOwned {
        self.began.clone().cancelled_owned()
    }

    /// A failing ledger write is no longer retried.
    pub fn writes_given_up(&self) -> bool {
        self.give_up_writes.is_cancelled()
    }
}

/// Starts `actor` and stops it when shutdown begins. Why: what the actix system still holds
/// when `serve` returns is dropped after its Tokio runtime is gone, and sqlx panics (aborting
/// the process) closing a connection outside a runtime. An actor that keeps a connection
/// across awaits (a LISTEN, a round of queries in progress) must be gone by then; stopped
/// here, at the start of the runtime's shutdown, it is dropped while the runtime still runs.
/// A round in progress is cancelled mid-way; each of its steps commits on its own, so the next
/// round (here or on another replica) picks up where it stopped.
pub fn start_until_shutdown<A: Actor<Context = Context<A>>>(actor: A, signal: &ShutdownSignal) -> Addr<A> {
    let began = signal.cancelled();
    A::create(move |ctx| {
        ctx.spawn(fut::wrap_future::<_, A>(began).map(|(), _, ctx: &mut Context<A>| ctx.stop()));
        actor
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn writes_are_given_up_a_fixed_time_after_shutdown_begins() {
        let s = ShutdownSignal::default();
        assert!(!s.began() && !s.writes_given_up());
        s.begin();
        assert!(s.began() && !s.writes_given_up());
        tokio::time::sleep(GIVE_UP_WRITES_AFTER - Duration::from_millis(1)).await;
        assert!(!s.writes_given_up());
        tokio::time::sleep(Duration::from_millis(2)).await;
        assert!(s.writes_given_up());
        assert!(GIVE_UP_WRITES_AFTER < RUNTIME, "writes are given up before serve stops waiting");
    }
}
