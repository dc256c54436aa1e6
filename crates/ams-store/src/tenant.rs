//! Tenants: the slug (validated before it reaches SQL), the schema it names, provisioning and
//! the per-tenant schema migration runner.

use std::fmt;

use chrono::Utc;
use migration::tenant::TENANT_MIGRATIONS;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use sqlx::PgPool;
use uuid::Uuid;

use crate::control::tenant;
use crate::{Store, StoreError};

/// A tenant's slug: `^[a-z][a-z0-9_]{2,39}$`. Only a parsed slug can name a schema.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TenantSlug(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid tenant slug {0:?}: use 3 to 40 characters, lowercase letters, digits and _, starting with a letter")]
pub struct InvalidSlug(pub String);

impl TenantSlug {
    pub fn parse(s: &str) -> Result<TenantSlug, InvalidSlug> {
        let b = s.as_bytes();
        let ok = (3..=40).contains(&b.len())
            && b[0].is_ascii_lowercase()
            && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_');
        if ok {
            Ok(TenantSlug(s.to_owned()))
        } else {
            // Never echo a huge or control-character-laden input back.
            Err(InvalidSlug(s.chars().take(60).filter(|c| !c.is_control()).collect()))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// A slug read from the database is parsed like any other: a row holding something else is an
// error, never a schema name. (sqlx for hand-written queries, sea-orm for the entity.)
impl sqlx::Type<sqlx::Postgres> for TenantSlug {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <String as sqlx::Type<sqlx::Postgres>>::type_info()
    }
    fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
        <String as sqlx::Type<sqlx::Postgres>>::compatible(ty)
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Postgres> for TenantSlug {
    fn decode(value: sqlx::postgres::PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        Ok(TenantSlug::parse(<&str as sqlx::Decode<sqlx::Postgres>>::decode(value)?)?)
    }
}

impl<'q> sqlx::Encode<'q, sqlx::Postgres> for TenantSlug {
    fn encode_by_ref(&self, buf: &mut sqlx::postgres::PgArgumentBuffer) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <&str as sqlx::Encode<sqlx::Postgres>>::encode(self.as_str(), buf)
    }
}

impl From<TenantSlug> for sea_orm::Value {
    fn from(s: TenantSlug) -> sea_orm::Value {
        sea_orm::Value::String(Some(Box::new(s.0)))
    }
}

impl sea_orm::TryGetable for TenantSlug {
    fn try_get_by<I: sea_orm::ColIdx>(res: &sea_orm::QueryResult, index: I) -> Result<Self, sea_orm::TryGetError> {
        let s = <String as sea_orm::TryGetable>::try_get_by(res, index)?;
        TenantSlug::parse(&s).map_err(|e| sea_orm::TryGetError::DbErr(sea_orm::DbErr::Type(e.to_string())))
    }
}

impl sea_orm::sea_query::ValueType for TenantSlug {
    fn try_from(v: sea_orm::Value) -> Result<Self, sea_orm::sea_query::ValueTypeErr> {
        match v {
            sea_orm::Value::String(Some(s)) => TenantSlug::parse(&s).map_err(|_| sea_orm::sea_query::ValueTypeErr),
            _ => Err(sea_orm::sea_query::ValueTypeErr),
        }
    }
    fn type_name() -> String {
        "TenantSlug".to_owned()
    }
    fn array_type() -> sea_orm::sea_query::ArrayType {
        sea_orm::sea_query::ArrayType::String
    }
    fn column_type() -> sea_orm::sea_query::ColumnType {
        sea_orm::sea_query::ColumnType::Text
    }
}

impl sea_orm::sea_query::Nullable for TenantSlug {
    fn null() -> sea_orm::Value {
        sea_orm::Value::String(None)
    }
}

/// The schema `tenant_<slug>` holding one tenant's ledger. Safe to splice into SQL: it can
/// only be built from a [`TenantSlug`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TenantSchema {
    slug: TenantSlug,
    name: String,
}

impl TenantSchema {
    pub fn of(slug: &TenantSlug) -> TenantSchema {
        TenantSchema { name: format!("tenant_{}", slug.0), slug: slug.clone() }
    }
    /// The schema's name, `tenant_<slug>`.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Whose schema it is.
    pub fn slug(&self) -> &TenantSlug {
        &self.slug
    }
}

impl fmt::Display for TenantSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl Store {
    /// Creates the tenant (if new) and brings its schema to the latest version. Idempotent.
    pub async fn provision_tenant(
        &self,
        slug: &TenantSlug,
        name: &str,
    ) -> Result<tenant::Model, StoreError> {
        let row = tenant::ActiveModel {
            id: Set(Uuid::new_v4()),
            slug: Set(slug.clone()),
            name: Set(name.to_owned()),
            status: Set(crate::control::tenant::TenantStatus::Active),
            allow_platform_identity: Set(false),
            created_at: Set(Utc::now().into()),
            retention_deltas_days: Set(None),
            retention_hourly_days: Set(None),
        };
        tenant::Entity::insert(row)
            .on_conflict(OnConflict::column(tenant::Column::Slug).do_nothing().to_owned())
            .do_nothing()
            .exec(self.orm())
            .await?;
        migrate_schema(self.pool(), &TenantSchema::of(slug)).await?;
        self.find_tenant(slug).await?.ok_or_else(|| StoreError::UnknownTenant(slug.to_string()))
    }

    pub async fn find_tenant(&self, slug: &TenantSlug) -> Result<Option<tenant::Model>, StoreError> {
        Ok(tenant::Entity::find()
            .filter(tenant::Column::Slug.eq(slug.as_str()))
            .one(self.orm())
            .await?)
    }

    /// When an account's records of each dataset were first and last received:
    /// (dataset, first, last), by dataset.
    pub async fn account_activity(
        &self,
        schema: &TenantSchema,
        account: Uuid,
    ) -> Result<Vec<(String, chrono::DateTime<Utc>, chrono::DateTime<Utc>)>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT dataset, first_received_at, last_received_at FROM {schema}.account_activity
             WHERE hub_account_id = $1 ORDER BY dataset"
        ))
        .bind(account)
        .fetch_all(self.pool())
        .await?)
    }

    /// The schema of an existing tenant, or [`StoreError::UnknownTenant`].
    pub async fn tenant_schema(&self, slug: &TenantSlug) -> Result<TenantSchema, StoreError> {
        match self.find_tenant(slug).await? {
            Some(_) => Ok(TenantSchema::of(slug)),
            None => Err(StoreError::UnknownTenant(slug.to_string())),
        }
    }
}

/// Applies the tenant migrations `schema` lacks, in one transaction, under a lock per schema.
pub async fn migrate_schema(pool: &PgPool, schema: &TenantSchema) -> Result<i32, StoreError> {
    migrate_schema_to(pool, schema, i32::MAX).await
}

/// Applies the tenant migrations `schema` lacks up to version `target` (tests bring a schema
/// to an older version, fill it, then upgrade it).
pub async fn migrate_schema_to(pool: &PgPool, schema: &TenantSchema, target: i32) -> Result<i32, StoreError> {
    let s = schema.name();
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('ams-hub tenant schema ' || $1, 0))")
        .bind(s)
        .execute(&mut *tx)
        .await?;
    sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {s}")).execute(&mut *tx).await?;
    sqlx::query(&format!(
        "CREATE TABLE IF NOT EXISTS {s}.schema_migrations (
            version integer PRIMARY KEY, name text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now())"
    ))
    .execute(&mut *tx)
    .await?;
    let applied: Vec<i32> = sqlx::query_scalar(&format!("SELECT version FROM {s}.schema_migrations"))
        .fetch_all(&mut *tx)
        .await?;
    let mut current = applied.iter().copied().max().unwrap_or(0);
    for m in TENANT_MIGRATIONS.iter().filter(|m| !applied.contains(&m.version) && m.version <= target) {
        for stmt in (m.statements)(s) {
            sqlx::query(&stmt).execute(&mut *tx).await?;
        }
        sqlx::query(&format!("INSERT INTO {s}.schema_migrations (version, name) VALUES ($1, $2)"))
            .bind(m.version)
            .bind(m.name)
            .execute(&mut *tx)
            .await?;
        tracing::info!(schema = s, version = m.version, "applied tenant migration");
        current = current.max(m.version);
    }
    tx.commit().await?;
    Ok(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_validated() {
        for ok in ["acme", "acme_agency_2", "abc", &"a".repeat(40)] {
            assert!(TenantSlug::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "ab", "Acme", "1acme", "_acme", "acme-x", "acme;drop", "a b c", &"a".repeat(41),
                    "x'); DROP SCHEMA control; --", "ünï"] {
            assert!(TenantSlug::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(TenantSchema::of(&TenantSlug::parse("acme").unwrap()).name(), "tenant_acme");
    }
}
