//! The ledger's upkeep as an actor: at start and then every `upkeep_secs`, for every active
//! tenant, month partitions made ahead of the data and the operator's retention applied
//! ([`ams_store::Store::ledger_upkeep`]); the horizons it leaves go to `/metrics`. Every
//! replica runs it; the store lets one at a time drop a tenant's months.

use std::time::Duration;

use actix::prelude::*;
use ams_store::{Store, TenantSchema, TenantStatus};
use chrono::Utc;

use crate::metrics::metrics;

pub struct LedgerUpkeep {
    store: Store,
    every: Duration,
    running: bool,
}

impl LedgerUpkeep {
    pub fn new(store: Store, every: Duration) -> Self {
        LedgerUpkeep { store, every, running: false }
    }

    fn round(&mut self, ctx: &mut Context<Self>) {
        if self.running {
            return;
        }
        self.running = true;
        let store = self.store.clone();
        ctx.spawn(upkeep_all(store).into_actor(self).map(|_, act, _| act.running = false));
    }
}

impl Actor for LedgerUpkeep {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.round(ctx);
        ctx.run_interval(self.every, |act, ctx| act.round(ctx));
    }
}

/// One round over every active tenant; a tenant that fails is logged and the round goes on.
pub async fn upkeep_all(store: Store) {
    let tenants = match store.list_tenants().await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "ledger upkeep: tenants not listed; next round retries");
            return;
        }
    };
    for t in tenants.iter().filter(|t| t.status == TenantStatus::Active) {
        let schema = TenantSchema::of(&t.slug);
        match store.ledger_upkeep(&schema, t.retention(), Utc::now()).await {
            Ok(done) => {
                if done.made > 0 || !done.dropped.is_empty() {
                    tracing::info!(tenant = %t.slug, made = done.made, dropped = ?done.dropped, "ledger upkeep");
                }
                metrics().partitions_dropped(t.slug.as_str(), done.dropped.len() as u64);
            }
            Err(e) => tracing::warn!(tenant = %t.slug, error = %e, "ledger upkeep failed; next round retries"),
        }
        match store.ledger_horizon(&schema).await {
            Ok(h) => metrics().ledger_horizon(t.slug.as_str(), &h),
            Err(e) => tracing::debug!(tenant = %t.slug, error = %e, "ledger horizon not read"),
        }
    }
}
