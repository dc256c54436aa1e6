//! The dashboard in a real browser: a server seeded with a tenant's traffic, conversions,
//! campaign names, budget usage and quarantined bodies, then tests/browser/dashboard.py drives
//! headless Chromium through every page and compares what it shows with the API (see that
//! script for the checks). Needs Debian's `chromium` and `chromium-driver` and selenium in the
//! venv (scripts/test installs them). Screenshots: printed paths, under the system temp dir
//! (or `AMS_UI_SHOTS`).

use std::process::Command;

use ams_tests::api::{serve_with_api, ADMIN_TOKEN};
use ams_tests::aws::{self, Moto};
use ams_tests::receiver::Receiver;
use ams_tests::TestDb;
use serde_json::{json, Value};

const ADMIN: Option<&str> = Some(ADMIN_TOKEN);

fn template(dataset: &str) -> serde_json::Map<String, Value> {
    let v: Value = serde_json::from_str(&ams_tests::fixture(&format!("{dataset}.json"))).unwrap();
    v.as_object().unwrap().clone()
}

/// Three campaigns in the US over two days, with names; two budgets; two unreadable bodies.
fn seed() -> Vec<String> {
    let mut lines = Vec::new();
    for c in 1..=3u32 {
        let campaign = format!("77000000000000{c}");
        for h in 0..48u32 {
            let hour = format!("2026-06-{:02}T{:02}:00:00-07:00", 10 + h / 24, h % 24);
            let mut t = template("sp-traffic");
            t.insert("idempotency_id".into(), json!(format!("ui-t-{c}-{h}")));
            t.insert("campaign_id".into(), json!(campaign));
            t.insert("time_window_start".into(), json!(hour));
            t.insert("clicks".into(), json!((c * 3 + h) % 11));
            t.insert("impressions".into(), json!(100 + c * 40 + h));
            t.insert("cost".into(), serde_json::from_str::<Value>(&format!("{}.{:02}", c * 2 + h % 5, (c * 37 + h * 13) % 100)).unwrap());
            lines.push(Value::Object(t).to_string());
            if h % 3 == 0 {
                let mut v = template("sp-conversion");
                v.insert("idempotency_id".into(), json!(format!("ui-c-{c}-{h}")));
                v.insert("campaign_id".into(), json!(campaign));
                v.insert("time_window_start".into(), json!(hour));
                v.insert("attributed_conversions_14d".into(), json!(1 + c % 2));
                v.insert("attributed_units_ordered_14d".into(), json!(1 + c % 2));
                v.insert("attributed_sales_14d".into(), serde_json::from_str::<Value>(&format!("{}.99", 20 + c * 5)).unwrap());
                lines.push(Value::Object(v).to_string());
            }
        }
        let mut e = template("campaigns");
        e.insert("campaignId".into(), json!(campaign));
        e.insert("name".into(), json!(format!("UI campaign {c}")));
        lines.push(Value::Object(e).to_string());
        let mut b = template("budget-usage");
        b.insert("budget_scope_id".into(), json!(campaign));
        b.insert("budget_usage_percentage".into(), json!(30 * c));
        lines.push(Value::Object(b).to_string());
    }
    lines.push("{\"dataset_id\": \"sp-traffic\", \"oops\": true}".into());
    lines.push("definitely not json".into());
    lines
}

#[tokio::test]
async fn the_dashboard_shows_the_apis_figures_in_a_real_browser() {
    let db = TestDb::new();
    let moto = Moto::start();
    // Alerts go to a receiver on loopback, over http: allowed for this host by the operator.
    let receiver = Receiver::start();
    let (serve, api) = serve_with_api(&db, &moto.url, &[("AMS_HUB_WEBHOOK_ALLOW_HTTP_HOSTS", "127.0.0.1")]);
    let key_of = |slug: &str| {
        api.ok("POST", "/v1/tenants", ADMIN, Some(&json!({"slug": slug, "name": slug})), 201);
        api.ok("PATCH", &format!("/v1/tenants/{slug}"), ADMIN, Some(&json!({"allow_platform_identity": true})), 200);
        api.ok("POST", &format!("/v1/tenants/{slug}/api-keys"), ADMIN, Some(&json!({"name": "ui"})), 201)["token"].as_str().unwrap().to_owned()
    };
    let (key, other) = (key_of("agency"), key_of("rival"));
    let account = api.ok("POST", "/v1/tenants/agency/accounts", Some(&key), Some(&json!({"name": "Acme Audio"})), 201);
    let id = account["id"].as_str().unwrap();
    api.ok("POST", &format!("/v1/tenants/agency/accounts/{id}/marketplaces"), Some(&key), Some(&json!({"marketplace": "US"})), 201);
    let queue = aws::create_queue(&moto.platform(), "acme-ams").await;
    api.ok("POST", &format!("/v1/tenants/agency/accounts/{id}/queues"), Some(&key), Some(&json!({"queue_url": queue, "region": "us-east-1"})), 201);

    // The overview shows the queue's consumer: wait until it runs.
    let running = || {
        let status = api.ok("GET", &format!("/v1/tenants/agency/accounts/{id}/status"), Some(&key), None, 200);
        (status["queues"][0]["consumer_state"] == "running").then_some(())
    };
    ams_tests::wait::until_blocking("the consumer to run", 60, running, || serve.log_text());
    // A budget rule at 50%: the seed's budgets at 60% and 90% each alert once, to the webhook,
    // whose first answer is an error (a delivery that was retried; the page can replay it).
    api.ok("POST", "/v1/tenants/agency/alert-rules", Some(&key), Some(&json!({"name": "half spent", "kind": "budget_usage", "threshold": 50})), 201);
    api.ok("POST", "/v1/tenants/agency/alert-rules", Some(&key), Some(&json!({"name": "quiet 6h", "kind": "stream_silent", "hours": 6, "enabled": false})), 201);
    receiver.answer_next(&[500]);
    api.ok("POST", "/v1/tenants/agency/webhooks", ADMIN, Some(&json!({"url": format!("http://127.0.0.1:{}/alerts", receiver.port), "description": "ops channel"})), 201);
    let file = std::env::temp_dir().join(format!("ams-ui-{}.ndjson", uuid::Uuid::new_v4().simple()));
    std::fs::write(&file, seed().join("\n")).unwrap();
    let out = Command::new(ams_tests::ams_hub_bin())
        .args(["ingest-file", "--tenant", "agency", file.to_str().unwrap()])
        .env("DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::remove_file(&file).ok();
    let alerts_sent = || (receiver.received().iter().filter(|r| r.status == 204).count() == 2).then_some(());
    ams_tests::wait::until_blocking("both budget alerts delivered", 60, alerts_sent, || serve.log_text());

    let shots = ams_tests::browser::screenshot_dir("ui");
    let args = [api.base.as_str(), "agency", &key, &other, "2026-06-09", "2026-06-12", shots.to_str().unwrap()];
    ams_tests::browser::run("dashboard.py", &args, &[], || serve.log_text());
    forms_need_this_sessions_token(&api.base, &key, &api);
    for page in ["login", "overview", "performance", "performance-hourly", "budgets", "quarantine", "quarantine-entry", "alerts", "other-tenant"] {
        assert!(shots.join(format!("{page}.png")).exists(), "a screenshot of {page}");
    }
}

/// A form without the session's CSRF token, or from another origin, changes nothing; another
/// site cannot sign a browser in.
fn forms_need_this_sessions_token(base: &str, key: &str, api: &ams_tests::api::Api) {
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let signed_in = agent.post(&format!("{base}/ui/login")).send_form(&[("key", key)]).unwrap();
    assert_eq!(signed_in.status(), 303);
    let cookie = signed_in.header("set-cookie").unwrap().split(';').next().unwrap().to_owned();
    let page = agent.get(&format!("{base}/ui/quarantine")).set("Cookie", &cookie).call().unwrap().into_string().unwrap();
    let csrf = page.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let before = api.ok("GET", "/v1/tenants/agency/quarantine", Some(key), None, 200)["items"].as_array().unwrap().len();
    let id = api.ok("GET", "/v1/tenants/agency/quarantine", Some(key), None, 200)["items"][0]["id"].as_i64().unwrap();
    let discard = format!("{base}/ui/quarantine/{id}/discard");
    let status = |r: Result<ureq::Response, ureq::Error>| match r {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(s, _)) => s,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(status(agent.post(&discard).set("Cookie", &cookie).send_form(&[("csrf", "forged")])), 403);
    assert_eq!(status(agent.post(&discard).set("Cookie", &cookie).send_form(&[])), 403);
    assert_eq!(status(agent.post(&discard).set("Cookie", &cookie).set("Origin", "https://evil.example").send_form(&[("csrf", &csrf)])), 403);
    assert_eq!(status(agent.post(&discard).send_form(&[("csrf", &csrf)])), 303, "no session: to the sign-in page");
    let after = api.ok("GET", "/v1/tenants/agency/quarantine", Some(key), None, 200)["items"].as_array().unwrap().len();
    assert_eq!(before, after, "nothing was discarded");
    assert_eq!(status(agent.post(&format!("{base}/ui/login")).set("Origin", "https://evil.example").send_form(&[("key", key)])), 403);
    // With the token, from this origin: discarded.
    assert_eq!(status(agent.post(&discard).set("Cookie", &cookie).set("Origin", base).send_form(&[("csrf", &csrf)])), 303);
    let after = api.ok("GET", "/v1/tenants/agency/quarantine", Some(key), None, 200)["items"].as_array().unwrap().len();
    assert_eq!(after, before - 1);
}
