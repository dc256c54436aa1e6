//! Arrow columns (as the Parquet reader decodes them) to Postgres columns: which Postgres type
//! each Arrow type lands as, and each value in COPY's binary form.
//!
//! Types come from the Parquet schema alone (the reader skips any embedded Arrow schema), so a
//! file's columns map the same way whoever wrote it. What has no column type here (lists,
//! structs, maps, intervals, 256-bit decimals, half floats) is refused by name: the file is
//! quarantined with the column and its type, never landed partly.

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef};
use arrow_schema::{DataType, TimeUnit};

/// A Postgres column type, named as `format_type` prints it (how a table's existing columns are
/// compared with a file's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgType {
    Boolean,
    SmallInt,
    Integer,
    BigInt,
    Numeric,
    Real,
    Double,
    Text,
    Bytea,
    Date,
    Timestamp,
    TimestampTz,
    Time,
}

impl PgType {
    pub fn sql(self) -> &'static str {
        match self {
            PgType::Boolean => "boolean",
            PgType::SmallInt => "smallint",
            PgType::Integer => "integer",
            PgType::BigInt => "bigint",
            PgType::Numeric => "numeric",
            PgType::Real => "real",
            PgType::Double => "double precision",
            PgType::Text => "text",
            PgType::Bytea => "bytea",
            PgType::Date => "date",
            PgType::Timestamp => "timestamp without time zone",
            PgType::TimestampTz => "timestamp with time zone",
            PgType::Time => "time without time zone",
        }
    }
}

/// The Postgres type an Arrow column lands as: `Ok(None)` for Arrow's `Null` type (a column
/// with no values and no type: nothing to land), `Err` with the type for what cannot land.
pub fn pg_type(data_type: &DataType) -> Result<Option<PgType>, String> {
    use DataType as D;
    Ok(Some(match data_type {
        D::Null => return Ok(None),
        D::Boolean => PgType::Boolean,
        D::Int8 | D::Int16 | D::UInt8 => PgType::SmallInt,
        D::Int32 | D::UInt16 => PgType::Integer,
        D::Int64 | D::UInt32 => PgType::BigInt,
        D::UInt64 | D::Decimal32(..) | D::Decimal64(..) | D::Decimal128(..) => PgType::Numeric,
        D::Float32 => PgType::Real,
        D::Float64 => PgType::Double,
        D::Utf8 | D::LargeUtf8 | D::Utf8View => PgType::Text,
        D::Binary | D::LargeBinary | D::BinaryView | D::FixedSizeBinary(_) => PgType::Bytea,
        D::Date32 | D::Date64 => PgType::Date,
        D::Timestamp(_, None) => PgType::Timestamp,
        D::Timestamp(_, Some(_)) => PgType::TimestampTz,
        D::Time32(_) | D::Time64(_) => PgType::Time,
        other => return Err(other.to_string()),
    }))
}

/// Days between the Unix epoch and Postgres's (2000-01-01).
const PG_EPOCH_DAYS: i64 = 10_957;
/// Microseconds between the two epochs.
const PG_EPOCH_MICROS: i64 = PG_EPOCH_DAYS * 86_400_000_000;

/// One column of one record batch, ready to write row by row.
pub struct ColumnWriter<'a> {
    array: &'a ArrayRef,
    kind: Kind,
}

#[derive(Clone, Copy)]
enum Kind {
    Bool,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    F32,
    F64,
    Utf8,
    LargeUtf8,
    Utf8View,
    Binary,
    LargeBinary,
    BinaryView,
    FixedBinary,
    Date32,
    Date64,
    /// Timestamps, with how many microseconds one unit is (0: nanoseconds, divided).
    Timestamp(TimeUnit),
    Time32(TimeUnit),
    Time64(TimeUnit),
    Decimal32(i8),
    Decimal64(i8),
    Decimal128(i8),
}

impl<'a> ColumnWriter<'a> {
    /// `None` for a type [`pg_type`] refuses or has no column for.
    pub fn new(array: &'a ArrayRef) -> Option<ColumnWriter<'a>> {
        use DataType as D;
        let kind = match array.data_type() {
            D::Boolean => Kind::Bool,
            D::Int8 => Kind::I8,
            D::Int16 => Kind::I16,
            D::Int32 => Kind::I32,
            D::Int64 => Kind::I64,
            D::UInt8 => Kind::U8,
            D::UInt16 => Kind::U16,
            D::UInt32 => Kind::U32,
            D::UInt64 => Kind::U64,
            D::Float32 => Kind::F32,
            D::Float64 => Kind::F64,
            D::Utf8 => Kind::Utf8,
            D::LargeUtf8 => Kind::LargeUtf8,
            D::Utf8View => Kind::Utf8View,
            D::Binary => Kind::Binary,
            D::LargeBinary => Kind::LargeBinary,
            D::BinaryView => Kind::BinaryView,
            D::FixedSizeBinary(_) => Kind::FixedBinary,
            D::Date32 => Kind::Date32,
            D::Date64 => Kind::Date64,
            D::Timestamp(unit, _) => Kind::Timestamp(*unit),
            D::Time32(unit) => Kind::Time32(*unit),
            D::Time64(unit) => Kind::Time64(*unit),
            D::Decimal32(_, s) => Kind::Decimal32(*s),
            D::Decimal64(_, s) => Kind::Decimal64(*s),
            D::Decimal128(_, s) => Kind::Decimal128(*s),
            _ => return None,
        };
        Some(ColumnWriter { array, kind })
    }

    /// Appends row `row`'s field (length, then bytes; -1 for NULL). `Err`: a value Postgres
    /// cannot hold (a timestamp or decimal out of range), in words.
    #[inline]
    pub fn write(&self, row: usize, out: &mut Vec<u8>) -> Result<(), String> {
        let a = self.array;
        if a.is_null(row) {
            out.extend_from_slice(&(-1i32).to_be_bytes());
            return Ok(());
        }
        match self.kind {
            Kind::Bool => field(out, &[a.as_boolean().value(row) as u8]),
            Kind::I8 => field(out, &(a.as_primitive::<Int8Type>().value(row) as i16).to_be_bytes()),
            Kind::I16 => field(out, &a.as_primitive::<Int16Type>().value(row).to_be_bytes()),
            Kind::I32 => field(out, &a.as_primitive::<Int32Type>().value(row).to_be_bytes()),
            Kind::I64 => field(out, &a.as_primitive::<Int64Type>().value(row).to_be_bytes()),
            Kind::U8 => field(out, &(a.as_primitive::<UInt8Type>().value(row) as i16).to_be_bytes()),
            Kind::U16 => field(out, &(a.as_primitive::<UInt16Type>().value(row) as i32).to_be_bytes()),
            Kind::U32 => field(out, &(a.as_primitive::<UInt32Type>().value(row) as i64).to_be_bytes()),
            Kind::U64 => numeric(out, a.as_primitive::<UInt64Type>().value(row) as i128, 0)?,
            Kind::F32 => field(out, &a.as_primitive::<Float32Type>().value(row).to_be_bytes()),
            Kind::F64 => field(out, &a.as_primitive::<Float64Type>().value(row).to_be_bytes()),
            Kind::Utf8 => field(out, a.as_string::<i32>().value(row).as_bytes()),
            Kind::LargeUtf8 => field(out, a.as_string::<i64>().value(row).as_bytes()),
            Kind::Utf8View => field(out, a.as_string_view().value(row).as_bytes()),
            Kind::Binary => field(out, a.as_binary::<i32>().value(row)),
            Kind::LargeBinary => field(out, a.as_binary::<i64>().value(row)),
            Kind::BinaryView => field(out, a.as_binary_view().value(row)),
            Kind::FixedBinary => field(out, a.as_fixed_size_binary().value(row)),
            Kind::Date32 => {
                let days = a.as_primitive::<Date32Type>().value(row) as i64 - PG_EPOCH_DAYS;
                field(out, &i32::try_from(days).map_err(|_| "a date out of range".to_owned())?.to_be_bytes())
            }
            Kind::Date64 => {
                let days = a.as_primitive::<Date64Type>().value(row).div_euclid(86_400_000) - PG_EPOCH_DAYS;
                field(out, &i32::try_from(days).map_err(|_| "a date out of range".to_owned())?.to_be_bytes())
            }
            Kind::Timestamp(unit) => {
                // Every timestamp array holds i64 whatever its unit.
                let v = a.as_primitive::<TimestampMicrosecondType>().values()[row];
                let micros = to_micros(v, unit).and_then(|m| m.checked_sub(PG_EPOCH_MICROS)).ok_or("a timestamp out of range")?;
                field(out, &micros.to_be_bytes())
            }
            Kind::Time32(unit) => {
                let v = a.as_primitive::<Time32SecondType>().values()[row] as i64;
                field(out, &to_micros(v, unit).ok_or("a time out of range")?.to_be_bytes())
            }
            Kind::Time64(unit) => {
                let v = a.as_primitive::<Time64MicrosecondType>().values()[row];
                field(out, &to_micros(v, unit).ok_or("a time out of range")?.to_be_bytes())
            }
            Kind::Decimal32(s) => numeric(out, a.as_primitive::<Decimal32Type>().value(row) as i128, s)?,
            Kind::Decimal64(s) => numeric(out, a.as_primitive::<Decimal64Type>().value(row) as i128, s)?,
            Kind::Decimal128(s) => numeric(out, a.as_primitive::<Decimal128Type>().value(row), s)?,
        }
        Ok(())
    }
}

fn to_micros(v: i64, unit: TimeUnit) -> Option<i64> {
    match unit {
        TimeUnit::Second => v.checked_mul(1_000_000),
        TimeUnit::Millisecond => v.checked_mul(1_000),
        TimeUnit::Microsecond => Some(v),
        // Postgres keeps microseconds: nanoseconds are truncated toward the past.
        TimeUnit::Nanosecond => Some(v.div_euclid(1_000)),
    }
}

#[inline]
fn field(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// `value × 10^-scale` as Postgres's binary `numeric`: digit count, weight (of the first
/// base-10000 digit), sign, display scale, then the base-10000 digits, most significant first,
/// with leading and trailing zero digits left out.
pub fn numeric(out: &mut Vec<u8>, value: i128, scale: i8) -> Result<(), String> {
    // A negative scale (whole tens, hundreds…) is a plain integer once multiplied out.
    let (value, scale) = if scale < 0 {
        let factor = 10i128.checked_pow(u32::from(scale.unsigned_abs())).ok_or("a decimal out of range")?;
        (value.checked_mul(factor).ok_or("a decimal out of range")?, 0u32)
    } else {
        (value, scale as u32)
    };
    let negative = value < 0;
    let magnitude = value.unsigned_abs();
    let pow = 10u128.checked_pow(scale).ok_or("a decimal scale out of range")?;
    let (mut int_part, frac_part) = (magnitude / pow, magnitude % pow);

    // Integer part: base-10000 digits, least significant first, then reversed.
    let mut digits: Vec<i16> = Vec::with_capacity(12);
    while int_part > 0 {
        digits.push((int_part % 10_000) as i16);
        int_part /= 10_000;
    }
    digits.reverse();
    let int_groups = digits.len() as i16;
    // Fraction: padded on the right to whole groups of four decimal digits.
    let frac_groups = scale.div_ceil(4);
    if frac_groups > 0 {
        let padded = frac_part * 10u128.pow(frac_groups * 4 - scale);
        let start = digits.len();
        let mut rest = padded;
        for _ in 0..frac_groups {
            digits.push((rest % 10_000) as i16);
            rest /= 10_000;
        }
        digits[start..].reverse();
    }
    let mut weight = int_groups - 1;
    let leading = digits.iter().take_while(|d| **d == 0).count();
    digits.drain(..leading);
    weight -= leading as i16;
    while digits.last() == Some(&0) {
        digits.pop();
    }
    if digits.is_empty() {
        weight = 0;
    }
    let sign: u16 = if negative && !digits.is_empty() { 0x4000 } else { 0 };
    let len = 8 + 2 * digits.len();
    out.extend_from_slice(&(len as i32).to_be_bytes());
    out.extend_from_slice(&(digits.len() as i16).to_be_bytes());
    out.extend_from_slice(&weight.to_be_bytes());
    out.extend_from_slice(&sign.to_be_bytes());
    out.extend_from_slice(&(scale as i16).to_be_bytes());
    for d in digits {
        out.extend_from_slice(&d.to_be_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;
    use sqlx::Encode;

    /// sqlx's encoding of the same number (rust_decimal's range: 28 digits).
    fn sqlx_numeric(value: i128, scale: u32) -> Vec<u8> {
        let d = Decimal::from_i128_with_scale(value, scale);
        let mut buf = sqlx::postgres::PgArgumentBuffer::default();
        let _ = <Decimal as Encode<sqlx::Postgres>>::encode_by_ref(&d, &mut buf);
        let mut out = (buf.len() as i32).to_be_bytes().to_vec();
        out.extend_from_slice(&buf);
        out
    }

    #[test]
    fn numeric_matches_sqlx_where_both_reach() {
        let values = [1i128, -1, 9999, 10_000, 123_456_789, -5, 100_000_000, 1_000_000_000_000_000_000, 7_000_000_001, -99_990_000];
        for &v in &values {
            for scale in [0u32, 1, 2, 3, 4, 5, 6, 8, 9, 12] {
                let mut ours = Vec::new();
                numeric(&mut ours, v, scale as i8).unwrap();
                let theirs = sqlx_numeric(v, scale);
                // sqlx keeps rust_decimal's scale as the display scale, as ours does.
                assert_eq!(ours, theirs, "{v} scale {scale}");
            }
        }
        // Zero keeps its display scale, as Postgres's own numeric_send does (sqlx drops it).
        let mut zero = Vec::new();
        numeric(&mut zero, 0, 6).unwrap();
        assert_eq!(zero, [0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 6]);
    }

    #[test]
    fn negative_scale_multiplies_out_and_overflow_is_an_error() {
        let mut a = Vec::new();
        numeric(&mut a, 12, -3).unwrap();
        let mut b = Vec::new();
        numeric(&mut b, 12_000, 0).unwrap();
        assert_eq!(a, b);
        assert!(numeric(&mut Vec::new(), i128::MAX, -2).is_err());
    }

    #[test]
    fn nested_and_odd_types_are_refused_by_name() {
        let list = DataType::List(std::sync::Arc::new(arrow_schema::Field::new("item", DataType::Int32, true)));
        assert!(pg_type(&list).unwrap_err().contains("List"));
        assert_eq!(pg_type(&DataType::Null).unwrap(), None);
        assert_eq!(pg_type(&DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))).unwrap(), Some(PgType::TimestampTz));
    }
}
