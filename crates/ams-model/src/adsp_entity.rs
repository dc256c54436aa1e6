//! The four Amazon DSP entity datasets (`adsp-campaigns`, `adsp-campaign-flights`,
//! `adsp-adgroups`, `adsp-adgroup-targets`): whole objects after a change with a `version`,
//! current by the highest version plus every version in history, like the sponsored-ads
//! entities. Unlike those, the timestamps are top-level and there is `dspEntityId`.
//!
//! Quirks of Amazon's pages, handled here: the ad group id is spelled `adgroupId` in the
//! schema tables and in three target samples, `adGroupId` in the ad group sample and three
//! others (both are read; a record carrying both is refused as a duplicate field);
//! `advertisedProductCategoryIds` is a string in the sample although the table says array (it
//! is kept as JSON whatever its shape). Target records too large for SQS arrive with the
//! targets replaced by the marker `PAYLOAD_TRUNCATED`: they are stored as they come and
//! flagged (`payload_truncated`), never refused.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::columns::{col, req, Column, ColumnKind as K, ColumnSink, Columns};
use crate::entity::{entity_common, json_of, EntityRecord, EntitySpec};
use crate::{values, DatasetId};

/// `adsp-campaigns`: a DSP campaign (order) after a change.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdspCampaign {
    #[serde(rename = "marketplace_id", deserialize_with = "values::id")]
    pub marketplace_id: String,
    #[serde(rename = "advertiser_id", default, deserialize_with = "values::opt_id")]
    pub advertiser_id: Option<String>,
    #[serde(default, deserialize_with = "values::opt_id")]
    pub dsp_entity_id: Option<String>,
    #[serde(deserialize_with = "values::key_id")]
    pub campaign_id: String,
    #[serde(deserialize_with = "values::long")]
    pub version: i64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub currency_code: Option<String>,
    #[serde(default)]
    pub optimization: Option<Optimization>,
    #[serde(default)]
    pub fees: Option<Fees>,
    #[serde(default)]
    pub frequencies: Option<Box<RawValue>>,
    #[serde(default)]
    pub budget_caps: Option<Box<RawValue>>,
    #[serde(default)]
    pub tags: Option<Box<RawValue>>,
    #[serde(default, deserialize_with = "values::lenient_time")]
    pub creation_date_time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "values::lenient_time")]
    pub last_updated_date_time: Option<DateTime<Utc>>,
    #[serde(rename = "dataset_id", alias = "dataSetId")]
    pub dataset_id: DatasetId,
    #[serde(skip)]
    pub raw: Box<str>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Optimization {
    #[serde(default)]
    pub bid_strategy: Option<String>,
    #[serde(default)]
    pub bid_optimization: Option<bool>,
    #[serde(default)]
    pub budget_optimization: Option<bool>,
    #[serde(default)]
    pub goal_settings: Option<GoalSettings>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GoalSettings {
    #[serde(default)]
    pub goal_type: Option<String>,
    #[serde(default)]
    pub goal_kpi: Option<String>,
    #[serde(default, deserialize_with = "values::opt_decimal")]
    pub target_kpi: Option<Decimal>,
    #[serde(default)]
    pub currency_code: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fees {
    #[serde(default, deserialize_with = "values::opt_decimal")]
    pub agency_fee_percentage: Option<Decimal>,
}

entity_common!(AdspCampaign, campaign_id, AdspCampaigns, [
    col("dsp_entity_id", K::Text),
    col("name", K::Text),
    col("state", K::Text),
    col("currency_code", K::Text),
    col("bid_strategy", K::Text),
    col("bid_optimization", K::Bool),
    col("budget_optimization", K::Bool),
    col("goal_type", K::Text),
    col("goal_kpi", K::Text),
    col("target_kpi", K::Decimal),
    col("goal_currency_code", K::Text),
    col("agency_fee_percentage", K::Decimal),
    col("frequencies", K::Json),
    col("budget_caps", K::Json),
    col("tags", K::Json),
]);

/// Top-level `creationDateTime`, `lastUpdatedDateTime` and the payload: the closing columns
/// of every DSP entity.
fn write_times_and_payload(
    s: &mut dyn ColumnSink,
    created: Option<DateTime<Utc>>,
    updated: Option<DateTime<Utc>>,
    raw: &str,
) {
    s.timestamp(created);
    s.timestamp(updated);
    s.json(Some(raw));
}

impl Columns for AdspCampaign {
    fn columns() -> &'static [Column] {
        Self::SPEC.columns
    }
    fn write_columns(&self, s: &mut dyn ColumnSink) {
        let o = self.optimization.as_ref();
        let goal = o.and_then(|o| o.goal_settings.as_ref());
        s.text(Some(&self.marketplace_id));
        s.text(Some(&self.campaign_id));
        s.long(Some(self.version));
        s.text(self.advertiser_id.as_deref());
        s.text(self.dsp_entity_id.as_deref());
        s.text(self.name.as_deref());
        s.text(self.state.as_deref());
        s.text(self.currency_code.as_deref());
        s.text(o.and_then(|o| o.bid_strategy.as_deref()));
        s.boolean(o.and_then(|o| o.bid_optimization));
        s.boolean(o.and_then(|o| o.budget_optimization));
        s.text(goal.and_then(|g| g.goal_type.as_deref()));
        s.text(goal.and_then(|g| g.goal_kpi.as_deref()));
        s.decimal(goal.and_then(|g| g.target_kpi));
        s.text(goal.and_then(|g| g.currency_code.as_deref()));
        s.decimal(self.fees.as_ref().and_then(|f| f.agency_fee_percentage));
        s.json(json_of(&self.frequencies));
        s.json(json_of(&self.budget_caps));
        s.json(json_of(&self.tags));
        write_times_and_payload(s, self.creation_date_time, self.last_updated_date_time, &self.raw);
    }
}

/// `adsp-campaign-flights`: a flight (a campaign's dated budget segment) after a change.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdspCampaignFlight {
    #[serde(rename = "marketplace_id", deserialize_with = "values::id")]
    pub marketplace_id: String,
    #[serde(rename = "advertiser_id", default, deserialize_with = "values::opt_id")]
    pub advertiser_id: Option<String>,
    #[serde(default, deserialize_with = "values::opt_id")]
    pub dsp_entity_id: Option<String>,
    #[serde(default, deserialize_with = "values::opt_id")]
    pub campaign_id: Option<String>,
    #[serde(deserialize_with = "values::key_id")]
    pub flight_id: String,
    #[serde(deserialize_with = "values::long")]
    pub version: i64,
    #[serde(default, deserialize_with = "values::lenient_time")]
    pub start_date_time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "values::lenient_time")]
    pub end_date_time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "values::opt_decimal")]
    pub budget_amount: Option<Decimal>,
    #[serde(default, deserialize_with = "values::lenient_time")]
    pub creation_date_time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "values::lenient_time")]
    pub last_updated_date_time: Option<DateTime<Utc>>,
    #[serde(rename = "dataset_id", alias = "dataSetId")]
    pub dataset_id: DatasetId,
    #[serde(skip)]
    pub raw: Box<str>,
}

entity_common!(AdspCampaignFlight, flight_id, AdspCampaignFlights, [
    col("dsp_entity_id", K::Text),
    col("campaign_id", K::Text),
    col("start_date_time", K::Timestamp),
    col("end_date_time", K::Timestamp),
    col("budget_amount", K::Decimal),
]);

impl Columns for AdspCampaignFlight {
    fn columns() -> &'static [Column] {
        Self::SPEC.columns
    }
    fn write_columns(&self, s: &mut dyn ColumnSink) {
        s.text(Some(&self.marketplace_id));
        s.text(Some(&self.flight_id));
        s.long(Some(self.version));
        s.text(self.advertiser_id.as_deref());
        s.text(self.dsp_entity_id.as_deref());
        s.text(self.campaign_id.as_deref());
        s.timestamp(self.start_date_time);
        s.timestamp(self.end_date_time);
        s.decimal(self.budget_amount);
        write_times_and_payload(s, self.creation_date_time, self.last_updated_date_time, &self.raw);
    }
}

/// `adsp-adgroups`: a DSP ad group (line item) after a change.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdspAdGroup {
    #[serde(rename = "marketplace_id", deserialize_with = "values::id")]
    pub marketplace_id: String,
    #[serde(rename = "advertiser_id", default, deserialize_with = "values::opt_id")]
    pub advertiser_id: Option<String>,
    #[serde(default, deserialize_with = "values::opt_id")]
    pub dsp_entity_id: Option<String>,
    #[serde(default, deserialize_with = "values::opt_id")]
    pub campaign_id: Option<String>,
    #[serde(rename = "adgroupId", alias = "adGroupId", deserialize_with = "values::key_id")]
    pub adgroup_id: String,
    #[serde(deserialize_with = "values::long")]
    pub version: i64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub inventory_type: Option<String>,
    #[serde(default)]
    pub creative_rotation_type: Option<String>,
    #[serde(default, deserialize_with = "values::lenient_time")]
    pub start_date_time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "values::lenient_time")]
    pub end_date_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub advertised_product_category_ids: Option<Box<RawValue>>,
    #[serde(default)]
    pub budget_caps: Option<Box<RawValue>>,
    #[serde(default)]
    pub frequencies: Option<Box<RawValue>>,
    #[serde(default)]
    pub pacing: Option<Pacing>,
    #[serde(default)]
    pub bid: Option<AdGroupBid>,
    #[serde(default)]
    pub optimization: Option<Optimization>,
    #[serde(default)]
    pub targeting_settings: Option<Box<RawValue>>,
    #[serde(default)]
    pub tags: Option<Box<RawValue>>,
    #[serde(default, deserialize_with = "values::lenient_time")]
    pub creation_date_time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "values::lenient_time")]
    pub last_updated_date_time: Option<DateTime<Utc>>,
    #[serde(rename = "dataset_id", alias = "dataSetId")]
    pub dataset_id: DatasetId,
    #[serde(skip)]
    pub raw: Box<str>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pacing {
    #[serde(default, deserialize_with = "values::opt_decimal")]
    pub catchup_percentage: Option<Decimal>,
    #[serde(default)]
    pub delivery_profile: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdGroupBid {
    #[serde(default)]
    pub currency_code: Option<String>,
    #[serde(default, deserialize_with = "values::opt_decimal")]
    pub base_bid: Option<Decimal>,
    #[serde(default, deserialize_with = "values::opt_decimal")]
    pub max_average_cpm: Option<Decimal>,
}

entity_common!(AdspAdGroup, adgroup_id, AdspAdGroups, [
    col("dsp_entity_id", K::Text),
    col("campaign_id", K::Text),
    col("name", K::Text),
    col("state", K::Text),
    col("inventory_type", K::Text),
    col("creative_rotation_type", K::Text),
    col("start_date_time", K::Timestamp),
    col("end_date_time", K::Timestamp),
    col("bid_currency_code", K::Text),
    col("base_bid", K::Decimal),
    col("max_average_cpm", K::Decimal),
    col("pacing_catchup_percentage", K::Decimal),
    col("pacing_delivery_profile", K::Text),
    col("bid_strategy", K::Text),
    col("budget_optimization", K::Bool),
    col("advertised_product_category_ids", K::Json),
    col("budget_caps", K::Json),
    col("frequencies", K::Json),
    col("targeting_settings", K::Json),
    col("tags", K::Json),
]);

impl Columns for AdspAdGroup {
    fn columns() -> &'static [Column] {
        Self::SPEC.columns
    }
    fn write_columns(&self, s: &mut dyn ColumnSink) {
        let bid = self.bid.as_ref();
        let pacing = self.pacing.as_ref();
        let o = self.optimization.as_ref();
        s.text(Some(&self.marketplace_id));
        s.text(Some(&self.adgroup_id));
        s.long(Some(self.version));
        s.text(self.advertiser_id.as_deref());
        s.text(self.dsp_entity_id.as_deref());
        s.text(self.campaign_id.as_deref());
        s.text(self.name.as_deref());
        s.text(self.state.as_deref());
        s.text(self.inventory_type.as_deref());
        s.text(self.creative_rotation_type.as_deref());
        s.timestamp(self.start_date_time);
        s.timestamp(self.end_date_time);
        s.text(bid.and_then(|b| b.currency_code.as_deref()));
        s.decimal(bid.and_then(|b| b.base_bid));
        s.decimal(bid.and_then(|b| b.max_average_cpm));
        s.decimal(pacing.and_then(|p| p.catchup_percentage));
        s.text(pacing.and_then(|p| p.delivery_profile.as_deref()));
        s.text(o.and_then(|o| o.bid_strategy.as_deref()));
        s.boolean(o.and_then(|o| o.budget_optimization));
        s.json(json_of(&self.advertised_product_category_ids));
        s.json(json_of(&self.budget_caps));
        s.json(json_of(&self.frequencies));
        s.json(json_of(&self.targeting_settings));
        s.json(json_of(&self.tags));
        write_times_and_payload(s, self.creation_date_time, self.last_updated_date_time, &self.raw);
    }
}

/// `adsp-adgroup-targets`: one kind of targeting of an ad group after a change. Each record
/// carries the common fields and one `<type>Targets` field (`geoLocationTargets`,
/// `daypartTargets`, `deviceTargets`, `audienceTargets`, `appTargets`, `thirdPartyTargets`,
/// and whatever type Amazon adds: any key ending in `Targets` is one). The key is (marketplace,
/// ad group, target type): each type of an ad group has its own versions.
#[derive(Debug, Clone)]
pub struct AdspAdGroupTarget {
    pub marketplace_id: String,
    pub advertiser_id: Option<String>,
    pub dsp_entity_id: Option<String>,
    pub campaign_id: Option<String>,
    pub adgroup_id: String,
    pub version: i64,
    /// The type(s) present, without the `Targets` suffix (`geoLocation`, ...), comma-joined
    /// in name order when a record carries several.
    pub target_type: String,
    /// The targets as sent: the array (or the truncation marker) of the one type present, or
    /// an object by field name when there are several.
    pub targets: String,
    pub creation_date_time: Option<DateTime<Utc>>,
    pub last_updated_date_time: Option<DateTime<Utc>>,
    pub dataset_id: DatasetId,
    pub raw: Box<str>,
}

/// What Amazon puts in place of targets too large for an SQS message.
pub const PAYLOAD_TRUNCATED: &str = "PAYLOAD_TRUNCATED";

impl AdspAdGroupTarget {
    /// Amazon replaced (some of) the record's targets by the truncation marker.
    pub fn payload_truncated(&self) -> bool {
        memchr::memmem::find(self.raw.as_bytes(), PAYLOAD_TRUNCATED.as_bytes()).is_some()
    }
}

impl<'de> Deserialize<'de> for AdspAdGroupTarget {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(TargetVisitor)
    }
}

struct TargetVisitor;

/// The next map value read with one of the `values` readers (`$f`, yielding `$t`).
macro_rules! with {
    ($map:ident, $f:path, $t:ty) => {{
        struct W($t);
        impl<'de> Deserialize<'de> for W {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                $f(d).map(W)
            }
        }
        $map.next_value::<W>()?.0
    }};
}

fn set_once<T, E: de::Error>(slot: &mut Option<T>, v: T, name: &'static str) -> Result<(), E> {
    if slot.is_some() {
        return Err(E::duplicate_field(name));
    }
    *slot = Some(v);
    Ok(())
}

impl<'de> Visitor<'de> for TargetVisitor {
    type Value = AdspAdGroupTarget;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an adsp-adgroup-targets record")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AdspAdGroupTarget, A::Error> {
        let mut marketplace_id = None;
        let mut advertiser_id = None;
        let mut dsp_entity_id = None;
        let mut campaign_id = None;
        let mut adgroup_id: Option<String> = None;
        let mut version = None;
        let mut created = None;
        let mut updated = None;
        let mut dataset_id = None;
        let mut targets: Vec<(String, Box<RawValue>)> = Vec::new();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match key.as_ref() {
                "marketplace_id" => {
                    let v = with!(map, values::id, String);
                    set_once(&mut marketplace_id, v, "marketplace_id")?;
                }
                "advertiser_id" => set_once(&mut advertiser_id, with!(map, values::opt_id, Option<String>), "advertiser_id")?,
                "dspEntityId" => set_once(&mut dsp_entity_id, with!(map, values::opt_id, Option<String>), "dspEntityId")?,
                "campaignId" => set_once(&mut campaign_id, with!(map, values::opt_id, Option<String>), "campaignId")?,
                "adgroupId" | "adGroupId" => {
                    let v = with!(map, values::key_id, String);
                    set_once(&mut adgroup_id, v, "adgroupId")?;
                }
                "version" => set_once(&mut version, with!(map, values::long, i64), "version")?,
                "creationDateTime" => set_once(&mut created, with!(map, values::lenient_time, Option<DateTime<Utc>>), "creationDateTime")?,
                "lastUpdatedDateTime" => {
                    set_once(&mut updated, with!(map, values::lenient_time, Option<DateTime<Utc>>), "lastUpdatedDateTime")?
                }
                "dataset_id" | "dataSetId" => set_once(&mut dataset_id, map.next_value::<DatasetId>()?, "dataset_id")?,
                k if k.len() > "Targets".len() && k.ends_with("Targets") => {
                    let v: Box<RawValue> = map.next_value()?;
                    if targets.iter().any(|(n, _)| n == k) {
                        return Err(de::Error::custom(format_args!("duplicate field `{k}`")));
                    }
                    targets.push((k.to_owned(), v));
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if targets.is_empty() {
            return Err(de::Error::custom("no `<type>Targets` field: the record says nothing about any targeting"));
        }
        targets.sort_by(|a, b| a.0.cmp(&b.0));
        let target_type =
            targets.iter().map(|(n, _)| &n[..n.len() - "Targets".len()]).collect::<Vec<_>>().join(",");
        let targets = if targets.len() == 1 {
            targets[0].1.get().to_owned()
        } else {
            let fields: Vec<String> = targets
                .iter()
                .map(|(n, v)| format!("{}:{}", serde_json::to_string(n).expect("a string"), v.get()))
                .collect();
            format!("{{{}}}", fields.join(","))
        };
        Ok(AdspAdGroupTarget {
            marketplace_id: marketplace_id.ok_or_else(|| de::Error::missing_field("marketplace_id"))?,
            advertiser_id: advertiser_id.flatten(),
            dsp_entity_id: dsp_entity_id.flatten(),
            campaign_id: campaign_id.flatten(),
            adgroup_id: adgroup_id.ok_or_else(|| de::Error::missing_field("adgroupId"))?,
            version: version.ok_or_else(|| de::Error::missing_field("version"))?,
            target_type,
            targets,
            creation_date_time: created.flatten(),
            last_updated_date_time: updated.flatten(),
            dataset_id: dataset_id.ok_or_else(|| de::Error::missing_field("dataset_id"))?,
            raw: Box::from(""),
        })
    }
}

impl EntityRecord for AdspAdGroupTarget {
    const SPEC: &'static EntitySpec = &EntitySpec {
        dataset: DatasetId::AdspAdGroupTargets,
        key: &["marketplace_id", "adgroup_id", "target_type"],
        columns: &[
            req("marketplace_id", K::Text),
            req("adgroup_id", K::Text),
            req("target_type", K::Text),
            req("version", K::Long),
            col("advertiser_id", K::Text),
            col("dsp_entity_id", K::Text),
            col("campaign_id", K::Text),
            req("targets", K::Json),
            req("payload_truncated", K::Bool),
            col("creation_date_time", K::Timestamp),
            col("last_updated_date_time", K::Timestamp),
            req("payload", K::Json),
        ],
    };
    fn marketplace_id(&self) -> &str {
        &self.marketplace_id
    }
    fn id(&self) -> &str {
        &self.adgroup_id
    }
    fn version(&self) -> i64 {
        self.version
    }
}

impl Columns for AdspAdGroupTarget {
    fn columns() -> &'static [Column] {
        Self::SPEC.columns
    }
    fn write_columns(&self, s: &mut dyn ColumnSink) {
        s.text(Some(&self.marketplace_id));
        s.text(Some(&self.adgroup_id));
        s.text(Some(&self.target_type));
        s.long(Some(self.version));
        s.text(self.advertiser_id.as_deref());
        s.text(self.dsp_entity_id.as_deref());
        s.text(self.campaign_id.as_deref());
        s.json(Some(&self.targets));
        s.boolean(Some(self.payload_truncated()));
        write_times_and_payload(s, self.creation_date_time, self.last_updated_date_time, &self.raw);
    }
}
