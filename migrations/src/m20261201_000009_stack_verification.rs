//! `accounts.role_verified_at` and `accounts.stack_error`: when onboarding last verified the
//! brand's AWS stack (`POST …/aws-stack`), and why its last attempt failed, for the checklist.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = "ALTER TABLE accounts ADD COLUMN role_verified_at timestamptz, ADD COLUMN stack_error text;";

const DOWN: &str = "ALTER TABLE accounts DROP COLUMN IF EXISTS role_verified_at, DROP COLUMN IF EXISTS stack_error;";

sql_migration!(UP, DOWN);
