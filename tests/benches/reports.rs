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

use ams_store::reports::{Dimension, Granularity, PerformanceQuery, Range};
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
    let s = schema.name();
    let started = Instant::now();
    // The last day is 2026-06-30 (US, UTC−7 in summer).
    let hours = format!(
        "generate_series(timestamptz '2026-07-01 07:00:00+00' - interval '{days} days', timestamptz '2026-07-01 06:00:00+00', interval '1 hour') AS h"
    );
    for sql in [
        format!(
            "INSERT INTO {s}.amzn_stream_sp_traffic_hourly (key_hash, marketplace_id, advertiser_id, campaign_id, ad_group_id, ad_id,
                 keyword_id, keyword_text, placement, currency, time_window_start, time_window_start_local, time_window_start_offset,
                 match_type, clicks, impressions, cost, delta_count, updated_at)
             SELECT md5('t' || c || h::text)::uuid, 'ATVPDKIKX0DER', 'ADV1', 'C' || c, 'G' || c, 'A' || c, 'K' || c, 'kw ' || c,
                    'Top of Search on-Amazon', 'USD', h, (h AT TIME ZONE 'America/Los_Angeles'), '-07:00', 'EXACT',
                    (c + extract(hour FROM h)::int) % 17, 200 + c % 300, ((c * 7 + extract(hour FROM h)::int) % 500) / 100.0, 1, now()
             FROM generate_series(1, {campaigns}) AS c, {hours}"
        ),
        format!(
            "INSERT INTO {s}.amzn_stream_sp_conversion_hourly (key_hash, marketplace_id, advertiser_id, campaign_id, ad_group_id, ad_id,
                 keyword_id, placement, currency, time_window_start, time_window_start_local, time_window_start_offset,
                 attributed_conversions_14d, attributed_units_ordered_14d, attributed_sales_14d, delta_count, updated_at)
             SELECT md5('c' || c || h::text)::uuid, 'ATVPDKIKX0DER', 'ADV1', 'C' || c, 'G' || c, 'A' || c, 'K' || c,
                    'Top of Search on-Amazon', 'USD', h, (h AT TIME ZONE 'America/Los_Angeles'), '-07:00',
                    (c + extract(hour FROM h)::int) % 3, (c + extract(hour FROM h)::int) % 4, ((c * 13) % 9000) / 100.0, 1, now()
             FROM generate_series(1, {campaigns}) AS c, {hours}"
        ),
        format!(
            "INSERT INTO {s}.amzn_stream_campaigns (marketplace_id, campaign_id, version, advertiser_id, name, state, payload, received_at)
             SELECT 'ATVPDKIKX0DER', 'C' || c, 1, 'ADV1', 'Campaign ' || c, 'ENABLED', '{{}}'::jsonb, now() FROM generate_series(1, {campaigns}) c"
        ),
        format!("ANALYZE {s}.amzn_stream_sp_traffic_hourly"),
        format!("ANALYZE {s}.amzn_stream_sp_conversion_hourly"),
        format!("ANALYZE {s}.amzn_stream_campaigns"),
    ] {
        if let Err(e) = sqlx::query(&sql).execute(store.pool()).await {
            panic!("{e}\n{sql}");
        }
    }
    let rows = campaigns * days * 24;
    println!("filled {rows} traffic and {rows} conversion rollup rows ({campaigns} campaigns × {days} days) in {:.1?}", started.elapsed());

    let month = Range::Dates(NaiveDate::from_ymd_opt(2026, 6, 1).unwrap(), NaiveDate::from_ymd_opt(2026, 6, 30).unwrap());
    let base = PerformanceQuery {
        range: month,
        granularity: Granularity::Total,
        group_by: vec![Dimension::Campaign],
        advertisers: None,
        marketplace_id: None,
        product: None,
        campaign_id: None,
        sort: Some(("cost".into(), true)),
        limit: 10_000,
    };
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
