//! A tenant's quarantine (`<schema>.quarantine`) through its [`TenantScope`]: list in pages,
//! replay (decode again, e.g. after a decoder fix, and write what now decodes), discard.

use ams_model::Record;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::control::scope::TenantScope;
use crate::{LedgerBatch, LedgerWriter, Provenance, StoreError, WriteSummary};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct QuarantinedBody {
    pub id: i64,
    /// The whole body, or (in a page) its first [`PREVIEW_CHARS`] characters.
    pub body: String,
    /// The whole body's size in bytes.
    pub body_bytes: i64,
    pub reason_code: String,
    pub reason: String,
    pub source: String,
    pub message_id: Option<String>,
    pub hub_account_id: Option<Uuid>,
    pub received_at: DateTime<Utc>,
    pub quarantined_at: DateTime<Utc>,
}

/// What a replay did.
#[derive(Debug)]
pub enum Replayed {
    /// The records were written and the entry removed.
    Written(WriteSummary),
    /// Postgres still refuses the rows (the text says why); the entry stays.
    StillRefused(String),
}

/// Characters of each body a page shows: bodies run to 256 KiB (and a hostile queue can fill
/// a page with them); with at most 500 entries a page stays within a few MiB.
pub const PREVIEW_CHARS: i64 = 1024;

const COLUMNS: &str = "id, body, octet_length(body)::bigint AS body_bytes, reason_code, reason, source, message_id, hub_account_id, received_at, quarantined_at";
const PAGE_COLUMNS: &str = "id, left(body, 1024) AS body, octet_length(body)::bigint AS body_bytes, reason_code, reason, source, message_id, hub_account_id, received_at, quarantined_at";

impl TenantScope {
    /// Entries with an id greater than `after`, oldest first, at most `limit`; bodies cut to
    /// their first [`PREVIEW_CHARS`] characters.
    pub async fn quarantine_page(&self, after: i64, limit: i64) -> Result<Vec<QuarantinedBody>, StoreError> {
        let sql = format!("SELECT {PAGE_COLUMNS} FROM {}.quarantine WHERE id > $1 ORDER BY id LIMIT $2", self.schema());
        Ok(sqlx::query_as(&sql).bind(after).bind(limit).fetch_all(self.store().pool()).await?)
    }

    /// One entry, with its whole body.
    pub async fn quarantined(&self, id: i64) -> Result<Option<QuarantinedBody>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM {}.quarantine WHERE id = $1", self.schema());
        Ok(sqlx::query_as(&sql).bind(id).fetch_optional(self.store().pool()).await?)
    }

    /// Removes an entry for good; false when there is none with that id.
    pub async fn discard_quarantined(&self, id: i64) -> Result<bool, StoreError> {
        let sql = format!("DELETE FROM {}.quarantine WHERE id = $1", self.schema());
        Ok(sqlx::query(&sql).bind(id).execute(self.store().pool()).await?.rows_affected() > 0)
    }

    /// Writes the records the entry's body now decodes into (the caller decodes it:
    /// ams_store::ledger::decode), with their original account and receive time, then deletes the
    /// entry. A crash between the two leaves the entry; replaying it again is harmless (the
    /// ledger ignores known records).
    pub async fn replay_quarantined(&self, entry: &QuarantinedBody, records: &[Record]) -> Result<Replayed, StoreError> {
        let provenance = Provenance { hub_account_id: entry.hub_account_id, received_at: entry.received_at };
        let mut batch = LedgerBatch::new();
        batch.push_records(records, provenance);
        let summary = match LedgerWriter::new(self.store()).write(&self.schema(), &batch).await {
            Ok(summary) => summary,
            Err(e) if e.is_permanent() => return Ok(Replayed::StillRefused(e.to_string())),
            Err(e) => return Err(e),
        };
        self.discard_quarantined(entry.id).await?;
        Ok(Replayed::Written(summary))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_page_preview_is_preview_chars_long() {
        assert!(super::PAGE_COLUMNS.contains(&format!("left(body, {})", super::PREVIEW_CHARS)));
    }
}
