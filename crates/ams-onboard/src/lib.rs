//! Onboarding a brand:
//!
//! * the AWS side ([`template`], [`policy`], [`stack`]): what ams-hub asks of the brand's AWS account,
//!   rendered from the same dataset table (`ams_model::DATASETS`) the confirmation allow-list
//!   reads, so the two cannot disagree; and the Stream v2 destination ([`template_v2`]);
//! * the Amazon Ads API side ([`ads`], [`reconciler`]): a login's profiles imported as
//!   accounts, and every declared dataset's Marketing Stream subscription kept at Amazon.

pub mod ads;
pub mod policy;
pub mod reconciler;
pub mod stack;
pub mod stack_v2;
pub mod template;
pub mod template_v2;

pub use policy::{missing_datasets, Missing};
pub use template::{deploy_command, render, AwsTemplate, TemplateError, TemplateInput, AMAZON_REVIEWER_ROLE};
pub use template_v2::{render_v2, v2_realm, V2TemplateInput, V2_REGIONS};
