//! Retention per tenant (issue 25): how many days of deltas and of hourly rollups the
//! operator keeps (NULL: for ever). The runtime's ledger upkeep reads them; the horizons
//! themselves live in each tenant schema (`ledger_retention`), beside the rows they guard.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = "
ALTER TABLE tenants
    ADD COLUMN retention_deltas_days integer CHECK (retention_deltas_days >= 30),
    ADD COLUMN retention_hourly_days integer
        CHECK (retention_hourly_days >= retention_deltas_days);
";

const DOWN: &str = "ALTER TABLE tenants DROP COLUMN IF EXISTS retention_deltas_days, DROP COLUMN IF EXISTS retention_hourly_days;";

sql_migration!(UP, DOWN);
