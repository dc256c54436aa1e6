//! ams-hub's admin API (actix-web). Agencies onboard tenants, brands (accounts), marketplaces
//! and queues here, and watch their consumers.
//!
//! * Auth ([`auth`]): the operator token manages tenants; a tenant API key reaches only its
//!   own tenant, enforced by the store's tenant scopes: another tenant's things are 404.
//!   Handlers of a tenant's or an account's routes take [`scope::TenantPath`] or
//!   [`scope::AccountPath`], which authenticate and resolve the path before the handler runs.
//! * Errors ([`error`]): always JSON `{"error": {"code", "message"}}`, 4xx for bad input.
//! * The OpenAPI document is generated from the handlers ([`openapi`]) and checked in as
//!   `openapi.yaml`; a test fails when they differ. What every `/v1/` route shares (the
//!   bearer token, its 401) is added there once.

mod accounts;
mod alerts;
mod webhooks;
mod marketplaces;
mod queues;
pub mod ads;
mod auth;
pub mod bi_logins;
pub mod auth_failures;
pub mod report_slots;
mod checklist;
mod consent;
pub mod error;
mod health;
pub mod onboarding;
mod quarantine;
mod redact;
mod scope;
mod reports;
mod status;
mod streams;
mod tenants;
mod ui;
mod validate;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{web, App};
use futures_util::future::BoxFuture;
use ams_store::Store;
use sha2::{Digest, Sha256};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi;
use utoipa_actix_web::AppExt;

/// Largest request body accepted (413 above).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What the API asks of the runtime. The binary wires it (`ams-hub serve`); the API does not
/// depend on the runtime crate, so a handler cannot reach into it.
pub trait RuntimeHandle: Send + Sync + 'static {
    /// Compare consumers with the registered queues now (after a change the API made).
    fn reconcile(&self);
    /// Whether the runtime is up (readiness).
    fn is_running(&self) -> bool;
    /// The process's metrics in OpenMetrics text, `# EOF` included.
    fn metrics(&self) -> BoxFuture<'_, String>;
}

pub struct ApiState {
    pub store: Store,
    /// SHA-256 of `AMS_HUB_ADMIN_TOKEN`; `None`: tenant management is disabled.
    admin_digest: Option<Vec<u8>>,
    pub runtime: Option<std::sync::Arc<dyn RuntimeHandle>>,
    /// `AWS_ENDPOINT_URL(_SQS)`: queue URLs on this emulator are accepted too.
    pub emulator_origin: Option<String>,
    auth_failures: auth_failures::AuthFailures,
    /// `AMS_HUB_PLATFORM_PRINCIPAL`: the ARN of ams-hub's own role, which brands' roles trust.
    pub platform_principal: Option<String>,
    /// The platform's AWS identity, for verifying brands' stacks (`POST …/aws-stack`).
    pub aws: Option<std::sync::Arc<dyn ams_onboard::stack::AwsProbe>>,
    /// The Amazon Ads API side of onboarding (connections, imports, declared streams).
    pub ads: Option<ads::AdsServices>,
    /// Seals dashboard sessions when the server has no `AMS_HUB_SECRET_KEY`.
    ui_keyring: ams_store::Keyring,
    /// The ingest pool (`/readyz` asks the database through it: the API's own pool may be
    /// busy with reports while ingest is fine). `None`: `store`.
    ingest_store: Option<Store>,
    /// Report queries running per tenant (`AMS_HUB_REPORTS_PER_TENANT`).
    pub(crate) report_slots: report_slots::ReportSlots,
    /// Where BI tools reach Postgres, and how BI logins are limited.
    pub(crate) bi: bi_logins::BiSettings,
    /// Hosts webhooks may reach over plain http and on any address
    /// (`AMS_HUB_WEBHOOK_ALLOW_HTTP_HOSTS`).
    pub(crate) webhook_hosts: ams_store::webhooks::rules::AllowedHosts,
}

/// Failed authentications per client address and minute before it gets 429 (the default of
/// `AMS_HUB_AUTH_FAILURES_PER_MINUTE`).
pub const DEFAULT_AUTH_FAILURES_PER_MINUTE: u32 = 30;

impl ApiState {
    pub fn new(store: Store, admin_token: Option<&str>, runtime: Option<std::sync::Arc<dyn RuntimeHandle>>, emulator_origin: Option<String>) -> Self {
        let admin_digest = admin_token.map(|t| Sha256::digest(t.trim().as_bytes()).to_vec());
        let quota = std::num::NonZeroU32::new(DEFAULT_AUTH_FAILURES_PER_MINUTE).expect("non-zero");
        ApiState {
            store,
            admin_digest,
            runtime,
            emulator_origin,
            auth_failures: auth_failures::AuthFailures::new(quota),
            platform_principal: None,
            aws: None,
            ads: None,
            ui_keyring: ams_store::Keyring::random(),
            ingest_store: None,
            report_slots: report_slots::ReportSlots::new(report_slots::DEFAULT_REPORTS_PER_TENANT),
            bi: bi_logins::BiSettings::default(),
            webhook_hosts: Default::default(),
        }
    }

    /// The ingest pool, when the API has a pool of its own (`/readyz` checks the database
    /// through it).
    pub fn with_ingest_store(mut self, store: Store) -> Self {
        self.ingest_store = Some(store);
        self
    }

    /// Where BI tools reach Postgres (the connection strings of new BI logins), and how the
    /// logins are limited.
    pub fn with_bi(mut self, bi: bi_logins::BiSettings) -> Self {
        self.bi = bi;
        self
    }

    /// Hosts webhooks may reach over plain http and on any address (the runtime's sender
    /// obeys the same list).
    pub fn with_webhook_hosts(mut self, hosts: ams_store::webhooks::rules::AllowedHosts) -> Self {
        self.webhook_hosts = hosts;
        self
    }

    /// Report queries one tenant may run at once.
    pub fn with_reports_per_tenant(mut self, n: usize) -> Self {
        self.report_slots = report_slots::ReportSlots::new(n);
        self
    }

    /// The pool ingest uses: `/readyz` asks the database through it.
    pub fn ingest_store(&self) -> &Store {
        self.ingest_store.as_ref().unwrap_or(&self.store)
    }

    /// A slot for one more report of `tenant`, or 429.
    pub(crate) fn report_slot(&self, tenant: &str) -> Result<report_slots::Slot, crate::error::ApiError> {
        self.report_slots.take(tenant).ok_or_else(|| {
            crate::error::ApiError::too_many_requests(std::time::Duration::from_secs(1)).with_message(
                "this tenant already runs as many reports at once as this server allows (AMS_HUB_REPORTS_PER_TENANT): retry when one is done",
            )
        })
    }

    /// The platform's AWS identity (onboarding verifies brands' stacks through it).
    pub fn with_aws(mut self, aws: std::sync::Arc<dyn ams_onboard::stack::AwsProbe>) -> Self {
        self.aws = Some(aws);
        self
    }

    /// The Amazon Ads API client, keyring and platform app.
    pub fn with_ads(mut self, ads: ads::AdsServices) -> Self {
        self.ads = Some(ads);
        self
    }

    /// The ARN brands' roles trust (`AMS_HUB_PLATFORM_PRINCIPAL`); AWS templates need it.
    pub fn with_platform_principal(mut self, arn: Option<String>) -> Self {
        self.platform_principal = arn.filter(|a| !a.trim().is_empty());
        self
    }

    /// Failed authentications allowed per client address and minute.
    /// The failed-authentication quota per client address, and the proxies whose
    /// `X-Forwarded-For` names the client (`AMS_HUB_TRUSTED_PROXIES`).
    pub fn with_auth_failures_per_minute(mut self, n: std::num::NonZeroU32, trusted_proxies: Vec<ipnet::IpNet>) -> Self {
        self.auth_failures = auth_failures::AuthFailures::with_proxies(n, trusted_proxies);
        self
    }

    /// Asks the supervisor to compare consumers with the registered queues now, and the Ads
    /// reconciler to compare Amazon's subscriptions with what accounts declare.
    pub fn reconcile(&self) {
        if let Some(r) = &self.runtime {
            r.reconcile();
        }
        if self.ads.is_some() {
            // Postgres NOTIFY: every replica's reconciler hears it, this one's included, and
            // whichever leads acts.
            let store = self.store.clone();
            actix_web::rt::spawn(async move { ams_onboard::reconciler::notify_sync(&store).await });
        }
    }
}

/// The app (every route, JSON error handling, body limit) and its OpenAPI document. Without
/// a state it serves nothing useful; that form only yields the document.
pub fn app(
    state: Option<web::Data<ApiState>>,
) -> (
    App<
        impl ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<impl MessageBody>,
            Error = actix_web::Error,
            InitError = (),
        >,
    >,
    OpenApi,
) {
    let mut app = App::new();
    if let Some(state) = state {
        app = app.app_data(state);
    }
    let (app, mut api) = app
        .app_data(web::JsonConfig::default().limit(MAX_BODY_BYTES).error_handler(error::json_error))
        .app_data(web::PathConfig::default().error_handler(error::path_error))
        .app_data(web::QueryConfig::default().error_handler(error::query_error))
        .into_utoipa_app()
        .service(health::healthz)
        .service(health::readyz)
        .service(tenants::create_tenant)
        .service(tenants::list_tenants)
        .service(tenants::get_tenant)
        .service(tenants::patch_tenant)
        .service(tenants::create_api_key)
        .service(tenants::list_api_keys)
        .service(tenants::revoke_api_key)
        .service(accounts::create_account)
        .service(accounts::list_accounts)
        .service(accounts::get_account)
        .service(accounts::patch_account)
        .service(accounts::delete_account)
        .service(marketplaces::add_marketplace)
        .service(marketplaces::list_marketplaces)
        .service(marketplaces::delete_marketplace)
        .service(queues::add_queue)
        .service(queues::list_queues)
        .service(queues::delete_queue)
        .service(status::account_status)
        .service(status::ledger_status)
        .service(onboarding::aws_template)
        .service(onboarding::aws_stack)
        .service(checklist::onboarding)
        .service(ads::get_ads_app)
        .service(ads::put_ads_app)
        .service(ads::delete_ads_app)
        .service(ads::create_connection)
        .service(ads::list_connections)
        // Before `{connection}`: `authorize` is not a connection id.
        .service(consent::authorize)
        .service(ads::get_connection)
        .service(ads::delete_connection)
        .service(ads::import_profiles)
        .service(consent::start)
        .service(consent::callback)
        .service(streams::get_streams)
        .service(streams::put_streams)
        .service(reports::performance)
        .service(reports::budgets)
        .service(bi_logins::create_bi_login)
        .service(bi_logins::list_bi_logins)
        .service(bi_logins::delete_bi_login)
        .service(alerts::create_alert_rule)
        .service(alerts::list_alert_rules)
        .service(alerts::get_alert_rule)
        .service(alerts::patch_alert_rule)
        .service(alerts::delete_alert_rule)
        .service(alerts::list_alerts)
        .service(webhooks::create_webhook)
        .service(webhooks::list_webhooks)
        .service(webhooks::delete_webhook)
        .service(webhooks::list_deliveries)
        .service(webhooks::replay_delivery)
        .service(webhooks::test_webhook)
        .service(quarantine::list_quarantine)
        .service(quarantine::body)
        .service(quarantine::replay)
        .service(quarantine::discard)
        .default_service(web::to(error::no_route))
        .split_for_parts();
    // The dashboard: HTML pages, not part of the API's document.
    let app = app.configure(ui::routes);
    openapi::describe(&mut api);
    (app, api)
}

/// `/metrics` alone, for its own listener (`AMS_HUB_METRICS_LISTEN`): the metrics name every
/// tenant, account and queue, so the API port does not serve them.
pub fn metrics_app(
    state: web::Data<ApiState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new().app_data(state).service(health::metrics).default_service(web::to(error::no_route))
}

pub mod openapi {
    //! The document's fixed parts; the paths and schemas come from the handlers.
    use super::*;

    pub fn describe(api: &mut OpenApi) {
        api.info.title = "ams-hub admin API".into();
        api.info.version = env!("CARGO_PKG_VERSION").into();
        api.info.description = Some(
            "Onboard tenants, brands (accounts), marketplaces and SQS queues; watch consumers; manage the \
             quarantine. Bearer tokens: the operator token (AMS_HUB_ADMIN_TOKEN) manages tenants; a tenant API \
             key reaches only its tenant (anything else answers 404). Errors are JSON {\"error\": {\"code\", \
             \"message\"}}."
                .into(),
        );
        api.info.license = None;
        api.info.contact = None;
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
        authenticated(api);
    }

    /// Every route under `/v1/` authenticates its caller (the `Caller` extractor, directly or
    /// through `TenantPath`/`AccountPath`) and answers 401 to a missing or unknown token: said
    /// once here, not by each handler. Routes outside `/v1/` (probes, the consent callback a
    /// browser follows) are public.
    fn authenticated(api: &mut OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder, SecurityRequirement};
        let unauthorized = ResponseBuilder::new()
            .description("no or unknown token")
            .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build())
            .build();
        for (path, item) in api.paths.paths.iter_mut().filter(|(p, _)| p.starts_with("/v1/")) {
            let ops = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
            for op in ops.into_iter().flatten() {
                assert!(op.security.is_none(), "{path}: authentication is declared for all of /v1/ in openapi::describe");
                op.security = Some(vec![SecurityRequirement::new("bearer", Vec::<String>::new())]);
                op.responses.responses.insert("401".into(), unauthorized.clone().into());
            }
        }
    }

    /// The document as checked in (`openapi.yaml`).
    pub fn yaml() -> String {
        let (_, api) = app(None);
        api.to_yaml().expect("OpenAPI to YAML")
    }
}
