//! The Amazon stand-in's Login with Amazon: `POST /auth/o2/token`. Amazon publishes no OpenAPI
//! document for it; it follows LwA's guide and RFC 6749 (§4.1.3, §5.1, §5.2): a form-encoded
//! `grant_type=refresh_token` or `authorization_code` with the app's `client_id` and
//! `client_secret` → `{access_token, token_type, expires_in, refresh_token}`; otherwise
//! `{error, error_description}`. Faults on cue answer 429 (with `Retry-After`) or a 5xx.
//!
//! And LwA's consent page, `GET /ap/oa` (LwA's authorization request, RFC 6749 §4.1.1): it
//! checks what Amazon's would (a known `client_id`, `response_type=code`, the Ads API's scope,
//! a `redirect_uri`), then, as if the login set with `consent_as` had signed in, offers an
//! "Allow" link back to `redirect_uri` with a fresh `code` and the `state` unchanged.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::amazon::Shared;

fn lwa_error(status: StatusCode, error: &str, description: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({"error": error, "error_description": description}))
}

pub(crate) async fn consent_page(state: Shared, q: web::Query<HashMap<String, String>>) -> HttpResponse {
    let mut s = state.lock().unwrap();
    let refuse = |why: &str| HttpResponse::BadRequest().content_type("text/html; charset=utf-8").body(format!("<p id=\"refused\">{why}</p>"));
    if !q.get("client_id").is_some_and(|c| s.apps.contains_key(c)) {
        return refuse("unknown client_id");
    }
    if q.get("response_type").map(String::as_str) != Some("code") {
        return refuse("response_type must be code");
    }
    if q.get("scope").map(String::as_str) != Some("advertising::campaign_management") {
        return refuse("scope must be advertising::campaign_management");
    }
    let (Some(redirect), Some(st)) = (q.get("redirect_uri"), q.get("state")) else { return refuse("redirect_uri and state are required") };
    let Some(login) = s.consenting.clone() else { return refuse("nobody signed in (consent_as)") };
    let code = format!("ANcode{}", uuid::Uuid::new_v4().simple());
    s.codes.insert(code.clone(), (login, redirect.clone()));
    let Ok(back) = reqwest::Url::parse_with_params(redirect, [("code", code.as_str()), ("state", st), ("scope", "advertising::campaign_management")]) else {
        return refuse("redirect_uri is not a URL");
    };
    let back = back.to_string();
    let html = format!(
        "<!doctype html><title>Amazon (stand-in)</title><link rel=\"icon\" href=\"data:,\"><h1>Allow access?</h1><p>The app asks to manage advertising.</p>\
         <a id=\"allow\" href=\"{}\">Allow</a>",
        back.replace('&', "&amp;").replace('"', "&quot;")
    );
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(html)
}

pub(crate) async fn token(state: Shared, form: web::Form<HashMap<String, String>>) -> HttpResponse {
    let f = form.into_inner();
    let mut s = state.lock().unwrap();
    s.received.extend(f.values().cloned());
    if let Some(status) = (!s.lwa_faults.is_empty()).then(|| s.lwa_faults.remove(0)) {
        let mut r = HttpResponse::build(StatusCode::from_u16(status).unwrap());
        if status == 429 {
            r.insert_header(("Retry-After", "1"));
        }
        return r.json(json!({"error": "server_error", "error_description": "try again later"}));
    }
    let (Some(client_id), Some(secret)) = (f.get("client_id"), f.get("client_secret")) else {
        return lwa_error(StatusCode::BAD_REQUEST, "invalid_request", "The request is missing a required parameter : client_id");
    };
    if s.apps.get(client_id) != Some(secret) {
        return lwa_error(StatusCode::UNAUTHORIZED, "invalid_client", "Client authentication failed");
    }
    let refresh = match f.get("grant_type").map(String::as_str) {
        Some("refresh_token") => match f.get("refresh_token") {
            Some(r) => r.clone(),
            None => return lwa_error(StatusCode::BAD_REQUEST, "invalid_request", "The request is missing a required parameter : refresh_token"),
        },
        Some("authorization_code") => {
            let code = f.get("code").cloned().unwrap_or_default();
            match s.codes.remove(&code) {
                Some((r, uri)) if Some(&uri) == f.get("redirect_uri") => r,
                Some(_) => return lwa_error(StatusCode::BAD_REQUEST, "invalid_grant", "The redirect URI does not match"),
                None => return lwa_error(StatusCode::BAD_REQUEST, "invalid_grant", "The authorization code is invalid or expired"),
            }
        }
        _ => return lwa_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "The authorization grant type is not supported"),
    };
    match s.logins.get(&refresh) {
        Some(l) if !l.revoked && &l.client_id == client_id => {}
        Some(l) if !l.revoked => return lwa_error(StatusCode::BAD_REQUEST, "invalid_grant", "The refresh token was issued to another client"),
        _ => return lwa_error(StatusCode::BAD_REQUEST, "invalid_grant", "The request has an invalid grant parameter : refresh_token"),
    }
    let access = format!("Atza|{}", uuid::Uuid::new_v4().simple());
    s.access.insert(access.clone(), refresh.clone());
    HttpResponse::Ok().json(json!({"access_token": access, "token_type": "bearer", "expires_in": 3600, "refresh_token": refresh}))
}

