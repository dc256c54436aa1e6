//! Amazon's contract, as its OpenAPI documents state it (issue 22):
//!
//! * **DSP advertisers.** A DSP advertiser is not a seller or vendor profile: it is listed under
//!   an `agency` profile (`GET /dsp/advertisers`), and DSP datasets are subscribed per DSP
//!   advertiser. `dsp_advertisers` ties one to an account; `ads_connections.dsp_advertisers`
//!   keeps what Amazon last listed for the login; a DSP subscription row names its advertiser
//!   (`dsp_advertiser_id`) instead of a marketplace.
//! * **Released subscriptions.** Amazon archives only ACTIVE subscriptions. A failed one Amazon
//!   will not archive is let go by ams-hub (`released_at`), keeping Amazon's status to show.
//! * **Agency profiles are no marketplaces.** A marketplace imported from an agency profile
//!   (earlier imports took every profile) lets go of its profile and connection, so nothing
//!   sponsored-ads is subscribed through it any more; the reconciler retires what was.
//! * **Request tokens.** `clientRequestToken` is 22 to 36 characters. Rows still waiting for
//!   their create with an older 40-character token get a 36-character one (a UUID-shaped md5
//!   of the old token: deterministic, so two replicas migrating agree). Amazon never accepted
//!   the old ones, so nothing at Amazon carries them.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = "
CREATE TABLE dsp_advertisers (
    id                 uuid PRIMARY KEY,
    account_id         uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    connection_id      uuid REFERENCES ads_connections (id) ON DELETE SET NULL,
    advertiser_id      text NOT NULL,
    agency_profile_id  text NOT NULL,
    realm              text NOT NULL CHECK (realm IN ('NA', 'EU', 'FE')),
    region             text NOT NULL,
    name               text NOT NULL DEFAULT '',
    country            text,
    currency           text,
    timezone           text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, advertiser_id)
);
CREATE INDEX dsp_advertisers_advertiser ON dsp_advertisers (advertiser_id);

ALTER TABLE ads_connections ADD COLUMN dsp_advertisers jsonb NOT NULL DEFAULT '[]';

ALTER TABLE stream_subscriptions
    ADD COLUMN dsp_advertiser_id uuid REFERENCES dsp_advertisers (id) ON DELETE SET NULL,
    ADD COLUMN released_at timestamptz;
DROP INDEX IF EXISTS stream_subscriptions_open;
CREATE INDEX stream_subscriptions_open ON stream_subscriptions (tenant_id)
    WHERE status <> 'ARCHIVED' AND released_at IS NULL;

UPDATE marketplaces m SET profile_id = NULL, connection_id = NULL
    FROM ads_connections c
    WHERE m.connection_id = c.id AND EXISTS (
        SELECT 1 FROM jsonb_array_elements(c.profiles) p
        WHERE p->>'profileId' = m.profile_id AND p->'accountInfo'->>'type' = 'agency');

UPDATE stream_subscriptions SET client_request_token = md5(client_request_token)::uuid::text
    WHERE length(client_request_token) > 36 AND subscription_id IS NULL;
";

const DOWN: &str = "
DROP INDEX IF EXISTS stream_subscriptions_open;
ALTER TABLE stream_subscriptions DROP COLUMN IF EXISTS released_at, DROP COLUMN IF EXISTS dsp_advertiser_id;
CREATE INDEX stream_subscriptions_open ON stream_subscriptions (tenant_id) WHERE status <> 'ARCHIVED';
ALTER TABLE ads_connections DROP COLUMN IF EXISTS dsp_advertisers;
DROP TABLE IF EXISTS dsp_advertisers;
";

sql_migration!(UP, DOWN);
