//! LedgerWriter throughput beside a plain COPY of the same rows into a table with the same
//! unique key, in the same run on the same database. Run with `cargo bench -p ams-store`
//! (Postgres at `AMS_BENCH_POSTGRES`, default postgres://postgres@127.0.0.1:5432). Prints
//! figures; asserts nothing about speed. `AMS_BENCH_WITHOUT=triggers` (or `index`, or
//! `triggers,index`) takes the reporting layer's `campaign_daily` triggers or (campaign, hour)
//! indexes off the rollups first, to measure what each costs (docs/performance.md, Reports).

use std::fmt::Write as _;
use std::time::Instant;

use ams_model::{decode_record, ColumnSink, DatasetId, Record};
use ams_store::{LedgerBatch, LedgerWriter, Provenance, Store, TenantSchema, TenantSlug};
use chrono::{DateTime, NaiveDateTime, Utc};
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;

const ROWS: usize = 200_000;
const BATCH: usize = 5_000;
const ROUNDS: usize = 3;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn server() -> String {
    std::env::var("AMS_BENCH_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// Two deltas per natural key (a record and its correction), like an hour with restatements.
fn records(dataset: DatasetId, rng: &mut impl Rng) -> Vec<Record> {
    let template: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/../../fixtures/ams/{}.json",
            env!("CARGO_MANIFEST_DIR"),
            dataset.as_str()
        ))
        .unwrap(),
    )
    .unwrap();
    (0..ROWS)
        .map(|i| {
            let mut v = template.clone();
            v["idempotency_id"] = format!("bench-{i:08}").into();
            v["ad_id"] = format!("{}", 100_000_000_000u64 + (i / 2) as u64).into();
            for (k, val) in v.as_object_mut().unwrap().iter_mut() {
                if val.is_f64() {
                    *val = serde_json::from_str(&format!("{}.{:02}", rng.gen_range(-5..900), rng.gen_range(0..100))).unwrap();
                } else if val.is_i64() && k != "version" {
                    *val = rng.gen_range(-2..500).into();
                }
            }
            decode_record(&v.to_string()).unwrap()
        })
        .collect()
}

/// Renders one record as a line of COPY text format.
struct CopyLine<'a>(&'a mut String, bool);

impl CopyLine<'_> {
    fn sep(&mut self) {
        if self.1 {
            self.0.push('\t');
        }
        self.1 = true;
    }
    fn opt(&mut self, v: Option<impl std::fmt::Display>) {
        self.sep();
        match v {
            Some(v) => write!(self.0, "{v}").unwrap(),
            None => self.0.push_str("\\N"),
        }
    }
}

impl ColumnSink for CopyLine<'_> {
    fn text(&mut self, v: Option<&str>) {
        let escaped = v.map(|s| s.replace('\\', "\\\\").replace('\t', "\\t").replace('\n', "\\n"));
        self.opt(escaped)
    }
    fn long(&mut self, v: Option<i64>) {
        self.opt(v)
    }
    fn decimal(&mut self, v: Option<Decimal>) {
        self.opt(v)
    }
    fn timestamp(&mut self, v: Option<DateTime<Utc>>) {
        self.opt(v.map(|t| t.to_rfc3339()))
    }
    fn local_timestamp(&mut self, v: Option<NaiveDateTime>) {
        self.opt(v)
    }
    fn boolean(&mut self, v: Option<bool>) {
        self.opt(v)
    }
    fn json(&mut self, v: Option<&str>) {
        self.text(v)
    }
}

async fn bench(store: &Store, schema: &TenantSchema, dataset: DatasetId) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let recs = records(dataset, &mut rng);
    let prov = Provenance::now(None);

    let t = Instant::now();
    let batches: Vec<LedgerBatch> = recs
        .chunks(BATCH)
        .map(|c| {
            let mut b = LedgerBatch::new();
            for r in c {
                // One record per unit, as one record per SQS message in the runtime.
                b.push_records(std::slice::from_ref(r), prov);
            }
            b
        })
        .collect();
    let assemble = ROWS as f64 / t.elapsed().as_secs_f64();

    let table = dataset.table();
    sqlx::query(&format!("CREATE TABLE public.copy_{table} (LIKE {schema}.{table} INCLUDING ALL)"))
        .execute(store.pool())
        .await
        .unwrap();
    let payloads: Vec<String> = recs
        .chunks(BATCH)
        .map(|c| {
            let mut s = String::new();
            for r in c {
                let mut line = CopyLine(&mut s, false);
                r.write_columns(&mut line);
                line.opt(None::<&str>);
                line.opt(Some(prov.received_at.to_rfc3339()));
                s.push('\n');
            }
            s
        })
        .collect();
    let cols: Vec<&str> = ams_model::columns_of(dataset).iter().map(|c| c.name).collect();
    let copy_sql = format!("COPY public.copy_{table} ({}, hub_account_id, received_at) FROM STDIN", cols.join(", "));

    // Rounds alternate the three measurements on empty tables, each after a CHECKPOINT, so
    // that WAL and checkpoint timing hit all of them alike; medians are reported.
    let writer = LedgerWriter::new(store);
    let (mut fresh, mut dup, mut copy) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let exec = |sql: String| async move { sqlx::query(&sql).execute(store.pool()).await.unwrap() };
        exec(format!("TRUNCATE {schema}.{table}, {schema}.{table}_hourly, public.copy_{table}")).await;
        exec("CHECKPOINT".into()).await;
        let t = Instant::now();
        for b in &batches {
            writer.write(schema, b).await.unwrap();
        }
        fresh.push(ROWS as f64 / t.elapsed().as_secs_f64());
        let t = Instant::now();
        for b in &batches {
            let s = writer.write(schema, b).await.unwrap();
            assert_eq!(s.inserted(), 0);
        }
        dup.push(ROWS as f64 / t.elapsed().as_secs_f64());
        exec("CHECKPOINT".into()).await;
        let mut conn = store.pool().acquire().await.unwrap();
        let t = Instant::now();
        for p in &payloads {
            let mut c = conn.copy_in_raw(&copy_sql).await.unwrap();
            c.send(p.as_bytes()).await.unwrap();
            c.finish().await.unwrap();
        }
        copy.push(ROWS as f64 / t.elapsed().as_secs_f64());
    }
    let (fresh, dup, copy) = (median(fresh), median(dup), median(copy));

    println!("{dataset} ({} columns, {ROWS} rows, batches of {BATCH}, median of {ROUNDS} rounds):", cols.len() + 2);
    println!("  batch assembly (records -> column arrays)  {assemble:>10.0} rows/s");
    println!("  LedgerWriter, fresh rows + rollup           {fresh:>10.0} rows/s  ({:.2}x COPY)", fresh / copy);
    println!("  LedgerWriter, all duplicates                {dup:>10.0} rows/s  ({:.2}x COPY)", dup / copy);
    println!("  plain COPY into a table with the same key   {copy:>10.0} rows/s");
}

#[tokio::main]
async fn main() {
    let name = format!("ams_bench_{}", uuid::Uuid::new_v4().simple());
    let url = format!("{}/{name}", server());
    let store = Store::connect(&url).await.expect("connect");
    store.migrate().await.unwrap();
    let slug = TenantSlug::parse("bench").unwrap();
    store.provision_tenant(&slug, "bench").await.unwrap();
    let schema = TenantSchema::of(&slug);
    let without = std::env::var("AMS_BENCH_WITHOUT").unwrap_or_default();
    for d in [DatasetId::SpTraffic, DatasetId::SpConversion] {
        let table = format!("{schema}.{}_hourly", d.table());
        if without.contains("triggers") {
            sqlx::query(&format!("ALTER TABLE {table} DISABLE TRIGGER USER")).execute(store.pool()).await.unwrap();
        }
        if without.contains("index") {
            sqlx::query(&format!("DROP INDEX {schema}.{}_hourly_campaign_hour", d.table())).execute(store.pool()).await.unwrap();
        }
    }
    if !without.is_empty() {
        println!("without the reporting layer's {without}");
    }
    for d in [DatasetId::SpTraffic, DatasetId::SpConversion] {
        bench(&store, &schema, d).await;
    }
    store.pool().close().await;
    let admin = sqlx::PgPool::connect(&format!("{}/postgres", server())).await.unwrap();
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)")).execute(&admin).await.unwrap();
}
