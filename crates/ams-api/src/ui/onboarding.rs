//! The dashboard's Onboarding pages: connect an Amazon login (consent or a pasted refresh
//! token), import its profiles, then per brand the AWS side (template, stack outputs), the
//! datasets, and the checklist refreshed in place. Every action calls the function the API's
//! route calls (`crate::ads`, `consent`, `onboarding`, `streams`, `checklist`): one
//! implementation, the same checks and the same errors, shown in the page. `read` keys see the
//! pages without their forms; the template (it holds the external id) needs a `write` key.

use std::collections::{BTreeMap, BTreeSet};

use actix_web::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use ams_model::DATASETS;
use ams_store::{AccountScope, TenantScope};
use minijinja::context;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::page;
use super::pages::{changing, error_page, see_other, tenant, viewer, CsrfForm};
use super::session::UiUser;
use crate::ads::{NewConnection, RegionCode};
use crate::error::{ApiError, ErrorCode};
use crate::ApiState;

const HOME: &str = "/ui/onboarding";

/// `msg` (what happened) and `err` (what went wrong) carried across a redirect.
#[derive(Deserialize, Default)]
pub struct Said {
    #[serde(default)]
    msg: String,
    #[serde(default)]
    err: String,
}

impl Said {
    fn message(&self) -> Option<String> {
        Some(self.msg.clone()).filter(|m| !m.is_empty())
    }
    fn error(&self) -> Option<String> {
        Some(self.err.clone()).filter(|m| !m.is_empty())
    }
}

/// Back to `to` saying what happened; a refusal that is not about the form (another tenant's
/// id, a stale session) is a page of its own.
fn back(user: &UiUser, to: &str, outcome: Result<String, ApiError>) -> HttpResponse {
    let said = match outcome {
        Ok(msg) => ("msg", msg),
        Err(e) if matches!(e.status(), StatusCode::FORBIDDEN | StatusCode::NOT_FOUND | StatusCode::UNAUTHORIZED) => {
            return error_page(Some(user), e)
        }
        // A named refusal (a failed check of the stack, Amazon's refusal…) keeps its name: the
        // README and the API's documentation say what each means.
        Err(e) if e.code == ErrorCode::InvalidRequest => ("err", e.message),
        Err(e) => ("err", format!("{} ({})", e.message, e.code.as_str())),
    };
    see_other(&format!("{to}?{}", serde_urlencoded::to_string([said]).unwrap_or_default()))
}

/// A form's fields, repeated names kept (checkboxes).
fn fields(body: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_bytes(body).map_err(|e| ApiError::invalid(format!("the form did not read: {e}")))
}

fn one<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or_default()
}

fn all<'a>(fields: &'a [(String, String)], name: &'a str) -> impl Iterator<Item = String> + 'a {
    fields.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.clone())
}

fn csrf(fields: &[(String, String)]) -> CsrfForm {
    CsrfForm { csrf: one(fields, "csrf").to_owned() }
}

/// The checklist as the API gives it, with the next step in the dashboard's words.
pub(super) fn in_page_words(c: &crate::checklist::Checklist) -> Value {
    let mut v = serde_json::to_value(c).unwrap_or_default();
    v["next_step"] = json!(c.next.as_ref().map(|n| n.for_the_dashboard()));
    v
}

async fn account(scope: &TenantScope, id: Uuid) -> Result<AccountScope, ApiError> {
    scope.account(id).await?.ok_or_else(|| ApiError::not_found("account"))
}

/// The Onboarding page: logins, the brands with where each stands, and the forms to connect.
pub async fn home(user: UiUser, state: web::Data<ApiState>, said: web::Query<Said>) -> HttpResponse {
    let result = async {
        let scope = tenant(&state, &user).await?;
        let connections: Vec<Value> = scope
            .connections()
            .await?
            .into_iter()
            .map(crate::ads::Connection::from)
            .map(|c| {
                json!({"id": c.id, "name": c.name, "region": c.region, "status": c.status.as_str(), "invalid_reason": c.invalid_reason,
                       "profiles": c.profiles.len(), "dsp_advertisers": c.dsp_advertisers.len()})
            })
            .collect();
        let mut brands = Vec::new();
        for a in scope.accounts().await? {
            let acc = account(&scope, a.id).await?;
            let c = crate::checklist::checklist_of(&state, &scope, &acc).await?;
            brands.push(json!({"id": a.id, "name": a.name, "status": c.status, "next_step": in_page_words(&c)["next_step"]}));
        }
        Ok::<_, ApiError>((connections, brands))
    }
    .await;
    match result {
        Ok((connections, brands)) => page(
            StatusCode::OK,
            "onboarding.html",
            context! {
                user => viewer(&user), page => "onboarding", connections, brands, may_write => user.may_write(),
                message => said.message(), error => said.error(),
            },
        ),
        Err(e) => error_page(Some(&user), e),
    }
}

/// "Connect with Amazon": the API's consent link, returning to this page.
pub async fn connect(user: UiUser, state: web::Data<ApiState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let result = async {
        let f = fields(&body)?;
        changing(&user, &req, &csrf(&f))?;
        let region: RegionCode = serde_json::from_value(json!(one(&f, "region"))).map_err(|_| ApiError::invalid("choose the login's region: NA, EU or FE"))?;
        let info = req.connection_info();
        let redirect_uri = format!("{}://{}/oauth/amazon/callback", info.scheme(), info.host());
        let name = Some(one(&f, "name").trim().to_owned()).filter(|n| !n.is_empty());
        let scope = tenant(&state, &user).await?;
        let q = crate::consent::AuthorizeQuery { region, redirect_uri, name };
        crate::consent::consent_link(&state, &scope, q, Some(HOME)).await
    }
    .await;
    match result {
        Ok(link) => see_other(&link.url),
        Err(e) => back(&user, HOME, Err(e)),
    }
}

/// A pasted refresh token: the API's create-connection.
pub async fn paste(user: UiUser, state: web::Data<ApiState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let result = async {
        let f = fields(&body)?;
        changing(&user, &req, &csrf(&f))?;
        let region: RegionCode = serde_json::from_value(json!(one(&f, "region"))).map_err(|_| ApiError::invalid("choose the login's region: NA, EU or FE"))?;
        let scope = tenant(&state, &user).await?;
        let new = NewConnection { name: one(&f, "name").trim().to_owned(), region, refresh_token: one(&f, "refresh_token").to_owned() };
        crate::ads::connect_with_token(&state, &scope, &new).await
    }
    .await;
    match result {
        Ok(c) => see_other(&format!(
            "{HOME}/connections/{}?{}",
            c.id,
            serde_urlencoded::to_string([("msg", format!("Connected the Amazon login {:?}: pick what to import", c.name))]).unwrap_or_default()
        )),
        Err(e) => back(&user, HOME, Err(e)),
    }
}

/// A login's profiles and DSP advertisers, each marked imported or not, to pick from.
pub async fn connection(user: UiUser, state: web::Data<ApiState>, id: web::Path<Uuid>, said: web::Query<Said>) -> HttpResponse {
    let result = async {
        let scope = tenant(&state, &user).await?;
        let c = scope.connection(*id).await?.ok_or_else(|| ApiError::not_found("connection"))?;
        let c = crate::ads::Connection::from(c);
        // What is imported already: profiles as marketplaces, DSP advertisers, over every account.
        let (mut profiles_in, mut dsp_in) = (BTreeMap::new(), BTreeMap::new());
        for a in scope.accounts().await? {
            let acc = account(&scope, a.id).await?;
            for m in acc.marketplaces().await? {
                if let Some(p) = m.profile_id {
                    profiles_in.insert(p, a.name.clone());
                }
            }
            for d in acc.dsp_advertisers().await? {
                dsp_in.insert(d.advertiser_id, a.name.clone());
            }
        }
        let profiles: Vec<Value> = c
            .profiles
            .iter()
            .map(|p| {
                json!({"id": p.profile_id, "advertiser": p.advertiser_name, "type": p.advertiser_type, "country": p.country_code,
                       "marketplace": p.marketplace, "imported": profiles_in.get(&p.profile_id)})
            })
            .collect();
        let dsp: Vec<Value> = c
            .dsp_advertisers
            .iter()
            .map(|d| json!({"id": d.advertiser_id, "name": d.name, "country": d.country, "imported": dsp_in.get(&d.advertiser_id)}))
            .collect();
        Ok::<_, ApiError>(json!({"id": c.id, "name": c.name, "region": c.region, "status": c.status.as_str(), "profiles": profiles, "dsp": dsp}))
    }
    .await;
    match result {
        Ok(connection) => page(
            StatusCode::OK,
            "onboarding_connection.html",
            context! {
                user => viewer(&user), page => "onboarding", connection, may_write => user.may_write(),
                message => said.message(), error => said.error(),
            },
        ),
        Err(e) => error_page(Some(&user), e),
    }
}

/// Imports the ticked profiles and DSP advertisers: the API's import.
pub async fn import(user: UiUser, state: web::Data<ApiState>, req: HttpRequest, id: web::Path<Uuid>, body: web::Bytes) -> HttpResponse {
    let here = format!("{HOME}/connections/{id}");
    let result = async {
        let f = fields(&body)?;
        changing(&user, &req, &csrf(&f))?;
        let profile_ids: Vec<String> = all(&f, "profile").collect();
        let dsp_ids: Vec<String> = all(&f, "dsp").collect();
        if profile_ids.is_empty() && dsp_ids.is_empty() {
            return Err(ApiError::invalid("tick the profiles or DSP advertisers to import"));
        }
        let scope = tenant(&state, &user).await?;
        let request = crate::ads::ImportRequest { profile_ids: Some(profile_ids), dsp_advertiser_ids: Some(dsp_ids), dsp_accounts: None };
        crate::ads::import(&state, &scope, *id, request).await
    }
    .await;
    match result {
        Ok(r) => {
            let names: Vec<String> = r.accounts.iter().map(|a| format!("{} ({})", a.name, a.marketplaces.iter().chain(&a.dsp_advertisers).cloned().collect::<Vec<_>>().join(", "))).collect();
            back(&user, HOME, Ok(format!("Imported {} brand(s): {}. Next: each brand's AWS side.", r.accounts.len(), names.join("; "))))
        }
        Err(e) => back(&user, &here, Err(e)),
    }
}

/// A brand's page: its checklist, the AWS side per region, its datasets and subscriptions.
pub async fn brand(user: UiUser, state: web::Data<ApiState>, id: web::Path<Uuid>, said: web::Query<Said>) -> HttpResponse {
    let result = async {
        let scope = tenant(&state, &user).await?;
        let a = account(&scope, *id).await?;
        let checklist = crate::checklist::checklist_of(&state, &scope, &a).await?;
        let streams = crate::streams::streams_of(&a).await?;
        let declared: BTreeSet<&str> = streams.datasets.iter().map(String::as_str).collect();
        let datasets: Vec<Value> = DATASETS.iter().map(|d| json!({"id": d.name, "declared": declared.contains(d.name)})).collect();
        // The commands that deploy each region's template (saved as its download names it) and
        // print its outputs; `read` keys get no template, so no commands either.
        let mut regions = Vec::new();
        for r in &checklist.regions {
            let command = (user.may_write() && state.platform_principal.is_some()).then(|| {
                let stack = crate::onboarding::stack_name(&a, &r.region);
                format!(
                    "{}\naws cloudformation describe-stacks --region {} --stack-name {stack}",
                    ams_onboard::deploy_command(&format!("{stack}.yaml"), &stack, &r.region),
                    r.region
                )
            });
            regions.push(json!({"region": r.region, "marketplaces": r.marketplaces, "dsp_advertisers": r.dsp_advertisers,
                                "queues": r.queues.iter().map(|q| &q.queue_url).collect::<Vec<_>>(), "command": command}));
        }
        let row = a.account();
        Ok::<_, ApiError>(json!({
            "account": {"id": row.id, "name": row.name},
            "checklist": in_page_words(&checklist),
            "regions": regions, "datasets": datasets, "all_declared": declared.len() == DATASETS.len(),
            "templates": state.platform_principal.is_some(),
        }))
    }
    .await;
    match result {
        Ok(b) => page(
            StatusCode::OK,
            "onboarding_account.html",
            context! {
                user => viewer(&user), page => "onboarding", may_write => user.may_write(),
                message => said.message(), error => said.error(), b,
            },
        ),
        Err(e) => error_page(Some(&user), e),
    }
}

/// The checklist as the API gives it (the next step in the page's words), for the brand page
/// to refresh itself.
pub async fn checklist(user: UiUser, state: web::Data<ApiState>, id: web::Path<Uuid>) -> HttpResponse {
    let result = async {
        let scope = tenant(&state, &user).await?;
        let a = account(&scope, *id).await?;
        crate::checklist::checklist_of(&state, &scope, &a).await
    }
    .await;
    match result {
        Ok(c) => HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(in_page_words(&c)),
        Err(e) => actix_web::ResponseError::error_response(&e),
    }
}

#[derive(Deserialize)]
pub struct TemplateQuery {
    region: String,
    #[serde(default)]
    format: Option<String>,
}

/// The template file, as the API renders it (a `write` key: it holds the external id).
pub async fn template(user: UiUser, state: web::Data<ApiState>, id: web::Path<Uuid>, q: web::Query<TemplateQuery>) -> HttpResponse {
    let result = async {
        if !user.may_write() {
            return Err(ApiError::new(ErrorCode::ReadOnly, "the template holds the account's external id: sign in with a `write` key"));
        }
        let scope = tenant(&state, &user).await?;
        let a = account(&scope, *id).await?;
        crate::onboarding::template_of(&state, &a, &q.region, q.format.as_deref()).await
    }
    .await;
    match result {
        Ok(t) => HttpResponse::Ok()
            .insert_header((CONTENT_TYPE, t.content_type))
            .insert_header((crate::onboarding::DEPLOY_COMMAND_HEADER, t.command))
            .insert_header((CONTENT_DISPOSITION, format!("attachment; filename=\"{}\"", t.file)))
            .insert_header(("Cache-Control", "no-store"))
            .body(t.body),
        Err(e) => error_page(Some(&user), e),
    }
}

/// What the stack form holds: `describe-stacks`'s JSON as printed, or a role ARN and queue URLs
/// one per line.
fn stack_outputs(text: &str) -> Result<crate::onboarding::StackOutputs, ApiError> {
    let text = text.trim();
    if text.starts_with('{') {
        return serde_json::from_str(text).map_err(|e| ApiError::invalid(format!("the pasted JSON did not read: {e}")));
    }
    let (mut role, mut queues) = (None, Vec::new());
    for word in text.split_whitespace() {
        if word.starts_with("arn:") {
            role = Some(word.to_owned());
        } else if word.starts_with("https://") || word.starts_with("http://") {
            queues.push(word.to_owned());
        } else {
            return Err(ApiError::invalid(format!(
                "{:?} is neither a role ARN nor a queue URL: paste describe-stacks' output, or the RoleArn and QueueUrl values",
                crate::validate::shown(word)
            )));
        }
    }
    Ok(crate::onboarding::StackOutputs { role_arn: role, queue_urls: Some(queues), stacks: None, stream_destination_configuration: None })
}

/// The stack's outputs pasted: the API's verification and adoption.
pub async fn stack(user: UiUser, state: web::Data<ApiState>, req: HttpRequest, id: web::Path<Uuid>, body: web::Bytes) -> HttpResponse {
    let here = format!("{HOME}/accounts/{id}");
    let result = async {
        let f = fields(&body)?;
        changing(&user, &req, &csrf(&f))?;
        let outputs = stack_outputs(one(&f, "outputs"))?;
        let scope = tenant(&state, &user).await?;
        let mut a = account(&scope, *id).await?;
        let adopted = crate::onboarding::adopt_stack(&state, &scope, &mut a, &outputs).await?;
        Ok(format!(
            "Verified the stack: ams-hub assumes {} and consumes {} queue(s). Next: the datasets.",
            adopted.role_arn,
            adopted.queues.len()
        ))
    }
    .await;
    back(&user, &here, result)
}

/// The datasets ticked (or all): the API's declaration.
pub async fn datasets(user: UiUser, state: web::Data<ApiState>, req: HttpRequest, id: web::Path<Uuid>, body: web::Bytes) -> HttpResponse {
    let here = format!("{HOME}/accounts/{id}");
    let result = async {
        let f = fields(&body)?;
        changing(&user, &req, &csrf(&f))?;
        let choice = if one(&f, "all") == "on" {
            crate::streams::DatasetChoice::All("all".into())
        } else {
            crate::streams::DatasetChoice::List(all(&f, "dataset").collect())
        };
        let scope = tenant(&state, &user).await?;
        let a = account(&scope, *id).await?;
        let s = crate::streams::declare(&state, &scope, &a, crate::streams::StreamsInput { datasets: Some(choice), v2_datasets: None }).await?;
        Ok(if s.datasets.is_empty() {
            "No datasets declared: every subscription of the brand is being archived.".to_owned()
        } else {
            format!("Declared {} dataset(s); ams-hub is subscribing at Amazon (statuses below update by themselves).", s.datasets.len())
        })
    }
    .await;
    back(&user, &here, result)
}
