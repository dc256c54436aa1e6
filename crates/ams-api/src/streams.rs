//! The datasets an account wants (declared) and where each subscription stands at Amazon. The
//! reconciler (`ams_onboard::reconciler`) makes Amazon match the declaration.

use actix_web::{get, put, web};
use ams_model::DATASETS;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::scope::AccountPath;
use crate::error::{ApiError, ErrorBody};
use crate::ApiState;

/// Either a list of dataset ids or `"all"`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum DatasetChoice {
    /// `"all"`: every dataset AMS offers (DSP ones included).
    All(String),
    List(Vec<String>),
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamsInput {
    /// Dataset ids (`sp-traffic`, `budget-usage`, `adsp-traffic`, …) or `"all"`; `[]` archives
    /// every subscription of the account. Omitted: unchanged.
    pub datasets: Option<DatasetChoice>,
    /// Stream v2 (preview) dataset ids, as Amazon publishes them: ams-hub checks their form (1
    /// to 128 of letters, digits, `.`, `_`, `-`, `:`), not their names. Omitted: unchanged.
    pub v2_datasets: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StreamSubscription {
    /// The marketplace code of a sponsored-ads subscription; `null` for a DSP one, and once
    /// the marketplace is deleted (being archived).
    pub marketplace: Option<String>,
    /// The profile (sponsored ads), or the agency profile listing the DSP advertiser.
    pub profile_id: String,
    /// Amazon's advertiser id: the DSP advertiser a DSP subscription is made for.
    pub advertiser_id: Option<String>,
    #[schema(value_type = String)]
    pub dataset: ams_model::DatasetId,
    /// Amazon's subscription id; `null` until Amazon answered the create.
    pub subscription_id: Option<String>,
    /// `REQUESTED` (asked, no answer yet), then Amazon's: PROVISIONING, PENDING_CONFIRMATION,
    /// ACTIVE, FAILED_CONFIRMATION, FAILED_PROVISIONING, SUSPENDED, ARCHIVED.
    #[schema(value_type = String)]
    pub status: ams_store::StreamStatus,
    pub destination_arn: String,
    /// When ams-hub confirmed the subscription's SNS confirmation (null for one confirmed
    /// elsewhere, e.g. adopted already ACTIVE).
    pub confirmed_at: Option<DateTime<Utc>>,
    pub last_sync_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// 0 for the first subscription of (marketplace or DSP advertiser, dataset, queue); one
    /// more per recreation.
    pub generation: i32,
    /// When ams-hub let go of it without Amazon archiving it: Amazon archives only ACTIVE
    /// subscriptions, and a failed or suspended one it refuses delivers nothing
    /// (`last_error` says so). `null` for every other.
    pub released_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Streams {
    /// The datasets declared.
    pub datasets: Vec<String>,
    /// The Stream v2 datasets declared (preview: landed from the destination's bucket; not
    /// yet subscribed at Amazon by ams-hub).
    pub v2_datasets: Vec<String>,
    /// The account's Stream v2 destinations (adopted with `POST …/aws-stack`) and their
    /// loaders' progress.
    pub v2_destinations: Vec<crate::onboarding::V2DestinationView>,
    /// Every subscription ams-hub made for the account, archived ones last.
    pub subscriptions: Vec<StreamSubscription>,
}

pub(crate) async fn streams_of(scope: &ams_store::AccountScope) -> Result<Streams, ApiError> {
    let datasets = scope.stream_datasets().await?;
    let v2_datasets = scope.stream_v2_datasets().await?;
    let v2_destinations = scope.v2_destinations().await?.into_iter().map(Into::into).collect();
    let subscriptions = scope
        .streams()
        .await?
        .into_iter()
        .map(|(code, r)| StreamSubscription {
            marketplace: code,
            profile_id: r.profile_id,
            advertiser_id: r.advertiser_id,
            dataset: r.dataset_id,
            subscription_id: r.subscription_id,
            status: r.status,
            destination_arn: r.destination_arn,
            confirmed_at: r.confirmed_at,
            last_sync_at: r.last_sync_at,
            last_error: r.last_error,
            generation: r.generation,
            released_at: r.released_at,
        })
        .collect();
    Ok(Streams { datasets, v2_datasets, v2_destinations, subscriptions })
}

/// The account's declared datasets and its subscriptions' state at Amazon.
#[utoipa::path(
    tag = "amazon-ads",
    params(("tenant" = String, Path, description = "tenant slug"), ("account" = Uuid, Path, description = "account id")),
    responses(
        (status = 200, description = "declared datasets and subscriptions", body = Streams),
        (status = 404, description = "no such tenant or account", body = ErrorBody),
    ),
)]
#[get("/v1/tenants/{tenant}/accounts/{account}/streams")]
pub async fn get_streams(at: AccountPath) -> Result<web::Json<Streams>, ApiError> {
    let a = at.account;
    Ok(web::Json(streams_of(&a).await?))
}

/// Declares the datasets the account wants in every marketplace it has a profile and a
/// connection for; ams-hub subscribes, confirms, and archives what is no longer declared.
#[utoipa::path(
    tag = "amazon-ads",
    params(("tenant" = String, Path, description = "tenant slug"), ("account" = Uuid, Path, description = "account id")),
    request_body = StreamsInput,
    responses(
        (status = 200, description = "declared; the reconciler is at work", body = Streams),
        (status = 400, description = "malformed JSON", body = ErrorBody),
        (status = 404, description = "no such tenant or account", body = ErrorBody),
        (status = 422, description = "unknown dataset ids (the message lists the known ones)", body = ErrorBody),
    ),
)]
#[put("/v1/tenants/{tenant}/accounts/{account}/streams")]
pub async fn put_streams(
    at: AccountPath,
    state: web::Data<ApiState>,
    body: web::Json<StreamsInput>,
) -> Result<web::Json<Streams>, ApiError> {
    Ok(web::Json(declare(&state, &at.tenant, &at.account, body.into_inner()).await?))
}

/// The v1 dataset ids a choice names, sorted, each one AMS offers.
fn v1_dataset_ids(choice: DatasetChoice) -> Result<Vec<String>, ApiError> {
    let mut datasets: Vec<String> = match choice {
        DatasetChoice::All(s) if s == "all" => DATASETS.iter().map(|d| d.name.to_owned()).collect(),
        DatasetChoice::All(s) => return Err(ApiError::invalid(format!("datasets must be a list of dataset ids or \"all\", not {s:?}"))),
        DatasetChoice::List(l) => l,
    };
    let unknown: Vec<&String> = datasets.iter().filter(|d| !DATASETS.iter().any(|k| k.name == d.as_str())).collect();
    if !unknown.is_empty() {
        let known: Vec<&str> = DATASETS.iter().map(|d| d.name).collect();
        return Err(ApiError::invalid(format!("unknown datasets {unknown:?}; known: {}", known.join(", "))));
    }
    datasets.sort();
    datasets.dedup();
    Ok(datasets)
}

/// Stream v2 dataset ids: Amazon names them, so only their form is checked.
fn v2_dataset_ids(mut ids: Vec<String>) -> Result<Vec<String>, ApiError> {
    if ids.len() > 100 {
        return Err(ApiError::invalid("at most 100 v2_datasets"));
    }
    for id in &ids {
        if !ams_store::stream_v2::is_dataset_id(id) {
            return Err(ApiError::invalid(format!(
                "v2 dataset id {} is not of the form Amazon uses: 1 to 128 of letters, digits, '.', '_', '-', ':'",
                crate::validate::shown(id)
            )));
        }
    }
    ids.sort();
    ids.dedup();
    // Each lands in a table named after it; two that name one table cannot both be declared.
    let mut tables = std::collections::HashMap::new();
    for id in &ids {
        if let Some(other) = tables.insert(ams_store::stream_v2::table_name(id), id) {
            return Err(ApiError::invalid(format!(
                "v2 datasets {other} and {id} would land in the same table ({}): declare one of them",
                ams_store::stream_v2::table_name(id)
            )));
        }
    }
    Ok(ids)
}

/// Declares `a`'s datasets and wakes the reconciler (the API's route and the dashboard's form).
pub(crate) async fn declare(state: &ApiState, tenant: &ams_store::TenantScope, a: &ams_store::AccountScope, input: StreamsInput) -> Result<Streams, ApiError> {
    if input.datasets.is_none() && input.v2_datasets.is_none() {
        return Err(ApiError::invalid("give datasets, v2_datasets, or both"));
    }
    let v2 = input.v2_datasets.map(v2_dataset_ids).transpose()?;
    let datasets = match input.datasets {
        Some(choice) => Some(v1_dataset_ids(choice)?),
        None => None,
    };
    if let Some(d) = &datasets {
        a.set_stream_datasets(d).await?;
    }
    if let Some(d) = &v2 {
        a.set_stream_v2_datasets(d).await?;
    }
    tracing::info!(tenant = %tenant.slug(), account = %a.account().id, datasets = ?datasets.map(|d| d.len()), v2_datasets = ?v2.map(|d| d.len()), "streams declared");
    state.reconcile();
    streams_of(a).await
}
