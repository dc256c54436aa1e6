//! The 23 AMS datasets in one table ([`DATASETS`]): Amazon's id, how records combine, the
//! table (Openbridge's names for the 13 datasets it carries, so users migrating keep their
//! queries), the AWS accounts owning the dataset's SNS topics, and the tenant schema version
//! that created the tables. Decode dispatch, migrations, the confirmation allow-list, queue
//! policies, status counters and metric labels all derive from it: the next dataset Amazon
//! adds is one row here, one [`DatasetId`] variant and its record type (`record.rs`).

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
    /// States without a version (recommendations): every distinct state once in history;
    /// current per key = the state with the latest time of its own, ties going to the state
    /// received last.
    Snapshot,
}

impl DatasetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DatasetKind::HourlyDelta => "hourly delta",
            DatasetKind::BudgetUsage => "budget notifications",
            DatasetKind::Entity => "entity",
            DatasetKind::Snapshot => "latest state",
        }
    }
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
    AdspTraffic,
    AdspConversion,
    AdspClickstream,
    AdspRichMedia,
    AdspCampaigns,
    AdspCampaignFlights,
    AdspAdGroups,
    AdspAdGroupTargets,
    CampaignRecommendations,
    SpBudgetRecommendations,
}

/// One row of [`DATASETS`].
#[derive(Debug, Clone, Copy)]
pub struct DatasetInfo {
    pub id: DatasetId,
    /// The `dataset_id` / `dataSetId` value Amazon uses.
    pub name: &'static str,
    /// The table (in each tenant schema) holding the dataset's rows; rollups, history and
    /// current tables add a suffix to it.
    pub table: &'static str,
    pub kind: DatasetKind,
    /// The AWS accounts owning the dataset's SNS topics in NA, EU and FE (Amazon's queue
    /// policy pages; docs/ams.md §5).
    pub topic_accounts: [&'static str; 3],
    /// The tenant schema migration that creates the dataset's tables.
    pub since_schema: i32,
}

const fn ds(
    id: DatasetId,
    name: &'static str,
    table: &'static str,
    kind: DatasetKind,
    topic_accounts: [&'static str; 3],
    since_schema: i32,
) -> DatasetInfo {
    DatasetInfo { id, name, table, kind, topic_accounts, since_schema }
}

use DatasetKind::{BudgetUsage as B, Entity as E, HourlyDelta as D, Snapshot as S};

/// Every dataset, in [`DatasetId`] order (tested).
pub const DATASETS: [DatasetInfo; 23] = [
    ds(DatasetId::SpTraffic, "sp-traffic", "amzn_stream_sp_traffic", D, ["906013806264", "668473351658", "074266271188"], 1),
    ds(DatasetId::SpConversion, "sp-conversion", "amzn_stream_sp_conversion", D, ["802324068763", "562877083794", "622939981599"], 1),
    ds(DatasetId::SdTraffic, "sd-traffic", "amzn_stream_sd_traffic", D, ["370941301809", "947153514089", "310605068565"], 1),
    ds(DatasetId::SdConversion, "sd-conversion", "amzn_stream_sd_conversion", D, ["877712924581", "664093967423", "818973306977"], 1),
    ds(DatasetId::SbTraffic, "sb-traffic", "amzn_stream_sb_traffic", D, ["709476672186", "623198756881", "485899199471"], 1),
    ds(DatasetId::SbConversion, "sb-conversion", "amzn_stream_sb_conversion", D, ["154357381721", "195770945541", "112347756703"], 1),
    ds(DatasetId::SbClickstream, "sb-clickstream", "amzn_stream_sb_clickstream", D, ["091028706140", "219513501272", "632322331982"], 1),
    ds(DatasetId::SbRichMedia, "sb-rich-media", "amzn_stream_sb_rich_media", D, ["010312603579", "662188760626", "618223300352"], 1),
    ds(DatasetId::BudgetUsage, "budget-usage", "amzn_stream_budget_usage", B, ["055588217351", "675750596317", "100899330244"], 1),
    ds(DatasetId::Campaigns, "campaigns", "amzn_stream_campaigns", E, ["570159413969", "834862128520", "527383333093"], 1),
    ds(DatasetId::AdGroups, "adgroups", "amzn_stream_adgroups", E, ["118846437111", "130948361130", "668585072850"], 1),
    ds(DatasetId::Ads, "ads", "amzn_stream_ads", E, ["305370293182", "648558082147", "802070757281"], 1),
    ds(DatasetId::Targets, "targets", "amzn_stream_targets", E, ["644124924521", "503759481754", "248074939493"], 1),
    ds(DatasetId::AdspTraffic, "adsp-traffic", "amzn_stream_adsp_traffic", D, ["192826442293", "738976022360", "115810253223"], 2),
    ds(DatasetId::AdspConversion, "adsp-conversion", "amzn_stream_adsp_conversion", D, ["561176707666", "238549931437", "063613587323"], 2),
    ds(DatasetId::AdspClickstream, "adsp-clickstream", "amzn_stream_adsp_clickstream", D, ["740036912861", "475804811800", "201394813667"], 2),
    ds(DatasetId::AdspRichMedia, "adsp-rich-media", "amzn_stream_adsp_rich_media", D, ["718926279583", "047120534722", "886046350753"], 2),
    ds(DatasetId::AdspCampaigns, "adsp-campaigns", "amzn_stream_adsp_campaigns", E, ["153247821255", "599052634802", "216875695489"], 2),
    ds(DatasetId::AdspCampaignFlights, "adsp-campaign-flights", "amzn_stream_adsp_campaign_flights", E, ["700228448367", "633559263003", "451213518288"], 2),
    ds(DatasetId::AdspAdGroups, "adsp-adgroups", "amzn_stream_adsp_adgroups", E, ["222778752755", "682324742468", "360850786875"], 2),
    ds(DatasetId::AdspAdGroupTargets, "adsp-adgroup-targets", "amzn_stream_adsp_adgroup_targets", E, ["419834811630", "764057072099", "178122609971"], 2),
    // Amazon's id is 50 characters; the table name is shorter so that `_history` still fits
    // Postgres's 63-byte identifiers.
    ds(DatasetId::CampaignRecommendations, "sponsored-ads-campaign-diagnostics-recommendations", "amzn_stream_campaign_recommendations", S, ["084590724871", "059061853903", "489995134625"], 2),
    ds(DatasetId::SpBudgetRecommendations, "sp-budget-recommendations", "amzn_stream_sp_budget_recommendations", S, ["678715897637", "158915609581", "007292432803"], 2),
];

impl DatasetId {
    pub const ALL: [DatasetId; 23] = {
        let mut all = [DatasetId::SpTraffic; 23];
        let mut i = 0;
        while i < 23 {
            all[i] = DATASETS[i].id;
            i += 1;
        }
        all
    };

    /// Its position in [`DatasetId::ALL`] (for per-dataset arrays of counters).
    pub fn index(self) -> usize {
        self as usize
    }

    /// Its row of [`DATASETS`].
    pub fn info(self) -> &'static DatasetInfo {
        &DATASETS[self as usize]
    }

    /// The `dataset_id` / `dataSetId` value Amazon uses.
    pub fn as_str(self) -> &'static str {
        self.info().name
    }

    /// The table (in each tenant schema) holding this dataset's rows.
    pub fn table(self) -> &'static str {
        self.info().table
    }

    pub fn kind(self) -> DatasetKind {
        self.info().kind
    }

    /// Amazon DSP datasets (`adsp-*`): subscribed through the DSP stream endpoints.
    pub fn is_dsp(self) -> bool {
        self.as_str().starts_with("adsp-")
    }
}

impl fmt::Display for DatasetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// As Amazon spells it (`sp-traffic`).
impl serde::Serialize for DatasetId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A stored dataset id: how a database row becomes a [`DatasetId`].
impl TryFrom<String> for DatasetId {
    type Error = String;
    fn try_from(id: String) -> Result<DatasetId, String> {
        id.parse().map_err(|()| format!("{id:?} is not a dataset id"))
    }
}

impl FromStr for DatasetId {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        DATASETS.iter().find(|d| d.name == s).map(|d| d.id).ok_or(())
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
    /// The snapshot spec of a latest-state dataset.
    pub fn snapshot_spec(self) -> Option<&'static crate::SnapshotSpec> {
        crate::SNAPSHOT_SPECS.into_iter().find(|s| s.dataset == self)
    }
}

impl<'de> serde::Deserialize<'de> for DatasetId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s: std::borrow::Cow<'de, str> = serde::Deserialize::deserialize(d)?;
        s.parse().map_err(|_| serde::de::Error::custom(format_args!("unknown dataset_id {s:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_in_enum_order_and_index_is_the_position() {
        for (i, d) in DATASETS.iter().enumerate() {
            assert_eq!(d.id as usize, i, "{}", d.name);
            assert_eq!(DatasetId::ALL[i].index(), i);
            assert_eq!(d.name.parse::<DatasetId>(), Ok(d.id));
        }
    }

    #[test]
    fn every_dataset_has_exactly_the_spec_of_its_kind() {
        for d in DatasetId::ALL {
            let specs = [d.delta_spec().is_some(), d.entity_spec().is_some(), d.snapshot_spec().is_some()];
            let expected = match d.kind() {
                DatasetKind::HourlyDelta => [true, false, false],
                DatasetKind::Entity => [false, true, false],
                DatasetKind::Snapshot => [false, false, true],
                DatasetKind::BudgetUsage => [false, false, false],
            };
            assert_eq!(specs, expected, "{d}");
        }
    }

    #[test]
    fn tables_fit_postgres_identifiers_with_every_suffix() {
        for d in &DATASETS {
            // `_history`, `_current`, `_hourly_time` (index) are the longest suffixes.
            assert!(d.table.len() + "_hourly_time".len() <= 63, "{}", d.table);
            assert!(d.table.starts_with("amzn_stream_"));
        }
    }
}
