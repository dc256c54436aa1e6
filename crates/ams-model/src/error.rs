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

impl DecodeError {
    /// A short stable code for counters and the API (`not_json`, `missing_field`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            DecodeError::NotJson(_) => "not_json",
            DecodeError::UnsupportedShape(_) => "unsupported_shape",
            DecodeError::UnsupportedSnsType(_) => "unsupported_sns_type",
            DecodeError::BadEnvelope(_) => "bad_envelope",
            DecodeError::UnknownDataset(_) => "unknown_dataset",
            DecodeError::MissingField { .. } => "missing_field",
            DecodeError::InvalidRecord { .. } => "invalid_record",
            DecodeError::Unstorable { .. } => "unstorable",
            DecodeError::InArray { source, .. } => source.code(),
        }
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
