//! Dashboard sessions: signing in with a tenant API key sets one cookie, `ams_session`, holding
//! the key sealed (AES-256-GCM, `ams_store::secrets`) with its expiry; `HttpOnly` (scripts
//! cannot read it), `SameSite=Strict` (no other site's page sends it), `Secure` behind HTTPS,
//! `Path=/ui`. Every page checks the key again (a revoked key or a disabled tenant ends the
//! session at once). Forms that change something carry a CSRF token (an HMAC of the session
//! cookie) that must match, and their `Origin`, when sent, must be this server.

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header::LOCATION;
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use ams_store::{KeyScope, Keyring, TenantSlug};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use chrono::Utc;

use crate::ApiState;

pub const COOKIE: &str = "ams_session";
/// A session lasts this long.
pub const TTL_SECS: i64 = 8 * 3600;
const CONTEXT: &str = "ui-session";

/// The keyring sessions are sealed with: the server's secret key, or one made at start (the
/// sessions then end with the process).
pub fn keyring(state: &ApiState) -> &Keyring {
    state.ads.as_ref().and_then(|a| a.keyring.as_ref()).unwrap_or(&state.ui_keyring)
}

/// A signed-in dashboard user: a tenant API key's holder.
pub struct UiUser {
    pub slug: TenantSlug,
    pub scope: KeyScope,
    /// The CSRF token forms must send back.
    pub csrf: String,
}

/// Not signed in (or the session ended): to the sign-in page.
#[derive(Debug)]
pub struct SignIn;

impl std::fmt::Display for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("sign in")
    }
}

impl ResponseError for SignIn {
    fn status_code(&self) -> StatusCode {
        StatusCode::SEE_OTHER
    }
    fn error_response(&self) -> HttpResponse {
        HttpResponse::SeeOther().insert_header((LOCATION, "/ui/login")).cookie(ended()).finish()
    }
}

/// The cookie of a new session for `token`.
pub fn cookie(state: &ApiState, req: &HttpRequest, token: &str) -> Cookie<'static> {
    let expires = Utc::now().timestamp() + TTL_SECS;
    let sealed = keyring(state).seal(&format!("{expires}\n{token}"), CONTEXT);
    Cookie::build(COOKIE, B64.encode(sealed))
        .path("/ui")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(req.connection_info().scheme() == "https")
        .max_age(actix_web::cookie::time::Duration::seconds(TTL_SECS))
        .finish()
}

/// The cookie that ends a session.
pub fn ended() -> Cookie<'static> {
    let mut c = Cookie::build(COOKIE, "").path("/ui").http_only(true).same_site(SameSite::Strict).finish();
    c.make_removal();
    c
}

fn csrf_of(state: &ApiState, cookie: &str) -> String {
    B64.encode(keyring(state).sign(format!("csrf\n{cookie}").as_bytes()))
}

impl FromRequest for UiUser {
    type Error = SignIn;
    type Future = Pin<Box<dyn Future<Output = Result<UiUser, SignIn>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let state = req.app_data::<web::Data<ApiState>>().expect("ApiState registered").clone();
        let raw = req.cookie(COOKIE).map(|c| c.value().to_owned());
        Box::pin(async move {
            let raw = raw.ok_or(SignIn)?;
            let sealed = B64.decode(&raw).map_err(|_| SignIn)?;
            let opened = keyring(&state).open(&sealed, CONTEXT).map_err(|_| SignIn)?;
            let (expires, token) = opened.split_once('\n').ok_or(SignIn)?;
            if expires.parse::<i64>().map_err(|_| SignIn)? < Utc::now().timestamp() {
                return Err(SignIn);
            }
            let holder = state.store.key_holder(token).await.map_err(|_| SignIn)?.ok_or(SignIn)?;
            if !holder.tenant_active {
                return Err(SignIn);
            }
            Ok(UiUser { slug: holder.slug, scope: holder.scope, csrf: csrf_of(&state, &raw) })
        })
    }
}

impl UiUser {
    /// A form's CSRF token and origin are this session's and this server's.
    pub fn check_form(&self, req: &HttpRequest, token: &str) -> bool {
        same_origin(req) && !token.is_empty() && constant_eq(token.as_bytes(), self.csrf.as_bytes())
    }

    /// Whether the key may change things (replay, discard).
    pub fn may_write(&self) -> bool {
        self.scope >= KeyScope::Write
    }
}

/// A form posted from this server's own pages (an `Origin`, when the browser sends one, is ours).
pub fn same_origin(req: &HttpRequest) -> bool {
    match req.headers().get("origin").and_then(|o| o.to_str().ok()) {
        None => true,
        Some(origin) => {
            let info = req.connection_info();
            origin == format!("{}://{}", info.scheme(), info.host())
        }
    }
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
