//! The two recommendation datasets, kept as states without a version ("snapshots"): every
//! distinct state once in `_history`; in the current table one row per key, the state with
//! the latest time of its own (`order`), ties going to the state first received last. A
//! redelivered old state is not new, so it never replaces anything.
//!
//! * `sponsored-ads-campaign-diagnostics-recommendations`: keyed by `recommendation_id`.
//!   Flat fields are typed columns; the nested `explanation` and the current and recommended
//!   `CampaignSettings` are kept as `jsonb` too (with the explanation's bounds typed). A view
//!   `<table>_active` shows those published and not expired.
//! * `sp-budget-recommendations`: no `idempotency_id`; keyed by (`campaign_id`,
//!   `recommendation_time`). A view `<table>_latest` shows the newest per campaign.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::columns::{col, req, Column, ColumnKind as K, ColumnSink, Columns};
use crate::entity::json_of;
use crate::{values, DatasetId};

/// What the store needs to know about a snapshot dataset.
#[derive(Debug)]
pub struct SnapshotSpec {
    pub dataset: DatasetId,
    /// Stored columns in [`Columns::write_columns`] order; always ends with `payload`.
    pub columns: &'static [Column],
    /// One current row per value of these (required) columns.
    pub key: &'static [&'static str],
    /// The state's own time (a timestamp column, possibly null: null sorts first).
    pub order: &'static str,
    /// A view over the current table, created with the tables: (suffix, `WHERE`/`SELECT` body
    /// with `{t}` for the current table).
    pub view: (&'static str, &'static str),
}

pub trait SnapshotRecord: Columns {
    const SPEC: &'static SnapshotSpec;
}

/// `sponsored-ads-campaign-diagnostics-recommendations`: a recommendation about a campaign.
#[derive(Debug, Clone, Deserialize)]
pub struct CampaignRecommendation {
    #[serde(deserialize_with = "values::key_id")]
    pub recommendation_id: String,
    #[serde(default, deserialize_with = "values::opt_id")]
    pub marketplace_id: Option<String>,
    #[serde(default, deserialize_with = "values::opt_id")]
    pub advertiser_id: Option<String>,
    #[serde(default, deserialize_with = "values::opt_id")]
    pub group_id: Option<String>,
    #[serde(default, rename = "type")]
    pub recommendation_type: Option<String>,
    #[serde(default)]
    pub apply_endpoint: Option<String>,
    #[serde(default)]
    pub published_date: Option<String>,
    #[serde(default)]
    pub expiry_date: Option<String>,
    #[serde(default, deserialize_with = "values::opt_id")]
    pub campaign_id: Option<String>,
    #[serde(default)]
    pub campaign_name: Option<String>,
    #[serde(default)]
    pub ad_product: Option<String>,
    #[serde(default)]
    pub explanation: Option<Box<RawValue>>,
    #[serde(default)]
    pub current_campaign_settings: Option<Box<RawValue>>,
    #[serde(default)]
    pub recommended_campaign_settings: Option<Box<RawValue>>,
    #[serde(alias = "dataSetId")]
    pub dataset_id: DatasetId,
    #[serde(skip)]
    pub raw: Box<str>,
}

#[derive(Debug, Default, Deserialize)]
struct Explanation {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    missed_opportunities: Option<MissedOpportunities>,
}

#[derive(Debug, Default, Deserialize)]
struct MissedOpportunities {
    #[serde(default)]
    impressions: Option<Bounds>,
    #[serde(default)]
    clicks: Option<Bounds>,
    #[serde(default)]
    conversions: Option<Bounds>,
    #[serde(default)]
    time_period: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Bounds {
    #[serde(default, deserialize_with = "values::opt_long")]
    lower_bound: Option<i64>,
    #[serde(default, deserialize_with = "values::opt_long")]
    upper_bound: Option<i64>,
}

impl CampaignRecommendation {
    /// The explanation's flat parts, when it has the documented shape (else only `jsonb`).
    fn explanation(&self) -> Explanation {
        self.explanation.as_deref().and_then(|r| serde_json::from_str(r.get()).ok()).unwrap_or_default()
    }
}

impl SnapshotRecord for CampaignRecommendation {
    const SPEC: &'static SnapshotSpec = &SnapshotSpec {
        dataset: DatasetId::CampaignRecommendations,
        columns: &[
            req("recommendation_id", K::Text),
            col("marketplace_id", K::Text),
            col("advertiser_id", K::Text),
            col("group_id", K::Text),
            col("recommendation_type", K::Text),
            col("apply_endpoint", K::Text),
            col("ad_product", K::Text),
            col("campaign_id", K::Text),
            col("campaign_name", K::Text),
            col("published_date", K::Text),
            col("published_at", K::Timestamp),
            col("expiry_date", K::Text),
            col("expires_at", K::Timestamp),
            col("description", K::Text),
            col("missed_impressions_lower", K::Long),
            col("missed_impressions_upper", K::Long),
            col("missed_clicks_lower", K::Long),
            col("missed_clicks_upper", K::Long),
            col("missed_conversions_lower", K::Long),
            col("missed_conversions_upper", K::Long),
            col("missed_opportunities_time_period", K::Text),
            col("explanation", K::Json),
            col("current_campaign_settings", K::Json),
            col("recommended_campaign_settings", K::Json),
            req("payload", K::Json),
        ],
        key: &["recommendation_id"],
        order: "published_at",
        view: (
            "_active",
            "SELECT * FROM {t} WHERE (published_at IS NULL OR published_at <= now()) \
             AND (expires_at IS NULL OR expires_at > now())",
        ),
    };
}

impl Columns for CampaignRecommendation {
    fn columns() -> &'static [Column] {
        Self::SPEC.columns
    }
    fn write_columns(&self, s: &mut dyn ColumnSink) {
        let e = self.explanation();
        let m = e.missed_opportunities.as_ref();
        let bounds = |b: Option<&Bounds>| (b.and_then(|b| b.lower_bound), b.and_then(|b| b.upper_bound));
        let date = |d: &Option<String>| d.as_deref().and_then(values::parse_date_or_instant);
        s.text(Some(&self.recommendation_id));
        s.text(self.marketplace_id.as_deref());
        s.text(self.advertiser_id.as_deref());
        s.text(self.group_id.as_deref());
        s.text(self.recommendation_type.as_deref());
        s.text(self.apply_endpoint.as_deref());
        s.text(self.ad_product.as_deref());
        s.text(self.campaign_id.as_deref());
        s.text(self.campaign_name.as_deref());
        s.text(self.published_date.as_deref());
        s.timestamp(date(&self.published_date));
        s.text(self.expiry_date.as_deref());
        s.timestamp(date(&self.expiry_date));
        s.text(e.description.as_deref());
        for b in [m.and_then(|m| m.impressions.as_ref()), m.and_then(|m| m.clicks.as_ref()), m.and_then(|m| m.conversions.as_ref())] {
            let (lower, upper) = bounds(b);
            s.long(lower);
            s.long(upper);
        }
        s.text(m.and_then(|m| m.time_period.as_deref()));
        s.json(json_of(&self.explanation));
        s.json(json_of(&self.current_campaign_settings));
        s.json(json_of(&self.recommended_campaign_settings));
        s.json(Some(&self.raw));
    }
}

/// `sp-budget-recommendations`: a suggested budget for a campaign that runs out, with the
/// sales, clicks and impressions it is estimated to miss.
#[derive(Debug, Clone, Deserialize)]
pub struct SpBudgetRecommendation {
    #[serde(deserialize_with = "values::key_id")]
    pub campaign_id: String,
    #[serde(deserialize_with = "values::key_id")]
    pub recommendation_time: String,
    #[serde(default, deserialize_with = "values::opt_id")]
    pub marketplace_id: Option<String>,
    #[serde(default, deserialize_with = "values::opt_id")]
    pub advertiser_id: Option<String>,
    #[serde(default, deserialize_with = "values::opt_decimal")]
    pub suggested_budget: Option<Decimal>,
    #[serde(default)]
    pub reason_for_suggestion: Option<String>,
    #[serde(default, deserialize_with = "values::opt_decimal")]
    pub estimated_missed_sales_lower: Option<Decimal>,
    #[serde(default, deserialize_with = "values::opt_decimal")]
    pub estimated_missed_sales_upper: Option<Decimal>,
    #[serde(default, deserialize_with = "values::opt_decimal")]
    pub estimated_missed_clicks_lower: Option<Decimal>,
    #[serde(default, deserialize_with = "values::opt_decimal")]
    pub estimated_missed_clicks_upper: Option<Decimal>,
    #[serde(default, deserialize_with = "values::opt_decimal")]
    pub estimated_missed_impressions_lower: Option<Decimal>,
    #[serde(default, deserialize_with = "values::opt_decimal")]
    pub estimated_missed_impressions_upper: Option<Decimal>,
    #[serde(default)]
    pub start_date: Option<String>,
    #[serde(default)]
    pub end_date: Option<String>,
    #[serde(default, deserialize_with = "values::opt_decimal")]
    pub percent_time_in_budget: Option<Decimal>,
    #[serde(alias = "dataSetId")]
    pub dataset_id: DatasetId,
    #[serde(skip)]
    pub raw: Box<str>,
}

impl SpBudgetRecommendation {
    pub fn recommended_at(&self) -> Option<DateTime<Utc>> {
        values::parse_date_or_instant(&self.recommendation_time)
    }
}

impl SnapshotRecord for SpBudgetRecommendation {
    const SPEC: &'static SnapshotSpec = &SnapshotSpec {
        dataset: DatasetId::SpBudgetRecommendations,
        columns: &[
            req("campaign_id", K::Text),
            req("recommendation_time", K::Text),
            col("recommended_at", K::Timestamp),
            col("marketplace_id", K::Text),
            col("advertiser_id", K::Text),
            col("suggested_budget", K::Decimal),
            col("reason_for_suggestion", K::Text),
            col("estimated_missed_sales_lower", K::Decimal),
            col("estimated_missed_sales_upper", K::Decimal),
            col("estimated_missed_clicks_lower", K::Decimal),
            col("estimated_missed_clicks_upper", K::Decimal),
            col("estimated_missed_impressions_lower", K::Decimal),
            col("estimated_missed_impressions_upper", K::Decimal),
            col("start_date", K::Text),
            col("end_date", K::Text),
            col("percent_time_in_budget", K::Decimal),
            req("payload", K::Json),
        ],
        key: &["campaign_id", "recommendation_time"],
        order: "recommended_at",
        view: (
            "_latest",
            "SELECT DISTINCT ON (campaign_id) * FROM {t} \
             ORDER BY campaign_id, recommended_at DESC NULLS LAST, received_at DESC",
        ),
    };
}

impl Columns for SpBudgetRecommendation {
    fn columns() -> &'static [Column] {
        Self::SPEC.columns
    }
    fn write_columns(&self, s: &mut dyn ColumnSink) {
        s.text(Some(&self.campaign_id));
        s.text(Some(&self.recommendation_time));
        s.timestamp(self.recommended_at());
        s.text(self.marketplace_id.as_deref());
        s.text(self.advertiser_id.as_deref());
        s.decimal(self.suggested_budget);
        s.text(self.reason_for_suggestion.as_deref());
        s.decimal(self.estimated_missed_sales_lower);
        s.decimal(self.estimated_missed_sales_upper);
        s.decimal(self.estimated_missed_clicks_lower);
        s.decimal(self.estimated_missed_clicks_upper);
        s.decimal(self.estimated_missed_impressions_lower);
        s.decimal(self.estimated_missed_impressions_upper);
        s.text(self.start_date.as_deref());
        s.text(self.end_date.as_deref());
        s.decimal(self.percent_time_in_budget);
        s.json(Some(&self.raw));
    }
}

/// Both snapshot datasets.
pub const SNAPSHOT_SPECS: [&SnapshotSpec; 2] = [CampaignRecommendation::SPEC, SpBudgetRecommendation::SPEC];
