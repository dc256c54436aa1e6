//! The dashboard's pages: sign-in, overview, performance (chart, totals, campaign table, CSV),
//! budget pacing, quarantine (list, body, replay, discard).

use actix_web::http::header::LOCATION;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use ams_store::reports::{Dimension, Granularity, PerformanceQuery, Report};
use ams_store::{TenantSchema, TenantScope};
use chrono::{NaiveDate, NaiveDateTime, Utc};
use minijinja::context;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::Digest;

use super::format::{count, money, percent, ratio};
use super::session::{self, UiUser};
use super::{page, Viewer};
use crate::error::{ApiError, ErrorCode};
use crate::ApiState;

pub(super) fn viewer(u: &UiUser) -> Viewer {
    Viewer { tenant: u.slug.to_string(), csrf: u.csrf.clone() }
}

pub(super) fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((LOCATION, to.to_owned())).finish()
}

/// An API error as a page.
pub(super) fn error_page(u: Option<&UiUser>, e: ApiError) -> HttpResponse {
    page(e.status(), "error.html", context! { user => u.map(viewer), status => e.status().as_u16(), error => e.message })
}

pub(super) async fn tenant(state: &ApiState, u: &UiUser) -> Result<TenantScope, ApiError> {
    state.store.tenant_scope(&u.slug).await?.ok_or_else(|| ApiError::not_found("tenant"))
}

pub async fn root(user: Option<UiUser>) -> HttpResponse {
    see_other(if user.is_some() { "/ui/overview" } else { "/ui/login" })
}

pub async fn login_form() -> HttpResponse {
    page(StatusCode::OK, "login.html", context! {})
}

#[derive(Deserialize)]
pub struct LoginForm {
    key: String,
}

pub async fn login(state: web::Data<ApiState>, req: HttpRequest, form: web::Form<LoginForm>) -> HttpResponse {
    // Another site's page cannot sign a browser in (login CSRF).
    if !session::same_origin(&req) {
        return page(StatusCode::FORBIDDEN, "login.html", context! { error => "sign in from this server's own page" });
    }
    let client = state.auth_failures.client(&req);
    let key = form.key.trim();
    let digest = sha2::Sha256::digest(key.as_bytes());
    if let Some(wait) = client.and_then(|ip| state.auth_failures.blocked(ip)) {
        if !state.auth_failures.is_known(&digest) {
            let error = format!("too many failed sign-ins from this address; try again in {} s", wait.as_secs().max(1));
            return page(StatusCode::TOO_MANY_REQUESTS, "login.html", context! { error });
        }
    }
    let holder = if key.is_empty() || key.len() > 512 { Ok(None) } else { state.store.key_holder(key).await };
    match holder {
        Ok(Some(h)) if h.tenant_active => {
            state.auth_failures.remember(&digest);
            tracing::info!(tenant = %h.slug, "dashboard sign-in");
            HttpResponse::SeeOther().insert_header((LOCATION, "/ui/overview")).cookie(session::cookie(&state, &req, key)).finish()
        }
        Ok(Some(_)) => page(StatusCode::FORBIDDEN, "login.html", context! { error => "this tenant is disabled by the operator" }),
        Ok(None) => {
            if let Some(ip) = client {
                state.auth_failures.failed(ip);
            }
            page(StatusCode::UNAUTHORIZED, "login.html", context! { error => "that is not an API key of any tenant (or it was revoked)" })
        }
        Err(e) => error_page(None, e.into()),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub(super) csrf: String,
}

pub async fn logout(user: UiUser, req: HttpRequest, form: web::Form<CsrfForm>) -> HttpResponse {
    if !user.check_form(&req, &form.csrf) {
        return error_page(Some(&user), ApiError::new(ErrorCode::Forbidden, "the form is not this session's"));
    }
    HttpResponse::SeeOther().insert_header((LOCATION, "/ui/login")).cookie(session::ended()).finish()
}

#[derive(Serialize)]
struct QueueRow {
    name: String,
    queue_url: String,
    state: String,
    backlog: String,
    last_receive: String,
    quarantined: String,
}

#[derive(Serialize)]
struct AccountRow {
    id: String,
    /// The onboarding checklist's status is `ready`; else `next_step` says why not.
    ready: bool,
    next_step: String,
    name: String,
    status: String,
    marketplaces: Vec<String>,
    queues: Vec<QueueRow>,
    subscriptions: String,
}

pub(super) fn when(t: Option<chrono::DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_else(|| "never".into())
}

pub async fn overview(user: UiUser, state: web::Data<ApiState>) -> HttpResponse {
    match overview_rows(&state, &user).await {
        Ok(accounts) => page(StatusCode::OK, "overview.html", context! { user => viewer(&user), page => "overview", accounts }),
        Err(e) => error_page(Some(&user), e),
    }
}

async fn overview_rows(state: &ApiState, user: &UiUser) -> Result<Vec<AccountRow>, ApiError> {
    let scope = tenant(state, user).await?;
    let mut rows = Vec::new();
    for a in scope.accounts().await? {
        let Some(acc) = scope.account(a.id).await? else { continue };
        let marketplaces: Vec<String> = acc.marketplaces().await?.into_iter().map(|m| m.code).collect();
        let queues: Vec<QueueRow> = acc
            .queue_states()
            .await?
            .into_iter()
            .map(|q| QueueRow {
                name: q.queue_url.rsplit('/').next().unwrap_or_default().to_owned(),
                state: q.state_word().to_owned(),
                backlog: q.approximate_visible.map(|v| count(&v.to_string())).unwrap_or_else(|| "–".into()),
                last_receive: when(q.last_receive_at),
                quarantined: count(&q.messages_quarantined.unwrap_or(0).to_string()),
                queue_url: q.queue_url,
            })
            .collect();
        // Where onboarding stands, in the checklist's words (the API's own); its subscriptions
        // are the open ones (neither archived nor let go).
        let checklist = crate::checklist::checklist_of(state, &scope, &acc).await?;
        let open = &checklist.subscriptions;
        let active = open.iter().filter(|s| s.status == ams_store::StreamStatus::Active).count();
        let subscriptions = if open.is_empty() { "none declared".to_owned() } else { format!("{active} of {} ACTIVE", open.len()) };
        rows.push(AccountRow {
            id: a.id.to_string(),
            ready: checklist.status == "ready",
            next_step: checklist.next.as_ref().map(|n| n.for_the_dashboard()).unwrap_or_default(),
            name: a.name,
            status: a.status.as_str().to_owned(),
            marketplaces,
            queues,
            subscriptions,
        });
    }
    Ok(rows)
}

#[derive(Deserialize, Default, Serialize, Clone)]
pub struct PerformanceFilters {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    granularity: String,
    #[serde(default)]
    account: String,
    #[serde(default)]
    marketplace: String,
    #[serde(default)]
    product: String,
    #[serde(default)]
    sort: String,
}

/// (column key, label, numeric)
const CAMPAIGN_COLUMNS: [(&str, &str, bool); 12] = [
    ("campaign_id", "Campaign", false),
    ("product", "Product", false),
    ("marketplace_id", "Marketplace", false),
    ("impressions", "Impressions", true),
    ("clicks", "Clicks", true),
    ("cost", "Spend", true),
    ("orders", "Orders", true),
    ("sales", "Sales", true),
    ("acos", "ACOS", true),
    ("roas", "ROAS", true),
    ("ctr", "CTR", true),
    ("cpc", "CPC", true),
];

impl PerformanceFilters {
    /// Defaults filled in: the last seven days (UTC today), by day, most spend first.
    fn settled(mut self) -> Self {
        let today = Utc::now().date_naive();
        if self.to.is_empty() {
            self.to = today.to_string();
        }
        if self.from.is_empty() {
            let to = NaiveDate::parse_from_str(&self.to, "%Y-%m-%d").unwrap_or(today);
            self.from = (to - chrono::Duration::days(6)).to_string();
        }
        if self.granularity != "hour" {
            self.granularity = "day".into();
        }
        if self.sort.is_empty() {
            self.sort = "-cost".into();
        }
        self
    }

    fn query_string(&self) -> String {
        serde_urlencoded::to_string(self).unwrap_or_default()
    }
}

fn text(row: &Map<String, Value>, key: &str) -> String {
    match row.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(v) => v.to_string(),
    }
}

/// A report row formatted for reading.
fn formatted(row: &Map<String, Value>) -> Map<String, Value> {
    let cur = text(row, "currency");
    let mut out = row.clone();
    for k in ["cost", "sales", "cpc"] {
        out.insert(k.into(), Value::String(money(&text(row, k), &cur)));
    }
    for k in ["impressions", "clicks", "orders", "units"] {
        out.insert(k.into(), Value::String(count(&text(row, k))));
    }
    for k in ["acos", "ctr", "cvr"] {
        out.insert(k.into(), Value::String(percent(&text(row, k))));
    }
    out.insert("roas".into(), Value::String(ratio(&text(row, "roas"))));
    out.insert("marketplace".into(), Value::String(marketplace_code(&text(row, "marketplace_id"))));
    out
}

fn marketplace_code(id: &str) -> String {
    ams_model::MARKETPLACES.iter().find(|m| m.marketplace_id == id).map_or_else(|| id.to_owned(), |m| m.code.to_owned())
}

struct Built {
    series: PerformanceQuery,
    totals: PerformanceQuery,
    campaigns: PerformanceQuery,
}

async fn queries(scope: &TenantScope, f: &PerformanceFilters) -> Result<Built, ApiError> {
    let range = crate::reports::range(Some(&f.from), Some(&f.to))?;
    let advertisers = crate::reports::advertisers(scope, Some(f.account.as_str()).filter(|a| !a.is_empty())).await?;
    let marketplace_id = crate::reports::marketplace_id(Some(f.marketplace.as_str()).filter(|m| !m.is_empty()))?;
    let product = Some(f.product.clone()).filter(|p| ["SP", "SB", "SD"].contains(&p.as_str()));
    let sort = match f.sort.strip_prefix('-') {
        Some(c) => (c.to_owned(), true),
        None => (f.sort.clone(), false),
    };
    if !CAMPAIGN_COLUMNS.iter().any(|(k, _, _)| *k == sort.0) {
        return Err(ApiError::invalid(format!("cannot sort by {:?}", sort.0)));
    }
    let base = PerformanceQuery {
        range,
        granularity: if f.granularity == "hour" { Granularity::Hour } else { Granularity::Day },
        group_by: vec![],
        advertisers,
        marketplace_id,
        product,
        campaign_id: None,
        sort: None,
        limit: 10_000,
    };
    Ok(Built {
        totals: PerformanceQuery { granularity: Granularity::Total, ..base.clone() },
        campaigns: PerformanceQuery {
            granularity: Granularity::Total,
            group_by: vec![Dimension::Product, Dimension::Marketplace, Dimension::Campaign],
            sort: Some(sort),
            ..base.clone()
        },
        series: base,
    })
}

/// The chart's data: one currency's spend, sales and ROAS per hour or day (the currency with
/// the most spend; sums never mix currencies), and the range asked for (local midnights, as
/// the points are): the x axis spans the range, not what a single point would stretch to.
fn series(report: &Report, f: &PerformanceFilters) -> (String, Value) {
    let midnight = |d: &str| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|t| t.and_utc().timestamp());
    let range = midnight(&f.from).zip(midnight(&f.to).map(|t| t + 86_400));
    let mut spend: std::collections::BTreeMap<String, rust_decimal::Decimal> = Default::default();
    for r in &report.rows {
        let cost: rust_decimal::Decimal = text(r, "cost").parse().unwrap_or_default();
        *spend.entry(text(r, "currency")).or_default() += cost;
    }
    let Some(currency) = spend.iter().max_by_key(|(_, v)| **v).map(|(k, _)| k.clone()) else {
        return (String::new(), serde_json::json!({}));
    };
    let num = |r: &Map<String, Value>, k: &str| text(r, k).parse::<f64>().ok();
    // Every day (or hour) of the range gets a point, null where there is no data: uPlot leaves
    // a gap there instead of drawing a line across the missing days.
    let mut points: std::collections::BTreeMap<i64, [Option<f64>; 3]> = Default::default();
    let step = if f.granularity == "hour" { 3_600 } else { 86_400 };
    if let Some((from, to)) = range {
        points.extend((from..to).step_by(step).map(|t| (t, [None; 3])));
    }
    for r in report.rows.iter().filter(|r| text(r, "currency") == currency) {
        let at = match (r.get("hour_local"), r.get("date")) {
            (Some(Value::String(h)), _) => NaiveDateTime::parse_from_str(h, "%Y-%m-%dT%H:%M:%S").ok(),
            (_, Some(Value::String(d))) => NaiveDate::parse_from_str(d, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)),
            _ => None,
        };
        let Some(at) = at else { continue };
        points.insert(at.and_utc().timestamp(), [num(r, "cost"), num(r, "sales"), num(r, "roas")]);
    }
    let t: Vec<i64> = points.keys().copied().collect();
    let column = |i: usize| points.values().map(|p| p[i]).collect::<Vec<_>>();
    let (cost, sales, roas) = (column(0), column(1), column(2));
    let mut out = serde_json::json!({"currency": currency, "t": t, "cost": cost, "sales": sales, "roas": roas});
    if let Some((from, to)) = range {
        out["from"] = from.into();
        out["to"] = to.into();
    }
    (currency.clone(), out)
}

pub async fn performance(user: UiUser, state: web::Data<ApiState>, filters: web::Query<PerformanceFilters>) -> HttpResponse {
    let f = filters.into_inner().settled();
    let scope = match tenant(&state, &user).await {
        Ok(s) => s,
        Err(e) => return error_page(Some(&user), e),
    };
    let accounts: Vec<Value> = match scope.accounts().await {
        Ok(a) => a.into_iter().map(|a| serde_json::json!({"id": a.id.to_string(), "name": a.name})).collect(),
        Err(e) => return error_page(Some(&user), e.into()),
    };
    let marketplaces: Vec<&str> = ams_model::MARKETPLACES.iter().map(|m| m.code).collect();
    let schema = TenantSchema::of(&user.slug);
    let result = async {
        let q = queries(&scope, &f).await?;
        let _slot = state.report_slot(user.slug.as_str())?;
        let series = state.store.performance(&schema, &q.series).await?;
        let totals = state.store.performance(&schema, &q.totals).await?;
        let campaigns = state.store.performance(&schema, &q.campaigns).await?;
        // An empty range says where the data is.
        let latest = match campaigns.rows.is_empty() {
            true => state.store.latest_performance_day(&schema, &q.campaigns).await?,
            false => None,
        };
        Ok::<_, ApiError>((series, totals, campaigns, latest))
    }
    .await;
    let (series_report, totals, campaigns, latest, error) = match result {
        Ok((s, t, c, l)) => (s, t.rows, c.rows, l, None),
        Err(e) => (Report { columns: vec![], rows: vec![] }, vec![], vec![], None, Some(e.message)),
    };
    // The week up to the latest day with data, with the same filters.
    let latest = latest.map(|day| {
        let mut g = f.clone();
        g.from = (day - chrono::Duration::days(6)).to_string();
        g.to = day.to_string();
        serde_json::json!({"day": day.to_string(), "from": g.from, "query": g.query_string()})
    });
    let (series_currency, series_json) = series(&series_report, &f);
    let (sort_key, desc) = match f.sort.strip_prefix('-') {
        Some(c) => (c.to_owned(), true),
        None => (f.sort.clone(), false),
    };
    let columns: Vec<Value> = CAMPAIGN_COLUMNS
        .iter()
        .map(|(key, label, numeric)| {
            let next = if sort_key == *key && desc { key.to_string() } else { format!("-{key}") };
            let mut g = f.clone();
            g.sort = next;
            serde_json::json!({
                "label": label,
                "class": if *numeric { "num" } else { "" },
                "sort_query": g.query_string(),
                "arrow": if sort_key == *key { if desc { "▼" } else { "▲" } } else { "" },
            })
        })
        .collect();
    page(
        StatusCode::OK,
        "performance.html",
        context! {
            user => viewer(&user), page => "performance", f => f.clone(), query => f.query_string(), accounts, marketplaces,
            totals => totals.iter().map(formatted).collect::<Vec<_>>(),
            campaigns => campaigns.iter().map(formatted).collect::<Vec<_>>(),
            columns, series_currency, series_json => series_json.to_string().replace("</", "<\\/"), error, latest,
        },
    )
}

pub async fn performance_csv(user: UiUser, state: web::Data<ApiState>, filters: web::Query<PerformanceFilters>) -> HttpResponse {
    let f = filters.into_inner().settled();
    let result = async {
        let scope = tenant(&state, &user).await?;
        let q = queries(&scope, &f).await?;
        let _slot = state.report_slot(user.slug.as_str())?;
        let report = state.store.performance(&TenantSchema::of(&user.slug), &q.campaigns).await?;
        crate::reports::answer(report, true, "campaigns")
    }
    .await;
    result.unwrap_or_else(|e| error_page(Some(&user), e))
}

pub async fn budgets(user: UiUser, state: web::Data<ApiState>) -> HttpResponse {
    let report = match state.report_slot(user.slug.as_str()) {
        Err(e) => return error_page(Some(&user), e),
        Ok(_slot) => match state.store.budget_pacing(&TenantSchema::of(&user.slug), None, None).await {
            Ok(r) => r,
            Err(e) => return error_page(Some(&user), e.into()),
        },
    };
    let rows: Vec<Value> = report
        .rows
        .iter()
        .map(|r| {
            let cur = text(r, "currency");
            let pct = text(r, "budget_usage_percentage");
            serde_json::json!({
                "budget_scope_type": text(r, "budget_scope_type"),
                "budget_scope_id": text(r, "budget_scope_id"),
                "campaign_name": text(r, "campaign_name"),
                "marketplace": text(r, "marketplace"),
                "advertising_product_type": text(r, "advertising_product_type"),
                "budget": money(&text(r, "budget"), &cur),
                "used": if pct.is_empty() { String::new() } else { format!("{}%", ratio(&pct)) },
                "meter": pct.parse::<f64>().unwrap_or(0.0).clamp(0.0, 100.0),
                "spent": money(&text(r, "spent_estimate"), &cur),
                "reported": text(r, "usage_updated_local").replace('T', " "),
            })
        })
        .collect();
    page(StatusCode::OK, "budgets.html", context! { user => viewer(&user), page => "budgets", budgets => rows })
}

#[derive(Deserialize)]
pub struct Page {
    #[serde(default)]
    after: i64,
    #[serde(default)]
    msg: String,
}

pub async fn quarantine(user: UiUser, state: web::Data<ApiState>, q: web::Query<Page>) -> HttpResponse {
    const PAGE: i64 = 50;
    let result = async {
        let scope = tenant(&state, &user).await?;
        Ok::<_, ApiError>(scope.quarantine_page(q.after.max(0), PAGE).await?)
    }
    .await;
    let entries = match result {
        Ok(e) => e,
        Err(e) => return error_page(Some(&user), e),
    };
    let next = (entries.len() as i64 == PAGE).then(|| entries.last().map(|e| e.id)).flatten();
    let rows: Vec<Value> = entries
        .iter()
        .map(|e| {
            serde_json::json!({
                "id": e.id, "reason_code": e.reason_code, "reason": e.reason,
                "preview": e.body.chars().take(160).collect::<String>(),
                "received_at": e.received_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            })
        })
        .collect();
    let message = Some(q.msg.clone()).filter(|m| !m.is_empty());
    page(
        StatusCode::OK,
        "quarantine.html",
        context! { user => viewer(&user), page => "quarantine", entries => rows, next, may_write => user.may_write(), message },
    )
}

pub async fn quarantine_entry(user: UiUser, state: web::Data<ApiState>, id: web::Path<i64>) -> HttpResponse {
    let result = async {
        let scope = tenant(&state, &user).await?;
        scope.quarantined(*id).await?.ok_or_else(|| ApiError::not_found("quarantine entry"))
    }
    .await;
    match result {
        Ok(e) => page(
            StatusCode::OK,
            "quarantine_entry.html",
            context! {
                user => viewer(&user), page => "quarantine", may_write => user.may_write(),
                q => serde_json::json!({
                    "id": e.id, "reason_code": e.reason_code, "reason": e.reason, "source": e.source, "body": e.body,
                    "body_bytes": e.body_bytes, "received_at": e.received_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
                }),
            },
        ),
        Err(e) => error_page(Some(&user), e),
    }
}

/// A form that changes something: the session's CSRF token and a key that may write.
pub(super) fn changing(user: &UiUser, req: &HttpRequest, form: &CsrfForm) -> Result<(), ApiError> {
    if !user.check_form(req, &form.csrf) {
        return Err(ApiError::new(ErrorCode::Forbidden, "the form is not this session's (reload the page)"));
    }
    if !user.may_write() {
        return Err(ApiError::new(ErrorCode::ReadOnly, "this API key has scope `read`: sign in with a `write` key"));
    }
    Ok(())
}

fn back_with(msg: &str) -> HttpResponse {
    see_other(&format!("/ui/quarantine?{}", serde_urlencoded::to_string([("msg", msg)]).unwrap_or_default()))
}

pub async fn replay(user: UiUser, state: web::Data<ApiState>, req: HttpRequest, id: web::Path<i64>, form: web::Form<CsrfForm>) -> HttpResponse {
    let result = async {
        changing(&user, &req, &form)?;
        let scope = tenant(&state, &user).await?;
        crate::quarantine::replay_entry(&scope, *id).await
    }
    .await;
    match result {
        Ok(r) => back_with(&format!("#{} replayed: {} records, {} new to the ledger", id, r.records, r.inserted)),
        Err(e) if e.status() == StatusCode::FORBIDDEN || e.status() == StatusCode::NOT_FOUND => error_page(Some(&user), e),
        Err(e) => back_with(&format!("#{} not replayed: {}", id, e.message)),
    }
}

pub async fn discard(user: UiUser, state: web::Data<ApiState>, req: HttpRequest, id: web::Path<i64>, form: web::Form<CsrfForm>) -> HttpResponse {
    let result = async {
        changing(&user, &req, &form)?;
        let scope = tenant(&state, &user).await?;
        if !scope.discard_quarantined(*id).await? {
            return Err(ApiError::not_found("quarantine entry"));
        }
        Ok(())
    }
    .await;
    match result {
        Ok(()) => back_with(&format!("#{id} discarded")),
        Err(e) => error_page(Some(&user), e),
    }
}
