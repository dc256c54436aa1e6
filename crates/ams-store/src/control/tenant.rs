//! An agency using the platform; its data lives in schema `tenant_<slug>`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(schema_name = "control", table_name = "tenants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub slug: crate::TenantSlug,
    pub name: String,
    pub status: TenantStatus,
    /// Whether accounts without a role may be read with the platform's own AWS identity
    /// (an operator decision: that identity may be able to read other tenants' queues).
    pub allow_platform_identity: bool,
    pub created_at: DateTimeWithTimeZone,
    /// Days of deltas kept (None: for ever); at least 30.
    pub retention_deltas_days: Option<i32>,
    /// Days of hourly rollups kept (None: for ever); at least `retention_deltas_days`.
    pub retention_hourly_days: Option<i32>,
}

crate::text_enum! {
    /// Whether a tenant's keys reach anything and its queues are consumed (the operator's switch).
    pub enum TenantStatus {
        Active = "active",
        Disabled = "disabled",
    }
}

impl Model {
    /// The operator's retention settings of this tenant.
    pub fn retention(&self) -> crate::Retention {
        crate::Retention {
            deltas_days: self.retention_deltas_days.map(|d| d.max(0) as u32),
            hourly_days: self.retention_hourly_days.map(|d| d.max(0) as u32),
        }
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
