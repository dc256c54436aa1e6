//! Why a body could not be turned into records. Every variant says enough for an operator to
//! fix the cause and replay the quarantined body.

use crate::DatasetId;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error("unsupported body: {0}")]
    UnsupportedShape(String),
    #[error("unsupported SNS message type {0:?}")]
    UnsupportedSnsType(String),
    #[error("broken SNS envelope: {0}")]
    BadEnvelope(String),
    #[error("unknown dataset_id {0:?}")]
    UnknownDataset(String),
    #[error("{dataset} record is missing field `{field}`")]
    MissingField { dataset: DatasetId, field: String },
    #[error("invalid {dataset} record: {detail}")]
    InvalidRecord { dataset: DatasetId, detail: String },
    /// Well-formed, but Postgres would refuse to store it (docs: `storable.rs`).
    #[error("{dataset} record cannot be stored: {detail}")]
    Unstorable { dataset: DatasetId, detail: String },
    #[error("array element {index}: {source}")]
    InArray { index: usize, source: Box<DecodeError> },
}

/// Why a body is in quarantine: the stable `reason_code` of the quarantine table, the API and
/// the README. Every code written anywhere is one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuarantineReason {
    NotJson,
    UnsupportedShape,
    UnsupportedSnsType,
    BadEnvelope,
    UnknownDataset,
    MissingField,
    InvalidRecord,
    /// Well-formed, but what Postgres cannot store (decoder).
    Unstorable,
    /// A subscription confirmation in a file: files never confirm.
    SubscriptionConfirmation,
    /// A confirmation that is not Amazon's: never confirmed.
    RefusedConfirmation,
    /// Amazon's confirmation that SNS kept rejecting.
    ConfirmationFailed,
    /// Rows Postgres refused for their data (the writer's isolation).
    RefusedByDatabase,
    /// A delta whose `idempotency_id` the ledger holds with another time window: neither a
    /// redelivery (skipped) nor a new record (summed), so it is kept aside.
    IdempotencyConflict,
    /// A delta older than its tenant's retention horizon: its hour's deltas are gone, so
    /// adding it could count a redelivery twice.
    BeyondRetention,
}

impl QuarantineReason {
    pub const ALL: [QuarantineReason; 14] = [
        QuarantineReason::NotJson,
        QuarantineReason::UnsupportedShape,
        QuarantineReason::UnsupportedSnsType,
        QuarantineReason::BadEnvelope,
        QuarantineReason::UnknownDataset,
        QuarantineReason::MissingField,
        QuarantineReason::InvalidRecord,
        QuarantineReason::Unstorable,
        QuarantineReason::SubscriptionConfirmation,
        QuarantineReason::RefusedConfirmation,
        QuarantineReason::ConfirmationFailed,
        QuarantineReason::RefusedByDatabase,
        QuarantineReason::IdempotencyConflict,
        QuarantineReason::BeyondRetention,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            QuarantineReason::NotJson => "not_json",
            QuarantineReason::UnsupportedShape => "unsupported_shape",
            QuarantineReason::UnsupportedSnsType => "unsupported_sns_type",
            QuarantineReason::BadEnvelope => "bad_envelope",
            QuarantineReason::UnknownDataset => "unknown_dataset",
            QuarantineReason::MissingField => "missing_field",
            QuarantineReason::InvalidRecord => "invalid_record",
            QuarantineReason::Unstorable => "unstorable",
            QuarantineReason::SubscriptionConfirmation => "subscription_confirmation",
            QuarantineReason::RefusedConfirmation => "refused_confirmation",
            QuarantineReason::ConfirmationFailed => "confirmation_failed",
            QuarantineReason::RefusedByDatabase => "refused_by_database",
            QuarantineReason::IdempotencyConflict => "idempotency_conflict",
            QuarantineReason::BeyondRetention => "beyond_retention",
        }
    }
}

impl std::fmt::Display for QuarantineReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl DecodeError {
    /// Why a body with this error is quarantined.
    pub fn reason(&self) -> QuarantineReason {
        match self {
            DecodeError::NotJson(_) => QuarantineReason::NotJson,
            DecodeError::UnsupportedShape(_) => QuarantineReason::UnsupportedShape,
            DecodeError::UnsupportedSnsType(_) => QuarantineReason::UnsupportedSnsType,
            DecodeError::BadEnvelope(_) => QuarantineReason::BadEnvelope,
            DecodeError::UnknownDataset(_) => QuarantineReason::UnknownDataset,
            DecodeError::MissingField { .. } => QuarantineReason::MissingField,
            DecodeError::InvalidRecord { .. } => QuarantineReason::InvalidRecord,
            DecodeError::Unstorable { .. } => QuarantineReason::Unstorable,
            DecodeError::InArray { source, .. } => source.reason(),
        }
    }

    /// A short stable code for counters and the API (`not_json`, `missing_field`, ...).
    pub fn code(&self) -> &'static str {
        self.reason().as_str()
    }

    /// Maps a serde error raised while reading a record of `dataset`.
    pub(crate) fn from_record(dataset: DatasetId, e: serde_json::Error) -> Self {
        if e.is_syntax() || e.is_eof() {
            return DecodeError::NotJson(e.to_string());
        }
        let msg = e.to_string();
        // serde's derive reports a missing field as "missing field `name` at line L column C".
        if let Some(rest) = msg.strip_prefix("missing field `") {
            if let Some(end) = rest.find('`') {
                return DecodeError::MissingField { dataset, field: rest[..end].to_string() };
            }
        }
        DecodeError::InvalidRecord { dataset, detail: msg }
    }
}

#[cfg(test)]
mod tests {
    use super::QuarantineReason;

    #[test]
    fn reason_codes_are_distinct_snake_case() {
        let codes: std::collections::HashSet<&str> = QuarantineReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(codes.len(), QuarantineReason::ALL.len());
        assert!(codes.iter().all(|c| c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')));
    }
}
