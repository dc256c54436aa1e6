//! Runtime settings. Every field's doc comment is its documentation (README, Configuration).

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Rows per ledger transaction: a tenant's writer commits when it holds this many.
    pub batch_rows: usize,
    /// Longest a received message waits for its transaction, in milliseconds.
    pub batch_ms: u64,
    /// How often the supervisor compares running consumers with the registered queues (s).
    pub reconcile_secs: u64,
    /// Messages one queue may hold received but not yet deleted; a slow database makes the
    /// consumer stop receiving at this point instead of filling memory.
    pub max_in_flight: usize,
    /// Concurrent long polls of a busy queue (one while it is idle).
    pub max_pollers: usize,
    /// Long-poll wait (SQS `WaitTimeSeconds`, at most 20).
    pub wait_seconds: i32,
    /// Visibility timeout asked for on receive (s); extended while a batch is still in flight.
    pub visibility_secs: i32,
    /// How often each consumer asks SQS for the queue's approximate backlog
    /// (GetQueueAttributes), shown by the status API (s; 0: never).
    pub queue_attributes_secs: u64,
    /// Lifetime of a replica's lease on a queue (s), renewed at every reconcile. A replica
    /// that dies loses its queues to the others after this long.
    pub lease_secs: u64,
    /// First and largest delay before restarting a failed consumer (ms).
    pub backoff_min_ms: u64,
    pub backoff_max_ms: u64,
    /// Bytes the whole process may hold received but not yet deleted, across every queue and
    /// tenant, shared fairly between tenants; receiving pauses at the limit. 0: a quarter of
    /// the container's memory limit, or 256 MiB when it cannot be read.
    pub max_inflight_bytes: u64,
    /// Which client talks to SQS: `thin` (ams-hub's own, the fast path) or `sdk`
    /// (aws-sdk-sqs: the SDK's retry, FIPS/dual-stack endpoints and credential behaviour, at
    /// several times the CPU per message).
    pub sqs_client: crate::queue::SqsClient,
    /// This process's name in `control.replicas` and `control.queue_leases`; unset: the
    /// binary names it (host, pid and a random suffix).
    #[serde(deserialize_with = "text")]
    pub replica_id: Option<String>,
    /// How often the ledger's upkeep runs (s): month partitions made ahead, retention applied.
    pub upkeep_secs: u64,
    /// How often every tenant's alert rules are evaluated (s): silent streams, hours' spend,
    /// and budgets (which are also evaluated as their notifications commit). 0: no alerts and
    /// no webhook sender in this process.
    pub alerts_secs: u64,
    /// Hosts webhooks may reach over plain http and on any address, private or loopback
    /// (tests, receivers on a private network). A list in the file; comma-separated in the
    /// environment (`AMS_HUB_WEBHOOK_ALLOW_HTTP_HOSTS`).
    #[serde(deserialize_with = "list_or_commas")]
    pub webhook_allow_http_hosts: Vec<String>,
    /// Webhook deliveries one process sends at once.
    pub webhook_senders: usize,
    /// Stream v2: how often a loader lists its whole bucket when no notification arrived (s).
    /// 0: Stream v2 destinations are not loaded by this process.
    pub v2_sweep_secs: u64,
    /// Stream v2: where object versions are downloaded before they are read (one file per
    /// loader at a time, removed after). Unset: the system's temporary directory.
    #[serde(deserialize_with = "text")]
    pub v2_spool_dir: Option<String>,
}

/// A list, or one string of comma-separated items (how an environment variable holds one).
pub fn list_or_commas<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Items {
        List(Vec<String>),
        Commas(String),
    }
    Ok(match Items::deserialize(d)? {
        Items::List(l) => l,
        Items::Commas(s) => s.split(',').map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()).collect(),
    })
}

/// A name that may look like a number (`AMS_HUB_REPLICA_ID=7`): environment layers hand such
/// a value over as one.
fn text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Text {
        Text(String),
        Whole(i64),
        Number(f64),
    }
    Ok(Option::<Text>::deserialize(d)?.map(|t| match t {
        Text::Text(s) => s,
        Text::Whole(n) => n.to_string(),
        Text::Number(n) => n.to_string(),
    }))
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            batch_rows: 5000,
            batch_ms: 50,
            reconcile_secs: 3,
            max_in_flight: 2000,
            // Receives are latency-bound (and an emulator slows with many messages in
            // flight): 4 pollers reached 0.55x a bare drain, 8 reached 0.77x
            // (docs/performance.md).
            max_pollers: 8,
            wait_seconds: 20,
            visibility_secs: 60,
            queue_attributes_secs: 60,
            lease_secs: 20,
            backoff_min_ms: 500,
            backoff_max_ms: 60_000,
            max_inflight_bytes: 0,
            sqs_client: crate::queue::SqsClient::Thin,
            replica_id: None,
            upkeep_secs: ams_store::UPKEEP_EVERY.as_secs(),
            alerts_secs: 60,
            webhook_allow_http_hosts: Vec::new(),
            webhook_senders: 8,
            v2_sweep_secs: 900,
            v2_spool_dir: None,
        }
    }
}

impl RuntimeConfig {
    /// `max_inflight_bytes`, or its default.
    pub fn inflight_bytes(&self) -> u64 {
        if self.max_inflight_bytes > 0 {
            self.max_inflight_bytes
        } else {
            crate::budget::default_budget()
        }
    }

    /// The wait before a consumer's restart after `failures` failures in a row: doubling from
    /// `backoff_min_ms` up to `backoff_max_ms`, plus up to as much again at random, so that a
    /// thousand consumers failing together (an STS outage) do not restart in step.
    pub fn backoff(&self, failures: u32) -> Duration {
        crate::retry::doubling(Duration::from_millis(self.backoff_min_ms), Duration::from_millis(self.backoff_max_ms))
            .nth(failures as usize)
            .unwrap_or(Duration::from_millis(self.backoff_max_ms))
    }
}
