//! Generated Stream v2 files: Parquet as a writer like Amazon's would produce it (several row
//! groups, Snappy, nulls), with what the landed rows must add up to, computed as they are made.

use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Date32Builder, Decimal128Builder, Float64Builder, Int32Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

/// How a generated file differs from the usual one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Usual,
    /// With a column the others do not have (`video_views`, int32).
    NewColumn,
    /// `impressions` as text instead of int64.
    ChangedType,
}

/// What the landed rows of a file must add up to.
#[derive(Debug, Clone, PartialEq)]
pub struct Expected {
    pub rows: i64,
    /// Sum of `impressions` (nulls left out).
    pub impressions: i64,
    /// Sum of `cost` as Postgres prints a numeric(…, 6) sum.
    pub cost_micros: i128,
    pub null_impressions: i64,
}

/// A file of `rows` rows (row groups of 1,000) for `advertiser`, varied by `seed`.
pub fn ads_file(rows: usize, seed: i64, advertiser: &str, variant: Variant) -> (Vec<u8>, Expected) {
    let mut adv = StringBuilder::new();
    let mut campaign = Int64Builder::new();
    let mut hour = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let mut day = Date32Builder::new();
    let mut impressions = Int64Builder::new();
    let mut impressions_text = StringBuilder::new();
    let mut cost = Decimal128Builder::new().with_precision_and_scale(18, 6).unwrap();
    let mut ctr = Float64Builder::new();
    let mut brand = BooleanBuilder::new();
    let mut views = Int32Builder::new();
    let mut expected = Expected { rows: rows as i64, impressions: 0, cost_micros: 0, null_impressions: 0 };
    for i in 0..rows as i64 {
        let n = seed * 1_000_003 + i;
        adv.append_value(advertiser);
        campaign.append_value(1_000 + n % 97);
        hour.append_value(1_764_547_200_000_000 + (n % 24) * 3_600_000_000);
        day.append_value(20_423 + (n % 70) as i32);
        if n % 7 == 3 {
            impressions.append_null();
            impressions_text.append_null();
            expected.null_impressions += 1;
        } else {
            let v = (n * 37) % 10_000;
            impressions.append_value(v);
            impressions_text.append_value(v.to_string());
            expected.impressions += v;
        }
        if n % 5 == 0 {
            cost.append_null();
        } else {
            // Negative now and then: a correction.
            let micros = if n % 11 == 0 { -((n % 1_000) as i128) * 10_001 } else { ((n * 7_919) % 50_000_000) as i128 };
            cost.append_value(micros);
            expected.cost_micros += micros;
        }
        ctr.append_value((n % 1000) as f64 / 1000.0);
        brand.append_value(n % 2 == 0);
        views.append_value((n % 300) as i32);
    }
    let mut fields = vec![
        Field::new("advertiser_id", DataType::Utf8, false),
        Field::new("campaign_id", DataType::Int64, false),
        Field::new("hour", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false),
        Field::new("day", DataType::Date32, false),
    ];
    let mut columns: Vec<ArrayRef> = vec![Arc::new(adv.finish()), Arc::new(campaign.finish()), Arc::new(hour.finish()), Arc::new(day.finish())];
    if variant == Variant::ChangedType {
        fields.push(Field::new("impressions", DataType::Utf8, true));
        columns.push(Arc::new(impressions_text.finish()));
    } else {
        fields.push(Field::new("impressions", DataType::Int64, true));
        columns.push(Arc::new(impressions.finish()));
    }
    fields.extend([
        Field::new("cost", DataType::Decimal128(18, 6), true),
        Field::new("ctr", DataType::Float64, false),
        Field::new("is_brand", DataType::Boolean, false),
    ]);
    columns.extend([Arc::new(cost.finish()) as ArrayRef, Arc::new(ctr.finish()), Arc::new(brand.finish())]);
    if variant == Variant::NewColumn {
        fields.push(Field::new("video_views", DataType::Int32, false));
        columns.push(Arc::new(views.finish()));
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
    (write(&[batch], 1_000), expected)
}

/// `batches` as one Parquet file (Snappy), row groups of at most `row_group_rows`.
pub fn write(batches: &[RecordBatch], row_group_rows: usize) -> Vec<u8> {
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(row_group_rows))
        .build();
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, batches[0].schema(), Some(props)).unwrap();
    for b in batches {
        writer.write(b).unwrap();
    }
    writer.close().unwrap();
    out
}
