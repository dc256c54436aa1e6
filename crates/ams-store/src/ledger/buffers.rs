//! Column-oriented buffers for one dataset in one batch: one vector per column, bound to a
//! statement as one Postgres array each.

use ams_model::{Column, ColumnKind, ColumnSink, Record};
use chrono::{DateTime, NaiveDateTime, Utc};
use rust_decimal::Decimal;
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::Postgres;
use uuid::Uuid;

use super::Provenance;

pub(crate) enum Buffer {
    /// Text, and JSON as text (cast to jsonb in SQL).
    Text(TextColumn),
    Long(Vec<Option<i64>>),
    Decimal(Vec<Option<Decimal>>),
    Timestamp(Vec<Option<DateTime<Utc>>>),
    LocalTimestamp(Vec<Option<NaiveDateTime>>),
    Bool(Vec<Option<bool>>),
}

impl Buffer {
    /// Binds the whole column as one array parameter.
    pub fn bind<'q>(&'q self, q: Query<'q, Postgres, PgArguments>) -> Query<'q, Postgres, PgArguments> {
        match self {
            Buffer::Text(v) => q.bind(v.values()),
            Buffer::Long(v) => q.bind(&v[..]),
            Buffer::Decimal(v) => q.bind(&v[..]),
            Buffer::Timestamp(v) => q.bind(&v[..]),
            Buffer::LocalTimestamp(v) => q.bind(&v[..]),
            Buffer::Bool(v) => q.bind(&v[..]),
        }
    }

    /// The values of the given rows, in that order.
    pub fn gather(&self, rows: &[usize]) -> Buffer {
        match self {
            Buffer::Text(v) => Buffer::Text(v.gather(rows)),
            Buffer::Long(v) => Buffer::Long(rows.iter().map(|&r| v[r]).collect()),
            Buffer::Decimal(v) => Buffer::Decimal(rows.iter().map(|&r| v[r]).collect()),
            Buffer::Timestamp(v) => Buffer::Timestamp(rows.iter().map(|&r| v[r]).collect()),
            Buffer::LocalTimestamp(v) => Buffer::LocalTimestamp(rows.iter().map(|&r| v[r]).collect()),
            Buffer::Bool(v) => Buffer::Bool(rows.iter().map(|&r| v[r]).collect()),
        }
    }
}

/// A text column: every value's bytes in one string, so that a value costs no allocation (and
/// later no free) of its own. Per-value `String`s were the largest single source of
/// allocations in the runtime (docs/performance.md, Runtime).
#[derive(Default)]
pub(crate) struct TextColumn {
    bytes: String,
    /// Per row: the value's byte range in `bytes`, or None for NULL.
    spans: Vec<Option<(usize, usize)>>,
}

impl TextColumn {
    pub fn push(&mut self, v: Option<&str>) {
        self.spans.push(v.map(|s| {
            let start = self.bytes.len();
            self.bytes.push_str(s);
            (start, self.bytes.len())
        }));
    }

    pub fn get(&self, row: usize) -> Option<&str> {
        self.spans[row].map(|(start, end)| &self.bytes[start..end])
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Every value, borrowed: what binds as a Postgres `text[]` (one vector per bind, none per value).
    pub fn values(&self) -> Vec<Option<&str>> {
        (0..self.len()).map(|row| self.get(row)).collect()
    }

    /// The values of the given rows, in that order.
    pub fn gather(&self, rows: &[usize]) -> TextColumn {
        let mut out = TextColumn::default();
        for &r in rows {
            out.push(self.get(r));
        }
        out
    }
}

pub(crate) struct ColumnBuffers {
    pub columns: &'static [Column],
    pub buffers: Vec<Buffer>,
    pub hub_account_id: Vec<Option<Uuid>>,
    pub received_at: Vec<DateTime<Utc>>,
    cursor: usize,
}

impl ColumnBuffers {
    pub fn new(columns: &'static [Column]) -> Self {
        let buffers = columns
            .iter()
            .map(|c| match c.kind {
                ColumnKind::Text | ColumnKind::Json => Buffer::Text(TextColumn::default()),
                ColumnKind::Long => Buffer::Long(Vec::new()),
                ColumnKind::Decimal => Buffer::Decimal(Vec::new()),
                ColumnKind::Timestamp => Buffer::Timestamp(Vec::new()),
                ColumnKind::LocalTimestamp => Buffer::LocalTimestamp(Vec::new()),
                ColumnKind::Bool => Buffer::Bool(Vec::new()),
            })
            .collect();
        ColumnBuffers { columns, buffers, hub_account_id: Vec::new(), received_at: Vec::new(), cursor: 0 }
    }

    pub fn rows(&self) -> usize {
        self.received_at.len()
    }

    pub fn push_row(&mut self, record: &Record, p: Provenance) {
        self.cursor = 0;
        record.write_columns(self);
        assert_eq!(self.cursor, self.columns.len(), "{} wrote a wrong number of columns", record.dataset());
        self.hub_account_id.push(p.hub_account_id);
        self.received_at.push(p.received_at);
    }

    /// The rows `range` only.
    pub fn slice(&self, range: std::ops::Range<usize>) -> ColumnBuffers {
        let rows: Vec<usize> = range.clone().collect();
        ColumnBuffers {
            columns: self.columns,
            buffers: self.buffers.iter().map(|b| b.gather(&rows)).collect(),
            hub_account_id: self.hub_account_id[range.clone()].to_vec(),
            received_at: self.received_at[range].to_vec(),
            cursor: 0,
        }
    }

    /// Binds every column array, then `hub_account_id` and `received_at`, in that order.
    pub fn bind<'q>(&'q self, mut q: Query<'q, Postgres, PgArguments>) -> Query<'q, Postgres, PgArguments> {
        for b in &self.buffers {
            q = b.bind(q);
        }
        q.bind(&self.hub_account_id[..]).bind(&self.received_at[..])
    }

    fn next(&mut self) -> &mut Buffer {
        let i = self.cursor;
        self.cursor += 1;
        &mut self.buffers[i]
    }
}

/// A record writing a value of the wrong kind is a bug in ams-model's column lists; the
/// store's tests write every dataset, so this cannot reach production unnoticed.
fn kind_mismatch(col: &Column, got: &str) -> ! {
    panic!("column {} is {:?} but the record wrote {got}", col.name, col.kind)
}

impl ColumnSink for ColumnBuffers {
    fn text(&mut self, v: Option<&str>) {
        let col = self.columns[self.cursor];
        if col.kind != ColumnKind::Text {
            kind_mismatch(&col, "text");
        }
        match self.next() {
            Buffer::Text(b) => b.push(v),
            _ => kind_mismatch(&col, "text"),
        }
    }
    fn long(&mut self, v: Option<i64>) {
        let col = self.columns[self.cursor];
        match self.next() {
            Buffer::Long(b) => b.push(v),
            _ => kind_mismatch(&col, "long"),
        }
    }
    fn decimal(&mut self, v: Option<Decimal>) {
        let col = self.columns[self.cursor];
        match self.next() {
            Buffer::Decimal(b) => b.push(v),
            _ => kind_mismatch(&col, "decimal"),
        }
    }
    fn timestamp(&mut self, v: Option<DateTime<Utc>>) {
        let col = self.columns[self.cursor];
        match self.next() {
            Buffer::Timestamp(b) => b.push(v),
            _ => kind_mismatch(&col, "timestamp"),
        }
    }
    fn local_timestamp(&mut self, v: Option<NaiveDateTime>) {
        let col = self.columns[self.cursor];
        match self.next() {
            Buffer::LocalTimestamp(b) => b.push(v),
            _ => kind_mismatch(&col, "local timestamp"),
        }
    }
    fn boolean(&mut self, v: Option<bool>) {
        let col = self.columns[self.cursor];
        match self.next() {
            Buffer::Bool(b) => b.push(v),
            _ => kind_mismatch(&col, "bool"),
        }
    }
    fn json(&mut self, v: Option<&str>) {
        let col = self.columns[self.cursor];
        if col.kind != ColumnKind::Json {
            kind_mismatch(&col, "json");
        }
        match self.next() {
            Buffer::Text(b) => b.push(v),
            _ => kind_mismatch(&col, "json"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_columns_give_back_each_value_and_gather_rows() {
        let values = vec![Some("amzn1.campaign.1"), None, Some(""), Some("café \"q\" \u{1f600}"), Some("x")];
        let mut column = TextColumn::default();
        for v in &values {
            column.push(*v);
        }
        assert_eq!(column.values(), values);
        assert_eq!(column.gather(&[3, 1, 3, 0]).values(), [values[3], None, values[3], values[0]]);
        assert!(TextColumn::default().values().is_empty());
    }
}
