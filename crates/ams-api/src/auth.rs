//! Who is calling: the operator (the `AMS_HUB_ADMIN_TOKEN`) or one tenant (an API key). The
//! only way to a tenant's data is [`Caller::tenant`], which answers 404 for every tenant the
//! caller may not see, exactly as for a tenant that does not exist, so a key cannot even probe
//! which other tenants exist.

use std::future::Future;
use std::pin::Pin;

use actix_web::{web, FromRequest, HttpRequest};
use ams_store::{KeyScope, TenantScope, TenantSlug};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ErrorCode};
use crate::ApiState;

pub enum Caller {
    Operator,
    /// A tenant's API key, with what it may do.
    Tenant(TenantSlug, KeyScope),
}

/// Equal digests, compared without an early exit.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Caller, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let state = req.app_data::<web::Data<ApiState>>().expect("ApiState registered").clone();
        let client = state.auth_failures.client(req);
        // A read-only key may only look: checked here, for every route at once.
        let writes = !matches!(*req.method(), actix_web::http::Method::GET | actix_web::http::Method::HEAD);
        let token = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| t.trim().to_owned());
        Box::pin(async move {
            let token = token.filter(|t| !t.is_empty() && t.len() <= 512).ok_or_else(ApiError::unauthorized)?;
            let digest = Sha256::digest(token.as_bytes());
            if let Some(admin) = &state.admin_digest {
                if same(admin, &digest) {
                    return Ok(Caller::Operator);
                }
            }
            // A blocked address still reaches the database with a key known to be valid.
            if let Some(wait) = client.and_then(|ip| state.auth_failures.blocked(ip)) {
                if !state.auth_failures.is_known(&digest) {
                    return Err(ApiError::too_many_requests(wait));
                }
            }
            let Some(holder) = state.store.key_holder(&token).await? else {
                if let Some(ip) = client {
                    state.auth_failures.failed(ip);
                }
                return Err(ApiError::unauthorized());
            };
            state.auth_failures.remember(&digest);
            if !holder.tenant_active {
                return Err(ApiError::new(ErrorCode::TenantDisabled,
                    "this tenant is disabled by the operator: its API keys reach nothing and its queues are not consumed",
                ));
            }
            if writes && holder.scope == KeyScope::Read {
                return Err(ApiError::new(ErrorCode::ReadOnly,
                    "this API key has scope `read`: it may only GET; use a `write` key to change things",
                ));
            }
            Ok(Caller::Tenant(holder.slug, holder.scope))
        })
    }
}

impl Caller {
    /// Operator-only routes (tenant management).
    pub fn operator(&self, state: &ApiState) -> Result<(), ApiError> {
        match self {
            Caller::Operator => Ok(()),
            Caller::Tenant(..) if state.admin_digest.is_none() => Err(ApiError::new(ErrorCode::Forbidden,
                "tenant management is disabled: the server has no AMS_HUB_ADMIN_TOKEN",
            )),
            Caller::Tenant(..) => {
                Err(ApiError::new(ErrorCode::Forbidden, "only the operator token manages tenants"))
            }
        }
    }

    /// Routes whose answer holds a secret of the tenant's (the AWS template carries the
    /// external id): not for `read` keys.
    pub fn may_see_secrets(&self) -> Result<(), ApiError> {
        match self {
            Caller::Tenant(_, KeyScope::Read) => Err(ApiError::new(ErrorCode::ReadOnly,
                "this API key has scope `read`: the answer holds a secret (the external id); use a `write` key",
            )),
            _ => Ok(()),
        }
    }

    pub fn is_operator(&self) -> bool {
        matches!(self, Caller::Operator)
    }

    /// What hands out or takes away access (API keys, BI logins, the tenant's Ads app): the
    /// operator or an `admin` key, so that a leaked `write` key cannot mint its own
    /// replacement. `what` completes the refusal: "only … (or the operator) {what}".
    pub fn admin(&self, what: &str) -> Result<(), ApiError> {
        match self {
            Caller::Operator | Caller::Tenant(_, KeyScope::Admin) => Ok(()),
            Caller::Tenant(..) => Err(ApiError::new(ErrorCode::Forbidden,
                format!("only an API key of scope `admin` (or the operator) {what}"),
            )),
        }
    }

    /// The tenant named in the path, if this caller may see it; 404 otherwise.
    pub async fn tenant(&self, state: &ApiState, tenant: &str) -> Result<TenantScope, ApiError> {
        let slug = TenantSlug::parse(tenant).map_err(|_| ApiError::not_found("tenant"))?;
        if let Caller::Tenant(own, _) = self {
            if *own != slug {
                return Err(ApiError::not_found("tenant"));
            }
        }
        state.store.tenant_scope(&slug).await?.ok_or_else(|| ApiError::not_found("tenant"))
    }
}
