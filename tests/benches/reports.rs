//! The reporting views at agency scale: one tenant with `AMS_BENCH_CAMPAIGNS` (1,000) Sponsored
//! Products campaigns × `AMS_BENCH_DAYS` (90) days of hourly traffic and conversion rollups
//! (2.16 million rows each), then each report `AMS_BENCH_REPS` (20) times through the store's
//! report query (what the API runs):
//!
//! * 30 days grouped by campaign (totals), the target: under 300 ms;
//! * 30 days grouped by campaign and day;
//! * the hourly series of one campaign over 30 days, the target: under 50 ms.
//!
//! Prints min / median / max and the plan of the first run of each.
//! Run: `cargo bench -p ams-tests --bench reports` (scripts/bench runs it too).

use std::time::{Duration, Instant};

use ams_store::reports::{Granularity, PerformanceQuery, Range};
use ams_store::{TenantSchema, TenantSlug};
use ams_tests::TestDb;
use chrono::NaiveDate;

fn var(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let (campaigns, days, reps) = (var("AMS_BENCH_CAMPAIGNS", 1000), var("AMS_BENCH_DAYS", 90), var("AMS_BENCH_REPS", 20));
    let db = TestDb::new();
    let store = db.store().await;
    let slug = TenantSlug::parse("bench").unwrap();
    store.provision_tenant(&slug, "bench").await.unwrap();
    let schema = TenantSchema::of(&slug);
    let started = Instant::now();
    ams_tests::gen::fill_rollups(&store, &schema, campaigns, days).await;
    let rows = campaigns * days * 24;
    println!("filled {rows} traffic and {rows} conversion rollup rows ({campaigns} campaigns × {days} days) in {:.1?}", started.elapsed());

    let month = Range::Dates(NaiveDate::from_ymd_opt(2026, 6, 1).unwrap(), NaiveDate::from_ymd_opt(2026, 6, 30).unwrap());
    let base = ams_tests::bench::by_campaign(month);
    let cases = [
        ("30 days by campaign (totals)", base.clone(), 300),
        ("30 days by campaign and day", PerformanceQuery { granularity: Granularity::Day, sort: None, ..base.clone() }, 0),
        (
            "one campaign, hourly, 30 days",
            PerformanceQuery { granularity: Granularity::Hour, group_by: vec![], campaign_id: Some("C500".into()), sort: None, ..base.clone() },
            50,
        ),
    ];
    for (name, q, target_ms) in cases {
        let mut times: Vec<Duration> = Vec::new();
        let mut n = 0;
        for _ in 0..reps {
            let t = Instant::now();
            let r = store.performance(&schema, &q).await.unwrap();
            times.push(t.elapsed());
            n = r.rows.len();
        }
        times.sort();
        let target = if target_ms > 0 { format!(" (target < {target_ms} ms)") } else { String::new() };
        println!(
            "{name}: {n} rows; min {:.1?}, median {:.1?}, max {:.1?} over {reps} runs{target}",
            times[0],
            times[times.len() / 2],
            times[times.len() - 1]
        );
    }
}
