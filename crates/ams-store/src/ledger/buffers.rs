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
    Text(Vec<Option<String>>),
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
            Buffer::Text(v) => q.bind(&v[..]),
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
            Buffer::Text(v) => Buffer::Text(rows.iter().map(|&r| v[r].clone()).collect()),
            Buffer::Long(v) => Buffer::Long(rows.iter().map(|&r| v[r]).collect()),
            Buffer::Decimal(v) => Buffer::Decimal(rows.iter().map(|&r| v[r]).collect()),
            Buffer::Timestamp(v) => Buffer::Timestamp(rows.iter().map(|&r| v[r]).collect()),
            Buffer::LocalTimestamp(v) => Buffer::LocalTimestamp(rows.iter().map(|&r| v[r]).collect()),
            Buffer::Bool(v) => Buffer::Bool(rows.iter().map(|&r| v[r]).collect()),
        }
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
                ColumnKind::Text | ColumnKind::Json => Buffer::Text(Vec::new()),
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
            Buffer::Text(b) => b.push(v.map(str::to_owned)),
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
            Buffer::Text(b) => b.push(v.map(str::to_owned)),
            _ => kind_mismatch(&col, "json"),
        }
    }
}
