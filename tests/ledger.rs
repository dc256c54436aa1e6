//! The ledger against real Postgres: random streams with duplicates, redeliveries, negative
//! restatements, shuffled order, envelope/bare/array mixes and malformed bodies must leave
//! exactly the expected sums in every delta table and rollup; replays change nothing.

use std::collections::{BTreeMap, HashSet};

use ams_model::{DeltaSpec, DELTA_SPECS, ENTITY_SPECS};
use ams_store::{LedgerBatch, LedgerWriter, Provenance, Store, TenantSchema, WriteSummary};
use ams_tests::gen::{self, GenDelta};
use ams_tests::{tenant, TestDb};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use sqlx::Row;

/// Writes bodies in random batch sizes, like consumers would.
async fn write_bodies(store: &Store, schema: &TenantSchema, bodies: &[String], rng: &mut StdRng) -> WriteSummary {
    write_bodies_with(&LedgerWriter::new(store), schema, bodies, rng).await
}

/// A body into the batch as the runtime puts it there (ams_store::ledger::decode); these streams hold
/// no subscription confirmation.
fn push_body(batch: &mut LedgerBatch, body: &str, source: &str) {
    match ams_store::decode(body.to_owned(), source.into(), None, Provenance::now(None)) {
        ams_store::DecodedBody::Ledger(d) => d.push_into(batch),
        ams_store::DecodedBody::Confirmation { .. } => panic!("a confirmation in a test stream"),
    }
}

async fn write_bodies_with(writer: &LedgerWriter, schema: &TenantSchema, bodies: &[String], rng: &mut StdRng) -> WriteSummary {
    let mut total = WriteSummary::default();
    let mut i = 0;
    while i < bodies.len() {
        let n = rng.gen_range(1..=120).min(bodies.len() - i);
        let mut batch = LedgerBatch::new();
        for (j, body) in bodies[i..i + n].iter().enumerate() {
            push_body(&mut batch, body, &format!("test:{}", i + j));
        }
        total.add(&writer.write(schema, &batch).await.expect("ledger write"));
        i += n;
    }
    total
}

/// A stream of SQS bodies: every record delivered 1–3 times, shuffled, as bare records, SNS
/// envelopes or small arrays, with malformed bodies mixed in.
fn stream(rng: &mut StdRng, records: &[GenDelta], malformed: &[(String, &str)]) -> Vec<String> {
    let mut deliveries: Vec<&str> = Vec::new();
    for r in records {
        for _ in 0..rng.gen_range(1..=3) {
            deliveries.push(&r.json);
        }
    }
    deliveries.shuffle(rng);
    let mut bodies = Vec::new();
    let mut i = 0;
    while i < deliveries.len() {
        match rng.gen_range(0..100) {
            0..=49 => {
                bodies.push(deliveries[i].to_owned());
                i += 1;
            }
            50..=84 => {
                bodies.push(gen::envelope(deliveries[i]));
                i += 1;
            }
            _ => {
                let n = rng.gen_range(1..=3).min(deliveries.len() - i);
                bodies.push(format!("[{}]", deliveries[i..i + n].join(",")));
                i += n;
            }
        }
    }
    for (m, _) in malformed {
        let at = rng.gen_range(0..=bodies.len());
        bodies.insert(at, m.clone());
    }
    bodies
}

type Sums = BTreeMap<String, (Vec<Decimal>, i64)>;

async fn sums(store: &Store, schema: &TenantSchema, spec: &DeltaSpec, rollup: bool) -> Sums {
    let key = gen::key_sql(spec);
    let table = format!("{schema}.{}", spec.dataset.table());
    let sql = if rollup {
        let metrics: Vec<String> = spec.metrics.iter().map(|m| format!("{m}::text")).collect();
        format!("SELECT {key}, delta_count, {} FROM {table}_hourly", metrics.join(", "))
    } else {
        let metrics: Vec<String> = spec.metrics.iter().map(|m| format!("coalesce(sum({m}), 0)::text")).collect();
        format!("SELECT {key}, count(*), {} FROM {table} GROUP BY 1", metrics.join(", "))
    };
    let rows = sqlx::query(&sql).fetch_all(store.pool()).await.unwrap();
    let mut out = Sums::new();
    for row in rows {
        let k: String = row.get(0);
        let n: i64 = row.get(1);
        let vals = (0..spec.metrics.len()).map(|i| row.get::<String, _>(i + 2).parse::<Decimal>().unwrap()).collect();
        assert!(out.insert(k.clone(), (vals, n)).is_none(), "rollup has key {k} twice");
    }
    out
}

async fn assert_exact(store: &Store, schema: &TenantSchema, records: &[GenDelta], spec: &DeltaSpec) {
    let expected = gen::expected_sums(records.iter());
    let in_deltas = sums(store, schema, spec, false).await;
    let in_rollup = sums(store, schema, spec, true).await;
    assert_eq!(in_deltas, expected, "{}: delta table sums", spec.dataset);
    assert_eq!(in_rollup, expected, "{}: hourly rollup", spec.dataset);
}

async fn quarantine_count(store: &Store, schema: &TenantSchema) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {schema}.quarantine")).fetch_one(store.pool()).await.unwrap()
}

#[tokio::test]
async fn random_delta_streams_sum_exactly_and_replays_change_nothing() {
    let db = TestDb::new();
    let store = db.store().await;
    for seed in 0..4u64 {
        let mut rng = StdRng::seed_from_u64(0xA35_0000 + seed);
        let schema = tenant(&store, &format!("stream_{seed}")).await;
        let mut records: Vec<GenDelta> = Vec::new();
        let mut n = 0;
        for spec in DELTA_SPECS {
            let keys = rng.gen_range(3..15);
            for _ in 0..rng.gen_range(20..60) {
                n += 1;
                let k = rng.gen_range(0..keys);
                records.push(gen::delta(&mut rng, spec, k, format!("{seed}-{n}")));
            }
        }
        // Restatements: the same dimensions and values again under a new idempotency id
        // count again (they are not duplicates).
        let restated: Vec<GenDelta> = records
            .choose_multiple(&mut rng, 25)
            .map(|r| {
                let id = format!("{}-restated", r.idempotency_id);
                GenDelta { json: r.json.replace(&r.idempotency_id, &id), idempotency_id: id, ..r.clone() }
            })
            .collect();
        records.extend(restated);
        let malformed = gen::malformed_bodies(12);
        let bodies = stream(&mut rng, &records, &malformed);

        // Odd seeds hold the upsert path (taken after a lost COPY race) to the same truth.
        let writer = if seed % 2 == 0 { LedgerWriter::new(&store) } else { LedgerWriter::upsert_only(&store) };
        let first = write_bodies_with(&writer, &schema, &bodies, &mut rng).await;
        assert_eq!(first.inserted(), records.len() as u64, "seed {seed}: every distinct record once");
        assert_eq!(first.quarantined, malformed.len() as u64);
        for spec in DELTA_SPECS {
            let of_spec: Vec<GenDelta> =
                records.iter().filter(|r| r.json.contains(&format!("\"dataset_id\":\"{}\"", spec.dataset))).cloned().collect();
            assert_exact(&store, &schema, &of_spec, spec).await;
        }

        // Replaying any prefix (a consumer crashing before its delete) changes nothing.
        let cut = rng.gen_range(1..=bodies.len());
        let again = write_bodies_with(&writer, &schema, &bodies[..cut], &mut rng).await;
        assert_eq!(again.inserted(), 0, "seed {seed}: replay inserted rows");
        assert_eq!(again.quarantined, 0, "seed {seed}: replay quarantined again");
        for spec in DELTA_SPECS {
            let of_spec: Vec<GenDelta> =
                records.iter().filter(|r| r.json.contains(&format!("\"dataset_id\":\"{}\"", spec.dataset))).cloned().collect();
            assert_exact(&store, &schema, &of_spec, spec).await;
        }
        assert_eq!(quarantine_count(&store, &schema).await, malformed.len() as i64);
    }
}

#[tokio::test]
async fn one_batch_holding_the_same_record_twice_counts_it_once() {
    let db = TestDb::new();
    let store = db.store().await;
    let schema = tenant(&store, "same_batch").await;
    let mut rng = StdRng::seed_from_u64(7);
    let r = gen::delta(&mut rng, DELTA_SPECS[0], 1, "dup".into());
    let bodies = vec![r.json.clone(), gen::envelope(&r.json), format!("[{0},{0}]", r.json)];
    let writer = LedgerWriter::new(&store);
    let mut batch = LedgerBatch::new();
    for b in &bodies {
        push_body(&mut batch, b, "t");
    }
    let s = writer.write(&schema, &batch).await.unwrap();
    assert_eq!(s.inserted(), 1);
    assert_exact(&store, &schema, &[r], DELTA_SPECS[0]).await;
}

fn entity_json(dataset: &str, id_field: &str, id: &str, marketplace: &str, version: i64) -> String {
    serde_json::json!({
        "dataset_id": dataset, "advertiser_id": "A1", "marketplace_id": marketplace,
        id_field: id, "version": version, "state": format!("S{version}"), "someNewField": {"v": version},
        // What makes a DSP ad group target record (an unknown field to the other entities).
        "deviceTargets": [{"deviceType": "MOBILE", "v": version}],
    })
    .to_string()
}

#[tokio::test]
async fn entities_keep_the_highest_version_whatever_the_order() {
    let db = TestDb::new();
    let store = db.store().await;
    let schema = tenant(&store, "entities").await;
    let mut rng = StdRng::seed_from_u64(42);
    let id_fields = [
        ("campaigns", "campaignId"),
        ("adgroups", "adGroupId"),
        ("ads", "adId"),
        ("targets", "targetId"),
        ("adsp-campaigns", "campaignId"),
        ("adsp-campaign-flights", "flightId"),
        // Amazon spells these `adgroupId` and `adGroupId`: each body picks one (below).
        ("adsp-adgroups", "adgroupId"),
        ("adsp-adgroup-targets", "adgroupId"),
    ];
    assert_eq!(id_fields.len(), ENTITY_SPECS.len());
    let mut bodies = Vec::new();
    let mut expected = Vec::new(); // (table, id column, marketplace, id, max version, versions)
    for (spec, (dataset, field)) in ENTITY_SPECS.iter().zip(id_fields) {
        for e in 0..6 {
            // The same id in two marketplaces is two entities.
            for marketplace in ["ATVPDKIKX0DER", "A1PA6795UKMFR9"] {
                let id = format!("{}", 9_007_199_254_740_993u64 + e);
                let versions: Vec<i64> = (1..=rng.gen_range(1..8)).collect();
                for v in &versions {
                    for _ in 0..rng.gen_range(1..=2) {
                        let f = if dataset.starts_with("adsp-adgroup") && rng.gen_bool(0.5) { "adGroupId" } else { field };
                        let j = entity_json(dataset, f, &id, marketplace, *v);
                        bodies.push(if rng.gen_bool(0.5) { gen::envelope(&j) } else { j });
                    }
                }
                expected.push((spec.dataset.table(), spec.id_column(), marketplace, id, *versions.last().unwrap(), versions.len()));
            }
        }
    }
    bodies.shuffle(&mut rng);
    write_bodies(&store, &schema, &bodies, &mut rng).await;
    let again = write_bodies(&store, &schema, &bodies, &mut rng).await;
    assert_eq!(again.inserted(), 0);
    for (table, id_col, marketplace, id, max, n) in expected {
        let row = sqlx::query(&format!(
            "SELECT version, payload->>'state', payload->'someNewField'->>'v' FROM {schema}.{table} WHERE marketplace_id = $1 AND {id_col} = $2"
        ))
        .bind(marketplace)
        .bind(&id)
        .fetch_one(store.pool())
        .await
        .unwrap();
        assert_eq!(row.get::<i64, _>(0), max, "{table} {marketplace} {id}");
        assert_eq!(row.get::<String, _>(1), format!("S{max}"));
        assert_eq!(row.get::<String, _>(2), max.to_string(), "unknown fields kept in payload");
        let (count, distinct): (i64, i64) = sqlx::query_as(&format!(
            "SELECT count(*), count(DISTINCT version) FROM {schema}.{table}_history WHERE marketplace_id = $1 AND {id_col} = $2"
        ))
        .bind(marketplace)
        .bind(&id)
        .fetch_one(store.pool())
        .await
        .unwrap();
        assert_eq!((count, distinct), (n as i64, n as i64), "{table} history keeps each version once");
    }
}

#[tokio::test]
async fn budget_usage_keeps_each_notification_once_and_the_newest_current() {
    let db = TestDb::new();
    let store = db.store().await;
    let schema = tenant(&store, "budgets").await;
    let mut rng = StdRng::seed_from_u64(5);
    let mut bodies = Vec::new();
    let mut distinct = HashSet::new();
    let mut newest: BTreeMap<String, (String, Decimal)> = BTreeMap::new();
    for scope in 0..5 {
        for _ in 0..12 {
            let minute = rng.gen_range(0..40);
            let pct = Decimal::new(rng.gen_range(0..20) * 5, 0);
            let ts = format!("2024-05-01T17:{minute:02}:00Z");
            let j = serde_json::json!({
                "advertiser_id": "A1", "marketplace_id": "ATVPDKIKX0DER", "dataset_id": "budget-usage",
                "budget_scope_id": format!("{scope}"), "budget_scope_type": "CAMPAIGN",
                "advertising_product_type": "sp", "budget": 50.0, "budget_usage_percentage": pct,
                "usage_updated_timestamp": ts,
            })
            .to_string();
            distinct.insert((scope, ts.clone(), pct));
            let cur = newest.entry(scope.to_string()).or_insert((ts.clone(), pct));
            if (ts.clone(), pct) > *cur {
                *cur = (ts, pct);
            }
            bodies.push(j.clone());
            bodies.push(gen::envelope(&j)); // the same notification delivered twice
        }
    }
    bodies.shuffle(&mut rng);
    let s = write_bodies(&store, &schema, &bodies, &mut rng).await;
    assert_eq!(s.inserted(), distinct.len() as u64);
    let hist: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {schema}.amzn_stream_budget_usage"))
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(hist, distinct.len() as i64);
    for (scope, (ts, pct)) in newest {
        let (got_ts, got_pct): (String, Decimal) = sqlx::query_as(&format!(
            "SELECT usage_updated_timestamp, budget_usage_percentage FROM {schema}.amzn_stream_budget_usage_current WHERE budget_scope_id = $1"
        ))
        .bind(&scope)
        .fetch_one(store.pool())
        .await
        .unwrap();
        assert_eq!((got_ts, got_pct), (ts, pct), "scope {scope}");
    }
}

#[tokio::test]
async fn malformed_bodies_are_quarantined_verbatim_and_the_rest_lands() {
    let db = TestDb::new();
    let store = db.store().await;
    let schema = tenant(&store, "poison").await;
    let mut rng = StdRng::seed_from_u64(9);
    let good: Vec<GenDelta> = (0..30).map(|i| gen::delta(&mut rng, DELTA_SPECS[1], i % 4, format!("g{i}"))).collect();
    let malformed = gen::malformed_bodies(12);
    let mut bodies: Vec<String> = good.iter().map(|g| g.json.clone()).collect();
    bodies.extend(malformed.iter().map(|(b, _)| b.clone()));
    bodies.push("body with a NUL \0 byte".into());
    bodies.shuffle(&mut rng);
    // One batch: the bad bodies must not cost the good ones.
    let writer = LedgerWriter::new(&store);
    let mut batch = LedgerBatch::new();
    for b in &bodies {
        push_body(&mut batch, b, "queue:test");
    }
    let s = writer.write(&schema, &batch).await.unwrap();
    assert_eq!(s.inserted(), 30);
    assert_eq!(s.quarantined, malformed.len() as u64 + 1);
    assert_exact(&store, &schema, &good, DELTA_SPECS[1]).await;
    for (body, code) in &malformed {
        let (got_code, source): (String, String) = sqlx::query_as(&format!(
            "SELECT reason_code, source FROM {schema}.quarantine WHERE body = $1"
        ))
        .bind(body)
        .fetch_one(store.pool())
        .await
        .unwrap_or_else(|e| panic!("{body} not quarantined verbatim: {e}"));
        assert_eq!(&got_code, code, "{body}");
        assert_eq!(source, "queue:test");
    }
}

#[tokio::test]
async fn provisioning_is_idempotent_and_migrate_upgrades_every_tenant() {
    let db = TestDb::new();
    let store = db.store().await;
    tenant(&store, "alpha").await;
    tenant(&store, "alpha").await;
    tenant(&store, "beta").await;
    // A tenant whose schema was lost (or predates a migration) is brought back by migrate.
    sqlx::query("DROP SCHEMA tenant_beta CASCADE").execute(store.pool()).await.unwrap();
    store.migrate().await.unwrap();
    for s in ["tenant_alpha", "tenant_beta"] {
        // Month partitions are tables of their own: not counted.
        let tables: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v') AND NOT c.relispartition",
        )
            .bind(s)
            .fetch_one(store.pool())
            .await
            .unwrap();
        // Per dataset: deltas 2 (+ rollup), entities 2 (+ history), budget usage 2 (+ current),
        // snapshots 3 (+ history, + view); then quarantine, account_activity, schema_migrations
        // and ledger_retention; the reporting layer: marketplace_time_zones, campaign_daily and
        // five views; BI logins: bi_logins and their five views; Stream v2: stream_v2_objects
        // and its view of the newest versions.
        let per_dataset: i64 = ams_model::DatasetId::ALL
            .iter()
            .map(|d| if d.kind() == ams_model::DatasetKind::Snapshot { 3 } else { 2 })
            .sum();
        assert_eq!(tables, per_dataset + 4 + 7 + 6 + 2, "{s}");
        let v: i32 = sqlx::query_scalar(&format!("SELECT max(version) FROM {s}.schema_migrations"))
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(v, migration::tenant::latest_version());
    }
}

/// Regression: with stale statistics (here: a truncated table) Postgres planned the known-id
/// lookup as a sequential scan testing every row against the 5,000-element array, which made a
/// batch take seconds. The writer must look ids up through the primary key, always.
#[tokio::test]
async fn known_id_lookup_never_scans_the_delta_table() {
    let db = TestDb::new();
    let store = db.store().await;
    let schema = tenant(&store, "plans").await;
    // One connection: its statistics are flushed below before they are read.
    let store = Store::connect_with(&db.url, 1).await.unwrap();
    let spec = DELTA_SPECS[0];
    let mut rng = StdRng::seed_from_u64(11);
    let batch_of = |rng: &mut StdRng, round: usize| {
        let mut b = LedgerBatch::new();
        for i in 0..2000 {
            let r = gen::delta(rng, spec, i, format!("{round}-{i}"));
            push_body(&mut b, &r.json, "t");
        }
        b
    };
    let writer = LedgerWriter::new(&store);
    for round in 0..3 {
        writer.write(&schema, &batch_of(&mut rng, round)).await.unwrap();
    }
    sqlx::query(&format!("ANALYZE {schema}.{}", spec.dataset.table())).execute(store.pool()).await.unwrap();
    sqlx::query(&format!("TRUNCATE {schema}.{0}, {schema}.{0}_hourly", spec.dataset.table()))
        .execute(store.pool())
        .await
        .unwrap();
    let seq_scans = || async {
        sqlx::query("SELECT pg_stat_force_next_flush()").execute(store.pool()).await.unwrap();
        sqlx::query("SELECT 1").execute(store.pool()).await.unwrap();
        let n: i64 = sqlx::query_scalar(
            "SELECT seq_scan FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = $2",
        )
        .bind(schema.name())
        .bind(spec.dataset.table())
        .fetch_one(store.pool())
        .await
        .unwrap();
        n
    };
    let before = seq_scans().await;
    for round in 3..8 {
        let b = batch_of(&mut rng, round);
        writer.write(&schema, &b).await.unwrap();
        writer.write(&schema, &b).await.unwrap(); // and its replay
    }
    assert_eq!(seq_scans().await, before, "the known-id lookup scanned the delta table");
}

/// Several writers of one tenant at once (replicas, or a redelivery racing its original) with
/// overlapping records: every record counted once, rollups exact. Races on a new id or key
/// abort one transaction, which is retried and then sees the other's rows.
#[tokio::test]
async fn concurrent_writers_with_overlapping_batches_count_each_record_once() {
    let db = TestDb::new();
    let store = db.store().await;
    let schema = tenant(&store, "racing").await;
    let mut rng = StdRng::seed_from_u64(3);
    let spec = DELTA_SPECS[1];
    let records: Vec<GenDelta> = (0..3000).map(|i| gen::delta(&mut rng, spec, i % 700, format!("r{i}"))).collect();
    let mut tasks = Vec::new();
    for w in 0..4u64 {
        let (store, schema) = (store.clone(), schema.clone());
        let mut bodies: Vec<String> = records.iter().map(|r| r.json.clone()).collect();
        bodies.shuffle(&mut StdRng::seed_from_u64(100 + w));
        tasks.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(w);
            write_bodies(&store, &schema, &bodies, &mut rng).await
        }));
    }
    let mut inserted = 0;
    for t in tasks {
        inserted += t.await.unwrap().inserted();
    }
    assert_eq!(inserted, records.len() as u64, "each record inserted by exactly one writer");
    assert_exact(&store, &schema, &records, spec).await;
    // The daily sums the rollups' triggers keep agree with the rollups, whoever won each race.
    let mismatched: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM
             (SELECT campaign_id, date_local, sum(orders) AS o, sum(units) AS u, sum(sales) AS s FROM {schema}.campaign_daily GROUP BY 1, 2) d
         FULL JOIN
             (SELECT campaign_id, hour_local::date AS date_local, sum(orders) AS o, sum(units) AS u, sum(sales) AS s
              FROM {schema}.performance_facts GROUP BY 1, 2) f USING (campaign_id, date_local)
         WHERE d.o IS DISTINCT FROM f.o OR d.u IS DISTINCT FROM f.u OR d.s IS DISTINCT FROM f.s"
    ))
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(mismatched, 0, "campaign_daily disagrees with the hourly rollups");
    let days: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {schema}.campaign_daily")).fetch_one(store.pool()).await.unwrap();
    assert!(days > 0, "the triggers filled campaign_daily");
}

/// The rollup identity tells a null dimension from an empty one and from the text "null":
/// three keys, three rollup rows.
#[tokio::test]
async fn null_empty_and_literal_dimensions_are_distinct_keys() {
    let db = TestDb::new();
    let store = db.store().await;
    let schema = tenant(&store, "keys").await;
    let base = ams_tests::fixture("sp-traffic.json");
    let bodies: Vec<String> = [("a", "null"), ("b", "\"\""), ("c", "\"null\""), ("d", "null")]
        .iter()
        .map(|(id, text)| {
            base.replace("0b6f3f0e-5a8e-4c53-9a7e-2d1c6f4e8a11", id)
                .replace("\"wireless earbuds\"", text)
        })
        .collect();
    let mut rng = StdRng::seed_from_u64(1);
    write_bodies(&store, &schema, &bodies, &mut rng).await;
    let rows: Vec<(Option<String>, i64, i64)> = sqlx::query_as(&format!(
        "SELECT keyword_text, clicks, delta_count FROM {schema}.amzn_stream_sp_traffic_hourly ORDER BY keyword_text NULLS FIRST"
    ))
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(rows, vec![(None, 6, 2), (Some(String::new()), 3, 1), (Some("null".into()), 3, 1)]);
}

/// The decoder's idea of what `jsonb` can hold (ams_model::storable) agrees with Postgres's:
/// random numbers around every limit, and strings with every kind of escape.
#[tokio::test]
async fn storable_check_agrees_with_postgres_jsonb() {
    let db = TestDb::new();
    let store = db.store().await;
    let mut rng = StdRng::seed_from_u64(77);
    let mut docs: Vec<String> = Vec::new();
    for _ in 0..400 {
        let int: String = match rng.gen_range(0..4) {
            0 => "0".into(),
            1 => rng.gen_range(1..1000u32).to_string(),
            2 => format!("{}{}", rng.gen_range(1..10u32), "0".repeat(rng.gen_range(0..3) * 40)),
            _ => format!("0.{}{}", "0".repeat(rng.gen_range(0..6)), rng.gen_range(1..100u32)),
        };
        let exp: i64 = *[0i64, 131_071, 131_072, 131_070, -16_383, -16_384, -16_380, 999_999, -999_999, 1_073_741_822, 1_073_741_823]
            .choose(&mut rng)
            .unwrap()
            + rng.gen_range(-3..=3);
        let sign = if rng.gen_bool(0.3) { "-" } else { "" };
        docs.push(format!("{{\"x\":{sign}{int}e{exp}}}"));
    }
    for s in [r"\ud800", r"\udbff\udfff", r"\udc00", r"\ud83d\ude00", r"a\u0000", r"\u0001", r"\ud800\u0041", r"\u00e9"] {
        docs.push(format!("{{\"x\":\"{s}\"}}"));
        docs.push(format!("{{\"{s}\":1}}"));
    }
    let mut disagreements = Vec::new();
    for d in &docs {
        let ours = ams_model::storable::check_jsonb(d).is_ok();
        let postgres = sqlx::query("SELECT $1::jsonb").bind(d).execute(store.pool()).await.is_ok();
        if ours != postgres {
            disagreements.push(format!("{d}: ours {ours}, postgres {postgres}"));
        }
    }
    assert!(disagreements.is_empty(), "{disagreements:#?}");
}
