//! The column view of a record: which columns a dataset stores, with which kind of value, in a
//! fixed order. The store derives both its DDL and its bulk inserts from the same list, so a
//! table and the code that fills it cannot drift apart.

use chrono::{DateTime, NaiveDateTime, Utc};
use rust_decimal::Decimal;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// IDs and dimension strings (IDs can exceed 2^53: always text).
    Text,
    /// AMS "Long" metrics and versions.
    Long,
    /// AMS "Double" metrics: money and ratios, kept as exact decimals.
    Decimal,
    /// An instant.
    Timestamp,
    /// A local wall-clock time without offset (the advertiser's hour).
    LocalTimestamp,
    Bool,
    /// Any JSON value (nested objects, the whole payload).
    Json,
}

impl ColumnKind {
    /// The Postgres type of a column of this kind.
    pub fn sql_type(self) -> &'static str {
        match self {
            ColumnKind::Text => "text",
            ColumnKind::Long => "bigint",
            ColumnKind::Decimal => "numeric",
            ColumnKind::Timestamp => "timestamptz",
            ColumnKind::LocalTimestamp => "timestamp",
            ColumnKind::Bool => "boolean",
            ColumnKind::Json => "jsonb",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub kind: ColumnKind,
    /// Always present in a decoded record (`NOT NULL` in the table).
    pub required: bool,
}

/// A column that may be null.
pub(crate) const fn col(name: &'static str, kind: ColumnKind) -> Column {
    Column { name, kind, required: false }
}

/// A column every decoded record has.
pub(crate) const fn req(name: &'static str, kind: ColumnKind) -> Column {
    Column { name, kind, required: true }
}

/// Receives a record's values in column order (one call per column).
pub trait ColumnSink {
    fn text(&mut self, v: Option<&str>);
    fn long(&mut self, v: Option<i64>);
    fn decimal(&mut self, v: Option<Decimal>);
    fn timestamp(&mut self, v: Option<DateTime<Utc>>);
    fn local_timestamp(&mut self, v: Option<NaiveDateTime>);
    fn boolean(&mut self, v: Option<bool>);
    /// JSON text, already valid JSON.
    fn json(&mut self, v: Option<&str>);
}

/// A record type with a fixed column list.
pub trait Columns {
    fn columns() -> &'static [Column];
    /// Calls `sink` once per entry of [`Columns::columns`], in that order.
    fn write_columns(&self, sink: &mut dyn ColumnSink);
}

/// A boxed record has its record's columns (large record types are boxed in `Record`).
impl<T: Columns> Columns for Box<T> {
    fn columns() -> &'static [Column] {
        T::columns()
    }
    fn write_columns(&self, sink: &mut dyn ColumnSink) {
        (**self).write_columns(sink)
    }
}
