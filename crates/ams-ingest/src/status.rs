//! A consumer's observable state, shared between the consumer (which updates counters) and
//! the supervisor (which owns the lifecycle and saves snapshots to `control.consumer_states`).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use ams_store::{AccountId, QueueId};

/// The consumer's state and failure kinds are the store's types: the status API reads back
/// what the supervisor saved as the same enums.
pub use ams_store::control::consumer_state::{ConsumerState, ConsumerStateRow, FailureKind};

/// Why a consumer stopped: the kind an operator acts on, and the message (secret-free).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConsumerFailure {
    pub kind: FailureKind,
    pub message: String,
}

#[derive(Debug, Default)]
pub struct Counters {
    pub received: AtomicI64,
    pub committed: AtomicI64,
    pub quarantined: AtomicI64,
    pub last_receive_unix_ms: AtomicI64,
    /// Records committed per dataset, indexed by [`ams_model::DatasetId::index`].
    pub records: [AtomicI64; ams_model::DatasetId::ALL.len()],
    /// Records committed that Amazon had truncated to fit SQS (`PAYLOAD_TRUNCATED`).
    pub truncated: AtomicI64,
    /// The queue's ApproximateNumberOfMessages / …NotVisible as last polled, at
    /// `approximate_unix_ms` (0: not polled yet).
    pub approximate_visible: AtomicI64,
    pub approximate_in_flight: AtomicI64,
    pub approximate_unix_ms: AtomicI64,
    /// Age of the oldest message of the last non-empty receive (ms).
    pub oldest_received_age_ms: AtomicI64,
}

impl Counters {
    pub fn add(c: &AtomicI64, n: usize) {
        c.fetch_add(n as i64, Ordering::Relaxed);
    }
}

/// A consumer's snapshot with what it belongs to (for metrics and the status API).
#[derive(Debug, Clone)]
pub struct ConsumerReport {
    pub tenant: ams_store::TenantSlug,
    pub account_id: AccountId,
    pub queue_url: String,
    pub row: ConsumerStateRow,
    /// Seconds the oldest message of the last non-empty receive had waited in the queue.
    pub oldest_received_age_secs: f64,
}

/// Everything known about one consumer.
#[derive(Debug)]
pub struct ConsumerStatus {
    pub queue_id: QueueId,
    pub queue_url: String,
    pub tenant: ams_store::TenantSlug,
    pub account_id: AccountId,
    pub state: Mutex<(ConsumerState, Option<ConsumerFailure>)>,
    pub restarts: AtomicI64,
    pub counters: Arc<Counters>,
}

impl ConsumerStatus {
    pub fn set(&self, state: ConsumerState, error: Option<ConsumerFailure>) {
        *self.state.lock().expect("status lock") = (state, error);
    }

    pub fn report(&self) -> ConsumerReport {
        ConsumerReport {
            tenant: self.tenant.clone(),
            account_id: self.account_id,
            queue_url: self.queue_url.clone(),
            row: self.snapshot(),
            oldest_received_age_secs: self.counters.oldest_received_age_ms.load(Ordering::Relaxed) as f64 / 1000.0,
        }
    }

    pub fn snapshot(&self) -> ConsumerStateRow {
        let (state, error) = self.state.lock().expect("status lock").clone();
        let c = &self.counters;
        let last = c.last_receive_unix_ms.load(Ordering::Relaxed);
        let at = |ms: i64| (ms > 0).then(|| DateTime::<Utc>::from_timestamp_millis(ms)).flatten();
        ConsumerStateRow {
            queue_id: self.queue_id,
            state,
            failure_kind: error.as_ref().map(|e| e.kind),
            last_error: error.map(|e| e.message),
            messages_received: self.counters.received.load(Ordering::Relaxed),
            messages_committed: self.counters.committed.load(Ordering::Relaxed),
            messages_quarantined: self.counters.quarantined.load(Ordering::Relaxed),
            restarts: self.restarts.load(Ordering::Relaxed),
            last_receive_at: at(last),
            records_committed: std::array::from_fn(|i| c.records[i].load(Ordering::Relaxed)),
            records_truncated: c.truncated.load(Ordering::Relaxed),
            approximate_visible: (c.approximate_unix_ms.load(Ordering::Relaxed) > 0)
                .then(|| c.approximate_visible.load(Ordering::Relaxed)),
            approximate_in_flight: (c.approximate_unix_ms.load(Ordering::Relaxed) > 0)
                .then(|| c.approximate_in_flight.load(Ordering::Relaxed)),
            approximate_updated_at: at(c.approximate_unix_ms.load(Ordering::Relaxed)),
        }
    }
}
