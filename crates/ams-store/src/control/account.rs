//! A brand (advertiser) a tenant manages, with the AWS role to reach its queues.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(schema_name = "control", table_name = "accounts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub aws_role_arn: Option<String>,
    /// A secret shared with the brand for AssumeRole: never logged, never returned after
    /// creation. In clear only while the server runs without `AMS_HUB_SECRET_KEY`; read it
    /// through `AccountScope::external_id`, which opens the sealed form.
    pub external_id: Option<String>,
    /// The external id sealed with the server's key (`ams_store::secrets`).
    pub external_id_sealed: Option<Vec<u8>>,
    pub status: String,
    pub created_at: DateTimeWithTimeZone,
    /// When `POST …/aws-stack` last verified the brand's role and queues.
    pub role_verified_at: Option<DateTimeWithTimeZone>,
    /// Why the last `POST …/aws-stack` failed (cleared by a success).
    pub stack_error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
