//! Tenant isolation (issue: hostile tenants):
//! * `tenants.allow_platform_identity`: reading a role-less account's queues with the
//!   platform's own AWS identity is an operator decision per tenant, off by default;
//! * `api_keys.scope`: `read`, `write` (what existing keys become) or `admin`;
//! * a queue's identity (region, AWS account id, name) is unique across the platform, however
//!   its URL was spelled. Existing URLs are canonical already up to their last two segments.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
ALTER TABLE tenants ADD COLUMN allow_platform_identity boolean NOT NULL DEFAULT false;
ALTER TABLE api_keys ADD COLUMN scope text NOT NULL DEFAULT 'write' CHECK (scope IN ('read', 'write', 'admin'));
ALTER TABLE queues ADD COLUMN aws_account_id text, ADD COLUMN queue_name text;
UPDATE queues SET aws_account_id = split_part(rtrim(queue_url, '/'), '/', -2),
                  queue_name = split_part(rtrim(queue_url, '/'), '/', -1);
ALTER TABLE queues ALTER COLUMN aws_account_id SET NOT NULL, ALTER COLUMN queue_name SET NOT NULL;
CREATE UNIQUE INDEX queues_identity ON queues (region, aws_account_id, queue_name);
"#;

const DOWN: &str = r#"
DROP INDEX IF EXISTS queues_identity;
ALTER TABLE queues DROP COLUMN IF EXISTS aws_account_id, DROP COLUMN IF EXISTS queue_name;
ALTER TABLE api_keys DROP COLUMN IF EXISTS scope;
ALTER TABLE tenants DROP COLUMN IF EXISTS allow_platform_identity;
"#;

sql_migration!(UP, DOWN);
