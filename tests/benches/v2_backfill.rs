//! Stream v2 backfill: 70 days of hourly Parquet files for 20 advertisers (`AMS_BENCH_V2_DAYS`,
//! `AMS_BENCH_V2_ADVERTISERS`, `AMS_BENCH_V2_ROWS` rows a file: 150, so 5.04 million rows in
//! 33,600 files), each row 59 text/id dimensions and 400 metrics (200 counts, 200 amounts) of
//! which a row fills the block of its ad product and a few common ones (about three in four
//! metrics null), landed three ways into an empty table of the same columns:
//!
//! 1. ams-hub's landing (`ams_store::stream_v2`): files read by record batch, the next one read
//!    while this one is copied, binary COPY, in batches of 500 files / 200,000 rows per
//!    transaction as the loader commits them (and the first 2,000 files again with one
//!    transaction per file, to show what batching buys);
//! 2. a plain binary COPY of the same rows: the COPY data made beforehand (untimed), only
//!    Postgres taking it timed, committed as often as (1);
//! 3. pyarrow + psycopg: each file read with pyarrow, written as CSV by pyarrow's writer and
//!    COPYed by psycopg 3, committed as often as (1) (`v2_backfill_pyarrow.py`), over the first
//!    2,000 files (300,000 rows: at its rate the whole backfill takes half an hour), against
//!    (1) on the same files.
//!
//! Then peak RSS (`VmHWM`, reset before each phase) of (1), and of one file of 400,000 rows
//! in row groups of 20,000 landed alone: bounded by a batch of a row group, not by the file.
//! Files are generated once into `AMS_BENCH_V2_DIR` (/var/tmp/ams-v2-bench) and reused.
//! Run: `cargo bench -p ams-tests --bench v2_backfill` (pyarrow and psycopg in the venv
//! scripts/test makes: `pip install pyarrow 'psycopg[binary]'`). Prints figures; asserts only
//! that every phase landed every row.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use ams_store::stream_v2::parquet_file::ParquetFile;
use ams_store::stream_v2::{Landed, ObjectVersion, Target};
use ams_tests::{tenant, TestDb};
use arrow_array::builder::{Float64Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use chrono::{TimeZone, Utc};

const DIMENSIONS: usize = 58; // and the hour: 59
const COUNTS: usize = 200;
const AMOUNTS: usize = 200;
const PRODUCTS: [&str; 4] = ["SPONSORED_PRODUCTS", "SPONSORED_BRANDS", "SPONSORED_DISPLAY", "DSP"];
const BATCH_MAX_ROWS: i64 = 200_000;
const BATCH_MAX_VERSIONS: usize = 500;

fn var(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn schema() -> Arc<Schema> {
    let mut fields = vec![Field::new("time_window_start", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false)];
    fields.push(Field::new("advertiser_id", DataType::Utf8, false));
    fields.push(Field::new("ad_product", DataType::Utf8, false));
    for d in 2..DIMENSIONS {
        fields.push(Field::new(format!("dimension_{d:02}"), DataType::Utf8, true));
    }
    for m in 0..COUNTS {
        fields.push(Field::new(format!("count_{m:03}"), DataType::Int64, true));
    }
    for m in 0..AMOUNTS {
        fields.push(Field::new(format!("amount_{m:03}"), DataType::Float64, true));
    }
    Arc::new(Schema::new(fields))
}

/// One file's rows: `rows` rows of `advertiser` in `hour` (hours since 2025-09-01).
fn batch(schema: &Arc<Schema>, advertiser: usize, hour: i64, rows: usize, first: i64) -> RecordBatch {
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    let mut t = TimestampMicrosecondBuilder::with_capacity(rows).with_timezone("UTC");
    for _ in 0..rows {
        t.append_value(1_756_684_800_000_000 + hour * 3_600_000_000);
    }
    columns.push(Arc::new(t.finish()));
    let mut adv = StringBuilder::new();
    let mut product = StringBuilder::new();
    for r in 0..rows {
        adv.append_value(format!("ENTITY{advertiser:012}"));
        product.append_value(PRODUCTS[(first as usize + r) % 4]);
    }
    columns.push(Arc::new(adv.finish()));
    columns.push(Arc::new(product.finish()));
    for d in 2..DIMENSIONS {
        let mut b = StringBuilder::new();
        for r in 0..rows {
            let n = first + r as i64;
            match d % 6 {
                // ids: campaign, ad group, ad, keyword… 15-18 digits
                0 | 1 | 2 => b.append_value(format!("{}", 100_000_000_000_000 + (n * 7_919 + d as i64 * 104_729) % 900_000_000_000_000)),
                // low-cardinality names: placement, match type, currency…
                3 => b.append_value(["TOP_OF_SEARCH", "DETAIL_PAGE", "REST_OF_SEARCH", "OFF_AMAZON"][(n as usize + d) % 4]),
                4 if n % 3 == 0 => b.append_null(),
                _ => b.append_value(format!("name {} of {d}", n % 1_000)),
            }
        }
        columns.push(Arc::new(b.finish()));
    }
    // A row fills its product's quarter of each metric family and the first ten of each.
    let filled = |m: usize, row: i64| m < 10 || (m - 10) * 4 / (COUNTS - 10) == (row as usize % 4);
    for m in 0..COUNTS {
        let mut b = Int64Builder::with_capacity(rows);
        for r in 0..rows {
            let n = first + r as i64;
            if filled(m, n) { b.append_value((n * 31 + m as i64) % 100_000) } else { b.append_null() }
        }
        columns.push(Arc::new(b.finish()));
    }
    for m in 0..AMOUNTS {
        let mut b = Float64Builder::with_capacity(rows);
        for r in 0..rows {
            let n = first + r as i64;
            if filled(m, n) { b.append_value(((n * 17 + m as i64) % 1_000_000) as f64 / 100.0) } else { b.append_null() }
        }
        columns.push(Arc::new(b.finish()));
    }
    RecordBatch::try_new(schema.clone(), columns).unwrap()
}

/// The backfill's files, made once: (path, rows) in landing order.
fn files(dir: &Path, advertisers: usize, days: usize, rows: usize) -> Vec<(PathBuf, i64)> {
    let schema = schema();
    let manifest = dir.join(format!("manifest-{advertisers}-{days}-{rows}.txt"));
    let mut out = Vec::new();
    for day in 0..days {
        for hour in 0..24 {
            for a in 0..advertisers {
                let path = dir.join(format!("{advertisers}-{rows}/d{day:02}/h{hour:02}/adv{a:02}.parquet"));
                out.push((path, rows as i64));
            }
        }
    }
    if manifest.exists() {
        return out;
    }
    let started = Instant::now();
    let mut first = 0i64;
    for (i, (path, n)) in out.iter().enumerate() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let hour = (i / advertisers) as i64;
        let b = batch(&schema, i % advertisers, hour, *n as usize, first);
        first += n;
        std::fs::write(path, ams_tests::parquet_gen::write(&[b], 100_000)).unwrap();
    }
    std::fs::write(&manifest, format!("{} files\n", out.len())).unwrap();
    println!("generated {} files in {:.0} s", out.len(), started.elapsed().as_secs_f64());
    out
}

/// One file of 400,000 rows in row groups of 20,000, written a row group at a time (made before
/// anything is measured, so that making it leaves no heap behind in what is).
fn big_file(dir: &Path) -> PathBuf {
    let big = dir.join("big-400000.parquet");
    if !big.exists() {
        let s = schema();
        let props = parquet::file::properties::WriterProperties::builder()
            .set_compression(parquet::basic::Compression::SNAPPY)
            .set_max_row_group_row_count(Some(20_000))
            .build();
        let mut writer = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&big).unwrap(), s.clone(), Some(props)).unwrap();
        for g in 0..20 {
            writer.write(&batch(&s, 0, g, 20_000, g * 20_000)).unwrap();
            writer.flush().unwrap();
        }
        writer.close().unwrap();
    }
    big
}

fn reset_peak_rss() {
    // Linux: writing 5 to clear_refs resets VmHWM to the current RSS.
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
}

fn version(i: usize, path: &Path) -> ObjectVersion {
    ObjectVersion {
        bucket: "bench".into(),
        key: path.display().to_string(),
        version_id: format!("v{i}"),
        last_modified: Utc.timestamp_opt(1_764_547_200 + i as i64, 0).unwrap(),
        size: 0,
    }
}

/// Lands `files` through the store, committing every `per_tx` files (and at 200,000 rows):
/// rows per second.
async fn land(store: &ams_store::Store, target: &Target<'_>, files: &[(PathBuf, i64)], per_tx: usize) -> (i64, f64) {
    let started = Instant::now();
    let mut batch = store.begin_v2_batch(target).await.unwrap();
    let mut rows = 0;
    // As the loader does: the next file is read (in a task) while this one lands.
    let read = |i: usize| {
        let (path, account) = (files[i].0.clone(), target.account);
        tokio::spawn(async move { ams_store::stream_v2::prepare(account, &version(i, &path), &path).await.unwrap() })
    };
    let mut next = Some(read(0));
    for (i, (path, n)) in files.iter().enumerate() {
        let prepared = next.take().expect("read ahead").await.unwrap();
        if i + 1 < files.len() {
            next = Some(read(i + 1));
        }
        let landed = batch.land_prepared(&version(i, path), prepared).await.unwrap();
        assert!(matches!(landed, Landed::Loaded { rows, .. } if rows == *n), "{landed:?}");
        rows += n;
        if batch.versions() >= per_tx || batch.rows() >= BATCH_MAX_ROWS {
            batch.commit().await.unwrap();
            batch = store.begin_v2_batch(target).await.unwrap();
        }
    }
    batch.commit().await.unwrap();
    (rows, started.elapsed().as_secs_f64())
}

async fn reset(store: &ams_store::Store) {
    sqlx::query("DROP TABLE IF EXISTS tenant_bench.amzn_stream_v2_backfill CASCADE").execute(store.pool()).await.unwrap();
    sqlx::query("TRUNCATE tenant_bench.stream_v2_objects").execute(store.pool()).await.unwrap();
    sqlx::query("CHECKPOINT").execute(store.pool()).await.unwrap();
}

async fn count(store: &ams_store::Store, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM tenant_bench.{table}")).fetch_one(store.pool()).await.unwrap()
}

/// The plain COPY: the same rows' COPY data made per batch of files beforehand, only the COPY
/// (and its commit) timed.
async fn plain_copy(store: &ams_store::Store, files: &[(PathBuf, i64)], columns: &str) -> (i64, f64) {
    let mut timed = 0.0;
    let mut rows = 0;
    for (c, chunk) in files.chunks(BATCH_MAX_VERSIONS.min((BATCH_MAX_ROWS / files[0].1.max(1)) as usize).max(1)).enumerate() {
        let mut data: Vec<Vec<u8>> = Vec::new();
        for (i, (path, _)) in chunk.iter().enumerate() {
            let file = ParquetFile::open(path).unwrap();
            let key = path.display().to_string();
            let mut body = Vec::new();
            rows += file.encode(uuid::Uuid::nil(), &key, &format!("v{c}-{i}"), |b| { body.extend_from_slice(&b); true }).unwrap();
            data.push(body);
        }
        let started = Instant::now();
        let mut tx = store.pool().begin().await.unwrap();
        for body in data {
            let mut copy = tx.copy_in_raw(&format!("COPY tenant_bench.plain_copy ({columns}) FROM STDIN WITH (FORMAT binary)")).await.unwrap();
            copy.send(body).await.unwrap();
            copy.finish().await.unwrap();
        }
        tx.commit().await.unwrap();
        timed += started.elapsed().as_secs_f64();
    }
    (rows, timed)
}

#[tokio::main]
async fn main() {
    let (advertisers, days, rows) = (var("AMS_BENCH_V2_ADVERTISERS", 20), var("AMS_BENCH_V2_DAYS", 70), var("AMS_BENCH_V2_ROWS", 150));
    let dir = PathBuf::from(std::env::var("AMS_BENCH_V2_DIR").unwrap_or_else(|_| "/var/tmp/ams-v2-bench".into()));
    let files = files(&dir, advertisers, days, rows);
    big_file(&dir);
    let total: i64 = files.iter().map(|f| f.1).sum();
    let bytes: u64 = files.iter().map(|f| std::fs::metadata(&f.0).unwrap().len()).sum();
    println!("{} files, {total} rows, {:.0} MiB of Parquet, {} columns", files.len(), bytes as f64 / 1048576.0, schema().fields().len());

    // 0. Reading alone: every file opened and encoded as COPY data, no Postgres.
    let started = Instant::now();
    let (mut encoded, mut bytes_out) = (0i64, 0usize);
    for (i, (path, _)) in files.iter().enumerate() {
        let file = ParquetFile::open(path).unwrap();
        encoded += file.encode(uuid::Uuid::nil(), "key", &format!("v{i}"), |b| { bytes_out += b.len(); true }).unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "reading alone: {encoded} rows in {secs:.1} s = {:.0} rows/s, {:.2} ms a file; {:.0} MiB of COPY data",
        encoded as f64 / secs,
        secs * 1000.0 / files.len() as f64,
        bytes_out as f64 / 1048576.0
    );
    if std::env::var("AMS_BENCH_V2_ONLY").as_deref() == Ok("reading") {
        return;
    }

    let db = TestDb::new();
    let store = db.store().await;
    let tenant_schema = tenant(&store, "bench").await;
    let declared = vec!["backfill".to_owned()];
    let target = Target { schema: &tenant_schema, account: uuid::Uuid::nil(), declared: &declared };

    // 1. ams-hub's landing.
    reset_peak_rss();
    let (landed, secs) = land(&store, &target, &files, BATCH_MAX_VERSIONS).await;
    let peak = ams_tests::bench::peak_rss_mib(std::process::id());
    assert_eq!((landed, count(&store, "amzn_stream_v2_backfill").await), (total, total));
    let ours = landed as f64 / secs;
    println!("ams-hub landing: {landed} rows in {secs:.1} s = {ours:.0} rows/s; peak RSS {peak:.0} MiB");
    let columns: Vec<String> = sqlx::query_scalar(
        "SELECT quote_ident(attname) FROM pg_attribute WHERE attrelid = 'tenant_bench.amzn_stream_v2_backfill'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let columns = columns.join(", ");
    sqlx::query("CREATE TABLE tenant_bench.plain_copy (LIKE tenant_bench.amzn_stream_v2_backfill)").execute(store.pool()).await.unwrap();
    sqlx::query("CREATE TABLE tenant_bench.pyarrow_copy (LIKE tenant_bench.amzn_stream_v2_backfill)").execute(store.pool()).await.unwrap();
    let head = &files[..files.len().min(2_000)];
    reset(&store).await;

    // 1b. The same landing, one transaction per file, over the first 2,000 files.
    let (n, secs_one) = land(&store, &target, head, 1).await;
    let per_file = n as f64 / secs_one;
    reset(&store).await;
    let (n, secs_batched) = land(&store, &target, head, BATCH_MAX_VERSIONS).await;
    let batched = n as f64 / secs_batched;
    println!("first {} files: one transaction per file {per_file:.0} rows/s, batched {batched:.0} rows/s", head.len());
    reset(&store).await;

    // 2. Plain binary COPY of the same rows.
    let (n, secs) = plain_copy(&store, &files, &columns).await;
    assert_eq!((n, count(&store, "plain_copy").await), (total, total));
    let plain = n as f64 / secs;
    println!("plain binary COPY: {n} rows in {secs:.1} s = {plain:.0} rows/s");
    sqlx::query("DROP TABLE tenant_bench.plain_copy").execute(store.pool()).await.unwrap();
    sqlx::query("CHECKPOINT").execute(store.pool()).await.unwrap();

    // 3. pyarrow + psycopg.
    let list = dir.join("files.txt");
    std::fs::write(&list, head.iter().map(|f| f.0.display().to_string()).collect::<Vec<_>>().join("\n")).unwrap();
    let script = ams_tests::repo_root().join("tests/benches/v2_backfill_pyarrow.py");
    let out = std::process::Command::new(ams_tests::aws::venv_python())
        .arg(&script)
        .args([db.url.as_str(), "tenant_bench.pyarrow_copy", list.to_str().unwrap(), &BATCH_MAX_VERSIONS.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let (n, secs) = (report["rows"].as_i64().unwrap(), report["seconds"].as_f64().unwrap());
    let head_rows: i64 = head.iter().map(|f| f.1).sum();
    assert_eq!((n, count(&store, "pyarrow_copy").await), (head_rows, head_rows));
    let python = n as f64 / secs;
    println!("pyarrow + psycopg, first {} files: {n} rows in {secs:.1} s = {python:.0} rows/s", head.len());
    sqlx::query("DROP TABLE tenant_bench.pyarrow_copy").execute(store.pool()).await.unwrap();

    println!(
        "ratios: ams-hub / plain COPY = {:.2} (all files); ams-hub / pyarrow+psycopg = {:.2} (first {} files, both batched)",
        ours / plain,
        batched / python,
        head.len()
    );

    // 4. One large file alone: memory follows the row group, not the file.
    let big = big_file(&dir);
    reset(&store).await;
    reset_peak_rss();
    let before = ams_tests::bench::rss_mib(std::process::id());
    let (n, secs) = land(&store, &target, &[(big.clone(), 400_000)], 1).await;
    let peak = ams_tests::bench::peak_rss_mib(std::process::id());
    println!(
        "one file of {n} rows ({:.0} MiB Parquet, row groups of 20,000): {secs:.1} s, RSS {before:.0} MiB before, peak {peak:.0} MiB",
        std::fs::metadata(&big).unwrap().len() as f64 / 1048576.0
    );
}
