//! Postgres for ams-hub.
//!
//! * [`Store`]: the connection (one sqlx pool, shared with sea-orm), database creation,
//!   migrations of the control plane and of every tenant schema.
//! * [`control`]: sea-orm entities of the control plane (schema `control`).
//! * [`tenant`]: tenant slugs, their schemas and provisioning.
//! * [`bi_logins`]: Postgres roles that read a tenant's reporting views for BI tools.
//! * [`webhooks`]: tenants' webhook endpoints and the deliveries to them.
//! * [`alerts`]: tenants' alert rules, evaluated against their data; alerts go to webhooks.
//! * [`ledger`]: the [`LedgerWriter`] that writes a batch of decoded records for one tenant in
//!   one transaction: dedupe, rollups, entity versions, budget state, quarantine.

pub mod alerts;
pub mod bi_logins;
pub mod control;
mod error;
mod ids;
pub mod ledger;
mod quarantine;
pub mod reports;
pub mod secrets;
pub mod stream_v2;
mod store;
pub mod tenant;
pub mod webhooks;
mod text_enum;

pub use control::scope::{random_secret, AccountScope, KeyHolder, KeyScope, NewApiKey, QueueState, TenantScope};
pub use control::account::AccountStatus;
pub use control::ads::ConnectionStatus;
pub use control::registry::ConfirmationStatus;
pub use control::streams::StreamStatus;
pub use control::tenant::TenantStatus;
pub use error::StoreError;
pub use secrets::{Keyring, SecretError};
pub use ids::{AccountId, QueueId};
pub use quarantine::{QuarantinedBody, Replayed, PREVIEW_CHARS};
pub use ledger::{
    decode, Decoded, DecodedBody, DatasetCounts, Isolated, LedgerBatch, LedgerHorizon, LedgerWriter, Origin, Provenance, QuarantineEntry,
    Retention, Upkeep, WriteSummary, UPKEEP_EVERY,
};
pub use store::{Store, DEFAULT_DATABASE_URL};
pub use tenant::{TenantSchema, TenantSlug};
