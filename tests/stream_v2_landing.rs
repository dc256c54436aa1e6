//! Stream v2 landing: every Parquet object version lands exactly once in the tenant's schema.
//! Against real Postgres (the store's landing, with a crash and two loaders at once) and end to
//! end (the real binary, moto's S3 + KMS + SQS, a destination deployed from ams-hub's template
//! and adopted through the API, notifications in every shape).

use ams_store::stream_v2::{Landed, ObjectVersion, StagedOrDone, Target};
use ams_tests::parquet_gen::{ads_file, Expected, Variant};
use ams_tests::{tenant, TestDb};
use chrono::{TimeZone, Utc};
use uuid::Uuid;

fn spool(bytes: &[u8]) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("ams-v2-test-{}.parquet", Uuid::new_v4().simple()));
    std::fs::write(&path, bytes).unwrap();
    path
}

fn version(key: &str, id: &str, minute: u32) -> ObjectVersion {
    ObjectVersion {
        bucket: "brand-data".into(),
        key: key.into(),
        version_id: id.into(),
        last_modified: Utc.with_ymd_and_hms(2026, 12, 1, 0, minute, 0).unwrap(),
        size: 1,
    }
}

/// (rows, sum of impressions, sum of cost as text, null impressions) of the rows of `key`'s
/// version `id`.
async fn sums(pool: &sqlx::PgPool, table: &str, key: &str, id: &str) -> (i64, Option<i64>, Option<String>, i64) {
    sqlx::query_as(&format!(
        "SELECT count(*), sum(impressions)::bigint, sum(cost)::text, count(*) FILTER (WHERE impressions IS NULL)
         FROM tenant_land.{table} WHERE _object_key = $1 AND _version_id = $2"
    ))
    .bind(key)
    .bind(id)
    .fetch_one(pool)
    .await
    .unwrap()
}

fn cost_text(micros: i128) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let m = micros.unsigned_abs();
    format!("{sign}{}.{:06}", m / 1_000_000, m % 1_000_000)
}

fn as_sums(e: &Expected) -> (i64, Option<i64>, Option<String>, i64) {
    (e.rows, Some(e.impressions), Some(cost_text(e.cost_micros)), e.null_impressions)
}

#[tokio::test]
async fn each_version_lands_once_through_a_crash_two_loaders_new_columns_and_changed_types() {
    let db = TestDb::new();
    let store = db.store().await;
    let schema = tenant(&store, "land").await;
    let account = Uuid::new_v4();
    let declared = vec!["ads-performance".to_owned()];
    let target = Target { schema: &schema, account, declared: &declared };
    let table = "amzn_stream_v2_ads_performance";

    // A crash between COPY and commit: the backend holding the transaction dies (as when
    // ams-hub is killed); nothing of the version stays, and it lands in full afterwards.
    let (bytes, a) = ads_file(2_500, 1, "ADV1", Variant::Usual);
    let path = spool(&bytes);
    let v1 = version("v2/ads-performance/2026/12/01/00/part-0.parquet", "ver-a1", 1);
    let StagedOrDone::Staged(mut staged) = store.stage_v2_object(&target, &v1, &path).await.unwrap() else { panic!("nothing staged") };
    let pid = staged.backend_pid().await.unwrap();
    let killed: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)").bind(pid).fetch_one(store.pool()).await.unwrap();
    assert!(killed);
    assert!(staged.commit().await.is_err(), "the transaction died with its backend");
    let objects: i64 = sqlx::query_scalar("SELECT count(*) FROM tenant_land.stream_v2_objects").fetch_one(store.pool()).await.unwrap();
    let table_exists: bool = sqlx::query_scalar("SELECT to_regclass('tenant_land.amzn_stream_v2_ads_performance') IS NOT NULL")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!((objects, table_exists), (0, false), "no claim, no table, no rows survive the crash");

    let landed = store.land_v2_object(&target, &v1, &path).await.unwrap();
    assert_eq!(landed, Landed::Loaded { dataset: "ads-performance".into(), table: table.into(), rows: 2_500 });
    assert_eq!(sums(store.pool(), table, &v1.key, "ver-a1").await, as_sums(&a), "every value exact");
    assert_eq!(store.land_v2_object(&target, &v1, &path).await.unwrap(), Landed::AlreadyLanded, "a second landing is a no-op");

    // Types as Postgres holds them, and values as written.
    let (hour, day, ctr, brand, rows): (String, String, f64, bool, i64) = sqlx::query_as(&format!(
        "SELECT min(hour)::text, min(day)::text, max(ctr), bool_or(is_brand), max(_row_number) + 1 FROM tenant_land.{table}"
    ))
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!((hour.as_str(), day.as_str(), ctr, brand, rows), ("2025-12-01 00:00:00+00", "2025-12-01", 0.999, true, 2_500));
    let types: Vec<(String, String)> = sqlx::query_as(
        "SELECT column_name::text, data_type::text FROM information_schema.columns
         WHERE table_schema = 'tenant_land' AND table_name = $1 ORDER BY ordinal_position",
    )
    .bind(table)
    .fetch_all(store.pool())
    .await
    .unwrap();
    let types: Vec<(&str, &str)> = types.iter().map(|(c, t)| (c.as_str(), t.as_str())).collect();
    assert_eq!(
        types,
        [
            ("_hub_account_id", "uuid"), ("_object_key", "text"), ("_version_id", "text"), ("_row_number", "bigint"),
            ("advertiser_id", "text"), ("campaign_id", "bigint"), ("hour", "timestamp with time zone"), ("day", "date"),
            ("impressions", "bigint"), ("cost", "numeric"), ("ctr", "double precision"), ("is_brand", "boolean")
        ]
    );

    // Two loaders at once on one version: one lands it, the other waits and finds it landed.
    let (bytes, b) = ads_file(3_000, 2, "ADV2", Variant::Usual);
    let path_b = spool(&bytes);
    let v2 = version("v2/ads-performance/2026/12/01/01/part-0.parquet", "ver-b1", 2);
    let (x, y) = tokio::join!(store.land_v2_object(&target, &v2, &path_b), store.land_v2_object(&target, &v2, &path_b));
    let mut outcomes = [x.unwrap(), y.unwrap()];
    outcomes.sort_by_key(|o| matches!(o, Landed::AlreadyLanded));
    assert_eq!(outcomes[1], Landed::AlreadyLanded, "{outcomes:?}");
    assert!(matches!(outcomes[0], Landed::Loaded { rows: 3_000, .. }), "{outcomes:?}");
    assert_eq!(sums(store.pool(), table, &v2.key, "ver-b1").await, as_sums(&b));

    // A file with a new column widens the table; the rows before it have NULL there.
    let (bytes, c) = ads_file(1_200, 3, "ADV3", Variant::NewColumn);
    let v3 = version("v2/ads-performance/2026/12/01/02/part-0.parquet", "ver-c1", 3);
    assert!(matches!(store.land_v2_object(&target, &v3, &spool(&bytes)).await.unwrap(), Landed::Loaded { rows: 1_200, .. }));
    assert_eq!(sums(store.pool(), table, &v3.key, "ver-c1").await, as_sums(&c));
    let (with, without): (i64, i64) = sqlx::query_as(&format!(
        "SELECT count(video_views), count(*) FILTER (WHERE video_views IS NULL) FROM tenant_land.{table}"
    ))
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!((with, without), (1_200, 5_500));

    // A column whose type changed: that file is quarantined with the reason; the next lands.
    let (bytes, _) = ads_file(100, 4, "ADV4", Variant::ChangedType);
    let v4 = version("v2/ads-performance/2026/12/01/03/part-0.parquet", "ver-d1", 4);
    let Landed::Quarantined { reason } = store.land_v2_object(&target, &v4, &spool(&bytes)).await.unwrap() else { panic!("not quarantined") };
    assert!(reason.contains("\"impressions\"") && reason.contains("text") && reason.contains("bigint"), "{reason}");
    let not_parquet = version("v2/ads-performance/2026/12/01/03/part-1.parquet", "ver-e1", 5);
    let Landed::Quarantined { reason } = store.land_v2_object(&target, &not_parquet, &spool(b"PAR1 but not really")).await.unwrap() else {
        panic!("not quarantined")
    };
    assert!(reason.contains("not a readable Parquet file"), "{reason}");
    let (bytes, f) = ads_file(700, 6, "ADV5", Variant::Usual);
    let v6 = version("v2/ads-performance/2026/12/01/04/part-0.parquet", "ver-f1", 6);
    assert!(matches!(store.land_v2_object(&target, &v6, &spool(&bytes)).await.unwrap(), Landed::Loaded { rows: 700, .. }));
    let statuses: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT version_id, status, reason FROM tenant_land.stream_v2_objects ORDER BY last_modified",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let statuses: Vec<(&str, &str)> = statuses.iter().map(|(v, s, _)| (v.as_str(), s.as_str())).collect();
    assert_eq!(
        statuses,
        [("ver-a1", "loaded"), ("ver-b1", "loaded"), ("ver-c1", "loaded"), ("ver-d1", "quarantined"), ("ver-e1", "quarantined"), ("ver-f1", "loaded")]
    );
    let quarantined_rows: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM tenant_land.{table} WHERE _version_id IN ('ver-d1', 'ver-e1')"))
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(quarantined_rows, 0);

    // An object overwritten: both versions are kept, the _latest view shows the newer only.
    let (bytes, a2) = ads_file(40, 7, "ADV1", Variant::Usual);
    let v1b = ObjectVersion { version_id: "ver-a2".into(), last_modified: Utc.with_ymd_and_hms(2026, 12, 1, 1, 0, 0).unwrap(), ..v1.clone() };
    assert!(matches!(store.land_v2_object(&target, &v1b, &spool(&bytes)).await.unwrap(), Landed::Loaded { rows: 40, .. }));
    let latest: Vec<(String, i64)> = sqlx::query_as(&format!(
        "SELECT _version_id, count(*) FROM tenant_land.{table}_latest WHERE _object_key = $1 GROUP BY 1"
    ))
    .bind(&v1.key)
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(latest, [("ver-a2".to_owned(), a2.rows)]);
    let everything: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM tenant_land.{table}_latest")).fetch_one(store.pool()).await.unwrap();
    assert_eq!(everything, a2.rows + b.rows + c.rows + f.rows, "the view has every key's newest version, and the new column");

    // A file that does not say its dataset, for an account that declares two: quarantined.
    let two = vec!["ads-performance".to_owned(), "dsp-performance".to_owned()];
    let unsure = Target { schema: &schema, account, declared: &two };
    let (bytes, _) = ads_file(10, 8, "ADV6", Variant::Usual);
    let v7 = version("v2/unknown/part-0.parquet", "ver-g1", 7);
    let Landed::Quarantined { reason } = store.land_v2_object(&unsure, &v7, &spool(&bytes)).await.unwrap() else { panic!("not quarantined") };
    assert!(reason.contains("declares 2"), "{reason}");
}
