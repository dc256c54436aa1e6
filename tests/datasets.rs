//! The Amazon DSP and recommendation datasets end to end, by both paths into the ledger: a
//! file through `ams-hub ingest-file`, and a queue through `ams-hub serve` (moto's SQS over
//! HTTP). The stream (`support/streams.rs`) has duplicates, redeliveries, corrections,
//! out-of-order versions, truncated target records and re-sent recommendation states.

use std::process::Command;

use ams_store::{TenantSchema, TenantSlug};
use ams_tests::aws::{self, Moto};
use ams_tests::check::{consumer_count, wait_until};
use ams_tests::serve::Serve;
use ams_tests::streams::Stream;
use ams_tests::{ams_hub_bin, TestDb};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::{json, Value};

fn ingest(db: &TestDb, tenant: &str, path: &std::path::Path) -> Value {
    let out = Command::new(ams_hub_bin())
        .args(["ingest-file", "--tenant", tenant, "--json", "--batch-size", "50", path.to_str().unwrap()])
        .env("DATABASE_URL", &db.url)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn the_new_datasets_through_ingest_file_are_exact_and_a_second_run_changes_nothing() {
    let db = TestDb::new();
    let store = db.store().await;
    let schema = ams_tests::tenant(&store, "dsp_files").await;
    let stream = Stream::generate(&mut StdRng::seed_from_u64(14));
    let dir = std::env::temp_dir().join(format!("ams-datasets-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("stream.ndjson");
    std::fs::write(&file, stream.bodies.join("\n")).unwrap();

    let out = ingest(&db, "dsp_files", &file);
    assert_eq!(out["quarantined"], 0, "{out}");
    for d in ams_model::DatasetId::ALL.into_iter().filter(|d| d.info().since_schema == 2) {
        assert_eq!(out["datasets"][d.as_str()]["new"], json!(stream.expected_rows(d)), "{d}: {out}");
    }
    stream.assert_landed(&store, &schema).await;
    let again = ingest(&db, "dsp_files", &file);
    assert!(again["datasets"].as_object().unwrap().values().all(|c| c["new"] == 0), "{again}");
    stream.assert_landed(&store, &schema).await;

    // A revised budget recommendation for a key already held (same time, new content): a new
    // state in history, and current, since it came last.
    let revised = json!({
        "dataset_id": "sp-budget-recommendations", "marketplace_id": "ATVPDKIKX0DER", "campaign_id": "700",
        "recommendation_time": "2024-05-01T10:00:00Z", "suggested_budget": 99.99, "marker": "revised",
    });
    let file2 = dir.join("later.json");
    std::fs::write(&file2, revised.to_string()).unwrap();
    ingest(&db, "dsp_files", &file2);
    let rows: Vec<(String, i64)> = sqlx::query_as(&format!(
        "SELECT (SELECT payload->>'marker' FROM {schema}.amzn_stream_sp_budget_recommendations
                 WHERE campaign_id = '700' AND recommendation_time = '2024-05-01T10:00:00Z'),
                (SELECT count(*) FROM {schema}.amzn_stream_sp_budget_recommendations_history
                 WHERE campaign_id = '700' AND recommendation_time = '2024-05-01T10:00:00Z')"
    ))
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(rows, [("revised".to_string(), 2)]);
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn the_new_datasets_through_serve_are_exact_and_truncations_are_counted() {
    let db = TestDb::new();
    let store = db.store().await;
    let moto = Moto::start();
    let slug = TenantSlug::parse("dsp_queue").unwrap();
    let tenant = store.provision_tenant(&slug, "DSP agency").await.unwrap();
    store.update_tenant(&slug, None, Some(true), None).await.unwrap();
    let sdk = moto.platform();
    let queue_url = aws::create_queue(&sdk, "ams-dsp").await;
    let account = store.create_account(tenant.id, "Brand", None, "ext-id-1").await.unwrap();
    store.add_queue(account.id, &queue_url, "us-east-1").await.unwrap();
    let schema = TenantSchema::of(&slug);
    let stream = Stream::generate(&mut StdRng::seed_from_u64(1414));
    aws::send_all(&sdk, &queue_url, &stream.bodies).await;

    let serve = Serve::start(&db, &moto.url, &[]);
    wait_until("the stream to land", 120, &serve, || async {
        aws::backlog(&sdk, &queue_url).await == 0 && stream.all_landed(&store, &schema).await
    })
    .await;
    stream.assert_landed(&store, &schema).await;
    let quarantined: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {schema}.quarantine")).fetch_one(store.pool()).await.unwrap();
    assert_eq!(quarantined, 0);
    // Truncated target records: counted (per delivery) in the status and the metrics.
    wait_until("the truncation count to be saved", 30, &serve, || async {
        consumer_count(&store, &queue_url, "records_truncated").await.unwrap_or(0) >= stream.truncated_records as i64
    })
    .await;
    let metrics = serve.metrics_text();
    let line = metrics
        .lines()
        .find(|l| l.starts_with("ams_hub_records_truncated_total{") && l.contains(&queue_url))
        .unwrap_or_else(|| panic!("no truncation counter:\n{metrics}"));
    let n: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(n >= stream.truncated_records as u64, "{line}");
}

/// Amazon's own samples (`fixtures/amazon-docs/`) through `ingest-file`: as published, each
/// lands in quarantine with the reason the decoder gives (placeholder ids and hours; the
/// confirmation because files never confirm), and nothing reaches a ledger table.
#[tokio::test]
async fn amazons_published_samples_land_in_quarantine_with_their_reasons() {
    let db = TestDb::new();
    let store = db.store().await;
    let schema = ams_tests::tenant(&store, "samples").await;
    let dir = ams_tests::repo_root().join("fixtures/amazon-docs");
    let mut files: Vec<std::path::PathBuf> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "json")).collect();
    files.sort();
    let mut args = vec!["ingest-file".to_string(), "--tenant".into(), "samples".into(), "--json".into()];
    args.extend(files.iter().map(|p| p.display().to_string()));
    let out = Command::new(ams_hub_bin()).args(&args).env("DATABASE_URL", &db.url).env("RUST_LOG", "warn").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["quarantined"], json!(files.len()), "{summary}");
    let rows: Vec<(String, String)> =
        sqlx::query_as(&format!("SELECT source, reason_code || ': ' || reason FROM {schema}.quarantine ORDER BY source"))
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(rows.len(), files.len());
    for (source, reason) in rows {
        let file = source.rsplit('/').next().unwrap();
        let expected = if file.starts_with("sns-subscription-confirmation") {
            "subscription_confirmation"
        } else if file.starts_with("adsp-traffic") || file.starts_with("adsp-conversion") || file.starts_with("adsp-clickstream") || file.starts_with("adsp-rich-media") {
            "time_window_start \"string\""
        } else {
            "empty id"
        };
        assert!(reason.contains(expected), "{file}: {reason}");
    }
    for d in ams_model::DatasetId::ALL {
        assert_eq!(Stream::rows_of(&store, &schema, d).await, 0, "{d}");
    }
}
