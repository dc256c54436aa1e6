//! A consumer's observable state, shared between the consumer (which updates counters) and
//! the supervisor (which owns the lifecycle and saves snapshots to `control.consumer_states`).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use ams_store::{AccountId, QueueId};

/// Why a consumer failed, as status and metrics show it (`failure_kind`,
/// `ams_hub_consumer_failures_total{kind}`): what an operator has to look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// No credentials, AssumeRole refused, or SQS refused the signature or the identity.
    Credentials,
    /// The queue does not exist (deleted, or the URL is wrong).
    QueueMissing,
    /// SQS throttled the calls past the retries.
    Throttled,
    /// No connection or no answer.
    Network,
    /// The ledger could not be written.
    Database,
    /// Anything else (an unreadable answer, an unexpected service error).
    Other,
}

impl FailureKind {
    pub const ALL: [FailureKind; 6] = [
        FailureKind::Credentials,
        FailureKind::QueueMissing,
        FailureKind::Throttled,
        FailureKind::Network,
        FailureKind::Database,
        FailureKind::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Credentials => "credentials",
            FailureKind::QueueMissing => "queue_missing",
            FailureKind::Throttled => "throttled",
            FailureKind::Network => "network",
            FailureKind::Database => "database",
            FailureKind::Other => "other",
        }
    }
}


#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumerState {
    Starting,
    Running,
    /// Failed; restarts at the given time.
    BackingOff,
    /// Failed several times in a row; still retried, with the longest backoff.
    Degraded,
    Stopped,
}

impl ConsumerState {
    pub fn as_str(&self) -> &'static str {
        match self {
            ConsumerState::Starting => "starting",
            ConsumerState::Running => "running",
            ConsumerState::BackingOff => "backing_off",
            ConsumerState::Degraded => "degraded",
            ConsumerState::Stopped => "stopped",
        }
    }
}

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
    pub tenant: String,
    pub account_id: AccountId,
    pub queue_url: String,
    pub row: ams_store::control::registry::ConsumerStateRow,
    /// Seconds the oldest message of the last non-empty receive had waited in the queue.
    pub oldest_received_age_secs: f64,
}

/// Everything known about one consumer.
#[derive(Debug)]
pub struct ConsumerStatus {
    pub queue_id: QueueId,
    pub queue_url: String,
    pub tenant: String,
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

    pub fn snapshot(&self) -> ams_store::control::registry::ConsumerStateRow {
        let (state, error) = self.state.lock().expect("status lock").clone();
        let c = &self.counters;
        let last = c.last_receive_unix_ms.load(Ordering::Relaxed);
        let at = |ms: i64| (ms > 0).then(|| DateTime::<Utc>::from_timestamp_millis(ms)).flatten();
        ams_store::control::registry::ConsumerStateRow {
            queue_id: self.queue_id,
            state: state.as_str().to_owned(),
            failure_kind: error.as_ref().map(|e| e.kind.as_str().to_owned()),
            last_error: error.map(|e| e.message),
            messages_received: self.counters.received.load(Ordering::Relaxed),
            messages_committed: self.counters.committed.load(Ordering::Relaxed),
            messages_quarantined: self.counters.quarantined.load(Ordering::Relaxed),
            restarts: self.restarts.load(Ordering::Relaxed),
            last_receive_at: at(last),
            records_committed: ams_model::DatasetId::ALL
                .into_iter()
                .zip(&c.records)
                .map(|(d, n)| (d.as_str(), n.load(Ordering::Relaxed)))
                .filter(|(_, n)| *n > 0)
                .map(|(d, n)| (d.to_owned(), serde_json::Value::from(n)))
                .collect::<serde_json::Map<_, _>>()
                .into(),
            records_truncated: c.truncated.load(Ordering::Relaxed),
            approximate_visible: (c.approximate_unix_ms.load(Ordering::Relaxed) > 0)
                .then(|| c.approximate_visible.load(Ordering::Relaxed)),
            approximate_in_flight: (c.approximate_unix_ms.load(Ordering::Relaxed) > 0)
                .then(|| c.approximate_in_flight.load(Ordering::Relaxed)),
            approximate_updated_at: at(c.approximate_unix_ms.load(Ordering::Relaxed)),
        }
    }
}
