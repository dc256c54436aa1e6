//! An AMS subscription (dataset → queue) and its confirmation state.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(schema_name = "control", table_name = "subscriptions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: Option<Uuid>,
    pub queue_id: Option<Uuid>,
    pub dataset_id: Option<String>,
    pub marketplace_id: Option<String>,
    pub subscription_id: Option<String>,
    pub topic_arn: Option<String>,
    pub status: super::registry::ConfirmationStatus,
    pub last_error: Option<String>,
    pub created_at: DateTimeWithTimeZone,
    pub updated_at: DateTimeWithTimeZone,
    pub message_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
