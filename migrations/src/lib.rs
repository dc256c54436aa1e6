//! ams-hub schema migrations.
//!
//! * The **control plane** (schema `control`: tenants, keys, accounts, marketplaces, queues,
//!   subscriptions) is migrated by sea-orm-migration: [`Migrator`].
//! * Every **tenant schema** (`tenant_<slug>`) is migrated by [`tenant::TENANT_MIGRATIONS`], a
//!   versioned list applied per schema and recorded in `<schema>.schema_migrations`.
//!   sea-orm-migration keeps one history table per connection's search_path, which does not fit
//!   thousands of schemas migrated through one pool; the tenant runner lives in `ams-store`.

pub use sea_orm_migration::prelude::*;

/// `impl MigrationTrait` for a migration that runs SQL text: `UP` forward, `DOWN` back.
macro_rules! sql_migration {
    ($up:expr, $down:expr) => {
        #[async_trait::async_trait]
        impl MigrationTrait for Migration {
            async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
                manager.get_connection().execute_unprepared($up).await.map(|_| ())
            }

            async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
                manager.get_connection().execute_unprepared($down).await.map(|_| ())
            }
        }
    };
}

mod m20261128_000001_control_plane;
mod m20261128_000002_consumer_state;
mod m20261128_000003_queue_status;
mod m20261128_000004_queue_leases;
mod m20261130_000005_tenant_isolation;
mod m20261130_000006_failure_kind;
mod m20261130_000007_replica_leases;
mod m20261201_000008_records_truncated;
mod m20261201_000009_stack_verification;
mod m20261201_000010_ads_api;
mod m20261201_000011_sealed_external_ids;
mod m20261203_000012_dsp_advertisers;
mod m20261203_000013_consent_claims;
mod m20261203_000014_tenant_retention;
mod m20261203_000015_webhooks;
mod m20261204_000016_alerts;
mod m20261204_000017_stream_v2_datasets;
mod m20261204_000018_stream_v2_destinations;
pub mod tenant;

/// The schema holding the control plane (and sea-orm's `seaql_migrations`).
pub const CONTROL_SCHEMA: &str = "control";

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_control_plane::Migration),
            Box::new(m20261128_000002_consumer_state::Migration),
            Box::new(m20261128_000003_queue_status::Migration),
            Box::new(m20261128_000004_queue_leases::Migration),
            Box::new(m20261130_000005_tenant_isolation::Migration),
            Box::new(m20261130_000006_failure_kind::Migration),
            Box::new(m20261130_000007_replica_leases::Migration),
            Box::new(m20261201_000008_records_truncated::Migration),
            Box::new(m20261201_000009_stack_verification::Migration),
            Box::new(m20261201_000010_ads_api::Migration),
            Box::new(m20261201_000011_sealed_external_ids::Migration),
            Box::new(m20261203_000012_dsp_advertisers::Migration),
            Box::new(m20261203_000013_consent_claims::Migration),
            Box::new(m20261203_000014_tenant_retention::Migration),
            Box::new(m20261203_000015_webhooks::Migration),
            Box::new(m20261204_000016_alerts::Migration),
            Box::new(m20261204_000017_stream_v2_datasets::Migration),
            Box::new(m20261204_000018_stream_v2_destinations::Migration),
        ]
    }
}
