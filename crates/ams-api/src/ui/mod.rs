//! The dashboard at `/ui/`: server-rendered pages (minijinja templates compiled into the binary)
//! over the same store calls as the API, with uPlot (vendored from npm, MIT) drawing the one
//! chart. Everything it serves is embedded: it works with no internet. Signing in takes a
//! tenant API key ([`session`]); a page shows only that tenant's data.

mod alerts;
mod format;
mod onboarding;
mod pages;
mod session;

use std::sync::OnceLock;

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use minijinja::Environment;
use serde::Serialize;

const TEMPLATES: [(&str, &str); 13] = [
    ("layout.html", include_str!("../../ui/templates/layout.html")),
    ("login.html", include_str!("../../ui/templates/login.html")),
    ("overview.html", include_str!("../../ui/templates/overview.html")),
    ("performance.html", include_str!("../../ui/templates/performance.html")),
    ("budgets.html", include_str!("../../ui/templates/budgets.html")),
    ("quarantine.html", include_str!("../../ui/templates/quarantine.html")),
    ("quarantine_entry.html", include_str!("../../ui/templates/quarantine_entry.html")),
    ("error.html", include_str!("../../ui/templates/error.html")),
    ("consent.html", include_str!("../../ui/templates/consent.html")),
    ("alerts.html", include_str!("../../ui/templates/alerts.html")),
    ("onboarding.html", include_str!("../../ui/templates/onboarding.html")),
    ("onboarding_connection.html", include_str!("../../ui/templates/onboarding_connection.html")),
    ("onboarding_account.html", include_str!("../../ui/templates/onboarding_account.html")),
];

/// (name, content type, bytes)
const ASSETS: [(&str, &str, &[u8]); 5] = [
    ("app.css", "text/css; charset=utf-8", include_bytes!("../../ui/assets/app.css")),
    ("app.js", "text/javascript; charset=utf-8", include_bytes!("../../ui/assets/app.js")),
    ("onboarding.js", "text/javascript; charset=utf-8", include_bytes!("../../ui/assets/onboarding.js")),
    ("vendor/uPlot.iife.min.js", "text/javascript; charset=utf-8", include_bytes!("../../ui/assets/vendor/uPlot.iife.min.js")),
    ("vendor/uPlot.min.css", "text/css; charset=utf-8", include_bytes!("../../ui/assets/vendor/uPlot.min.css")),
];

/// What every page may show of its viewer.
#[derive(Serialize)]
struct Viewer {
    tenant: String,
    csrf: String,
}

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source).expect("the dashboard's templates parse");
        }
        env
    })
}

/// A page: HTML, never cached, framed by nobody, scripts and styles from this server only.
pub(crate) fn page(status: StatusCode, name: &str, ctx: minijinja::Value) -> HttpResponse {
    match env().get_template(name).and_then(|t| t.render(ctx)) {
        Ok(html) => HttpResponse::build(status)
            .insert_header((CONTENT_TYPE, "text/html; charset=utf-8"))
            .insert_header((CACHE_CONTROL, "no-store"))
            .insert_header(("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"))
            .insert_header(("X-Content-Type-Options", "nosniff"))
            .insert_header(("Referrer-Policy", "same-origin"))
            .body(html),
        Err(e) => {
            tracing::error!(error = %e, template = name, "a dashboard page did not render");
            HttpResponse::InternalServerError().content_type("text/plain").body("the page did not render; see the server log")
        }
    }
}

async fn asset(path: web::Path<String>) -> HttpResponse {
    match ASSETS.iter().find(|(n, _, _)| *n == path.as_str()) {
        Some((_, ct, bytes)) => HttpResponse::Ok()
            .insert_header((CONTENT_TYPE, *ct))
            .insert_header((CACHE_CONTROL, "public, max-age=3600"))
            .insert_header(("X-Content-Type-Options", "nosniff"))
            .body(*bytes),
        None => HttpResponse::NotFound().content_type("text/plain").body("no such asset"),
    }
}

/// The dashboard's routes (HTML, not in openapi.yaml).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/ui", web::get().to(pages::root))
        .route("/ui/", web::get().to(pages::root))
        .route("/ui/login", web::get().to(pages::login_form))
        .route("/ui/login", web::post().to(pages::login))
        .route("/ui/logout", web::post().to(pages::logout))
        .route("/ui/overview", web::get().to(pages::overview))
        .route("/ui/performance", web::get().to(pages::performance))
        .route("/ui/performance.csv", web::get().to(pages::performance_csv))
        .route("/ui/budgets", web::get().to(pages::budgets))
        .route("/ui/quarantine", web::get().to(pages::quarantine))
        .route("/ui/quarantine/{id}", web::get().to(pages::quarantine_entry))
        .route("/ui/quarantine/{id}/replay", web::post().to(pages::replay))
        .route("/ui/quarantine/{id}/discard", web::post().to(pages::discard))
        .route("/ui/alerts", web::get().to(alerts::alerts))
        .route("/ui/alerts/webhooks/{hook}/deliveries/{id}/replay", web::post().to(alerts::replay))
        .route("/ui/onboarding", web::get().to(onboarding::home))
        .route("/ui/onboarding/connect", web::post().to(onboarding::connect))
        .route("/ui/onboarding/connections", web::post().to(onboarding::paste))
        .route("/ui/onboarding/connections/{id}", web::get().to(onboarding::connection))
        .route("/ui/onboarding/connections/{id}/import", web::post().to(onboarding::import))
        .route("/ui/onboarding/accounts/{id}", web::get().to(onboarding::brand))
        .route("/ui/onboarding/accounts/{id}/checklist.json", web::get().to(onboarding::checklist))
        .route("/ui/onboarding/accounts/{id}/template", web::get().to(onboarding::template))
        .route("/ui/onboarding/accounts/{id}/stack", web::post().to(onboarding::stack))
        .route("/ui/onboarding/accounts/{id}/datasets", web::post().to(onboarding::datasets))
        .route("/ui/assets/{name:.+}", web::get().to(asset));
}
