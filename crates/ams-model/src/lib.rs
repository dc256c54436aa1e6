//! Amazon Marketing Stream (AMS) as data: decode an SQS message body into typed records of the
//! 23 datasets, with the columns each dataset stores and its natural key. No I/O happens here:
//! the store turns these records into rows, the runtime feeds bodies in.
//!
//! Semantics live in `docs/ams.md`; the short version: deltas are deduplicated on
//! `idempotency_id` and then summed, entities keep their highest `version`, budget usage keeps
//! the newest notification, recommendations keep their latest state.

mod adsp_delta;
mod adsp_entity;
mod amazon;
mod archive;
mod body;
mod budget;
mod columns;
mod dataset;
mod delta;
mod entity;
mod error;
pub mod json;
mod marketplace;
mod recommendation;
mod record;
pub mod storable;
mod values;

pub use amazon::{confirmable, confirmable_in, queue_arn, sns_account, Realm, TopicArn};
pub use marketplace::{Marketplace, MARKETPLACES};
pub use archive::{archive_bodies, ArchiveBodies, ArchiveChunk};
pub use body::{decode_body, Body, SubscriptionConfirmation};
pub use budget::BudgetUsage;
pub use columns::{Column, ColumnKind, ColumnSink, Columns};
pub use adsp_delta::{AdspClickstream, AdspConversion, AdspRichMedia, AdspTraffic};
pub use adsp_entity::{AdspAdGroup, AdspAdGroupTarget, AdspCampaign, AdspCampaignFlight, PAYLOAD_TRUNCATED};
pub use dataset::{DatasetId, DatasetInfo, DatasetKind, DATASETS};
pub use recommendation::{
    CampaignRecommendation, SnapshotRecord, SnapshotSpec, SpBudgetRecommendation, SNAPSHOT_SPECS,
};
pub use delta::{
    DeltaRecord, DeltaSpec, SbClickstream, DELTA_SPECS, SbConversion, SbRichMedia, SbTraffic, SdConversion,
    SdTraffic, SpConversion, SpTraffic,
};
pub use entity::{Ad, AdGroup, Campaign, EntityRecord, EntitySpec, Target, ENTITY_SPECS};
pub use error::{DecodeError, QuarantineReason};
pub use record::{columns_of, decode_record, Record};
pub use values::{parse_date_or_instant, parse_instant, TimeWindow};
