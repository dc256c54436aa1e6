//! `budget-usage`: a notification at every 5% step of a budget's spend. No idempotency id: the
//! same notification can arrive twice, and usage can step back down after click invalidation.
//! The store keeps every distinct notification once and the newest per budget scope.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::de::{self, Deserializer};
use serde::Deserialize;

use crate::columns::{col, req, Column, ColumnKind as K, ColumnSink, Columns};
use crate::{values, DatasetId};

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BudgetUsage {
    #[serde(deserialize_with = "values::id")]
    pub advertiser_id: String,
    #[serde(deserialize_with = "values::id")]
    pub marketplace_id: String,
    #[serde(deserialize_with = "values::id")]
    pub budget_scope_id: String,
    pub budget_scope_type: String,
    #[serde(default)]
    pub advertising_product_type: Option<String>,
    #[serde(default, deserialize_with = "values::opt_decimal")]
    pub budget: Option<Decimal>,
    /// Stored as sent: Amazon does not say whether the scale is 0–1 or 0–100.
    #[serde(default, deserialize_with = "values::opt_decimal")]
    pub budget_usage_percentage: Option<Decimal>,
    /// The timestamp as sent and its instant. Its format is undocumented: ISO-8601 forms and
    /// epoch milliseconds are accepted; anything else is an error (the record needs an order).
    #[serde(deserialize_with = "usage_timestamp")]
    pub usage_updated_timestamp: (String, DateTime<Utc>),
    /// Which dataset the record says it belongs to (checked against the route taken).
    #[serde(alias = "dataSetId")]
    pub dataset_id: DatasetId,
    #[serde(skip)]
    pub raw: Box<str>,
}

fn usage_timestamp<'de, D: Deserializer<'de>>(d: D) -> Result<(String, DateTime<Utc>), D::Error> {
    let text = values::id(d)?;
    let instant = values::parse_instant(&text).or_else(|| {
        let ms: i64 = text.parse().ok()?;
        DateTime::from_timestamp_millis(ms)
    });
    match instant {
        Some(t) => Ok((text, t)),
        None => Err(de::Error::custom(format_args!(
            "usage_updated_timestamp {text:?} is not an ISO-8601 date-time or epoch milliseconds"
        ))),
    }
}

const COLUMNS: &[Column] = &[
    req("advertiser_id", K::Text),
    req("marketplace_id", K::Text),
    req("budget_scope_type", K::Text),
    req("budget_scope_id", K::Text),
    col("advertising_product_type", K::Text),
    col("budget", K::Decimal),
    col("budget_usage_percentage", K::Decimal),
    req("usage_updated_timestamp", K::Text),
    req("usage_updated_at", K::Timestamp),
    req("payload", K::Json),
];

impl BudgetUsage {
    /// The current-state key: one row per budget scope.
    pub const SCOPE_KEY: &'static [&'static str] =
        &["advertiser_id", "marketplace_id", "budget_scope_type", "budget_scope_id"];
    /// Columns that make a notification distinct (all but `payload`).
    pub const IDENTITY: &'static [&'static str] = &[
        "advertiser_id",
        "marketplace_id",
        "budget_scope_type",
        "budget_scope_id",
        "advertising_product_type",
        "budget",
        "budget_usage_percentage",
        "usage_updated_timestamp",
    ];
}

impl Columns for BudgetUsage {
    fn columns() -> &'static [Column] {
        COLUMNS
    }
    fn write_columns(&self, s: &mut dyn ColumnSink) {
        s.text(Some(&self.advertiser_id));
        s.text(Some(&self.marketplace_id));
        s.text(Some(&self.budget_scope_type));
        s.text(Some(&self.budget_scope_id));
        s.text(self.advertising_product_type.as_deref());
        s.decimal(self.budget);
        s.decimal(self.budget_usage_percentage);
        s.text(Some(&self.usage_updated_timestamp.0));
        s.timestamp(Some(self.usage_updated_timestamp.1));
        s.json(Some(&self.raw));
    }
}
