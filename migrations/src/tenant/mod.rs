//! Per-tenant schema migrations. Each tenant schema records what it has applied in
//! `<schema>.schema_migrations`; `ams-store` applies the missing ones, in order, in one
//! transaction per schema, under an advisory lock (so two processes never race).
//!
//! Rules for the next engineer:
//! * Never edit a released migration's effect. Add `vNNN` with the change.
//! * `v001` builds the ledger tables from the column lists in `ams-model`. When a dataset gains a
//!   column there, add a migration using `ADD COLUMN IF NOT EXISTS`: new tenants already get the
//!   column from `v001`, existing ones get it from the new migration.

mod v001_ledger;

pub struct TenantMigration {
    pub version: i32,
    pub name: &'static str,
    /// The statements, for the given (already validated, quoted) schema name.
    pub statements: fn(schema: &str) -> Vec<String>,
}

pub const TENANT_MIGRATIONS: &[TenantMigration] = &[TenantMigration {
    version: 1,
    name: "ledger tables for the 13 datasets, rollups, quarantine",
    statements: v001_ledger::statements,
}];

/// The newest tenant schema version this build knows.
pub fn latest_version() -> i32 {
    TENANT_MIGRATIONS.last().map_or(0, |m| m.version)
}
