//! Runtime throughput, measured in one run on the same emulator and database: a bare drain
//! (receive + delete, no processing) beside ams-hub's end-to-end drain into Postgres with each
//! SQS client (thin, then aws-sdk-sqs), and the ams-hub process's CPU time per message. Idle
//! queues: benches/idle.rs.
//! Emulator: fauxqs (npm; moto is far too slow to measure anything but itself).
//! Run: `scripts/bench` (installs fauxqs, builds the production `dist` binary). Prints figures only.
//! ams-hub runs with its defaults; `AMS_HUB_*` variables in the environment pass through.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ams_store::TenantSlug;
use ams_tests::bench::{self, cpu_seconds, cpu_split, fauxqs, release_bin, rss_mib, sdk};
use ams_tests::serve::Serve;
use ams_tests::TestDb;

const MESSAGES: usize = 40_000;

fn body(i: usize, run: &str) -> String {
    let record = ams_tests::fixture("sp-traffic.json")
        .replace("0b6f3f0e-5a8e-4c53-9a7e-2d1c6f4e8a11", &format!("{run}-{i}"))
        .replace("374615283940172", &format!("{}", 374615283940172u64 + (i % 5000) as u64));
    let compact: serde_json::Value = serde_json::from_str(&record).unwrap();
    ams_tests::gen::envelope(&compact.to_string())
}

async fn fill(sqs: &aws_sdk_sqs::Client, url: &str, run: &str) {
    bench::fill(sqs, url, Arc::new((0..MESSAGES).map(|i| body(i, run)).collect())).await;
}

/// Receive + delete with `pollers` concurrent loops until the queue is empty; messages/s.
/// `hold`: receipts kept undeleted (in flight) before each delete, as a pipeline would.
async fn bare_drain(sqs: &aws_sdk_sqs::Client, url: &str, pollers: usize, hold: usize) -> f64 {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..pollers {
        let (sqs, url) = (sqs.clone(), url.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            let mut held: std::collections::VecDeque<Vec<String>> = Default::default();
            loop {
                let out = sqs.receive_message().queue_url(&url).max_number_of_messages(10).wait_time_seconds(1).send().await.unwrap();
                let msgs = out.messages.unwrap_or_default();
                if msgs.is_empty() && held.is_empty() {
                    return n;
                }
                n += msgs.len();
                if !msgs.is_empty() {
                    held.push_back(msgs.iter().map(|m| m.receipt_handle.clone().unwrap()).collect());
                }
                while held.len() * 10 > hold / pollers || (msgs.is_empty() && !held.is_empty()) {
                    let batch = held.pop_front().unwrap();
                    let entries = batch.iter().enumerate().map(|(i, h)| {
                        aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder().id(i.to_string()).receipt_handle(h).build().unwrap()
                    });
                    sqs.delete_message_batch().queue_url(&url).set_entries(Some(entries.collect())).send().await.unwrap();
                    if held.is_empty() {
                        break;
                    }
                }
            }
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    assert_eq!(total, MESSAGES);
    // The last empty receive of each poller waited ~1 s: not part of the drain.
    total as f64 / (start.elapsed().as_secs_f64() - 1.0)
}

/// The bare drain through ams-ingest's thin SQS client (what the consumers use).
async fn bare_drain_fast(sqs: &ams_ingest::queue::thin::Sqs, url: &str, pollers: usize) -> f64 {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..pollers {
        let (sqs, url) = (sqs.clone(), url.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            loop {
                let msgs = sqs.receive(&url, 10, 1, 30, || true).await.unwrap();
                if msgs.is_empty() {
                    return n;
                }
                n += msgs.len();
                let receipts: Vec<String> = msgs.into_iter().map(|m| m.receipt_handle).collect();
                assert_eq!(sqs.delete_batch(&url, &receipts).await.unwrap(), 0);
            }
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    assert_eq!(total, MESSAGES);
    total as f64 / (start.elapsed().as_secs_f64() - 1.0)
}

#[tokio::main]
async fn main() {
    let fq = fauxqs();
    let db = TestDb::new();
    let store = db.store().await;
    let slug = TenantSlug::parse("bench").unwrap();
    let tenant = store.provision_tenant(&slug, "bench").await.unwrap();
    store.update_tenant(&slug, None, Some(true), None).await.unwrap();
    let account = store.create_account(tenant.id, "Brand", None, "external-id").await.unwrap();
    let config = sdk(&fq.1);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let url = sqs.create_queue().queue_name("bench").send().await.unwrap().queue_url.unwrap();

    fill(&sqs, &url, "bare").await;
    let own = std::process::id();
    let c0 = cpu_seconds(own);
    let bare = bare_drain(&sqs, &url, 4, 0).await;
    // The SDK's own cost of receive + delete, no processing: the floor for ams-hub's CPU.
    let bare_cpu = cpu_seconds(own) - c0;
    fill(&sqs, &url, "fast").await;
    let creds = aws_credential_types::Credentials::new("testing", "testing", None, None, "bench");
    let fast = ams_ingest::queue::thin::Sqs::new("us-east-1", Some(&fq.1), aws_credential_types::provider::SharedCredentialsProvider::new(creds)).unwrap();
    let c0 = cpu_seconds(own);
    let bare_fast = bare_drain_fast(&fast, &url, 4).await;
    let fast_cpu = cpu_seconds(own) - c0;
    fill(&sqs, &url, "held").await;
    let bare_held = bare_drain(&sqs, &url, 4, 2000).await;

    store.add_queue(account.id, &url, "us-east-1").await.unwrap();
    fill(&sqs, &url, "hub").await;
    let thin = hub_drain(&store, &db, &fq.1, "thin", MESSAGES).await;
    fill(&sqs, &url, "sdk").await;
    let sdk_client = hub_drain(&store, &db, &fq.1, "sdk", 2 * MESSAGES).await;

    println!("runtime throughput ({MESSAGES} sp-traffic messages in SNS envelopes, fauxqs, one queue):");
    println!("  bare drain (receive + delete, 4 pollers, no processing)  {bare:>8.0} msg/s");
    println!("  bare drain CPU time per message (this process, SDK only)  {:>8.0} msg per CPU-second ({bare_cpu:.2} s)", MESSAGES as f64 / bare_cpu);
    println!("  bare drain, ams-hub's SQS client (4 pollers)              {bare_fast:>8.0} msg/s");
    println!("  bare drain CPU time per message (this process, our client) {:>8.0} msg per CPU-second ({fast_cpu:.2} s)", MESSAGES as f64 / fast_cpu);
    println!("  bare drain holding 2,000 messages in flight               {bare_held:>8.0} msg/s");
    for (client, d) in [("thin", &thin), ("sdk", &sdk_client)] {
        println!("ams-hub serve, {client} SQS client (AMS_HUB_SQS_CLIENT={client}):");
        println!("  end to end into Postgres (incl. start-up)                 {:>8.0} msg/s  ({:.2}x bare)", d.e2e, d.e2e / bare);
        println!("  from its first commit to drained                          {:>8.0} msg/s  ({:.2}x bare)", d.steady, d.steady / bare);
        println!("  CPU time per message                                      {:>8.0} msg per CPU-second ({:.2} s)", MESSAGES as f64 / d.cpu, d.cpu);
        println!("  CPU per message, first commit to drained                  {:>8.0} msg per CPU-second ({:.2} s)", d.steady_msgs / d.steady_cpu, d.steady_cpu);
        println!("  CPU split, whole run                                      {:>8.0}% user, {:.0}% kernel", d.user / d.cpu * 100.0, d.system / d.cpu * 100.0);
        println!("  RSS after the drain                                       {:>8.1} MiB", d.rss);
    }
}

/// One `ams-hub serve` drain of the queue into Postgres.
struct Drain {
    e2e: f64,
    steady: f64,
    cpu: f64,
    steady_msgs: f64,
    steady_cpu: f64,
    user: f64,
    system: f64,
    rss: f64,
}

/// Runs `ams-hub serve` with the given SQS client until the tenant holds `rows` rows and the
/// consumer has committed every message of this run.
async fn hub_drain(store: &ams_store::Store, db: &TestDb, endpoint: &str, client: &str, rows: usize) -> Drain {
    // The previous run's saved counters are not this one's.
    sqlx::query("DELETE FROM control.consumer_states").execute(store.pool()).await.unwrap();
    let start = Instant::now();
    // AMS_BENCH_SSLMODE=disable: a plain TCP connection to Postgres (Debian's server offers
    // TLS, and a URL without `sslmode` prefers it, also on loopback).
    let db_url = match std::env::var("AMS_BENCH_SSLMODE") {
        Ok(mode) => format!("{}?sslmode={mode}", db.url),
        Err(_) => db.url.clone(),
    };
    let log = std::env::var("AMS_BENCH_LOG").unwrap_or("warn".into());
    let env = [("AMS_HUB_RECONCILE_SECS", "1"), ("RUST_LOG", log.as_str()), ("DATABASE_URL", db_url.as_str()), ("AMS_HUB_SQS_CLIENT", client)];
    let serve = Serve::start_bin(&release_bin(), db, endpoint, &env);
    let pid = serve.pid().unwrap();
    // AMS_BENCH_PROFILE=<file>: record a CPU profile of the end-to-end drain with perf.
    // AMS_BENCH_CALLGRAPH=dwarf unwinds a release binary without frame pointers (larger files).
    let mut perf = std::env::var("AMS_BENCH_PROFILE").ok().map(|out| {
        let graph = std::env::var("AMS_BENCH_CALLGRAPH").unwrap_or_else(|_| "fp".into());
        Command::new("perf")
            .args(["record", "-F", "4999", "--call-graph", &graph, "-o", &format!("{out}.{client}"), "-p", &pid.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("perf")
    });
    let mut first: Option<(Instant, i64, f64)> = None;
    loop {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM tenant_bench.amzn_stream_sp_traffic")
            .fetch_one(store.pool())
            .await
            .unwrap();
        let state: Option<i64> = sqlx::query_scalar("SELECT messages_committed FROM control.consumer_states")
            .fetch_optional(store.pool())
            .await
            .unwrap();
        let committed = state.unwrap_or(0) as usize;
        if first.is_none() && committed > 0 {
            // Start-up (config, migrations, pools, first receive) is not per-message work.
            first = Some((Instant::now(), committed as i64, cpu_seconds(pid)));
        }
        if n as usize == rows && committed >= MESSAGES {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(600), "not drained: {n} rows\n{}", serve.log_text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let e2e = MESSAGES as f64 / start.elapsed().as_secs_f64();
    if let Ok(path) = std::env::var("AMS_BENCH_KEEP_LOG") {
        std::fs::write(format!("{path}.{client}"), serve.log_text()).unwrap();
    }
    let (t1, n1, cpu1) = first.unwrap();
    let steady = (MESSAGES as i64 - n1) as f64 / t1.elapsed().as_secs_f64();
    let (user, system) = cpu_split(pid);
    let cpu = user + system;
    let rss = rss_mib(pid);
    if let Some(p) = perf.as_mut() {
        let _ = Command::new("kill").args(["-INT", &p.id().to_string()]).status();
        let _ = p.wait();
    }
    // SIGTERM: the leases are released, so the next run's process takes the queue at once
    // (after a kill it would wait for the lease to expire).
    let mut serve = serve;
    assert!(serve.terminate(40).is_some_and(|s| s.success()), "serve did not stop cleanly");
    Drain { e2e, steady, cpu, steady_msgs: (MESSAGES as i64 - n1) as f64, steady_cpu: cpu - cpu1, user, system, rss }
}
