//! The admin API end to end: the real `ams-hub serve` (API and runtime in one process), real
//! Postgres, moto's server over HTTP. Onboarding through the API, isolation between tenants,
//! bad input, the quarantine, and what never appears in responses or logs.

use std::time::{Duration, Instant};

use ams_model::DELTA_SPECS;
use ams_store::{LedgerBatch, LedgerWriter, Provenance, QuarantineEntry, Store, TenantSchema, TenantSlug};
use ams_tests::api::{serve_with_api, Api, ADMIN_TOKEN};
use ams_tests::aws::{self, Moto};
use ams_tests::check::{assert_exact, assert_exact_for, bodies, delta_count, wait_until};
use ams_tests::gen;
use ams_tests::TestDb;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::{json, Value};

const ADMIN: Option<&str> = Some(ADMIN_TOKEN);

/// A tenant and an `admin` API key for it, through the API.
fn tenant(api: &Api, slug: &str) -> String {
    api.ok("POST", "/v1/tenants", ADMIN, Some(&json!({"slug": slug, "name": format!("Agency {slug}")})), 201);
    let key = api.ok("POST", &format!("/v1/tenants/{slug}/api-keys"), ADMIN, Some(&json!({"name": "automation", "scope": "admin"})), 201);
    assert_eq!(key["scope"], "admin");
    key["token"].as_str().unwrap().to_owned()
}

async fn status(api: &Api, path: &str, token: &str) -> Value {
    api.ok("GET", path, Some(token), None, 200)
}

#[tokio::test]
async fn onboarding_through_the_api_then_messages_flow_and_pausing_stops_them() {
    let db = TestDb::new();
    let store = db.store().await;
    let moto = Moto::start();
    // Reconcile only when the API says so: the queue must start from the API's notification.
    // A short visibility timeout: under load moto can hand one message to two polls, and the
    // copy that was not deleted comes back only after the visibility timeout (CI saw the
    // default's 60 s outlast the drain wait; the ledger counted the redelivery once).
    let (serve, api) = serve_with_api(
        &db,
        &moto.url,
        &[
            ("AMS_HUB_RECONCILE_SECS", "3600"),
            ("AMS_HUB_LEASE_SECS", "3600"),
            ("AMS_HUB_QUEUE_ATTRIBUTES_SECS", "1"),
            ("AMS_HUB_VISIBILITY_SECS", "5"),
        ],
    );
    let token = tenant(&api, "acme");

    let role = "arn:aws:iam::111111111111:role/ams-hub-reader";
    let account = api.ok(
        "POST",
        "/v1/tenants/acme/accounts",
        Some(&token),
        Some(&json!({"name": "Brand One", "aws_role_arn": role})),
        201,
    );
    let external_id = account["external_id"].as_str().unwrap().to_owned();
    assert!(external_id.len() >= 32, "a generated external id is long and random: {external_id}");
    let account_id = account["id"].as_str().unwrap().to_owned();
    let base = format!("/v1/tenants/acme/accounts/{account_id}");
    let m = api.ok("POST", &format!("{base}/marketplaces"), Some(&token), Some(&json!({"marketplace": "US", "profile_id": "123456789"})), 201);
    assert_eq!((m["realm"].as_str(), m["region"].as_str()), (Some("NA"), Some("us-east-1")));
    assert_eq!(m["marketplace_id"], "ATVPDKIKX0DER");
    assert_eq!(m["api_endpoint"], "https://advertising-api.amazon.com");

    // The brand's queue lives in its own AWS account, readable only through the role.
    let sdk = moto.assume(role).await;
    let queue_url = aws::create_queue(&sdk, "ams-sp-traffic").await;
    let mut rng = StdRng::seed_from_u64(7);
    let records: Vec<_> = (0..60).map(|i| gen::delta(&mut rng, DELTA_SPECS[0], i % 10, format!("acme-{i}"))).collect();
    let sent = bodies(&records);
    aws::send_all(&sdk, &queue_url, &sent).await;

    let added = Instant::now();
    let q = api.ok("POST", &format!("{base}/queues"), Some(&token), Some(&json!({"queue_url": queue_url})), 201);
    assert_eq!(q["region"], "us-east-1", "the region follows from the account's marketplace");
    let schema = TenantSchema::of(&TenantSlug::parse("acme").unwrap());
    wait_until("the first commit", 30, &serve, || async { delta_count(&store, &schema).await > 0 }).await;
    let first = added.elapsed();
    assert!(first < Duration::from_secs(5), "queue added through the API consumed after {first:?}");
    wait_until("the queue to drain", 90, &serve, || async {
        aws::backlog(&sdk, &queue_url).await == 0 && delta_count(&store, &schema).await == records.len() as i64
    })
    .await;
    assert_exact(&store, &schema, &records).await;

    // Status: state, counters and the polled backlog, as the runtime saved them. SQS delivers
    // at least once (and moto's ReceiveMessage has no lock: two concurrent polls can both take
    // a message), so the counters, which count deliveries, may exceed what was sent; they are
    // settled when every delivery is committed. Exact is what the ledger holds: each record
    // inserted once, every other delivery a duplicate.
    let path = format!("{base}/status");
    // The status is the snapshot the runtime saves every second; the metrics are live. Both are
    // read until they agree, so a delivery counted between the two reads cannot fail the test.
    let committed_series = format!("ams_hub_messages_committed_total{{tenant=\"acme\",account=\"{account_id}\",queue=\"{queue_url}\"}} ");
    let s = ams_tests::wait::until(
        "the status to show every message, as the metrics do",
        30,
        || async {
            let s = status(&api, &path, &token).await;
            let q = &s["queues"][0];
            let committed = q["messages_committed"].as_i64().unwrap_or(0);
            let live = api.metrics_text().lines().find_map(|l| l.strip_prefix(&committed_series)?.trim().parse::<i64>().ok());
            let settled = committed >= sent.len() as i64
                && q["messages_received"] == q["messages_committed"]
                && q["approximate_backlog"] == json!(0)
                && live == Some(committed);
            settled.then_some(s)
        },
        || serve.log_text(),
    )
    .await;
    let qs = &s["queues"][0];
    let delivered = qs["messages_committed"].as_i64().unwrap();
    assert_eq!(qs["consumer_state"], "running", "{s}");
    assert_eq!(qs["messages_quarantined"], json!(0), "{s}");
    assert_eq!(qs["records_committed"]["sp-traffic"], json!(delivered), "one record per message: {s}");
    assert!(qs["last_receive_at"].is_string() && qs["last_error"].is_null(), "{s}");

    let metrics = api.metrics_text();
    let series =
        format!("ams_hub_messages_committed_total{{tenant=\"acme\",account=\"{account_id}\",queue=\"{queue_url}\"}} {delivered}");
    assert!(metrics.contains(&series), "{series} missing:\n{metrics}");
    // Writer series: every record new once; the 20 redeliveries (and any duplicate delivery
    // of SQS's) ignored as duplicates.
    for line in [
        format!("ams_hub_records_inserted_total{{tenant=\"acme\",dataset=\"sp-traffic\"}} {}", records.len()),
        format!("ams_hub_records_duplicate_total{{tenant=\"acme\",dataset=\"sp-traffic\"}} {}", delivered - records.len() as i64),
        format!("ams_hub_queue_approximate_messages{{tenant=\"acme\",account=\"{account_id}\",queue=\"{queue_url}\"}} 0"),
    ] {
        assert!(metrics.contains(&line), "{line} missing:\n{metrics}");
    }
    for prefix in [
        "ams_hub_batch_commit_seconds_count{tenant=\"acme\"}",
        "ams_hub_writer_batch_rows_bucket{le=\"+Inf\",tenant=\"acme\"}",
        "ams_hub_queue_oldest_received_age_seconds{tenant=\"acme\"",
        "ams_hub_messages_received_total{tenant=\"acme\"",
        "ams_hub_consumer_state{tenant=\"acme\"",
    ] {
        assert!(metrics.lines().any(|l| l.starts_with(prefix)), "{prefix} missing:\n{metrics}");
    }
    assert_eq!(api.ok("GET", "/readyz", None, None, 200)["status"], "ok");

    // Paused: the consumer stops; what arrives meanwhile waits on the queue.
    let p = api.ok("PATCH", &base, Some(&token), Some(&json!({"status": "paused"})), 200);
    assert_eq!(p["status"], "paused");
    // Absence by evidence, not by a quiet window: the runtime's own list of consumers (what
    // /metrics reports) no longer has one for the queue, so nothing can receive from it.
    wait_until("the consumer to be gone", 30, &serve, || async { !consumer_listed(&api.metrics_text(), &queue_url) }).await;
    let more: Vec<_> = (60..90).map(|i| gen::delta(&mut rng, DELTA_SPECS[0], i % 10, format!("acme-{i}"))).collect();
    aws::send_all(&sdk, &queue_url, &bodies(&more)).await;
    assert!(!consumer_listed(&api.metrics_text(), &queue_url), "a consumer came back for a paused account");
    assert_eq!(delta_count(&store, &schema).await, records.len() as i64, "a paused account was consumed");
    assert_eq!(aws::backlog(&sdk, &queue_url).await, bodies(&more).len() as i64);

    // Resumed: everything lands, exactly.
    api.ok("PATCH", &base, Some(&token), Some(&json!({"status": "active"})), 200);
    let all: Vec<_> = records.iter().chain(&more).cloned().collect();
    wait_until("the queue to drain after resuming", 60, &serve, || async {
        aws::backlog(&sdk, &queue_url).await == 0 && delta_count(&store, &schema).await == all.len() as i64
    })
    .await;
    assert_exact(&store, &schema, &all).await;

    // Secrets: the external id and the key are never shown again, nor logged.
    for path in [base.clone(), "/v1/tenants/acme/accounts".into()] {
        let body = api.ok("GET", &path, Some(&token), None, 200).to_string();
        assert!(!body.contains(&external_id), "GET {path} shows the external id");
    }
    let keys = api.ok("GET", "/v1/tenants/acme/api-keys", Some(&token), None, 200).to_string();
    assert!(!keys.contains(&token), "the key list shows a token");
    let log = serve.log_text();
    for secret in [external_id.as_str(), token.as_str(), ADMIN_TOKEN] {
        assert!(!log.contains(secret), "a secret reached the log");
    }
    // …and the external id is stored sealed only (the consumer above opened it to assume the role).
    let rows: Vec<String> = sqlx::query_scalar("SELECT t::text FROM control.accounts t").fetch_all(store.pool()).await.unwrap();
    let hex: String = external_id.bytes().map(|b| format!("{b:02x}")).collect();
    assert!(rows.iter().all(|r| !r.contains(&external_id) && !r.contains(&hex)), "the external id is stored in clear: {rows:?}");
}

/// What one tenant has: a key, an account with a marketplace and a queue, a quarantined body.
struct Owned {
    slug: String,
    token: String,
    key_id: String,
    account: String,
    queue: String,
    quarantine_id: i64,
}

async fn populate(api: &Api, store: &Store, moto: &Moto, slug: &str) -> Owned {
    let token = tenant(api, slug);
    let keys = api.ok("GET", &format!("/v1/tenants/{slug}/api-keys"), Some(&token), None, 200);
    let key_id = keys[0]["id"].as_str().unwrap().to_owned();
    let a = api.ok("POST", &format!("/v1/tenants/{slug}/accounts"), Some(&token), Some(&json!({"name": "Brand"})), 201);
    let account = a["id"].as_str().unwrap().to_owned();
    let base = format!("/v1/tenants/{slug}/accounts/{account}");
    api.ok("POST", &format!("{base}/marketplaces"), Some(&token), Some(&json!({"marketplace": "US"})), 201);
    // A role-less account's queue is read with the platform's identity: the operator allows it.
    api.ok("PATCH", &format!("/v1/tenants/{slug}"), ADMIN, Some(&json!({"allow_platform_identity": true})), 200);
    let url = aws::create_queue(&moto.platform(), &format!("{slug}-queue")).await;
    let q = api.ok("POST", &format!("{base}/queues"), Some(&token), Some(&json!({"queue_url": url})), 201);
    let schema = TenantSchema::of(&TenantSlug::parse(slug).unwrap());
    let mut batch = LedgerBatch::new();
    batch.quarantine(QuarantineEntry {
        body: format!("not json from {slug}"),
        reason_code: ams_model::QuarantineReason::NotJson,
        reason: "test".into(),
        source: url,
        message_id: None,
        provenance: Provenance::now(None),
    });
    LedgerWriter::new(store).write(&schema, &batch).await.unwrap();
    let page = api.ok("GET", &format!("/v1/tenants/{slug}/quarantine"), Some(&token), None, 200);
    Owned {
        slug: slug.into(),
        token,
        key_id,
        account,
        queue: q["id"].as_str().unwrap().to_owned(),
        quarantine_id: page["items"][0]["id"].as_i64().unwrap(),
    }
}

/// Every tenant-scoped route, aimed at `o`'s things: (method, path, body).
fn routes(o: &Owned) -> Vec<(&'static str, String, Option<Value>)> {
    let t = format!("/v1/tenants/{}", o.slug);
    let a = format!("{t}/accounts/{}", o.account);
    vec![
        ("GET", t.clone(), None),
        ("GET", format!("{t}/api-keys"), None),
        ("POST", format!("{t}/api-keys"), Some(json!({"name": "intruder"}))),
        ("DELETE", format!("{t}/api-keys/{}", o.key_id), None),
        ("GET", format!("{t}/accounts"), None),
        ("POST", format!("{t}/accounts"), Some(json!({"name": "Intruder"}))),
        ("GET", a.clone(), None),
        ("PATCH", a.clone(), Some(json!({"status": "paused"}))),
        ("GET", format!("{a}/marketplaces"), None),
        ("POST", format!("{a}/marketplaces"), Some(json!({"marketplace": "CA"}))),
        ("DELETE", format!("{a}/marketplaces/US"), None),
        ("GET", format!("{a}/queues"), None),
        ("POST", format!("{a}/queues"), Some(json!({"queue_url": "https://sqs.us-east-1.amazonaws.com/123456789012/intruder"}))),
        ("DELETE", format!("{a}/queues/{}", o.queue), None),
        ("GET", format!("{a}/status"), None),
        ("GET", format!("{t}/quarantine"), None),
        ("GET", format!("{t}/quarantine/{}/body", o.quarantine_id), None),
        ("POST", format!("{t}/quarantine/{}/replay", o.quarantine_id), None),
        ("DELETE", format!("{t}/quarantine/{}", o.quarantine_id), None),
        ("DELETE", a.clone(), None),
    ]
}

/// Everything a tenant has, as one comparable value.
async fn snapshot(store: &Store) -> String {
    let q = "SELECT json_build_array(
        (SELECT json_agg(t ORDER BY t.id) FROM control.tenants t),
        (SELECT json_agg(json_build_array(k.id, k.revoked_at) ORDER BY k.id) FROM control.api_keys k),
        (SELECT json_agg(a ORDER BY a.id) FROM control.accounts a),
        (SELECT json_agg(m ORDER BY m.id) FROM control.marketplaces m),
        (SELECT json_agg(q ORDER BY q.id) FROM control.queues q),
        (SELECT count(*) FROM tenant_alpha.quarantine), (SELECT count(*) FROM tenant_beta.quarantine))::text";
    sqlx::query_scalar(q).fetch_one(store.pool()).await.unwrap()
}

#[tokio::test]
async fn a_tenant_key_reaches_only_its_tenant_and_bad_tokens_reach_nothing() {
    let db = TestDb::new();
    let store = db.store().await;
    let moto = Moto::start();
    let (serve, api) = serve_with_api(&db, &moto.url, &[]);
    let alpha = populate(&api, &store, &moto, "alpha").await;
    let beta = populate(&api, &store, &moto, "beta").await;
    let before = snapshot(&store).await;

    for (method, path, body) in routes(&beta) {
        let (s, b) = api.call(method, &path, Some(&alpha.token), body.as_ref());
        assert_eq!((s, b["error"]["code"].as_str()), (404, Some("not_found")), "alpha's key: {method} {path}: {b}");
        for token in [None, Some("wrong-token"), Some("")] {
            let (s, b) = api.call(method, &path, token, body.as_ref());
            assert_eq!((s, b["error"]["code"].as_str()), (401, Some("unauthorized")), "{token:?}: {method} {path}: {b}");
        }
    }
    assert_eq!(snapshot(&store).await, before, "a request of another tenant changed something");

    // The same routes with the owner's key work (so the 404s above were not wrong paths).
    for (method, path, body) in routes(&beta).into_iter().filter(|(m, _, _)| *m == "GET") {
        let (s, b) = api.call(method, &path, Some(&beta.token), body.as_ref());
        assert_eq!(s, 200, "beta's own key: {method} {path}: {b}");
    }
    // Writes by the owner, last of all the account delete.
    let (s, b) = api.call("POST", &format!("/v1/tenants/beta/quarantine/{}/replay", beta.quarantine_id), Some(&beta.token), None);
    assert_eq!((s, b["error"]["code"].as_str()), (422, Some("still_unreadable")), "{b}");
    let (s, _) = api.call("DELETE", &format!("/v1/tenants/beta/accounts/{}", beta.account), Some(&beta.token), None);
    assert_eq!(s, 204);

    // Tenant management is the operator's.
    for (method, path) in [("GET", "/v1/tenants"), ("POST", "/v1/tenants")] {
        let (s, b) = api.call(method, path, Some(&alpha.token), Some(&json!({"slug": "sneaky", "name": "x"})));
        assert_eq!((s, b["error"]["code"].as_str()), (403, Some("forbidden")), "{method} {path}: {b}");
    }
    let list = api.ok("GET", "/v1/tenants", ADMIN, None, 200);
    assert_eq!(list.as_array().unwrap().len(), 2);
    // The operator reaches every tenant.
    api.ok("GET", &format!("/v1/tenants/alpha/accounts/{}", alpha.account), ADMIN, None, 200);

    // A revoked key stops working at once.
    api.ok("DELETE", &format!("/v1/tenants/alpha/api-keys/{}", alpha.key_id), Some(&alpha.token), None, 200);
    let (s, _) = api.call("GET", "/v1/tenants/alpha", Some(&alpha.token), None);
    assert_eq!(s, 401);
    drop(serve);
}

#[tokio::test]
async fn bad_input_gets_a_4xx_json_error_and_writes_nothing() {
    let db = TestDb::new();
    let store = db.store().await;
    let moto = Moto::start();
    let (serve, api) = serve_with_api(&db, &moto.url, &[]);
    let token = tenant(&api, "gamma");
    let t = Some(token.as_str());
    let a = api.ok(
        "POST",
        "/v1/tenants/gamma/accounts",
        t,
        Some(&json!({"name": "Brand DE", "aws_role_arn": "arn:aws:iam::123456789012:role/ams-reader"})),
        201,
    );
    let base = format!("/v1/tenants/gamma/accounts/{}", a["id"].as_str().unwrap());
    api.ok("POST", &format!("{base}/marketplaces"), t, Some(&json!({"marketplace": "DE"})), 201);
    let count = || async {
        let q = "SELECT (SELECT count(*) FROM control.tenants) + (SELECT count(*) FROM control.accounts)
                 + (SELECT count(*) FROM control.marketplaces) + (SELECT count(*) FROM control.queues)
                 + (SELECT count(*) FROM control.api_keys)";
        sqlx::query_scalar::<_, i64>(q).fetch_one(store.pool()).await.unwrap()
    };
    let before = count().await;

    let big = "x".repeat(70 * 1024);
    let accounts = "/v1/tenants/gamma/accounts";
    let cases: Vec<(&str, String, Option<&str>, Result<Value, (&str, Vec<u8>)>, u16)> = vec![
        ("POST", "/v1/tenants".into(), ADMIN, Ok(json!({})), 422),
        ("POST", "/v1/tenants".into(), ADMIN, Ok(json!({"slug": 7, "name": "x"})), 422),
        ("POST", "/v1/tenants".into(), ADMIN, Ok(json!({"slug": "x'; DROP TABLE control.tenants; --", "name": "x"})), 422),
        ("POST", "/v1/tenants".into(), ADMIN, Ok(json!({"slug": "Robert", "name": "x"})), 422),
        ("POST", "/v1/tenants".into(), ADMIN, Ok(json!({"slug": "ok_slug", "name": ""})), 422),
        ("POST", "/v1/tenants".into(), ADMIN, Ok(json!({"slug": "ok_slug", "name": "x", "extra": 1})), 422),
        ("POST", "/v1/tenants".into(), ADMIN, Ok(json!({"slug": "gamma", "name": "again"})), 409),
        ("POST", "/v1/tenants".into(), ADMIN, Ok(json!({"slug": "ok_slug", "name": big})), 413),
        ("POST", "/v1/tenants".into(), ADMIN, Err(("application/json", b"{\"slug\": ".to_vec())), 400),
        ("POST", "/v1/tenants".into(), ADMIN, Err(("text/plain", b"slug=x".to_vec())), 415),
        ("POST", "/v1/tenants".into(), ADMIN, Err(("application/json", vec![0xff, 0xfe, 0x00])), 400),
        ("POST", "/v1/tenants/gamma/api-keys".into(), t, Ok(json!({"name": ["list"]})), 422),
        ("POST", accounts.into(), t, Ok(json!({"name": 5})), 422),
        ("POST", accounts.into(), t, Ok(json!({"name": "x", "aws_role_arn": "not-an-arn"})), 422),
        ("POST", accounts.into(), t, Ok(json!({"name": "x", "aws_role_arn": "arn:aws:iam::123:role/x"})), 422),
        ("POST", accounts.into(), t, Ok(json!({"name": "x", "external_id": "has spaces"})), 422),
        ("POST", accounts.into(), t, Ok(json!({"name": "y".repeat(201)})), 422),
        ("POST", accounts.into(), t, Ok(json!({"name": "Brand DE"})), 409),
        ("PATCH", base.clone(), t, Ok(json!({"status": "deleted"})), 422),
        ("PATCH", base.clone(), t, Ok(json!({})), 422),
        ("POST", format!("{base}/marketplaces"), t, Ok(json!({"marketplace": "XX"})), 422),
        ("POST", format!("{base}/marketplaces"), t, Ok(json!({"marketplace": "us"})), 422),
        ("POST", format!("{base}/marketplaces"), t, Ok(json!({"marketplace": "FR", "profile_id": "abc"})), 422),
        ("POST", format!("{base}/marketplaces"), t, Ok(json!({"marketplace": "DE"})), 409),
        ("POST", format!("{base}/queues"), t, Ok(json!({"queue_url": "https://sqs.eu-west-1.amazonaws.com/123456789012/ams.fifo"})), 422),
        ("POST", format!("{base}/queues"), t, Ok(json!({"queue_url": "not a url"})), 422),
        ("POST", format!("{base}/queues"), t, Ok(json!({"queue_url": "https://sqs.us-east-1.amazonaws.com/123456789012/ams"})), 422),
        ("POST", format!("{base}/queues"), t, Ok(json!({"queue_url": "http://169.254.169.254/123456789012/q"})), 422),
        ("POST", format!("{base}/queues"), t, Ok(json!({"queue_url": 42})), 422),
        ("GET", "/v1/tenants/gamma/quarantine?limit=0".into(), t, Ok(Value::Null), 400),
        ("GET", "/v1/tenants/gamma/quarantine?limit=abc".into(), t, Ok(Value::Null), 400),
        ("GET", "/v1/tenants/gamma/quarantine?after=-1".into(), t, Ok(Value::Null), 400),
        ("GET", format!("{accounts}/not-a-uuid"), t, Ok(Value::Null), 404),
        ("POST", "/v1/tenants/gamma/quarantine/abc/replay".into(), t, Ok(Value::Null), 404),
        ("GET", "/v1/tenants/NOT_A_SLUG".into(), t, Ok(Value::Null), 404),
        ("GET", "/v1/nothing-here".into(), t, Ok(Value::Null), 404),
        ("PUT", "/v1/tenants".into(), ADMIN, Ok(Value::Null), 404),
    ];
    for (method, path, token, body, expected) in cases {
        let (s, b) = match body {
            Ok(Value::Null) => api.call(method, &path, token, None),
            Ok(v) => api.call(method, &path, token, Some(&v)),
            Err((ct, bytes)) => api.raw(method, &path, token, Some((ct, bytes))),
        };
        assert_eq!(s, expected, "{method} {path}: {b}");
        assert!(b["error"]["code"].is_string() && b["error"]["message"].is_string(), "{method} {path}: not a JSON error: {b}");
    }
    let (_, b) =
        api.call("POST", &format!("{base}/queues"), t, Some(&json!({"queue_url": "https://sqs.us-east-1.amazonaws.com/123456789012/q.fifo"})));
    assert!(b["error"]["message"].as_str().unwrap().contains("standard SQS queues"), "{b}");
    let (_, b) =
        api.call("POST", &format!("{base}/queues"), t, Some(&json!({"queue_url": "https://sqs.us-east-1.amazonaws.com/123456789012/q"})));
    assert!(b["error"]["message"].as_str().unwrap().contains("eu-west-1"), "a DE account's queue must be in eu-west-1: {b}");
    assert_eq!(count().await, before, "a refused request wrote something");
    // The right queue for a DE account is accepted.
    api.ok("POST", &format!("{base}/queues"), t, Some(&json!({"queue_url": "https://sqs.eu-west-1.amazonaws.com/123456789012/ams"})), 201);
    assert!(!serve.log_text().contains("panicked"), "the server panicked");
}

#[tokio::test]
async fn quarantine_is_listed_in_pages_replayed_after_a_fix_and_discarded() {
    let db = TestDb::new();
    let store = db.store().await;
    let moto = Moto::start();
    let (_serve, api) = serve_with_api(&db, &moto.url, &[]);
    let token = tenant(&api, "delta");
    let t = Some(token.as_str());
    let schema = TenantSchema::of(&TenantSlug::parse("delta").unwrap());
    // A body an older decoder refused (here: put there directly) and one that stays unreadable.
    let good = gen::envelope(&gen::delta(&mut StdRng::seed_from_u64(1), DELTA_SPECS[0], 0, "replayed-1".into()).json);
    // And a 250 KiB body (non-ASCII, so a character cut is not a byte cut).
    let huge = format!("{}{}", "é".repeat(1000), "x".repeat(250 * 1024));
    let mut batch = LedgerBatch::new();
    use ams_model::QuarantineReason as R;
    for (body, code) in [(good.as_str(), R::UnknownDataset), ("{\"truncated\": ", R::NotJson), (huge.as_str(), R::NotJson)] {
        batch.quarantine(QuarantineEntry {
            body: body.into(),
            reason_code: code,
            reason: "test".into(),
            source: "file".into(),
            message_id: None,
            provenance: Provenance::now(None),
        });
    }
    LedgerWriter::new(&store).write(&schema, &batch).await.unwrap();

    let page = api.ok("GET", "/v1/tenants/delta/quarantine?limit=1", t, None, 200);
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let first = page["items"][0]["id"].as_i64().unwrap();
    assert_eq!(page["next_after"], json!(first));
    assert_eq!(page["items"][0]["body"], json!(good), "the body is kept verbatim");
    assert_eq!((page["items"][0]["body_truncated"].as_bool(), page["items"][0]["body_bytes"].as_u64()), (Some(false), Some(good.len() as u64)));
    let page2 = api.ok("GET", &format!("/v1/tenants/delta/quarantine?limit=1&after={first}"), t, None, 200);
    let second = page2["items"][0]["id"].as_i64().unwrap();
    // A page shows the start of a big body and its size; the body route gives all of it.
    let big = api.ok("GET", &format!("/v1/tenants/delta/quarantine?after={second}"), t, None, 200);
    let entry = &big["items"][0];
    let third = entry["id"].as_i64().unwrap();
    assert_eq!(entry["body"].as_str().unwrap(), huge.chars().take(1024).collect::<String>());
    assert_eq!((entry["body_truncated"].as_bool(), entry["body_bytes"].as_u64()), (Some(true), Some(huge.len() as u64)));
    let whole = ureq::get(&format!("{}/v1/tenants/delta/quarantine/{third}/body", api.base))
        .set("Authorization", &format!("Bearer {token}"))
        .call()
        .unwrap();
    assert!(whole.content_type().starts_with("text/plain"));
    assert_eq!(whole.into_string().unwrap(), huge);
    let last = api.ok("GET", &format!("/v1/tenants/delta/quarantine?after={third}"), t, None, 200);
    assert_eq!((last["items"].as_array().unwrap().len(), &last["next_after"]), (0, &Value::Null));

    let (s, b) = api.call("POST", &format!("/v1/tenants/delta/quarantine/{second}/replay"), t, None);
    assert_eq!((s, b["error"]["code"].as_str()), (422, Some("still_unreadable")), "{b}");
    let r = api.ok("POST", &format!("/v1/tenants/delta/quarantine/{first}/replay"), t, None, 200);
    assert_eq!((r["records"].as_u64(), r["inserted"].as_u64()), (Some(1), Some(1)), "{r}");
    assert_eq!(delta_count(&store, &schema).await, 1, "the replayed record is in the ledger");
    let (s, _) = api.call("POST", &format!("/v1/tenants/delta/quarantine/{first}/replay"), t, None);
    assert_eq!(s, 404, "a replayed entry is gone");

    api.ok("DELETE", &format!("/v1/tenants/delta/quarantine/{second}"), t, None, 204);
    api.ok("DELETE", &format!("/v1/tenants/delta/quarantine/{third}"), t, None, 204);
    let (s, _) = api.call("GET", &format!("/v1/tenants/delta/quarantine/{third}/body"), t, None);
    assert_eq!(s, 404);
    let empty = api.ok("GET", "/v1/tenants/delta/quarantine", t, None, 200);
    assert_eq!(empty["items"], json!([]));
}

#[tokio::test]
async fn without_an_operator_token_tenant_management_is_disabled_and_says_so() {
    let db = TestDb::new();
    let moto = Moto::start();
    let (serve, api) = serve_with_api(&db, &moto.url, &[("AMS_HUB_ADMIN_TOKEN", "")]);
    let (s, b) = api.call("POST", "/v1/tenants", ADMIN, Some(&json!({"slug": "nobody", "name": "x"})));
    assert_eq!((s, b["error"]["code"].as_str()), (401, Some("unauthorized")), "{b}");
    assert!(serve.log_text().contains("tenant management through the API is disabled"));
}

/// The holes a hostile tenant would try: another spelling of a queue someone holds, a queue
/// read through the platform's identity, an external id of its choosing, a `write` or `read`
/// key minting keys; and what the operator's switches do: platform identity per tenant,
/// disabling a tenant (its keys get 403 and its consumers stop), re-enabling it.
#[tokio::test]
async fn hostile_tenants_cannot_take_queues_identities_or_keys() {
    let db = TestDb::new();
    let store = db.store().await;
    let moto = Moto::start();
    let (serve, api) = serve_with_api(&db, &moto.url, &[]);
    let alpha = tenant(&api, "alpha");
    let beta = tenant(&api, "beta");
    let role = |n: u8| format!("arn:aws:iam::{}:role/ams-reader", format!("{n}").repeat(12));
    let account = |token: &str, slug: &str, body: Value| -> String {
        let a = api.ok("POST", &format!("/v1/tenants/{slug}/accounts"), Some(token), Some(&body), 201);
        let id = a["id"].as_str().unwrap().to_owned();
        api.ok("POST", &format!("/v1/tenants/{slug}/accounts/{id}/marketplaces"), Some(token), Some(&json!({"marketplace": "US"})), 201);
        format!("/v1/tenants/{slug}/accounts/{id}")
    };
    let a1 = account(&alpha, "alpha", json!({"name": "A1", "aws_role_arn": role(1)}));
    let b1 = account(&beta, "beta", json!({"name": "B1", "aws_role_arn": role(2)}));

    // One queue, one owner, however its URL is spelled; the 409 names no tenant.
    let q = api.ok("POST", &format!("{a1}/queues"), Some(&alpha), Some(&json!({"queue_url": "https://sqs.us-east-1.amazonaws.com/111111111111/ams-stream"})), 201);
    assert_eq!(q["queue_url"], "https://sqs.us-east-1.amazonaws.com/111111111111/ams-stream");
    for spelling in [
        "https://us-east-1.queue.amazonaws.com/111111111111/ams-stream",
        "https://queue.amazonaws.com/111111111111/ams-stream",
        "https://SQS.US-EAST-1.AMAZONAWS.COM/111111111111/ams-stream",
        "https://sqs.us-east-1.amazonaws.com/111111111111/ams-stream/",
    ] {
        let (s, b) = api.call("POST", &format!("{b1}/queues"), Some(&beta), Some(&json!({"queue_url": spelling})));
        assert_eq!((s, b["error"]["code"].as_str()), (409, Some("conflict")), "{spelling}: {b}");
        assert!(!b.to_string().contains("alpha"), "the conflict names the holder: {b}");
        let (s, _) = api.call("POST", &format!("{a1}/queues"), Some(&alpha), Some(&json!({"queue_url": spelling})));
        assert_eq!(s, 409, "{spelling}: the owner registering it again");
    }

    // A role-less account waits for its role: no queue through the platform's identity.
    let waiting = account(&beta, "beta", json!({"name": "B2"}));
    let own_queue = json!({"queue_url": "https://sqs.us-east-1.amazonaws.com/222222222222/beta-b2"});
    let (s, b) = api.call("POST", &format!("{waiting}/queues"), Some(&beta), Some(&own_queue));
    assert_eq!((s, b["error"]["code"].as_str()), (422, Some("role_required")), "{b}");
    assert!(b["error"]["message"].as_str().unwrap().contains("aws_role_arn"), "{b}");
    let (s, _) = api.call("POST", &format!("{waiting}/queues"), ADMIN, Some(&own_queue));
    assert_eq!(s, 422, "not even the operator registers it before the tenant is allowed the platform identity");
    // Tenants cannot allow themselves; the operator can.
    for body in [json!({"allow_platform_identity": true}), json!({"status": "active"})] {
        let (s, b) = api.call("PATCH", "/v1/tenants/beta", Some(&beta), Some(&body));
        assert_eq!((s, b["error"]["code"].as_str()), (403, Some("forbidden")), "{b}");
    }
    // Once the role is set, the queue registers.
    let patched = api.ok("PATCH", &waiting, Some(&beta), Some(&json!({"aws_role_arn": role(2)})), 200);
    assert_eq!(patched["aws_role_arn"], json!(role(2)));
    api.ok("POST", &format!("{waiting}/queues"), Some(&beta), Some(&own_queue), 201);
    // With the operator's allowance, a role-less account's queue registers too.
    let t = api.ok("PATCH", "/v1/tenants/alpha", ADMIN, Some(&json!({"allow_platform_identity": true})), 200);
    assert_eq!(t["allow_platform_identity"], true);
    let a2 = account(&alpha, "alpha", json!({"name": "A2"}));
    api.ok("POST", &format!("{a2}/queues"), Some(&alpha), Some(&json!({"queue_url": "https://sqs.us-east-1.amazonaws.com/111111111111/a2"})), 201);

    // External ids are ams-hub's: a tenant key cannot choose one; the operator can.
    let chosen = "victims-trusted-external-id";
    let (s, b) = api.call("POST", "/v1/tenants/beta/accounts", Some(&beta), Some(&json!({"name": "B3", "aws_role_arn": role(3), "external_id": chosen})));
    assert_eq!((s, b["error"]["code"].as_str()), (422, Some("invalid_request")), "{b}");
    assert!(!b.to_string().contains(chosen), "the error echoes the external id: {b}");
    let (s, _) = api.call("PATCH", &b1, Some(&beta), Some(&json!({"external_id": chosen})));
    assert_eq!(s, 422);
    let adopted = api.ok("POST", "/v1/tenants/beta/accounts", ADMIN, Some(&json!({"name": "B3", "external_id": chosen})), 201);
    assert_eq!(adopted["external_id"], chosen);
    api.ok("PATCH", &b1, ADMIN, Some(&json!({"external_id": "operator-adopted-id-2"})), 200);

    // Keys: only an admin key (or the operator) mints or revokes; a read key only reads.
    let write = api.ok("POST", "/v1/tenants/beta/api-keys", Some(&beta), Some(&json!({"name": "ci"})), 201);
    assert_eq!(write["scope"], "write");
    let write_token = write["token"].as_str().unwrap();
    let read = api.ok("POST", "/v1/tenants/beta/api-keys", ADMIN, Some(&json!({"name": "bi", "scope": "read"})), 201);
    let read_token = read["token"].as_str().unwrap();
    let write_id = write["id"].as_str().unwrap();
    for (token, code) in [(write_token, "forbidden"), (read_token, "read_only")] {
        for scope in ["read", "write", "admin"] {
            let (s, b) = api.call("POST", "/v1/tenants/beta/api-keys", Some(token), Some(&json!({"name": "minted", "scope": scope})));
            assert_eq!((s, b["error"]["code"].as_str()), (403, Some(code)), "{scope}: {b}");
        }
        let (s, b) = api.call("DELETE", &format!("/v1/tenants/beta/api-keys/{write_id}"), Some(token), None);
        assert_eq!((s, b["error"]["code"].as_str()), (403, Some(code)), "{b}");
    }
    let keys = api.ok("GET", "/v1/tenants/beta/api-keys", Some(read_token), None, 200);
    assert_eq!(keys.as_array().unwrap().len(), 3, "nothing was minted: {keys}");
    api.ok("GET", &b1, Some(read_token), None, 200);
    api.ok("GET", &format!("{b1}/status"), Some(read_token), None, 200);
    for (method, path, body) in [
        ("POST", "/v1/tenants/beta/accounts".to_owned(), Some(json!({"name": "R"}))),
        ("PATCH", b1.clone(), Some(json!({"status": "paused"}))),
        ("DELETE", b1.clone(), None),
        ("POST", format!("{b1}/queues"), Some(json!({"queue_url": "https://sqs.us-east-1.amazonaws.com/222222222222/r"}))),
    ] {
        let (s, b) = api.call(method, &path, Some(read_token), body.as_ref());
        assert_eq!((s, b["error"]["code"].as_str()), (403, Some("read_only")), "{method} {path}: {b}");
    }
    // A write key does the tenant's work.
    api.ok("PATCH", &b1, Some(write_token), Some(&json!({"status": "active"})), 200);

    // Disabled: every key of the tenant gets 403 tenant_disabled, on every route.
    let t = api.ok("PATCH", "/v1/tenants/beta", ADMIN, Some(&json!({"status": "disabled"})), 200);
    assert_eq!(t["status"], "disabled");
    for token in [beta.as_str(), write_token, read_token] {
        for (method, path) in [("GET", "/v1/tenants/beta".to_owned()), ("GET", b1.clone()), ("POST", "/v1/tenants/beta/api-keys".into()), ("GET", "/v1/tenants/alpha".into())] {
            let (s, b) = api.call(method, &path, Some(token), Some(&json!({"name": "x"})));
            assert_eq!((s, b["error"]["code"].as_str()), (403, Some("tenant_disabled")), "{method} {path}: {b}");
        }
    }
    // Other tenants are untouched; the operator still reaches it, and re-enables it.
    api.ok("GET", &a1, Some(&alpha), None, 200);
    api.ok("GET", &b1, ADMIN, None, 200);
    api.ok("PATCH", "/v1/tenants/beta", ADMIN, Some(&json!({"status": "active"})), 200);
    api.ok("GET", &b1, Some(read_token), None, 200);
    let (s, _) = api.call("PATCH", "/v1/tenants/beta", ADMIN, Some(&json!({})));
    assert_eq!(s, 422, "nothing to change");
    assert!(!serve.log_text().contains(chosen), "an external id reached the log");
    drop(store);
}

/// A disabled tenant's consumers stop (what arrives waits on its queue) and resume when it is
/// enabled again; the status shows a tenant only its own account's identifiers in errors.
#[tokio::test]
async fn a_disabled_tenant_is_not_consumed_and_errors_show_only_its_own_identifiers() {
    let db = TestDb::new();
    let store = db.store().await;
    let moto = Moto::start();
    let (serve, api) = serve_with_api(&db, &moto.url, &[]);
    let token = tenant(&api, "omega");
    let t = Some(token.as_str());
    let role = "arn:aws:iam::444444444444:role/omega-reader";
    let a = api.ok("POST", "/v1/tenants/omega/accounts", t, Some(&json!({"name": "Brand", "aws_role_arn": role})), 201);
    let base = format!("/v1/tenants/omega/accounts/{}", a["id"].as_str().unwrap());
    api.ok("POST", &format!("{base}/marketplaces"), t, Some(&json!({"marketplace": "US"})), 201);
    let sdk = moto.assume(role).await;
    let queue_url = aws::create_queue(&sdk, "omega-stream").await;
    api.ok("POST", &format!("{base}/queues"), t, Some(&json!({"queue_url": queue_url})), 201);
    let schema = TenantSchema::of(&TenantSlug::parse("omega").unwrap());
    let mut rng = StdRng::seed_from_u64(31);
    let first: Vec<_> = (0..20).map(|i| gen::delta(&mut rng, DELTA_SPECS[0], i % 5, format!("omega-{i}"))).collect();
    aws::send_all(&sdk, &queue_url, &bodies(&first)).await;
    wait_until("the first traffic", 60, &serve, || async { delta_count(&store, &schema).await == first.len() as i64 }).await;

    api.ok("PATCH", "/v1/tenants/omega", ADMIN, Some(&json!({"status": "disabled"})), 200);
    wait_until("the consumer to be gone", 30, &serve, || async { !consumer_listed(&api.metrics_text(), &queue_url) }).await;
    let more: Vec<_> = (20..40).map(|i| gen::delta(&mut rng, DELTA_SPECS[0], i % 5, format!("omega-{i}"))).collect();
    aws::send_all(&sdk, &queue_url, &bodies(&more)).await;
    assert!(!consumer_listed(&api.metrics_text(), &queue_url), "a consumer came back for a disabled tenant");
    assert_eq!(aws::backlog(&sdk, &queue_url).await, bodies(&more).len() as i64, "nothing received from a disabled tenant's queue");
    assert_eq!(delta_count(&store, &schema).await, first.len() as i64, "a disabled tenant was consumed");

    api.ok("PATCH", "/v1/tenants/omega", ADMIN, Some(&json!({"status": "active"})), 200);
    let all: Vec<_> = first.iter().chain(&more).cloned().collect();
    wait_until("the traffic sent while disabled", 60, &serve, || async { delta_count(&store, &schema).await == all.len() as i64 }).await;
    assert_exact(&store, &schema, &all).await;

    // A platform-side error as the runtime would save it, on a queue no consumer runs for
    // (the account paused, its consumer gone from the runtime, so nothing overwrites it).
    api.ok("PATCH", &base, t, Some(&json!({"status": "paused"})), 200);
    wait_until("the consumer to be gone", 30, &serve, || async {
        !api.metrics_text().lines().any(|l| l.starts_with("ams_hub_consumer_state") && l.contains(&queue_url))
    })
    .await;
    let platform = "arn:aws:sts::999999999999:assumed-role/ams-hub-platform/i-0123";
    let error = format!("AccessDenied: User: {platform} is not authorized to perform: sts:AssumeRole on resource: {role}");
    sqlx::query("UPDATE control.consumer_states SET last_error = $1").bind(&error).execute(store.pool()).await.unwrap();
    let as_operator = api.ok("GET", &format!("{base}/status"), ADMIN, None, 200);
    assert_eq!(as_operator["queues"][0]["last_error"], json!(error));
    let as_tenant = api.ok("GET", &format!("{base}/status"), t, None, 200);
    let shown = as_tenant["queues"][0]["last_error"].as_str().unwrap();
    assert!(!shown.contains("999999999999") && !shown.contains("ams-hub-platform"), "{shown}");
    assert!(shown.contains(role), "the tenant's own role stays: {shown}");
}

/// `/metrics` (which names every tenant, account and queue) is served on its own listener,
/// never on the API port; a flood of made-up tokens from one address is cut off with 429
/// before it reaches the database, while the operator token keeps working.
#[tokio::test]
async fn metrics_have_their_own_port_and_failed_authentication_is_limited() {
    let db = TestDb::new();
    let moto = Moto::start();
    let (serve, api) = serve_with_api(&db, &moto.url, &[("AMS_HUB_AUTH_FAILURES_PER_MINUTE", "5")]);
    let token = tenant(&api, "sigma");
    let (s, b) = api.call("GET", "/metrics", Some(&token), None);
    assert_eq!((s, b["error"]["code"].as_str()), (404, Some("not_found")), "the API port serves metrics: {b}");
    let (s, _) = api.call("GET", "/metrics", ADMIN, None);
    assert_eq!(s, 404);
    assert!(api.metrics_text().contains("ams_hub_up"), "the metrics port serves them");
    let (s, _) = api.raw("GET", "/v1/tenants", None, None);
    assert_eq!(s, 401);

    // Five failures are allowed (a burst); the sixth address's attempt is refused unlooked.
    for i in 0..5 {
        let (s, b) = api.call("GET", "/v1/tenants/sigma", Some(&format!("made-up-token-{i}")), None);
        assert_eq!((s, b["error"]["code"].as_str()), (401, Some("unauthorized")), "attempt {i}: {b}");
    }
    api.ok("GET", "/v1/tenants/sigma", Some(&token), None, 200);
    let (s, _) = api.call("GET", "/v1/tenants/sigma", Some("made-up-token-5"), None);
    assert_eq!(s, 401, "the failure that exhausts the quota is still answered");
    let response = ureq::get(&format!("{}/v1/tenants/sigma", api.base)).set("Authorization", "Bearer made-up-token-6").call();
    let Err(ureq::Error::Status(429, r)) = response else { panic!("expected 429: {response:?}") };
    let retry: u64 = r.header("Retry-After").expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let body: Value = r.into_json().unwrap();
    assert_eq!(body["error"]["code"], "too_many_requests");
    // While blocked, a token not known to be valid is refused unlooked; a key that authenticated
    // lately still works (a flood never locks a valid key out); the operator still works.
    let fresh = api.ok("POST", "/v1/tenants/sigma/api-keys", ADMIN, Some(&json!({"name": "fresh"})), 201)["token"].as_str().unwrap().to_owned();
    let (s, _) = api.call("GET", "/v1/tenants/sigma", Some(&fresh), None);
    assert_eq!(s, 429, "an unseen token from a blocked address is not looked up");
    api.ok("GET", "/v1/tenants/sigma", Some(&token), None, 200);
    api.ok("GET", "/v1/tenants", ADMIN, None, 200);
    assert!(serve.log_text().contains("too many failed authentications"));
}

/// Behind a proxy (`AMS_HUB_TRUSTED_PROXIES`), the limit counts the client named in
/// `X-Forwarded-For`: one client's flood blocks that client only, never another's valid key.
#[tokio::test]
async fn behind_a_trusted_proxy_a_flood_blocks_only_its_own_client() {
    let db = TestDb::new();
    let moto = Moto::start();
    let (_serve, api) = serve_with_api(&db, &moto.url, &[("AMS_HUB_AUTH_FAILURES_PER_MINUTE", "3"), ("AMS_HUB_TRUSTED_PROXIES", "127.0.0.0/8, ::1")]);
    let token = tenant(&api, "proxied");
    let get = |key: &str, client: &str| {
        match ureq::get(&format!("{}/v1/tenants/proxied", api.base)).set("Authorization", &format!("Bearer {key}")).set("X-Forwarded-For", client).call() {
            Ok(r) => r.status(),
            Err(ureq::Error::Status(s, _)) => s,
            Err(e) => panic!("{e}"),
        }
    };
    for i in 0..10 {
        get(&format!("made-up-{i}"), "203.0.113.9");
    }
    assert_eq!(get("made-up-again", "203.0.113.9"), 429, "the flooding client is blocked");
    // A key never used before, from another client behind the same proxy.
    assert_eq!(get(&token, "198.51.100.7"), 200, "another client's valid key goes through");
    // A client cannot pick another's address by writing the header itself: what is left of the
    // proxy's own entry is not believed.
    assert_eq!(get("made-up-spoof", "198.51.100.7, 203.0.113.9"), 429);
}

/// A tenant schema as an older ams-hub (tenant schema v1, 13 datasets) left it: made again
/// with the first tenant migration only.
async fn downgrade_to_v1(store: &Store, schema: &TenantSchema) {
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE")).execute(store.pool()).await.unwrap();
    assert_eq!(ams_store::tenant::migrate_schema_to(store.pool(), schema, 1).await.unwrap(), 1);
}

#[tokio::test]
async fn an_adsp_body_quarantined_by_an_older_schema_lands_on_replay_after_the_upgrade() {
    let db = TestDb::new();
    let store = db.store().await;
    let schema = ams_tests::tenant(&store, "legacy").await;
    downgrade_to_v1(&store, &schema).await;
    // What the older build did with an adsp-traffic message: `unknown_dataset`.
    let spec = ams_model::DatasetId::AdspTraffic.delta_spec().unwrap();
    let record = gen::delta(&mut StdRng::seed_from_u64(3), spec, 0, "dsp-before-upgrade".into());
    let mut batch = LedgerBatch::new();
    batch.quarantine(QuarantineEntry {
        body: gen::envelope(&record.json),
        reason_code: ams_model::QuarantineReason::UnknownDataset,
        reason: "unknown dataset \"adsp-traffic\"".into(),
        source: "https://sqs.us-east-1.amazonaws.com/123456789012/ams".into(),
        message_id: Some("m-1".into()),
        provenance: Provenance::now(None),
    });
    LedgerWriter::new(&store).write(&schema, &batch).await.unwrap();
    let exists = |t: String| {
        let store = store.clone();
        async move {
            sqlx::query_scalar::<_, bool>("SELECT to_regclass($1) IS NOT NULL").bind(t).fetch_one(store.pool()).await.unwrap()
        }
    };
    assert!(!exists(format!("{schema}.amzn_stream_adsp_traffic_hourly")).await);

    // The upgrade: starting the new build migrates every tenant schema in place.
    let moto = Moto::start();
    let (_serve, api) = serve_with_api(&db, &moto.url, &[]);
    assert!(exists(format!("{schema}.amzn_stream_adsp_traffic_hourly")).await);
    let version: i32 = sqlx::query_scalar(&format!("SELECT max(version) FROM {schema}.schema_migrations"))
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(version, migration::tenant::latest_version());
    let key = api.ok("POST", "/v1/tenants/legacy/api-keys", ADMIN, Some(&json!({"name": "ops", "scope": "write"})), 201);
    let t = key["token"].as_str();
    let page = api.ok("GET", "/v1/tenants/legacy/quarantine", t, None, 200);
    assert_eq!(page["items"][0]["reason_code"], "unknown_dataset");
    let id = page["items"][0]["id"].as_i64().unwrap();
    let r = api.ok("POST", &format!("/v1/tenants/legacy/quarantine/{id}/replay"), t, None, 200);
    assert_eq!((r["records"].as_u64(), r["inserted"].as_u64()), (Some(1), Some(1)), "{r}");
    assert_exact_for(&store, &schema, &[record], spec).await;
    let empty = api.ok("GET", "/v1/tenants/legacy/quarantine", t, None, 200);
    assert_eq!(empty["items"], json!([]));
}

/// Whether the runtime lists a live consumer for `queue_url` (its `ams_hub_consumer_state`
/// series, in any state but `stopped`).
fn consumer_listed(metrics: &str, queue_url: &str) -> bool {
    // A stopped consumer stays listed as `stopped` until the next reconcile drops it.
    metrics.lines().any(|l| {
        l.starts_with("ams_hub_consumer_state{") && l.contains(&format!("queue=\"{queue_url}\"")) && !l.contains("state=\"stopped\"")
    })
}
