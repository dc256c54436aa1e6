//! Stream v2 (preview). The brand's side: the destination template `GET …/aws-template?stream=v2`
//! renders for every region Amazon delivers v2 to, checked by `cfn-lint` (AWS's own linter)
//! and deployed on moto; regions outside the account's realms are refused with the allowed ones.
//! Amazon's side: ams-hub's v2 subscription client against the stand-in, every request and
//! answer checked against Amazon's published document (`fixtures/amazon-api/
//! stream-v2-subscriptions.contract.json`), and the contract itself refusing what Amazon's
//! document does not allow.

use ams_model::Realm;
use ams_onboard::ads::client::Login;
use ams_onboard::ads::stream_v2::{Notification, S3Destination};
use ams_onboard::ads::{http_client, AdsApp, AdsClient, AdsError, Endpoints, Lwa};
use ams_tests::amazon::{AmazonStandIn, CLIENT_ID, CLIENT_SECRET};
use ams_tests::api::{serve_with_api, Api, ADMIN_TOKEN};
use ams_tests::contract::{Contract, Request};
use ams_tests::aws::{cfn_lint as lint, deploy, Moto};
use ams_tests::TestDb;
use serde_json::{json, Value};

const ADMIN: Option<&str> = Some(ADMIN_TOKEN);
const PRINCIPAL: &str = "arn:aws:iam::999999999999:role/ams-hub-platform";

/// A tenant with a `write` key and an account selling in `marketplaces`; (key, account id,
/// external id).
fn brand(api: &Api, slug: &str, marketplaces: &[&str]) -> (String, String, String) {
    api.ok("POST", "/v1/tenants", ADMIN, Some(&json!({"slug": slug, "name": slug})), 201);
    let key = api.ok("POST", &format!("/v1/tenants/{slug}/api-keys"), ADMIN, Some(&json!({"name": "k", "scope": "write"})), 201);
    let key = key["token"].as_str().unwrap().to_owned();
    let a = api.ok("POST", &format!("/v1/tenants/{slug}/accounts"), Some(&key), Some(&json!({"name": "Brand"})), 201);
    let id = a["id"].as_str().unwrap().to_owned();
    for m in marketplaces {
        api.ok("POST", &format!("/v1/tenants/{slug}/accounts/{id}/marketplaces"), Some(&key), Some(&json!({"marketplace": m})), 201);
    }
    (key, id, a["external_id"].as_str().unwrap().to_owned())
}

/// GET with a key: (status, deploy command header, body).
fn get(api: &Api, path: &str, token: &str) -> (u16, Option<String>, String) {
    let r = match ureq::get(&format!("{}{path}", api.base)).set("Authorization", &format!("Bearer {token}")).call() {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{e}"),
    };
    (r.status(), r.header("Ams-Hub-Deploy-Command").map(str::to_owned), r.into_string().unwrap())
}

#[tokio::test]
async fn the_v2_destination_of_every_region_passes_cfn_lint_and_deploys_on_moto() {
    let db = TestDb::new();
    let moto = Moto::start();
    let (serve, api) = serve_with_api(&db, &moto.url, &[("AMS_HUB_PLATFORM_PRINCIPAL", PRINCIPAL)]);
    let (key, id, external_id) = brand(&api, "vtwo", &["US", "DE", "JP"]);
    let dir = std::env::temp_dir().join(format!("ams-cfn-v2-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    for region in ["us-east-1", "eu-west-1", "eu-west-2", "eu-south-2", "us-west-2", "ap-southeast-1"] {
        let path = format!("/v1/tenants/vtwo/accounts/{id}/aws-template?region={region}&stream=v2");
        let (status, command, yaml) = get(&api, &path, &key);
        assert_eq!(status, 200, "{yaml}");
        let command = command.unwrap();
        assert!(command.contains(&format!("--region {region}")) && command.contains("-v2"), "{command}");
        assert!(yaml.contains(&external_id) && yaml.contains(PRINCIPAL), "the loader's role trusts ams-hub with the external id");
        let file = dir.join(format!("{region}.yaml"));
        std::fs::write(&file, &yaml).unwrap();
        lint(&file);
    }

    // Deployed in the brand's account on moto: Amazon's outputs, consistent with each other.
    let (_, _, json_text) = get(&api, &format!("/v1/tenants/vtwo/accounts/{id}/aws-template?region=eu-west-2&stream=v2&format=json"), &key);
    let described = deploy(&moto, "arn:aws:iam::111111111111:role/brand-deployer", &json_text, "ams-hub-v2", "eu-west-2");
    let outputs = ams_tests::aws::stack_outputs(&described);
    let destination: Value = serde_json::from_str(&outputs["StreamDestinationConfiguration"]).unwrap();
    assert_eq!(destination, json!({"bucketArn": outputs["StreamDataBucketArn"], "notification": {"queueArn": outputs["StreamDestinationQueueArn"]}}));
    assert!(outputs["StreamDataBucketArn"].ends_with("-111111111111-eu-west-2-data"), "{outputs:?}");
    assert!(outputs["RoleArn"].starts_with("arn:aws:iam::111111111111:role/ams-hub-"), "{outputs:?}");
    assert_eq!(outputs["StreamRealm"], "EU");

    // Outside the account's realms, or a stream that does not exist: refused, saying what to use.
    let (_, id_us, _) = brand(&api, "usonly", &["US"]);
    let (status, _, body) = get(&api, &format!("/v1/tenants/usonly/accounts/{id_us}/aws-template?region=eu-west-2&stream=v2"), &key);
    assert_eq!(status, 404, "another tenant's key: {body}");
    let key_us = api.ok("POST", "/v1/tenants/usonly/api-keys", ADMIN, Some(&json!({"name": "k", "scope": "write"})), 201)["token"].as_str().unwrap().to_owned();
    let (status, _, body) = get(&api, &format!("/v1/tenants/usonly/accounts/{id_us}/aws-template?region=eu-west-2&stream=v2"), &key_us);
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("use us-east-1"), "{body}");
    let (status, _, body) = get(&api, &format!("/v1/tenants/usonly/accounts/{id_us}/aws-template?region=us-east-1&stream=v3"), &key_us);
    assert_eq!(status, 422, "{body}");
    assert!(!serve.log_text().contains(&external_id), "the external id reached the log");
    std::fs::remove_dir_all(dir).ok();
}

/// ams-hub's v2 client, operation by operation, against the stand-in: create, retrieve, query
/// (paged past one page), archive, and the multi-status failures, each answer understood and
/// every request and answer within Amazon's document.
#[tokio::test(flavor = "multi_thread")]
async fn the_v2_client_and_the_stand_in_keep_amazons_contract_on_every_operation() {
    let moto = Moto::start();
    let amazon = AmazonStandIn::start(&moto.url);
    let token = "Atzr|v2-contract-refresh-token-VVVVVVVVVVVV";
    amazon.add_login(token, vec![]);
    amazon.add_v2_account(token, "amzn1.ads-account.g.brandaaaa");
    amazon.refuse_v2_dataset("no-such-dataset");
    let endpoints = Endpoints { ads_api: Some(amazon.url.clone()), lwa: Some(amazon.url.clone()), consent: None };
    let client = AdsClient::new(http_client(), Lwa::new(http_client(), endpoints));
    let app = AdsApp { client_id: CLIENT_ID.into(), client_secret: CLIENT_SECRET.into() };
    let login = Login { app: &app, realm: Realm::Na, refresh_token: token };
    let account = "amzn1.ads-account.g.brandaaaa";
    let destination = S3Destination {
        bucket_arn: "arn:aws:s3:::ams-1a2b3c4d-111111111111-us-east-1-data".into(),
        notification: Notification { queue_arn: "arn:aws:sqs:us-east-1:111111111111:ams-1a2b3c4d-111111111111-us-east-1-queue".into() },
    };

    let created = client.create_v2_subscription(&login, account, "sponsored-ads-hourly", &destination).await.unwrap();
    assert_eq!((created.status.as_str(), created.dataset_id()), ("ACTIVE", "sponsored-ads-hourly"));
    assert_eq!(created.destination.s3_destination, destination);
    let again = client.retrieve_v2_subscription(&login, account, &created.stream_subscription_id).await.unwrap();
    assert_eq!(again, created);
    // More than one page of Amazon's query (1,000 per page).
    for i in 0..1004 {
        client.create_v2_subscription(&login, account, &format!("dataset-{i}"), &destination).await.unwrap();
    }
    let all = client.query_v2_subscriptions(&login, account).await.unwrap();
    assert_eq!(all.len(), 1005, "two pages, nothing lost or repeated");
    let archived = client.archive_v2_subscription(&login, account, &created.stream_subscription_id).await.unwrap();
    assert_eq!(archived.status, "ARCHIVED");

    // A 207 with an error item is that call's failure, with Amazon's code.
    let e = client.create_v2_subscription(&login, account, "no-such-dataset", &destination).await.unwrap_err();
    assert!(matches!(&e, AdsError::Rejected { status: 207, code, .. } if code == "FIELD_VALUE_NOT_FOUND"), "{e:?}");
    let e = client.archive_v2_subscription(&login, account, &created.stream_subscription_id).await.unwrap_err();
    assert!(matches!(&e, AdsError::Rejected { status: 207, code, .. } if code == "RESOURCE_IS_IN_TERMINAL_STATE"), "{e:?}");
    let e = client.retrieve_v2_subscription(&login, account, "amzn1.ads-stream-subscription.none").await.unwrap_err();
    assert!(matches!(&e, AdsError::Rejected { status: 207, code, .. } if code == "RESOURCE_ID_NOT_FOUND"), "{e:?}");
    // An account the login does not reach: 403, Amazon's error shape.
    let e = client.query_v2_subscriptions(&login, "amzn1.ads-account.g.someoneelse").await.unwrap_err();
    assert!(matches!(&e, AdsError::Rejected { status: 403, code, .. } if code == "FORBIDDEN"), "{e:?}");
    assert_eq!(amazon.v2_subscriptions().len(), 1005);
    amazon.assert_contract_kept();
}

#[test]
fn the_v2_contract_refuses_what_amazons_document_does_not_allow() {
    let c = Contract::amazon();
    let req = |path: &'static str, headers: &[(&str, &str)], body: &'static [u8]| Request {
        method: "POST",
        path,
        query: Vec::new(),
        headers: headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
        body,
    };
    let ok_headers = [("Amazon-Ads-ClientId", CLIENT_ID), ("Content-Type", "application/json")];
    let create: &[u8] = br#"{"accessRequestedAccounts": [{"advertiserAccountId": "a"}], "streamSubscriptions": [{"configuration": {"dataset": {"datasetId": "d"}}, "destination": {"s3Destination": {"bucketArn": "arn:aws:s3:::b", "notification": {"queueArn": "arn:aws:sqs:us-east-1:1:q"}}}}]}"#;
    let op = c.check_request(&req("/adsApi/v1/create/streamSubscriptions", &ok_headers, create)).expect("a conforming create");
    // The v1 client-id header, a v1 scope header, no account, two subscriptions at once, a
    // client request token (v2 has none), a trailing slash: all refused.
    let v1_header = [("Amazon-Advertising-API-ClientId", CLIENT_ID), ("Content-Type", "application/json")];
    assert!(c.check_request(&req("/adsApi/v1/create/streamSubscriptions", &v1_header, create)).is_err(), "Amazon-Ads-ClientId is required");
    let scoped = [ok_headers[0], ok_headers[1], ("Amazon-Advertising-API-Scope", "1001")];
    assert!(c.check_request(&req("/adsApi/v1/create/streamSubscriptions", &scoped, create)).is_err(), "no scope header");
    let no_account: &[u8] = br#"{"accessRequestedAccounts": [], "streamSubscriptions": [{"configuration": {"dataset": {"datasetId": "d"}}, "destination": {"s3Destination": {"bucketArn": "arn:aws:s3:::b", "notification": {"queueArn": "q"}}}}]}"#;
    assert!(c.check_request(&req("/adsApi/v1/create/streamSubscriptions", &ok_headers, no_account)).is_err(), "at least one account");
    let with_token: &[u8] = br#"{"accessRequestedAccounts": [{"advertiserAccountId": "a"}], "clientRequestToken": "0b7c2a47-9d6f-8e2b-a1c4-5f0e3d2c1b0a", "streamSubscriptions": [{"configuration": {"dataset": {"datasetId": "d"}}, "destination": {"s3Destination": {"bucketArn": "arn:aws:s3:::b", "notification": {"queueArn": "q"}}}}]}"#;
    assert!(c.check_request(&req("/adsApi/v1/create/streamSubscriptions", &ok_headers, with_token)).is_err(), "no clientRequestToken in v2");
    assert!(c.check_request(&req("/adsApi/v1/create/streamSubscriptions/", &ok_headers, create)).is_err(), "a trailing slash");
    // Answers: a 207 item needs its subscription's every required field; statuses are three.
    let sub = json!({"streamSubscriptionId": "s", "status": "ACTIVE", "configuration": {"dataset": {"datasetId": "d"}},
                     "destination": {"s3Destination": {"bucketArn": "arn:aws:s3:::b", "notification": {"queueArn": "q"}}},
                     "creationDateTime": "2026-12-01T00:00:00Z", "lastUpdatedDateTime": "2026-12-01T00:00:00Z"});
    let ok = json!({"success": [{"index": 0, "streamSubscription": sub}], "error": []});
    c.check_response(&op, 207, Some("application/json"), ok.to_string().as_bytes()).expect("Amazon's 207");
    let mut pending = sub.clone();
    pending["status"] = json!("PENDING_CONFIRMATION");
    let bad = json!({"success": [{"index": 0, "streamSubscription": pending}]});
    assert!(c.check_response(&op, 207, Some("application/json"), bad.to_string().as_bytes()).is_err(), "a v1 status");
    assert!(c.check_response(&op, 200, Some("application/json"), ok.to_string().as_bytes()).is_err(), "create answers 207, not 200");
}

/// `PUT …/streams` takes `v2_datasets` beside `datasets`: their form is checked (not their
/// names, which are Amazon's), each list is replaced only when given, and `GET` shows both.
#[tokio::test]
async fn v2_datasets_are_declared_beside_v1_ones_and_checked_for_their_form() {
    let db = TestDb::new();
    let moto = Moto::start();
    let (_serve, api) = serve_with_api(&db, &moto.url, &[]);
    let (key, id, _) = brand(&api, "declares", &["US"]);
    let path = format!("/v1/tenants/declares/accounts/{id}/streams");
    let put = |body: Value, status: u16| api.ok("PUT", &path, Some(&key), Some(&body), status);
    let v = put(json!({"datasets": ["sp-traffic"], "v2_datasets": ["sponsored-ads-performance-hourly", "dsp.performance:v1", "sponsored-ads-performance-hourly"]}), 200);
    assert_eq!((&v["datasets"], &v["v2_datasets"]), (&json!(["sp-traffic"]), &json!(["dsp.performance:v1", "sponsored-ads-performance-hourly"])));
    // Only v2 given: v1 unchanged; only v1 given: v2 unchanged.
    let v = put(json!({"v2_datasets": ["x_1"]}), 200);
    assert_eq!((&v["datasets"], &v["v2_datasets"]), (&json!(["sp-traffic"]), &json!(["x_1"])));
    let v = put(json!({"datasets": []}), 200);
    assert_eq!((&v["datasets"], &v["v2_datasets"]), (&json!([]), &json!(["x_1"])));
    let got = api.ok("GET", &path, Some(&key), None, 200);
    assert_eq!(got["v2_datasets"], json!(["x_1"]));
    // Refused, and nothing changed: a bad form, too long, neither list.
    for bad in [json!({"v2_datasets": ["has space"]}), json!({"v2_datasets": [""]}), json!({"v2_datasets": ["x".repeat(129)]}), json!({}), json!({"v2_datasets": "all"})] {
        let (status, body) = api.call("PUT", &path, Some(&key), Some(&bad));
        assert!(status == 422 || status == 400, "{bad} → {status} {body}");
        assert!(body["error"]["message"].is_string(), "{body}");
    }
    assert_eq!(api.ok("GET", &path, Some(&key), None, 200)["v2_datasets"], json!(["x_1"]));
    // Another tenant's key reaches nothing.
    let (other, _, _) = brand(&api, "elsewhere", &["US"]);
    assert_eq!(api.call("PUT", &path, Some(&other), Some(&json!({"v2_datasets": ["y"]}))).0, 404);
    assert_eq!(api.ok("GET", &path, Some(&key), None, 200)["v2_datasets"], json!(["x_1"]));
}
