//! Onboarding a brand: what ams-hub asks of the brand's AWS account, rendered from the same
//! dataset table (`ams_model::DATASETS`) the confirmation allow-list reads, so the two cannot
//! disagree.

pub mod policy;
pub mod template;

pub use policy::{missing_datasets, Missing};
pub use template::{render, AwsTemplate, TemplateError, TemplateInput, AMAZON_REVIEWER_ROLE};
