//! The process's metrics, through `prometheus-client` (OpenMetrics text): per tenant writer
//! (records new and duplicate per dataset, commit latency, batch size, failed writes), per
//! account credential failures, SQS retries, visibility failures, consumer failures by kind,
//! the supervisor's rounds, and the memory budget. The consumers' own series (received,
//! committed, state, backlog…) come from their snapshots at each scrape: [`encode_consumers`],
//! called by the API's `/metrics` with [`Metrics::encode`].

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::status::ConsumerReport;

const COMMIT_SECONDS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
const BATCH_ROWS: [f64; 9] = [1.0, 10.0, 50.0, 100.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0];
const ROUND_SECONDS: [f64; 11] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TenantLabels {
    tenant: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DatasetLabels {
    tenant: String,
    dataset: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AccountLabels {
    account: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    call: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    queue: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    tenant: String,
    queue: String,
    kind: &'static str,
}

/// A consumer's series: whose queue it is.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConsumerLabels {
    tenant: String,
    account: String,
    queue: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConsumerDatasetLabels {
    tenant: String,
    account: String,
    queue: String,
    dataset: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConsumerStateLabels {
    tenant: String,
    account: String,
    queue: String,
    state: &'static str,
}

type Histograms = Family<TenantLabels, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    inserted: Family<DatasetLabels, Counter>,
    duplicates: Family<DatasetLabels, Counter>,
    commit_seconds: Histograms,
    batch_rows: Histograms,
    write_failures: Family<TenantLabels, Counter>,
    credential_failures: Family<AccountLabels, Counter>,
    sqs_retries: Family<CallLabels, Counter>,
    visibility_failures: Family<QueueLabels, Counter>,
    consumer_failures: Family<FailureLabels, Counter>,
    reconcile_read_seconds: Histogram,
    lease_round_seconds: Histogram,
    oldest_kept_day: Family<TenantLabels, Gauge>,
    deltas_kept_from: Family<TenantLabels, Gauge>,
    partitions_dropped: Family<TenantLabels, Counter>,
    memory: OnceLock<Arc<crate::budget::MemoryBudget>>,
}

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    static M: OnceLock<Metrics> = OnceLock::new();
    M.get_or_init(Metrics::new)
}

impl Metrics {
    fn new() -> Metrics {
        let m = Metrics {
            registry: Registry::default(),
            inserted: Family::default(),
            duplicates: Family::default(),
            commit_seconds: Family::new_with_constructor(|| Histogram::new(COMMIT_SECONDS)),
            batch_rows: Family::new_with_constructor(|| Histogram::new(BATCH_ROWS)),
            write_failures: Family::default(),
            credential_failures: Family::default(),
            sqs_retries: Family::default(),
            visibility_failures: Family::default(),
            consumer_failures: Family::default(),
            reconcile_read_seconds: Histogram::new(ROUND_SECONDS),
            lease_round_seconds: Histogram::new(ROUND_SECONDS),
            oldest_kept_day: Family::default(),
            deltas_kept_from: Family::default(),
            partitions_dropped: Family::default(),
            memory: OnceLock::new(),
        };
        let mut r = Registry::default();
        // Counters are registered without `_total`: the library appends it.
        r.register("ams_hub_records_inserted", "records new to the ledger, per tenant and dataset", m.inserted.clone());
        r.register("ams_hub_records_duplicate", "records ignored as already in the ledger (redeliveries, replays)", m.duplicates.clone());
        r.register("ams_hub_batch_commit_seconds", "time to commit one ledger batch", m.commit_seconds.clone());
        r.register("ams_hub_writer_batch_rows", "records and quarantined bodies per ledger batch", m.batch_rows.clone());
        r.register("ams_hub_write_failures", "ledger writes that failed and were retried", m.write_failures.clone());
        r.register("ams_hub_credential_failures", "failed credential refreshes (STS AssumeRole) per account", m.credential_failures.clone());
        r.register("ams_hub_sqs_retries", "SQS calls retried after a timeout, I/O error, 5xx, throttling or clock skew", m.sqs_retries.clone());
        r.register(
            "ams_hub_visibility_extension_failures",
            "messages whose visibility could not be extended while their batch waited",
            m.visibility_failures.clone(),
        );
        r.register(
            "ams_hub_consumer_failures",
            "consumer failures by kind (credentials, queue_missing, throttled, network, database, other)",
            m.consumer_failures.clone(),
        );
        r.register("ams_hub_reconcile_read_seconds", "time to read the registered queues at a reconcile", m.reconcile_read_seconds.clone());
        r.register("ams_hub_lease_round_seconds", "time of a lease round (heartbeat, hand-overs, claims)", m.lease_round_seconds.clone());
        r.register(
            "ams_hub_ledger_oldest_kept_day_timestamp_seconds",
            "the first day of the oldest month of deltas a tenant's ledger holds (UTC midnight, Unix time)",
            m.oldest_kept_day.clone(),
        );
        r.register(
            "ams_hub_ledger_deltas_kept_from_timestamp_seconds",
            "a tenant's retention horizon: deltas before it were dropped and are refused when late (absent: none dropped)",
            m.deltas_kept_from.clone(),
        );
        r.register("ams_hub_ledger_partitions_dropped", "month partitions retention dropped", m.partitions_dropped.clone());
        Metrics { registry: r, ..m }
    }

    /// What a tenant's ledger holds, as its upkeep last read it.
    pub fn ledger_horizon(&self, tenant: &str, h: &ams_store::LedgerHorizon) {
        let labels = TenantLabels { tenant: tenant.to_owned() };
        if let Some(day) = h.oldest_kept_day {
            let secs = day.and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp();
            self.oldest_kept_day.get_or_create(&labels).set(secs);
        }
        if let Some(t) = h.deltas_kept_from {
            self.deltas_kept_from.get_or_create(&labels).set(t.timestamp());
        }
    }

    pub fn partitions_dropped(&self, tenant: &str, n: u64) {
        self.partitions_dropped.get_or_create(&TenantLabels { tenant: tenant.to_owned() }).inc_by(n);
    }

    /// The writer figures of a tenant.
    pub fn writer(&self, tenant: &str) -> WriterMetrics {
        WriterMetrics { tenant: tenant.to_owned() }
    }

    pub fn credential_failure(&self, account: &str) {
        self.credential_failures.get_or_create(&AccountLabels { account: account.to_owned() }).inc();
    }

    pub fn set_memory_budget(&self, budget: Arc<crate::budget::MemoryBudget>) {
        let _ = self.memory.set(budget);
    }

    pub fn sqs_retry(&self, call: &'static str) {
        self.sqs_retries.get_or_create(&CallLabels { call }).inc();
    }

    /// One reconcile's database work: reading the active queues, then the lease round.
    pub fn reconcile_round(&self, read: Duration, lease: Duration) {
        self.reconcile_read_seconds.observe(read.as_secs_f64());
        self.lease_round_seconds.observe(lease.as_secs_f64());
    }

    pub fn consumer_failure(&self, tenant: &str, queue_url: &str, kind: crate::status::FailureKind) {
        let labels = FailureLabels { tenant: tenant.to_owned(), queue: queue_url.to_owned(), kind: kind.as_str() };
        self.consumer_failures.get_or_create(&labels).inc();
    }

    pub fn visibility_failures(&self, queue_url: &str, n: u64) {
        self.visibility_failures.get_or_create(&QueueLabels { queue: queue_url.to_owned() }).inc_by(n);
    }

    /// The process's series (not the consumers'; see [`encode_consumers`]), in OpenMetrics
    /// text without the closing `# EOF` ([`finish`]).
    pub fn encode(&self, out: &mut String) {
        let _ = encode_registry(out, &self.registry);
        // The memory budget's figures, read now.
        if let Some(budget) = self.memory.get() {
            let mut r = Registry::default();
            let limit = Gauge::<i64>::default();
            limit.set(budget.total() as i64);
            r.register("ams_hub_inflight_bytes_limit", "bytes the process may hold received but not deleted (AMS_HUB_MAX_INFLIGHT_BYTES)", limit);
            let peak = Gauge::<i64>::default();
            peak.set(budget.peak() as i64);
            r.register("ams_hub_inflight_bytes_peak", "the most bytes held received but not deleted at once since the process started", peak);
            let waits = Counter::<u64>::default();
            waits.inc_by(budget.waits());
            r.register("ams_hub_inflight_waits", "receives that waited for room in the memory budget (full, or the tenant over its share)", waits);
            let held = Family::<TenantLabels, Gauge>::default();
            for (tenant, n) in budget.by_tenant() {
                held.get_or_create(&TenantLabels { tenant: tenant.to_string() }).set(n as i64);
            }
            r.register("ams_hub_inflight_bytes", "bytes held received but not deleted, per tenant", held);
            let _ = encode_registry(out, &r);
        }
    }
}

/// Ends an exposition.
pub fn finish(out: &mut String) {
    let _ = encode_eof(out);
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConnectionLabels {
    tenant: String,
    status: String,
}

/// `ams_hub_ads_connections{tenant, status}`: Amazon Ads logins by status (`invalid` ones need
/// connecting again), from (tenant, status, count) rows.
pub fn encode_ads_connections(out: &mut String, rows: &[(ams_store::TenantSlug, ams_store::ConnectionStatus, i64)]) {
    let mut reg = Registry::default();
    let family = Family::<ConnectionLabels, Gauge>::default();
    for (tenant, status, n) in rows {
        family.get_or_create(&ConnectionLabels { tenant: tenant.to_string(), status: status.as_str().to_owned() }).set(*n);
    }
    reg.register("ams_hub_ads_connections", "Amazon Ads API connections (logins) by status", family);
    let _ = encode_registry(out, &reg);
}

/// The consumers' series, from their snapshots.
pub fn encode_consumers(out: &mut String, reports: &[ConsumerReport]) {
    let labels = |r: &ConsumerReport| ConsumerLabels {
        tenant: r.tenant.as_str().to_owned(),
        account: r.account_id.to_string(),
        queue: r.queue_url.clone(),
    };
    let mut reg = Registry::default();
    let up = Gauge::<i64>::default();
    up.set(1);
    reg.register("ams_hub_up", "1 while the process serves", up);
    let counters: [(&str, &str, fn(&ConsumerReport) -> i64); 5] = [
        ("ams_hub_messages_received", "SQS messages received", |r| r.row.messages_received),
        ("ams_hub_messages_committed", "messages committed to the ledger and deleted", |r| r.row.messages_committed),
        ("ams_hub_messages_quarantined", "messages quarantined", |r| r.row.messages_quarantined),
        ("ams_hub_consumer_restarts", "consumer restarts after a failure", |r| r.row.restarts),
        (
            "ams_hub_records_truncated",
            "records committed that Amazon had truncated to fit SQS (PAYLOAD_TRUNCATED, stored and flagged)",
            |r| r.row.records_truncated,
        ),
    ];
    for (name, help, value) in counters {
        let family = Family::<ConsumerLabels, Counter>::default();
        for r in reports {
            family.get_or_create(&labels(r)).inc_by(value(r).max(0) as u64);
        }
        reg.register(name, help, family);
    }
    let records = Family::<ConsumerDatasetLabels, Counter>::default();
    for r in reports {
        for (dataset, n) in ams_model::DatasetId::ALL.into_iter().zip(r.row.records_committed).filter(|(_, n)| *n > 0) {
            let l = labels(r);
            let key = ConsumerDatasetLabels { tenant: l.tenant, account: l.account, queue: l.queue, dataset: dataset.as_str() };
            records.get_or_create(&key).inc_by(n as u64);
        }
    }
    reg.register("ams_hub_records_committed", "records committed, per dataset", records);
    let state = Family::<ConsumerStateLabels, Gauge>::default();
    for r in reports {
        let l = labels(r);
        state.get_or_create(&ConsumerStateLabels { tenant: l.tenant, account: l.account, queue: l.queue, state: r.row.state.as_str() }).set(1);
    }
    reg.register("ams_hub_consumer_state", "1 for the consumer's current state", state);
    let gauges: [(&str, &str, fn(&ConsumerReport) -> Option<i64>); 3] = [
        ("ams_hub_queue_approximate_messages", "SQS ApproximateNumberOfMessages, polled", |r| r.row.approximate_visible),
        ("ams_hub_queue_approximate_messages_not_visible", "SQS ApproximateNumberOfMessagesNotVisible, polled", |r| r.row.approximate_in_flight),
        (
            "ams_hub_queue_oldest_received_age_seconds",
            "how long the oldest message of the last receive waited in the queue (from SentTimestamp)",
            |r| Some(r.oldest_received_age_secs.round() as i64),
        ),
    ];
    for (name, help, value) in gauges {
        let family = Family::<ConsumerLabels, Gauge>::default();
        for r in reports {
            if let Some(v) = value(r) {
                family.get_or_create(&labels(r)).set(v);
            }
        }
        reg.register(name, help, family);
    }
    let _ = encode_registry(out, &reg);
}

/// A tenant writer's figures.
pub struct WriterMetrics {
    tenant: String,
}

impl WriterMetrics {
    pub fn committed(&self, summary: &ams_store::WriteSummary, rows: usize, took: Duration) {
        let m = metrics();
        for (d, c) in &summary.datasets {
            let labels = DatasetLabels { tenant: self.tenant.clone(), dataset: d.as_str() };
            if c.inserted > 0 {
                m.inserted.get_or_create(&labels).inc_by(c.inserted);
            }
            if c.duplicates > 0 {
                m.duplicates.get_or_create(&labels).inc_by(c.duplicates);
            }
        }
        let tenant = TenantLabels { tenant: self.tenant.clone() };
        m.commit_seconds.get_or_create(&tenant).observe(took.as_secs_f64());
        m.batch_rows.get_or_create(&tenant).observe(rows as f64);
    }

    pub fn write_failed(&self) {
        metrics().write_failures.get_or_create(&TenantLabels { tenant: self.tenant.clone() }).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exposition a scrape gets: the library's format, the series names operators and the
    /// PrometheusRule use.
    #[test]
    fn series_keep_their_names_and_labels() {
        let m = metrics();
        m.sqs_retry("ReceiveMessage");
        m.writer("acme").write_failed();
        m.consumer_failure("acme", "https://q", crate::status::FailureKind::Throttled);
        let mut out = String::new();
        m.encode(&mut out);
        finish(&mut out);
        for line in [
            "ams_hub_sqs_retries_total{call=\"ReceiveMessage\"} 1",
            "ams_hub_write_failures_total{tenant=\"acme\"} 1",
            "ams_hub_consumer_failures_total{tenant=\"acme\",queue=\"https://q\",kind=\"throttled\"} 1",
            "# TYPE ams_hub_lease_round_seconds histogram",
        ] {
            assert!(out.lines().any(|l| l == line), "{line} missing from:\n{out}");
        }
        assert!(out.ends_with("# EOF\n"));
    }
}
