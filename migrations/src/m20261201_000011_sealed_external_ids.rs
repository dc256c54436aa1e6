//! External ids at rest: `accounts.external_id_sealed` holds the AES-256-GCM ciphertext
//! (`ams_store::secrets`) and `external_id` (clear) is emptied once `ams-hub serve` starts with
//! `AMS_HUB_SECRET_KEY` set. Without a key, ids stay in clear (the log says so). Going down
//! loses the sealed ids (they cannot be opened in SQL): re-set them with PATCH first.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = "
ALTER TABLE accounts ADD COLUMN external_id_sealed bytea, ALTER COLUMN external_id DROP NOT NULL;
ALTER TABLE accounts ADD CONSTRAINT accounts_external_id_present
    CHECK (external_id IS NOT NULL OR external_id_sealed IS NOT NULL);
";

const DOWN: &str = "
ALTER TABLE accounts DROP CONSTRAINT IF EXISTS accounts_external_id_present;
UPDATE accounts SET external_id = '' WHERE external_id IS NULL;
ALTER TABLE accounts DROP COLUMN IF EXISTS external_id_sealed, ALTER COLUMN external_id SET NOT NULL;
";

sql_migration!(UP, DOWN);
