//! The `ams-hub` binary end to end against real Postgres: tenant creation, and `ingest-file`
//! over every file layout, idempotent across runs.

use std::process::{Command, Output};

use ams_model::DatasetId;
use ams_tests::{ams_hub_bin, fixture, repo_root, TestDb};

fn ams_hub(db: &TestDb, args: &[&str]) -> Output {
    Command::new(ams_hub_bin())
        .args(args)
        .env("DATABASE_URL", &db.url)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run ams-hub")
}

fn ok(out: Output) -> String {
    assert!(out.status.success(), "ams-hub failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

async fn table_counts(db: &TestDb, schema: &str) -> Vec<(String, i64)> {
    let store = db.store().await;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1",
    )
    .bind(schema)
    .fetch_all(store.pool())
    .await
    .unwrap();
    let mut out = Vec::new();
    for t in tables {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {schema}.{t}")).fetch_one(store.pool()).await.unwrap();
        out.push((t, n));
    }
    out
}

#[tokio::test]
async fn invalid_slug_is_refused_before_any_sql() {
    let db = TestDb::new();
    for bad in ["Acme", "a", "acme; DROP SCHEMA control", "tenant-1"] {
        let out = ams_hub(&db, &["tenant", "create", bad]);
        assert!(!out.status.success(), "{bad} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("invalid tenant slug"), "{err}");
    }
    // Nothing was created: not even the database.
    let store = sqlx::PgPool::connect(&format!("{}/postgres", ams_tests::server_url())).await.unwrap();
    let exists: bool = sqlx::query_scalar("SELECT exists(SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(&db.name)
        .fetch_one(&store)
        .await
        .unwrap();
    assert!(!exists);
}

#[tokio::test]
async fn ingest_file_reads_every_layout_and_is_idempotent() {
    let db = TestDb::new();
    ok(ams_hub(&db, &["tenant", "create", "acme", "--name", "Acme Agency"]));
    ok(ams_hub(&db, &["tenant", "create", "acme"])); // idempotent

    // Every fixture as its own pretty-printed .json file.
    let fixtures_dir = repo_root().join("fixtures/ams");
    let mut args: Vec<String> = vec!["ingest-file".into(), "--tenant".into(), "acme".into(), "--json".into()];
    for d in DatasetId::ALL {
        args.push(fixtures_dir.join(format!("{}.json", d.as_str())).display().to_string());
    }
    let out: serde_json::Value = serde_json::from_str(&ok(ams_hub(&db, &args.iter().map(String::as_str).collect::<Vec<_>>()))).unwrap();
    for d in DatasetId::ALL {
        assert_eq!(out["datasets"][d.as_str()]["new"], 1, "{d}: {out}");
    }

    // A newline-delimited file of SQS bodies with a broken line, and a Firehose-style file of
    // concatenated records: the good ones are duplicates now, the broken line is quarantined.
    let dir = std::env::temp_dir().join(format!("ams-cli-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let compact = |name: &str| serde_json::from_str::<serde_json::Value>(&fixture(name)).unwrap().to_string();
    let ndjson = dir.join("queue-export");
    std::fs::write(
        &ndjson,
        format!("{}\n{}\nthis line is not json\n{}\n", compact("sns-envelope.json"), compact("ads.json"), compact("subscription-confirmation.json")),
    )
    .unwrap();
    let firehose = dir.join("firehose-2024-05-01-17");
    std::fs::write(&firehose, format!("{}{}{}", compact("sp-conversion.json"), compact("targets.json"), compact("sb-traffic.json"))).unwrap();
    let paths = [ndjson.display().to_string(), firehose.display().to_string()];
    let run = || ams_hub(&db, &["ingest-file", "--tenant", "acme", "--json", "--batch-size", "2", &paths[0], &paths[1]]);
    let out: serde_json::Value = serde_json::from_str(&ok(run())).unwrap();
    assert_eq!(out["datasets"]["sp-traffic"]["duplicates"], 1, "{out}");
    assert_eq!(out["datasets"]["targets"]["duplicates"], 1, "{out}");
    assert_eq!(out["quarantined"], 2, "broken line and confirmation: {out}");
    assert_eq!(out["confirmations"], 1);

    let before = table_counts(&db, "tenant_acme").await;
    let out: serde_json::Value = serde_json::from_str(&ok(run())).unwrap();
    assert_eq!(out["quarantined"], 0, "{out}");
    assert_eq!(out["quarantine_known"], 2, "{out}");
    assert!(out["datasets"].as_object().unwrap().values().all(|c| c["new"] == 0), "{out}");
    assert_eq!(table_counts(&db, "tenant_acme").await, before, "a second ingest changed the ledger");

    let store = db.store().await;
    let (body, source): (String, String) =
        sqlx::query_as("SELECT body, source FROM tenant_acme.quarantine WHERE reason_code = 'not_json'")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(body, "this line is not json");
    assert!(source.ends_with("queue-export:3"), "{source}");
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn ingest_into_unknown_tenant_fails_clearly() {
    let db = TestDb::new();
    let path = repo_root().join("fixtures/ams/ads.json");
    let out = ams_hub(&db, &["ingest-file", "--tenant", "nobody", path.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("tenant \"nobody\" does not exist"));
}

/// Hostile-but-decodable records of every dataset, mixed into a normal stream: the file lands
/// (exit 0) except those, each quarantined exactly once with its reason; the normal stream's
/// totals are exact; of two records whose sum overflows `bigint`, one is accepted and one
/// quarantined, and the key's total is what was accepted.
#[tokio::test]
async fn ingest_file_quarantines_what_postgres_would_refuse_and_lands_the_rest() {
    use ams_tests::check::{assert_exact, bodies};
    use ams_tests::{gen, hostile};
    use rand::SeedableRng;

    let db = TestDb::new();
    ok(ams_hub(&db, &["tenant", "create", "hostile"]));
    let mut rng = rand::rngs::StdRng::seed_from_u64(12);
    let records: Vec<gen::GenDelta> =
        (0..300).map(|i| gen::delta(&mut rng, ams_model::DELTA_SPECS[0], i % 40, format!("n-{i}"))).collect();
    let normal = bodies(&records);
    let bad = hostile::all();
    let pair = hostile::overflow_pair();
    // Hostile bodies spread through the normal ones; the overflow pair far apart (different
    // batches with --batch-size 50) and, in a second file, side by side (one batch).
    let mut lines = normal.clone();
    for (i, h) in bad.iter().enumerate() {
        lines.insert((i * 7) % lines.len(), h.body.clone());
    }
    lines.insert(3, pair[0].clone());
    lines.push(pair[1].clone());
    let dir = std::env::temp_dir().join(format!("ams-hostile-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("mixed.ndjson");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let out = ok(ams_hub(&db, &["ingest-file", "--tenant", "hostile", "--json", "--batch-size", "50", file.to_str().unwrap()]));
    let out: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(out["quarantined"], bad.len() as u64 + 1, "{out}");

    let store = db.store().await;
    let schema = ams_tests::tenant(&store, "hostile").await;
    assert_exact(&store, &schema, &records).await;
    hostile::assert_quarantined(&store, &schema, &bad, &pair).await;

    // Nothing of the hostile records reached the other tables.
    for d in ams_model::DatasetId::ALL {
        if matches!(d, ams_model::DatasetId::SpTraffic | ams_model::DatasetId::SdTraffic) {
            continue;
        }
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {schema}.{}", d.table())).fetch_one(store.pool()).await.unwrap();
        assert_eq!(n, 0, "{d}");
    }

    // Side by side in one batch: the in-batch sum overflows; again one of them is quarantined
    // (already known), the other is a duplicate, and a second run changes nothing.
    let file2 = dir.join("pair.ndjson");
    std::fs::write(&file2, format!("{}\n{}\n", pair[1], pair[0])).unwrap();
    let out = ok(ams_hub(&db, &["ingest-file", "--tenant", "hostile", "--json", file2.to_str().unwrap(), file.to_str().unwrap()]));
    let out: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(out["quarantined"], 0, "{out}");
    assert_exact(&store, &schema, &records).await;
    std::fs::remove_dir_all(dir).ok();
}
