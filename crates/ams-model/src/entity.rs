//! The four entity datasets (campaigns, adgroups, ads, targets): each message is the whole
//! object after a change, with a `version` that grows per change. Fields are camelCase except
//! `dataset_id`, `advertiser_id` and `marketplace_id`. Schemas grow (Amazon announced new
//! campaign datasets in 2025): unknown fields are ignored here and kept in `payload`; typed
//! date-times that do not parse stay only in `payload` rather than costing the record.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::columns::{col, req, Column, ColumnKind as K, ColumnSink, Columns};
use crate::{values, DatasetId};

#[derive(Debug)]
pub struct EntitySpec {
    pub dataset: DatasetId,
    /// The key: `marketplace_id` and the entity's id column (`campaign_id`, ...), plus the
    /// target type for DSP ad group targets.
    pub key: &'static [&'static str],
    /// Stored columns in [`Columns::write_columns`] order. Always starts with the key
    /// columns and `version`; always ends with `payload`.
    pub columns: &'static [Column],
}

pub trait EntityRecord: Columns {
    const SPEC: &'static EntitySpec;
    fn marketplace_id(&self) -> &str;
    fn id(&self) -> &str;
    fn version(&self) -> i64;
}

impl EntitySpec {
    /// The entity's own id column (the key's second column).
    pub fn id_column(&self) -> &'static str {
        self.key[1]
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Audit {
    #[serde(default, deserialize_with = "values::lenient_time")]
    pub creation_date_time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "values::lenient_time")]
    pub last_updated_date_time: Option<DateTime<Utc>>,
}

/// A JSON value kept as text: a string as its contents, anything else as JSON.
pub(crate) fn text_of(v: &Option<Box<RawValue>>) -> Option<String> {
    let raw = v.as_deref()?.get();
    if raw == "null" {
        return None;
    }
    match serde_json::from_str::<String>(raw) {
        Ok(s) => Some(s),
        Err(_) => Some(raw.to_owned()),
    }
}

pub(crate) fn json_of(v: &Option<Box<RawValue>>) -> Option<&str> {
    v.as_deref().map(RawValue::get).filter(|s| *s != "null")
}

/// The `EntityRecord` impl and spec of an entity keyed by (`marketplace_id`, its id).
macro_rules! entity_common {
    ($name:ident, $id_field:ident, $dataset:ident, [$($c:expr),* $(,)?]) => {
        impl EntityRecord for $name {
            const SPEC: &'static EntitySpec = &EntitySpec {
                dataset: DatasetId::$dataset,
                key: &["marketplace_id", stringify!($id_field)],
                columns: &[
                    req("marketplace_id", K::Text),
                    req(stringify!($id_field), K::Text),
                    req("version", K::Long),
                    col("advertiser_id", K::Text),
                    $($c,)*
                    col("creation_date_time", K::Timestamp),
                    col("last_updated_date_time", K::Timestamp),
                    req("payload", K::Json),
                ],
            };
            fn marketplace_id(&self) -> &str { &self.marketplace_id }
            fn id(&self) -> &str { &self.$id_field }
            fn version(&self) -> i64 { self.version }
        }
    };
}

pub(crate) use entity_common;

// Shared leading fields of every entity are written out in each struct (serde's `flatten`
// would buffer the whole object and is several times slower).

/// `campaigns`: a campaign after a change.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Campaign {
    #[serde(rename = "marketplace_id", deserialize_with = "values::id")]
    pub marketplace_id: String,
    #[serde(rename = "advertiser_id", default, deserialize_with = "values::opt_id")]
    pub advertiser_id: Option<String>,
    #[serde(deserialize_with = "values::key_id")]
    pub campaign_id: String,
    #[serde(deserialize_with = "values::long")]
    pub version: i64,
    #[serde(default, deserialize_with = "values::opt_id")]
    pub account_id: Option<String>,
    #[serde(default, deserialize_with = "values::opt_id")]
    pub portfolio_id: Option<String>,
    #[serde(default)]
    pub ad_product: Option<String>,
    #[serde(default)]
    pub product_location: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default, deserialize_with = "values::lenient_time")]
    pub start_date_time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "values::lenient_time")]
    pub end_date_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub targeting_settings: Option<Box<RawValue>>,
    #[serde(default)]
    pub tags: Option<Box<RawValue>>,
    #[serde(default)]
    pub budget: Option<CampaignBudget>,
    /// Amazon's schema table puts `bidSetting` here; its sample nests it in `budget`.
    #[serde(default)]
    pub bid_setting: Option<BidSetting>,
    #[serde(default)]
    pub audit: Option<Audit>,
    /// Which dataset the record says it belongs to (checked against the route taken).
    #[serde(rename = "dataset_id", alias = "dataSetId")]
    pub dataset_id: DatasetId,
    #[serde(skip)]
    pub raw: Box<str>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CampaignBudget {
    #[serde(default)]
    pub budget_cap: Option<BudgetCap>,
    #[serde(default)]
    pub bid_setting: Option<BidSetting>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BudgetCap {
    #[serde(default)]
    pub monetary_budget: Option<MonetaryAmount>,
    #[serde(default)]
    pub recurrence: Option<Recurrence>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MonetaryAmount {
    #[serde(default, alias = "value", deserialize_with = "values::opt_decimal")]
    pub amount: Option<Decimal>,
    #[serde(default)]
    pub currency_code: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recurrence {
    #[serde(default)]
    pub recurrence_type: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BidSetting {
    #[serde(default)]
    pub bid_strategy: Option<String>,
    #[serde(default)]
    pub placement_bid_adjustment: Option<Box<RawValue>>,
    #[serde(default)]
    pub shopper_cohort_bid_adjustment: Option<Box<RawValue>>,
}

impl Campaign {
    pub fn bid_setting(&self) -> Option<&BidSetting> {
        self.bid_setting.as_ref().or_else(|| self.budget.as_ref()?.bid_setting.as_ref())
    }
    fn monetary_budget(&self) -> Option<&MonetaryAmount> {
        self.budget.as_ref()?.budget_cap.as_ref()?.monetary_budget.as_ref()
    }
}

entity_common!(Campaign, campaign_id, Campaigns, [
    col("account_id", K::Text),
    col("portfolio_id", K::Text),
    col("ad_product", K::Text),
    col("product_location", K::Text),
    col("name", K::Text),
    col("state", K::Text),
    col("start_date_time", K::Timestamp),
    col("end_date_time", K::Timestamp),
    col("targeting_settings", K::Text),
    col("tags", K::Json),
    col("budget_amount", K::Decimal),
    col("budget_currency_code", K::Text),
    col("budget_recurrence_type", K::Text),
    col("bid_strategy", K::Text),
    col("placement_bid_adjustment", K::Json),
    col("shopper_cohort_bid_adjustment", K::Json),
]);

impl Columns for Campaign {
    fn columns() -> &'static [Column] {
        Self::SPEC.columns
    }
    fn write_columns(&self, s: &mut dyn ColumnSink) {
        let money = self.monetary_budget();
        let bid = self.bid_setting();
        let audit = self.audit.as_ref();
        s.text(Some(&self.marketplace_id));
        s.text(Some(&self.campaign_id));
        s.long(Some(self.version));
        s.text(self.advertiser_id.as_deref());
        s.text(self.account_id.as_deref());
        s.text(self.portfolio_id.as_deref());
        s.text(self.ad_product.as_deref());
        s.text(self.product_location.as_deref());
        s.text(self.name.as_deref());
        s.text(self.state.as_deref());
        s.timestamp(self.start_date_time);
        s.timestamp(self.end_date_time);
        s.text(text_of(&self.targeting_settings).as_deref());
        s.json(json_of(&self.tags));
        s.decimal(money.and_then(|m| m.amount));
        s.text(money.and_then(|m| m.currency_code.as_deref()));
        s.text(
            self.budget
                .as_ref()
                .and_then(|b| b.budget_cap.as_ref()?.recurrence.as_ref()?.recurrence_type.as_deref()),
        );
        s.text(bid.and_then(|b| b.bid_strategy.as_deref()));
        s.json(bid.and_then(|b| json_of(&b.placement_bid_adjustment)));
        s.json(bid.and_then(|b| json_of(&b.shopper_cohort_bid_adjustment)));
        write_audit_and_payload(s, audit, &self.raw);
    }
}

pub(crate) fn write_audit_and_payload(s: &mut dyn ColumnSink, audit: Option<&Audit>, raw: &str) {
    s.timestamp(audit.and_then(|a| a.creation_date_time));
    s.timestamp(audit.and_then(|a| a.last_updated_date_time));
    s.json(Some(raw));
}

/// `adgroups`: an ad group after a change.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdGroup {
    #[serde(rename = "marketplace_id", deserialize_with = "values::id")]
    pub marketplace_id: String,
    #[serde(rename = "advertiser_id", default, deserialize_with = "values::opt_id")]
    pub advertiser_id: Option<String>,
    #[serde(deserialize_with = "values::key_id")]
    pub ad_group_id: String,
    #[serde(deserialize_with = "values::long")]
    pub version: i64,
    #[serde(default, deserialize_with = "values::opt_id")]
    pub account_id: Option<String>,
    #[serde(default, deserialize_with = "values::opt_id")]
    pub campaign_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub ad_product: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub bid_value: Option<BidValue>,
    #[serde(default)]
    pub audit: Option<Audit>,
    /// Which dataset the record says it belongs to (checked against the route taken).
    #[serde(rename = "dataset_id", alias = "dataSetId")]
    pub dataset_id: DatasetId,
    #[serde(skip)]
    pub raw: Box<str>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BidValue {
    #[serde(default)]
    pub default_bid: Option<MonetaryAmount>,
}

entity_common!(AdGroup, ad_group_id, AdGroups, [
    col("account_id", K::Text),
    col("campaign_id", K::Text),
    col("name", K::Text),
    col("ad_product", K::Text),
    col("state", K::Text),
    col("default_bid", K::Decimal),
    col("default_bid_currency_code", K::Text),
]);

impl Columns for AdGroup {
    fn columns() -> &'static [Column] {
        Self::SPEC.columns
    }
    fn write_columns(&self, s: &mut dyn ColumnSink) {
        let bid = self.bid_value.as_ref().and_then(|b| b.default_bid.as_ref());
        s.text(Some(&self.marketplace_id));
        s.text(Some(&self.ad_group_id));
        s.long(Some(self.version));
        s.text(self.advertiser_id.as_deref());
        s.text(self.account_id.as_deref());
        s.text(self.campaign_id.as_deref());
        s.text(self.name.as_deref());
        s.text(self.ad_product.as_deref());
        s.text(self.state.as_deref());
        s.decimal(bid.and_then(|b| b.amount));
        s.text(bid.and_then(|b| b.currency_code.as_deref()));
        write_audit_and_payload(s, self.audit.as_ref(), &self.raw);
    }
}

/// `ads`: an ad after a change.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ad {
    #[serde(rename = "marketplace_id", deserialize_with = "values::id")]
    pub marketplace_id: String,
    #[serde(rename = "advertiser_id", default, deserialize_with = "values::opt_id")]
    pub advertiser_id: Option<String>,
    #[serde(deserialize_with = "values::key_id")]
    pub ad_id: String,
    #[serde(deserialize_with = "values::long")]
    pub version: i64,
    #[serde(default, deserialize_with = "values::opt_id")]
    pub account_id: Option<String>,
    #[serde(default, deserialize_with = "values::opt_id")]
    pub ad_group_id: Option<String>,
    #[serde(default, deserialize_with = "values::opt_id")]
    pub campaign_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub ad_product: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub custom_text: Option<String>,
    #[serde(default)]
    pub asin: Option<String>,
    #[serde(default)]
    pub sku: Option<String>,
    #[serde(default)]
    pub landing_page: Option<LandingPage>,
    #[serde(default)]
    pub audit: Option<Audit>,
    /// Which dataset the record says it belongs to (checked against the route taken).
    #[serde(rename = "dataset_id", alias = "dataSetId")]
    pub dataset_id: DatasetId,
    #[serde(skip)]
    pub raw: Box<str>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LandingPage {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default, rename = "type")]
    pub page_type: Option<String>,
}

entity_common!(Ad, ad_id, Ads, [
    col("account_id", K::Text),
    col("ad_group_id", K::Text),
    col("campaign_id", K::Text),
    col("name", K::Text),
    col("ad_product", K::Text),
    col("state", K::Text),
    col("custom_text", K::Text),
    col("asin", K::Text),
    col("sku", K::Text),
    col("landing_page_url", K::Text),
    col("landing_page_type", K::Text),
]);

impl Columns for Ad {
    fn columns() -> &'static [Column] {
        Self::SPEC.columns
    }
    fn write_columns(&self, s: &mut dyn ColumnSink) {
        let lp = self.landing_page.as_ref();
        s.text(Some(&self.marketplace_id));
        s.text(Some(&self.ad_id));
        s.long(Some(self.version));
        s.text(self.advertiser_id.as_deref());
        s.text(self.account_id.as_deref());
        s.text(self.ad_group_id.as_deref());
        s.text(self.campaign_id.as_deref());
        s.text(self.name.as_deref());
        s.text(self.ad_product.as_deref());
        s.text(self.state.as_deref());
        s.text(self.custom_text.as_deref());
        s.text(self.asin.as_deref());
        s.text(self.sku.as_deref());
        s.text(lp.and_then(|l| l.url.as_deref()));
        s.text(lp.and_then(|l| l.page_type.as_deref()));
        write_audit_and_payload(s, self.audit.as_ref(), &self.raw);
    }
}

/// `targets`: a targeting clause after a change. Exactly one of the `*Target` objects is
/// expected; its kind lands in `target_detail_type`, its fields in typed columns.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    #[serde(rename = "marketplace_id", deserialize_with = "values::id")]
    pub marketplace_id: String,
    #[serde(rename = "advertiser_id", default, deserialize_with = "values::opt_id")]
    pub advertiser_id: Option<String>,
    #[serde(deserialize_with = "values::key_id")]
    pub target_id: String,
    #[serde(deserialize_with = "values::long")]
    pub version: i64,
    #[serde(default, deserialize_with = "values::opt_id")]
    pub account_id: Option<String>,
    #[serde(default, deserialize_with = "values::opt_id")]
    pub ad_group_id: Option<String>,
    #[serde(default, deserialize_with = "values::opt_id")]
    pub campaign_id: Option<String>,
    #[serde(default)]
    pub ad_product: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub target_type: Option<String>,
    #[serde(default)]
    pub negative: Option<bool>,
    /// `null` means the ad group's default bid.
    #[serde(default, deserialize_with = "values::opt_decimal")]
    pub bid: Option<Decimal>,
    #[serde(default)]
    pub currency_code: Option<String>,
    #[serde(default)]
    pub keyword_target: Option<TargetDetail>,
    #[serde(default)]
    pub product_target: Option<TargetDetail>,
    #[serde(default)]
    pub product_audience_target: Option<TargetDetail>,
    #[serde(default)]
    pub product_category_target: Option<TargetDetail>,
    #[serde(default)]
    pub product_category_audience_target: Option<TargetDetail>,
    #[serde(default)]
    pub audience_target: Option<TargetDetail>,
    #[serde(default)]
    pub auto_target: Option<TargetDetail>,
    #[serde(default)]
    pub audit: Option<Audit>,
    /// Which dataset the record says it belongs to (checked against the route taken).
    #[serde(rename = "dataset_id", alias = "dataSetId")]
    pub dataset_id: DatasetId,
    #[serde(skip)]
    pub raw: Box<str>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetDetail {
    #[serde(default)]
    pub match_type: Option<String>,
    #[serde(default)]
    pub keyword: Option<String>,
    #[serde(default)]
    pub native_language_keyword: Option<String>,
    #[serde(default)]
    pub native_language_locale: Option<String>,
    #[serde(default)]
    pub targeting_clause: Option<Box<RawValue>>,
}

impl Target {
    /// The `*Target` object present, with its JSON name.
    pub fn detail(&self) -> Option<(&'static str, &TargetDetail)> {
        [
            ("keywordTarget", &self.keyword_target),
            ("productTarget", &self.product_target),
            ("productAudienceTarget", &self.product_audience_target),
            ("productCategoryTarget", &self.product_category_target),
            ("productCategoryAudienceTarget", &self.product_category_audience_target),
            ("audienceTarget", &self.audience_target),
            ("autoTarget", &self.auto_target),
        ]
        .into_iter()
        .find_map(|(name, d)| d.as_ref().map(|d| (name, d)))
    }
}

entity_common!(Target, target_id, Targets, [
    col("account_id", K::Text),
    col("ad_group_id", K::Text),
    col("campaign_id", K::Text),
    col("ad_product", K::Text),
    col("state", K::Text),
    col("target_type", K::Text),
    col("negative", K::Bool),
    col("bid", K::Decimal),
    col("currency_code", K::Text),
    col("target_detail_type", K::Text),
    col("match_type", K::Text),
    col("keyword", K::Text),
    col("native_language_keyword", K::Text),
    col("native_language_locale", K::Text),
    col("targeting_clause", K::Text),
]);

impl Columns for Target {
    fn columns() -> &'static [Column] {
        Self::SPEC.columns
    }
    fn write_columns(&self, s: &mut dyn ColumnSink) {
        let detail = self.detail();
        let d = detail.map(|(_, d)| d);
        s.text(Some(&self.marketplace_id));
        s.text(Some(&self.target_id));
        s.long(Some(self.version));
        s.text(self.advertiser_id.as_deref());
        s.text(self.account_id.as_deref());
        s.text(self.ad_group_id.as_deref());
        s.text(self.campaign_id.as_deref());
        s.text(self.ad_product.as_deref());
        s.text(self.state.as_deref());
        s.text(self.target_type.as_deref());
        s.boolean(self.negative);
        s.decimal(self.bid);
        s.text(self.currency_code.as_deref());
        s.text(detail.map(|(name, _)| name));
        s.text(d.and_then(|d| d.match_type.as_deref()));
        s.text(d.and_then(|d| d.keyword.as_deref()));
        s.text(d.and_then(|d| d.native_language_keyword.as_deref()));
        s.text(d.and_then(|d| d.native_language_locale.as_deref()));
        s.text(d.and_then(|d| text_of(&d.targeting_clause)).as_deref());
        write_audit_and_payload(s, self.audit.as_ref(), &self.raw);
    }
}

/// All eight entity datasets (the four Amazon DSP ones are in `adsp_entity.rs`).
pub const ENTITY_SPECS: [&EntitySpec; 8] = [
    Campaign::SPEC,
    AdGroup::SPEC,
    Ad::SPEC,
    Target::SPEC,
    crate::AdspCampaign::SPEC,
    crate::AdspCampaignFlight::SPEC,
    crate::AdspAdGroup::SPEC,
    crate::AdspAdGroupTarget::SPEC,
];
