//! Stream v2 landing: every Parquet object version lands exactly once in the tenant's schema.
//! Against real Postgres (the store's landing, with a crash and two loaders at once) and end to
//! end (the real binary, moto's S3 + KMS + SQS, a destination deployed from ams-hub's template
//! and adopted through the API, notifications in every shape).

use ams_store::stream_v2::{Landed, ObjectVersion, Target};
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
    let mut staged = store.begin_v2_batch(&target).await.unwrap();
    assert!(matches!(staged.land(&v1, &path).await.unwrap(), Landed::Loaded { rows: 2_500, .. }));
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

    // One transaction for several files (how a backfill lands): the one that cannot land is
    // quarantined in its savepoint, the others land with the commit.
    let mut batch = store.begin_v2_batch(&target).await.unwrap();
    let (bytes, g) = ads_file(90, 9, "ADV7", Variant::Usual);
    let g1 = version("v2/ads-performance/2026/12/01/05/part-0.parquet", "ver-g1", 8);
    assert!(matches!(batch.land(&g1, &spool(&bytes)).await.unwrap(), Landed::Loaded { rows: 90, .. }));
    let (bytes, _) = ads_file(30, 10, "ADV7", Variant::ChangedType);
    let g2 = version("v2/ads-performance/2026/12/01/05/part-1.parquet", "ver-g2", 8);
    assert!(matches!(batch.land(&g2, &spool(&bytes)).await.unwrap(), Landed::Quarantined { .. }));
    let (bytes, h) = ads_file(80, 11, "ADV7", Variant::NewColumn);
    let g3 = version("v2/ads-performance/2026/12/01/05/part-2.parquet", "ver-g3", 8);
    assert!(matches!(batch.land(&g3, &spool(&bytes)).await.unwrap(), Landed::Loaded { rows: 80, .. }));
    assert_eq!((batch.versions(), batch.rows()), (3, 170));
    batch.commit().await.unwrap();
    assert_eq!(sums(store.pool(), table, &g1.key, "ver-g1").await, as_sums(&g));
    assert_eq!(sums(store.pool(), table, &g3.key, "ver-g3").await, as_sums(&h));
    let g2_status: String = sqlx::query_scalar("SELECT status FROM tenant_land.stream_v2_objects WHERE version_id = 'ver-g2'")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(g2_status, "quarantined");

    // A file that does not say its dataset, for an account that declares two: quarantined.
    let two = vec!["ads-performance".to_owned(), "dsp-performance".to_owned()];
    let unsure = Target { schema: &schema, account, declared: &two };
    let (bytes, _) = ads_file(10, 8, "ADV6", Variant::Usual);
    let v7 = version("v2/unknown/part-0.parquet", "ver-h1", 9);
    let Landed::Quarantined { reason } = store.land_v2_object(&unsure, &v7, &spool(&bytes)).await.unwrap() else { panic!("not quarantined") };
    assert!(reason.contains("declares 2"), "{reason}");
}

mod end_to_end {
    use super::*;
    use ams_tests::amazon::{global_account_id, profile, AmazonStandIn, CLIENT_ID, CLIENT_SECRET};
    use ams_tests::api::{serve_with_api, Api, ADMIN_TOKEN};
    use ams_tests::aws::{backlog, deploy, send_all, stack_outputs, Moto};
    use ams_tests::serve::Serve;
    use ams_tests::wait::until;
    use aws_config::SdkConfig;
    use serde_json::{json, Value};

    const ADMIN: Option<&str> = Some(ADMIN_TOKEN);
    const PRINCIPAL: &str = "arn:aws:iam::999999999999:role/ams-hub-platform";
    const BRAND: &str = "arn:aws:iam::111111111111:role/brand-deployer";

    fn s3(config: &SdkConfig) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(config).force_path_style(true).build())
    }

    /// Amazon's publisher writing a file: its version id.
    async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, bytes: Vec<u8>) -> String {
        let out = s3.put_object().bucket(bucket).key(key).body(bytes.into()).send().await.unwrap();
        out.version_id.expect("a versioned bucket names the version")
    }

    /// An S3 event notification naming `keys` (as S3 sends it; Amazon's own format is not public).
    fn s3_event(bucket: &str, keys: &[&str]) -> String {
        let records: Vec<Value> = keys
            .iter()
            .map(|k| json!({"eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": bucket}, "object": {"key": k.replace(' ', "+")}}}))
            .collect();
        json!({"Records": records}).to_string()
    }

    /// (status, rows) of a version in `stream_v2_objects`.
    async fn landed(pool: &sqlx::PgPool, version_id: &str) -> Option<(String, i64)> {
        sqlx::query_as("SELECT status, rows FROM tenant_vland.stream_v2_objects WHERE version_id = $1")
            .bind(version_id)
            .fetch_optional(pool)
            .await
            .unwrap()
    }

    async fn wait_landed(pool: &sqlx::PgPool, version_id: &str, serves: &[&Serve]) -> (String, i64) {
        let logs = || serves.iter().map(|s| s.log_text()).collect::<Vec<_>>().join("\n----\n");
        until(&format!("version {version_id} landed"), 60, || landed(pool, version_id), logs).await
    }

    async fn table_rows(pool: &sqlx::PgPool) -> (i64, i64) {
        sqlx::query_as(
            "SELECT count(*), count(DISTINCT (_object_key, _version_id, _row_number)) FROM tenant_vland.amzn_stream_v2_ads_performance",
        )
        .fetch_one(pool)
        .await
        .unwrap()
    }

    /// A tenant and its brand, imported from a login through Amazon's stand-in (which names the
    /// brand's global advertising account): (write key, account id).
    fn brand(api: &Api, amazon: &AmazonStandIn) -> (String, String) {
        api.ok("POST", "/v1/tenants", ADMIN, Some(&json!({"slug": "vland", "name": "V land"})), 201);
        let key = api.ok("POST", "/v1/tenants/vland/api-keys", ADMIN, Some(&json!({"name": "k", "scope": "write"})), 201)["token"]
            .as_str()
            .unwrap()
            .to_owned();
        amazon.add_login(TOKEN, vec![profile(1001, "US", "ATVPDKIKX0DER", "ENTITYV2BRAND", "Brand")]);
        let c = api.ok("POST", "/v1/tenants/vland/ads-connections", Some(&key), Some(&json!({"name": "main", "region": "NA", "refresh_token": TOKEN})), 201);
        let imported = api.ok("POST", &format!("/v1/tenants/vland/ads-connections/{}/import", c["id"].as_str().unwrap()), Some(&key), None, 200);
        (key, imported["accounts"][0]["account_id"].as_str().unwrap().to_owned())
    }

    const TOKEN: &str = "Atzr|v2-landing-refresh-token-LLLLLLLLLLLLLLLL";

    #[tokio::test(flavor = "multi_thread")]
    async fn a_deployed_destination_lands_every_version_once_whatever_the_notifications_say() {
        let db = TestDb::new();
        let moto = Moto::start();
        let amazon = AmazonStandIn::start(&moto.url);
        let env = [
            ("AMS_HUB_PLATFORM_PRINCIPAL", PRINCIPAL),
            ("AMS_HUB_V2_SWEEP_SECS", "3600"),
            ("AMS_HUB_ADS_CLIENT_ID", CLIENT_ID),
            ("AMS_HUB_ADS_CLIENT_SECRET", CLIENT_SECRET),
            ("AMS_HUB_ADS_API_URL", &amazon.url),
            ("AMS_HUB_LWA_URL", &amazon.url),
            ("AMS_HUB_ADS_SYNC_SECS", "2"),
            ("AMS_HUB_ADS_PENDING_SYNC_SECS", "1"),
        ];
        let (serve, api) = serve_with_api(&db, &moto.url, &env);
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        let (key, id) = brand(&api, &amazon);
        let account = format!("/v1/tenants/vland/accounts/{id}");

        // The destination, deployed in the brand's account from ams-hub's template.
        let template = ureq::get(&format!("{}{account}/aws-template?region=us-east-1&stream=v2&format=json", api.base))
            .set("Authorization", &format!("Bearer {key}"))
            .call()
            .unwrap()
            .into_string()
            .unwrap();
        let described = deploy(&moto, BRAND, &template, "ams-hub-v2", "us-east-1");
        let outputs = stack_outputs(&described);
        let bucket = outputs["StreamDataBucketName"].clone();
        let queue_url = outputs["StreamDestinationQueueUrl"].clone();
        let brand_aws = moto.assume(BRAND).await;
        let s3 = s3(&brand_aws);

        // A bucket whose versioning is suspended is refused, and nothing is adopted. (A bucket
        // never versioned would do, but moto answers GetBucketVersioning for one in a shape
        // AWS does not use, which the SDK cannot read.)
        s3.create_bucket().bucket("brand-plain-bucket").send().await.unwrap();
        for status in [aws_sdk_s3::types::BucketVersioningStatus::Enabled, aws_sdk_s3::types::BucketVersioningStatus::Suspended] {
            let config = aws_sdk_s3::types::VersioningConfiguration::builder().status(status).build();
            s3.put_bucket_versioning().bucket("brand-plain-bucket").versioning_configuration(config).send().await.unwrap();
        }
        let plain = json!({"role_arn": outputs["RoleArn"], "queue_urls": [queue_url],
            "stream_destination_configuration": {"bucketArn": "arn:aws:s3:::brand-plain-bucket",
                "notification": {"queueArn": outputs["StreamDestinationQueueArn"]}}});
        let (status, body) = api.call("POST", &format!("{account}/aws-stack"), Some(&key), Some(&plain));
        assert_eq!((status, body["error"]["code"].as_str()), (422, Some("bucket_not_versioned")), "{body}");
        let streams = api.ok("GET", &format!("{account}/streams"), Some(&key), None, 200);
        assert_eq!(streams["v2_destinations"], json!([]));

        // The stack's outputs as describe-stacks prints them: verified and adopted.
        let adopted = api.ok("POST", &format!("{account}/aws-stack"), Some(&key), Some(&described), 200);
        assert_eq!(adopted["stream_v2"]["bucket"], bucket.as_str(), "{adopted}");
        assert_eq!(adopted["queues"], json!([]), "a v2 queue is not an AMS queue");
        api.ok("PUT", &format!("{account}/streams"), Some(&key), Some(&json!({"v2_datasets": ["ads-performance"]})), 200);

        // The Ads reconciler subscribes the brand's global account (recorded at import from
        // Amazon's account listing) to the declared dataset, delivering to the adopted bucket.
        let global = global_account_id("ENTITYV2BRAND");
        let subscribed = until(
            "the v2 subscription ACTIVE",
            60,
            || async {
                let s = api.ok("GET", &format!("{account}/streams"), Some(&key), None, 200);
                (s["v2_destinations"][0]["subscriptions"][0]["status"] == "ACTIVE").then_some(s)
            },
            || serve.log_text(),
        )
        .await;
        assert_eq!(subscribed["v2_destinations"][0]["subscriptions"][0]["dataset"], "ads-performance", "{subscribed}");
        let at_amazon = amazon.v2_subscriptions();
        assert_eq!(at_amazon.len(), 1, "{at_amazon:?}");
        assert_eq!((at_amazon[0].account.as_str(), at_amazon[0].bucket_arn.as_str()), (global.as_str(), outputs["StreamDataBucketArn"].as_str()));
        assert_eq!(at_amazon[0].queue_arn, outputs["StreamDestinationQueueArn"]);

        // A file and an S3 event naming it.
        let key_a = "ads-performance/2026/12/01/00/part 0.parquet";
        let (bytes, a) = ads_file(4_000, 11, "ADV1", Variant::Usual);
        let va = put(&s3, &bucket, key_a, bytes).await;
        send_all(&brand_aws, &queue_url, &[s3_event(&bucket, &[key_a])]).await;
        assert_eq!(wait_landed(&pool, &va, &[&serve]).await, ("loaded".to_owned(), a.rows));
        let (impressions, cost): (i64, String) = sqlx::query_as(
            "SELECT sum(impressions)::bigint, sum(cost)::text FROM tenant_vland.amzn_stream_v2_ads_performance WHERE _version_id = $1",
        )
        .bind(&va)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!((impressions, cost), (a.impressions, cost_text(a.cost_micros)));

        // The same notification again: consumed, and nothing lands twice.
        send_all(&brand_aws, &queue_url, &[s3_event(&bucket, &[key_a])]).await;
        until("the redelivered notification consumed", 60, || async { (backlog(&brand_aws, &queue_url).await == 0).then_some(()) }, || serve.log_text()).await;
        assert_eq!(table_rows(&pool).await, (a.rows, a.rows));

        // A notification in a shape nobody documented: the bucket is listed and the new file lands.
        let (bytes, b) = ads_file(2_000, 12, "ADV2", Variant::Usual);
        let vb = put(&s3, &bucket, "ads-performance/2026/12/01/01/part-0.parquet", bytes).await;
        send_all(&brand_aws, &queue_url, &[json!({"datasetId": "ads-performance", "note": "files landed"}).to_string()]).await;
        assert_eq!(wait_landed(&pool, &vb, &[&serve]).await, ("loaded".to_owned(), b.rows));

        // The first file overwritten, announced inside an SNS envelope: a new version lands and
        // the _latest view shows it in place of the old one.
        let (bytes, a2) = ads_file(300, 13, "ADV1", Variant::Usual);
        let va2 = put(&s3, &bucket, key_a, bytes).await;
        assert_ne!(va2, va);
        let envelope = json!({"Type": "Notification", "MessageId": "m-1", "Message": s3_event(&bucket, &[key_a])}).to_string();
        send_all(&brand_aws, &queue_url, &[envelope]).await;
        assert_eq!(wait_landed(&pool, &va2, &[&serve]).await, ("loaded".to_owned(), a2.rows));
        let latest: Vec<(String, i64)> = sqlx::query_as(
            "SELECT _version_id, count(*) FROM tenant_vland.amzn_stream_v2_ads_performance_latest WHERE _object_key = $1 GROUP BY 1",
        )
        .bind(key_a)
        .fetch_all(&pool)
        .await
        .unwrap();
        assert_eq!(latest, [(va2.clone(), a2.rows)]);

        // A file whose column changed type is quarantined; the file beside it lands.
        let (bytes, _) = ads_file(50, 14, "ADV3", Variant::ChangedType);
        let vd = put(&s3, &bucket, "ads-performance/2026/12/01/02/part-0.parquet", bytes).await;
        let (bytes, e) = ads_file(60, 15, "ADV3", Variant::NewColumn);
        let ve = put(&s3, &bucket, "ads-performance/2026/12/01/02/part-1.parquet", bytes).await;
        send_all(
            &brand_aws,
            &queue_url,
            &[s3_event(&bucket, &["ads-performance/2026/12/01/02/part-0.parquet", "ads-performance/2026/12/01/02/part-1.parquet"])],
        )
        .await;
        assert_eq!(wait_landed(&pool, &vd, &[&serve]).await.0, "quarantined");
        assert_eq!(wait_landed(&pool, &ve, &[&serve]).await, ("loaded".to_owned(), e.rows));

        // Two replicas on one destination: every version once.
        let (second, _) = serve_with_api(&db, &moto.url, &env);
        let mut expected = a.rows + b.rows + a2.rows + e.rows;
        let mut versions = Vec::new();
        for i in 0..6 {
            let (bytes, f) = ads_file(500 + i * 10, 20 + i as i64, "ADV4", Variant::Usual);
            expected += f.rows;
            versions.push(put(&s3, &bucket, &format!("ads-performance/2026/12/01/03/part-{i}.parquet"), bytes).await);
            send_all(&brand_aws, &queue_url, &[s3_event(&bucket, &[&format!("ads-performance/2026/12/01/03/part-{i}.parquet")]), "{}".into()]).await;
        }
        for v in &versions {
            assert_eq!(wait_landed(&pool, v, &[&serve, &second]).await.0, "loaded");
        }
        until("every notification consumed", 60, || async { (backlog(&brand_aws, &queue_url).await == 0).then_some(()) }, || serve.log_text()).await;
        assert_eq!(table_rows(&pool).await, (expected, expected), "no row twice");
        let objects: i64 = sqlx::query_scalar("SELECT count(*) FROM tenant_vland.stream_v2_objects").fetch_one(&pool).await.unwrap();
        assert_eq!(objects, 11);

        // A dataset no longer declared: its subscription is archived at Amazon, none is made twice.
        api.ok("PUT", &format!("{account}/streams"), Some(&key), Some(&json!({"v2_datasets": []})), 200);
        until(
            "the v2 subscription archived",
            60,
            || async { amazon.v2_subscriptions().iter().all(|s| s.status == "ARCHIVED").then_some(()) },
            || serve.log_text(),
        )
        .await;
        assert_eq!(amazon.v2_subscriptions().len(), 1);
        amazon.assert_contract_kept();

        let streams = api.ok("GET", &format!("{account}/streams"), Some(&key), None, 200);
        let d = &streams["v2_destinations"][0];
        assert_eq!((d["bucket"].as_str(), d["last_error"].clone()), (Some(bucket.as_str()), Value::Null), "{streams}");
        assert!(d["last_loaded_at"].is_string(), "{streams}");
        let external_id: String = sqlx::query_scalar("SELECT coalesce(external_id, '') FROM control.accounts").fetch_one(&pool).await.unwrap();
        assert!(external_id.is_empty() || !serve.log_text().contains(&external_id), "the external id reached the log");
    }
}
