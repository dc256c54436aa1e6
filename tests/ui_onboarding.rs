//! Onboarding a brand from the dashboard, over HTTP as a browser does it (cookies, CSRF
//! tokens, redirects followed by hand): `ams-hub serve` against the Amazon stand-in (LwA with
//! its consent page, the Ads API, SNS) and moto (the brand's stack deployed from the template
//! the page offers). A `write` key goes from an empty tenant to data on the checklist; a
//! `read` key sees the pages and can change nothing. The same in headless Chromium:
//! tests/browser/onboarding.py (screenshots under the system temp dir, or `AMS_UI_SHOTS`).

use std::collections::BTreeMap;
use std::time::Duration;

use ams_tests::amazon::{profile, AmazonStandIn, CLIENT_ID, CLIENT_SECRET};
use ams_tests::api::{serve_with_api, Api, ADMIN_TOKEN};
use ams_tests::aws::{deploy, Moto};
use ams_tests::serve::TEST_SECRET_KEY;
use ams_tests::TestDb;
use serde_json::{json, Value};

const ADMIN: Option<&str> = Some(ADMIN_TOKEN);
const TOKEN: &str = "Atzr|standin-refresh-token-UIUIUIUIUIUIUIUIUIUI";
const PRINCIPAL: &str = "arn:aws:iam::999999999999:role/ams-hub-platform";
/// The brand's deployer lives in Amazon's sp-traffic topic account on moto: moto finds a topic
/// only in its owner's account (see tests/onboarding.rs).
const DEPLOYER: &str = "arn:aws:iam::906013806264:role/brand-deployer";

/// A browser: its cookies (by name; paths ignored), no automatic redirects.
struct Browser {
    agent: ureq::Agent,
    cookies: BTreeMap<String, String>,
}

struct Answer {
    status: u16,
    location: String,
    body: String,
}

impl Browser {
    fn new() -> Browser {
        Browser { agent: ureq::AgentBuilder::new().redirects(0).timeout(Duration::from_secs(60)).build(), cookies: BTreeMap::new() }
    }

    fn call(&mut self, method: &str, url: &str, form: Option<&[(&str, &str)]>) -> Answer {
        let mut req = self.agent.request(method, url);
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
            req = req.set("Cookie", &jar.join("; "));
        }
        let r = match form {
            Some(f) => req.send_form(f),
            None => req.call(),
        };
        let r = match r {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {url}: {e}"),
        };
        for c in r.all("Set-Cookie") {
            let pair = c.split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            if v.is_empty() || c.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
        let (status, location) = (r.status(), r.header("Location").unwrap_or_default().to_owned());
        Answer { status, location, body: r.into_string().unwrap_or_default() }
    }

    fn sign_in(base: &str, key: &str) -> Browser {
        let mut b = Browser::new();
        let a = b.call("POST", &format!("{base}/ui/login"), Some(&[("key", key)]));
        assert_eq!(a.status, 303, "{}", a.body);
        b
    }
}

/// The page's CSRF token (every form carries it).
fn csrf(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a form with a CSRF token");
    page[at + 19..].split('"').next().unwrap().to_owned()
}

/// An `href` after `marker`, unescaped.
fn href_after(page: &str, marker: &str) -> String {
    let at = &page[page.find(marker).unwrap_or_else(|| panic!("{marker} in {page}"))..];
    let href = at.split("href=\"").nth(1).unwrap().split('"').next().unwrap();
    href.replace("&amp;", "&").replace("&#x2f;", "/").replace("&#x3d;", "=").replace("&quot;", "\"")
}

/// A flash message (`msg`/`err`) a redirect carries, decoded.
fn said(location: &str) -> String {
    let query = location.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap();
    pairs.into_iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join("; ")
}

fn tenant_keys(api: &Api, slug: &str) -> (String, String) {
    api.ok("POST", "/v1/tenants", ADMIN, Some(&json!({"slug": slug, "name": slug})), 201);
    let key = |scope: &str| {
        let k = api.ok("POST", &format!("/v1/tenants/{slug}/api-keys"), ADMIN, Some(&json!({"name": scope, "scope": scope})), 201);
        k["token"].as_str().unwrap().to_owned()
    };
    (key("write"), key("read"))
}

/// The server under test and its Amazon and AWS.
struct Hub {
    _db: TestDb,
    moto: Moto,
    amazon: AmazonStandIn,
    serve: ams_tests::serve::Serve,
    api: Api,
}

fn hub() -> Hub {
    let db = TestDb::new();
    let moto = Moto::start();
    let amazon = AmazonStandIn::start(&moto.url);
    let env = [
        ("AMS_HUB_SECRET_KEY", TEST_SECRET_KEY.to_owned()),
        ("AMS_HUB_ADS_CLIENT_ID", CLIENT_ID.into()),
        ("AMS_HUB_ADS_CLIENT_SECRET", CLIENT_SECRET.into()),
        ("AMS_HUB_ADS_API_URL", amazon.url.clone()),
        ("AMS_HUB_LWA_URL", amazon.url.clone()),
        ("AMS_HUB_LWA_CONSENT_URL", amazon.url.clone()),
        ("AWS_ENDPOINT_URL_SNS", amazon.url.clone()),
        ("AMS_HUB_PLATFORM_PRINCIPAL", PRINCIPAL.into()),
        ("AMS_HUB_ADS_SYNC_SECS", "2".into()),
        ("AMS_HUB_ADS_PENDING_SYNC_SECS", "1".into()),
    ];
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (serve, api) = serve_with_api(&db, &moto.url, &pairs);
    amazon.add_login(TOKEN, vec![profile(1001, "US", "ATVPDKIKX0DER", "ENTITYUIUI1", "Brand UI")]);
    amazon.consent_as(TOKEN);
    Hub { _db: db, moto, amazon, serve, api }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_key_onboards_a_brand_in_the_dashboard_and_a_read_key_only_looks() {
    let Hub { _db, moto, amazon, serve, api } = hub();
    let base = api.base.clone();
    let (write, read) = tenant_keys(&api, "onboarded");
    let mut me = Browser::sign_in(&base, &write);

    // 1. Connect with Amazon: ams-hub's consent page, Amazon's, and back to the dashboard.
    let home = me.call("GET", &format!("{base}/ui/onboarding"), None);
    assert!(home.body.contains("No Amazon login connected yet."), "{}", home.body);
    let token = csrf(&home.body);
    let started = me.call("POST", &format!("{base}/ui/onboarding/connect"), Some(&[("csrf", &token), ("region", "NA"), ("name", "main")]));
    assert_eq!(started.status, 303, "{}", started.body);
    assert!(started.location.starts_with(&format!("{base}/oauth/amazon/start?state=")), "{}", started.location);
    let ours = me.call("GET", &started.location, None);
    assert_eq!(ours.status, 200, "{}", ours.body);
    let amazons = me.call("GET", &href_after(&ours.body, "id=\"continue\""), None);
    assert_eq!(amazons.status, 200, "the stand-in's consent page took ams-hub's request: {}", amazons.body);
    let back = me.call("GET", &href_after(&amazons.body, "id=\"allow\""), None);
    assert_eq!(back.status, 303, "{}", back.body);
    assert!(back.location.starts_with("/ui/onboarding?"), "{}", back.location);
    assert!(said(&back.location).contains("Connected the Amazon login \"main\": 1 profiles"), "{}", said(&back.location));
    let connections = api.ok("GET", "/v1/tenants/onboarded/ads-connections", Some(&write), None, 200);
    let connection = connections[0]["id"].as_str().unwrap().to_owned();

    // 2. Import: the profile is listed, not imported, ticked; importing makes the brand.
    let listed = me.call("GET", &format!("{base}/ui/onboarding/connections/{connection}"), None);
    assert!(listed.body.contains("name=\"profile\" value=\"1001\" checked"), "{}", listed.body);
    let none = me.call("POST", &format!("{base}/ui/onboarding/connections/{connection}/import"), Some(&[("csrf", &csrf(&listed.body))]));
    assert!(said(&none.location).starts_with("err: tick the profiles"), "{}", none.location);
    let imported = me.call("POST", &format!("{base}/ui/onboarding/connections/{connection}/import"), Some(&[("csrf", &csrf(&listed.body)), ("profile", "1001")]));
    assert!(said(&imported.location).contains("Imported 1 brand(s): Brand UI (US)"), "{}", imported.location);
    let again = me.call("GET", &format!("{base}/ui/onboarding/connections/{connection}"), None);
    assert!(again.body.contains("yes (Brand UI)"), "imported now: {}", again.body);
    let accounts = api.ok("GET", "/v1/tenants/onboarded/accounts", Some(&write), None, 200);
    let account = accounts[0]["id"].as_str().unwrap().to_owned();
    let brand_url = format!("{base}/ui/onboarding/accounts/{account}");

    // 3. The AWS side: the template as the page offers it, deployed; a wrong paste is refused
    // in words; the stack's outputs pasted.
    let brand = me.call("GET", &brand_url, None);
    assert!(brand.body.contains("aws cloudformation deploy"), "{}", brand.body);
    // The page's command is the one the API gives with the template (YAML).
    let api_template = ureq::get(&format!("{base}/v1/tenants/onboarded/accounts/{account}/aws-template?region=us-east-1"))
        .set("Authorization", &format!("Bearer {write}"))
        .call()
        .unwrap();
    let command = api_template.header("Ams-Hub-Deploy-Command").unwrap().to_owned();
    assert!(brand.body.contains(&command), "{command} on the page:\n{}", brand.body);
    let link = format!("/ui/onboarding/accounts/{account}/template?region=us-east-1&amp;format=json");
    assert!(brand.body.contains(&link), "{}", brand.body);
    let template = me.call("GET", &format!("{base}{}", link.replace("&amp;", "&")), None);
    assert_eq!(template.status, 200, "{}", template.body);
    let described = deploy(&moto, DEPLOYER, &template.body, "ams-hub-ui", "us-east-1");
    let token = csrf(&brand.body);
    let wrong = me.call("POST", &format!("{brand_url}/stack"), Some(&[("csrf", &token), ("outputs", "hello")]));
    assert!(said(&wrong.location).contains("neither a role ARN nor a queue URL"), "{}", wrong.location);
    let elsewhere = "arn:aws:iam::906013806264:role/x\nhttps://sqs.eu-west-1.amazonaws.com/906013806264/x";
    let foreign = me.call("POST", &format!("{brand_url}/stack"), Some(&[("csrf", &token), ("outputs", elsewhere)]));
    assert!(said(&foreign.location).ends_with("deliver to us-east-1 (foreign_region)"), "the failed check is named: {}", said(&foreign.location));
    let adopted = me.call("POST", &format!("{brand_url}/stack"), Some(&[("csrf", &token), ("outputs", &described.to_string())]));
    assert!(said(&adopted.location).starts_with("msg: Verified the stack"), "{}", said(&adopted.location));

    // 4. Datasets: declared; Amazon's subscription goes ACTIVE once its confirmation is confirmed.
    let declared = me.call("POST", &format!("{brand_url}/datasets"), Some(&[("csrf", &token), ("dataset", "sp-traffic")]));
    assert!(said(&declared.location).contains("Declared 1 dataset(s)"), "{}", declared.location);
    let checklist = |me: &mut Browser| -> Value { serde_json::from_str(&me.call("GET", &format!("{brand_url}/checklist.json"), None).body).unwrap() };
    let c = ams_tests::wait::until_blocking(
        "the subscription ACTIVE on the page's checklist",
        60,
        || Some(checklist(&mut me)).filter(|c| c["subscriptions"][0]["status"] == "ACTIVE"),
        || serve.log_text(),
    );
    assert_eq!(c["next_step"], json!("wait for the first data: Amazon delivers traffic hourly and entity changes as they happen"));

    // 5. Data arrives: the checklist turns ready, and the overview says so.
    let queue = c["regions"][0]["queues"][0]["queue_url"].as_str().unwrap().to_owned();
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(27);
    let records: Vec<_> = (0..5).map(|i| ams_tests::gen::delta(&mut rng, ams_model::DELTA_SPECS[0], i % 2, format!("ui-{i}"))).collect();
    let as_brand = moto.assume(DEPLOYER).await;
    ams_tests::aws::send_all(&as_brand, &queue, &ams_tests::check::bodies(&records)).await;
    ams_tests::wait::until_blocking("the checklist ready", 60, || Some(()).filter(|_| checklist(&mut me)["status"] == "ready"), || serve.log_text());
    let page = me.call("GET", &brand_url, None);
    assert!(page.body.contains("class=\"status-ready\">ready"), "{}", page.body);
    let overview = me.call("GET", &format!("{base}/ui/overview"), None);
    assert!(overview.body.contains(&format!("href=\"/ui/onboarding/accounts/{account}\">ready")), "{}", overview.body);

    // A read key: the pages, none of the forms, and every change refused.
    let mut reader = Browser::sign_in(&base, &read);
    let home = reader.call("GET", &format!("{base}/ui/onboarding"), None);
    assert!(home.body.contains("main") && !home.body.contains("action=\"/ui/onboarding/connect\""), "{}", home.body);
    let page = reader.call("GET", &brand_url, None);
    assert!(page.body.contains("Brand UI") && !page.body.contains("id=\"stack\"") && !page.body.contains("/template?"), "{}", page.body);
    let token = csrf(&page.body);
    let refused = reader.call("POST", &format!("{brand_url}/datasets"), Some(&[("csrf", &token), ("all", "on")]));
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(reader.call("GET", &format!("{brand_url}/template?region=us-east-1"), None).status, 403);
    let streams = api.ok("GET", &format!("/v1/tenants/onboarded/accounts/{account}/streams"), Some(&write), None, 200);
    assert_eq!(streams["datasets"], json!(["sp-traffic"]), "the read key changed nothing");

    // Another tenant's key reaches none of it, by any of the pages' routes.
    let (rival, _) = tenant_keys(&api, "rival");
    let mut other = Browser::sign_in(&base, &rival);
    let token = csrf(&other.call("GET", &format!("{base}/ui/onboarding"), None).body);
    for path in ["", "/checklist.json", "/template?region=us-east-1"] {
        assert_eq!(other.call("GET", &format!("{brand_url}{path}"), None).status, 404, "{path}");
    }
    assert_eq!(other.call("GET", &format!("{base}/ui/onboarding/connections/{connection}"), None).status, 404);
    assert_eq!(other.call("POST", &format!("{brand_url}/datasets"), Some(&[("csrf", &token), ("all", "on")])).status, 404);
    assert_eq!(other.call("POST", &format!("{base}/ui/onboarding/connections/{connection}/import"), Some(&[("csrf", &token), ("profile", "1001")])).status, 404);
    let streams = api.ok("GET", &format!("/v1/tenants/onboarded/accounts/{account}/streams"), Some(&write), None, 200);
    assert_eq!(streams["datasets"], json!(["sp-traffic"]), "another tenant changed nothing");
    amazon.assert_contract_kept();
}

/// Three sp-traffic hours of the brand's campaign on 2026-06-10 (US): $7.50 of spend.
fn records() -> Vec<String> {
    let template: Value = serde_json::from_str(&ams_tests::fixture("sp-traffic.json")).unwrap();
    ["1.25", "2.50", "3.75"]
        .iter()
        .enumerate()
        .map(|(i, cost)| {
            let mut t = template.as_object().unwrap().clone();
            t.insert("idempotency_id".into(), json!(format!("browser-{i}")));
            t.insert("time_window_start".into(), json!(format!("2026-06-10T{:02}:00:00-07:00", 9 + i)));
            t.insert("cost".into(), serde_json::from_str::<Value>(cost).unwrap());
            Value::Object(t).to_string()
        })
        .collect()
}

#[test]
fn the_onboarding_pages_onboard_a_brand_in_a_real_browser() {
    let Hub { _db, moto, amazon, serve, api } = hub();
    let (write, read) = tenant_keys(&api, "browsed");
    let file = std::env::temp_dir().join(format!("ams-onboarding-{}.json", uuid::Uuid::new_v4().simple()));
    std::fs::write(&file, serde_json::to_string(&records()).unwrap()).unwrap();
    let shots = ams_tests::browser::screenshot_dir("onboarding");
    let args = [api.base.as_str(), &write, &read, file.to_str().unwrap(), shots.to_str().unwrap()];
    let env = [("AWS_ENDPOINT_URL", moto.url.as_str()), ("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"), ("DEPLOYER", DEPLOYER)];
    ams_tests::browser::run("onboarding.py", &args, &env, || serve.log_text());
    std::fs::remove_file(&file).ok();
    for step in ["1-start", "2-consent", "3-connected", "4-import", "5-stack-refused", "6-aws", "7-subscribed", "8-ready", "9-performance", "10-read-key"] {
        assert!(shots.join(format!("onboarding-{step}.png")).exists(), "a screenshot of {step}");
    }
    amazon.assert_contract_kept();
}
