//! Onboarding a brand's AWS side: the CloudFormation template of an account, for one AMS queue
//! region, rendered from the dataset table (`ams-onboard`).

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use ams_model::DATASETS;
use ams_onboard::stack::{verify_queues, StackCheck};
use ams_onboard::{render, TemplateInput};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::queues::Queue;
use crate::scope::AccountPath;
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::{validate, ApiState};

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
    /// `v1` (the default: the SQS queue Amazon Marketing Stream delivers to) or `v2` (preview:
    /// the Stream v2 destination, a bucket and its notification queue). For `v2` the region is
    /// one where Amazon delivers Stream v2 for the account's realms: NA us-east-1; EU
    /// eu-west-1, eu-west-2, eu-south-2; FE us-west-2, ap-southeast-1.
    pub stream: Option<String>,
}

/// The account's CloudFormation template for one region: the queue, its dead-letter queue, the
/// queue policy admitting Amazon's SNS topics of every dataset, and the role ams-hub assumes.
/// With `stream=v2`, the Stream v2 destination (preview): a versioned bucket and its
/// notification queue under their own KMS keys, Amazon's publisher and reviewer grants, and
/// the role ams-hub's loader assumes.
/// The template holds the account's external id (the role's trust policy needs it): a `read`
/// key may not fetch it.
#[utoipa::path(
    tag = "onboarding",
    params(("tenant" = String, Path, description = "tenant slug"), ("account" = Uuid, Path, description = "account id"), TemplateQuery),
    responses(
        (status = 200, description = "the template (YAML, or JSON with format=json); header `Ams-Hub-Deploy-Command` has the command that deploys it", content_type = "application/yaml", body = String),
        (status = 400, description = "missing or malformed query", body = ErrorBody),
        (status = 403, description = "a `read` key", body = ErrorBody),
        (status = 404, description = "no such tenant or account", body = ErrorBody),
        (status = 422, description = "not a region the account's marketplaces need, no marketplaces yet, an unknown format, or the server has no AMS_HUB_PLATFORM_PRINCIPAL", body = ErrorBody),
    ),
)]
#[get("/v1/tenants/{tenant}/accounts/{account}/aws-template")]
pub async fn aws_template(
    at: AccountPath,
    state: web::Data<ApiState>,
    query: web::Query<TemplateQuery>,
) -> Result<HttpResponse, ApiError> {
    let AccountPath { caller, account: a, .. } = at;
    caller.may_see_secrets()?;
    let v2 = match query.stream.as_deref() {
        None | Some("v1") => false,
        Some("v2") => true,
        Some(other) => return Err(ApiError::invalid(format!("stream {other:?}: use v1 or v2"))),
    };
    let t = if v2 {
        template_v2_of(&state, &a, &query.region, query.format.as_deref()).await?
    } else {
        template_of(&state, &a, &query.region, query.format.as_deref()).await?
    };
    Ok(HttpResponse::Ok()
        .content_type(t.content_type)
        .insert_header((DEPLOY_COMMAND_HEADER, t.command))
        .insert_header(("Content-Disposition", format!("attachment; filename=\"{}\"", t.file)))
        .body(t.body))
}

/// A brand's template, rendered: what `GET …/aws-template` answers.
pub(crate) struct RenderedTemplate {
    /// The file name to save it as.
    pub file: String,
    /// The `aws cloudformation deploy` command for that file.
    pub command: String,
    pub content_type: &'static str,
    pub body: String,
}

/// `yaml` (false) or `json` (true).
fn json_format(format: Option<&str>) -> Result<bool, ApiError> {
    match format {
        None | Some("yaml") => Ok(false),
        Some("json") => Ok(true),
        Some(other) => Err(ApiError::invalid(format!("format {other:?}: use yaml or json"))),
    }
}

/// The platform's role, which brands' roles trust; 422 when the operator did not set it.
fn platform_principal(state: &ApiState) -> Result<&str, ApiError> {
    state.platform_principal.as_deref().ok_or_else(|| {
        ApiError::new(ErrorCode::PlatformPrincipalUnset,
            "the server has no AMS_HUB_PLATFORM_PRINCIPAL (the ARN of ams-hub's own role, which the brand's role trusts): \
             the operator must set it before templates can be rendered",
        )
    })
}

/// `a`'s Stream v2 destination in `region` (a region of one of its realms), as `GET
/// …/aws-template?stream=v2` renders it.
pub(crate) async fn template_v2_of(state: &ApiState, a: &ams_store::AccountScope, region: &str, format: Option<&str>) -> Result<RenderedTemplate, ApiError> {
    let json = json_format(format)?;
    let realms: Vec<ams_model::Realm> = needed_regions(a).await?.iter().filter_map(|r| ams_model::Realm::from_region(r)).collect();
    let allowed: Vec<&str> = ams_onboard::V2_REGIONS.iter().filter(|(_, realm)| realms.contains(realm)).map(|(r, _)| *r).collect();
    if !allowed.contains(&region) {
        return Err(ApiError::invalid(format!(
            "region {region:?} is not one where Amazon delivers Stream v2 for the account's marketplaces: use {}",
            allowed.join(", ")
        )));
    }
    let principal = platform_principal(state)?;
    let external_id = a.external_id()?;
    let short = a.account().id.simple().to_string();
    let destination_name = format!("ams-{}", &short[..8]);
    let template = ams_onboard::render_v2(&ams_onboard::V2TemplateInput { region, platform_principal: principal, external_id: &external_id, destination_name: &destination_name })
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    let stack = format!("ams-hub-{destination_name}-{region}-v2");
    let file = format!("{stack}.{}", if json { "json" } else { "yaml" });
    let command = ams_onboard::deploy_command(&file, &stack, region);
    let (content_type, body) = if json { ("application/json", template.to_json()) } else { ("application/yaml", template.to_yaml()) };
    Ok(RenderedTemplate { file, command, content_type, body })
}

/// The name of `a`'s v1 stack in `region` (its resources are named after it).
pub(crate) fn stack_name(a: &ams_store::AccountScope, region: &str) -> String {
    format!("ams-hub-{}-{region}", &a.account().id.simple().to_string()[..8])
}

/// Renders `a`'s template for `region` in `format` (`yaml`, the default, or `json`). The caller
/// has checked that its viewer may see the external id it holds.
pub(crate) async fn template_of(state: &ApiState, a: &ams_store::AccountScope, region: &str, format: Option<&str>) -> Result<RenderedTemplate, ApiError> {
    let json = json_format(format)?;
    let needed = needed_regions(a).await?;
    if !needed.iter().any(|r| r == region) {
        return Err(ApiError::invalid(format!(
            "region {:?} is not one the account's marketplaces need: use {}",
            region,
            needed.join(" or ")
        )));
    }
    let principal = platform_principal(state)?;
    let external_id = a.external_id()?;
    let stack = stack_name(a, region);
    let resource_name = stack.trim_start_matches("ams-hub-");
    let template = render(&TemplateInput {
        region,
        platform_principal: principal,
        external_id: &external_id,
        resource_name,
        datasets: &DATASETS,
    })
    .map_err(|e| ApiError::invalid(e.to_string()))?;
    let file = format!("{stack}.{}", if json { "json" } else { "yaml" });
    let command = ams_onboard::deploy_command(&file, &stack, region);
    let (content_type, body) =
        if json { ("application/json", template.to_json()) } else { ("application/yaml", template.to_yaml()) };
    Ok(RenderedTemplate { file, command, content_type, body })
}

/// The stack's outputs: `{role_arn, queue_urls}`, or `aws cloudformation describe-stacks`'s
/// answer pasted whole (`{"Stacks": [{"Outputs": [{"OutputKey": "RoleArn", …}]}]}`). A Stream v2
/// destination is told by its `StreamDestinationConfiguration` (an output, or
/// `stream_destination_configuration` with `role_arn` and the notification queue's URL in
/// `queue_urls`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct StackOutputs {
    pub role_arn: Option<String>,
    pub queue_urls: Option<Vec<String>>,
    /// Stream v2: the subscription's `s3Destination`, `{"bucketArn": …, "notification":
    /// {"queueArn": …}}`, as an object or as the JSON text the stack outputs.
    #[schema(value_type = Option<Object>)]
    pub stream_destination_configuration: Option<serde_json::Value>,
    /// As `aws cloudformation describe-stacks` prints it: `RoleArn` and `QueueUrl` outputs are read.
    #[serde(rename = "Stacks")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub stacks: Option<Vec<serde_json::Value>>,
}

impl StackOutputs {
    /// The role and the queues, from whichever form was posted.
    fn resolve(&self) -> Result<(String, Vec<String>), ApiError> {
        let mut role = self.role_arn.clone();
        let mut queues = self.queue_urls.clone().unwrap_or_default();
        for stack in self.stacks.iter().flatten() {
            for o in stack.get("Outputs").and_then(|o| o.as_array()).into_iter().flatten() {
                let value = o.get("OutputValue").and_then(|v| v.as_str()).map(str::to_owned);
                match o.get("OutputKey").and_then(|k| k.as_str()) {
                    Some("RoleArn") if role.is_none() => role = value,
                    Some("QueueUrl") => queues.extend(value),
                    _ => {}
                }
            }
        }
        let role = role.ok_or_else(|| ApiError::invalid("no role: post role_arn, or the stack's outputs with RoleArn"))?;
        queues.sort();
        queues.dedup();
        if queues.is_empty() {
            return Err(ApiError::invalid("no queue: post queue_urls, or the stack's outputs with QueueUrl"));
        }
        Ok((role, queues))
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdoptedStack {
    pub role_arn: String,
    /// The queues now registered; the runtime consumes them within seconds (none for a Stream
    /// v2 destination, whose queue only wakes its loader).
    pub queues: Vec<Queue>,
    /// A Stream v2 destination, when the stack was one: its loader starts within seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_v2: Option<V2DestinationView>,
}

/// A Stream v2 destination as adopted.
#[derive(Debug, Serialize, ToSchema)]
pub struct V2DestinationView {
    pub region: String,
    pub bucket: String,
    pub queue_url: String,
    /// The queue's ARN (as the subscriptions name it).
    pub queue_arn: String,
    pub role_arn: String,
    /// Object versions last modified before this (less a margin) have all landed.
    pub listed_through: Option<chrono::DateTime<chrono::Utc>>,
    pub last_loaded_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Why the loader's last pass failed, if it did.
    pub last_error: Option<String>,
    pub adopted_at: chrono::DateTime<chrono::Utc>,
    /// The v2 subscriptions delivering here, as the Ads reconciler last saw them at Amazon.
    pub subscriptions: Vec<V2SubscriptionView>,
    /// Why the reconciler's last pass for this destination failed (no global account id, no
    /// connection, Amazon's refusal).
    pub subscription_error: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct V2SubscriptionView {
    pub dataset: String,
    /// Amazon's `streamSubscriptionId`.
    pub id: String,
    /// Amazon's status: ACTIVE, SUSPENDED or ARCHIVED.
    pub status: String,
}

impl From<ams_store::stream_v2::Destination> for V2DestinationView {
    fn from(d: ams_store::stream_v2::Destination) -> Self {
        let queue_arn = ams_model::queue_arn(&d.queue_url, &d.region).unwrap_or_default();
        V2DestinationView {
            region: d.region,
            bucket: d.bucket,
            queue_url: d.queue_url,
            queue_arn,
            role_arn: d.role_arn,
            listed_through: d.listed_through,
            last_loaded_at: d.last_loaded_at,
            last_error: d.last_error,
            adopted_at: d.adopted_at,
            subscriptions: d.subscriptions.0.into_iter().map(|s| V2SubscriptionView { dataset: s.dataset, id: s.id, status: s.status }).collect(),
            subscription_error: d.subscription_error,
        }
    }
}

/// A v2 stack's outputs, read: the role and the destination (not yet checked against AWS).
struct V2Outputs {
    role_arn: String,
    destination: ams_onboard::stack_v2::V2Destination,
}

impl StackOutputs {
    /// `Some` when the outputs are a Stream v2 destination's.
    fn resolve_v2(&self, emulator: Option<&str>) -> Result<Option<V2Outputs>, ApiError> {
        let mut config = self.stream_destination_configuration.clone();
        let mut role = self.role_arn.clone();
        let mut queue_urls = self.queue_urls.clone().unwrap_or_default();
        let mut region = None;
        for stack in self.stacks.iter().flatten() {
            for o in stack.get("Outputs").and_then(|o| o.as_array()).into_iter().flatten() {
                let value = o.get("OutputValue").and_then(|v| v.as_str()).map(str::to_owned);
                match o.get("OutputKey").and_then(|k| k.as_str()) {
                    Some("StreamDestinationConfiguration") if config.is_none() => config = value.map(serde_json::Value::String),
                    Some("StreamDestinationQueueUrl") => queue_urls.extend(value),
                    Some("DestinationRegion") => region = value,
                    Some("RoleArn") if role.is_none() => role = value,
                    _ => {}
                }
            }
        }
        let Some(config) = config else { return Ok(None) };
        let config = match config {
            serde_json::Value::String(text) => serde_json::from_str(&text)
                .map_err(|_| ApiError::invalid("StreamDestinationConfiguration is not JSON: post it as the stack outputs it"))?,
            other => other,
        };
        let bucket_arn = config.get("bucketArn").and_then(|v| v.as_str()).unwrap_or_default();
        let queue_arn = config.pointer("/notification/queueArn").and_then(|v| v.as_str()).unwrap_or_default();
        let bucket = bucket_arn
            .strip_prefix("arn:aws:s3:::")
            .filter(|b| (3..=63).contains(&b.len()) && b.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.'))
            .ok_or_else(|| ApiError::invalid(format!("bucketArn {} is not an S3 bucket ARN (arn:aws:s3:::<bucket>)", validate::shown(bucket_arn))))?;
        let arn_parts: Vec<&str> = queue_arn.split(':').collect();
        let [_, _, "sqs", arn_region, _, _] = arn_parts[..] else {
            return Err(ApiError::invalid(format!(
                "notification.queueArn {} is not an SQS queue ARN (arn:aws:sqs:<region>:<account>:<name>)",
                validate::shown(queue_arn)
            )));
        };
        let role = role.ok_or_else(|| ApiError::invalid("no role: post role_arn, or the stack's outputs with RoleArn"))?;
        queue_urls.sort();
        queue_urls.dedup();
        let [raw_url] = &queue_urls[..] else {
            return Err(ApiError::invalid(
                "a Stream v2 destination has one notification queue: post its URL in queue_urls, or the stack's outputs with StreamDestinationQueueUrl",
            ));
        };
        let url = validate::queue_url(raw_url, emulator).map_err(ApiError::invalid)?;
        let region = url.region.clone().or(region).unwrap_or_else(|| arn_region.to_owned());
        if ams_model::queue_arn(&url.canonical, &region).as_deref() != Some(queue_arn) {
            return Err(ApiError::invalid(format!("the queue URL {} in {region} is not the queue {queue_arn} names", url.canonical)));
        }
        if ams_onboard::v2_realm(&region).is_none() {
            let regions: Vec<&str> = ams_onboard::V2_REGIONS.iter().map(|(r, _)| *r).collect();
            return Err(ApiError::new(
                ErrorCode::ForeignRegion,
                format!("Stream v2 delivers in {}, not {region}", regions.join(", ")),
            ));
        }
        Ok(Some(V2Outputs {
            role_arn: role,
            destination: ams_onboard::stack_v2::V2Destination {
                region,
                bucket: bucket.to_owned(),
                queue_url: url.canonical,
                queue_arn: Some(queue_arn.to_owned()),
            },
        }))
    }
}

/// Verifies a v2 destination through its role and records it, all or nothing.
async fn adopt_v2_stack(
    state: &ApiState,
    tenant: &ams_store::TenantScope,
    a: &mut ams_store::AccountScope,
    v2: V2Outputs,
) -> Result<AdoptedStack, ApiError> {
    validate::role_arn(&v2.role_arn).map_err(ApiError::invalid)?;
    let Some(aws) = &state.aws else {
        return Err(ApiError::new(ErrorCode::Unavailable, "this server has no AWS configuration"));
    };
    let account = ams_store::AccountId(a.account().id);
    let d = &v2.destination;
    if let Err(e) = ams_onboard::stack_v2::verify_v2_destination(aws.as_ref(), &v2.role_arn, &a.external_id()?, account, d).await {
        let e = stack_error(e);
        if e.status() == StatusCode::UNPROCESSABLE_ENTITY {
            a.record_stack_error(&e.message).await?;
        }
        return Err(e);
    }
    let adopted = a.adopt_v2_destination(&d.region, &d.bucket, &d.queue_url, &v2.role_arn).await?;
    // The Ads reconciler subscribes the declared v2 datasets to it.
    state.reconcile();
    tracing::info!(tenant = %tenant.slug(), account = %a.account().id, region = %d.region, "Stream v2 destination verified and adopted");
    Ok(AdoptedStack { role_arn: v2.role_arn, queues: Vec::new(), stream_v2: Some(adopted.into()) })
}

fn stack_error(e: ams_onboard::stack::StackRejected) -> ApiError {
    let code = match e.check {
        StackCheck::RoleNotAssumable => ErrorCode::RoleNotAssumable,
        StackCheck::QueueUnreadable => ErrorCode::QueueUnreadable,
        StackCheck::FifoQueue => ErrorCode::FifoQueue,
        StackCheck::PolicyMissingDatasets => ErrorCode::PolicyMissingDatasets,
        StackCheck::ConfirmNotAllowed => ErrorCode::ConfirmNotAllowed,
        StackCheck::BucketUnreadable => ErrorCode::BucketUnreadable,
        StackCheck::BucketNotVersioned => ErrorCode::BucketNotVersioned,
        StackCheck::Unavailable => ErrorCode::Unavailable,
    };
    ApiError::new(code, e.message)
}

/// The AMS queue regions the account's marketplaces and DSP advertisers deliver to (422 when
/// it has none yet).
pub(crate) async fn needed_regions(a: &ams_store::AccountScope) -> Result<Vec<String>, ApiError> {
    let mut needed: Vec<String> = a.marketplaces().await?.into_iter().map(|m| m.region).collect();
    needed.extend(a.dsp_advertisers().await?.into_iter().map(|d| d.region));
    needed.sort();
    needed.dedup();
    if needed.is_empty() {
        return Err(ApiError::invalid(
            "the account has no marketplaces or DSP advertisers yet: add them first, they decide the queue regions",
        ));
    }
    Ok(needed)
}

/// Verifies the brand's deployed stack and adopts it: ams-hub assumes the role with the
/// account's external id, reads each queue's attributes and policy, checks that the queue is
/// standard, in a region the account's marketplaces need, that its policy lets every
/// dataset's Amazon SNS topics send, and that the role may confirm subscriptions of Amazon's
/// topics (`sns:ConfirmSubscription`, asked of SNS); then sets the role on the account and
/// registers the queues, all or nothing.
#[utoipa::path(
    tag = "onboarding",
    params(("tenant" = String, Path, description = "tenant slug"), ("account" = Uuid, Path, description = "account id")),
    request_body = StackOutputs,
    responses(
        (status = 200, description = "verified: the role is set and the queues registered", body = AdoptedStack),
        (status = 400, description = "malformed JSON", body = ErrorBody),
        (status = 403, description = "a `read` key", body = ErrorBody),
        (status = 404, description = "no such tenant or account", body = ErrorBody),
        (status = 409, description = "a queue is registered already", body = ErrorBody),
        (status = 422, description = "a check failed, and nothing was registered: `role_not_assumable` (trust policy or external id), `queue_unreadable`, `fifo_queue`, `foreign_region`, `policy_missing_datasets` (names each dataset and its account), `confirm_not_allowed` (the role may not call sns:ConfirmSubscription on the named topic accounts), for a Stream v2 destination `bucket_unreadable` or `bucket_not_versioned`, or the outputs are incomplete", body = ErrorBody),
        (status = 503, description = "AWS could not be asked (`unavailable`)", body = ErrorBody),
    ),
)]
#[post("/v1/tenants/{tenant}/accounts/{account}/aws-stack")]
pub async fn aws_stack(
    at: AccountPath,
    state: web::Data<ApiState>,
    body: web::Json<StackOutputs>,
) -> Result<HttpResponse, ApiError> {
    let AccountPath { tenant, account: mut a, .. } = at;
    Ok(HttpResponse::Ok().json(adopt_stack(&state, &tenant, &mut a, &body).await?))
}

/// Verifies the stack `outputs` name and adopts it for `a`, all or nothing (the API's route and
/// the dashboard's form).
pub(crate) async fn adopt_stack(
    state: &ApiState,
    tenant: &ams_store::TenantScope,
    a: &mut ams_store::AccountScope,
    outputs: &StackOutputs,
) -> Result<AdoptedStack, ApiError> {
    if let Some(v2) = outputs.resolve_v2(state.emulator_origin.as_deref())? {
        return adopt_v2_stack(state, tenant, a, v2).await;
    }
    let (role_arn, urls) = outputs.resolve()?;
    let queues = match verify_stack(state, a, &role_arn, &urls).await {
        Ok(q) => q,
        Err(e) => {
            // The checklist shows why the last attempt failed.
            if e.status() == StatusCode::UNPROCESSABLE_ENTITY {
                a.record_stack_error(&e.message).await?;
            }
            return Err(e);
        }
    };
    let rows = a.adopt_stack(&role_arn, &queues).await?;
    tracing::info!(tenant = %tenant.slug(), account = %a.account().id, queues = rows.len(), "AWS stack verified and adopted");
    state.reconcile();
    Ok(AdoptedStack { role_arn, queues: rows.into_iter().map(Queue::from).collect(), stream_v2: None })
}

/// Every check of `POST …/aws-stack`, before anything is written: the queues to register
/// with their regions, or the first failed check.
async fn verify_stack(
    state: &ApiState,
    a: &ams_store::AccountScope,
    role_arn: &str,
    urls: &[String],
) -> Result<Vec<(String, String)>, ApiError> {
    validate::role_arn(role_arn).map_err(ApiError::invalid)?;
    let needed = needed_regions(a).await?;
    let mut queues = Vec::new();
    for raw in urls {
        if raw.trim_end_matches('/').ends_with(".fifo") {
            return Err(ApiError::new(
                ErrorCode::FifoQueue,
                format!("{} is a FIFO queue: Amazon Marketing Stream delivers to standard queues only", validate::shown(raw)),
            ));
        }
        let url = validate::queue_url(raw, state.emulator_origin.as_deref()).map_err(ApiError::invalid)?;
        let region = match url.region {
            Some(r) => r,
            None if needed.len() == 1 => needed[0].clone(),
            None => return Err(ApiError::invalid(format!("{} does not name its region", validate::shown(raw)))),
        };
        if !needed.contains(&region) {
            return Err(ApiError::new(
                ErrorCode::ForeignRegion,
                format!("the queue {} is in {region}; the account's marketplaces deliver to {}", url.canonical, needed.join(" or ")),
            ));
        }
        queues.push((url.canonical, region));
    }
    let Some(aws) = &state.aws else {
        return Err(ApiError::new(ErrorCode::Unavailable, "this server has no AWS configuration"));
    };
    let account = ams_store::AccountId(a.account().id);
    verify_queues(aws.as_ref(), role_arn, &a.external_id()?, account, &queues, &DATASETS).await.map_err(stack_error)?;
    Ok(queues)
}
