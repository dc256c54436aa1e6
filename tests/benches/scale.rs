//! The ledger as it grows: one tenant filled with `AMS_BENCH_DELTAS` (2,000,000) sp-traffic
//! deltas through the LedgerWriter, in batches of 5,000, spread in time order over 13 months
//! with an agency's key cardinality (1,000 advertisers × 20 campaigns, 4 ad groups each, 5
//! keywords per ad group, 3 placements; three increments per key and hour). Every
//! `AMS_BENCH_STEP` rows (a tenth of the run) it prints the ingest rate over that step and the
//! disk the delta table and its hourly rollup take; at the end, the two report targets (30 days
//! by campaign; one campaign's hourly series) over the last month of data.
//! Run: `cargo bench -p ams-tests --bench scale` (`AMS_BENCH_DELTAS=50000000` for the full
//! year of a thousand brands, about an hour here). Prints figures; asserts nothing about speed.

use std::time::{Duration, Instant};

use ams_model::{decode_record, Record};
use ams_store::reports::{Granularity, PerformanceQuery, Range};
use ams_store::{LedgerBatch, LedgerWriter, Provenance, TenantSchema, TenantSlug};
use ams_tests::TestDb;
use chrono::{Duration as Span, NaiveDate, TimeZone, Utc};
use rand::{Rng, SeedableRng};

const BATCH: usize = 5_000;
const ADVERTISERS: u64 = 1_000;
const CAMPAIGNS_PER: u64 = 20;
const AD_GROUPS_PER: u64 = 4;
const KEYWORDS_PER: u64 = 5;
const PLACEMENTS: [&str; 3] = ["Top of Search on-Amazon", "Detail Page on-Amazon", "Other on-Amazon"];
const HOURS: i64 = 13 * 730;
/// Deltas per key and hour: Amazon sends several increments of the same hour's figures.
const INCREMENTS: usize = 3;

/// A delta's key: (advertiser, campaign, keyword's ad group, keyword, placement).
#[derive(Clone, Copy, Default)]
struct Key(u64, u64, u64, u64, usize);

impl Key {
    fn draw(rng: &mut impl Rng) -> Key {
        let advertiser = rng.gen_range(0..ADVERTISERS);
        let campaign = advertiser * CAMPAIGNS_PER + rng.gen_range(0..CAMPAIGNS_PER);
        let ad_group = campaign * AD_GROUPS_PER + rng.gen_range(0..AD_GROUPS_PER);
        let keyword = ad_group * KEYWORDS_PER + rng.gen_range(0..KEYWORDS_PER);
        Key(advertiser, campaign, ad_group, keyword, rng.gen_range(0..PLACEMENTS.len()))
    }
}

fn var(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Delta `i` of `total`, in time order: its hour follows from its position; a key is drawn
/// for every [`INCREMENTS`] deltas, which share it (and, but at an hour's edge, the hour).
fn delta(i: usize, total: usize, key: &mut Key, rng: &mut impl Rng, template: &serde_json::Value) -> Record {
    let start = Utc.with_ymd_and_hms(2025, 11, 1, 0, 0, 0).unwrap();
    let hour = start + Span::hours((i as i64 * HOURS) / total as i64);
    if i % INCREMENTS == 0 {
        *key = Key::draw(rng);
    }
    let Key(advertiser, campaign, ad_group, keyword, placement) = *key;
    let mut v = template.clone();
    v["idempotency_id"] = format!("scale-{i:010}").into();
    v["advertiser_id"] = format!("ADV{advertiser:06}").into();
    v["campaign_id"] = format!("{}", 100_000_000 + campaign).into();
    v["ad_group_id"] = format!("{}", 200_000_000 + ad_group).into();
    v["ad_id"] = format!("{}", 300_000_000 + ad_group).into();
    v["keyword_id"] = format!("{}", 400_000_000 + keyword).into();
    v["placement"] = PLACEMENTS[placement].into();
    v["time_window_start"] = hour.to_rfc3339().into();
    v["clicks"] = rng.gen_range(0..4).into();
    v["impressions"] = rng.gen_range(1..300).into();
    v["cost"] = serde_json::from_str(&format!("{}.{:02}", rng.gen_range(0..3), rng.gen_range(0..100))).unwrap();
    decode_record(&v.to_string()).unwrap()
}

async fn mib(pool: &sqlx::PgPool, table: &str) -> f64 {
    let bytes: i64 = sqlx::query_scalar("SELECT pg_total_relation_size($1::regclass)").bind(table).fetch_one(pool).await.unwrap();
    bytes as f64 / (1024.0 * 1024.0)
}

#[tokio::main]
async fn main() {
    let total = var("AMS_BENCH_DELTAS", 2_000_000);
    let step = var("AMS_BENCH_STEP", (total / 10).max(BATCH));
    let db = TestDb::new();
    let store = db.store().await;
    let slug = TenantSlug::parse("scale").unwrap();
    store.provision_tenant(&slug, "scale").await.unwrap();
    let schema = TenantSchema::of(&slug);
    let (deltas, hourly) = (format!("{schema}.amzn_stream_sp_traffic"), format!("{schema}.amzn_stream_sp_traffic_hourly"));
    let template: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ams_tests::repo_root().join("fixtures/ams/sp-traffic.json")).unwrap()).unwrap();
    let writer = LedgerWriter::new(&store);
    let mut rng = rand::rngs::StdRng::seed_from_u64(25);
    let prov = Provenance::now(None);
    let mut key = Key::default();

    println!("ledger at scale: {total} sp-traffic deltas over 13 months, batches of {BATCH}");
    println!("{:>12} {:>14} {:>12} {:>12} {:>14}", "rows", "rows/s (step)", "deltas MiB", "hourly MiB", "MiB per M rows");
    let (mut written, mut step_rows, mut step_time) = (0usize, 0usize, Duration::ZERO);
    let mut rates = Vec::new();
    while written < total {
        let n = BATCH.min(total - written);
        let mut batch = LedgerBatch::new();
        for i in written..written + n {
            batch.push_records(std::slice::from_ref(&delta(i, total, &mut key, &mut rng, &template)), prov);
        }
        let t = Instant::now();
        writer.write(&schema, &batch).await.unwrap();
        step_time += t.elapsed();
        written += n;
        step_rows += n;
        if step_rows >= step || written == total {
            let rate = step_rows as f64 / step_time.as_secs_f64();
            rates.push(rate);
            let (d, h) = (mib(store.pool(), &deltas).await, mib(store.pool(), &hourly).await);
            println!("{written:>12} {rate:>14.0} {d:>12.1} {h:>12.1} {:>14.1}", (d + h) / (written as f64 / 1e6));
            (step_rows, step_time) = (0, Duration::ZERO);
        }
    }
    let hourly_rows: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {hourly}")).fetch_one(store.pool()).await.unwrap();
    println!("hourly rollup rows: {hourly_rows}; last step's rate / first step's: {:.2}", rates.last().unwrap() / rates[0]);

    // Reports over the last month of data, as the API runs them.
    let to = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
    let month = Range::Dates(to - Span::days(29), to);
    let base = ams_tests::bench::by_campaign(month);
    let one = PerformanceQuery {
        granularity: Granularity::Hour,
        group_by: vec![],
        campaign_id: Some(format!("{}", 100_000_000 + 500)),
        sort: None,
        ..base.clone()
    };
    for (name, q, target_ms) in [("30 days by campaign (totals)", base, 300), ("one campaign, hourly, 30 days", one, 50)] {
        let mut times = Vec::new();
        let mut n = 0;
        for _ in 0..10 {
            let t = Instant::now();
            n = store.performance(&schema, &q).await.unwrap().rows.len();
            times.push(t.elapsed());
        }
        times.sort();
        println!("{name}: {n} rows; min {:.1?}, median {:.1?}, max {:.1?} over 10 runs (target < {target_ms} ms)", times[0], times[5], times[9]);
    }
}
