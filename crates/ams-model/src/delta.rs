//! The hourly delta datasets: the eight sponsored-ads ones here (sp/sd/sb traffic,
//! conversion, clickstream, rich media), the four Amazon DSP ones in `adsp_delta.rs`.
//!
//! Every record is an increment for (natural key, hour). Corrections arrive as new records with
//! a new `idempotency_id`, possibly negative. The natural key is every dimension except
//! `idempotency_id` and `dataset_id` (for sp-traffic Amazon's own aggregation key, which leaves
//! out `match_type`). Each struct is generated from one field list so that the struct, its
//! columns and its natural key cannot disagree.

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::columns::{col, req, Column, ColumnKind, ColumnSink, Columns};
use crate::{values, DatasetId, TimeWindow};

/// What the store needs to know about a delta dataset.
#[derive(Debug)]
pub struct DeltaSpec {
    pub dataset: DatasetId,
    /// Stored columns, in the order [`Columns::write_columns`] emits them.
    pub columns: &'static [Column],
    /// The natural key: the rollup has one row per distinct value of these columns.
    pub key: &'static [&'static str],
    /// Summed columns.
    pub metrics: &'static [&'static str],
}

pub trait DeltaRecord: Columns {
    const SPEC: &'static DeltaSpec;
    fn idempotency_id(&self) -> &str;
}

/// Renders `-07:00` without allocating.
pub(crate) fn offset_text<'b>(tw: &TimeWindow, buf: &'b mut [u8; 6]) -> &'b str {
    let secs = tw.0.offset().local_minus_utc();
    let (sign, secs) = if secs < 0 { (b'-', -secs) } else { (b'+', secs) };
    let (h, m) = (secs / 3600, (secs % 3600) / 60);
    *buf = [sign, b'0' + (h / 10) as u8, b'0' + (h % 10) as u8, b':', b'0' + (m / 10) as u8, b'0' + (m % 10) as u8];
    std::str::from_utf8(buf).expect("ascii")
}

/// Generates a delta record type from its field lists. `longs` may name an alias spelling
/// after `|` (a key Amazon's own sample spells differently from its schema table).
macro_rules! delta_dataset {
    (
        $(#[$doc:meta])*
        $name:ident = $dataset:ident {
            dims: [$($dim:ident),* $(,)?],
            attrs: [$($attr:ident),* $(,)?],
            longs: [$($long:ident $(| $alias:literal)?),* $(,)?],
            decimals: [$($dec:ident),* $(,)?] $(,)?
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Deserialize)]
        pub struct $name {
            #[serde(deserialize_with = "values::id")]
            pub idempotency_id: String,
            #[serde(deserialize_with = "values::id")]
            pub marketplace_id: String,
            #[serde(deserialize_with = "values::id")]
            pub advertiser_id: String,
            #[serde(deserialize_with = "values::id")]
            pub campaign_id: String,
            pub time_window_start: TimeWindow,
            $( #[serde(default, deserialize_with = "values::opt_id")] pub $dim: Option<String>, )*
            $( #[serde(default, deserialize_with = "values::opt_id")] pub $attr: Option<String>, )*
            $( #[serde(default, deserialize_with = "values::opt_long" $(, alias = $alias)?)] pub $long: Option<i64>, )*
            $( #[serde(default, deserialize_with = "values::opt_decimal")] pub $dec: Option<Decimal>, )*
            /// Which dataset the record says it belongs to (checked against the route taken).
            #[serde(alias = "dataSetId")]
            pub dataset_id: DatasetId,
            /// The record's JSON as received (unknown fields included).
            #[serde(skip)]
            pub raw: Box<str>,
        }

        impl DeltaRecord for $name {
            const SPEC: &'static DeltaSpec = &DeltaSpec {
                dataset: DatasetId::$dataset,
                columns: &[
                    req("idempotency_id", ColumnKind::Text),
                    req("marketplace_id", ColumnKind::Text),
                    req("advertiser_id", ColumnKind::Text),
                    req("campaign_id", ColumnKind::Text),
                    $( col(stringify!($dim), ColumnKind::Text), )*
                    req("time_window_start", ColumnKind::Timestamp),
                    req("time_window_start_local", ColumnKind::LocalTimestamp),
                    req("time_window_start_offset", ColumnKind::Text),
                    $( col(stringify!($attr), ColumnKind::Text), )*
                    $( col(stringify!($long), ColumnKind::Long), )*
                    $( col(stringify!($dec), ColumnKind::Decimal), )*
                ],
                key: &["marketplace_id", "advertiser_id", "campaign_id", $(stringify!($dim),)* "time_window_start"],
                metrics: &[$(stringify!($long),)* $(stringify!($dec),)*],
            };
            fn idempotency_id(&self) -> &str {
                &self.idempotency_id
            }
        }

        impl Columns for $name {
            fn columns() -> &'static [Column] {
                Self::SPEC.columns
            }
            fn write_columns(&self, sink: &mut dyn ColumnSink) {
                sink.text(Some(&self.idempotency_id));
                sink.text(Some(&self.marketplace_id));
                sink.text(Some(&self.advertiser_id));
                sink.text(Some(&self.campaign_id));
                $( sink.text(self.$dim.as_deref()); )*
                sink.timestamp(Some(self.time_window_start.instant()));
                sink.local_timestamp(Some(self.time_window_start.local()));
                sink.text(Some(offset_text(&self.time_window_start, &mut [0; 6])));
                $( sink.text(self.$attr.as_deref()); )*
                $( sink.long(self.$long); )*
                $( sink.decimal(self.$dec); )*
            }
        }
    };
}

pub(crate) use delta_dataset;

delta_dataset! {
    /// `sp-traffic`: Sponsored Products clicks, impressions, cost per keyword/target and placement.
    /// `keyword_id` holds a keyword **or** target id; `match_type` is not part of Amazon's key.
    SpTraffic = SpTraffic {
        dims: [ad_group_id, ad_id, keyword_id, keyword_text, placement, currency],
        attrs: [match_type],
        longs: [clicks, impressions],
        decimals: [cost],
    }
}

delta_dataset! {
    /// `sp-conversion`: Sponsored Products attributed conversions; `time_window_start` is the
    /// hour of the attributed click. Revised for up to 60 days.
    SpConversion = SpConversion {
        dims: [ad_group_id, ad_id, keyword_id, placement, currency],
        attrs: [],
        longs: [
            attributed_conversions_1d, attributed_conversions_7d, attributed_conversions_14d,
            attributed_conversions_30d, attributed_conversions_1d_same_sku,
            attributed_conversions_7d_same_sku, attributed_conversions_14d_same_sku,
            attributed_conversions_30d_same_sku, attributed_units_ordered_1d,
            attributed_units_ordered_7d, attributed_units_ordered_14d, attributed_units_ordered_30d,
            attributed_units_ordered_1d_same_sku, attributed_units_ordered_7d_same_sku,
            attributed_units_ordered_14d_same_sku, attributed_units_ordered_30d_same_sku,
        ],
        decimals: [
            attributed_sales_1d, attributed_sales_7d, attributed_sales_14d, attributed_sales_30d,
            attributed_sales_1d_same_sku, attributed_sales_7d_same_sku,
            attributed_sales_14d_same_sku, attributed_sales_30d_same_sku,
        ],
    }
}

delta_dataset! {
    /// `sd-traffic`: Sponsored Display traffic per target.
    SdTraffic = SdTraffic {
        dims: [ad_group_id, ad_id, target_id, targeting_text, currency],
        attrs: [],
        longs: [clicks, impressions, view_impressions],
        decimals: [cost],
    }
}

delta_dataset! {
    /// `sd-conversion`: Sponsored Display attributed conversions (click and view).
    SdConversion = SdConversion {
        dims: [ad_group_id, ad_id, target_id, currency],
        attrs: [],
        longs: [
            attributed_conversions_1d, attributed_conversions_7d, attributed_conversions_14d,
            attributed_conversions_30d, view_attributed_conversions_14d,
            attributed_conversions_1d_same_sku, attributed_conversions_7d_same_sku,
            attributed_conversions_14d_same_sku, attributed_conversions_30d_same_sku,
            attributed_units_ordered_1d, attributed_units_ordered_7d, attributed_units_ordered_14d,
            attributed_units_ordered_30d, view_attributed_units_ordered_14d,
            attributed_orders_new_to_brand_14d, attributed_units_ordered_new_to_brand_14d,
            view_attributed_orders_new_to_brand_14d, view_attributed_units_ordered_new_to_brand_14d,
        ],
        decimals: [
            attributed_sales_1d, attributed_sales_7d, attributed_sales_14d, attributed_sales_30d,
            view_attributed_sales_14d, attributed_sales_1d_same_sku, attributed_sales_7d_same_sku,
            attributed_sales_14d_same_sku, attributed_sales_30d_same_sku,
            attributed_sales_new_to_brand_14d, view_attributed_sales_new_to_brand_14d,
        ],
    }
}

delta_dataset! {
    /// `sb-traffic`: Sponsored Brands traffic per keyword and placement type.
    SbTraffic = SbTraffic {
        dims: [ad_id, ad_group_id, keyword_id, keyword_text, keyword_type, placement_type, currency],
        attrs: [],
        longs: [clicks, impressions, viewable_impressions],
        decimals: [cost],
    }
}

delta_dataset! {
    /// `sb-conversion`: Sponsored Brands 14-day attributed conversions.
    SbConversion = SbConversion {
        dims: [ad_id, ad_group_id, keyword_id, keyword_text, keyword_type, placement_type, currency],
        attrs: [],
        longs: [
            view_attributed_conversions_14d, attributed_conversions_14d_same_sku,
            view_attributed_orders_new_to_brand_14d, view_attributed_units_ordered_14d,
            view_attributed_units_ordered_new_to_brand_14d, attributed_conversions_14d,
            attributed_orders_new_to_brand_14d, attributed_units_ordered_new_to_brand_14d,
            attributed_units_ordered_14d,
        ],
        decimals: [
            view_attributed_sales_14d, attributed_sales_14d_same_sku,
            view_attributed_sales_new_to_brand_14d, attributed_sales_14d,
            attributed_sales_new_to_brand_14d,
        ],
    }
}

delta_dataset! {
    /// `sb-clickstream`: Sponsored Brands branded searches and detail page views (no currency).
    SbClickstream = SbClickstream {
        dims: [ad_id, ad_group_id, keyword_id, keyword_text, keyword_type, placement_type],
        attrs: [],
        longs: [
            view_attributed_branded_searches_14d, attributed_branded_searches_14d,
            view_attributed_detail_page_views_14d, attributed_detail_page_views_14d,
        ],
        decimals: [],
    }
}

delta_dataset! {
    /// `sb-rich-media`: Sponsored Brands video views (no currency).
    SbRichMedia = SbRichMedia {
        dims: [ad_id, ad_group_id, keyword_id, keyword_text, keyword_type, placement_type],
        attrs: [],
        longs: [
            video_5_second_views, video_complete_views, video_first_quartile_views,
            video_midpoint_views, video_third_quartile_views, video_unmutes,
        ],
        decimals: [],
    }
}

/// All twelve delta datasets.
pub const DELTA_SPECS: [&DeltaSpec; 12] = [
    SpTraffic::SPEC,
    SpConversion::SPEC,
    SdTraffic::SPEC,
    SdConversion::SPEC,
    SbTraffic::SPEC,
    SbConversion::SPEC,
    SbClickstream::SPEC,
    SbRichMedia::SPEC,
    crate::AdspTraffic::SPEC,
    crate::AdspConversion::SPEC,
    crate::AdspClickstream::SPEC,
    crate::AdspRichMedia::SPEC,
];

impl DeltaSpec {
    /// Stored columns that are neither the idempotency id, the natural key nor a metric:
    /// carried into the rollup as they come with the first delta of a key.
    pub fn attributes(&self) -> impl Iterator<Item = &'static Column> + '_ {
        self.columns.iter().filter(move |c| {
            c.name != "idempotency_id" && !self.key.contains(&c.name) && !self.metrics.contains(&c.name)
        })
    }
    pub fn column(&self, name: &str) -> &'static Column {
        self.columns.iter().find(|c| c.name == name).expect("column of this spec")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_counts_match_amazons_schema() {
        assert_eq!(SpTraffic::SPEC.metrics.len(), 3);
        assert_eq!(SpConversion::SPEC.metrics.len(), 24);
        assert_eq!(SdTraffic::SPEC.metrics.len(), 4);
        assert_eq!(SdConversion::SPEC.metrics.len(), 29);
        assert_eq!(SbTraffic::SPEC.metrics.len(), 4);
        assert_eq!(SbConversion::SPEC.metrics.len(), 14);
        assert_eq!(SbClickstream::SPEC.metrics.len(), 4);
        assert_eq!(SbRichMedia::SPEC.metrics.len(), 6);
    }

    #[test]
    fn sp_traffic_key_is_amazons_aggregation_key() {
        let mut key = SpTraffic::SPEC.key.to_vec();
        key.sort();
        assert_eq!(
            key,
            ["ad_group_id", "ad_id", "advertiser_id", "campaign_id", "currency", "keyword_id",
             "keyword_text", "marketplace_id", "placement", "time_window_start"]
        );
    }

    #[test]
    fn offsets_render_like_iso() {
        let tw: TimeWindow = serde_json::from_str(r#""2024-05-01T10:00:00+05:30""#).unwrap();
        assert_eq!(offset_text(&tw, &mut [0; 6]), "+05:30");
        let tw: TimeWindow = serde_json::from_str(r#""2024-05-01T10:00:00Z""#).unwrap();
        assert_eq!(offset_text(&tw, &mut [0; 6]), "+00:00");
    }
}
