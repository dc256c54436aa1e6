//! A brand (advertiser) a tenant manages, with the AWS role to reach its queues.

use sea_orm::entity::prelude::*;

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
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
    pub status: AccountStatus,
    pub created_at: DateTimeWithTimeZone,
    /// When `POST …/aws-stack` last verified the brand's role and queues.
    pub role_verified_at: Option<DateTimeWithTimeZone>,
    /// Why the last `POST …/aws-stack` failed (cleared by a success).
    pub stack_error: Option<String>,
}

crate::text_enum! {
    /// Whether an account's queues are consumed: `paused` stops its consumers.
    pub enum AccountStatus {
        Active = "active",
        Paused = "paused",
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

// The external id is a secret: shown as there or not, never what it is.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("name", &self.name)
            .field("aws_role_arn", &self.aws_role_arn)
            .field("external_id", &self.external_id.as_ref().map(|_| "<redacted>"))
            .field("external_id_sealed", &self.external_id_sealed.as_ref().map(|_| "<sealed>"))
            .field("status", &self.status)
            .field("created_at", &self.created_at)
            .field("role_verified_at", &self.role_verified_at)
            .field("stack_error", &self.stack_error)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn debug_never_shows_the_external_id() {
        let m = super::Model {
            id: Default::default(),
            tenant_id: Default::default(),
            name: "Brand".into(),
            aws_role_arn: None,
            external_id: Some("ams-secret-external-id-0123456789".into()),
            external_id_sealed: Some(vec![1, 2, 3]),
            status: super::AccountStatus::Active,
            created_at: Default::default(),
            role_verified_at: None,
            stack_error: None,
        };
        let shown = format!("{m:?}");
        assert!(!shown.contains("ams-secret-external-id") && shown.contains("<redacted>") && shown.contains("Brand"), "{shown}");
    }
}
