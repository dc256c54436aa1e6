//! Postgres binary COPY encoding (the `COPY … FROM STDIN WITH (FORMAT binary)` wire format):
//! a header, then per row a field count and each field as length + bytes (-1 for NULL), then a
//! trailer. Binary avoids text escaping on our side and parsing on the server's.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use rust_decimal::Decimal;
use sqlx::postgres::PgArgumentBuffer;
use sqlx::Encode;
use uuid::Uuid;

const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

/// Microseconds between the Unix epoch and Postgres's (2000-01-01).
fn pg_epoch() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2000, 1, 1).expect("date").and_hms_opt(0, 0, 0).expect("time")
}

pub(crate) struct CopyData {
    buf: Vec<u8>,
    /// Reused for sqlx's numeric encoding.
    scratch: PgArgumentBuffer,
}

impl CopyData {
    /// `rows` sizes the buffer (a guess: 256 bytes a row), so that small batches do not map
    /// and zero a megabyte each time.
    pub fn new(rows: usize) -> Self {
        let mut buf = Vec::with_capacity(64 + rows * 256);
        buf.extend_from_slice(SIGNATURE);
        buf.extend_from_slice(&0i32.to_be_bytes()); // flags
        buf.extend_from_slice(&0i32.to_be_bytes()); // header extension length
        CopyData { buf, scratch: PgArgumentBuffer::default() }
    }

    /// A buffer of rows only (no header): encoded ahead, appended later with [`CopyData::raw`].
    pub fn rows_only(rows: usize) -> Self {
        CopyData { buf: Vec::with_capacity(rows * 256), scratch: PgArgumentBuffer::default() }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Appends rows encoded by another (`rows_only`) buffer.
    pub fn raw(&mut self, rows: &[u8]) {
        self.buf.extend_from_slice(rows);
    }

    pub fn row(&mut self, fields: usize) {
        self.buf.extend_from_slice(&(fields as i16).to_be_bytes());
    }

    pub fn null(&mut self) {
        self.buf.extend_from_slice(&(-1i32).to_be_bytes());
    }

    fn field(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
        self.buf.extend_from_slice(bytes);
    }

    pub fn text(&mut self, v: Option<&str>) {
        match v {
            Some(s) => self.field(s.as_bytes()),
            None => self.null(),
        }
    }

    /// jsonb's binary form: a version byte, then the JSON text.
    pub fn jsonb(&mut self, v: Option<&str>) {
        match v {
            Some(s) => {
                self.buf.extend_from_slice(&(s.len() as i32 + 1).to_be_bytes());
                self.buf.push(1);
                self.buf.extend_from_slice(s.as_bytes());
            }
            None => self.null(),
        }
    }

    pub fn int8(&mut self, v: Option<i64>) {
        match v {
            Some(v) => self.field(&v.to_be_bytes()),
            None => self.null(),
        }
    }

    pub fn boolean(&mut self, v: Option<bool>) {
        match v {
            Some(v) => self.field(&[v as u8]),
            None => self.null(),
        }
    }

    pub fn uuid(&mut self, v: Option<Uuid>) {
        match v {
            Some(v) => self.field(v.as_bytes()),
            None => self.null(),
        }
    }

    pub fn timestamptz(&mut self, v: Option<DateTime<Utc>>) {
        self.timestamp(v.map(|t| t.naive_utc()))
    }

    pub fn timestamp(&mut self, v: Option<NaiveDateTime>) {
        match v {
            Some(t) => {
                let micros = (t - pg_epoch()).num_microseconds().unwrap_or(i64::MAX);
                self.field(&micros.to_be_bytes())
            }
            None => self.null(),
        }
    }

    /// `numeric` in its binary form, encoded by sqlx (base-10000 digits, weight, scale).
    pub fn numeric(&mut self, v: Option<Decimal>) {
        match v {
            Some(d) => {
                self.scratch.clear();
                // Encoding a Decimal cannot fail: it has at most 28 digits.
                let _ = <Decimal as Encode<sqlx::Postgres>>::encode_by_ref(&d, &mut self.scratch);
                self.buf.extend_from_slice(&(self.scratch.len() as i32).to_be_bytes());
                self.buf.extend_from_slice(&self.scratch);
            }
            None => self.null(),
        }
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.buf.extend_from_slice(&(-1i16).to_be_bytes());
        self.buf
    }
}
