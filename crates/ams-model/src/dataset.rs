//! The 13 AMS datasets: their ids as Amazon spells them, their kind, and their table names
//! (Openbridge's, so users migrating keep their queries).

use std::fmt;
use std::str::FromStr;

/// How a dataset's records combine into the truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatasetKind {
    /// Hourly increments: dedupe on `idempotency_id`, then sum by natural key.
    HourlyDelta,
    /// Point-in-time budget notifications: history plus newest per budget scope.
    BudgetUsage,
    /// Whole objects with a `version`: the highest version is current.
    Entity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DatasetId {
    SpTraffic,
    SpConversion,
    SdTraffic,
    SdConversion,
    SbTraffic,
    SbConversion,
    SbClickstream,
    SbRichMedia,
    BudgetUsage,
    Campaigns,
    AdGroups,
    Ads,
    Targets,
}

impl DatasetId {
    pub const ALL: [DatasetId; 13] = [
        DatasetId::SpTraffic,
        DatasetId::SpConversion,
        DatasetId::SdTraffic,
        DatasetId::SdConversion,
        DatasetId::SbTraffic,
        DatasetId::SbConversion,
        DatasetId::SbClickstream,
        DatasetId::SbRichMedia,
        DatasetId::BudgetUsage,
        DatasetId::Campaigns,
        DatasetId::AdGroups,
        DatasetId::Ads,
        DatasetId::Targets,
    ];

    /// Its position in [`DatasetId::ALL`] (for per-dataset arrays of counters).
    pub fn index(self) -> usize {
        self as usize
    }

    /// The `dataset_id` / `dataSetId` value Amazon uses.
    pub fn as_str(self) -> &'static str {
        match self {
            DatasetId::SpTraffic => "sp-traffic",
            DatasetId::SpConversion => "sp-conversion",
            DatasetId::SdTraffic => "sd-traffic",
            DatasetId::SdConversion => "sd-conversion",
            DatasetId::SbTraffic => "sb-traffic",
            DatasetId::SbConversion => "sb-conversion",
            DatasetId::SbClickstream => "sb-clickstream",
            DatasetId::SbRichMedia => "sb-rich-media",
            DatasetId::BudgetUsage => "budget-usage",
            DatasetId::Campaigns => "campaigns",
            DatasetId::AdGroups => "adgroups",
            DatasetId::Ads => "ads",
            DatasetId::Targets => "targets",
        }
    }

    /// The table (in each tenant schema) holding this dataset's rows.
    pub fn table(self) -> &'static str {
        match self {
            DatasetId::SpTraffic => "amzn_stream_sp_traffic",
            DatasetId::SpConversion => "amzn_stream_sp_conversion",
            DatasetId::SdTraffic => "amzn_stream_sd_traffic",
            DatasetId::SdConversion => "amzn_stream_sd_conversion",
            DatasetId::SbTraffic => "amzn_stream_sb_traffic",
            DatasetId::SbConversion => "amzn_stream_sb_conversion",
            DatasetId::SbClickstream => "amzn_stream_sb_clickstream",
            DatasetId::SbRichMedia => "amzn_stream_sb_rich_media",
            DatasetId::BudgetUsage => "amzn_stream_budget_usage",
            DatasetId::Campaigns => "amzn_stream_campaigns",
            DatasetId::AdGroups => "amzn_stream_adgroups",
            DatasetId::Ads => "amzn_stream_ads",
            DatasetId::Targets => "amzn_stream_targets",
        }
    }

    pub fn kind(self) -> DatasetKind {
        match self {
            DatasetId::BudgetUsage => DatasetKind::BudgetUsage,
            DatasetId::Campaigns | DatasetId::AdGroups | DatasetId::Ads | DatasetId::Targets => {
                DatasetKind::Entity
            }
            _ => DatasetKind::HourlyDelta,
        }
    }
}

impl fmt::Display for DatasetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DatasetId {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        DatasetId::ALL.into_iter().find(|d| d.as_str() == s).ok_or(())
    }
}

impl DatasetId {
    /// The delta spec of an hourly delta dataset.
    pub fn delta_spec(self) -> Option<&'static crate::DeltaSpec> {
        crate::DELTA_SPECS.into_iter().find(|s| s.dataset == self)
    }
    /// The entity spec of an entity dataset.
    pub fn entity_spec(self) -> Option<&'static crate::EntitySpec> {
        crate::ENTITY_SPECS.into_iter().find(|s| s.dataset == self)
    }
}

impl<'de> serde::Deserialize<'de> for DatasetId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s: std::borrow::Cow<'de, str> = serde::Deserialize::deserialize(d)?;
        s.parse().map_err(|_| serde::de::Error::custom(format_args!("unknown dataset_id {s:?}")))
    }
}

#[cfg(test)]
mod index_tests {
    use super::DatasetId;

    #[test]
    fn index_is_the_position_in_all() {
        for (i, d) in DatasetId::ALL.into_iter().enumerate() {
            assert_eq!(d.index(), i, "{}", d.as_str());
        }
    }
}
