//! One AMS record, typed by its `dataset_id`.

use std::borrow::Cow;
use std::sync::LazyLock;

use memchr::memmem::Finder;

use serde::Deserialize;

use crate::columns::{Column, ColumnSink, Columns};
use crate::{
    Ad, AdGroup, AdspAdGroup, AdspAdGroupTarget, AdspCampaign, AdspCampaignFlight, AdspClickstream,
    AdspConversion, AdspRichMedia, AdspTraffic, BudgetUsage, Campaign, CampaignRecommendation,
    DatasetId, DecodeError, SbClickstream, SbConversion, SbRichMedia, SbTraffic, SdConversion,
    SdTraffic, SpBudgetRecommendation, SpConversion, SpTraffic, Target,
};

/// The one list tying each [`DatasetId`] to its record type: the `Record` enum, its dispatch
/// and the typed decode are generated from it, so a new dataset is one line here (plus its
/// row in `DATASETS` and its type).
macro_rules! records {
    ($($variant:ident($ty:ty) = $dataset:ident),* $(,)?) => {
        #[derive(Debug, Clone)]
        pub enum Record {
            $($variant($ty),)*
        }

        macro_rules! each_record {
            ($rec:expr, $r:ident => $body:expr) => {
                match $rec {
                    $(Record::$variant($r) => $body,)*
                }
            };
        }

        impl Record {
            pub fn dataset(&self) -> DatasetId {
                match self {
                    $(Record::$variant(_) => DatasetId::$dataset,)*
                }
            }
        }

        fn typed_record(dataset: DatasetId, text: &str) -> Result<Record, DecodeError> {
            fn typed<'t, T: Deserialize<'t>>(ds: DatasetId, text: &'t str) -> Result<T, DecodeError> {
                serde_json::from_str(text).map_err(|e| DecodeError::from_record(ds, e))
            }
            Ok(match dataset {
                $(DatasetId::$dataset => Record::$variant(typed(dataset, text)?),)*
            })
        }

        /// The stored columns of a dataset, in [`Record::write_columns`] order.
        pub fn columns_of(dataset: DatasetId) -> &'static [Column] {
            match dataset {
                $(DatasetId::$dataset => <$ty as Columns>::columns(),)*
            }
        }
    };
}

// The DSP and recommendation records are boxed: the clickstream record alone is several
// kilobytes, and every `Record` (a vector of them per receive, on the sp-traffic hot path)
// is as large as the largest variant.
records! {
    SpTraffic(SpTraffic) = SpTraffic,
    SpConversion(SpConversion) = SpConversion,
    SdTraffic(SdTraffic) = SdTraffic,
    SdConversion(SdConversion) = SdConversion,
    SbTraffic(SbTraffic) = SbTraffic,
    SbConversion(SbConversion) = SbConversion,
    SbClickstream(SbClickstream) = SbClickstream,
    SbRichMedia(SbRichMedia) = SbRichMedia,
    BudgetUsage(BudgetUsage) = BudgetUsage,
    Campaign(Campaign) = Campaigns,
    AdGroup(AdGroup) = AdGroups,
    Ad(Ad) = Ads,
    Target(Target) = Targets,
    AdspTraffic(Box<AdspTraffic>) = AdspTraffic,
    AdspConversion(Box<AdspConversion>) = AdspConversion,
    AdspClickstream(Box<AdspClickstream>) = AdspClickstream,
    AdspRichMedia(Box<AdspRichMedia>) = AdspRichMedia,
    AdspCampaign(Box<AdspCampaign>) = AdspCampaigns,
    AdspCampaignFlight(Box<AdspCampaignFlight>) = AdspCampaignFlights,
    AdspAdGroup(Box<AdspAdGroup>) = AdspAdGroups,
    AdspAdGroupTarget(Box<AdspAdGroupTarget>) = AdspAdGroupTargets,
    CampaignRecommendation(Box<CampaignRecommendation>) = CampaignRecommendations,
    SpBudgetRecommendation(Box<SpBudgetRecommendation>) = SpBudgetRecommendations,
}

impl Record {
    /// The `dataset_id` the record carries.
    fn declared_dataset(&self) -> DatasetId {
        each_record!(self, r => r.dataset_id)
    }

    /// Writes the record's values in the column order of [`columns_of`] its dataset.
    pub fn write_columns(&self, sink: &mut dyn ColumnSink) {
        each_record!(self, r => r.write_columns(sink))
    }

    /// The record's JSON exactly as received, unknown fields included.
    pub fn raw(&self) -> &str {
        each_record!(self, r => &r.raw)
    }

    /// Amazon truncated the record to fit SQS (`PAYLOAD_TRUNCATED`, DSP ad group targets).
    pub fn payload_truncated(&self) -> bool {
        matches!(self, Record::AdspAdGroupTarget(t) if t.payload_truncated())
    }
}

/// Just enough of an object to route it; everything else is skipped unparsed.
#[derive(Deserialize)]
pub(crate) struct Probe<'a> {
    #[serde(rename = "Type", borrow, default)]
    pub sns_type: Option<Cow<'a, str>>,
    #[serde(alias = "dataSetId", borrow, default)]
    pub dataset_id: Option<Cow<'a, str>>,
}

pub(crate) fn probe(text: &str) -> Result<Probe<'_>, DecodeError> {
    serde_json::from_str(text).map_err(|e| {
        if e.is_data() {
            DecodeError::UnsupportedShape(e.to_string())
        } else {
            DecodeError::NotJson(e.to_string())
        }
    })
}

/// Decodes one record (a JSON object with `dataset_id`).
pub fn decode_record(text: &str) -> Result<Record, DecodeError> {
    decode_record_owned(Cow::Borrowed(text))
}

pub(crate) fn decode_record_owned(text: Cow<'_, str>) -> Result<Record, DecodeError> {
    if !text.trim_start().starts_with('{') {
        return Err(not_an_object(&text));
    }
    // Fast path: one parse when the `dataset_id` found by a scan is the one the typed parse
    // reads at the top level. Any doubt takes the careful path below, which also produces
    // the precise error.
    if let Some(guess) = scan_dataset_id(&text) {
        if let Ok(record) = typed_record(guess, &text) {
            if record.declared_dataset() == guess {
                return finish(record, text);
            }
        }
    }
    let p = probe(&text)?;
    if let Some(t) = p.sns_type {
        return Err(DecodeError::UnsupportedShape(format!(
            "an SNS {t:?} message where a record was expected"
        )));
    }
    let Some(ds) = p.dataset_id else {
        return Err(DecodeError::UnsupportedShape(
            "object has neither an SNS `Type` nor a `dataset_id`".into(),
        ));
    };
    let dataset: DatasetId =
        ds.parse().map_err(|_| DecodeError::UnknownDataset(ds.clone().into_owned()))?;
    let record = typed_record(dataset, &text)?;
    if record.declared_dataset() != dataset {
        // `dataset_id` and `dataSetId` both present and disagreeing.
        return Err(DecodeError::InvalidRecord { dataset, detail: "conflicting dataset ids".into() });
    }
    finish(record, text)
}

#[cfg(test)]
#[test]
fn a_record_stays_small() {
    // 1,104 bytes before the DSP datasets; a larger one costs the hot path (docs/performance.md).
    assert!(std::mem::size_of::<Record>() <= 1104, "{}", std::mem::size_of::<Record>());
}

/// Finds `"dataset_id": "<value>"` by scanning (no parse); a guess to be confirmed.
pub(crate) fn scan_dataset_id(text: &str) -> Option<DatasetId> {
    // memchr's SIMD search: every envelope body is scanned to its end without a match, and
    // `str::find` made that 2% of the runtime's CPU (docs/performance.md).
    static KEY: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("\"dataset_id\""));
    let at = KEY.find(text.as_bytes())? + "\"dataset_id\"".len();
    let rest = text[at..].trim_start().strip_prefix(':')?.trim_start().strip_prefix('"')?;
    rest[..rest.find('"')?].parse().ok()
}

fn finish(mut record: Record, text: Cow<'_, str>) -> Result<Record, DecodeError> {
    let dataset = record.dataset();
    // Postgres text and jsonb cannot hold U+0000: such a record would fail its whole batch.
    static ESCAPED_NUL: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("\\u0000"));
    if ESCAPED_NUL.find(text.as_bytes()).is_some() || memchr::memchr(0, text.as_bytes()).is_some() {
        return Err(DecodeError::Unstorable {
            dataset,
            detail: "contains U+0000, which Postgres cannot store".into(),
        });
    }
    // Entities and budget notifications keep the whole record as `jsonb`, unknown fields
    // included: what `jsonb` refuses must be refused here, not by the transaction. Deltas are
    // held to the same rule (a quarantined body can be replayed; a record that stalls a
    // batch cannot), so every accepted record is storable whole, whatever its dataset.
    crate::storable::check_jsonb(&text).map_err(|detail| DecodeError::Unstorable { dataset, detail })?;
    let raw: Box<str> = text.into_owned().into_boxed_str();
    each_record!(&mut record, r => r.raw = raw);
    Ok(record)
}

pub(crate) fn not_an_object(text: &str) -> DecodeError {
    match serde_json::from_str::<serde::de::IgnoredAny>(text) {
        Ok(_) => DecodeError::UnsupportedShape("a JSON value that is not an object".into()),
        Err(e) => DecodeError::NotJson(e.to_string()),
    }
}
