//! Onboarding a brand's AWS side: the CloudFormation template of an account, for one AMS queue
//! region, rendered from the dataset table (`ams-onboard`).

use actix_web::http::StatusCode;
use actix_web::{get, web, HttpResponse};
use ams_model::DATASETS;
use ams_onboard::{render, TemplateInput};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::ApiState;

/// The response header carrying the `aws cloudformation deploy` command for the template.
pub const DEPLOY_COMMAND_HEADER: &str = "Ams-Hub-Deploy-Command";

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TemplateQuery {
    /// The AMS queue region: `us-east-1` (NA), `eu-west-1` (EU) or `us-west-2` (FE); one the
    /// account's marketplaces need.
    pub region: String,
    /// `yaml` (the default) or `json`.
    pub format: Option<String>,
}

/// The account's CloudFormation template for one region: the queue, its dead-letter queue, the
/// queue policy admitting Amazon's SNS topics of every dataset, and the role ams-hub assumes.
/// The template holds the account's external id (the role's trust policy needs it): a `read`
/// key may not fetch it.
#[utoipa::path(
    tag = "onboarding",
    params(("tenant" = String, Path, description = "tenant slug"), ("account" = Uuid, Path, description = "account id"), TemplateQuery),
    responses(
        (status = 200, description = "the template (YAML, or JSON with format=json); header `Ams-Hub-Deploy-Command` has the command that deploys it", content_type = "application/yaml", body = String),
        (status = 400, description = "missing or malformed query", body = ErrorBody),
        (status = 401, description = "no or unknown token", body = ErrorBody),
        (status = 403, description = "a `read` key", body = ErrorBody),
        (status = 404, description = "no such tenant or account", body = ErrorBody),
        (status = 422, description = "not a region the account's marketplaces need, no marketplaces yet, an unknown format, or the server has no AMS_HUB_PLATFORM_PRINCIPAL", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/v1/tenants/{tenant}/accounts/{account}/aws-template")]
pub async fn aws_template(
    caller: Caller,
    state: web::Data<ApiState>,
    path: web::Path<(String, Uuid)>,
    query: web::Query<TemplateQuery>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, account) = path.into_inner();
    caller.may_see_secrets()?;
    let a = caller.account(&state, &tenant, account).await?;
    let json = match query.format.as_deref() {
        None | Some("yaml") => false,
        Some("json") => true,
        Some(other) => return Err(ApiError::invalid(format!("format {other:?}: use yaml or json"))),
    };
    let mut needed: Vec<String> = a.marketplaces().await?.into_iter().map(|m| m.region).collect();
    needed.sort();
    needed.dedup();
    if needed.is_empty() {
        return Err(ApiError::invalid("the account has no marketplaces yet: add them first, they decide the queue regions"));
    }
    if !needed.contains(&query.region) {
        return Err(ApiError::invalid(format!(
            "region {:?} is not one the account's marketplaces need: use {}",
            query.region,
            needed.join(" or ")
        )));
    }
    let Some(principal) = state.platform_principal.as_deref() else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "platform_principal_unset",
            "the server has no AMS_HUB_PLATFORM_PRINCIPAL (the ARN of ams-hub's own role, which the brand's role trusts): \
             the operator must set it before templates can be rendered",
        ));
    };
    let account_row = a.account();
    let short = account_row.id.simple().to_string();
    let resource_name = format!("{}-{}", &short[..8], query.region);
    let template = render(&TemplateInput {
        region: &query.region,
        platform_principal: principal,
        external_id: &account_row.external_id,
        resource_name: &resource_name,
        datasets: &DATASETS,
    })
    .map_err(|e| ApiError::invalid(e.to_string()))?;
    let file = format!("ams-hub-{resource_name}.{}", if json { "json" } else { "yaml" });
    let command = template.deploy_command(&file, &format!("ams-hub-{resource_name}"), &query.region);
    let (content_type, body) =
        if json { ("application/json", template.to_json()) } else { ("application/yaml", template.to_yaml()) };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((DEPLOY_COMMAND_HEADER, command))
        .insert_header(("Content-Disposition", format!("attachment; filename=\"{file}\"")))
        .body(body))
}
