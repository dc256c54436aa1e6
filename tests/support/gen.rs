//! Generators of AMS traffic with known truth: records built from the same column lists the
//! ledger uses, so every dataset is covered, with the expected sums computed independently
//! (in Rust decimals) from what was generated.

use std::collections::BTreeMap;

use ams_model::{ColumnKind, DeltaSpec};
use rand::seq::SliceRandom;
use rand::Rng;
use rust_decimal::Decimal;

/// One generated delta record.
#[derive(Debug, Clone)]
pub struct GenDelta {
    pub idempotency_id: String,
    pub json: String,
    /// Natural key rendered like [`key_sql`] renders it.
    pub key: String,
    /// One value per metric of the spec (null and missing as zero).
    pub metrics: Vec<Decimal>,
}

const OFFSETS: [&str; 3] = ["-07:00", "+01:00", "+09:00"];

/// A record of `spec` for key number `k` with random metrics (negative ones included: they
/// are corrections).
pub fn delta(rng: &mut impl Rng, spec: &DeltaSpec, k: usize, idempotency_id: String) -> GenDelta {
    let hour = 5 + k % 4;
    let local = chrono::NaiveDate::from_ymd_opt(2024, 5, 1).unwrap().and_hms_opt(hour as u32, 0, 0).unwrap();
    delta_at(rng, spec, k, idempotency_id, local, OFFSETS[k % OFFSETS.len()])
}

/// A record of `spec` for key number `k` whose hour starts at `local` in the UTC offset `offset`
/// (`+01:00`).
pub fn delta_at(rng: &mut impl Rng, spec: &DeltaSpec, k: usize, idempotency_id: String, local: chrono::NaiveDateTime, offset: &str) -> GenDelta {
    let mut fields: Vec<String> = vec![
        format!("\"idempotency_id\":\"{idempotency_id}\""),
        format!("\"dataset_id\":\"{}\"", spec.dataset.as_str()),
    ];
    let mut key_parts = Vec::new();
    for (j, name) in spec.key.iter().enumerate() {
        let c = spec.column(name);
        match c.kind {
            ColumnKind::Timestamp => {
                fields.push(format!("\"{name}\":\"{}{offset}\"", local.format("%Y-%m-%dT%H:%M:%S")));
                let off = chrono::FixedOffset::east_opt(offset_secs(offset)).unwrap();
                let instant = local.and_local_timezone(off).unwrap();
                key_parts.push(instant.timestamp().to_string());
            }
            _ if !c.required && (k + j) % 5 == 0 => {
                // A dimension Amazon left null: still one key value.
                fields.push(format!("\"{name}\":null"));
                key_parts.push("∅".into());
            }
            _ => {
                let v = format!("{name}-{k}");
                fields.push(format!("\"{name}\":\"{v}\""));
                key_parts.push(v);
            }
        }
    }
    for c in spec.attributes() {
        if !c.name.starts_with("time_window_start") {
            fields.push(format!("\"{}\":\"EXACT\"", c.name));
        }
    }
    let mut metrics = Vec::new();
    for m in spec.metrics {
        let roll = rng.gen_range(0..100);
        let value = if roll < 8 {
            fields.push(format!("\"{m}\":null"));
            Decimal::ZERO
        } else if roll < 12 {
            Decimal::ZERO // missing
        } else {
            match spec.column(m).kind {
                ColumnKind::Long => {
                    let v: i64 = rng.gen_range(-40..2_000);
                    fields.push(format!("\"{m}\":{v}"));
                    Decimal::from(v)
                }
                _ => {
                    let cents: i64 = rng.gen_range(-5_000..250_000);
                    let v = Decimal::new(cents, 2);
                    fields.push(format!("\"{m}\":{v}"));
                    v
                }
            }
        };
        metrics.push(value);
    }
    fields.shuffle(rng);
    GenDelta { idempotency_id, json: format!("{{{}}}", fields.join(",")), key: key_parts.join("|"), metrics }
}

fn offset_secs(o: &str) -> i32 {
    let sign = if o.starts_with('-') { -1 } else { 1 };
    sign * (o[1..3].parse::<i32>().unwrap() * 3600 + o[4..6].parse::<i32>().unwrap() * 60)
}

/// SQL rendering the natural key of a row like [`GenDelta::key`].
pub fn key_sql(spec: &DeltaSpec) -> String {
    let parts: Vec<String> = spec
        .key
        .iter()
        .map(|k| match spec.column(k).kind {
            ColumnKind::Timestamp => format!("extract(epoch from {k})::bigint::text"),
            _ => format!("coalesce({k}, '∅')"),
        })
        .collect();
    format!("concat_ws('|', {})", parts.join(", "))
}

/// Expected per key: metric sums and number of distinct deltas.
pub fn expected_sums<'a>(records: impl IntoIterator<Item = &'a GenDelta>) -> BTreeMap<String, (Vec<Decimal>, i64)> {
    let mut out: BTreeMap<String, (Vec<Decimal>, i64)> = BTreeMap::new();
    for r in records {
        let e = out.entry(r.key.clone()).or_insert_with(|| (vec![Decimal::ZERO; r.metrics.len()], 0));
        for (s, v) in e.0.iter_mut().zip(&r.metrics) {
            *s += *v;
        }
        e.1 += 1;
    }
    out
}

/// An SNS Notification envelope around a record, as SNS delivers to SQS by default.
pub fn envelope(record: &str) -> String {
    serde_json::json!({
        "Type": "Notification",
        "MessageId": uuid::Uuid::new_v4().to_string(),
        "TopicArn": "arn:aws:sns:us-east-1:906013806264:FEADMessageDeliveryTopic-test",
        "Message": record,
        "Timestamp": "2024-05-01T17:04:12.345Z",
    })
    .to_string()
}

/// Bodies that must be quarantined, one per kind of failure.
pub fn malformed_bodies(n: usize) -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    for i in 0..n {
        let body = match i % 6 {
            0 => (format!("this is not json {i}"), "not_json"),
            1 => (format!(r#"{{"dataset_id":"sp-impressions","n":{i}}}"#), "unknown_dataset"),
            2 => (
                format!(r#"{{"dataset_id":"sp-traffic","marketplace_id":"M","advertiser_id":"A","campaign_id":"{i}","time_window_start":"2024-05-01T10:00:00Z"}}"#),
                "missing_field",
            ),
            3 => (
                format!(r#"{{"idempotency_id":"bad-{i}","dataset_id":"sp-traffic","marketplace_id":"M","advertiser_id":"A","campaign_id":"1","time_window_start":"2024-05-01T10:00:00Z","clicks":"many"}}"#),
                "invalid_record",
            ),
            4 => (format!(r#"{{"Type":"Notification","MessageId":"m{i}"}}"#), "bad_envelope"),
            _ => (format!(r#"{{"Type":"Notification","Message":"{{\"broken\": {i}"}}"#), "not_json"),
        };
        out.push(body);
    }
    out
}

/// Fills a tenant's sp-traffic and sp-conversion hourly rollups (through `campaign_daily`'s
/// triggers) with `campaigns` campaigns × `days` days ending 2026-06-30 (US, UTC−7 in summer),
/// names the campaigns, and analyzes the tables: the reporting benches' data.
pub async fn fill_rollups(store: &ams_store::Store, schema: &ams_store::TenantSchema, campaigns: usize, days: usize) {
    let s = schema.name();
    // The last day is 2026-06-30 (US, UTC−7 in summer).
    let hours = format!(
        "generate_series(timestamptz '2026-07-01 07:00:00+00' - interval '{days} days', timestamptz '2026-07-01 06:00:00+00', interval '1 hour') AS h"
    );
    for sql in [
        // The rollups are partitioned by month: the months these hours fall in.
        format!(
            "SELECT {s}.ensure_month_partition(t, (m AT TIME ZONE 'UTC')::date)
             FROM unnest(ARRAY['amzn_stream_sp_traffic_hourly', 'amzn_stream_sp_conversion_hourly']) AS t,
                  generate_series(date_trunc('month', timestamptz '2026-07-01 07:00:00+00' - interval '{days} days', 'UTC'),
                                  timestamptz '2026-07-01 00:00:00+00', interval '1 month') AS m"
        ),
        format!(
            "INSERT INTO {s}.amzn_stream_sp_traffic_hourly (key_hash, marketplace_id, advertiser_id, campaign_id, ad_group_id, ad_id,
                 keyword_id, keyword_text, placement, currency, time_window_start, time_window_start_local, time_window_start_offset,
                 match_type, clicks, impressions, cost, delta_count, updated_at)
             SELECT md5('t' || c || h::text)::uuid, 'ATVPDKIKX0DER', 'ADV1', 'C' || c, 'G' || c, 'A' || c, 'K' || c, 'kw ' || c,
                    'Top of Search on-Amazon', 'USD', h, (h AT TIME ZONE 'America/Los_Angeles'), '-07:00', 'EXACT',
                    (c + extract(hour FROM h)::int) % 17, 200 + c % 300, ((c * 7 + extract(hour FROM h)::int) % 500) / 100.0, 1, now()
             FROM generate_series(1, {campaigns}) AS c, {hours}"
        ),
        format!(
            "INSERT INTO {s}.amzn_stream_sp_conversion_hourly (key_hash, marketplace_id, advertiser_id, campaign_id, ad_group_id, ad_id,
                 keyword_id, placement, currency, time_window_start, time_window_start_local, time_window_start_offset,
                 attributed_conversions_14d, attributed_units_ordered_14d, attributed_sales_14d, delta_count, updated_at)
             SELECT md5('c' || c || h::text)::uuid, 'ATVPDKIKX0DER', 'ADV1', 'C' || c, 'G' || c, 'A' || c, 'K' || c,
                    'Top of Search on-Amazon', 'USD', h, (h AT TIME ZONE 'America/Los_Angeles'), '-07:00',
                    (c + extract(hour FROM h)::int) % 3, (c + extract(hour FROM h)::int) % 4, ((c * 13) % 9000) / 100.0, 1, now()
             FROM generate_series(1, {campaigns}) AS c, {hours}"
        ),
        format!(
            "INSERT INTO {s}.amzn_stream_campaigns (marketplace_id, campaign_id, version, advertiser_id, name, state, payload, received_at)
             SELECT 'ATVPDKIKX0DER', 'C' || c, 1, 'ADV1', 'Campaign ' || c, 'ENABLED', '{{}}'::jsonb, now() FROM generate_series(1, {campaigns}) c"
        ),
        format!("ANALYZE {s}.amzn_stream_sp_traffic_hourly"),
        format!("ANALYZE {s}.amzn_stream_sp_conversion_hourly"),
        format!("ANALYZE {s}.amzn_stream_campaigns"),
    ] {
        if let Err(e) = sqlx::query(&sql).execute(store.pool()).await {
            panic!("{e}\n{sql}");
        }
    }
}
