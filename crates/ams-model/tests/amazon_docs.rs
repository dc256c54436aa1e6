//! Every sample Amazon publishes for Marketing Stream (`fixtures/amazon-docs/`): where it lands
//! as published, and where it lands once its placeholders are real-looking values.
//!
//! As published, the dataset samples carry `""` or `"string"` in every id and time. An entity or
//! recommendation whose id is empty has no identity (all such records would be one row), and a
//! delta whose hour is `"string"` cannot be summed into any hour: both are refused with a reason
//! naming the field, and land in quarantine, from where a corrected body can be replayed.

use std::path::PathBuf;

use ams_model::{confirmable, decode_body, Body, DatasetId, DecodeError, Record};
use serde_json::Value;

fn sample(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/amazon-docs").join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Every file in the folder, so that a new sample without a test fails here.
fn all_samples() -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/amazon-docs");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    names
}

/// Where each dataset sample lands as published: its dataset and the field the refusal names.
const AS_PUBLISHED: &[(&str, &str, &str)] = &[
    ("adgroups.json", "adgroups", "empty id"),
    ("ads.json", "ads", "empty id"),
    ("adsp-adgroup-targets-1.json", "adsp-adgroup-targets", "empty id"),
    ("adsp-adgroup-targets-2.json", "adsp-adgroup-targets", "empty id"),
    ("adsp-adgroup-targets-3.json", "adsp-adgroup-targets", "empty id"),
    ("adsp-adgroup-targets-4.json", "adsp-adgroup-targets", "empty id"),
    ("adsp-adgroup-targets-5.json", "adsp-adgroup-targets", "empty id"),
    ("adsp-adgroup-targets-6.json", "adsp-adgroup-targets", "empty id"),
    ("adsp-adgroups.json", "adsp-adgroups", "empty id"),
    ("adsp-campaign-flights.json", "adsp-campaign-flights", "empty id"),
    ("adsp-campaigns.json", "adsp-campaigns", "empty id"),
    ("adsp-clickstream.json", "adsp-clickstream", "time_window_start \"string\""),
    ("adsp-conversion.json", "adsp-conversion", "time_window_start \"string\""),
    ("adsp-rich-media.json", "adsp-rich-media", "time_window_start \"string\""),
    ("adsp-traffic.json", "adsp-traffic", "time_window_start \"string\""),
    ("campaigns.json", "campaigns", "empty id"),
    ("targets.json", "targets", "empty id"),
];

#[test]
fn every_sample_has_an_asserted_outcome() {
    let mut covered: Vec<String> = AS_PUBLISHED.iter().map(|(f, _, _)| f.to_string()).collect();
    covered.push("sns-subscription-confirmation-1.json".into());
    covered.sort();
    assert_eq!(all_samples(), covered);
}

#[test]
fn dataset_samples_as_published_are_refused_with_the_field_that_is_a_placeholder() {
    for (file, dataset, why) in AS_PUBLISHED {
        let dataset: DatasetId = dataset.parse().unwrap();
        match decode_body(&sample(file)) {
            Err(DecodeError::InvalidRecord { dataset: d, detail }) => {
                assert_eq!(d, dataset, "{file}");
                assert!(detail.contains(why), "{file}: {detail}");
            }
            other => panic!("{file}: expected a refusal naming {why:?}, got {other:?}"),
        }
    }
}

#[test]
fn the_subscription_confirmation_sample_decodes_but_is_not_amazons_to_confirm() {
    let Ok(Body::Confirmation(c)) = decode_body(&sample("sns-subscription-confirmation-1.json")) else {
        panic!("a SubscriptionConfirmation")
    };
    assert_eq!(c.topic_arn, "arn:aws:sns:us-west-2:123456789012:MyTopic");
    // AWS's generic example topic is owned by no Amazon Marketing Stream account.
    let refused = confirmable(&c.topic_arn, c.subscribe_url.as_deref()).unwrap_err();
    assert!(refused.contains("123456789012"), "{refused}");
}

/// The sample with its placeholders replaced: ids by digits, times by real instants, the
/// delta's hour by an hour with offset. Nothing else changes (keys, shapes and quirks stay).
fn filled(file: &str) -> String {
    fn fill(key: &str, v: &mut Value, n: &mut u64) {
        match v {
            Value::Object(m) => {
                for (k, v) in m.iter_mut() {
                    fill(k, v, n);
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|v| fill(key, v, n)),
            Value::String(s) if s.is_empty() || s == "string" => {
                *n += 1;
                *s = if key == "time_window_start" {
                    "2024-05-01T10:00:00-07:00".into()
                } else if key.ends_with("DateTime") || key.ends_with("_date") || key == "recommendation_time" {
                    format!("2024-05-{:02}T08:00:00Z", 1 + *n % 28)
                } else if key.to_ascii_lowercase().ends_with("id") || key == "version" {
                    format!("{}", 4_000_000 + *n)
                } else {
                    format!("value-{n}")
                };
            }
            _ => {}
        }
    }
    let mut v: Value = serde_json::from_str(&sample(file)).unwrap();
    fill("", &mut v, &mut 0);
    v.to_string()
}

fn one_record(body: &str) -> Record {
    match decode_body(body) {
        Ok(Body::Records(mut r)) if r.len() == 1 => r.remove(0),
        other => panic!("expected one record, got {other:?}"),
    }
}

#[test]
fn every_dataset_sample_with_real_values_lands_in_its_dataset() {
    for (file, dataset, _) in AS_PUBLISHED {
        let record = one_record(&filled(file));
        assert_eq!(record.dataset().as_str(), *dataset, "{file}");
        assert!(!record.payload_truncated(), "{file}");
    }
}

#[test]
fn dsp_quirks_are_read() {
    // `adGroupId` in the ad group sample; `advertisedProductCategoryIds` a string.
    let Record::AdspAdGroup(g) = one_record(&filled("adsp-adgroups.json")) else { panic!() };
    assert!(g.adgroup_id.starts_with('4'));
    assert_eq!(g.advertised_product_category_ids.as_deref().map(|r| r.get()), Some("\"[,]\""));
    // Both spellings of the ad group id, and the target type from the one `*Targets` field.
    let types: Vec<(String, String)> = (1..=6)
        .map(|i| {
            let Record::AdspAdGroupTarget(t) = one_record(&filled(&format!("adsp-adgroup-targets-{i}.json"))) else {
                panic!()
            };
            assert!(!t.adgroup_id.is_empty());
            (t.target_type, t.targets)
        })
        .collect();
    let names: Vec<&str> = types.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(names, ["geoLocation", "daypart", "device", "audience", "app", "thirdParty"]);
    assert!(types[2].1.contains("\"mobileOS\":null"), "device targets kept as sent: {}", types[2].1);
    // The misspelt clickstream key is the documented metric.
    let Record::AdspClickstream(c) = one_record(&filled("adsp-clickstream.json")) else { panic!() };
    assert_eq!(c.off_amazon_add_to_shopping_cart, Some(0));
}

#[test]
fn a_truncated_target_record_is_stored_and_flagged() {
    let mut v: Value = serde_json::from_str(&filled("adsp-adgroup-targets-1.json")).unwrap();
    v["geoLocationTargets"] = Value::String("PAYLOAD_TRUNCATED".into());
    let record = one_record(&v.to_string());
    assert!(record.payload_truncated());
    let Record::AdspAdGroupTarget(t) = record else { panic!() };
    assert_eq!(t.target_type, "geoLocation");
    assert_eq!(t.targets, "\"PAYLOAD_TRUNCATED\"");
}

#[test]
fn a_target_record_without_targets_or_with_both_id_spellings_is_refused() {
    let mut v: Value = serde_json::from_str(&filled("adsp-adgroup-targets-1.json")).unwrap();
    v.as_object_mut().unwrap().remove("geoLocationTargets");
    let Err(DecodeError::InvalidRecord { detail, .. }) = decode_body(&v.to_string()) else { panic!() };
    assert!(detail.contains("Targets"), "{detail}");
    let mut v: Value = serde_json::from_str(&filled("adsp-adgroup-targets-1.json")).unwrap();
    v["adGroupId"] = Value::String("99".into());
    let Err(DecodeError::InvalidRecord { detail, .. }) = decode_body(&v.to_string()) else { panic!() };
    assert!(detail.contains("duplicate"), "{detail}");
}
