//! The Amazon Ads API side of onboarding, end to end: `ams-hub serve` against the Amazon
//! stand-in (LwA, Ads API, SNS; tests/support/amazon.rs) and moto's SQS. Connect a login,
//! import its profiles, declare datasets; the reconciler subscribes, the confirmations that
//! arrive on the brands' queues are confirmed, and Amazon's statuses show in the API.

use std::time::Duration;

use ams_tests::amazon::{agency_profile, dsp_advertiser, profile, AmazonStandIn, CLIENT_ID, CLIENT_SECRET};
use ams_tests::api::{serve_with_api, Api, ADMIN_TOKEN};
use ams_tests::aws::{self, Moto};
use ams_tests::serve::Serve;
use ams_tests::TestDb;
use aws_config::Region;
use serde_json::{json, Value};

const ADMIN: Option<&str> = Some(ADMIN_TOKEN);
use ams_tests::serve::TEST_SECRET_KEY as SECRET_KEY;
const TOKEN_A: &str = "Atzr|standin-refresh-token-AAAAAAAAAAAAAAAAAAAA";
const TOKEN_B: &str = "Atzr|standin-refresh-token-BBBBBBBBBBBBBBBBBBBB";

struct Hub {
    db: TestDb,
    moto: Moto,
    amazon: AmazonStandIn,
    serve: Serve,
    api: Api,
}

fn env(amazon: &AmazonStandIn) -> Vec<(&'static str, String)> {
    vec![
        ("AMS_HUB_SECRET_KEY", SECRET_KEY.into()),
        ("AMS_HUB_ADS_CLIENT_ID", CLIENT_ID.into()),
        ("AMS_HUB_ADS_CLIENT_SECRET", CLIENT_SECRET.into()),
        ("AMS_HUB_ADS_API_URL", amazon.url.clone()),
        ("AMS_HUB_LWA_URL", amazon.url.clone()),
        // Amazon's SNS (ConfirmSubscription) is the stand-in; SQS stays moto.
        ("AWS_ENDPOINT_URL_SNS", amazon.url.clone()),
        ("AMS_HUB_ADS_SYNC_SECS", "2".into()),
        ("AMS_HUB_ADS_PENDING_SYNC_SECS", "1".into()),
        ("AMS_HUB_LEASE_SECS", "3".into()),
        ("AMS_HUB_VISIBILITY_SECS", "5".into()),
    ]
}

fn start_serve(db: &TestDb, moto: &Moto, amazon: &AmazonStandIn) -> (Serve, Api) {
    let env = env(amazon);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    serve_with_api(db, &moto.url, &pairs)
}

fn hub() -> Hub {
    let db = TestDb::new();
    let moto = Moto::start();
    let amazon = AmazonStandIn::start(&moto.url);
    let (serve, api) = start_serve(&db, &moto, &amazon);
    Hub { db, moto, amazon, serve, api }
}

/// A tenant whose queues the platform's identity may read (the brands' queues are in moto's
/// own account here), with an `admin` key.
fn tenant(api: &Api, slug: &str) -> String {
    api.ok("POST", "/v1/tenants", ADMIN, Some(&json!({"slug": slug, "name": slug})), 201);
    api.ok("PATCH", &format!("/v1/tenants/{slug}"), ADMIN, Some(&json!({"allow_platform_identity": true})), 200);
    let key = api.ok("POST", &format!("/v1/tenants/{slug}/api-keys"), ADMIN, Some(&json!({"name": "k", "scope": "admin"})), 201);
    key["token"].as_str().unwrap().to_owned()
}

/// Polls `check` until it returns `Some`, for at most `secs`.
fn eventually<T>(what: &str, secs: u64, serve: &Serve, check: impl FnMut() -> Option<T>) -> T {
    ams_tests::wait::until_blocking(what, secs, check, || format!("--- serve log ---\n{}", serve.log_text()))
}

/// A queue in moto in `region`, registered on the account.
fn queue(h: &Hub, rt: &tokio::runtime::Runtime, key: &str, slug: &str, account: &str, region: &str, name: &str) -> String {
    let config = h.moto.platform().into_builder().region(Region::new(region.to_owned())).build();
    let url = rt.block_on(aws::create_queue(&config, name));
    h.api.ok("POST", &format!("/v1/tenants/{slug}/accounts/{account}/queues"), Some(key), Some(&json!({"queue_url": url, "region": region})), 201);
    url
}

fn streams(api: &Api, key: &str, slug: &str, account: &str) -> Value {
    api.ok("GET", &format!("/v1/tenants/{slug}/accounts/{account}/streams"), Some(key), None, 200)
}

/// Every subscription of the account's streams has `status` (and there are `n`).
fn all_status(v: &Value, n: usize, status: &str) -> bool {
    let subs = v["subscriptions"].as_array().unwrap();
    subs.len() == n && subs.iter().all(|s| s["status"] == status)
}

fn two_advertisers() -> Vec<Value> {
    vec![
        profile(1001, "US", "ATVPDKIKX0DER", "ENTITYAAAA1", "Brand A"),
        profile(1002, "CA", "A2EUQ1WTGCTBG2", "ENTITYAAAA1", "Brand A"),
        profile(2001, "DE", "A1PA6795UKMFR9", "ENTITYBBBB2", "Brand B"),
    ]
}

/// The login also reaches DSP: an agency profile listing two DSP advertisers.
fn with_dsp(amazon: &AmazonStandIn, token: &str) {
    let mut profiles = two_advertisers();
    profiles.push(agency_profile(9001, "US", "ATVPDKIKX0DER", "AGENCYXXXX1", "Agency X"));
    amazon.add_login(token, profiles);
    amazon.add_dsp_advertisers(token, 9001, vec![dsp_advertiser("5550001", "Brand A DSP", "US"), dsp_advertiser("5550002", "Brand C", "US")]);
}

#[test]
fn connect_import_and_declare_all_subscribes_once_each_confirms_and_data_lands() {
    let h = hub();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let key = tenant(&h.api, "agency");
    with_dsp(&h.amazon, TOKEN_A);
    let mut answers: Vec<Value> = Vec::new();

    let c = h.api.ok("POST", "/v1/tenants/agency/ads-connections", Some(&key), Some(&json!({"name": "main", "region": "NA", "refresh_token": TOKEN_A})), 201);
    assert_eq!(c["status"], "active");
    assert_eq!(c["profiles"].as_array().unwrap().len(), 4);
    assert_eq!(c["profiles"][2]["marketplace"], "DE");
    assert_eq!((c["profiles"][3]["advertiser_type"].as_str(), &c["profiles"][3]["marketplace"]), (Some("agency"), &Value::Null), "an agency profile is no marketplace");
    assert_eq!(c["dsp_advertisers"].as_array().unwrap().iter().map(|a| a["advertiser_id"].as_str().unwrap()).collect::<Vec<_>>(), ["5550001", "5550002"]);
    assert_eq!(c["dsp_advertisers"][0]["agency_profile_id"], "9001");
    let id = c["id"].as_str().unwrap().to_owned();
    answers.push(c);
    let import = |body: Value| h.api.ok("POST", &format!("/v1/tenants/agency/ads-connections/{id}/import"), Some(&key), Some(&body), 200);
    let imported = import(json!({"profile_ids": ["1001", "1002", "2001"], "dsp_advertiser_ids": []}));
    let accounts = imported["accounts"].as_array().unwrap().clone();
    assert_eq!(accounts.len(), 2, "{imported}");
    assert_eq!(accounts[0]["name"], "Brand A");
    assert_eq!(accounts[0]["marketplaces"], json!(["US", "CA"]));
    assert_eq!(accounts[1]["marketplaces"], json!(["DE"]));
    assert!(accounts.iter().all(|a| a["created"] == true));
    let (a, b) = (accounts[0]["account_id"].as_str().unwrap().to_owned(), accounts[1]["account_id"].as_str().unwrap().to_owned());
    // Another tenant's account cannot receive this tenant's DSP advertiser (nor may a made-up one).
    let rival = tenant(&h.api, "rival");
    let theirs = h.api.ok("POST", "/v1/tenants/rival/accounts", Some(&rival), Some(&json!({"name": "Theirs"})), 201)["id"].as_str().unwrap().to_owned();
    for target in [theirs.as_str(), "00000000-0000-4000-8000-000000000000"] {
        let (status, body) = h.api.call("POST", &format!("/v1/tenants/agency/ads-connections/{id}/import"), Some(&key), Some(&json!({"dsp_accounts": {"5550001": target}})));
        assert_eq!(status, 422, "{body}");
    }
    assert_eq!(h.api.call("POST", &format!("/v1/tenants/agency/ads-connections/{id}/import"), Some(&rival), Some(&json!({}))).0, 404);
    // Brand A's DSP advertiser goes to Brand A's account; the other gets an account of its own.
    let dsp = import(json!({"dsp_accounts": {"5550001": a}}));
    let with_dsp: Vec<&Value> = dsp["accounts"].as_array().unwrap().iter().filter(|x| !x["dsp_advertisers"].as_array().unwrap().is_empty()).collect();
    assert_eq!(with_dsp.len(), 2, "{dsp}");
    assert_eq!((with_dsp[0]["account_id"].as_str(), &with_dsp[0]["dsp_advertisers"]), (Some(a.as_str()), &json!(["5550001"])));
    assert_eq!((with_dsp[1]["name"].as_str(), with_dsp[1]["created"].as_bool()), (Some("Brand C"), Some(true)));
    assert_eq!(dsp["skipped_profile_ids"], json!(["9001"]), "the agency profile is not imported as a marketplace");
    let c_account = with_dsp[1]["account_id"].as_str().unwrap().to_owned();
    // Idempotent: the same accounts, found again.
    let again = h.api.ok("POST", &format!("/v1/tenants/agency/ads-connections/{id}/import"), Some(&key), None, 200);
    assert!(again["accounts"].as_array().unwrap().iter().all(|a| a["created"] == false), "{again}");
    assert_eq!(h.api.ok("GET", "/v1/tenants/agency/accounts", Some(&key), None, 200).as_array().unwrap().len(), 3);
    answers.push(imported);

    let na_queue = queue(&h, &rt, &key, "agency", &a, "us-east-1", "brand-a-ams");
    queue(&h, &rt, &key, "agency", &b, "eu-west-1", "brand-b-ams");
    queue(&h, &rt, &key, "agency", &c_account, "us-east-1", "brand-c-ams");

    // Amazon misbehaves on the way: one 500 on a create, one 429 with Retry-After.
    h.amazon.fail_next_creates(1);
    h.amazon.throttle_next(1, 1);
    let bad = h.api.call("PUT", &format!("/v1/tenants/agency/accounts/{a}/streams"), Some(&key), Some(&json!({"datasets": ["sp-traffic", "sp-trafic"]})));
    assert_eq!(bad.0, 422);
    assert!(bad.1["error"]["message"].as_str().unwrap().contains("sp-trafic"));
    for acc in [&a, &b, &c_account] {
        answers.push(h.api.ok("PUT", &format!("/v1/tenants/agency/accounts/{acc}/streams"), Some(&key), Some(&json!({"datasets": "all"})), 200));
    }
    // A: US and CA (15 sponsored-ads datasets each) and the 8 DSP datasets for its DSP
    // advertiser; B: DE's 15 (no DSP advertiser); C: its DSP advertiser's 8.
    let (n_a, n_b, n_c) = (15 * 2 + 8, 15, 8);
    eventually("every subscription ACTIVE in ams-hub", 180, &h.serve, || {
        (all_status(&streams(&h.api, &key, "agency", &a), n_a, "ACTIVE")
            && all_status(&streams(&h.api, &key, "agency", &b), n_b, "ACTIVE")
            && all_status(&streams(&h.api, &key, "agency", &c_account), n_c, "ACTIVE"))
        .then_some(())
    });
    let subs = h.amazon.subscriptions();
    assert_eq!(subs.len(), n_a + n_b + n_c, "exactly one subscription per (profile or DSP advertiser, dataset)");
    let mut keys: Vec<(String, String)> = subs.iter().map(|s| (s.scope.clone(), s.dataset.clone())).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), subs.len(), "a duplicate subscription");
    for s in &subs {
        assert_eq!(s.history, ["PROVISIONING", "PENDING_CONFIRMATION", "ACTIVE"], "{}", s.id);
        assert_eq!(s.dsp, s.dataset.starts_with("adsp-"), "{}", s.id);
        if s.dsp {
            assert!(["5550001", "5550002"].contains(&s.scope.as_str()), "DSP subscriptions are the DSP advertiser's: {s:?}");
        } else {
            assert!(["1001", "1002", "2001"].contains(&s.scope.as_str()), "sponsored ads through seller profiles only: {s:?}");
        }
        assert!((22..=36).contains(&s.token.len()), "{}", s.token);
    }
    let seen = h.amazon.seen();
    assert!(seen.iter().any(|(m, p, st)| m == "POST" && p.ends_with("/streams/subscriptions") && *st == 500), "the 500 was served");
    assert!(seen.iter().any(|(_, _, st)| *st == 429), "the 429 was served");
    assert!(seen.iter().any(|(m, p, st)| m == "POST" && p == "/dsp/streams/subscriptions" && *st == 200), "DSP through its endpoint");
    assert!(seen.iter().any(|(m, p, st)| m == "GET" && p == "/dsp/advertisers" && *st == 200), "DSP advertisers listed");
    let shown = streams(&h.api, &key, "agency", &a);
    answers.push(shown.clone());
    let dsp_row = shown["subscriptions"].as_array().unwrap().iter().find(|s| s["dataset"] == "adsp-traffic").unwrap();
    assert_eq!((dsp_row["advertiser_id"].as_str(), &dsp_row["marketplace"]), (Some("5550001"), &Value::Null), "{dsp_row}");
    // Each confirmation that arrived on the queue was matched to its subscription.
    eventually("every confirmation matched to its subscription (confirmed_at)", 30, &h.serve, || {
        [&a, &b, &c_account]
            .iter()
            .all(|acc| streams(&h.api, &key, "agency", acc)["subscriptions"].as_array().unwrap().iter().all(|s| s["confirmed_at"].is_string()))
            .then_some(())
    });
    let s0 = &shown["subscriptions"][0];
    assert!(s0["subscription_id"].is_string(), "{s0}");
    assert!(s0["destination_arn"].as_str().unwrap().starts_with("arn:aws:sqs:us-east-1:123456789012:brand-a-ams"));

    // Data Amazon sends afterwards lands in the tenant's schema.
    let record = ams_tests::fixture("sp-traffic.json");
    rt.block_on(aws::send_all(&h.moto.platform(), &na_queue, &[record]));
    let store = rt.block_on(h.db.store());
    eventually("the record in tenant_agency.amzn_stream_sp_traffic", 60, &h.serve, || {
        let n: i64 = rt.block_on(sqlx::query_scalar("SELECT count(*) FROM tenant_agency.amzn_stream_sp_traffic").fetch_one(store.pool())).unwrap_or(0);
        (n == 1).then_some(())
    });

    // The checklist shows each subscription's status, and the DSP advertiser's region.
    let checklist = h.api.ok("GET", &format!("/v1/tenants/agency/accounts/{a}/onboarding"), Some(&key), None, 200);
    assert!(checklist.to_string().contains("ACTIVE"), "{checklist}");
    let c_list = h.api.ok("GET", &format!("/v1/tenants/agency/accounts/{c_account}/onboarding"), Some(&key), None, 200);
    assert_eq!(c_list["regions"][0]["dsp_advertisers"], json!(["5550002"]), "{c_list}");

    // Secrets: never in an answer or the log, not stored in clear.
    let log = h.serve.log_text();
    for secret in [TOKEN_A, CLIENT_SECRET] {
        assert!(!log.contains(secret), "a secret in the log");
        assert!(answers.iter().all(|v| !v.to_string().contains(secret)), "a secret in an answer");
        let listed = h.api.ok("GET", "/v1/tenants/agency/ads-connections", Some(&key), None, 200);
        assert!(!listed.to_string().contains(secret));
        let rows: Vec<String> = rt
            .block_on(sqlx::query_scalar("SELECT t::text FROM control.ads_connections t").fetch_all(store.pool()))
            .unwrap();
        assert!(rows.iter().all(|r| !r.contains(secret) && !r.contains(&hex(secret))), "stored in clear");
    }
    let metrics = h.api.metrics_text();
    assert!(metrics.contains("ams_hub_ads_connections{tenant=\"agency\",status=\"active\"} 1"), "{metrics}");
    h.amazon.assert_contract_kept();
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_crash_between_create_and_answer_makes_no_duplicate() {
    let mut h = hub();
    let key = tenant(&h.api, "crash");
    let rt = tokio::runtime::Runtime::new().unwrap();
    h.amazon.add_login(TOKEN_A, vec![profile(1001, "US", "ATVPDKIKX0DER", "ENTITYAAAA1", "Brand A")]);
    let c = h.api.ok("POST", "/v1/tenants/crash/ads-connections", Some(&key), Some(&json!({"name": "main", "region": "NA", "refresh_token": TOKEN_A})), 201);
    let imported = h.api.ok("POST", &format!("/v1/tenants/crash/ads-connections/{}/import", c["id"].as_str().unwrap()), Some(&key), None, 200);
    let a = imported["accounts"][0]["account_id"].as_str().unwrap().to_owned();
    queue(&h, &rt, &key, "crash", &a, "us-east-1", "crash-ams");
    // Amazon makes the subscription, and ams-hub dies before the answer arrives.
    h.amazon.hang_next_create();
    h.api.ok("PUT", &format!("/v1/tenants/crash/accounts/{a}/streams"), Some(&key), Some(&json!({"datasets": ["sp-traffic"]})), 200);
    eventually("Amazon to make the subscription", 60, &h.serve, || (!h.amazon.subscriptions().is_empty()).then_some(()));
    let requested = streams(&h.api, &key, "crash", &a);
    assert_eq!(requested["subscriptions"][0]["status"], "REQUESTED", "{requested}");
    h.serve.kill9();
    let (serve, api) = start_serve(&h.db, &h.moto, &h.amazon);
    eventually("the subscription ACTIVE after the restart", 120, &serve, || {
        all_status(&streams(&api, &key, "crash", &a), 1, "ACTIVE").then_some(())
    });
    let subs = h.amazon.subscriptions();
    assert_eq!(subs.len(), 1, "no duplicate: {subs:?}");
    let shown = streams(&api, &key, "crash", &a);
    assert_eq!(shown["subscriptions"][0]["subscription_id"], subs[0].id.as_str());
    h.amazon.assert_contract_kept();
}

/// Archiving, as Amazon allows it: only ACTIVE subscriptions can be archived. A failed one
/// Amazon refuses to archive is let go (released) and replaced, within the two-per-dataset
/// limit, and never asked again; one nobody wants any more is archived when ACTIVE, released
/// when dead.
#[test]
fn undeclared_datasets_and_deleted_accounts_are_archived_and_failed_ones_recreated() {
    let h = hub();
    let key = tenant(&h.api, "tidy");
    let rt = tokio::runtime::Runtime::new().unwrap();
    h.amazon.add_login(TOKEN_A, vec![profile(1001, "US", "ATVPDKIKX0DER", "ENTITYAAAA1", "Brand A")]);
    let c = h.api.ok("POST", "/v1/tenants/tidy/ads-connections", Some(&key), Some(&json!({"name": "main", "region": "NA", "refresh_token": TOKEN_A})), 201);
    let imported = h.api.ok("POST", &format!("/v1/tenants/tidy/ads-connections/{}/import", c["id"].as_str().unwrap()), Some(&key), None, 200);
    let a = imported["accounts"][0]["account_id"].as_str().unwrap().to_owned();
    queue(&h, &rt, &key, "tidy", &a, "us-east-1", "tidy-ams");
    h.api.ok("PUT", &format!("/v1/tenants/tidy/accounts/{a}/streams"), Some(&key), Some(&json!({"datasets": ["sp-traffic", "budget-usage"]})), 200);
    eventually("two ACTIVE", 90, &h.serve, || all_status(&streams(&h.api, &key, "tidy", &a), 2, "ACTIVE").then_some(()));

    // Amazon gives up on one's confirmation. It cannot be archived: released, and the next
    // generation made (two per dataset: the failed one and the new one).
    let failed = h.amazon.subscriptions().into_iter().find(|s| s.dataset == "budget-usage").unwrap();
    h.amazon.fail_confirmation(&failed.id);
    let gens = eventually("budget-usage recreated and ACTIVE in ams-hub", 90, &h.serve, || {
        let shown = streams(&h.api, &key, "tidy", &a);
        let gens: Vec<Value> = shown["subscriptions"].as_array().unwrap().iter().filter(|s| s["dataset"] == "budget-usage").cloned().collect();
        (gens.len() == 2 && gens[0]["status"] == "ACTIVE").then_some(gens)
    });
    assert_eq!((gens[0]["generation"].as_i64(), gens[0]["released_at"].is_null()), (Some(1), true));
    assert_eq!((gens[1]["generation"].as_i64(), gens[1]["status"].as_str()), (Some(0), Some("FAILED_CONFIRMATION")));
    assert!(gens[1]["released_at"].is_string(), "{gens:?}");
    assert!(gens[1]["last_error"].as_str().unwrap().contains("would not archive"), "{gens:?}");
    let budget: Vec<_> = h.amazon.subscriptions().into_iter().filter(|s| s.dataset == "budget-usage").collect();
    assert_eq!((budget[0].status.as_str(), budget[1].status.as_str()), ("FAILED_CONFIRMATION", "ACTIVE"));

    // No loop on the refusal: several passes later, Amazon was asked once.
    let lists = |h: &Hub| h.amazon.seen().iter().filter(|(m, p, _)| m == "GET" && p == "/streams/subscriptions").count();
    let before = lists(&h);
    eventually("five more passes", 60, &h.serve, || (lists(&h) >= before + 5).then_some(()));
    let archive_calls = |id: &str| h.amazon.seen().iter().filter(|(m, p, _)| m == "PUT" && p.ends_with(id)).count();
    assert_eq!(archive_calls(&failed.id), 1, "Amazon's refusal to archive is not retried");

    // Suspended by Amazon: shown, and not recreated (Amazon cannot resume it).
    let sp = h.amazon.subscriptions().into_iter().find(|s| s.dataset == "sp-traffic").unwrap();
    h.amazon.suspend(&sp.id);
    h.api.ok("PUT", &format!("/v1/tenants/tidy/accounts/{a}/streams"), Some(&key), Some(&json!({"datasets": ["sp-traffic", "budget-usage"]})), 200);
    let suspended = eventually("sp-traffic SUSPENDED in ams-hub", 60, &h.serve, || {
        let shown = streams(&h.api, &key, "tidy", &a);
        shown["subscriptions"].as_array().unwrap().iter().find(|s| s["dataset"] == "sp-traffic" && s["status"] == "SUSPENDED").cloned()
    });
    assert!(suspended["last_error"].as_str().unwrap().contains("cannot reactivate"), "{suspended}");
    assert_eq!(h.amazon.subscriptions().iter().filter(|s| s.dataset == "sp-traffic").count(), 1, "not recreated");

    // Removing a dataset archives its (ACTIVE) subscription; the other stays.
    h.api.ok("PUT", &format!("/v1/tenants/tidy/accounts/{a}/streams"), Some(&key), Some(&json!({"datasets": ["sp-traffic"]})), 200);
    eventually("budget-usage generation 1 archived at Amazon", 60, &h.serve, || {
        h.amazon.subscriptions().iter().any(|s| s.dataset == "budget-usage" && s.status == "ARCHIVED").then_some(())
    });
    assert!(h.amazon.subscriptions().iter().any(|s| s.dataset == "sp-traffic" && s.status == "SUSPENDED"));

    // Deleting the account: the suspended one cannot be archived either, and is let go.
    h.api.ok("DELETE", &format!("/v1/tenants/tidy/accounts/{a}"), Some(&key), None, 204);
    let store = rt.block_on(h.db.store());
    eventually("nothing left open in ams-hub", 60, &h.serve, || {
        let open: i64 = rt
            .block_on(sqlx::query_scalar("SELECT count(*) FROM control.stream_subscriptions WHERE status <> 'ARCHIVED' AND released_at IS NULL").fetch_one(store.pool()))
            .unwrap();
        (open == 0).then_some(())
    });
    let mut at_amazon: Vec<(String, String)> = h.amazon.subscriptions().iter().map(|s| (s.dataset.clone(), s.status.clone())).collect();
    at_amazon.sort();
    let want = [("budget-usage", "ARCHIVED"), ("budget-usage", "FAILED_CONFIRMATION"), ("sp-traffic", "SUSPENDED")];
    assert_eq!(at_amazon, want.map(|(d, s)| (d.to_owned(), s.to_owned())), "every ACTIVE one archived; the dead ones left as Amazon keeps them");
    assert_eq!(archive_calls(&sp.id), 1, "the suspended one was asked once");
    assert_eq!(h.amazon.subscriptions().len(), 3, "nothing created after the deletion");
    h.amazon.assert_contract_kept();
}

/// Only Amazon's definitive refusal of a login invalidates it: LwA throttling (429) or failing
/// (5xx) during an import or a pass never does, and a profile the login lost (401 on its
/// calls, a fresh token or not) stops that profile's subscriptions only.
#[test]
fn transient_errors_never_invalidate_a_login_and_a_lost_profile_stops_only_its_subscriptions() {
    let h = hub();
    let key = tenant(&h.api, "steady");
    let rt = tokio::runtime::Runtime::new().unwrap();
    h.amazon.add_login(
        TOKEN_A,
        vec![profile(1001, "US", "ATVPDKIKX0DER", "ENTITYAAAA1", "Brand A"), profile(1002, "CA", "A2EUQ1WTGCTBG2", "ENTITYAAAA1", "Brand A")],
    );
    let c = h.api.ok("POST", "/v1/tenants/steady/ads-connections", Some(&key), Some(&json!({"name": "main", "region": "NA", "refresh_token": TOKEN_A})), 201);
    let id = c["id"].as_str().unwrap().to_owned();
    let import_path = format!("/v1/tenants/steady/ads-connections/{id}/import");
    let imported = h.api.ok("POST", &import_path, Some(&key), None, 200);
    let a = imported["accounts"][0]["account_id"].as_str().unwrap().to_owned();
    queue(&h, &rt, &key, "steady", &a, "us-east-1", "steady-ams");
    let connection = || h.api.ok("GET", &format!("/v1/tenants/steady/ads-connections/{id}"), Some(&key), None, 200);

    // LwA throttles, then fails, all through an import: 503, and the login stays active.
    h.amazon.expire_access_tokens();
    h.amazon.fail_lwa_next(&[429, 503, 503, 503, 503, 503]);
    let (status, body) = h.api.call("POST", &import_path, Some(&key), None);
    assert_eq!((status, body["error"]["code"].as_str()), (503, Some("amazon_unavailable")), "{body}");
    assert_eq!(h.amazon.lwa_faults_left(), 0);
    assert_eq!(connection()["status"], "active");

    // The login loses the CA profile: CA's subscription says why, the US one goes ACTIVE.
    h.amazon.deny("1002");
    h.api.ok("PUT", &format!("/v1/tenants/steady/accounts/{a}/streams"), Some(&key), Some(&json!({"datasets": ["sp-traffic"]})), 200);
    eventually("US ACTIVE, CA refused", 60, &h.serve, || {
        let shown = streams(&h.api, &key, "steady", &a);
        let subs = shown["subscriptions"].as_array().unwrap().clone();
        let us = subs.iter().find(|s| s["marketplace"] == "US")?;
        let ca = subs.iter().find(|s| s["marketplace"] == "CA")?;
        (us["status"] == "ACTIVE" && ca["last_error"].as_str().is_some_and(|e| e.contains("no longer reaches"))).then_some(())
    });
    assert_eq!(connection()["status"], "active", "one profile lost is not the login lost");

    // LwA throttles and fails during a pass: the pass waits for the next, the login stays.
    h.amazon.expire_access_tokens();
    h.amazon.fail_lwa_next(&[429, 503, 503, 503, 503, 503]);
    h.api.ok("PUT", &format!("/v1/tenants/steady/accounts/{a}/streams"), Some(&key), Some(&json!({"datasets": ["sp-traffic", "sp-conversion"]})), 200);
    eventually("the US sp-conversion ACTIVE once LwA answers again", 90, &h.serve, || {
        let shown = streams(&h.api, &key, "steady", &a);
        shown["subscriptions"].as_array().unwrap().iter().any(|s| s["marketplace"] == "US" && s["dataset"] == "sp-conversion" && s["status"] == "ACTIVE").then_some(())
    });
    assert_eq!(h.amazon.lwa_faults_left(), 0, "the faults were served");
    let c = connection();
    assert_eq!((c["status"].as_str(), &c["invalid_reason"]), (Some("active"), &Value::Null), "{c}");
    assert!(h.amazon.subscriptions().iter().all(|s| s.scope == "1001"), "nothing made for the lost profile");
    h.amazon.assert_contract_kept();
}

/// A subscription Amazon's list leaves out is read by id (`{"subscription": {…}}`), and its
/// status kept.
#[test]
fn a_subscription_missing_from_the_list_is_read_by_id() {
    let h = hub();
    let key = tenant(&h.api, "byid");
    let rt = tokio::runtime::Runtime::new().unwrap();
    h.amazon.add_login(TOKEN_A, vec![profile(1001, "US", "ATVPDKIKX0DER", "ENTITYAAAA1", "Brand A")]);
    let c = h.api.ok("POST", "/v1/tenants/byid/ads-connections", Some(&key), Some(&json!({"name": "main", "region": "NA", "refresh_token": TOKEN_A})), 201);
    let imported = h.api.ok("POST", &format!("/v1/tenants/byid/ads-connections/{}/import", c["id"].as_str().unwrap()), Some(&key), None, 200);
    let a = imported["accounts"][0]["account_id"].as_str().unwrap().to_owned();
    queue(&h, &rt, &key, "byid", &a, "us-east-1", "byid-ams");
    h.api.ok("PUT", &format!("/v1/tenants/byid/accounts/{a}/streams"), Some(&key), Some(&json!({"datasets": ["sp-traffic"]})), 200);
    eventually("ACTIVE", 60, &h.serve, || all_status(&streams(&h.api, &key, "byid", &a), 1, "ACTIVE").then_some(()));
    let sub = h.amazon.subscriptions().remove(0);
    h.amazon.hide_from_list(&sub.id);
    let reads = || h.amazon.seen().iter().filter(|(m, p, st)| m == "GET" && p.ends_with(&sub.id) && *st == 200).count();
    h.api.ok("PUT", &format!("/v1/tenants/byid/accounts/{a}/streams"), Some(&key), Some(&json!({"datasets": ["sp-traffic"]})), 200);
    eventually("two passes reading it by id", 60, &h.serve, || (reads() >= 2).then_some(()));
    let shown = streams(&h.api, &key, "byid", &a);
    let row = &shown["subscriptions"][0];
    assert_eq!((row["status"].as_str(), &row["last_error"]), (Some("ACTIVE"), &Value::Null), "{row}");
    assert_eq!(h.amazon.subscriptions().len(), 1, "not made again");
    h.amazon.assert_contract_kept();
}

/// Disabled means stopped: a disabled tenant's subscriptions are neither created nor synced
/// (another tenant's go on), a consent link minted before connects nothing, and enabling it
/// again resumes where it stood.
#[test]
fn a_disabled_tenant_is_neither_subscribed_nor_synced_and_resumes_when_enabled() {
    let h = hub();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = rt.block_on(h.db.store());
    let mut accounts = Vec::new();
    for (slug, token, profile_id) in [("paused", TOKEN_A, 1001), ("busy", TOKEN_B, 2001)] {
        let key = tenant(&h.api, slug);
        h.amazon.add_login(token, vec![profile(profile_id, "US", "ATVPDKIKX0DER", &format!("ENTITY{profile_id}"), slug)]);
        let c = h.api.ok("POST", &format!("/v1/tenants/{slug}/ads-connections"), Some(&key), Some(&json!({"name": "main", "region": "NA", "refresh_token": token})), 201);
        let imported = h.api.ok("POST", &format!("/v1/tenants/{slug}/ads-connections/{}/import", c["id"].as_str().unwrap()), Some(&key), None, 200);
        let a = imported["accounts"][0]["account_id"].as_str().unwrap().to_owned();
        queue(&h, &rt, &key, slug, &a, "us-east-1", &format!("{slug}-ams"));
        h.api.ok("PUT", &format!("/v1/tenants/{slug}/accounts/{a}/streams"), Some(&key), Some(&json!({"datasets": ["sp-traffic"]})), 200);
        eventually("ACTIVE", 60, &h.serve, || all_status(&streams(&h.api, &key, slug, &a), 1, "ACTIVE").then_some(()));
        accounts.push((slug, key, a));
    }
    let (paused_key, paused) = (accounts[0].1.clone(), accounts[0].2.clone());
    let redirect = format!("{}/oauth/amazon/callback", h.api.base);
    let auth = h.api.ok("GET", &format!("/v1/tenants/paused/ads-connections/authorize?region=NA&redirect_uri={}&name=later", urlencode(&redirect)), Some(&paused_key), None, 200);
    let link = auth["url"].as_str().unwrap().to_owned();
    let state = link.split("state=").nth(1).unwrap().to_owned();
    let (status, cookie, _) = visit(&link, None);
    assert_eq!(status, 200);

    h.api.ok("PATCH", "/v1/tenants/paused", ADMIN, Some(&json!({"status": "disabled"})), 200);
    // What was declared just before (as PUT …/streams writes it), and a change at Amazon.
    rt.block_on(sqlx::query("UPDATE control.accounts SET stream_datasets = '{sp-traffic,sp-conversion}' WHERE id = $1::uuid").bind(&paused).execute(store.pool())).unwrap();
    let paused_sub = h.amazon.subscriptions().into_iter().find(|s| s.scope == "1001").unwrap();
    h.amazon.suspend(&paused_sub.id);
    // The other tenant is served meanwhile: a change of its own goes through.
    let (busy_key, busy) = (&accounts[1].1, &accounts[1].2);
    h.api.ok("PUT", &format!("/v1/tenants/busy/accounts/{busy}/streams"), Some(busy_key), Some(&json!({"datasets": ["sp-traffic", "budget-usage"]})), 200);
    eventually("the active tenant's new subscription ACTIVE", 60, &h.serve, || all_status(&streams(&h.api, busy_key, "busy", busy), 2, "ACTIVE").then_some(()));
    let lists = |h: &Hub| h.amazon.seen().iter().filter(|(m, p, _)| m == "GET" && p == "/streams/subscriptions").count();
    let before = lists(&h);
    eventually("three more passes", 60, &h.serve, || (lists(&h) >= before + 3).then_some(()));
    assert!(h.amazon.subscriptions().iter().all(|s| s.scope != "1001" || s.dataset == "sp-traffic"), "nothing created for the disabled tenant");
    let frozen: String = rt
        .block_on(sqlx::query_scalar("SELECT status FROM control.stream_subscriptions WHERE account_id = $1::uuid").bind(&paused).fetch_one(store.pool()))
        .unwrap();
    assert_eq!(frozen, "ACTIVE", "not synced while disabled");

    // A consent link minted before connects nothing.
    let code = h.amazon.issue_code(TOKEN_A, &redirect);
    let (status, body) = callback(&h.api, &format!("code={code}&state={state}"), cookie.as_deref());
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("tenant_disabled")), "{body}");
    let (status, _, page) = visit(&link, cookie.as_deref());
    assert!(status == 403 && page.contains("disabled"), "the start page refuses too: {status} {page}");
    let n: i64 = rt
        .block_on(sqlx::query_scalar("SELECT count(*) FROM control.ads_connections c JOIN control.tenants t ON t.id = c.tenant_id WHERE t.slug = 'paused'").fetch_one(store.pool()))
        .unwrap();
    assert_eq!(n, 1, "no connection made");

    // Enabled again: it resumes where it stood.
    h.api.ok("PATCH", "/v1/tenants/paused", ADMIN, Some(&json!({"status": "active"})), 200);
    eventually("sp-conversion made and ACTIVE, sp-traffic synced to SUSPENDED", 60, &h.serve, || {
        let shown = streams(&h.api, &paused_key, "paused", &paused);
        let subs = shown["subscriptions"].as_array().unwrap().clone();
        let status = |d: &str| subs.iter().find(|s| s["dataset"] == d).map(|s| s["status"].as_str().unwrap_or_default().to_owned());
        (status("sp-conversion").as_deref() == Some("ACTIVE") && status("sp-traffic").as_deref() == Some("SUSPENDED")).then_some(())
    });
    h.amazon.assert_contract_kept();
}

#[test]
fn a_revoked_login_turns_its_connection_invalid_and_others_keep_working() {
    let h = hub();
    let key = tenant(&h.api, "two");
    let other = tenant(&h.api, "other");
    let rt = tokio::runtime::Runtime::new().unwrap();
    h.amazon.add_login(TOKEN_A, vec![profile(1001, "US", "ATVPDKIKX0DER", "ENTITYAAAA1", "Brand A")]);
    h.amazon.add_login(TOKEN_B, vec![profile(2001, "UK", "A1F83G8C2ARO7P", "ENTITYBBBB2", "Brand B")]);

    // A token Amazon does not know: 422 with Amazon's error code, nothing stored.
    let (status, body) = h.api.call("POST", "/v1/tenants/two/ads-connections", Some(&key), Some(&json!({"name": "x", "region": "NA", "refresh_token": "Atzr|unknown"})));
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "amazon_refused");
    assert!(body["error"]["message"].as_str().unwrap().contains("invalid_grant"), "{body}");
    assert!(h.api.ok("GET", "/v1/tenants/two/ads-connections", Some(&key), None, 200).as_array().unwrap().is_empty());

    let mut ids = Vec::new();
    let mut accounts = Vec::new();
    for (name, token, region, queue_region) in [("a", TOKEN_A, "NA", "us-east-1"), ("b", TOKEN_B, "EU", "eu-west-1")] {
        let c = h.api.ok("POST", "/v1/tenants/two/ads-connections", Some(&key), Some(&json!({"name": name, "region": region, "refresh_token": token})), 201);
        let id = c["id"].as_str().unwrap().to_owned();
        let imported = h.api.ok("POST", &format!("/v1/tenants/two/ads-connections/{id}/import"), Some(&key), None, 200);
        let account = imported["accounts"][0]["account_id"].as_str().unwrap().to_owned();
        queue(&h, &rt, &key, "two", &account, queue_region, &format!("two-{name}"));
        h.api.ok("PUT", &format!("/v1/tenants/two/accounts/{account}/streams"), Some(&key), Some(&json!({"datasets": ["sp-traffic"]})), 200);
        ids.push(id);
        accounts.push(account);
    }
    for acc in &accounts {
        eventually("ACTIVE", 90, &h.serve, || all_status(&streams(&h.api, &key, "two", acc), 1, "ACTIVE").then_some(()));
    }
    // Another tenant sees none of it.
    assert_eq!(h.api.call("GET", &format!("/v1/tenants/two/ads-connections/{}", ids[0]), Some(&other), None).0, 404);
    assert_eq!(h.api.call("GET", &format!("/v1/tenants/two/accounts/{}/streams", accounts[0]), Some(&other), None).0, 404);
    assert_eq!(h.api.call("POST", &format!("/v1/tenants/other/ads-connections/{}/import", ids[0]), Some(&other), None).0, 404);

    h.amazon.revoke(TOKEN_A);
    // A change makes the reconciler call Amazon for both logins.
    for acc in &accounts {
        h.api.ok("PUT", &format!("/v1/tenants/two/accounts/{acc}/streams"), Some(&key), Some(&json!({"datasets": ["sp-traffic", "sp-conversion"]})), 200);
    }
    let invalid = eventually("connection a invalid", 60, &h.serve, || {
        let c = h.api.ok("GET", &format!("/v1/tenants/two/ads-connections/{}", ids[0]), Some(&key), None, 200);
        (c["status"] == "invalid").then_some(c)
    });
    assert!(invalid["invalid_reason"].as_str().unwrap().contains("invalid_grant"), "{invalid}");
    eventually("login b's new subscription ACTIVE", 90, &h.serve, || all_status(&streams(&h.api, &key, "two", &accounts[1]), 2, "ACTIVE").then_some(()));
    let b = h.api.ok("GET", &format!("/v1/tenants/two/ads-connections/{}", ids[1]), Some(&key), None, 200);
    assert_eq!(b["status"], "active");
    let a_streams = streams(&h.api, &key, "two", &accounts[0]);
    assert!(a_streams["subscriptions"].as_array().unwrap().iter().any(|s| s["last_error"].as_str().is_some_and(|e| e.contains("invalid"))), "{a_streams}");
    let metrics = h.api.metrics_text();
    assert!(metrics.contains("ams_hub_ads_connections{tenant=\"two\",status=\"invalid\"} 1"), "{metrics}");
    assert!(metrics.contains("ams_hub_ads_connections{tenant=\"two\",status=\"active\"} 1"), "{metrics}");
    assert!(!h.serve.log_text().contains(TOKEN_A));
    h.amazon.assert_contract_kept();
}

#[test]
fn the_consent_flow_connects_a_login_only_in_the_browser_that_opened_ams_hubs_page() {
    let h = hub();
    let key = tenant(&h.api, "consent");
    h.amazon.add_login(TOKEN_A, vec![profile(1001, "US", "ATVPDKIKX0DER", "ENTITYAAAA1", "Brand A")]);
    let redirect = format!("{}/oauth/amazon/callback", h.api.base);
    let auth = h.api.ok(
        "GET",
        &format!("/v1/tenants/consent/ads-connections/authorize?region=NA&redirect_uri={}&name=consented", urlencode(&redirect)),
        Some(&key),
        None,
        200,
    );
    // ams-hub's own page first, on the server the callback is on: never straight to Amazon.
    let url = auth["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{}/oauth/amazon/start?state=", h.api.base)), "{url}");
    let state = url.split("state=").nth(1).unwrap().to_owned();

    // The person who asked opens it: the page names the tenant and the connection, and binds
    // the link to this browser with a cookie.
    let (status, cookie, page) = visit(url, None);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<strong>consent</strong> (tenant <code>consent</code>)") && page.contains("<strong>consented</strong>"), "{page}");
    let cookie = cookie.expect("the page binds the link to this browser");
    let amazon = continue_link(&page);
    assert!(amazon.starts_with(&format!("https://www.amazon.com/ap/oa?client_id={CLIENT_ID}&scope=advertising%3A%3Acampaign_management")), "{amazon}");
    assert!(amazon.ends_with(&format!("state={state}")), "{amazon}");
    // Reloaded in the same browser: the same page.
    assert_eq!(visit(url, Some(&cookie)).0, 200);

    // The link forwarded to someone else: their browser is refused the page ...
    let (status, other_cookie, page) = visit(url, None);
    assert_eq!(status, 409, "{page}");
    assert!(other_cookie.is_none() && page.contains("opened already") && !page.contains("ap/oa"), "{page}");
    // ... and Amazon's URL, forwarded instead, comes back to a callback that connects nothing.
    let code = h.amazon.issue_code(TOKEN_A, &redirect);
    let (status, body) = callback(&h.api, &format!("code={code}&state={state}"), None);
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("consent_not_bound")), "{body}");
    let (status, body) = callback(&h.api, &format!("code={code}&state={state}"), Some("ams_consent_0123456789abcdef0123456789abcdef=1"));
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("consent_not_bound")), "another link's cookie: {body}");
    let (_, listed) = h.api.call("GET", "/v1/tenants/consent/ads-connections", Some(&key), None);
    assert_eq!(listed.as_array().map(Vec::len), Some(0), "nothing connected: {listed}");

    let forged = callback(&h.api, &format!("code={code}&state=eyJ0Ijoib3RoZXIifQ.AAAA"), Some(&cookie));
    assert_eq!(forged.0, 400, "{}", forged.1);
    assert_eq!(visit(&format!("{}/oauth/amazon/start?state=eyJ0Ijoib3RoZXIifQ.AAAA", h.api.base), None).0, 400);
    // The browser that opened the page connects (the code was not spent by the refusals).
    let (status, c) = callback(&h.api, &format!("code={code}&state={state}"), Some(&cookie));
    assert_eq!(status, 201, "{c}");
    assert_eq!(c["name"], "consented");
    assert_eq!(c["profiles"][0]["advertiser_id"], "ENTITYAAAA1");
    // The code is spent: Amazon refuses it again.
    let replay = callback(&h.api, &format!("code={code}&state={state}"), Some(&cookie));
    assert_eq!(replay.0, 422, "{}", replay.1);
    let declined = h.api.call("GET", "/oauth/amazon/callback?error=access_denied&error_description=declined", None, None);
    assert_eq!(declined.0, 400);
    assert!(!h.serve.log_text().contains(TOKEN_A));
    h.amazon.assert_contract_kept();
}

/// A browser's visit to a page: status, the cookie set (`name=value`), the HTML.
fn visit(url: &str, cookie: Option<&str>) -> (u16, Option<String>, String) {
    let mut req = ureq::get(url).timeout(Duration::from_secs(30));
    if let Some(c) = cookie {
        req = req.set("Cookie", c);
    }
    let r = match req.call() {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("GET {url}: {e}"),
    };
    let status = r.status();
    let cookie = r.header("Set-Cookie").map(|c| c.split(';').next().unwrap().to_owned());
    (status, cookie, r.into_string().unwrap())
}

/// Where the consent page's "Continue to Amazon" goes.
fn continue_link(page: &str) -> String {
    let a = &page[page.find("id=\"continue\"").expect("a continue link")..];
    let href = a.split("href=\"").nth(1).unwrap().split('"').next().unwrap();
    href.replace("&amp;", "&").replace("&#x2f;", "/").replace("&#x3d;", "=")
}

/// Amazon sending a browser (with `cookie`, when it has one) back to the callback.
fn callback(api: &Api, query: &str, cookie: Option<&str>) -> (u16, Value) {
    let mut req = ureq::get(&format!("{}/oauth/amazon/callback?{query}", api.base)).timeout(Duration::from_secs(30));
    if let Some(c) = cookie {
        req = req.set("Cookie", c);
    }
    let r = match req.call() {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("callback: {e}"),
    };
    (r.status(), r.into_json().unwrap_or(Value::Null))
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Key rotation and ids from before the key: an external id written in clear is sealed when a
/// server starts with a key; `ams-hub rotate-secrets` re-seals everything with a new key, after
/// which a server with only the new key opens every secret (the template shows the same
/// external id; a connection's refresh token still reaches Amazon).
#[test]
fn clear_external_ids_are_sealed_at_start_and_rotate_secrets_moves_every_secret_to_a_new_key() {
    const NEW_KEY: &str = "bmV3LXNlY3JldC1rZXktZm9yLXJvdGF0aW9uLXRlc3Q=";
    let db = TestDb::new();
    let moto = Moto::start();
    let amazon = AmazonStandIn::start(&moto.url);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = rt.block_on(db.store());
    let tenant_row = rt.block_on(store.provision_tenant(&ams_store::TenantSlug::parse("rot").unwrap(), "rot")).unwrap();
    // Written in clear by a server without a key.
    let account = rt.block_on(store.create_account(tenant_row.id, "Old Brand", None, "ams-old-clear-external-id-0123456789")).unwrap();
    let clear: Option<String> = rt.block_on(sqlx::query_scalar("SELECT external_id FROM control.accounts").fetch_one(store.pool())).unwrap();
    assert_eq!(clear.as_deref(), Some("ams-old-clear-external-id-0123456789"));

    let principal = ("AMS_HUB_PLATFORM_PRINCIPAL", "arn:aws:iam::999999999999:role/ams-hub");
    let mut vars = env(&amazon);
    vars.push((principal.0, principal.1.into()));
    let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (mut serve, api) = serve_with_api(&db, &moto.url, &pairs);
    let sealed: (Option<String>, Option<Vec<u8>>) =
        rt.block_on(sqlx::query_as("SELECT external_id, external_id_sealed FROM control.accounts").fetch_one(store.pool())).unwrap();
    assert_eq!(sealed.0, None, "sealed at start");
    assert!(sealed.1.is_some());
    let key = api.ok("POST", "/v1/tenants/rot/api-keys", ADMIN, Some(&json!({"name": "k", "scope": "admin"})), 201)["token"].as_str().unwrap().to_owned();
    api.ok("POST", &format!("/v1/tenants/rot/accounts/{}/marketplaces", account.id), Some(&key), Some(&json!({"marketplace": "US"})), 201);
    let template = |api: &Api| {
        let r = ureq::get(&format!("{}/v1/tenants/rot/accounts/{}/aws-template?region=us-east-1", api.base, account.id))
            .set("Authorization", &format!("Bearer {key}"))
            .call()
            .unwrap();
        r.into_string().unwrap()
    };
    assert!(template(&api).contains("ams-old-clear-external-id-0123456789"), "the sealed id opens");
    h_login(&api, &amazon, &key);
    serve.terminate(30);

    // Rotate: the new key seals, the old one only opens.
    let out = std::process::Command::new(ams_tests::ams_hub_bin())
        .arg("rotate-secrets")
        .env("DATABASE_URL", &db.url)
        .env("AMS_HUB_SECRET_KEY", NEW_KEY)
        .env("AMS_HUB_SECRET_KEY_PREVIOUS", SECRET_KEY)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("3 secrets re-sealed"), "an external id, a client secret, a refresh token: {stdout}");

    // A server with only the new key opens all of them.
    let vars: Vec<(&str, String)> = vars.into_iter().map(|(k, v)| if k == "AMS_HUB_SECRET_KEY" { (k, NEW_KEY.to_owned()) } else { (k, v) }).collect();
    let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (serve, api) = serve_with_api(&db, &moto.url, &pairs);
    assert!(template(&api).contains("ams-old-clear-external-id-0123456789"));
    let connections = api.ok("GET", "/v1/tenants/rot/ads-connections", Some(&key), None, 200);
    let id = connections[0]["id"].as_str().unwrap();
    api.ok("POST", &format!("/v1/tenants/rot/ads-connections/{id}/import"), Some(&key), None, 200);
    assert_eq!(api.ok("GET", "/v1/tenants/rot/ads-app", Some(&key), None, 200)["source"], "tenant");
    assert!(!serve.log_text().contains("ams-old-clear-external-id-0123456789"));
    amazon.assert_contract_kept();
}

/// A tenant app of its own and a login made with it.
fn h_login(api: &Api, amazon: &AmazonStandIn, key: &str) {
    amazon.add_app("amzn1.application-oa2-client.tenant", "tenant-app-secret-0123456789");
    amazon.add_login_for("amzn1.application-oa2-client.tenant", TOKEN_B, vec![profile(3001, "US", "ATVPDKIKX0DER", "ENTITYCCCC3", "Brand C")]);
    let app = api.ok("PUT", "/v1/tenants/rot/ads-app", Some(key), Some(&json!({"client_id": "amzn1.application-oa2-client.tenant", "client_secret": "tenant-app-secret-0123456789"})), 200);
    assert!(!app.to_string().contains("tenant-app-secret"));
    api.ok("POST", "/v1/tenants/rot/ads-connections", Some(key), Some(&json!({"name": "own app", "region": "NA", "refresh_token": TOKEN_B})), 201);
}

/// A change made through a replica that does not lead the Ads reconciler reaches the leader at
/// once (Postgres NOTIFY), not at its next scheduled pass (five minutes here).
#[test]
fn a_change_through_any_replica_wakes_the_leading_reconciler() {
    let db = TestDb::new();
    let moto = Moto::start();
    let amazon = AmazonStandIn::start(&moto.url);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = rt.block_on(db.store());
    let start = |id: &str| {
        let mut vars = env(&amazon);
        vars.retain(|(k, _)| !k.starts_with("AMS_HUB_ADS_") || k.contains("CLIENT") || k.contains("URL"));
        vars.extend([("AMS_HUB_ADS_SYNC_SECS", "300".into()), ("AMS_HUB_ADS_PENDING_SYNC_SECS", "300".into()), ("AMS_HUB_REPLICA_ID", id.into())]);
        let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        serve_with_api(&db, &moto.url, &pairs)
    };
    let (leader, _) = start("replica-a");
    let leading = || -> Option<String> {
        rt.block_on(sqlx::query_scalar("SELECT owner FROM control.leader_leases WHERE role = 'ads-reconciler'").fetch_optional(store.pool()))
            .unwrap()
    };
    eventually("replica A to lead the Ads reconciler", 30, &leader, || (leading().as_deref() == Some("replica-a")).then_some(()));
    let (other, api) = start("replica-b");
    let key = tenant(&api, "wake");
    amazon.add_login(TOKEN_A, vec![profile(1001, "US", "ATVPDKIKX0DER", "ENTITYAAAA1", "Brand A")]);
    let c = api.ok("POST", "/v1/tenants/wake/ads-connections", Some(&key), Some(&json!({"name": "main", "region": "NA", "refresh_token": TOKEN_A})), 201);
    let imported = api.ok("POST", &format!("/v1/tenants/wake/ads-connections/{}/import", c["id"].as_str().unwrap()), Some(&key), None, 200);
    let a = imported["accounts"][0]["account_id"].as_str().unwrap().to_owned();
    let config = moto.platform();
    let url = rt.block_on(aws::create_queue(&config, "wake-ams"));
    api.ok("POST", &format!("/v1/tenants/wake/accounts/{a}/queues"), Some(&key), Some(&json!({"queue_url": url, "region": "us-east-1"})), 201);
    api.ok("PUT", &format!("/v1/tenants/wake/accounts/{a}/streams"), Some(&key), Some(&json!({"datasets": ["sp-traffic"]})), 200);
    eventually("the leader to subscribe at once", 30, &other, || (!amazon.subscriptions().is_empty()).then_some(()));
    assert_eq!(leading().as_deref(), Some("replica-a"), "replica B did not take over");
    amazon.assert_contract_kept();
}
