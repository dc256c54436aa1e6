//! A mixed stream of the Amazon DSP and recommendation datasets with known truth: deltas with
//! corrections (negative values), entities in several versions delivered out of order, target
//! records truncated by Amazon, recommendation states re-sent and reformatted; every body once
//! as an SNS envelope, some again bare (redeliveries), all shuffled. [`Stream::assert_landed`]
//! checks a tenant's ledger against the truth, whichever path (file or queue) it came by.

use std::collections::BTreeMap;

use ams_model::{DatasetId, DeltaSpec};
use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::{json, Value};
use sqlx::Row;

use ams_store::{Store, TenantSchema};

use crate::check::assert_exact_for;
use crate::gen::{self, GenDelta};

/// One entity's expected current row: its key, highest version and number of versions.
#[derive(Debug)]
pub struct EntityTruth {
    pub dataset: DatasetId,
    pub key: Vec<(&'static str, String)>,
    pub max_version: i64,
    pub versions: usize,
    pub truncated: bool,
}

/// One recommendation key's expected current state (its `marker`) and distinct states.
#[derive(Debug)]
pub struct SnapshotTruth {
    pub dataset: DatasetId,
    pub key: Vec<(&'static str, String)>,
    pub current_marker: String,
    pub states: usize,
}

#[derive(Debug, Default)]
pub struct Stream {
    /// Message bodies, shuffled, redeliveries included.
    pub bodies: Vec<String>,
    pub deltas: Vec<(DatasetId, Vec<GenDelta>)>,
    pub entities: Vec<EntityTruth>,
    pub snapshots: Vec<SnapshotTruth>,
    /// Distinct target records that Amazon truncated.
    pub truncated_records: usize,
}

const MARKETPLACES: [&str; 2] = ["ATVPDKIKX0DER", "A1PA6795UKMFR9"];

impl Stream {
    pub fn generate(rng: &mut impl Rng) -> Stream {
        let mut s = Stream::default();
        let mut records: Vec<String> = Vec::new();
        for d in [DatasetId::AdspTraffic, DatasetId::AdspConversion, DatasetId::AdspClickstream, DatasetId::AdspRichMedia] {
            let spec = d.delta_spec().unwrap();
            let keys = rng.gen_range(3..8);
            let deltas: Vec<GenDelta> =
                (0..rng.gen_range(25..45)).map(|i| gen::delta(rng, spec, i % keys, format!("{d}-{i}"))).collect();
            records.extend(deltas.iter().map(|r| r.json.clone()));
            s.deltas.push((d, deltas));
        }
        for d in [DatasetId::AdspCampaigns, DatasetId::AdspCampaignFlights, DatasetId::AdspAdGroups, DatasetId::AdspAdGroupTargets] {
            for e in 0..3u64 {
                for marketplace in MARKETPLACES {
                    // Ids past 2^53: kept exactly.
                    let id = format!("{}", 9_007_199_254_740_993u64 + e);
                    let types: &[&str] = if d == DatasetId::AdspAdGroupTargets { &["geoLocation", "device"] } else { &[""] };
                    for target_type in types {
                        let versions = rng.gen_range(1..6i64);
                        // The last version of one geo target list came truncated.
                        let truncate_last = *target_type == "geoLocation" && e == 0;
                        for v in 1..=versions {
                            let truncated = truncate_last && v == versions;
                            records.push(entity(rng, d, &id, marketplace, target_type, v, truncated));
                        }
                        let mut key = vec![("marketplace_id", marketplace.to_string()), (d.entity_spec().unwrap().id_column(), id.clone())];
                        if !target_type.is_empty() {
                            key.push(("target_type", target_type.to_string()));
                        }
                        s.truncated_records += usize::from(truncate_last);
                        s.entities.push(EntityTruth { dataset: d, key, max_version: versions, versions: versions as usize, truncated: truncate_last });
                    }
                }
            }
        }
        for r in 0..4 {
            let id = format!("rec-{r}-{}", rng.gen::<u32>());
            let states = rng.gen_range(1..5);
            for j in 0..states {
                let state = json!({
                    "dataset_id": "sponsored-ads-campaign-diagnostics-recommendations",
                    "recommendation_id": id, "advertiser_id": "A1", "marketplace_id": MARKETPLACES[r % 2],
                    "type": "CAMPAIGN_BUDGET", "campaign_id": format!("{}", 400 + r),
                    "published_date": format!("2024-05-{:02}T06:00:00Z", 1 + j),
                    "expiry_date": format!("2024-06-{:02}", 1 + j),
                    "marker": format!("state-{j}"),
                    "explanation": {"description": format!("missed {j}"),
                        "missed_opportunities": {"clicks": {"lower_bound": j, "upper_bound": 10 * j}}},
                });
                records.push(state.to_string());
                // The same state again, formatted differently: the same state.
                records.push(serde_json::to_string_pretty(&state).unwrap());
            }
            s.snapshots.push(SnapshotTruth {
                dataset: DatasetId::CampaignRecommendations,
                key: vec![("recommendation_id", id)],
                current_marker: format!("state-{}", states - 1),
                states,
            });
        }
        for c in 0..3 {
            for t in 0..2 {
                let time = format!("2024-05-0{}T1{t}:00:00Z", 1 + c);
                let state = json!({
                    "dataset_id": "sp-budget-recommendations", "marketplace_id": "ATVPDKIKX0DER",
                    "advertiser_id": "A1", "campaign_id": format!("{}", 700 + c), "recommendation_time": time,
                    "suggested_budget": 50.25 + c as f64, "percent_time_in_budget": 61.5,
                    "estimated_missed_sales_lower": 10.1, "estimated_missed_sales_upper": 20.2,
                    "marker": format!("c{c}-t{t}"),
                });
                records.push(state.to_string());
                s.snapshots.push(SnapshotTruth {
                    dataset: DatasetId::SpBudgetRecommendations,
                    key: vec![("campaign_id", format!("{}", 700 + c)), ("recommendation_time", time)],
                    current_marker: format!("c{c}-t{t}"),
                    states: 1,
                });
            }
        }
        let mut bodies: Vec<String> = records.iter().map(|r| gen::envelope(r)).collect();
        bodies.extend(records.iter().step_by(3).cloned());
        bodies.shuffle(rng);
        s.bodies = bodies;
        s
    }

    /// Distinct records the stream holds (what the tables must count).
    pub fn expected_rows(&self, dataset: DatasetId) -> i64 {
        match dataset.kind() {
            ams_model::DatasetKind::HourlyDelta => {
                self.deltas.iter().filter(|(d, _)| *d == dataset).map(|(_, r)| r.len() as i64).sum()
            }
            ams_model::DatasetKind::Entity => {
                self.entities.iter().filter(|e| e.dataset == dataset).map(|e| e.versions as i64).sum()
            }
            _ => self.snapshots.iter().filter(|e| e.dataset == dataset).map(|e| e.states as i64).sum(),
        }
    }

    /// Rows in the table where every record of `dataset` ends up once (deltas, histories).
    pub async fn rows_of(store: &Store, schema: &TenantSchema, dataset: DatasetId) -> i64 {
        let table = match dataset.kind() {
            ams_model::DatasetKind::HourlyDelta => dataset.table().to_string(),
            _ => format!("{}_history", dataset.table()),
        };
        sqlx::query_scalar(&format!("SELECT count(*) FROM {schema}.{table}")).fetch_one(store.pool()).await.unwrap_or(0)
    }

    /// Every dataset of the stream has all its distinct records.
    pub async fn all_landed(&self, store: &Store, schema: &TenantSchema) -> bool {
        for d in DatasetId::ALL.into_iter().filter(|d| d.info().since_schema == 2) {
            if Self::rows_of(store, schema, d).await != self.expected_rows(d) {
                return false;
            }
        }
        true
    }

    /// Sums exact per key, entities at their highest version with every version in history,
    /// recommendations at their latest state with every distinct state in history.
    pub async fn assert_landed(&self, store: &Store, schema: &TenantSchema) {
        for (d, records) in &self.deltas {
            let spec: &DeltaSpec = d.delta_spec().unwrap();
            assert_exact_for(store, schema, records, spec).await;
        }
        for e in &self.entities {
            let (where_, binds) = key_where(&e.key);
            let t = e.dataset.table();
            let r = row(store, format!("SELECT version, payload->>'marker' FROM {schema}.{t} WHERE {where_}"), &binds).await;
            let got: (i64, Option<String>) = (r.get(0), r.get(1));
            assert_eq!(got, (e.max_version, Some(format!("v{}", e.max_version))), "{t} {:?}", e.key);
            let r = row(store, format!("SELECT count(*), count(DISTINCT version) FROM {schema}.{t}_history WHERE {where_}"), &binds).await;
            let counts: (i64, i64) = (r.get(0), r.get(1));
            assert_eq!(counts, (e.versions as i64, e.versions as i64), "{t} {:?}: each version once", e.key);
            if e.dataset == DatasetId::AdspAdGroupTargets {
                let r = row(store, format!("SELECT payload_truncated FROM {schema}.{t} WHERE {where_}"), &binds).await;
                assert_eq!(r.get::<bool, _>(0), e.truncated, "{t} {:?}: truncation flag", e.key);
            }
        }
        for s in &self.snapshots {
            let (where_, binds) = key_where(&s.key);
            let t = s.dataset.table();
            let r = row(store, format!("SELECT payload->>'marker' FROM {schema}.{t} WHERE {where_}"), &binds).await;
            assert_eq!(r.get::<Option<String>, _>(0), Some(s.current_marker.clone()), "{t} {:?}", s.key);
            let r = row(store, format!("SELECT count(*) FROM {schema}.{t}_history WHERE {where_}"), &binds).await;
            assert_eq!(r.get::<i64, _>(0), s.states as i64, "{t} {:?}: each state once", s.key);
        }
        // The views: the active recommendations (all expired by now: 2024) and the newest
        // budget recommendation per campaign.
        let active: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {schema}.amzn_stream_campaign_recommendations_active"))
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(active, 0);
        let latest: BTreeMap<String, String> = sqlx::query_as::<_, (String, String)>(&format!(
            "SELECT campaign_id, payload->>'marker' FROM {schema}.amzn_stream_sp_budget_recommendations_latest"
        ))
        .fetch_all(store.pool())
        .await
        .unwrap()
        .into_iter()
        .collect();
        assert_eq!(latest, (0..3).map(|c| (format!("{}", 700 + c), format!("c{c}-t1"))).collect());
    }
}

async fn row(store: &Store, sql: String, binds: &[String]) -> sqlx::postgres::PgRow {
    let mut q = sqlx::query(&sql);
    for b in binds {
        q = q.bind(b);
    }
    q.fetch_one(store.pool()).await.unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn key_where(key: &[(&'static str, String)]) -> (String, Vec<String>) {
    let where_: Vec<String> = key.iter().enumerate().map(|(i, (c, _))| format!("{c} = ${}", i + 1)).collect();
    (where_.join(" AND "), key.iter().map(|(_, v)| v.clone()).collect())
}

/// A DSP entity record: version `v`, with a `marker` (an unknown field) naming it.
fn entity(rng: &mut impl Rng, d: DatasetId, id: &str, marketplace: &str, target_type: &str, v: i64, truncated: bool) -> String {
    let mut o = json!({
        "dataset_id": d.as_str(), "advertiser_id": "3948576102938475", "marketplace_id": marketplace,
        "version": v, "dspEntityId": "ENTITY1", "marker": format!("v{v}"),
        "lastUpdatedDateTime": format!("2024-05-01T08:{v:02}:00Z"),
    });
    let m = o.as_object_mut().unwrap();
    // Amazon spells the ad group id both ways.
    let adgroup_key = if rng.gen_bool(0.5) { "adgroupId" } else { "adGroupId" };
    match d {
        DatasetId::AdspCampaigns => {
            m.insert("campaignId".into(), json!(id));
            m.insert("name".into(), json!(format!("Campaign v{v}")));
            m.insert("budgetCaps".into(), json!([{"monetaryBudget": {"amount": 100.5 * v as f64, "currencyCode": "USD"}, "recurrenceTimePeriod": "DAILY"}]));
        }
        DatasetId::AdspCampaignFlights => {
            m.insert("flightId".into(), json!(id));
            m.insert("campaignId".into(), json!("77"));
            m.insert("budgetAmount".into(), json!(1000.25 * v as f64));
        }
        DatasetId::AdspAdGroups => {
            m.insert(adgroup_key.into(), json!(id));
            m.insert("bid".into(), json!({"baseBid": 2.5, "maxAverageCpm": 4.75, "currencyCode": "USD"}));
        }
        DatasetId::AdspAdGroupTargets => {
            m.insert(adgroup_key.into(), json!(id));
            let field = format!("{target_type}Targets");
            let targets: Value = if truncated {
                json!("PAYLOAD_TRUNCATED")
            } else if target_type == "geoLocation" {
                json!([{"negative": false, "geoLocationId": format!("geo-{v}")}])
            } else {
                json!([{"deviceType": "MOBILE", "mobileEnvironment": "APP", "mobileOS": null}])
            };
            m.insert(field, targets);
        }
        _ => unreachable!("not a DSP entity: {d}"),
    }
    o.to_string()
}
