//! sea-orm entities of the control plane (schema `control`, created by the `migration` crate).
//! Tenant-scoped access control is added with the admin API; here are the tables.

pub mod account;
pub mod api_key;
pub mod marketplace;
pub mod queue;
pub mod registry;
pub mod subscription;
pub mod tenant;
