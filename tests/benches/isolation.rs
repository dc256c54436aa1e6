//! Database isolation (not a test): one tenant's `read` key runs heavy reports in a loop, eight
//! at a time, while another tenant's 100,000 sp-traffic messages ingest. Measures the ingest
//! rate beside its unloaded figure (target ≥ 0.7×), failed ledger writes (target 0), and
//! `/readyz` (target: always 200), and counts the reports' answers (200, 429 over the
//! tenant's concurrent-report limit, 503 past the statement timeout).
//!
//! The reader's data: `AMS_BENCH_CAMPAIGNS` (1,000) campaigns × 90 days of hourly traffic and
//! conversion rollups, as the reports bench fills them. Each report: 400 days, hourly,
//! grouped by every dimension, 10,000 rows. fauxqs as the emulator, the release build;
//! `cargo bench -p ams-tests --bench isolation` (scripts/bench runs it).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ams_store::{Store, TenantSlug};
use ams_tests::api::{serve_bin_with_api, ADMIN_TOKEN};
use ams_tests::bench::{fauxqs, fill, release_bin, sdk, sp_traffic_body};
use ams_tests::TestDb;
use serde_json::json;

fn var(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

const HEAVY: &str = "/v1/tenants/reader/reports/performance?from=2025-06-01&to=2026-07-04&granularity=hour\
    &group_by=account,marketplace,product,campaign,ad_group,ad,target,placement&limit=10000";

/// What the load saw while the ingest drained.
#[derive(Default)]
struct Seen {
    ok: AtomicU64,
    limited: AtomicU64,
    timed_out: AtomicU64,
    other: AtomicU64,
    ready_polls: AtomicU64,
    not_ready: AtomicU64,
}

async fn rows(store: &Store) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM tenant_writer.amzn_stream_sp_traffic").fetch_one(store.pool()).await.unwrap()
}

/// Serves until the writer tenant holds `total` rows; with `load`, eight report loops and a
/// `/readyz` poller run meanwhile. Returns (msg/s from the first commit, failed writes, seen).
async fn run(db: &TestDb, store: &Store, emulator: &str, total: i64, read_key: &str, load: bool) -> (f64, f64, Arc<Seen>) {
    let (serve, api) = serve_bin_with_api(&release_bin(), db, emulator, &[("RUST_LOG", "warn")]);
    let seen = Arc::new(Seen::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    if load {
        for _ in 0..8 {
            let (api, key, seen, stop) = (api.clone(), read_key.to_owned(), seen.clone(), stop.clone());
            threads.push(std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let (status, _) = api.call("GET", HEAVY, Some(&key), None);
                    let counter = match status {
                        200 => &seen.ok,
                        429 => &seen.limited,
                        503 => &seen.timed_out,
                        _ => &seen.other,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    if status == 429 {
                        // As a client honouring Retry-After would, but sooner: keep the pressure on.
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }));
        }
        let (api, seen, stop) = (api.clone(), seen.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let status = ureq::get(&format!("{}/readyz", api.base)).timeout(Duration::from_secs(5)).call().map_or(0, |r| r.status());
                seen.ready_polls.fetch_add(1, Ordering::Relaxed);
                if status != 200 {
                    seen.not_ready.fetch_add(1, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }));
    }
    let start = Instant::now();
    let mut first: Option<(Instant, i64)> = None;
    let rate = loop {
        let n = rows(store).await;
        if first.is_none() && n > 0 {
            first = Some((Instant::now(), n));
        }
        if n >= total {
            let (t, n0) = first.unwrap();
            break (total - n0) as f64 / t.elapsed().as_secs_f64().max(1e-3);
        }
        assert!(start.elapsed() < Duration::from_secs(900), "not drained: {n}\n{}", serve.log_text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let failures = serve
        .metrics_text()
        .lines()
        .filter_map(|l| l.strip_prefix("ams_hub_write_failures_total")?.split_whitespace().last()?.parse::<f64>().ok())
        .fold(0.0, |a, b| a + b);
    let mut serve = serve;
    serve.terminate(35).expect("ams-hub did not stop");
    (rate, failures, seen)
}

#[tokio::main]
async fn main() {
    let (messages, campaigns) = (var("AMS_BENCH_MESSAGES", 100_000), var("AMS_BENCH_CAMPAIGNS", 1000));
    let fq = fauxqs();
    let db = TestDb::new();
    let store = db.store().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk(&fq.1));

    // The reader: rollups to report on, and a read key.
    let reader = TenantSlug::parse("reader").unwrap();
    store.provision_tenant(&reader, "reader").await.unwrap();
    let started = Instant::now();
    ams_tests::gen::fill_rollups(&store, &ams_store::TenantSchema::of(&reader), campaigns, 90).await;
    println!("reader: {campaigns} campaigns × 90 days of hourly rollups in {:.0?}", started.elapsed());
    // The writer: one queue.
    let writer = TenantSlug::parse("writer").unwrap();
    let w = store.provision_tenant(&writer, "writer").await.unwrap();
    store.update_tenant(&writer, None, Some(true), None).await.unwrap();
    let account = store.create_account(w.id, "Brand", None, "external-id-writer").await.unwrap();
    let url = sqs.create_queue().queue_name("writer").send().await.unwrap().queue_url.unwrap();
    store.add_queue(account.id, &url, "us-east-1").await.unwrap();

    let key = {
        let (serve, api) = serve_bin_with_api(&release_bin(), &db, &fq.1, &[("RUST_LOG", "warn")]);
        let k = api.ok("POST", "/v1/tenants/reader/api-keys", Some(ADMIN_TOKEN), Some(&json!({"name": "bi", "scope": "read"})), 201);
        let (status, body) = api.call("GET", HEAVY, k["token"].as_str(), None);
        println!("one heavy report alone: HTTP {status}, {} rows", body["rows"].as_array().map_or(0, Vec::len));
        let mut serve = serve;
        serve.terminate(35).expect("ams-hub did not stop");
        k["token"].as_str().unwrap().to_owned()
    };

    fill(&sqs, &url, Arc::new((0..messages).map(|i| sp_traffic_body(i, "alone")).collect())).await;
    let (alone, _, _) = run(&db, &store, &fq.1, messages as i64, &key, false).await;
    sqlx::query("TRUNCATE tenant_writer.amzn_stream_sp_traffic, tenant_writer.amzn_stream_sp_traffic_hourly").execute(store.pool()).await.unwrap();
    fill(&sqs, &url, Arc::new((0..messages).map(|i| sp_traffic_body(i, "loaded")).collect())).await;
    let (loaded, failures, seen) = run(&db, &store, &fq.1, messages as i64, &key, true).await;

    let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
    println!("database isolation: {messages} sp-traffic messages ingesting while one read key runs 8 heavy reports at a time");
    println!("  ingest alone                                 {alone:>8.0} msg/s");
    println!("  ingest beside the reports                    {loaded:>8.0} msg/s ({:.2}x alone)", loaded / alone);
    println!("  failed ledger writes                         {failures:>8.0}");
    println!("  /readyz not 200                              {:>8} of {} polls", n(&seen.not_ready), n(&seen.ready_polls));
    println!(
        "  reports: 200 {}, 429 (tenant's limit) {}, 503 (statement timeout) {}, other {}",
        n(&seen.ok),
        n(&seen.limited),
        n(&seen.timed_out),
        n(&seen.other)
    );
}
