//! The tenant or account a route's path names, as its caller may see it. Each extractor
//! authenticates ([`Caller`]), then resolves `{tenant}` (and `{account}`) through the caller's
//! own scope, so a handler starts from what it may touch: another tenant's, or a missing one,
//! is 404 before the handler runs.

use actix_web::{web, FromRequest, HttpRequest};
use ams_store::{AccountScope, TenantScope};
use futures_util::future::LocalBoxFuture;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{ApiError, ErrorCode};
use crate::ApiState;

/// `/v1/tenants/{tenant}/…`: the caller and the tenant's scope.
pub struct TenantPath {
    pub caller: Caller,
    pub scope: TenantScope,
}

/// `/v1/tenants/{tenant}/accounts/{account}/…`: the caller and the account's scope.
pub struct AccountPath {
    pub caller: Caller,
    /// The account's tenant.
    pub tenant: TenantScope,
    pub account: AccountScope,
}

fn state(req: &HttpRequest) -> web::Data<ApiState> {
    req.app_data::<web::Data<ApiState>>().expect("ApiState registered").clone()
}

fn segment(req: &HttpRequest, name: &str) -> String {
    req.match_info().get(name).unwrap_or_default().to_owned()
}

impl FromRequest for TenantPath {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let caller = Caller::from_request(req, payload);
        let (state, tenant) = (state(req), segment(req, "tenant"));
        Box::pin(async move {
            let caller = caller.await?;
            let scope = caller.tenant(&state, &tenant).await?;
            Ok(TenantPath { caller, scope })
        })
    }
}

impl FromRequest for AccountPath {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let caller = Caller::from_request(req, payload);
        let (state, tenant, account) = (state(req), segment(req, "tenant"), segment(req, "account"));
        Box::pin(async move {
            // Authentication first: an anonymous caller learns nothing from the path.
            let caller = caller.await?;
            let id = Uuid::parse_str(&account).map_err(|_| {
                ApiError::new(ErrorCode::NotFound, format!("no such account: {:?} is not an account id", crate::validate::shown(&account)))
            })?;
            let scope = caller.tenant(&state, &tenant).await?;
            let account = scope.account(id).await?.ok_or_else(|| ApiError::not_found("account"))?;
            Ok(AccountPath { caller, tenant: scope, account })
        })
    }
}
