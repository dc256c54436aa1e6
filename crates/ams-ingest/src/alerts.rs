//! The alert sweep: every `alerts_secs`, every active tenant's alert rules of every kind are
//! evaluated against its data (`ams_store::alerts`). Budget rules are also evaluated as budget
//! notifications commit (the ledger writer); the sweep is what notices silence (nothing
//! commits when a stream stops), judges hours' spend, and catches up on an evaluation a crash
//! cut short. Every replica runs it; the store evaluates one tenant at a time and raises each
//! crossing once.

use std::time::Duration;

use actix::prelude::*;
use ams_store::alerts::AlertKind;
use ams_store::{Store, TenantSchema, TenantStatus};
use chrono::Utc;

pub struct AlertSweep {
    store: Store,
    every: Duration,
    running: bool,
}

impl AlertSweep {
    pub fn new(store: Store, every: Duration) -> Self {
        AlertSweep { store, every, running: false }
    }

    fn round(&mut self, ctx: &mut Context<Self>) {
        if self.running {
            return;
        }
        self.running = true;
        ctx.spawn(sweep(self.store.clone()).into_actor(self).map(|_, act, _| act.running = false));
    }
}

impl Actor for AlertSweep {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.round(ctx);
        ctx.run_interval(self.every, |act, ctx| act.round(ctx));
    }
}

/// One round over every active tenant; a tenant that fails is logged and the round goes on.
pub async fn sweep(store: Store) {
    let tenants = match store.list_tenants().await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "alert sweep: tenants not listed; next round retries");
            return;
        }
    };
    for t in tenants.iter().filter(|t| t.status == TenantStatus::Active) {
        match store.evaluate_alerts(&TenantSchema::of(&t.slug), AlertKind::ALL, Utc::now()).await {
            Ok(done) if done.raised > 0 => tracing::info!(tenant = %t.slug, raised = done.raised, deliveries = done.deliveries, "alerts raised"),
            Ok(_) => {}
            Err(e) => tracing::warn!(tenant = %t.slug, error = %e, "alert rules not evaluated; next round retries"),
        }
    }
    tracing::debug!(tenants = tenants.len(), "alert sweep round");
}
