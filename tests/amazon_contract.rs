//! Amazon's published contract (`fixtures/amazon-api/`, derived from Amazon's OpenAPI
//! documents): it catches each way ams-hub once deviated from it, and ams-hub's own Ads API
//! client and the Amazon stand-in both keep it on every operation ams-hub uses.

use ams_onboard::ads::client::{Login, Scope};
use ams_onboard::ads::{http_client, AdsApp, AdsClient, Endpoints, Lwa};
use ams_model::Realm;
use ams_tests::amazon::{agency_profile, dsp_advertiser, profile, AmazonStandIn, CLIENT_ID, CLIENT_SECRET, STREAM_MEDIA_TYPE};
use ams_tests::aws::Moto;
use ams_tests::contract::{AwsQuery, Contract, Request};
use serde_json::json;

const MS: &str = STREAM_MEDIA_TYPE;

fn request<'a>(method: &'a str, path: &'a str, headers: &[(&str, &str)], body: &'a [u8]) -> Request<'a> {
    Request {
        method,
        path,
        query: Vec::new(),
        headers: headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
        body,
    }
}

fn create_body(token: &str) -> Vec<u8> {
    json!({"clientRequestToken": token, "dataSetId": "adsp-traffic", "destination": {"sqsDestination": {"queueArn": "arn:aws:sqs:us-east-1:123456789012:q"}}, "notes": "ams-hub"})
        .to_string()
        .into_bytes()
}

#[test]
fn the_contract_refuses_each_deviation_ams_hub_once_had() {
    let c = Contract::amazon();
    let token = "0b7c2a47-9d6f-8e2b-a1c4-5f0e3d2c1b0a";
    let dsp = [("Amazon-Advertising-API-ClientId", CLIENT_ID), ("Amazon-Ads-Account-ID", "5550001"), ("Content-Type", MS), ("Accept", MS)];
    let ok = create_body(token);
    c.check_request(&request("POST", "/dsp/streams/subscriptions", &dsp, &ok)).expect("a conforming DSP create");

    // 1. The DSP media type no Amazon source names: 415.
    let old_type = "application/vnd.DspStreamSubscriptionResource.v1.0+json";
    let v = c
        .check_request(&request("POST", "/dsp/streams/subscriptions", &[dsp[0], dsp[1], ("Content-Type", old_type), ("Accept", old_type)], &ok))
        .unwrap_err();
    assert_eq!(v.status, 415, "{v}");
    // 2. A 40-character clientRequestToken (22 to 36 allowed).
    let long = create_body(&format!("ams-hub-{}", "0".repeat(32)));
    let v = c.check_request(&request("POST", "/dsp/streams/subscriptions", &dsp, &long)).unwrap_err();
    assert!(v.rule.contains("clientRequestToken") && v.rule.contains("longer than 36"), "{v}");
    // 3. GET by id answers {"subscription": {...}}; a bare object is not Amazon's answer.
    let op = c.check_request(&request("GET", "/streams/subscriptions/abc", &[("Amazon-Advertising-API-ClientId", CLIENT_ID)], b"")).unwrap();
    let sub = json!({"subscriptionId": "abc", "dataSetId": "sp-traffic", "status": "ACTIVE", "createdDate": "2026-12-01T00:00:00Z", "updatedDate": "2026-12-01T00:00:00Z"});
    c.check_response(&op, 200, Some(MS), json!({"subscription": sub}).to_string().as_bytes()).expect("Amazon's shape");
    assert!(c.check_response(&op, 200, Some(MS), sub.to_string().as_bytes()).is_err(), "a bare subscription");
    // 4. The DSP advertiser header under another name, and a header DSP paths do not take.
    let v = c
        .check_request(&request("GET", "/dsp/streams/subscriptions", &[dsp[0], ("Amazon-Advertising-API-Account-ID", "5550001")], b""))
        .unwrap_err();
    assert!(v.rule.contains("Amazon-Ads-Account-ID"), "{v}");
    let v = c.check_request(&request("GET", "/dsp/streams/subscriptions", &[dsp[0], dsp[1], ("Amazon-Advertising-API-Scope", "1001")], b"")).unwrap_err();
    assert!(v.rule.contains("Amazon-Advertising-API-Scope"), "{v}");
    // Amazon's error shape is {code, message}: the stand-in's old {code, details} is not.
    let op = c.check_request(&request("POST", "/streams/subscriptions", &[("Amazon-Advertising-API-ClientId", CLIENT_ID), ("Content-Type", MS)], &ok)).unwrap();
    assert!(c.check_response(&op, 409, Some(MS), br#"{"code": "409", "details": "limit"}"#).is_err());
    c.check_response(&op, 409, Some(MS), br#"{"code": "409", "message": "limit"}"#).expect("Amazon's error shape");
    // Statuses, an archive body, a trailing slash, an undeclared query parameter.
    let bad_status = json!({"subscriptions": [{"subscriptionId": "a", "dataSetId": "sp-traffic", "status": "RUNNING", "createdDate": "2026-12-01T00:00:00Z", "updatedDate": "2026-12-01T00:00:00Z"}]});
    let list = c.check_request(&request("GET", "/streams/subscriptions", &[("Amazon-Advertising-API-ClientId", CLIENT_ID)], b"")).unwrap();
    assert!(c.check_response(&list, 200, Some(MS), bad_status.to_string().as_bytes()).is_err());
    let put = [("Amazon-Advertising-API-ClientId", CLIENT_ID), ("Content-Type", MS)];
    assert!(c.check_request(&request("PUT", "/streams/subscriptions/a", &put, br#"{"status": "ACTIVE"}"#)).is_err(), "only ARCHIVED may be set");
    assert!(c.check_request(&request("GET", "/streams/subscriptions/", &put[..1], b"")).is_err(), "a trailing slash");
    let mut q = request("GET", "/streams/subscriptions", &put[..1], b"");
    q.query = vec![("pageSize".into(), "10".into())];
    assert!(c.check_request(&q).is_err(), "an undeclared query parameter");
    // The DSP advertiser listing takes at most 100 per call, and needs the agency profile.
    let mut page = request("GET", "/dsp/advertisers", &[("Amazon-Advertising-API-ClientId", CLIENT_ID), ("Amazon-Advertising-API-Scope", "9001")], b"");
    page.query = vec![("count".into(), "500".into())];
    assert!(c.check_request(&page).is_err(), "count above 100");
    assert!(c.check_request(&request("GET", "/dsp/advertisers", &[("Amazon-Advertising-API-ClientId", CLIENT_ID)], b"")).is_err());
}

/// ams-hub's client, call by call, against the stand-in: every request it sends and every
/// answer it gets keep Amazon's contract (the stand-in records any breach), and DSP advertiser
/// listings page past Amazon's 100 per call.
#[tokio::test(flavor = "multi_thread")]
async fn the_client_and_the_stand_in_both_keep_the_contract_on_every_operation() {
    let moto = Moto::start();
    let amazon = AmazonStandIn::start(&moto.url);
    let token = "Atzr|contract-refresh-token-CCCCCCCCCCCCCCCC";
    amazon.add_login(token, vec![profile(1001, "US", "ATVPDKIKX0DER", "ENTITYAAAA1", "Brand A"), agency_profile(9001, "US", "ATVPDKIKX0DER", "AGENCY1", "Agency")]);
    let advertisers: Vec<_> = (0..230).map(|i| dsp_advertiser(&format!("{}", 5550000 + i), &format!("Brand {i}"), "US")).collect();
    amazon.add_dsp_advertisers(token, 9001, advertisers);
    let endpoints = Endpoints { ads_api: Some(amazon.url.clone()), lwa: Some(amazon.url.clone()), consent: None };
    let client = AdsClient::new(http_client(), Lwa::new(http_client(), endpoints));
    let app = AdsApp { client_id: CLIENT_ID.into(), client_secret: CLIENT_SECRET.into() };
    let login = Login { app: &app, realm: Realm::Na, refresh_token: token };

    let listing = ams_onboard::ads::list_login(&client, &login).await.unwrap();
    assert_eq!(listing.profiles.len(), 2);
    assert!(listing.profiles[0].is_sponsored_ads() && listing.profiles[1].is_dsp_agency());
    assert_eq!(listing.dsp_advertisers.len(), 230, "three pages of at most 100");
    let pages = amazon.seen().iter().filter(|(_, p, _)| p == "/dsp/advertisers").count();
    assert_eq!(pages, 3);

    let queue = "arn:aws:sqs:us-east-1:123456789012:contract-q";
    for (scope, dataset, token) in [
        (Scope::Profile("1001"), "sp-traffic", "7d1e1b7e-5a77-8c43-9b0b-2c4f6b1a9e01"),
        (Scope::Dsp("5550007"), "adsp-traffic", "7d1e1b7e-5a77-8c43-9b0b-2c4f6b1a9e02"),
    ] {
        let created = client.create_subscription(&login, scope, dataset, queue, token, &format!("ams-hub {token}")).await.unwrap();
        let again = client.create_subscription(&login, scope, dataset, queue, token, "ams-hub").await.unwrap();
        assert_eq!(created.subscription_id, again.subscription_id, "the same token, the same subscription");
        let listed = client.list_subscriptions(&login, scope).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].queue_arn(), Some(queue));
        let one = client.get_subscription(&login, scope, &created.subscription_id).await.unwrap();
        assert_eq!((one.subscription_id.as_str(), one.data_set_id.as_str()), (created.subscription_id.as_str(), dataset));
        // Not ACTIVE yet (no confirmation here): Amazon refuses to archive it.
        let refused = client.archive_subscription(&login, scope, &created.subscription_id).await.unwrap_err();
        assert!(matches!(refused, ams_onboard::ads::AdsError::Rejected { status: 400, .. }), "{refused:?}");
    }
    // A profile that is an agency's is no sponsored-ads scope.
    let e = client.list_subscriptions(&login, Scope::Profile("9001")).await.unwrap_err();
    assert!(matches!(e, ams_onboard::ads::AdsError::Rejected { status: 403, .. }), "{e:?}");
    amazon.assert_contract_kept();
}

/// Control migration 000012 on data written before it: rows still waiting for their create
/// with a token longer than Amazon's 36 characters get one Amazon takes (rows Amazon answered
/// keep theirs); a marketplace an earlier import made of an agency profile lets go of it (a
/// seller's stays).
#[tokio::test]
async fn waiting_rows_with_a_token_amazon_refuses_get_one_it_takes() {
    use migration::MigratorTrait;
    let db = ams_tests::TestDb::new();
    let store = ams_store::Store::connect(&db.url).await.unwrap();
    migration::Migrator::up(store.orm(), Some(11)).await.unwrap();
    let tenant = uuid::Uuid::new_v4();
    sqlx::query("INSERT INTO tenants (id, slug, name) VALUES ($1, 'old_tokens', 'o')").bind(tenant).execute(store.pool()).await.unwrap();
    let old = format!("ams-hub-{}", "ab".repeat(16));
    let answered = format!("ams-hub-{}", "cd".repeat(16));
    for (token, subscription) in [(&old, None), (&answered, Some("amzn1.fead.cs1.1"))] {
        sqlx::query(
            "INSERT INTO stream_subscriptions (id, tenant_id, profile_id, realm, dataset_id, destination_arn, client_request_token, subscription_id, status)
             VALUES ($1, $2, '1001', 'NA', 'sp-traffic', 'arn:aws:sqs:us-east-1:1:q', $3, $4, 'REQUESTED')",
        )
        .bind(uuid::Uuid::new_v4())
        .bind(tenant)
        .bind(token)
        .bind(subscription)
        .execute(store.pool())
        .await
        .unwrap();
    }
    let (account, connection) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    sqlx::query("INSERT INTO accounts (id, tenant_id, name, external_id) VALUES ($1, $2, 'Old', 'ext-old-0123456789')")
        .bind(account)
        .bind(tenant)
        .execute(store.pool())
        .await
        .unwrap();
    let profiles = json!([{"profileId": "1001", "countryCode": "US", "accountInfo": {"id": "S1", "type": "seller"}},
                          {"profileId": "9001", "countryCode": "CA", "accountInfo": {"id": "AG1", "type": "agency"}}]);
    sqlx::query("INSERT INTO ads_connections (id, tenant_id, name, region, client_id, refresh_token, profiles) VALUES ($1, $2, 'c', 'NA', 'x', '\\x00', $3)")
        .bind(connection)
        .bind(tenant)
        .bind(&profiles)
        .execute(store.pool())
        .await
        .unwrap();
    for (code, id, profile) in [("US", "ATVPDKIKX0DER", "1001"), ("CA", "A2EUQ1WTGCTBG2", "9001")] {
        sqlx::query(
            "INSERT INTO marketplaces (id, account_id, code, marketplace_id, realm, region, api_endpoint, profile_id, connection_id)
             VALUES ($1, $2, $3, $4, 'NA', 'us-east-1', 'https://advertising-api.amazon.com', $5, $6)",
        )
        .bind(uuid::Uuid::new_v4())
        .bind(account)
        .bind(code)
        .bind(id)
        .bind(profile)
        .bind(connection)
        .execute(store.pool())
        .await
        .unwrap();
    }
    store.migrate().await.unwrap();
    let kept: Vec<(String, Option<String>, Option<uuid::Uuid>)> =
        sqlx::query_as("SELECT code, profile_id, connection_id FROM marketplaces ORDER BY code").fetch_all(store.pool()).await.unwrap();
    assert_eq!(kept, vec![("CA".into(), None, None), ("US".into(), Some("1001".into()), Some(connection))], "the agency profile let go");
    let tokens: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT client_request_token, subscription_id FROM stream_subscriptions ORDER BY subscription_id NULLS FIRST").fetch_all(store.pool()).await.unwrap();
    assert_eq!(tokens[0].0.len(), 36, "{tokens:?}");
    assert!(uuid::Uuid::parse_str(&tokens[0].0).is_ok());
    assert_eq!(tokens[1].0, answered, "a token Amazon answered stays");
}

/// SNS `ConfirmSubscription` as AWS's service model has it (`fixtures/aws-api/`): what the
/// stand-in for Amazon's SNS holds requests and its own answers to.
#[test]
fn the_sns_contract_refuses_what_aws_s_model_does_not_have() {
    let c = AwsQuery::load("sns-confirm-subscription.contract.json");
    let form = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<std::collections::HashMap<_, _>>();
    let ok = [("Action", "ConfirmSubscription"), ("Version", "2010-03-31"), ("TopicArn", "arn:aws:sns:us-east-1:1:t"), ("Token", "x")];
    c.check_request("POST", "/", &form(&ok)).expect("the SDK's request");
    assert!(c.check_request("POST", "/", &form(&ok[..3])).is_err(), "no Token");
    assert!(c.check_request("GET", "/", &form(&ok)).is_err());
    assert!(c.check_request("POST", "/", &form(&[ok[0], ("Version", "2012-11-05"), ok[2], ok[3]])).is_err(), "another API version");
    assert!(c.check_request("POST", "/", &form(&[ok[0], ok[1], ok[2], ok[3], ("Endpoint", "x")])).is_err(), "no such member");
    c.check_error(403, "AuthorizationError").expect("declared");
    assert!(c.check_error(400, "InvalidAction").is_err() && c.check_error(404, "AuthorizationError").is_err());
    let ns = "http://sns.amazonaws.com/doc/2010-03-31/";
    c.check_success(&format!("<ConfirmSubscriptionResponse xmlns=\"{ns}\"><ConfirmSubscriptionResult><SubscriptionArn>a</SubscriptionArn></ConfirmSubscriptionResult></ConfirmSubscriptionResponse>"))
        .expect("AWS's shape");
    assert!(c.check_success(&format!("<ConfirmSubscriptionResponse xmlns=\"{ns}\"><SubscriptionArn>a</SubscriptionArn></ConfirmSubscriptionResponse>")).is_err());
    assert!(c.check_success(&format!("<ConfirmSubscriptionResponse xmlns=\"{ns}\"><ConfirmSubscriptionResult><Arn>a</Arn></ConfirmSubscriptionResult></ConfirmSubscriptionResponse>")).is_err());
}
