//! Hostile load (not a test): one tenant's queues hold 2,000 bodies of 256 KiB that are not
//! JSON while another tenant's normal traffic flows. Measures ams-hub's peak RSS against its
//! memory budget, and the other tenant's throughput beside its unloaded figure. fauxqs as
//! the emulator; run by `scripts/bench` (or `cargo bench -p ams-tests --bench hostile` after
//! a release build). `AMS_BENCH_BUDGET_MIB` sets the budget (default 128, as for a 512 MiB pod);
//! `AMS_BENCH_HOSTILE_QUEUES` spreads the flood over that many queues of the tenant (default 1);
//! `AMS_BENCH_HOSTILE_KIB` sets the bodies' size (default 256; SQS takes up to 1024).

use std::sync::Arc;
use std::time::{Duration, Instant};

use ams_store::{Store, TenantSlug};
use ams_tests::bench::{fauxqs, fill, peak_rss_mib, release_bin, sdk, sp_traffic_body};
use ams_tests::serve::Serve;
use ams_tests::TestDb;

const NORMAL: usize = 20_000;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}
/// `AMS_BENCH_HOSTILE` overrides it (quicker iterations).
fn hostile_count() -> usize {
    std::env::var("AMS_BENCH_HOSTILE").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000)
}

async fn count(store: &Store, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(store.pool()).await.unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Starts ams-hub, waits until the victim's `NORMAL` records are in, and (when `hostile`)
/// until every hostile body is quarantined. Returns (victim msg/s from its first commit,
/// peak RSS in MiB, seconds until the hostile queue was done).
async fn run(db: &TestDb, store: &Store, emulator: &str, budget_mib: u64, hostile: bool) -> (f64, f64, f64) {
    let budget = (budget_mib * 1024 * 1024).to_string();
    let log = std::env::var("AMS_BENCH_LOG").unwrap_or_else(|_| "warn".into());
    let serve = Serve::start_bin(
        &release_bin(),
        db,
        emulator,
        &[("AMS_HUB_RECONCILE_SECS", "1"), ("RUST_LOG", &log), ("AMS_HUB_MAX_INFLIGHT_BYTES", budget.as_str())],
    );
    let pid = serve.pid().unwrap();
    let start = Instant::now();
    let mut first: Option<(Instant, i64)> = None;
    let trace = std::env::var("AMS_BENCH_TRACE").is_ok();
    let mut last_trace = Instant::now();
    let victim_rate = loop {
        let n = count(store, "SELECT count(*) FROM tenant_victim.amzn_stream_sp_traffic").await;
        if trace && last_trace.elapsed() > Duration::from_secs(1) {
            last_trace = Instant::now();
            let m = serve.metrics_text();
            let held: Vec<&str> = m.lines().filter(|l| l.starts_with("ams_hub_inflight") || l.starts_with("ams_hub_messages_received_total")).collect();
            eprintln!("t={:.0}s victim={n} rss={:.0}MiB {:?}", start.elapsed().as_secs_f64(), ams_tests::bench::rss_mib(pid), held);
        }
        if first.is_none() && n > 0 {
            first = Some((Instant::now(), n));
        }
        if n as usize >= NORMAL {
            let (t, n0) = first.unwrap();
            if std::env::var("AMS_BENCH_TRACE").is_ok() {
                eprintln!("victim: first commit seen at {:.1}s ({n0} rows), drained at {:.1}s", (t - start).as_secs_f64(), start.elapsed().as_secs_f64());
            }
            break (NORMAL as i64 - n0) as f64 / t.elapsed().as_secs_f64().max(1e-3);
        }
        assert!(start.elapsed() < Duration::from_secs(900), "victim not drained: {n}\n{}", serve.log_text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut hostile_secs = 0.0;
    if hostile {
        loop {
            if trace && last_trace.elapsed() > Duration::from_secs(1) {
                last_trace = Instant::now();
                let m = serve.metrics_text();
                let held: Vec<&str> = m.lines().filter(|l| l.starts_with("ams_hub_inflight_bytes{") || l.starts_with("ams_hub_inflight_waits") || l.starts_with("ams_hub_messages_received_total")).collect();
                eprintln!("t={:.0}s rss={:.0}MiB {:?}", start.elapsed().as_secs_f64(), ams_tests::bench::rss_mib(pid), held);
            }
            let n = count(store, "SELECT count(*) FROM tenant_hog.quarantine").await;
            if n as usize >= hostile_count() {
                hostile_secs = start.elapsed().as_secs_f64();
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(1800), "hostile queue not drained: {n}\n{}", serve.log_text());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let peak = peak_rss_mib(pid);
    let accounted = serve
        .metrics_text()
        .lines()
        .find_map(|l| l.strip_prefix("ams_hub_inflight_bytes_peak ")?.trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    println!("  ({}) the budget's own high-water mark: {:.0} MiB", if hostile { "loaded" } else { "alone" }, accounted / 1048576.0);
    if hostile {
        // Who the CPU of the loaded run went to: ams-hub, the emulator, Postgres (2 cores shared).
        let hub = ams_tests::bench::cpu_seconds(pid);
        let (node, pg) = (cpu_of("node"), cpu_of("postgres"));
        println!(
            "  CPU during the loaded run (since each process started): ams-hub {hub:.1} s, fauxqs {node:.1} s, Postgres {pg:.1} s"
        );
    }
    // Stopped cleanly: its long polls end and its leases are released (a killed process's
    // pending polls could take messages of the next run into their visibility timeout).
    let mut serve = serve;
    serve.terminate(35).expect("ams-hub did not stop");
    if let Ok(path) = std::env::var("AMS_BENCH_KEEP_LOG") {
        std::fs::write(format!("{path}.{}", if hostile { "loaded" } else { "alone" }), serve.log_text()).unwrap();
    }
    (victim_rate, peak, hostile_secs)
}

#[tokio::main]
async fn main() {
    let budget_mib: u64 = std::env::var("AMS_BENCH_BUDGET_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(128);
    let fq = fauxqs();
    let db = TestDb::new();
    let store = db.store().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk(&fq.1));
    let (hog_queues, kib) = (env_or("AMS_BENCH_HOSTILE_QUEUES", 1), env_or("AMS_BENCH_HOSTILE_KIB", 256));
    let mut victim_url = String::new();
    let mut hog_urls = Vec::new();
    for name in ["victim", "hog"] {
        let slug = TenantSlug::parse(name).unwrap();
        let tenant = store.provision_tenant(&slug, name).await.unwrap();
        store.update_tenant(&slug, None, Some(true), None).await.unwrap();
        let queues = if name == "hog" { hog_queues } else { 1 };
        for q in 0..queues {
            let account = store.create_account(tenant.id, &format!("Brand {q}"), None, &format!("external-id-{name}-{q}")).await.unwrap();
            let url = sqs
                .create_queue()
                .queue_name(format!("{name}-{q}"))
                // SQS's largest (1 MiB since 2025); fauxqs enforces it as SQS does.
                .attributes(aws_sdk_sqs::types::QueueAttributeName::MaximumMessageSize, "1048576")
                .send()
                .await
                .unwrap()
                .queue_url
                .unwrap();
            store.add_queue(account.id, &url, "us-east-1").await.unwrap();
            if name == "hog" {
                hog_urls.push(url);
            } else {
                victim_url = url;
            }
        }
    }

    fill(&sqs, &victim_url, Arc::new((0..NORMAL).map(|i| sp_traffic_body(i, "alone")).collect())).await;
    let (alone, alone_peak, _) = run(&db, &store, &fq.1, budget_mib, false).await;

    sqlx::query("TRUNCATE tenant_victim.amzn_stream_sp_traffic, tenant_victim.amzn_stream_sp_traffic_hourly")
        .execute(store.pool())
        .await
        .unwrap();
    // `kib` KiB each, not JSON; each distinct (they are quarantined once per distinct body),
    // dealt over the hog's queues.
    for (q, url) in hog_urls.iter().enumerate() {
        let junk: Vec<String> = (q..hostile_count())
            .step_by(hog_urls.len())
            .map(|i| format!("{i:06} {}", "#".repeat(kib * 1024 - 8)))
            .collect();
        fill(&sqs, url, Arc::new(junk)).await;
    }
    fill(&sqs, &victim_url, Arc::new((0..NORMAL).map(|i| sp_traffic_body(i, "loaded")).collect())).await;
    let (loaded, loaded_peak, hostile_secs) = run(&db, &store, &fq.1, budget_mib, true).await;

    let hostile = hostile_count();
    println!("hostile load: {hostile} x {kib} KiB non-JSON bodies on {hog_queues} queue(s) of one tenant, {NORMAL} sp-traffic messages on another (fauxqs)");
    println!("  memory budget (AMS_HUB_MAX_INFLIGHT_BYTES)          {budget_mib:>8} MiB");
    println!("  victim alone: throughput                           {alone:>8.0} msg/s, peak RSS {alone_peak:.0} MiB");
    println!("  victim beside the flood: throughput                {loaded:>8.0} msg/s ({:.2}x alone)", loaded / alone);
    println!("  peak RSS with the flood                            {loaded_peak:>8.0} MiB (budget + {:.0} MiB)", loaded_peak - budget_mib as f64);
    println!("  flood quarantined after                            {hostile_secs:>8.1} s ({:.0} MiB/s)", (hostile_count() * kib) as f64 / 1024.0 / hostile_secs);
}

/// CPU seconds of every process whose command name is `name` (Linux /proc).
fn cpu_of(name: &str) -> f64 {
    let mut total = 0.0;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        if std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == name) {
            total += std::panic::catch_unwind(|| ams_tests::bench::cpu_seconds(pid)).unwrap_or(0.0);
        }
    }
    total
}
