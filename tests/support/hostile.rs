//! Records that are well-formed enough to get past a first look but that Postgres would
//! refuse, for every dataset: lone surrogates, huge exponents, out-of-range integers, NUL
//! escapes, 200-level nesting, 250 KiB keys (too large for a btree index row), and a pair of
//! records whose sum overflows `bigint`. Each carries the quarantine reason code it must get.

use ams_model::{DatasetId, DatasetKind, DELTA_SPECS};
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde_json::{Map, Value};

use ams_store::{Store, TenantSchema};

use crate::fixture;

#[derive(Debug, Clone)]
pub struct Hostile {
    pub body: String,
    /// The quarantine `reason_code` this body must get.
    pub code: &'static str,
    pub what: String,
}

/// The field that identifies a record of `dataset` (part of a unique index).
fn identity_field(dataset: DatasetId) -> &'static str {
    match dataset {
        DatasetId::Campaigns => "campaignId",
        DatasetId::AdGroups => "adGroupId",
        DatasetId::Ads => "adId",
        DatasetId::Targets => "targetId",
        DatasetId::BudgetUsage => "budget_scope_id",
        DatasetId::AdspCampaigns => "campaignId",
        DatasetId::AdspCampaignFlights => "flightId",
        // The spelling the fixture uses (a record with both is refused as a duplicate).
        DatasetId::AdspAdGroups => "adGroupId",
        DatasetId::AdspAdGroupTargets => "adgroupId",
        DatasetId::CampaignRecommendations => "recommendation_id",
        DatasetId::SpBudgetRecommendations => "campaign_id",
        DatasetId::SpTraffic
        | DatasetId::SpConversion
        | DatasetId::SdTraffic
        | DatasetId::SdConversion
        | DatasetId::SbTraffic
        | DatasetId::SbConversion
        | DatasetId::SbClickstream
        | DatasetId::SbRichMedia
        | DatasetId::AdspTraffic
        | DatasetId::AdspConversion
        | DatasetId::AdspClickstream
        | DatasetId::AdspRichMedia => "idempotency_id",
    }
}

fn base(dataset: DatasetId, n: usize) -> Map<String, Value> {
    let mut v: Value = serde_json::from_str(&fixture(&format!("{}.json", dataset.as_str()))).unwrap();
    let o = v.as_object_mut().unwrap();
    o.insert(identity_field(dataset).into(), Value::String(format!("hostile-{}-{n}", dataset.as_str())));
    o.clone()
}

/// The object's JSON with `"<key>":<raw>` in place of any value of `key`: raw text
/// serde_json could not produce.
fn with_raw(o: &Map<String, Value>, key: &str, raw: &str) -> String {
    let mut o = o.clone();
    o.remove(key);
    let text = Value::Object(o).to_string();
    format!("{},\"{key}\":{raw}}}", &text[..text.len() - 1])
}

/// Random alphanumerics: incompressible enough that Postgres cannot squeeze them into an
/// index row.
fn incompressible(len: usize) -> String {
    rand::thread_rng().sample_iter(&Alphanumeric).take(len).map(char::from).collect()
}

/// Every hostile kind that applies to `dataset`.
pub fn records(dataset: DatasetId) -> Vec<Hostile> {
    let mut out = Vec::new();
    let mut n = 0;
    let mut push = |code: &'static str, what: &str, body: String| {
        out.push(Hostile { body, code, what: format!("{}: {what}", dataset.as_str()) });
    };
    let mut next = || {
        n += 1;
        base(dataset, n)
    };
    // 200 levels inside an unknown field: past serde_json's (and the reader's) depth limit.
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    push("unstorable", "200-level nesting in an unknown field", with_raw(&next(), "x", &deep));
    push("unstorable", "1e999999 in an unknown field", with_raw(&next(), "x", "1e999999"));
    push("unstorable", "lone surrogate in an unknown field", with_raw(&next(), "x", r#""\ud800""#));
    let id_field = identity_field(dataset);
    let mut long_id = next();
    long_id.insert(id_field.into(), Value::String(incompressible(250 * 1024)));
    push("refused_by_database", "250 KiB key", Value::Object(long_id).to_string());
    match dataset.kind() {
        DatasetKind::HourlyDelta => {
            let spec = DELTA_SPECS.iter().find(|s| s.dataset == dataset).unwrap();
            // A dimension that is stored as text: a lone surrogate cannot become a Rust
            // string, a NUL cannot be stored.
            let dim = spec.key.iter().find(|k| !k.contains("time")).unwrap();
            push("not_json", "lone surrogate in a dimension", with_raw(&next(), dim, r#""\ud800""#));
            push("unstorable", "NUL in a dimension", with_raw(&next(), dim, r#""a\u0000b""#));
            let long = spec.metrics.iter().find(|m| spec.column(m).kind == ams_model::ColumnKind::Long).unwrap();
            push("invalid_record", "i64::MAX + 1 in a Long metric", with_raw(&next(), long, "9223372036854775808"));
            if let Some(dec) = spec.metrics.iter().find(|m| spec.column(m).kind == ams_model::ColumnKind::Decimal) {
                push("not_json", "1e999999 in a decimal metric", with_raw(&next(), dec, "1e999999"));
            }
        }
        DatasetKind::Entity | DatasetKind::BudgetUsage | DatasetKind::Snapshot => {
            push("unstorable", "low surrogate first", with_raw(&next(), "x", r#"["\udc00\ud800"]"#));
            push("unstorable", "numeric scale overflow", with_raw(&next(), "x", "{\"y\":1e-16384}"));
            push("unstorable", "NUL escape in an unknown field", with_raw(&next(), "x", r#""nul\u0000""#));
        }
    }
    out
}

/// Hostile records of every dataset.
pub fn all() -> Vec<Hostile> {
    DatasetId::ALL.into_iter().flat_map(records).collect()
}

/// Two sd-traffic records of one key, each with `clicks` = i64::MAX: the first to be written
/// is accepted, the other would overflow the key's rollup and must be quarantined
/// (`refused_by_database`). Either way the key's total is i64::MAX.
pub fn overflow_pair() -> [String; 2] {
    let spec = DELTA_SPECS.iter().find(|s| s.dataset == DatasetId::SdTraffic).unwrap();
    assert!(spec.metrics.contains(&"clicks"));
    [1, 2].map(|i| {
        let mut o = base(DatasetId::SdTraffic, 1000 + i);
        o.insert("clicks".into(), Value::from(i64::MAX));
        Value::Object(o).to_string()
    })
}

/// Each hostile body is quarantined exactly once with its code; of the overflow pair exactly
/// one is quarantined (`refused_by_database`, naming the bigint overflow), and their key's
/// total is what was accepted: i64::MAX.
pub async fn assert_quarantined(store: &Store, schema: &TenantSchema, bad: &[Hostile], pair: &[String; 2]) {
    for h in bad {
        let codes: Vec<String> = sqlx::query_scalar(&format!("SELECT reason_code FROM {schema}.quarantine WHERE body = $1"))
            .bind(&h.body)
            .fetch_all(store.pool())
            .await
            .unwrap();
        assert_eq!(codes, [h.code], "{}", h.what);
    }
    let refused: Vec<String> = sqlx::query_scalar(&format!(
        "SELECT reason FROM {schema}.quarantine WHERE body = ANY($1) AND reason_code = 'refused_by_database'"
    ))
    .bind(&pair[..])
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(refused.len(), 1, "exactly one of the overflow pair is quarantined: {refused:?}");
    // Postgres's "bigint out of range" (against the stored total), or the writer's own
    // "clicks sum overflows bigint" (both in one batch).
    assert!(refused[0].contains("bigint"), "{}", refused[0]);
    let clicks: Vec<i64> = sqlx::query_scalar(&format!("SELECT clicks FROM {schema}.amzn_stream_sd_traffic_hourly"))
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert_eq!(clicks, [i64::MAX]);
}
