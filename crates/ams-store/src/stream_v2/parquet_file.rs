//! One Parquet file, read by record batch (never whole) and encoded as binary COPY data for its
//! dataset's table. Blocking: run it off the async runtime (`tokio::task::spawn_blocking`).
//!
//! Memory: the reader decodes `BATCH_ROWS` rows of every column at a time from the current row
//! group's pages, and the COPY buffer is sent on once it passes `CHUNK_BYTES`; a file's size does
//! not matter, only its widest batch.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use uuid::Uuid;

use super::columns::{pg_type, ColumnWriter, PgType};

/// Rows decoded at a time: 460 columns of 8 bytes is ~15 MB a batch.
pub const BATCH_ROWS: usize = 4096;
/// COPY data handed on once a buffer holds this much.
const CHUNK_BYTES: usize = 4 << 20;

/// A column of the file as it will land.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileColumn {
    pub name: String,
    /// `None`: Arrow's `Null` type, no values to land (the column is not created).
    pub pg: Option<PgType>,
}

/// Files up to this size are read into memory whole: a file of many narrow column chunks (an
/// hourly file of 459 columns and 150 rows) is then read without a file handle and a buffer per
/// column chunk, 4.3 ms instead of 10.4 (docs/performance.md, Stream v2 backfill). Larger files
/// are read from disk, a row group's pages at a time.
const IN_MEMORY_BYTES: u64 = 32 << 20;

/// The reader, its footer read once: over the file in memory, or on disk.
enum Reader {
    Memory(ParquetRecordBatchReaderBuilder<bytes::Bytes>),
    Disk(ParquetRecordBatchReaderBuilder<File>),
}

/// A Parquet file opened and its schema checked.
pub struct ParquetFile {
    reader: Reader,
    pub columns: Vec<FileColumn>,
    /// The footer's key-value metadata.
    pub metadata: HashMap<String, String>,
    pub rows: i64,
}

/// What names a landed row, written before the file's own columns.
pub const SYSTEM_COLUMNS: [(&str, &str); 4] =
    [("_hub_account_id", "uuid"), ("_object_key", "text"), ("_version_id", "text"), ("_row_number", "bigint")];

/// Postgres truncates longer identifiers: two long names could become one.
const MAX_IDENTIFIER_BYTES: usize = 63;

fn options() -> ArrowReaderOptions {
    // Types from the Parquet schema only: the same file lands the same way whatever wrote it.
    ArrowReaderOptions::new().with_skip_arrow_metadata(true)
}

impl ParquetFile {
    /// Reads the footer. `Err`: why this file cannot land, in words (it is quarantined).
    pub fn open(path: &Path) -> Result<ParquetFile, String> {
        let file = File::open(path).map_err(|e| format!("the downloaded file could not be opened: {e}"))?;
        let size = file.metadata().map_err(|e| format!("the downloaded file could not be opened: {e}"))?.len();
        let unreadable = |e: parquet::errors::ParquetError| format!("not a readable Parquet file: {e}");
        let reader = if size <= IN_MEMORY_BYTES {
            let mut whole = Vec::with_capacity(size as usize);
            std::io::Read::read_to_end(&mut &file, &mut whole).map_err(|e| format!("the downloaded file could not be read: {e}"))?;
            Reader::Memory(ParquetRecordBatchReaderBuilder::try_new_with_options(bytes::Bytes::from(whole), options()).map_err(unreadable)?)
        } else {
            Reader::Disk(ParquetRecordBatchReaderBuilder::try_new_with_options(file, options()).map_err(unreadable)?)
        };
        let (file_metadata, schema) = match &reader {
            Reader::Memory(b) => (b.metadata().clone(), b.schema().clone()),
            Reader::Disk(b) => (b.metadata().clone(), b.schema().clone()),
        };
        let meta = file_metadata.file_metadata();
        let metadata = meta
            .key_value_metadata()
            .map(|kv| kv.iter().filter_map(|k| Some((k.key.clone(), k.value.clone()?))).collect())
            .unwrap_or_default();
        let rows = meta.num_rows();
        let mut columns = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for field in schema.fields() {
            let name = field.name();
            let pg = pg_type(field.data_type())
                .map_err(|t| format!("column {name:?} is of type {t}, which ams-hub cannot land as a Postgres column"))?;
            if name.is_empty() || name.len() > MAX_IDENTIFIER_BYTES || name.contains('\0') {
                return Err(format!("column name {name:?} cannot be a Postgres column name (1 to 63 bytes, no NUL)"));
            }
            if SYSTEM_COLUMNS.iter().any(|(s, _)| s == name) {
                return Err(format!("column {name:?} has the name of a column ams-hub adds to every row"));
            }
            if !seen.insert(name.clone()) {
                return Err(format!("column {name:?} appears twice"));
            }
            columns.push(FileColumn { name: name.clone(), pg });
        }
        Ok(ParquetFile { reader, columns, metadata, rows })
    }

    /// Encodes every row as binary COPY data for the columns `SYSTEM_COLUMNS` then each
    /// landing column (`pg` is some) in file order, handing each chunk to `send` (which returns
    /// false when the receiver is gone: stop). Returns the rows encoded. `Err`: a value or a
    /// page that cannot be read or cannot land, in words.
    /// Whether the whole file is in memory (small enough to encode ahead of its COPY).
    pub fn in_memory(&self) -> bool {
        matches!(self.reader, Reader::Memory(_))
    }

    pub fn encode(
        self,
        account: Uuid,
        key: &str,
        version_id: &str,
        mut send: impl FnMut(Vec<u8>) -> bool,
    ) -> Result<i64, String> {
        let landing: Vec<usize> = (0..self.columns.len()).filter(|&i| self.columns[i].pg.is_some()).collect();
        let batches: Box<dyn Iterator<Item = Result<arrow_array::RecordBatch, arrow_schema::ArrowError>>> = match self.reader {
            Reader::Memory(b) => Box::new(b.with_batch_size(BATCH_ROWS).build().map_err(|e| format!("not a readable Parquet file: {e}"))?),
            Reader::Disk(b) => Box::new(b.with_batch_size(BATCH_ROWS).build().map_err(|e| format!("not a readable Parquet file: {e}"))?),
        };
        let fields = (SYSTEM_COLUMNS.len() + landing.len()) as i16;
        let mut buf = Vec::with_capacity(CHUNK_BYTES + (1 << 20));
        buf.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
        buf.extend_from_slice(&0i32.to_be_bytes());
        buf.extend_from_slice(&0i32.to_be_bytes());
        // The parts of every row that do not change within the file.
        let mut fixed = Vec::new();
        fixed.extend_from_slice(&fields.to_be_bytes());
        fixed.extend_from_slice(&16i32.to_be_bytes());
        fixed.extend_from_slice(account.as_bytes());
        for text in [key, version_id] {
            fixed.extend_from_slice(&(text.len() as i32).to_be_bytes());
            fixed.extend_from_slice(text.as_bytes());
        }
        let mut row_number: i64 = 0;
        for batch in batches {
            let batch = batch.map_err(|e| format!("row {row_number} onward could not be read: {e}"))?;
            let writers: Vec<ColumnWriter<'_>> = landing
                .iter()
                .map(|&i| ColumnWriter::new(batch.column(i)).ok_or_else(|| format!("column {:?} changed type within the file", self.columns[i].name)))
                .collect::<Result<_, _>>()?;
            for row in 0..batch.num_rows() {
                buf.extend_from_slice(&fixed);
                buf.extend_from_slice(&8i32.to_be_bytes());
                buf.extend_from_slice(&row_number.to_be_bytes());
                for (w, &i) in writers.iter().zip(&landing) {
                    w.write(row, &mut buf).map_err(|e| format!("row {row_number}, column {:?}: {e}", self.columns[i].name))?;
                }
                row_number += 1;
                if buf.len() >= CHUNK_BYTES {
                    let full = std::mem::replace(&mut buf, Vec::with_capacity(CHUNK_BYTES + (1 << 20)));
                    if !send(full) {
                        return Ok(row_number);
                    }
                }
            }
        }
        buf.extend_from_slice(&(-1i16).to_be_bytes());
        send(buf);
        Ok(row_number)
    }
}
