//! Field-level parsing shared by every dataset: IDs as strings, exact decimals, the hour window
//! with its offset, tolerant timestamps. Amazon documents the JSON types, but tolerance costs
//! nothing here: an ID sent as a number is still the same ID.

use std::fmt;

use chrono::{DateTime, FixedOffset, NaiveDateTime, Utc};
use rust_decimal::Decimal;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// An ID: a JSON string, or an integer (kept exactly, never through f64).
pub(crate) fn id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    d.deserialize_any(IdVisitor)
}

/// An id that identifies its record (an entity's id, a recommendation's id): an empty string
/// is refused, since every record carrying one would collapse into a single row. (Amazon's
/// published samples carry `""` placeholders there.)
pub(crate) fn key_id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = id(d)?;
    if s.trim().is_empty() {
        return Err(de::Error::custom("an empty id cannot identify a record"));
    }
    Ok(s)
}

pub(crate) fn opt_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    d.deserialize_option(OptVisitor(IdVisitor))
}

/// A decimal metric (AMS "Double"): money and ratios.
///
/// serde_json hands us an f64 parsed with correct rounding; its shortest round-trip rendering
/// (ryu) is the decimal that was written, for every value of up to 15 significant digits (all
/// money). Summing then happens in `numeric`, never in f64. Strings holding a decimal are
/// accepted too.
pub(crate) fn opt_decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    d.deserialize_option(OptVisitor(DecimalVisitor))
}

pub(crate) fn opt_long<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    d.deserialize_option(OptVisitor(LongVisitor))
}

pub(crate) fn long<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    d.deserialize_any(LongVisitor)
}

/// An ISO-8601 date-time that is stored when it parses; the payload keeps the text either way,
/// so a format Amazon never documented costs a typed column, never the record.
pub(crate) fn lenient_time<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    let s: Option<std::borrow::Cow<'de, str>> = Option::deserialize(d)?;
    Ok(s.as_deref().and_then(parse_instant))
}

/// Parses the date-time forms seen for AMS fields: RFC 3339 (`Z` or offset), with a space
/// instead of `T`, or without offset (taken as UTC).
pub fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%.f%z"] {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return Some(t.with_timezone(&Utc));
        }
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc());
        }
    }
    None
}

/// A date (`2024-05-01`, as midnight UTC) or a date-time in a form [`parse_instant`] reads.
pub fn parse_date_or_instant(s: &str) -> Option<DateTime<Utc>> {
    parse_instant(s).or_else(|| {
        let d = chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()?;
        Some(d.and_hms_opt(0, 0, 0)?.and_utc())
    })
}

/// `time_window_start`: the start of the hour in the advertiser's local time, with its offset
/// (`2024-05-01T10:00:00-07:00`). Both the instant and the local hour matter to users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeWindow(pub DateTime<FixedOffset>);

impl TimeWindow {
    pub fn instant(&self) -> DateTime<Utc> {
        self.0.with_timezone(&Utc)
    }
    /// The advertiser's local wall-clock hour as sent.
    pub fn local(&self) -> NaiveDateTime {
        self.0.naive_local()
    }
    /// The offset as sent, `-07:00` style.
    pub fn offset(&self) -> String {
        self.0.format("%:z").to_string()
    }
}

impl<'de> Deserialize<'de> for TimeWindow {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s: std::borrow::Cow<'de, str> = Deserialize::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s).map(TimeWindow).map_err(|e| {
            de::Error::custom(format_args!(
                "time_window_start {s:?} is not an ISO-8601 date-time with offset: {e}"
            ))
        })
    }
}

struct OptVisitor<V>(V);

impl<'de, V: Visitor<'de> + Copy> Visitor<'de> for OptVisitor<V> {
    type Value = Option<V::Value>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.0.expecting(f)?;
        f.write_str(" or null")
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self.0).map(Some)
    }
}

#[derive(Clone, Copy)]
struct IdVisitor;

impl<'de> Visitor<'de> for IdVisitor {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an id (string or integer)")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }
}

#[derive(Clone, Copy)]
struct LongVisitor;

impl<'de> Visitor<'de> for LongVisitor {
    type Value = i64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an integer")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        Ok(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| E::custom(format_args!("integer {v} is out of range")))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
        // `3.0` is an integer written as a float; `3.5` is not.
        if v.fract() == 0.0 && v.abs() < 9.0e15 {
            Ok(v as i64)
        } else {
            Err(E::invalid_type(de::Unexpected::Float(v), &self))
        }
    }
}

#[derive(Clone, Copy)]
struct DecimalVisitor;

impl<'de> Visitor<'de> for DecimalVisitor {
    type Value = Decimal;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a decimal number")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Decimal, E> {
        Ok(Decimal::from(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Decimal, E> {
        Ok(Decimal::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Decimal, E> {
        if !v.is_finite() {
            return Err(E::invalid_value(de::Unexpected::Float(v), &self));
        }
        let mut buf = ryu::Buffer::new();
        parse_decimal(buf.format_finite(v))
            .ok_or_else(|| E::invalid_value(de::Unexpected::Float(v), &self))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Decimal, E> {
        parse_decimal(v.trim()).ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
    }
}

fn parse_decimal(s: &str) -> Option<Decimal> {
    if s.contains(['e', 'E']) {
        Decimal::from_scientific(s).ok()
    } else {
        s.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct M {
        #[serde(default, deserialize_with = "opt_decimal")]
        v: Option<Decimal>,
    }

    fn dec(json: &str) -> Option<Decimal> {
        serde_json::from_str::<M>(json).unwrap().v
    }

    #[test]
    fn decimals_are_exact() {
        assert_eq!(dec(r#"{"v":2.37}"#).unwrap().to_string(), "2.37");
        assert_eq!(dec(r#"{"v":0.1}"#).unwrap().to_string(), "0.1");
        assert_eq!(dec(r#"{"v":-19.99}"#).unwrap().to_string(), "-19.99");
        assert_eq!(dec(r#"{"v":123456789012.34}"#).unwrap().to_string(), "123456789012.34");
        assert_eq!(dec(r#"{"v":1e-7}"#).unwrap().to_string(), "0.0000001");
        assert_eq!(dec(r#"{"v":"4.10"}"#).unwrap().to_string(), "4.10");
        assert_eq!(dec(r#"{"v":50}"#).unwrap().to_string(), "50");
        assert_eq!(dec(r#"{"v":null}"#), None);
        assert_eq!(dec(r#"{}"#), None);
        assert!(serde_json::from_str::<M>(r#"{"v":"abc"}"#).is_err());
        assert!(serde_json::from_str::<M>(r#"{"v":true}"#).is_err());
    }

    #[test]
    fn sum_of_many_cents_is_exact() {
        let total: Decimal = (0..1000).map(|_| dec(r#"{"v":0.01}"#).unwrap()).sum();
        assert_eq!(total.to_string(), "10.00");
    }

    #[test]
    fn time_window_keeps_offset_and_instant() {
        let t: TimeWindow = serde_json::from_str(r#""2024-05-01T10:00:00-07:00""#).unwrap();
        assert_eq!(t.instant().to_rfc3339(), "2024-05-01T17:00:00+00:00");
        assert_eq!(t.local().to_string(), "2024-05-01 10:00:00");
        assert_eq!(t.offset(), "-07:00");
        assert!(serde_json::from_str::<TimeWindow>(r#""2024-05-01 10:00""#).is_err());
    }

    #[test]
    fn instants_parse_in_common_forms() {
        for s in ["2024-05-01T17:42:10Z", "2024-05-01T17:42:10.123Z", "2024-05-01 17:42:10+00:00",
                  "2024-05-01T17:42:10", "2024-05-01T19:42:10+0200"] {
            assert!(parse_instant(s).is_some(), "{s}");
        }
        assert!(parse_instant("yesterday").is_none());
    }
}
