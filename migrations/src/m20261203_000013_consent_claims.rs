//! Consent links bound to one browser (issue 23): `…/ads-connections/authorize` answers with an
//! ams-hub page, and the first browser to open it claims the link's nonce here and gets it as a
//! cookie; the callback connects a login only for the browser holding that cookie. A claim
//! outlives its link (ten minutes) by a day, then the next claim sweeps it away.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = "
CREATE TABLE consent_claims (
    nonce       text PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    claimed_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
";

const DOWN: &str = "DROP TABLE IF EXISTS consent_claims;";

sql_migration!(UP, DOWN);
