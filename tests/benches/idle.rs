//! Many idle queues, registered as an agency would: through the admin API, one request per
//! queue, while the runtime runs. Prints the registration rate as the count grows, the time for
//! all of them, the database time of the supervisor's rounds (reading the registered queues,
//! the lease round) from its own histograms, and the process's RSS and CPU once every queue has
//! a consumer long-polling it. Emulator: fauxqs. Production settings (20 s polls, reconcile
//! every 3 s). `AMS_BENCH_IDLE_QUEUES` (default 5,000) sets the count.
//! Run: `scripts/bench` (or `cargo bench -p ams-tests --bench idle` after a release build).

use std::time::{Duration, Instant};

use ams_tests::api::{serve_bin_with_api, ADMIN_TOKEN};
use ams_tests::bench::{cpu_seconds, fauxqs, release_bin, rss_mib, sdk};
use ams_tests::TestDb;
use serde_json::json;

/// (sum, count) of a histogram in Prometheus text.
fn histogram(metrics: &str, name: &str) -> (f64, f64) {
    let value = |suffix: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(&format!("{name}{suffix} ")))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0.0)
    };
    (value("_sum"), value("_count"))
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("AMS_BENCH_IDLE_QUEUES").ok().and_then(|v| v.parse().ok()).unwrap_or(5_000);
    let fq = fauxqs();
    let db = TestDb::new();
    let store = db.store().await;
    let production = [
        ("AMS_HUB_WAIT_SECONDS", "20"),
        ("AMS_HUB_RECONCILE_SECS", "3"),
        ("AMS_HUB_BACKOFF_MIN_MS", "500"),
        ("AMS_HUB_BACKOFF_MAX_MS", "60000"),
        ("RUST_LOG", "warn"),
    ];
    // fauxqs knows a queue only by the URL it gave it, on its own host name
    // (`sqs.us-east-1.localhost`), and the API accepts an emulator's queue only on the
    // configured endpoint: ams-hub is pointed at fauxqs under that name, which must resolve
    // (scripts/bench adds it to /etc/hosts).
    let port = fq.1.rsplit(':').next().unwrap();
    let endpoint = format!("http://sqs.us-east-1.localhost:{port}");
    assert!(
        std::net::ToSocketAddrs::to_socket_addrs(&("sqs.us-east-1.localhost", 80)).is_ok(),
        "sqs.us-east-1.localhost does not resolve: add `127.0.0.1 sqs.us-east-1.localhost` to /etc/hosts (scripts/bench does)"
    );
    let (serve, api) = serve_bin_with_api(&release_bin(), &db, &endpoint, &production);
    let admin = Some(ADMIN_TOKEN);
    api.ok("POST", "/v1/tenants", admin, Some(&json!({"slug": "idle", "name": "Idle agency"})), 201);
    api.ok("PATCH", "/v1/tenants/idle", admin, Some(&json!({"allow_platform_identity": true})), 200);
    let key = api.ok("POST", "/v1/tenants/idle/api-keys", admin, Some(&json!({"name": "bench", "scope": "admin"})), 201);
    let token = key["token"].as_str().unwrap().to_owned();
    let a = api.ok("POST", "/v1/tenants/idle/accounts", Some(&token), Some(&json!({"name": "Brand"})), 201);
    let base = format!("/v1/tenants/idle/accounts/{}", a["id"].as_str().unwrap());
    api.ok("POST", &format!("{base}/marketplaces"), Some(&token), Some(&json!({"marketplace": "US"})), 201);

    let sqs = aws_sdk_sqs::Client::new(&sdk(&fq.1));
    let mut urls = Vec::with_capacity(n);
    for i in 0..n {
        urls.push(sqs.create_queue().queue_name(format!("idle-{i}")).send().await.unwrap().queue_url.unwrap());
    }

    println!("{n} idle queues registered one by one through the API:");
    let started = Instant::now();
    let mut lap = Instant::now();
    for (i, url) in urls.iter().enumerate() {
        api.ok("POST", &format!("{base}/queues"), Some(&token), Some(&json!({"queue_url": url})), 201);
        if (i + 1) % 1000 == 0 {
            println!("  queues {:>5}-{:>5}: {:>6.0} per second", i + 2 - 1000, i + 1, 1000.0 / lap.elapsed().as_secs_f64());
            lap = Instant::now();
        }
    }
    println!("  all {n}: {:.1} s", started.elapsed().as_secs_f64());

    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let running: i64 = sqlx::query_scalar("SELECT count(*) FROM control.consumer_states WHERE state = 'running'")
            .fetch_one(store.pool())
            .await
            .unwrap();
        if running as usize == n {
            break;
        }
        assert!(Instant::now() < deadline, "{running} of {n} consumers running after 10 minutes");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    println!("  every consumer running {:.1} s after the first registration", started.elapsed().as_secs_f64());

    // Idle: a window of 30 s once every consumer long-polls.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let pid = serve.pid().unwrap();
    let m0 = api.metrics_text();
    let (c0, t0) = (cpu_seconds(pid), Instant::now());
    tokio::time::sleep(Duration::from_secs(30)).await;
    let cpu_share = (cpu_seconds(pid) - c0) / t0.elapsed().as_secs_f64();
    let m1 = api.metrics_text();
    println!("{n} idle queues, over 30 s:");
    println!("  RSS {:.1} MiB, CPU {:.1}% of a core", rss_mib(pid), cpu_share * 100.0);
    for (name, what) in [("ams_hub_reconcile_read_seconds", "reading the registered queues"), ("ams_hub_lease_round_seconds", "lease round")] {
        let ((s0, k0), (s1, k1)) = (histogram(&m0, name), histogram(&m1, name));
        println!("  {what:<30} {:>7.1} ms per round ({} rounds)", (s1 - s0) / (k1 - k0).max(1.0) * 1000.0, k1 - k0);
    }
}
