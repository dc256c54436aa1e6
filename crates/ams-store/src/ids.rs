//! The ids that cross crate boundaries, as types: a queue's id cannot be passed where an
//! account's is meant. (Tenants are named by their slug: `TenantSlug`.) Inside a crate, and in
//! the API's JSON, they are the plain UUIDs they wrap.

use std::fmt;

use sea_orm::DeriveValueType;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A registered queue (`control.queues.id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, DeriveValueType)]
#[serde(transparent)]
pub struct QueueId(pub Uuid);

/// A brand's account (`control.accounts.id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, DeriveValueType)]
#[serde(transparent)]
pub struct AccountId(pub Uuid);

impl fmt::Display for QueueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
