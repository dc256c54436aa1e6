//! Alerts end to end: the real `ams-hub serve`, a budget notification on a brand's SQS queue
//! (moto), an alert rule and a webhook made through the API, and a receiver on loopback (the
//! only host the test lets webhooks reach over http). The alert arrives signed so that
//! Standard Webhooks' own library verifies it, once, within seconds; failed attempts are
//! retried; a pending delivery survives kill -9; a replay keeps the message id; a silent
//! stream alerts. Traffic goes to loopback only.

use std::time::SystemTime;

use ams_store::TenantSlug;
use ams_tests::api::{serve_with_api, ADMIN_TOKEN};
use ams_tests::aws::{self, Moto};
use ams_tests::receiver::{Received, Receiver};
use ams_tests::wait::until_blocking;
use ams_tests::TestDb;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

fn usage(percent: f64, minute: i64) -> String {
    let at = Utc::now().date_naive().and_hms_opt(12, 0, 0).unwrap().and_utc() - chrono::Duration::days(1) + chrono::Duration::minutes(minute);
    json!({
        "advertiser_id": "A3EXAMPLESELLER1", "marketplace_id": "ATVPDKIKX0DER", "dataset_id": "budget-usage",
        "budget_scope_id": "283947561029384", "budget_scope_type": "CAMPAIGN", "advertising_product_type": "sp",
        "budget": 50.0, "budget_usage_percentage": percent, "usage_updated_timestamp": at.to_rfc3339(),
    })
    .to_string()
}

fn of_type<'a>(got: &'a [Received], kind: &str) -> Vec<&'a Received> {
    got.iter().filter(|r| serde_json::from_str::<Value>(&r.body).is_ok_and(|b| b["type"] == kind)).collect()
}

#[tokio::test]
async fn a_budget_crossing_reaches_the_webhook_signed_once_within_seconds_and_nothing_is_lost() {
    let db = TestDb::new();
    let store = db.store().await;
    let moto = Moto::start();
    let receiver = Receiver::start();
    let slug = TenantSlug::parse("hooked").unwrap();
    let tenant = store.provision_tenant(&slug, "hooked").await.unwrap();
    store.update_tenant(&slug, None, Some(true), None).await.unwrap();
    let sdk = moto.platform();
    let queue = aws::create_queue(&sdk, "ams-budget-usage").await;
    let account = store.create_account(tenant.id, "Brand", None, "ext-id-hooked-1").await.unwrap();
    store.add_queue(account.id, &queue, "us-east-1").await.unwrap();
    let env = [("AMS_HUB_WEBHOOK_ALLOW_HTTP_HOSTS", "localhost"), ("AMS_HUB_ALERTS_SECS", "1")];
    let (mut serve, api) = serve_with_api(&db, &moto.url, &env);
    let tok = Some(ADMIN_TOKEN);

    // URLs the rule refuses never get stored.
    for bad in ["http://127.0.0.1:9/x", "https://169.254.169.254/latest", "http://hooks.example.com/", "https://[::1]/x", "https://10.0.0.7/"] {
        let (status, body) = api.call("POST", "/v1/tenants/hooked/webhooks", tok, Some(&json!({"url": bad})));
        assert_eq!(status, 422, "{bad}: {body}");
    }
    let (status, body) = api.call("POST", "/v1/tenants/hooked/webhooks", tok, Some(&json!({"url": "https://hooks.example.com/", "events": ["alert.nope"]})));
    assert_eq!(status, 422, "{body}");
    let url = format!("http://localhost:{}/ams", receiver.port);
    let made = api.ok("POST", "/v1/tenants/hooked/webhooks", tok, Some(&json!({"url": url, "description": "ops"})), 201);
    let (secret, hook) = (made["secret"].as_str().unwrap().to_owned(), made["id"].as_str().unwrap().to_owned());
    assert!(secret.starts_with("whsec_"));
    let listed = api.ok("GET", "/v1/tenants/hooked/webhooks", tok, None, 200);
    assert_eq!(listed[0]["events"].as_array().unwrap().len(), 4);
    assert!(!listed.to_string().contains(&secret), "the secret is shown once");
    let (status, body) = api.call("POST", "/v1/tenants/hooked/alert-rules", tok, Some(&json!({"name": "x", "kind": "budget_usage"})));
    assert_eq!(status, 422, "a budget rule needs its threshold: {body}");
    api.ok("POST", "/v1/tenants/hooked/alert-rules", tok, Some(&json!({"name": "90% used", "kind": "budget_usage", "threshold": 90})), 201);

    // Below the line: committed, and nothing raised.
    aws::send_all(&sdk, &queue, &[usage(60.0, 0)]).await;
    let current = |percent: &'static str| {
        let store = store.clone();
        async move {
            let got: Option<String> = sqlx::query_scalar("SELECT budget_usage_percentage::text FROM tenant_hooked.amzn_stream_budget_usage_current")
                .fetch_optional(store.pool())
                .await
                .unwrap();
            got.as_deref() == Some(percent)
        }
    };
    ams_tests::wait::until("60% committed", 30, || async { current("60.0").await.then_some(()) }, || serve.log_text()).await;

    // Over the line: the alert reaches the webhook.
    let sent = SystemTime::now();
    aws::send_all(&sdk, &queue, &[usage(93.5, 1)]).await;
    let alert = until_blocking("the budget alert at the webhook", 30, || of_type(&receiver.received(), "alert.budget_usage").first().map(|r| (*r).clone()), || serve.log_text());
    let end_to_end = alert.at.duration_since(sent).unwrap();
    assert_eq!(alert.verdict(&secret), "verified", "{:?}", alert.headers);
    assert_eq!(alert.path, "/ams");
    let body: Value = serde_json::from_str(&alert.body).unwrap();
    assert_eq!((body["data"]["budget_usage_percentage"].as_str(), body["data"]["rule"]["name"].as_str()), (Some("93.5"), Some("90% used")));
    assert_eq!(body["data"]["account_id"], json!(account.id));
    let deliveries = api.ok("GET", &format!("/v1/tenants/hooked/webhooks/{hook}/deliveries"), tok, None, 200);
    let committed: DateTime<Utc> = deliveries[0]["created_at"].as_str().unwrap().parse().unwrap();
    let from_commit = (DateTime::<Utc>::from(alert.at) - committed).to_std().unwrap_or_default();
    // The figure for docs/performance.md (target < 5 s), measured here, not asserted: the
    // wait above bounds it at 30 s.
    println!("alert latency: {} ms from the alert's transaction to the webhook, {} ms from SQS send", from_commit.as_millis(), end_to_end.as_millis());
    assert_eq!(deliveries[0]["status"], "succeeded");
    assert_eq!(deliveries[0]["attempts"][0]["response_status"], 204);

    // Still over the line: committed, evaluated, swept, and not raised again.
    aws::send_all(&sdk, &queue, &[usage(97.0, 2)]).await;
    ams_tests::wait::until("97% committed and the message deleted", 30, || async {
        (current("97.0").await && aws::backlog(&sdk, &queue).await == 0).then_some(())
    }, || serve.log_text())
    .await;
    let swept = |n: usize| serve.log_text().matches("alert sweep round").count() >= n;
    let rounds = serve.log_text().matches("alert sweep round").count();
    until_blocking("two more sweeps", 30, || swept(rounds + 2).then_some(()), || serve.log_text());
    assert_eq!(of_type(&receiver.received(), "alert.budget_usage").len(), 1, "one alert per crossing");
    assert_eq!(api.ok("GET", "/v1/tenants/hooked/alerts", tok, None, 200).as_array().unwrap().len(), 1);

    // A failing endpoint: retried with backoff until it answers 2xx.
    receiver.answer_next(&[500, 503]);
    let test = api.ok("POST", &format!("/v1/tenants/hooked/webhooks/{hook}/test"), tok, None, 202);
    let test_id = test["id"].as_str().unwrap().to_owned();
    let attempts = until_blocking("the test event, after two failures", 60, || {
        let list = api.ok("GET", &format!("/v1/tenants/hooked/webhooks/{hook}/deliveries"), tok, None, 200);
        let d = list.as_array().unwrap().iter().find(|d| d["id"] == test_id.as_str()).cloned().unwrap();
        (d["status"] == "succeeded").then(|| d["attempts"].clone())
    }, || serve.log_text());
    let statuses: Vec<i64> = attempts.as_array().unwrap().iter().map(|a| a["response_status"].as_i64().unwrap()).collect();
    assert_eq!(statuses, [500, 503, 204]);
    let tests = of_type(&receiver.received(), "webhook.test").into_iter().cloned().collect::<Vec<_>>();
    assert_eq!(tests.len(), 3);
    assert!(tests.iter().all(|t| t.headers["webhook-id"] == tests[0].headers["webhook-id"]), "one message id for every attempt");
    assert!(tests.iter().all(|t| t.verdict(&secret) == "verified"), "each attempt signed with its own timestamp");

    // A delivery pending when the server dies is sent by the next one.
    receiver.answer_next(&[500]);
    let replay = api.ok("POST", &format!("/v1/tenants/hooked/webhooks/{hook}/deliveries/{test_id}/replay"), tok, None, 202);
    assert_eq!(replay["message_id"], tests[0].headers["webhook-id"].as_str());
    until_blocking("the replay's first attempt", 30, || (of_type(&receiver.received(), "webhook.test").len() == 4).then_some(()), || serve.log_text());
    serve.kill9();
    let (serve, api) = serve_with_api(&db, &moto.url, &env);
    let after = until_blocking("the replay, sent by the restarted server", 90, || {
        let got = of_type(&receiver.received(), "webhook.test").into_iter().cloned().collect::<Vec<_>>();
        (got.len() == 5).then(|| got[4].clone())
    }, || serve.log_text());
    assert_eq!(after.headers["webhook-id"], tests[0].headers["webhook-id"]);
    assert_eq!(after.status, 204);

    // A stream that was delivering and went silent: its records are three hours old.
    api.ok("POST", "/v1/tenants/hooked/alert-rules", tok, Some(&json!({"name": "silent 2h", "kind": "stream_silent", "hours": 2})), 201);
    sqlx::query("UPDATE tenant_hooked.account_activity SET last_received_at = now() - interval '3 hours'").execute(store.pool()).await.unwrap();
    let silent = until_blocking("the silent-stream alert", 30, || of_type(&receiver.received(), "alert.stream_silent").first().map(|r| (*r).clone()), || serve.log_text());
    let body: Value = serde_json::from_str(&silent.body).unwrap();
    assert_eq!((body["data"]["dataset"].as_str(), body["data"]["account_name"].as_str()), (Some("budget-usage"), Some("Brand")));
    assert_eq!(silent.verdict(&secret), "verified");
    let log = serve.log_text();
    assert!(!log.contains(&secret) && !log.contains(&secret[6..]), "the signing secret reached the log");
}
