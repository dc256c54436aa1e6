//! The ledger partitioned by month (tenant schema v5) against real Postgres: an existing
//! tenant's tables converted in place with every total unchanged; redeliveries across month
//! boundaries counted once; an id seen with another window quarantined, never summed; and
//! retention dropping whole months, refusing what arrives behind its horizon.

use std::collections::BTreeMap;

use ams_model::{DatasetId, DeltaSpec, QuarantineReason, DELTA_SPECS};
use ams_store::{LedgerBatch, LedgerWriter, Provenance, Retention, Store, TenantSchema, TenantSlug, WriteSummary};
use ams_tests::gen::{self, GenDelta};
use ams_tests::{tenant, TestDb};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use sqlx::Row;

fn at(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
}

fn spec(d: DatasetId) -> &'static DeltaSpec {
    d.delta_spec().unwrap()
}

/// Records of `d` spread hour by hour from `from` (UTC), `keys` keys.
fn records(rng: &mut StdRng, d: DatasetId, prefix: &str, from: &str, hours: usize, n: usize, keys: usize) -> Vec<GenDelta> {
    let start = at(from);
    (0..n)
        .map(|i| {
            let hour = start + chrono::Duration::hours(rng.gen_range(0..hours) as i64);
            let k = rng.gen_range(0..keys);
            gen::delta_at(rng, spec(d), k, format!("{prefix}-{i}"), hour, "+00:00")
        })
        .collect()
}

fn push(batch: &mut LedgerBatch, body: &str) {
    match ams_store::decode(body.to_owned(), "test:partitions".into(), Some(format!("m-{}", uuid::Uuid::new_v4())), Provenance::now(None)) {
        ams_store::DecodedBody::Ledger(d) => d.push_into(batch),
        ams_store::DecodedBody::Confirmation { .. } => panic!("no confirmations here"),
    }
}

/// Writes the bodies in random batches (one unit per body), isolating refused ones.
async fn write(writer: &LedgerWriter, schema: &TenantSchema, bodies: &[&str], rng: &mut StdRng) -> WriteSummary {
    let mut total = WriteSummary::default();
    let mut i = 0;
    while i < bodies.len() {
        let n = rng.gen_range(1..=80).min(bodies.len() - i);
        let mut batch = LedgerBatch::new();
        for b in &bodies[i..i + n] {
            push(&mut batch, b);
        }
        total.add(&writer.write_isolating(schema, &batch).await.expect("ledger write").summary);
        i += n;
    }
    total
}

/// Every figure a conversion could lose: per delta table and rollup, the row count and the
/// sum of each metric; `campaign_daily`'s sums.
async fn totals(store: &Store, schema: &TenantSchema) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for s in DELTA_SPECS {
        for table in [s.dataset.table().to_owned(), format!("{}_hourly", s.dataset.table())] {
            let sums: Vec<String> = s.metrics.iter().map(|m| format!("coalesce(sum({m}), 0)::text")).collect();
            let row = sqlx::query(&format!("SELECT count(*)::text, array_to_string(ARRAY[{}], ' ') FROM {schema}.{table}", sums.join(", ")))
                .fetch_one(store.pool())
                .await
                .unwrap();
            out.insert(table, format!("{} rows; {}", row.get::<String, _>(0), row.get::<String, _>(1)));
        }
    }
    let daily: String = sqlx::query_scalar(&format!(
        "SELECT concat_ws(' ', count(*), sum(impressions), sum(clicks), sum(cost), sum(orders), sum(units), sum(sales)) FROM {schema}.campaign_daily"
    ))
    .fetch_one(store.pool())
    .await
    .unwrap();
    out.insert("campaign_daily".into(), daily);
    out
}

/// Months (as `YYYY_MM`) of `parent`'s partitions.
async fn partitions(store: &Store, schema: &TenantSchema, parent: &str) -> Vec<String> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = $1::regclass ORDER BY 1",
    )
    .bind(format!("{schema}.{parent}"))
    .fetch_all(store.pool())
    .await
    .unwrap();
    names.into_iter().map(|n| n.strip_prefix(&format!("{parent}_p")).expect("a month partition").to_owned()).collect()
}

async fn quarantined(store: &Store, schema: &TenantSchema) -> Vec<(String, String)> {
    sqlx::query_as(&format!("SELECT reason_code, body FROM {schema}.quarantine ORDER BY id")).fetch_all(store.pool()).await.unwrap()
}

#[tokio::test]
async fn a_v4_ledger_is_partitioned_in_place_with_every_total_unchanged() {
    let db = TestDb::new();
    let store = db.store().await;
    let mut rng = StdRng::seed_from_u64(25);
    // The truth: written by this build into a tenant born partitioned.
    let native = tenant(&store, "native").await;
    let writer = LedgerWriter::new(&store);
    let mut all = Vec::new();
    for d in [DatasetId::SpTraffic, DatasetId::SpConversion, DatasetId::SbTraffic, DatasetId::AdspTraffic] {
        all.extend(records(&mut rng, d, &format!("{d}"), "2025-12-28 00:00", 24 * 70, 400, 12));
    }
    let bodies: Vec<&str> = all.iter().map(|r| r.json.as_str()).collect();
    assert_eq!(write(&writer, &native, &bodies, &mut rng).await.inserted(), all.len() as u64);

    // A tenant at schema v4 (one heap per table) holding the same rows, its campaign_daily
    // filled by v4's triggers as the rollup rows went in.
    let upgraded = TenantSchema::of(&TenantSlug::parse("upgraded").unwrap());
    assert_eq!(ams_store::tenant::migrate_schema_to(store.pool(), &upgraded, 4).await.unwrap(), 4);
    for s in DELTA_SPECS {
        let t = s.dataset.table();
        for table in [t.to_owned(), format!("{t}_hourly")] {
            sqlx::query(&format!("INSERT INTO {upgraded}.{table} SELECT * FROM {native}.{table}")).execute(store.pool()).await.unwrap();
        }
    }
    let relkind = |table: &'static str| {
        let (store, schema) = (store.clone(), upgraded.clone());
        async move {
            sqlx::query_scalar::<_, String>("SELECT relkind::text FROM pg_class WHERE oid = $1::regclass")
                .bind(format!("{schema}.{table}"))
                .fetch_one(store.pool())
                .await
                .unwrap()
        }
    };
    assert_eq!(relkind("amzn_stream_sp_traffic").await, "r");
    let before = totals(&store, &upgraded).await;
    assert_eq!(before, totals(&store, &native).await, "the v4 copy holds what the native tenant holds");
    assert!(before["amzn_stream_sp_traffic"].starts_with("400 rows"), "{before:?}");

    assert_eq!(ams_store::tenant::migrate_schema(store.pool(), &upgraded).await.unwrap(), migration::tenant::latest_version());
    assert_eq!(totals(&store, &upgraded).await, before, "partitioning changed a total");
    assert_eq!(relkind("amzn_stream_sp_traffic").await, "p");
    assert_eq!(relkind("amzn_stream_sp_traffic_hourly").await, "p");
    let months = partitions(&store, &upgraded, "amzn_stream_sp_traffic").await;
    for m in ["2025_12", "2026_01", "2026_02", "2026_03"] {
        assert!(months.contains(&m.to_owned()), "no partition {m} in {months:?}");
    }
    assert_eq!(partitions(&store, &upgraded, "amzn_stream_sp_traffic_hourly").await, months);

    // After the upgrade: every record delivered again counts nothing; new records (one of a
    // month no partition holds yet) count once, exactly as in the native tenant.
    let again = write(&writer, &upgraded, &bodies, &mut rng).await;
    assert_eq!((again.inserted(), again.quarantined), (0, 0));
    assert_eq!(totals(&store, &upgraded).await, before);
    let mut late = records(&mut rng, DatasetId::SpTraffic, "late", "2025-12-30 00:00", 24 * 40, 30, 12);
    late.extend(records(&mut rng, DatasetId::SpTraffic, "old", "2024-06-10 00:00", 24, 5, 12));
    let late: Vec<&str> = late.iter().map(|r| r.json.as_str()).collect();
    assert_eq!(write(&writer, &upgraded, &late, &mut rng).await.inserted(), 35);
    assert_eq!(write(&writer, &native, &late, &mut rng).await.inserted(), 35);
    assert_eq!(totals(&store, &upgraded).await, totals(&store, &native).await);
    assert!(partitions(&store, &upgraded, "amzn_stream_sp_traffic").await.contains(&"2024_06".to_owned()));
}

#[tokio::test]
async fn redeliveries_across_month_boundaries_count_once() {
    let db = TestDb::new();
    let store = db.store().await;
    for seed in 0..3u64 {
        let mut rng = StdRng::seed_from_u64(0x25_0000 + seed);
        let schema = tenant(&store, &format!("edges_{seed}")).await;
        // Hours on both sides of two month starts and a year's, in UTC and in local offsets
        // that put the same local hour in another month.
        let mut records = Vec::new();
        for (i, s) in DELTA_SPECS.iter().enumerate() {
            for j in 0..40 {
                let edge = ["2025-12-31 22:00", "2026-01-31 21:00", "2026-02-28 23:00"][rng.gen_range(0..3)];
                let hour = at(edge) + chrono::Duration::hours(rng.gen_range(0..5));
                let offset = ["+00:00", "-05:00", "+09:00"][rng.gen_range(0..3)];
                let k = rng.gen_range(0..6);
                records.push(gen::delta_at(&mut rng, s, k, format!("{seed}-{i}-{j}"), hour, offset));
            }
        }
        let mut deliveries: Vec<&str> = Vec::new();
        for r in &records {
            for _ in 0..rng.gen_range(1..=3) {
                deliveries.push(&r.json);
            }
        }
        deliveries.shuffle(&mut rng);
        let writer = if seed == 1 { LedgerWriter::upsert_only(&store) } else { LedgerWriter::new(&store) };
        let first = write(&writer, &schema, &deliveries, &mut rng).await;
        assert_eq!((first.inserted(), first.quarantined), (records.len() as u64, 0), "seed {seed}");
        let replay = write(&writer, &schema, &deliveries, &mut rng).await;
        assert_eq!(replay.inserted(), 0, "seed {seed}: a replay inserted rows");
        for s in DELTA_SPECS {
            let mine: Vec<&GenDelta> = records.iter().filter(|r| r.json.contains(&format!("\"dataset_id\":\"{}\"", s.dataset))).collect();
            let expected = gen::expected_sums(mine);
            let key = gen::key_sql(s);
            let metrics: Vec<String> = s.metrics.iter().map(|m| format!("{m}::text")).collect();
            let rows = sqlx::query(&format!("SELECT {key}, delta_count, {} FROM {schema}.{}_hourly", metrics.join(", "), s.dataset.table()))
                .fetch_all(store.pool())
                .await
                .unwrap();
            let mut got = BTreeMap::new();
            for row in rows {
                let vals: Vec<Decimal> = (0..s.metrics.len()).map(|i| row.get::<String, _>(i + 2).parse().unwrap()).collect();
                assert!(got.insert(row.get::<String, _>(0), (vals, row.get::<i64, _>(1))).is_none(), "a key twice in the rollup");
            }
            assert_eq!(got, expected, "seed {seed}: {} rollup", s.dataset);
        }
        let months = partitions(&store, &schema, "amzn_stream_sp_traffic").await;
        for m in ["2025_12", "2026_01", "2026_02", "2026_03"] {
            assert!(months.contains(&m.to_owned()), "seed {seed}: no partition {m} in {months:?}");
        }
    }
}

#[tokio::test]
async fn an_id_seen_with_another_window_is_quarantined_never_summed() {
    let db = TestDb::new();
    let store = db.store().await;
    let schema = tenant(&store, "conflicts").await;
    let writer = LedgerWriter::new(&store);
    let mut rng = StdRng::seed_from_u64(5);
    let s = spec(DatasetId::SpTraffic);
    let original = gen::delta_at(&mut rng, s, 1, "id-x".into(), at("2026-01-31 23:00"), "+00:00");
    assert_eq!(write(&writer, &schema, &[&original.json], &mut rng).await.inserted(), 1);
    let before = totals(&store, &schema).await;

    // The same id an hour earlier (same month), beside an ordinary record; and, within one
    // batch, an id at two hours: the first counts, the second is kept aside.
    let moved = gen::delta_at(&mut rng, s, 1, "id-x".into(), at("2026-01-31 22:00"), "+00:00");
    let other = gen::delta_at(&mut rng, s, 2, "id-y".into(), at("2026-01-31 22:00"), "+00:00");
    let twice_a = gen::delta_at(&mut rng, s, 3, "id-z".into(), at("2026-01-15 10:00"), "+00:00");
    let twice_b = gen::delta_at(&mut rng, s, 3, "id-z".into(), at("2026-01-15 11:00"), "+00:00");
    let mut batch = LedgerBatch::new();
    for b in [&moved.json, &other.json, &twice_a.json, &twice_b.json] {
        push(&mut batch, b);
    }
    let out = writer.write_isolating(&schema, &batch).await.unwrap();
    assert_eq!(out.refused, vec![0, 3]);
    assert_eq!((out.summary.inserted(), out.summary.quarantined), (2, 2));
    let q = quarantined(&store, &schema).await;
    assert_eq!(q, vec![
        (QuarantineReason::IdempotencyConflict.to_string(), moved.json.clone()),
        (QuarantineReason::IdempotencyConflict.to_string(), twice_b.json.clone()),
    ]);
    // Only `other` and the first `id-z` were summed.
    let expected = gen::expected_sums([&original, &other, &twice_a]);
    let key = gen::key_sql(s);
    let n: i64 = sqlx::query_scalar(&format!("SELECT count(DISTINCT {key}) FROM {schema}.amzn_stream_sp_traffic_hourly"))
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(n as usize, expected.len());
    let clicks: Decimal = sqlx::query_scalar(&format!("SELECT sum(clicks)::numeric FROM {schema}.amzn_stream_sp_traffic_hourly"))
        .fetch_one(store.pool())
        .await
        .unwrap();
    let want: Decimal = [&original, &other, &twice_a].iter().map(|r| r.metrics[0]).sum();
    assert_eq!(clicks, want);
    assert_ne!(totals(&store, &schema).await, before);

    // Delivered again, the conflicting body stays quarantined once; nothing moves.
    let after = totals(&store, &schema).await;
    let again = writer.write_isolating(&schema, &batch).await.unwrap();
    assert_eq!((again.summary.inserted(), again.summary.quarantined), (0, 0));
    assert_eq!(totals(&store, &schema).await, after);
    assert_eq!(quarantined(&store, &schema).await.len(), 2);
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-03T10:00:00Z").unwrap().with_timezone(&Utc)
}

#[tokio::test]
async fn retention_drops_whole_months_and_refuses_what_arrives_behind_it() {
    let db = TestDb::new();
    let store = db.store().await;
    let schema = tenant(&store, "kept").await;
    let writer = LedgerWriter::new(&store);
    let mut rng = StdRng::seed_from_u64(30);
    // August to December 2026, Sponsored Products and DSP.
    let sp = records(&mut rng, DatasetId::SpTraffic, "sp", "2026-08-01 00:00", 24 * 124, 600, 10);
    let dsp = records(&mut rng, DatasetId::AdspTraffic, "dsp", "2026-08-01 00:00", 24 * 124, 200, 5);
    let bodies: Vec<&str> = sp.iter().chain(&dsp).map(|r| r.json.as_str()).collect();
    assert_eq!(write(&writer, &schema, &bodies, &mut rng).await.inserted(), 800);
    let daily_before: String = sqlx::query_scalar(&format!(
        "SELECT concat_ws(' ', count(*), sum(impressions), sum(clicks), sum(cost)) FROM {schema}.campaign_daily"
    ))
    .fetch_one(store.pool())
    .await
    .unwrap();
    let h = store.ledger_horizon(&schema).await.unwrap();
    assert_eq!((h.deltas_kept_from, h.oldest_kept_day), (None, NaiveDate::from_ymd_opt(2026, 8, 1)));

    // Unlimited retention: the upkeep only makes months ahead.
    let done = store.ledger_upkeep(&schema, Retention::default(), now()).await.unwrap();
    assert!(done.ran && done.dropped.is_empty());
    assert!(partitions(&store, &schema, "amzn_stream_sp_traffic").await.contains(&"2027_01".to_owned()));

    // 30 days of deltas, 60 of hours: November's deltas stay whole, October's hours too.
    let retention = Retention { deltas_days: Some(30), hourly_days: Some(60) };
    let done = store.ledger_upkeep(&schema, retention, now()).await.unwrap();
    let mut dropped = done.dropped.clone();
    dropped.sort();
    let mut want: Vec<String> = Vec::new();
    for m in ["2026_08", "2026_09", "2026_10"] {
        want.push(format!("amzn_stream_adsp_traffic_p{m}"));
        want.push(format!("amzn_stream_sp_traffic_p{m}"));
    }
    for m in ["2026_08", "2026_09"] {
        want.push(format!("amzn_stream_sp_traffic_hourly_p{m}"));
    }
    // Every delta dataset's months go, whether it had rows or not; only the six rollups that
    // campaign_daily sums lose hours.
    let ours: Vec<String> = dropped.iter().filter(|d| d.starts_with("amzn_stream_sp_traffic") || d.starts_with("amzn_stream_adsp_traffic")).cloned().collect();
    want.sort();
    assert_eq!(ours, want);
    assert!(!dropped.iter().any(|d| d.starts_with("amzn_stream_adsp_traffic_hourly")), "DSP hours have no daily rollup: kept");
    let kept = partitions(&store, &schema, "amzn_stream_sp_traffic").await;
    assert_eq!(kept[..3], ["2026_11", "2026_12", "2027_01"], "{kept:?}");
    let h = store.ledger_horizon(&schema).await.unwrap();
    assert_eq!(h.deltas_kept_from.unwrap().to_rfc3339(), "2026-11-01T00:00:00+00:00");
    assert_eq!(h.hourly_kept_from.unwrap().to_rfc3339(), "2026-10-01T00:00:00+00:00");
    assert_eq!(h.oldest_kept_day, NaiveDate::from_ymd_opt(2026, 11, 1));
    // The days stay reportable.
    let daily_after: String = sqlx::query_scalar(&format!(
        "SELECT concat_ws(' ', count(*), sum(impressions), sum(clicks), sum(cost)) FROM {schema}.campaign_daily"
    ))
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(daily_after, daily_before);

    // Late: an October delta (behind the horizon) is quarantined, never summed; redeliveries
    // of November's deltas are still known; a new November delta counts.
    let hourly_sum = || {
        let (store, schema) = (store.clone(), schema.clone());
        async move {
            sqlx::query_scalar::<_, String>(&format!("SELECT concat_ws(' ', sum(clicks), sum(cost)) FROM {schema}.amzn_stream_sp_traffic_hourly"))
                .fetch_one(store.pool())
                .await
                .unwrap()
        }
    };
    let before = hourly_sum().await;
    let october = gen::delta_at(&mut rng, spec(DatasetId::SpTraffic), 1, "late-oct".into(), at("2026-10-20 05:00"), "+00:00");
    let november: Vec<&str> = sp.iter().filter(|r| r.json.contains("2026-11-")).map(|r| r.json.as_str()).collect();
    assert!(november.len() > 50);
    let mut bodies = november.clone();
    bodies.push(&october.json);
    let out = write(&writer, &schema, &bodies, &mut rng).await;
    assert_eq!((out.inserted(), out.quarantined), (0, 1));
    assert_eq!(quarantined(&store, &schema).await, vec![(QuarantineReason::BeyondRetention.to_string(), october.json.clone())]);
    assert_eq!(hourly_sum().await, before);
    assert!(!partitions(&store, &schema, "amzn_stream_sp_traffic").await.contains(&"2026_10".to_owned()), "a dropped month came back");
    let fresh = gen::delta_at(&mut rng, spec(DatasetId::SpTraffic), 1, "new-nov".into(), at("2026-11-20 05:00"), "+00:00");
    assert_eq!(write(&writer, &schema, &[&fresh.json], &mut rng).await.inserted(), 1);

    // Idempotent; and the horizon never moves back when the operator keeps more again.
    let again = store.ledger_upkeep(&schema, Retention { deltas_days: Some(400), hourly_days: None }, now()).await.unwrap();
    assert!(again.dropped.is_empty());
    assert_eq!(store.ledger_horizon(&schema).await.unwrap().deltas_kept_from.unwrap().to_rfc3339(), "2026-11-01T00:00:00+00:00");
}

/// Retention through the API: the operator sets it (checked), the tenant reads it with what
/// its ledger holds, and the runtime's upkeep reports each tenant's oldest kept day on
/// `/metrics`.
#[tokio::test]
async fn retention_is_the_operators_to_set_and_everyone_sees_what_is_kept() {
    use ams_tests::api::{serve_with_api, ADMIN_TOKEN};
    use serde_json::json;
    let db = TestDb::new();
    let moto = ams_tests::aws::Moto::start();
    let (serve, api) = serve_with_api(&db, &moto.url, &[("AMS_HUB_UPKEEP_SECS", "1")]);
    let admin = Some(ADMIN_TOKEN);
    api.ok("POST", "/v1/tenants", admin, Some(&json!({"slug": "rho", "name": "Rho"})), 201);
    let key = api.ok("POST", "/v1/tenants/rho/api-keys", admin, Some(&json!({"name": "k", "scope": "admin"})), 201);
    let token = key["token"].as_str().unwrap().to_owned();
    let t = api.ok("GET", "/v1/tenants/rho", Some(&token), None, 200);
    assert_eq!(t["retention"], json!({"deltas_days": null, "hourly_days": null}));

    let patch = |body: serde_json::Value, who: Option<&str>| api.call("PATCH", "/v1/tenants/rho", who, Some(&json!({"retention": body})));
    let (s, b) = patch(json!({"deltas_days": 90}), Some(&token));
    assert_eq!((s, b["error"]["code"].as_str()), (403, Some("forbidden")), "a tenant sets its own retention: {b}");
    for (body, says) in [
        (json!({"deltas_days": 29}), "at least 30"),
        (json!({"hourly_days": 400}), "needs retention.deltas_days"),
        (json!({"deltas_days": 90, "hourly_days": 60}), "at least retention.deltas_days"),
    ] {
        let (s, b) = patch(body.clone(), admin);
        assert_eq!((s, b["error"]["code"].as_str()), (422, Some("invalid_request")), "{body}: {b}");
        assert!(b["error"]["message"].as_str().unwrap().contains(says), "{body}: {b}");
    }
    let (s, b) = patch(json!({"deltas_days": -1}), admin);
    assert!((400..500).contains(&s), "{b}");
    let t = api.ok("PATCH", "/v1/tenants/rho", admin, Some(&json!({"retention": {"deltas_days": 90, "hourly_days": 400}})), 200);
    assert_eq!(t["retention"], json!({"deltas_days": 90, "hourly_days": 400}));

    // Nothing is old enough to drop: the horizons stay empty; the oldest month is this one.
    let this_month = Utc::now().date_naive().format("%Y-%m-01").to_string();
    let ledger = api.ok("GET", "/v1/tenants/rho/ledger", Some(&token), None, 200);
    assert_eq!(ledger["retention"], json!({"deltas_days": 90, "hourly_days": 400}));
    assert_eq!((ledger["deltas_kept_from"].clone(), ledger["hourly_kept_from"].clone()), (json!(null), json!(null)));
    assert_eq!(ledger["oldest_kept_day"], json!(this_month));
    let (s, _) = api.call("GET", "/v1/tenants/other/ledger", Some(&token), None);
    assert_eq!(s, 404);

    let midnight = NaiveDate::parse_from_str(&this_month, "%Y-%m-%d").unwrap().and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp();
    let series = format!("ams_hub_ledger_oldest_kept_day_timestamp_seconds{{tenant=\"rho\"}} {midnight}");
    ams_tests::wait::until_blocking("the upkeep's oldest kept day on /metrics", 30, || api.metrics_text().contains(&series).then_some(()), || serve.log_text());
}
