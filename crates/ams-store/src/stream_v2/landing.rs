//! Landing one object version: its rows into `<schema>.amzn_stream_v2_<dataset>` and its row in
//! `<schema>.stream_v2_objects`, in one transaction.
//!
//! Exactly once: after the version's rows, the same transaction inserts its `stream_v2_objects`
//! row (primary key bucket, key, version id). Another loader landing the same version (a second
//! replica, a redelivered notification) blocks on that insert until the first commits, then
//! finds the row and rolls its own rows back; if the first dies before committing, its rows and
//! its row vanish together and the second lands the version. A file that cannot land (unreadable, a column whose type
//! differs from the table's, a value Postgres refuses) gets the same row with status
//! `quarantined` and the reason; the file itself stays in the brand's versioned bucket.
//!
//! Tables follow the files: created from the first file's columns, widened by a column a later
//! file brings (`ADD COLUMN`, under a per-table advisory lock so that two loaders do not race),
//! and never narrowed: a column a file lacks is NULL in its rows. Each table has a `_latest` view
//! of only the newest landed version of each object key.

use std::collections::HashMap;
use std::path::{Path, PathBuf};


use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::parquet_file::{FileColumn, ParquetFile, SYSTEM_COLUMNS};
use crate::{Store, StoreError, TenantSchema};

/// One version of one object in a brand's bucket, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectVersion {
    pub bucket: String,
    pub key: String,
    pub version_id: String,
    pub last_modified: DateTime<Utc>,
    pub size: i64,
}

/// What became of a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Landed {
    Loaded { dataset: String, table: String, rows: i64 },
    Quarantined { reason: String },
    /// Landed (or quarantined) before, by this loader or another.
    AlreadyLanded,
}

/// Where a version lands and what decides its dataset.
pub struct Target<'a> {
    pub schema: &'a TenantSchema,
    pub account: Uuid,
    /// The account's declared v2 datasets: the dataset of a file that does not name its own
    /// when there is exactly one.
    pub declared: &'a [String],
}

/// A version's file read ahead of its landing (so that the next file is read while Postgres
/// takes this one): opened and checked, and, when small enough to be held in memory, already
/// encoded as COPY data.
pub struct Prepared(Result<Opened, String>);

struct Opened {
    columns: Vec<FileColumn>,
    metadata: HashMap<String, String>,
    data: Data,
}

enum Data {
    /// The COPY data, or why the file cannot be encoded.
    Encoded(Result<(Vec<Vec<u8>>, i64), String>),
    /// A large file: encoded while it is copied.
    Streaming(ParquetFile),
}

/// Reads `path` for `object` of `account` (blocking work, off the async runtime).
pub async fn prepare(account: Uuid, object: &ObjectVersion, path: &Path) -> Result<Prepared, StoreError> {
    let (path, key, version_id): (PathBuf, String, String) = (path.to_owned(), object.key.clone(), object.version_id.clone());
    tokio::task::spawn_blocking(move || {
        Prepared(ParquetFile::open(&path).map(|file| {
            let (columns, metadata) = (file.columns.clone(), file.metadata.clone());
            let data = if file.in_memory() {
                let mut chunks = Vec::new();
                Data::Encoded(file.encode(account, &key, &version_id, |c| { chunks.push(c); true }).map(|rows| (chunks, rows)))
            } else {
                Data::Streaming(file)
            };
            Opened { columns, metadata, data }
        }))
    })
    .await
    .map_err(|e| StoreError::Inconsistent(format!("the Parquet reader stopped: {e}")))
}

/// Versions landing in one transaction: each in a savepoint of its own, so that a file that
/// cannot land is quarantined without undoing the others. Many small files (a backfill of hourly
/// files) then share one commit. [`Batch::commit`] lands them all; dropping the batch rolls
/// every one back (what a crash does).
pub struct Batch<'a> {
    tx: Transaction<'static, Postgres>,
    target: &'a Target<'a>,
    /// Per dataset, its table's columns and types as seen in this batch (columns are only ever
    /// added, so what was seen stays true).
    known: HashMap<String, HashMap<String, String>>,
    outcomes: Vec<Landed>,
    rows: i64,
}

impl<'a> Batch<'a> {
    /// The Postgres backend holding the transaction (tests end it to stand for a crash).
    pub async fn backend_pid(&mut self) -> Result<i32, StoreError> {
        Ok(sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut *self.tx).await?)
    }

    /// Versions landed or quarantined in this batch so far.
    pub fn versions(&self) -> usize {
        self.outcomes.iter().filter(|o| !matches!(o, Landed::AlreadyLanded)).count()
    }

    /// Rows copied in this batch so far.
    pub fn rows(&self) -> i64 {
        self.rows
    }

    /// Lands the version whose file was downloaded to `path` (committed with the batch).
    pub async fn land(&mut self, object: &ObjectVersion, path: &Path) -> Result<Landed, StoreError> {
        let prepared = prepare(self.target.account, object, path).await?;
        self.land_prepared(object, prepared).await
    }

    /// Lands a version whose file [`prepare`] read.
    pub async fn land_prepared(&mut self, object: &ObjectVersion, prepared: Prepared) -> Result<Landed, StoreError> {
        let opened = prepared.0;
        sqlx::query("SAVEPOINT v2_object").execute(&mut *self.tx).await?;
        let outcome = match self.land_in_savepoint(object, opened).await {
            Ok(Landed::AlreadyLanded) => {
                // Another loader's row for this version committed first: ours go.
                sqlx::query("ROLLBACK TO SAVEPOINT v2_object").execute(&mut *self.tx).await?;
                Landed::AlreadyLanded
            }
            Ok(outcome) => outcome,
            Err(Failure::Store(e)) => return Err(e),
            Err(Failure::File(reason)) => {
                // Whatever the failed attempt did (DDL, part of a COPY) goes.
                sqlx::query("ROLLBACK TO SAVEPOINT v2_object").execute(&mut *self.tx).await?;
                self.known.clear();
                self.quarantine(object, &reason).await?
            }
        };
        sqlx::query("RELEASE SAVEPOINT v2_object").execute(&mut *self.tx).await?;
        if let Landed::Loaded { rows, .. } = &outcome {
            self.rows += rows;
        }
        self.outcomes.push(outcome.clone());
        Ok(outcome)
    }

    async fn land_in_savepoint(&mut self, object: &ObjectVersion, opened: Result<Opened, String>) -> Result<Landed, Failure> {
        let (dataset, table, rows) = copy_rows(&mut self.tx, self.target, &mut self.known, object, opened.map_err(Failure::File)?).await?;
        let recorded = record(&mut self.tx, self.target, object, "loaded", None, rows, Some((&dataset, &table))).await?;
        Ok(if recorded { Landed::Loaded { dataset, table, rows } } else { Landed::AlreadyLanded })
    }

    async fn quarantine(&mut self, object: &ObjectVersion, reason: &str) -> Result<Landed, StoreError> {
        if !record(&mut self.tx, self.target, object, "quarantined", Some(reason), 0, None).await? {
            return Ok(Landed::AlreadyLanded);
        }
        let t = self.target;
        tracing::warn!(tenant = %t.schema.slug(), account = %t.account, key = %object.key, version_id = %object.version_id, %reason, "Stream v2 object quarantined");
        Ok(Landed::Quarantined { reason: reason.to_owned() })
    }

    /// Commits every version of the batch: what became of each, in order.
    pub async fn commit(self) -> Result<Vec<Landed>, StoreError> {
        self.tx.commit().await?;
        Ok(self.outcomes)
    }
}

impl Store {
    /// A transaction to land versions in for `target`.
    pub async fn begin_v2_batch<'a>(&self, target: &'a Target<'a>) -> Result<Batch<'a>, StoreError> {
        Ok(Batch { tx: self.pool().begin().await?, target, known: HashMap::new(), outcomes: Vec::new(), rows: 0 })
    }

    /// Lands one version, exactly once, in a transaction of its own.
    pub async fn land_v2_object(&self, target: &Target<'_>, object: &ObjectVersion, path: &Path) -> Result<Landed, StoreError> {
        let mut batch = self.begin_v2_batch(target).await?;
        let landed = batch.land(object, path).await?;
        batch.commit().await?;
        Ok(landed)
    }

    /// The versions of the account's objects last modified at or after `since` that are landed
    /// or quarantined: (bucket, key, version id).
    pub async fn landed_v2_versions(
        &self,
        schema: &TenantSchema,
        account: Uuid,
        since: DateTime<Utc>,
    ) -> Result<std::collections::HashSet<(String, String, String)>, StoreError> {
        let sql = format!(
            "SELECT bucket, object_key, version_id FROM {schema}.stream_v2_objects WHERE hub_account_id = $1 AND last_modified >= $2"
        );
        let rows: Vec<(String, String, String)> = sqlx::query_as(&sql).bind(account).bind(since).fetch_all(self.pool()).await?;
        Ok(rows.into_iter().collect())
    }
}

/// The table a dataset lands in: `amzn_stream_v2_` and the id in lower case with anything but
/// letters and digits as `_`; an id longer than 40 characters is cut and given 8 hex digits of
/// its SHA-256 (so the table and its `_latest` view fit Postgres's 63-byte names). Two ids that
/// differ only in case or punctuation would share a name: each table's comment holds its id,
/// and a file of another dataset is refused there rather than mixed in.
pub fn table_name(dataset: &str) -> String {
    let mut slug: String =
        dataset.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
    if slug.len() > 40 {
        let digest = Sha256::digest(dataset.as_bytes());
        slug = format!("{}_{:02x}{:02x}{:02x}{:02x}", &slug[..31], digest[0], digest[1], digest[2], digest[3]);
    }
    format!("amzn_stream_v2_{slug}")
}

/// Whether `id` has the form of a v2 dataset id (as the API accepts them).
pub fn is_dataset_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':'))
}

/// The file's dataset: named by its footer metadata (`datasetId`, `dataset_id`, `dataset`), else
/// by its key (a path segment that is a declared id, or `dataset=…` / `datasetId=…`), else the
/// account's only declared dataset. Amazon documents none of these places; each is a guess that
/// is checked, and a file that none of them names is quarantined with the reason.
pub fn dataset_of(key: &str, metadata: &HashMap<String, String>, declared: &[String]) -> Result<String, String> {
    for name in ["datasetId", "dataset_id", "dataset"] {
        if let Some(v) = metadata.get(name) {
            if is_dataset_id(v) {
                return Ok(v.clone());
            }
        }
    }
    for segment in key.split('/') {
        if let Some(d) = declared.iter().find(|d| d.as_str() == segment) {
            return Ok(d.clone());
        }
        for prefix in ["dataset=", "datasetId=", "dataset_id="] {
            if let Some(v) = segment.strip_prefix(prefix) {
                if is_dataset_id(v) {
                    return Ok(v.to_owned());
                }
            }
        }
    }
    match declared {
        [only] => Ok(only.clone()),
        [] => Err("the file does not say which dataset it holds, and the account declares no v2 dataset".into()),
        many => Err(format!(
            "the file does not say which dataset it holds, and the account declares {} v2 datasets",
            many.len()
        )),
    }
}

fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Why a version did not land: its file (quarantined) or the store (retried).
enum Failure {
    File(String),
    Store(StoreError),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Store(e)
    }
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        // Postgres refusing a value (data exception, SQLSTATE class 22) is the file's doing.
        if let Some(db) = e.as_database_error() {
            if db.code().is_some_and(|c| c.starts_with("22")) {
                return Failure::File(format!("Postgres refused a value: {}", db.message()));
            }
        }
        Failure::Store(e.into())
    }
}

/// Records what became of the version; false when a row for it exists (another loader landed
/// or quarantined it). The row is written after the version's rows, in the same transaction: a
/// second loader of the same version waits here for the first to commit (then finds its row) or
/// to roll back (then writes its own). The rows copied before the wait are rolled back by the
/// caller when it loses.
async fn record(
    tx: &mut Transaction<'static, Postgres>,
    target: &Target<'_>,
    o: &ObjectVersion,
    status: &str,
    reason: Option<&str>,
    rows: i64,
    landed_in: Option<(&str, &str)>,
) -> Result<bool, StoreError> {
    let sql = format!(
        "INSERT INTO {}.stream_v2_objects
           (bucket, object_key, version_id, hub_account_id, last_modified, size_bytes, status, reason, rows, dataset, table_name)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
        target.schema
    );
    let inserted = sqlx::query(&sql)
        .bind(&o.bucket)
        .bind(&o.key)
        .bind(&o.version_id)
        .bind(target.account)
        .bind(o.last_modified)
        .bind(o.size)
        .bind(status)
        .bind(reason)
        .bind(rows)
        .bind(landed_in.map(|(d, _)| d))
        .bind(landed_in.map(|(_, t)| t))
        .execute(&mut **tx)
        .await?;
    Ok(inserted.rows_affected() == 1)
}

/// The table's columns and their types (`format_type`), and its comment; empty when there is
/// no such table.
async fn table_columns(tx: &mut Transaction<'static, Postgres>, qualified: &str) -> Result<(HashMap<String, String>, Option<String>), sqlx::Error> {
    let columns: Vec<(String, String)> = sqlx::query_as(
        "SELECT a.attname::text, format_type(a.atttypid, NULL) FROM pg_attribute a
         WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
    )
    .bind(qualified)
    .fetch_all(&mut **tx)
    .await?;
    let comment: Option<String> =
        sqlx::query_scalar("SELECT obj_description(to_regclass($1), 'pg_class')").bind(qualified).fetch_one(&mut **tx).await?;
    Ok((columns.into_iter().collect(), comment))
}

/// A file column whose type differs from the table's, in words.
fn conflict(columns: &[FileColumn], existing: &HashMap<String, String>, table: &str) -> Option<String> {
    columns.iter().find_map(|c| {
        let pg = c.pg?;
        let has = existing.get(&c.name)?;
        (has != pg.sql()).then(|| format!("column {:?} is {} in this file but {} in {table}", c.name, pg.sql(), has))
    })
}

/// Creates or widens the dataset's table for the file's columns; `Err(File)` for a column
/// whose type differs or a table of another dataset. Returns the table's columns after.
async fn prepare_table(
    tx: &mut Transaction<'static, Postgres>,
    schema: &TenantSchema,
    dataset: &str,
    table: &str,
    columns: &[FileColumn],
) -> Result<HashMap<String, String>, Failure> {
    let qualified = format!("{schema}.{table}");
    let check = |existing: &HashMap<String, String>, comment: &Option<String>| -> Result<bool, Failure> {
        if existing.is_empty() {
            return Ok(true);
        }
        if comment.as_deref().is_some_and(|c| c != dataset) {
            return Err(Failure::File(format!(
                "dataset {dataset:?} would land in {table}, which holds dataset {:?}",
                comment.as_deref().unwrap_or_default()
            )));
        }
        if let Some(reason) = conflict(columns, existing, table) {
            return Err(Failure::File(reason));
        }
        Ok(columns.iter().any(|c| c.pg.is_some() && !existing.contains_key(&c.name)))
    };
    let (existing, comment) = table_columns(tx, &qualified).await?;
    if !check(&existing, &comment)? {
        return Ok(existing);
    }
    // DDL: one loader at a time per table, and the table read again under the lock.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 28))").bind(&qualified).execute(&mut **tx).await?;
    let (existing, comment) = table_columns(tx, &qualified).await?;
    if !check(&existing, &comment)? {
        return Ok(existing);
    }
    let mut after = existing.clone();
    after.extend(SYSTEM_COLUMNS.iter().map(|(n, t)| (n.to_string(), t.to_string())));
    after.extend(columns.iter().filter_map(|c| Some((c.name.clone(), c.pg?.sql().to_owned()))));
    let new: Vec<String> = columns
        .iter()
        .filter_map(|c| Some((c, c.pg?)))
        .filter(|(c, _)| !existing.contains_key(&c.name))
        .map(|(c, pg)| format!("{} {}", quote(&c.name), pg.sql()))
        .collect();
    if existing.is_empty() {
        let mut all: Vec<String> = SYSTEM_COLUMNS.iter().map(|(n, t)| format!("{n} {t} NOT NULL")).collect();
        all.extend(new);
        sqlx::query(&format!("CREATE TABLE {qualified} ({})", all.join(", "))).execute(&mut **tx).await?;
        sqlx::query(&format!("COMMENT ON TABLE {qualified} IS {}", literal(dataset))).execute(&mut **tx).await?;
    } else {
        let adds: Vec<String> = new.iter().map(|c| format!("ADD COLUMN {c}")).collect();
        sqlx::query(&format!("ALTER TABLE {qualified} {}", adds.join(", "))).execute(&mut **tx).await?;
    }
    // `t.*` is expanded when a view is made: made again so that it shows the new columns.
    sqlx::query(&format!(
        "CREATE OR REPLACE VIEW {schema}.{table}_latest AS
         SELECT t.* FROM {qualified} t
         JOIN {schema}.stream_v2_latest_versions l
           ON l.hub_account_id = t._hub_account_id AND l.object_key = t._object_key AND l.version_id = t._version_id"
    ))
    .execute(&mut **tx)
    .await?;
    Ok(after)
}

async fn copy_rows(
    tx: &mut Transaction<'static, Postgres>,
    target: &Target<'_>,
    known: &mut HashMap<String, HashMap<String, String>>,
    object: &ObjectVersion,
    file: Opened,
) -> Result<(String, String, i64), Failure> {
    if let Data::Encoded(Err(reason)) = file.data {
        return Err(Failure::File(reason));
    }
    let dataset = dataset_of(&object.key, &file.metadata, target.declared).map_err(Failure::File)?;
    let table = table_name(&dataset);
    // A table seen in this batch with every column of the file needs no look: its columns'
    // types never change, and one it did not have means a look (and maybe DDL).
    let seen = known.get(&dataset).and_then(|cols| {
        if let Some(reason) = conflict(&file.columns, cols, &table) {
            return Some(Err(Failure::File(reason)));
        }
        file.columns.iter().all(|c| c.pg.is_none() || cols.contains_key(&c.name)).then_some(Ok(()))
    });
    match seen {
        Some(Ok(())) => {}
        Some(Err(e)) => return Err(e),
        None => {
            let columns = prepare_table(tx, target.schema, &dataset, &table, &file.columns).await?;
            known.insert(dataset.clone(), columns);
        }
    }
    let mut names: Vec<String> = SYSTEM_COLUMNS.iter().map(|(n, _)| n.to_string()).collect();
    names.extend(file.columns.iter().filter(|c| c.pg.is_some()).map(|c| quote(&c.name)));
    let statement = format!("COPY {}.{table} ({}) FROM STDIN WITH (FORMAT binary)", target.schema, names.join(", "));

    let file = match file.data {
        Data::Encoded(Ok((chunks, rows))) => {
            let mut copy = tx.copy_in_raw(&statement).await?;
            for chunk in chunks {
                if let Err(e) = copy.send(chunk).await {
                    let _ = copy.abort("send failed").await;
                    return Err(e.into());
                }
            }
            let copied = copy.finish().await?;
            if copied != rows as u64 {
                return Err(Failure::Store(StoreError::Inconsistent(format!("{rows} rows encoded but {copied} copied"))));
            }
            return Ok((dataset, table, rows));
        }
        Data::Encoded(Err(reason)) => return Err(Failure::File(reason)),
        Data::Streaming(file) => file,
    };
    // A large file is decoded on a blocking thread while Postgres takes the previous chunk.
    let (sender, mut chunks) = tokio::sync::mpsc::channel::<Vec<u8>>(2);
    let (account, key, version_id) = (target.account, object.key.clone(), object.version_id.clone());
    let encoder = tokio::task::spawn_blocking(move || file.encode(account, &key, &version_id, |chunk| sender.blocking_send(chunk).is_ok()));
    let mut copy = tx.copy_in_raw(&statement).await?;
    let mut sent = Ok(());
    while let Some(chunk) = chunks.recv().await {
        if let Err(e) = copy.send(chunk).await {
            sent = Err(e);
            break;
        }
    }
    drop(chunks);
    let encoded = encoder.await.map_err(|e| StoreError::Inconsistent(format!("the Parquet reader stopped: {e}")))?;
    if let Err(e) = sent {
        let _ = copy.abort("send failed").await;
        return Err(e.into());
    }
    let rows = match encoded {
        Ok(rows) => rows,
        Err(reason) => {
            let _ = copy.abort("the file could not be read").await;
            return Err(Failure::File(reason));
        }
    };
    let copied = copy.finish().await?;
    if copied != rows as u64 {
        return Err(Failure::Store(StoreError::Inconsistent(format!("{rows} rows encoded but {copied} copied"))));
    }
    Ok((dataset, table, rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_fit_postgres_and_long_ids_stay_apart() {
        assert_eq!(table_name("sp-Traffic.v1"), "amzn_stream_v2_sp_traffic_v1");
        let a = table_name(&format!("{}a", "x".repeat(60)));
        let b = table_name(&format!("{}b", "x".repeat(60)));
        assert_ne!(a, b);
        assert!(format!("{a}_latest").len() <= 63, "{a}");
    }

    #[test]
    fn dataset_from_metadata_then_key_then_the_only_declared() {
        let none = HashMap::new();
        let declared = vec!["ads-performance".to_owned(), "dsp-performance".to_owned()];
        let meta = HashMap::from([("datasetId".to_owned(), "from-meta".to_owned())]);
        assert_eq!(dataset_of("x/y.parquet", &meta, &declared).unwrap(), "from-meta");
        assert_eq!(dataset_of("v2/dsp-performance/2026/12/01/f.parquet", &none, &declared).unwrap(), "dsp-performance");
        assert_eq!(dataset_of("v2/datasetId=abc/f.parquet", &none, &declared).unwrap(), "abc");
        assert_eq!(dataset_of("f.parquet", &none, &declared[..1]).unwrap(), "ads-performance");
        assert!(dataset_of("f.parquet", &none, &declared).unwrap_err().contains("declares 2"));
        assert!(dataset_of("f.parquet", &none, &[]).is_err());
    }
}
