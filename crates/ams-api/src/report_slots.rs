//! How many report queries one tenant may run at once. Reports are the API's heavy statements
//! (a year, by hour, every dimension): without a limit one `read` key looping them holds every
//! connection of the API pool, and every other tenant's requests wait. Over the limit a request
//! gets 429 with `Retry-After` at once (`AMS_HUB_REPORTS_PER_TENANT`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The default of `AMS_HUB_REPORTS_PER_TENANT`. One: a heavy report keeps a Postgres backend
/// busy on a core for seconds. Measured with Postgres on 2 cores (the isolation bench,
/// docs/performance.md), ingest beside one tenant's report loop ran at 0.95× its rate alone
/// with one slot, 0.67–0.68× with two. Raise it on a database with cores to spare.
pub const DEFAULT_REPORTS_PER_TENANT: usize = 1;

#[derive(Clone)]
pub struct ReportSlots {
    limit: usize,
    running: Arc<Mutex<HashMap<String, usize>>>,
}

/// A slot held while one report runs; given back when dropped.
pub struct Slot {
    tenant: String,
    running: Arc<Mutex<HashMap<String, usize>>>,
}

impl ReportSlots {
    pub fn new(limit: usize) -> Self {
        ReportSlots { limit: limit.max(1), running: Default::default() }
    }

    /// A slot for one more report of `tenant`, if it has one free.
    pub fn take(&self, tenant: &str) -> Option<Slot> {
        let mut running = self.running.lock().expect("report slots lock");
        let n = running.entry(tenant.to_owned()).or_default();
        if *n >= self.limit {
            return None;
        }
        *n += 1;
        Some(Slot { tenant: tenant.to_owned(), running: self.running.clone() })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut running = self.running.lock().expect("report slots lock");
        if let Some(n) = running.get_mut(&self.tenant) {
            *n -= 1;
            if *n == 0 {
                running.remove(&self.tenant);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_gets_its_limit_of_slots_and_others_are_not_affected() {
        let slots = ReportSlots::new(2);
        let (a1, a2) = (slots.take("a").unwrap(), slots.take("a").unwrap());
        assert!(slots.take("a").is_none());
        let _b = slots.take("b").expect("another tenant has its own");
        drop(a1);
        let _a3 = slots.take("a").expect("a slot given back");
        drop(a2);
    }
}
