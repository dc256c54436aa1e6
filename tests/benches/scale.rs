//! The ledger as it grows: one tenant filled with `AMS_BENCH_DELTAS` (2,000,000) sp-traffic
//! deltas through the LedgerWriter, in batches of 5,000, spread in time order over 13 months
//! with an agency's key cardinality (1,000 advertisers × 20 campaigns, 4 ad groups each, 5
//! keywords per ad group, 3 placements; three increments per key and hour), each delta with a
//! random UUID for its id, as Amazon's are. Every `AMS_BENCH_STEP` rows (a tenth of the run)
//! it prints the ingest rate over that step and the disk the delta table's and its hourly
//! rollup's month partitions take; at the end, the two report targets (30 days by campaign;
//! one campaign's hourly series) over the last month of data, what autovacuum did, and
//! retention dropping the oldest month while a writer keeps committing the newest.
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
    // Amazon's ids are random UUIDs: each lands anywhere in the primary key's index.
    v["idempotency_id"] = uuid::Builder::from_random_bytes(rng.gen()).into_uuid().to_string().into();
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

/// Disk of a partitioned table: its month partitions with their indexes and TOAST.
async fn mib(pool: &sqlx::PgPool, table: &str) -> f64 {
    let bytes: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0)::bigint FROM pg_inherits WHERE inhparent = $1::regclass",
    )
    .bind(table)
    .fetch_one(pool)
    .await
    .unwrap();
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

    // Statistics as autovacuum's analyze would have them (it is off on the benches' server).
    sqlx::query(&format!("ANALYZE {schema}.campaign_daily")).execute(store.pool()).await.unwrap();
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

    vacuum_figures(store.pool(), &schema).await;
    drop_the_oldest_month(&store, &schema, &template, total).await;
}

/// What autovacuum did under the load (dead rows left and runs, per table's partitions), and
/// what a VACUUM of the newest month costs (autovacuum's work once the month is written).
async fn vacuum_figures(pool: &sqlx::PgPool, schema: &TenantSchema) {
    let autovacuum: String = sqlx::query_scalar("SHOW autovacuum").fetch_one(pool).await.unwrap();
    println!("autovacuum on this server: {autovacuum}");
    for part in ["amzn_stream_sp_traffic_p2026_10", "amzn_stream_sp_traffic_hourly_p2026_10"] {
        let t = Instant::now();
        sqlx::query(&format!("VACUUM (ANALYZE) {schema}.{part}")).execute(pool).await.unwrap();
        println!("VACUUM (ANALYZE) {part}: {:.1?}", t.elapsed());
    }
    for parent in ["amzn_stream_sp_traffic", "amzn_stream_sp_traffic_hourly"] {
        let (live, dead, vacuums, analyzes): (i64, i64, i64, i64) = sqlx::query_as(
            "SELECT coalesce(sum(n_live_tup), 0)::bigint, coalesce(sum(n_dead_tup), 0)::bigint,
                    coalesce(sum(autovacuum_count), 0)::bigint, coalesce(sum(autoanalyze_count), 0)::bigint
             FROM pg_stat_user_tables s JOIN pg_inherits i ON i.inhrelid = s.relid
             WHERE i.inhparent = $1::regclass",
        )
        .bind(format!("{schema}.{parent}"))
        .fetch_one(pool)
        .await
        .unwrap();
        println!("{parent}: {live} live rows, {dead} dead, {vacuums} autovacuum runs, {analyzes} autoanalyze runs over its partitions");
    }
}

/// Retention drops the oldest month (2025-11) while a writer keeps committing batches of the
/// newest month: how long the drop takes, and whether the writer waited for it.
async fn drop_the_oldest_month(store: &ams_store::Store, schema: &TenantSchema, template: &serde_json::Value, total: usize) {
    let writer = LedgerWriter::new(store);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let background = {
        let (writer, schema, template, stop) = (writer.clone(), schema.clone(), template.clone(), stop.clone());
        tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(99);
            let mut key = Key::default();
            let mut latencies = Vec::new();
            let mut i = total - BATCH;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let mut batch = LedgerBatch::new();
                for _ in 0..1_000 {
                    // The last hours of the run: the newest month.
                    batch.push_records(std::slice::from_ref(&delta(i % total, total, &mut key, &mut rng, &template)), Provenance::now(None));
                    i = (i + 1).min(total - 1);
                }
                let t = Instant::now();
                writer.write(&schema, &batch).await.unwrap();
                latencies.push((Instant::now(), t.elapsed()));
            }
            latencies
        })
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    let now = Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap();
    let days = (now - Utc.with_ymd_and_hms(2025, 12, 1, 0, 0, 0).unwrap()).num_days() as u32;
    let started = Instant::now();
    let done = store.ledger_upkeep(schema, ams_store::Retention { deltas_days: Some(days), hourly_days: None }, now).await.unwrap();
    let (from, took) = (started, started.elapsed());
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let latencies = background.await.unwrap();
    let during: Vec<Duration> = latencies.iter().filter(|(end, _)| *end >= from && *end <= from + took + Duration::from_secs(1)).map(|(_, l)| *l).collect();
    let mut before: Vec<Duration> = latencies.iter().filter(|(end, _)| *end < from).map(|(_, l)| *l).collect();
    before.sort();
    println!(
        "retention dropped {:?} in {took:.1?}; a writer of the newest month meanwhile: {} batches of 1,000, slowest {:.1?} (median before the drop {:.1?})",
        done.dropped,
        during.len(),
        during.iter().max().copied().unwrap_or_default(),
        before.get(before.len() / 2).copied().unwrap_or_default(),
    );
}
