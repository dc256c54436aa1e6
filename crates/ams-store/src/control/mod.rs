//! sea-orm entities of the control plane (schema `control`, created by the `migration` crate).
//! Tenant-scoped access goes through [`scope::TenantScope`].

pub mod account;
pub mod ads;
pub mod api_key;
pub mod consumer_state;
pub mod external_ids;
pub mod marketplace;
pub mod queue;
pub mod leases;
pub mod registry;
pub mod scope;
pub mod streams;
pub mod subscription;
pub mod tenant;
