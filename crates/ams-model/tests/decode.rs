//! The decoder against Amazon-shaped fixtures, malformed bodies and generated input.

use std::path::PathBuf;

use ams_model::{decode_body, Body, DatasetId, DecodeError, Record};
use proptest::prelude::*;

fn fixture(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/ams").join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn records(body: &str) -> Vec<Record> {
    match decode_body(body) {
        Ok(Body::Records(r)) => r,
        other => panic!("expected records, got {other:?}"),
    }
}

#[test]
fn every_fixture_decodes_to_its_dataset() {
    for ds in DatasetId::ALL {
        let body = fixture(&format!("{}.json", ds.as_str()));
        let recs = records(&body);
        assert_eq!(recs.len(), 1, "{ds}");
        assert_eq!(recs[0].dataset(), ds);
        assert_eq!(recs[0].raw(), body, "raw JSON is kept as received");
    }
}

#[test]
fn sp_traffic_fields_are_exact() {
    let Record::SpTraffic(r) = records(&fixture("sp-traffic.json")).remove(0) else { panic!() };
    assert_eq!(r.idempotency_id, "0b6f3f0e-5a8e-4c53-9a7e-2d1c6f4e8a11");
    assert_eq!(r.keyword_id.as_deref(), Some("473829105738291"));
    assert_eq!(r.clicks, Some(3));
    assert_eq!(r.cost.unwrap().to_string(), "2.37");
    assert_eq!(r.time_window_start.instant().to_rfc3339(), "2024-05-01T17:00:00+00:00");
    assert_eq!(r.time_window_start.offset(), "-07:00");
}

#[test]
fn envelope_carries_the_same_record() {
    let Record::SpTraffic(wrapped) = records(&fixture("sns-envelope.json")).remove(0) else { panic!() };
    let Record::SpTraffic(bare) = records(&fixture("sp-traffic.json")).remove(0) else { panic!() };
    assert_eq!(wrapped.idempotency_id, bare.idempotency_id);
    assert_eq!(wrapped.cost, bare.cost);
    assert!(wrapped.raw.starts_with("{\"idempotency_id\""), "raw is the Message, unescaped");
}

#[test]
fn confirmation_decodes_and_hides_its_token() {
    let Ok(Body::Confirmation(c)) = decode_body(&fixture("subscription-confirmation.json")) else {
        panic!()
    };
    assert!(c.topic_arn.contains("sp-traffic"));
    assert!(c.token.starts_with("2336412f"));
    assert!(!format!("{c:?}").contains("2336412f"));
}

#[test]
fn campaign_reads_bid_setting_in_either_place() {
    let Record::Campaign(c) = records(&fixture("campaigns.json")).remove(0) else { panic!() };
    assert_eq!(c.bid_setting().unwrap().bid_strategy.as_deref(), Some("LEGACY_FOR_SALES"));
    let top = r#"{"dataset_id":"campaigns","marketplace_id":"M","campaignId":"1","version":2,
                  "bidSetting":{"bidStrategy":"AUTO_FOR_SALES"}}"#;
    let Record::Campaign(c) = records(top).remove(0) else { panic!() };
    assert_eq!(c.bid_setting().unwrap().bid_strategy.as_deref(), Some("AUTO_FOR_SALES"));
}

#[test]
fn arrays_of_records_decode() {
    let body = format!("[{},{}]", fixture("sp-traffic.json"), fixture("targets.json"));
    let recs = records(&body);
    assert_eq!(recs.iter().map(Record::dataset).collect::<Vec<_>>(), [DatasetId::SpTraffic, DatasetId::Targets]);
}

#[test]
fn unknown_fields_are_ignored_but_kept() {
    let body = r#"{"idempotency_id":"i","dataset_id":"sp-traffic","marketplace_id":"M",
        "advertiser_id":"A","campaign_id":"1","time_window_start":"2024-05-01T10:00:00Z",
        "brand_new_metric":{"x":[1,2]},"clicks":1}"#;
    let recs = records(body);
    assert!(recs[0].raw().contains("brand_new_metric"));
}

#[test]
fn ids_above_2_pow_53_stay_exact() {
    let body = r#"{"idempotency_id":"i","dataset_id":"sp-traffic","marketplace_id":"M",
        "advertiser_id":"A","campaign_id":18446744073709551615,"time_window_start":"2024-05-01T10:00:00Z"}"#;
    let Record::SpTraffic(r) = records(body).remove(0) else { panic!() };
    assert_eq!(r.campaign_id, "18446744073709551615");
}

fn err(body: &str) -> DecodeError {
    match decode_body(body) {
        Err(e) => e,
        Ok(b) => panic!("expected an error for {body:?}, got {b:?}"),
    }
}

#[test]
fn malformed_bodies_are_typed_errors() {
    assert_eq!(err("not json").code(), "not_json");
    assert_eq!(err("{\"dataset_id\":").code(), "not_json");
    assert_eq!(err("42").code(), "unsupported_shape");
    assert_eq!(err("{\"hello\":1}").code(), "unsupported_shape");
    assert_eq!(err(r#"{"dataset_id":"sp-impressions"}"#), DecodeError::UnknownDataset("sp-impressions".into()));
    let no_id = fixture("sp-traffic.json").replace("\"idempotency_id\"", "\"idempotency\"");
    assert_eq!(
        err(&no_id),
        DecodeError::MissingField { dataset: DatasetId::SpTraffic, field: "idempotency_id".into() }
    );
    let bad_type = fixture("sp-traffic.json").replace("\"clicks\": 3", "\"clicks\": \"three\"");
    assert_eq!(err(&bad_type).code(), "invalid_record");
    let fractional = fixture("sp-traffic.json").replace("\"clicks\": 3", "\"clicks\": 3.5");
    assert_eq!(err(&fractional).code(), "invalid_record");
    let bad_time = fixture("sp-traffic.json").replace("2024-05-01T10:00:00-07:00", "2024-05-01");
    assert_eq!(err(&bad_time).code(), "invalid_record");
    assert_eq!(err(r#"{"Type":"Notification","MessageId":"x"}"#).code(), "bad_envelope");
    assert_eq!(err(r#"{"Type":"Notification","Message":{"a":1}}"#).code(), "bad_envelope");
    assert_eq!(err(r#"{"Type":"Notification","Message":"oops"}"#).code(), "not_json");
    assert_eq!(err(r#"{"Type":"UnsubscribeConfirmation","Token":"t"}"#).code(), "unsupported_sns_type");
    assert_eq!(err(r#"{"Type":"SubscriptionConfirmation"}"#).code(), "bad_envelope");
    let arr = format!("[{},{{\"dataset_id\":\"nope\"}}]", fixture("ads.json"));
    assert!(matches!(err(&arr), DecodeError::InArray { index: 1, .. }));
    let budget = fixture("budget-usage.json").replace("2024-05-01T17:42:10Z", "soon");
    assert_eq!(err(&budget).code(), "invalid_record");
}

fn sp_traffic_json(id: &str, clicks: i64, cents: i64, offset_h: i32) -> String {
    let cost = format!("{}{}.{:02}", if cents < 0 { "-" } else { "" }, cents.abs() / 100, cents.abs() % 100);
    format!(
        r#"{{"idempotency_id":"{id}","dataset_id":"sp-traffic","marketplace_id":"ATVPDKIKX0DER","currency":"USD",
        "advertiser_id":"A1","campaign_id":"123","ad_group_id":"4","ad_id":"5","keyword_id":"6",
        "keyword_text":"k","match_type":"EXACT","placement":"Top of Search on-Amazon",
        "time_window_start":"2024-05-01T10:00:00{:+03}:00","clicks":{clicks},"impressions":null,"cost":{cost}}}"#,
        offset_h
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text_never_panics(s in ".{0,300}") {
        let _ = decode_body(&s);
    }

    #[test]
    fn mutated_fixtures_never_panic(idx in 0usize..13, cut in 0usize..2000, byte in any::<u8>()) {
        let mut body = fixture(&format!("{}.json", DatasetId::ALL[idx].as_str())).into_bytes();
        let at = cut % body.len();
        body[at] = byte;
        if let Ok(s) = String::from_utf8(body) {
            let _ = decode_body(&s);
        }
    }

    #[test]
    fn generated_records_decode_exactly(
        id in "[a-f0-9-]{1,36}", clicks in -1000i64..1_000_000, cents in -10_000_000i64..10_000_000,
        offset_h in -12i32..14, wrap in any::<bool>(),
    ) {
        let rec = sp_traffic_json(&id, clicks, cents, offset_h);
        let body = if wrap {
            serde_json::json!({"Type": "Notification", "MessageId": "m", "Message": rec}).to_string()
        } else {
            rec
        };
        let Ok(Body::Records(mut recs)) = decode_body(&body) else { panic!("{body}") };
        let Record::SpTraffic(r) = recs.remove(0) else { panic!() };
        prop_assert_eq!(r.idempotency_id, id);
        prop_assert_eq!(r.clicks, Some(clicks));
        prop_assert_eq!(r.impressions, None);
        prop_assert_eq!(r.cost.unwrap() * rust_decimal::Decimal::from(100), rust_decimal::Decimal::from(cents));
        prop_assert_eq!(r.time_window_start.0.offset().local_minus_utc(), offset_h * 3600);
    }
}

#[test]
fn routing_uses_the_top_level_dataset_id_only() {
    // A nested `dataset_id` seen first by the scan must not misroute the record.
    let traffic = fixture("sp-traffic.json");
    let body = traffic.replacen('{', r#"{"meta":{"dataset_id":"ads","adId":"1","marketplace_id":"M","version":1},"#, 1);
    assert_eq!(records(&body)[0].dataset(), DatasetId::SpTraffic);
    // Amazon's camelCase spelling is accepted too.
    let camel = fixture("ads.json").replace("\"dataset_id\"", "\"dataSetId\"");
    assert_eq!(records(&camel)[0].dataset(), DatasetId::Ads);
    // A record of one dataset claiming to be another fails as that other dataset, typed.
    let wrong = fixture("ads.json").replace("\"dataset_id\": \"ads\"", "\"dataset_id\": \"sp-traffic\"");
    assert!(matches!(err(&wrong), DecodeError::MissingField { dataset: DatasetId::SpTraffic, .. }));
}
