//! Process-wide metrics the consumers' snapshots do not hold: per tenant writer (records new and
//! duplicate per dataset, commit latency, batch size, failed writes) and per account credential
//! failures. Rendered in Prometheus text by the API's `/metrics` with the consumer series.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use ams_model::DatasetId;

/// A Prometheus histogram with fixed buckets.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    /// Sum in millionths of the unit, to stay atomic.
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram { bounds, counts: (0..bounds.len()).map(|_| AtomicU64::new(0)).collect(), sum_micros: AtomicU64::new(0), count: AtomicU64::new(0) }
    }

    pub fn observe(&self, v: f64) {
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            if v <= *b {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.sum_micros.fetch_add((v * 1e6) as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn render_unlabelled(&self, out: &mut String, name: &str) {
        let mut text = String::new();
        self.render(&mut text, name, "");
        out.push_str(&text.replace("{,", "{").replace("{}", ""));
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{b}\"}} {}", c.load(Ordering::Relaxed));
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
    }
}

const COMMIT_SECONDS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
const ROUND_SECONDS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];
const BATCH_ROWS: &[f64] = &[1.0, 10.0, 50.0, 100.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0];

/// One tenant writer's figures.
#[derive(Debug)]
pub struct WriterMetrics {
    pub inserted: [AtomicU64; DatasetId::ALL.len()],
    pub duplicates: [AtomicU64; DatasetId::ALL.len()],
    pub commit_seconds: Histogram,
    pub batch_rows: Histogram,
    pub write_failures: AtomicU64,
}

impl WriterMetrics {
    fn new() -> Self {
        WriterMetrics {
            inserted: Default::default(),
            duplicates: Default::default(),
            commit_seconds: Histogram::new(COMMIT_SECONDS),
            batch_rows: Histogram::new(BATCH_ROWS),
            write_failures: AtomicU64::new(0),
        }
    }

    pub fn committed(&self, summary: &ams_store::WriteSummary, rows: usize, took: Duration) {
        for (d, c) in &summary.datasets {
            self.inserted[d.index()].fetch_add(c.inserted, Ordering::Relaxed);
            self.duplicates[d.index()].fetch_add(c.duplicates, Ordering::Relaxed);
        }
        self.commit_seconds.observe(took.as_secs_f64());
        self.batch_rows.observe(rows as f64);
    }
}

#[derive(Default)]
pub struct Metrics {
    writers: Mutex<BTreeMap<String, Arc<WriterMetrics>>>,
    credential_failures: Mutex<BTreeMap<String, u64>>,
    /// Per SQS call (`ReceiveMessage`, …): attempts that failed and were retried.
    sqs_retries: Mutex<BTreeMap<&'static str, u64>>,
    /// Per queue URL: visibility extensions that failed (whole calls or entries).
    visibility_failures: Mutex<BTreeMap<String, u64>>,
    /// Per (tenant, queue URL, failure kind): consumer failures.
    consumer_failures: Mutex<BTreeMap<(String, String, &'static str), u64>>,
    /// The supervisor's rounds: reading the registered queues, and the lease round.
    queues_read_seconds: OnceLock<Histogram>,
    lease_round_seconds: OnceLock<Histogram>,
    memory: OnceLock<Arc<crate::memory::MemoryBudget>>,
}

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    static M: OnceLock<Metrics> = OnceLock::new();
    M.get_or_init(Metrics::default)
}

/// The `# HELP` / `# TYPE` lines that open a metric family.
pub fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A Prometheus label value, escaped.
pub fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

impl Metrics {
    /// The writer figures of a tenant (created on first use).
    pub fn writer(&self, tenant: &str) -> Arc<WriterMetrics> {
        self.writers.lock().expect("metrics lock").entry(tenant.to_owned()).or_insert_with(|| Arc::new(WriterMetrics::new())).clone()
    }

    pub fn credential_failure(&self, account: &str) {
        *self.credential_failures.lock().expect("metrics lock").entry(account.to_owned()).or_default() += 1;
    }

    pub fn set_memory_budget(&self, budget: Arc<crate::memory::MemoryBudget>) {
        let _ = self.memory.set(budget);
    }

    pub fn sqs_retry(&self, call: &'static str) {
        *self.sqs_retries.lock().expect("metrics lock").entry(call).or_default() += 1;
    }

    /// One reconcile's database work: reading the active queues, then the lease round.
    pub fn reconcile_round(&self, read: Duration, lease: Duration) {
        self.queues_read_seconds.get_or_init(|| Histogram::new(ROUND_SECONDS)).observe(read.as_secs_f64());
        self.lease_round_seconds.get_or_init(|| Histogram::new(ROUND_SECONDS)).observe(lease.as_secs_f64());
    }

    pub fn consumer_failure(&self, tenant: &str, queue_url: &str, kind: crate::queue::FailureKind) {
        let key = (tenant.to_owned(), queue_url.to_owned(), kind.as_str());
        *self.consumer_failures.lock().expect("metrics lock").entry(key).or_default() += 1;
    }

    pub fn visibility_failures(&self, queue_url: &str, n: u64) {
        *self.visibility_failures.lock().expect("metrics lock").entry(queue_url.to_owned()).or_default() += n;
    }

    pub fn render(&self, out: &mut String) {
        let writers: Vec<(String, Arc<WriterMetrics>)> =
            self.writers.lock().expect("metrics lock").iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        for (name, help, pick) in [
            ("ams_hub_records_inserted_total", "records new to the ledger, per tenant and dataset", 0),
            ("ams_hub_records_duplicate_total", "records ignored as already in the ledger (redeliveries, replays)", 1),
        ] {
            header(out, name, "counter", help);
            for (tenant, w) in &writers {
                let arr = if pick == 0 { &w.inserted } else { &w.duplicates };
                for d in DatasetId::ALL {
                    let n = arr[d.index()].load(Ordering::Relaxed);
                    if n > 0 {
                        let _ = writeln!(out, "{name}{{tenant=\"{}\",dataset=\"{}\"}} {n}", label(tenant), d.as_str());
                    }
                }
            }
        }
        header(out, "ams_hub_batch_commit_seconds", "histogram", "time to commit one ledger batch");
        for (tenant, w) in &writers {
            w.commit_seconds.render(out, "ams_hub_batch_commit_seconds", &format!("tenant=\"{}\"", label(tenant)));
        }
        header(out, "ams_hub_writer_batch_rows", "histogram", "records and quarantined bodies per ledger batch");
        for (tenant, w) in &writers {
            w.batch_rows.render(out, "ams_hub_writer_batch_rows", &format!("tenant=\"{}\"", label(tenant)));
        }
        header(out, "ams_hub_write_failures_total", "counter", "ledger writes that failed and were retried");
        for (tenant, w) in &writers {
            let _ = writeln!(out, "ams_hub_write_failures_total{{tenant=\"{}\"}} {}", label(tenant), w.write_failures.load(Ordering::Relaxed));
        }
        header(out, "ams_hub_credential_failures_total", "counter", "failed credential refreshes (STS AssumeRole) per account");
        for (account, n) in self.credential_failures.lock().expect("metrics lock").iter() {
            let _ = writeln!(out, "ams_hub_credential_failures_total{{account=\"{}\"}} {n}", label(account));
        }
        if let Some(budget) = self.memory.get() {
            header(out, "ams_hub_inflight_bytes_limit", "gauge", "bytes the process may hold received but not deleted (AMS_HUB_MAX_INFLIGHT_BYTES)");
            let _ = writeln!(out, "ams_hub_inflight_bytes_limit {}", budget.total());
            header(out, "ams_hub_inflight_waits_total", "counter", "receives that waited for room in the memory budget (full, or the tenant over its share)");
            let _ = writeln!(out, "ams_hub_inflight_waits_total {}", budget.waits());
            header(out, "ams_hub_inflight_bytes", "gauge", "bytes held received but not deleted, per tenant");
            for (tenant, n) in budget.by_tenant() {
                let _ = writeln!(out, "ams_hub_inflight_bytes{{tenant=\"{}\"}} {n}", label(&tenant));
            }
        }
        header(out, "ams_hub_sqs_retries_total", "counter", "SQS calls retried after a timeout, I/O error, 5xx, throttling or clock skew");
        for (call, n) in self.sqs_retries.lock().expect("metrics lock").iter() {
            let _ = writeln!(out, "ams_hub_sqs_retries_total{{call=\"{call}\"}} {n}");
        }
        header(out, "ams_hub_visibility_extension_failures_total", "counter", "messages whose visibility could not be extended while their batch waited");
        for (queue, n) in self.visibility_failures.lock().expect("metrics lock").iter() {
            let _ = writeln!(out, "ams_hub_visibility_extension_failures_total{{queue=\"{}\"}} {n}", label(queue));
        }
        for (name, help, h) in [
            ("ams_hub_reconcile_read_seconds", "time to read the registered queues at a reconcile", &self.queues_read_seconds),
            ("ams_hub_lease_round_seconds", "time of a lease round (heartbeat, renew, claim)", &self.lease_round_seconds),
        ] {
            if let Some(h) = h.get() {
                header(out, name, "histogram", help);
                h.render_unlabelled(out, name);
            }
        }
        header(out, "ams_hub_consumer_failures_total", "counter", "consumer failures by kind (credentials, queue_missing, throttled, network, database, other)");
        for ((tenant, queue, kind), n) in self.consumer_failures.lock().expect("metrics lock").iter() {
            let _ = writeln!(out, "ams_hub_consumer_failures_total{{tenant=\"{}\",queue=\"{}\",kind=\"{kind}\"}} {n}", label(tenant), label(queue));
        }
    }
}
