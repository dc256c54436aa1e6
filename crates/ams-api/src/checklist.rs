//! `GET …/accounts/{id}/onboarding`: where a brand's onboarding stands, for an account manager:
//! the role, the queues of each region its marketplaces need, the subscription confirmations
//! seen, the data received, and the next step in words.

use ams_store::{ConfirmationStatus, StreamStatus};
use std::collections::BTreeMap;

use actix_web::{get, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::scope::AccountPath;
use crate::error::{ApiError, ErrorBody};
use crate::ApiState;

#[derive(Debug, Serialize, ToSchema)]
pub struct Checklist {
    /// `ready` (role set, a queue in every needed region, a confirmation seen, data received)
    /// or `incomplete`.
    pub status: String,
    /// What to do next, in words; null when ready.
    pub next_step: Option<String>,
    /// The same, for the dashboard to put in its own words.
    #[serde(skip)]
    pub(crate) next: Option<NextStep>,
    pub role: RoleCheck,
    /// One entry per AMS queue region the account's marketplaces need.
    pub regions: Vec<RegionCheck>,
    /// SNS subscription confirmations seen on the account's queues, per dataset and marketplace.
    pub confirmations: Vec<ConfirmationCheck>,
    /// The Marketing Stream subscriptions ams-hub keeps for the declared datasets (archived
    /// ones left out), with Amazon's status.
    pub subscriptions: Vec<crate::streams::StreamSubscription>,
    /// Per dataset: records committed since the consumers started (over the account's queues),
    /// and when the account's records of it were first and last received.
    pub data: BTreeMap<String, DataCheck>,
    /// The last message received on any of the account's queues.
    pub last_receive_at: Option<DateTime<Utc>>,
}

/// What a brand's onboarding waits for, the first thing first.
#[derive(Debug, Clone)]
pub(crate) enum NextStep {
    /// No marketplace or DSP advertiser: nothing says where its data is delivered.
    Marketplaces,
    /// SNS refused the role's ConfirmSubscription: no data would ever flow.
    RoleMayNotConfirm { role: String, error: String },
    /// No role yet: the first stack.
    Stack { region: String, last_error: Option<String> },
    /// A region the marketplaces need has no queue.
    RegionStack { region: String },
    /// Subscriptions on their way to ACTIVE.
    Subscriptions { waiting: usize, of: usize },
    /// Nothing declared, nothing confirmed.
    Datasets,
    /// Declared but nothing subscribed or confirmed.
    Subscribe,
    FirstData,
}

impl NextStep {
    /// In the API's words (its routes).
    fn for_the_api(&self) -> String {
        match self {
            NextStep::Marketplaces => {
                "add the account's marketplaces (POST …/marketplaces), or import its profiles or DSP advertisers: they decide the queue regions".to_owned()
            }
            NextStep::RoleMayNotConfirm { role, error } => format!(
                "the role {role} may not confirm Amazon's subscriptions ({error}): grant sns:ConfirmSubscription on arn:aws:sns:<region>:<account>:* \
                 for each of Amazon's topic accounts, as the template's policy does (redeploy the template from GET …/aws-template)"
            ),
            NextStep::Stack { region, last_error } => format!(
                "render the AWS template (GET …/aws-template?region={region}), deploy it in the brand's AWS account, \
                 and post the stack's outputs to POST …/aws-stack{}",
                last_error.as_deref().map(|e| format!(" (the last attempt failed: {e})")).unwrap_or_default()
            ),
            NextStep::RegionStack { region } => {
                format!("deploy the template for {region} (GET …/aws-template?region={region}, with CreateRole=false) and post its outputs to …/aws-stack")
            }
            NextStep::Subscriptions { waiting, of } => format!(
                "{waiting} of {of} subscriptions are not ACTIVE yet at Amazon: ams-hub confirms each when its confirmation arrives \
                 (see `subscriptions` for their status and errors)"
            ),
            NextStep::Datasets => "declare the datasets the account wants (PUT …/streams, after connecting an Amazon login and importing its \
                 profiles), or subscribe by hand with the queue's ARN as destination: ams-hub confirms Amazon's confirmation"
                .to_owned(),
            NextStep::Subscribe => "subscribe the account's profiles to the datasets with the queue's ARN as destination (Amazon Ads API): \
                 ams-hub confirms Amazon's subscription confirmation when it arrives"
                .to_owned(),
            NextStep::FirstData => FIRST_DATA.to_owned(),
        }
    }

    /// In the dashboard's words (its pages' steps and buttons).
    pub(crate) fn for_the_dashboard(&self) -> String {
        match self {
            NextStep::Marketplaces => "import the brand's profiles (Onboarding, step 2): they decide where its data is delivered".to_owned(),
            NextStep::RoleMayNotConfirm { role, error } => format!(
                "the role {role} may not confirm Amazon's subscriptions ({error}): redeploy the template below, whose policy grants \
                 sns:ConfirmSubscription on Amazon's topics"
            ),
            NextStep::Stack { region, last_error } => format!(
                "download the template for {region} below, deploy it in the brand's AWS account, and paste what describe-stacks printed{}",
                last_error.as_deref().map(|e| format!(" (the last attempt failed: {e})")).unwrap_or_default()
            ),
            NextStep::RegionStack { region } => {
                format!("deploy the template for {region} below (the role exists already: CreateRole=false) and paste its outputs")
            }
            NextStep::Subscriptions { waiting, of } => format!(
                "{waiting} of {of} subscriptions are not ACTIVE yet at Amazon: ams-hub confirms each as its confirmation arrives (statuses below)"
            ),
            NextStep::Datasets => "tick the datasets the brand wants below and save them".to_owned(),
            NextStep::Subscribe => "tick the datasets below (or subscribe by hand with the queue's ARN as destination)".to_owned(),
            NextStep::FirstData => FIRST_DATA.to_owned(),
        }
    }
}

const FIRST_DATA: &str = "wait for the first data: Amazon delivers traffic hourly and entity changes as they happen";

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct DataCheck {
    pub records_committed: i64,
    pub first_received_at: Option<DateTime<Utc>>,
    pub last_received_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoleCheck {
    pub arn: Option<String>,
    /// When `POST …/aws-stack` verified it (null when set by hand or not yet).
    pub verified_at: Option<DateTime<Utc>>,
    /// Why the last `POST …/aws-stack` failed.
    pub last_error: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegionCheck {
    pub region: String,
    /// Marketplace codes delivering to this region.
    pub marketplaces: Vec<String>,
    /// DSP advertiser ids delivering to this region.
    pub dsp_advertisers: Vec<String>,
    pub queues: Vec<QueueCheck>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QueueCheck {
    pub queue_url: String,
    pub consumer_state: String,
    pub last_receive_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConfirmationCheck {
    pub dataset: Option<String>,
    pub marketplace_id: Option<String>,
    /// `confirmed`, `refused` or `confirmation_failed` (the newest outcome; a confirmed one
    /// wins).
    #[schema(value_type = String)]
    pub status: ConfirmationStatus,
    /// Why it was refused or failed (SNS's answer).
    pub error: Option<String>,
    pub at: DateTime<Utc>,
}

/// The account's onboarding checklist.
#[utoipa::path(
    tag = "onboarding",
    params(("tenant" = String, Path, description = "tenant slug"), ("account" = Uuid, Path, description = "account id")),
    responses(
        (status = 200, description = "where onboarding stands, and the next step", body = Checklist),
        (status = 404, description = "no such tenant or account", body = ErrorBody),
    ),
)]
#[get("/v1/tenants/{tenant}/accounts/{account}/onboarding")]
pub async fn onboarding(
    at: AccountPath,
    state: web::Data<ApiState>,
) -> Result<web::Json<Checklist>, ApiError> {
    Ok(web::Json(checklist_of(&state, &at.tenant, &at.account).await?))
}

/// The checklist of `a`, an account of `tenant` (the API's route and the dashboard's pages).
pub(crate) async fn checklist_of(state: &ApiState, tenant: &ams_store::TenantScope, a: &ams_store::AccountScope) -> Result<Checklist, ApiError> {
    let row = a.account();
    let marketplaces = a.marketplaces().await?;
    let dsp = a.dsp_advertisers().await?;
    let states = a.queue_states().await?;
    let mut regions: BTreeMap<String, RegionCheck> = BTreeMap::new();
    fn region<'a>(regions: &'a mut BTreeMap<String, RegionCheck>, r: &str) -> &'a mut RegionCheck {
        regions.entry(r.to_owned()).or_insert_with(|| RegionCheck {
            region: r.to_owned(),
            marketplaces: Vec::new(),
            dsp_advertisers: Vec::new(),
            queues: Vec::new(),
        })
    }
    for m in &marketplaces {
        region(&mut regions, &m.region).marketplaces.push(m.code.clone());
    }
    for d in &dsp {
        region(&mut regions, &d.region).dsp_advertisers.push(d.advertiser_id.clone());
    }
    let mut data: BTreeMap<String, DataCheck> = BTreeMap::new();
    for q in &states {
        if let Some(r) = regions.get_mut(&q.region) {
            r.queues.push(QueueCheck {
                queue_url: q.queue_url.clone(),
                consumer_state: q.state_word().to_owned(),
                last_receive_at: q.last_receive_at,
            });
        }
        let per_dataset: BTreeMap<String, i64> =
            q.records_by_dataset();
        for (d, n) in per_dataset {
            data.entry(d).or_default().records_committed += n;
        }
    }
    for (d, first, last) in state.store.account_activity(&ams_store::TenantSchema::of(tenant.slug()), a.account().id).await? {
        let entry = data.entry(d).or_default();
        entry.first_received_at = Some(first);
        entry.last_received_at = Some(last);
    }
    let confirmations: Vec<ConfirmationCheck> = a
        .confirmations()
        .await?
        .into_iter()
        .map(|(dataset, marketplace_id, status, error, at)| ConfirmationCheck { dataset, marketplace_id, status, error, at })
        .collect();
    let regions: Vec<RegionCheck> = regions.into_values().collect();
    let streams = crate::streams::streams_of(a).await?;
    let subscriptions: Vec<_> = streams.subscriptions.into_iter().filter(|s| s.status != StreamStatus::Archived && s.released_at.is_none()).collect();
    let waiting = subscriptions.iter().filter(|s| s.status != StreamStatus::Active).count();
    // The brand's role cannot confirm Amazon's subscriptions: SNS refused it (no data would
    // ever flow; Amazon gives up after three days).
    let unconfirmable = confirmations.iter().find(|c| c.status != ConfirmationStatus::Confirmed && c.error.as_deref().is_some_and(|e| e.contains("AuthorizationError")));
    let confirmed = confirmations.iter().any(|c| c.status == ConfirmationStatus::Confirmed);
    let next = if marketplaces.is_empty() && dsp.is_empty() {
        Some(NextStep::Marketplaces)
    } else if let Some(c) = unconfirmable {
        Some(NextStep::RoleMayNotConfirm {
            role: row.aws_role_arn.clone().unwrap_or_else(|| "of the account".into()),
            error: c.error.clone().unwrap_or_default(),
        })
    } else if row.aws_role_arn.is_none() {
        Some(NextStep::Stack { region: regions[0].region.clone(), last_error: row.stack_error.clone() })
    } else if let Some(r) = regions.iter().find(|r| r.queues.is_empty()) {
        Some(NextStep::RegionStack { region: r.region.clone() })
    } else if waiting > 0 {
        Some(NextStep::Subscriptions { waiting, of: subscriptions.len() })
    } else if streams.datasets.is_empty() && !confirmed {
        Some(NextStep::Datasets)
    } else if !confirmed && subscriptions.is_empty() {
        Some(NextStep::Subscribe)
    } else if data.values().all(|d| d.records_committed == 0 && d.last_received_at.is_none()) {
        Some(NextStep::FirstData)
    } else {
        None
    };
    Ok(Checklist {
        status: if next.is_none() { "ready" } else { "incomplete" }.to_owned(),
        next_step: next.as_ref().map(NextStep::for_the_api),
        next,
        role: RoleCheck {
            arn: row.aws_role_arn.clone(),
            verified_at: row.role_verified_at.map(Into::into),
            last_error: row.stack_error.clone(),
        },
        regions,
        confirmations,
        subscriptions,
        last_receive_at: states.iter().filter_map(|q| q.last_receive_at).max(),
        data,
    })
}
