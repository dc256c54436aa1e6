//! What a consumer reports (its state, why it failed, its counts), typed as the runtime
//! sees it and turned into words only when it is saved to `control.consumer_states`, which
//! the status API and the dashboard read back as the same types.

use ams_model::DatasetId;
use chrono::Utc;

use crate::{QueueId, Store, StoreError};

crate::text_enum! {
    /// Where a consumer is in its life.
    pub enum ConsumerState {
        Starting = "starting",
        Running = "running",
        /// Failed; restarts at the given time.
        BackingOff = "backing_off",
        /// Failed several times in a row; still retried, with the longest backoff.
        Degraded = "degraded",
        Stopped = "stopped",
    }
}

crate::text_enum! {
    /// Why a consumer failed, as status and metrics show it (`failure_kind`,
    /// `ams_hub_consumer_failures_total{kind}`): what an operator has to look at.
    pub enum FailureKind {
        /// No credentials, AssumeRole refused, or SQS refused the signature or the identity.
        Credentials = "credentials",
        /// The queue does not exist (deleted, or the URL is wrong).
        QueueMissing = "queue_missing",
        /// SQS throttled the calls past the retries.
        Throttled = "throttled",
        /// No connection or no answer.
        Network = "network",
        /// The ledger could not be written.
        Database = "database",
        /// Anything else (an unreadable answer, an unexpected service error).
        Other = "other",
    }
}

/// A consumer's state as the supervisor last saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerStateRow {
    pub queue_id: QueueId,
    pub state: ConsumerState,
    pub last_error: Option<String>,
    /// What kind of failure `last_error` is.
    pub failure_kind: Option<FailureKind>,
    pub messages_received: i64,
    pub messages_committed: i64,
    pub messages_quarantined: i64,
    pub restarts: i64,
    pub last_receive_at: Option<chrono::DateTime<Utc>>,
    /// Records committed per dataset since the consumer started, indexed by
    /// [`DatasetId::index`].
    pub records_committed: [i64; DatasetId::ALL.len()],
    /// Records committed that Amazon had truncated (`PAYLOAD_TRUNCATED`).
    pub records_truncated: i64,
    pub approximate_visible: Option<i64>,
    pub approximate_in_flight: Option<i64>,
    pub approximate_updated_at: Option<chrono::DateTime<Utc>>,
}

impl ConsumerStateRow {
    /// `{"sp-traffic": n, …}` of the datasets with records, as the column keeps it.
    fn records_json(&self) -> serde_json::Value {
        DatasetId::ALL
            .into_iter()
            .zip(self.records_committed)
            .filter(|(_, n)| *n > 0)
            .map(|(d, n)| (d.as_str().to_owned(), serde_json::Value::from(n)))
            .collect::<serde_json::Map<_, _>>()
            .into()
    }
}

impl Store {
    /// Upserts the consumers' states (one statement for all).
    pub async fn save_consumer_states(&self, rows: &[ConsumerStateRow]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let col = |f: fn(&ConsumerStateRow) -> i64| rows.iter().map(f).collect::<Vec<i64>>();
        sqlx::query(
            "INSERT INTO consumer_states AS c (queue_id, state, last_error, messages_received,
                 messages_committed, messages_quarantined, restarts, last_receive_at, records_committed,
                 approximate_visible, approximate_in_flight, approximate_updated_at, failure_kind,
                 records_truncated, updated_at)
             SELECT u.*, now() FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::bigint[], $5::bigint[],
                 $6::bigint[], $7::bigint[], $8::timestamptz[], $9::jsonb[], $10::bigint[], $11::bigint[],
                 $12::timestamptz[], $13::text[], $14::bigint[])
                 AS u(queue_id, state, last_error, received, committed, quarantined, restarts, last_receive_at,
                      records_committed, approximate_visible, approximate_in_flight, approximate_updated_at,
                      failure_kind, records_truncated)
             -- a queue deleted meanwhile has no state to keep
             WHERE EXISTS (SELECT 1 FROM queues q WHERE q.id = u.queue_id)
             ON CONFLICT (queue_id) DO UPDATE SET state = excluded.state, last_error = excluded.last_error,
                 messages_received = excluded.messages_received, messages_committed = excluded.messages_committed,
                 messages_quarantined = excluded.messages_quarantined, restarts = excluded.restarts,
                 last_receive_at = excluded.last_receive_at, records_committed = excluded.records_committed,
                 approximate_visible = excluded.approximate_visible,
                 approximate_in_flight = excluded.approximate_in_flight,
                 approximate_updated_at = excluded.approximate_updated_at, failure_kind = excluded.failure_kind,
                 records_truncated = excluded.records_truncated, updated_at = now()",
        )
        .bind(rows.iter().map(|r| r.queue_id.0).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.state.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.last_error.clone()).collect::<Vec<_>>())
        .bind(col(|r| r.messages_received))
        .bind(col(|r| r.messages_committed))
        .bind(col(|r| r.messages_quarantined))
        .bind(col(|r| r.restarts))
        .bind(rows.iter().map(|r| r.last_receive_at).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.records_json()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.approximate_visible).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.approximate_in_flight).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.approximate_updated_at).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.failure_kind.map(FailureKind::as_str)).collect::<Vec<_>>())
        .bind(col(|r| r.records_truncated))
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
