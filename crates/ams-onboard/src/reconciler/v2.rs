//! The Ads reconciler's Stream v2 part: for every account with a v2 destination, the declared
//! v2 datasets subscribed at Amazon to that destination, and ams-hub's subscriptions of
//! datasets no longer declared archived.
//!
//! v2 creates take no client request token, so a crash between a create and its answer could
//! leave a subscription ams-hub does not know of: each pass first queries the account's
//! subscriptions (all pages) and adopts any live one with the same dataset and destination
//! before it creates. Only subscriptions delivering to one of the account's adopted destinations
//! are ams-hub's: others (another tool's, another bucket) are never archived. Results are kept
//! on the destination's row (`subscriptions`, `subscription_error`) for the API to show.

use ams_store::stream_v2::destinations::{V2SubscriptionState, V2Wanted};
use ams_store::StoreError;

use super::Pass;
use crate::ads::client::Login;
use crate::ads::stream_v2::{Notification, S3Destination, V2Subscription};
use crate::ads::AdsError;

impl Pass {
    /// One v2 pass over every account with a destination.
    pub(super) async fn run_v2(&self) -> Result<(), StoreError> {
        for wanted in self.store.v2_wanted().await? {
            let outcome = self.account_v2(&wanted).await?;
            for (region, _, _) in &wanted.destinations {
                let (subs, error) = match &outcome {
                    Ok(found) => (found.iter().filter(|(r, _)| r == region).map(|(_, s)| s.clone()).collect(), None),
                    Err(why) => (Vec::new(), Some(why.as_str())),
                };
                self.store.record_v2_subscriptions(wanted.account_id, region, &subs, error).await?;
            }
        }
        Ok(())
    }

    /// What the account's destinations have at Amazon after this pass, by region; `Err` with
    /// why nothing could be done.
    async fn account_v2(&self, w: &V2Wanted) -> Result<Result<Vec<(String, V2SubscriptionState)>, String>, StoreError> {
        let Some(global) = &w.ads_account_id else {
            return Ok(Err("no global advertising account id: import the account's profiles again (Amazon lists it then)".into()));
        };
        let (app, realm, refresh_token) = match self.login(w.connection).await? {
            Ok(l) => l,
            Err(why) => return Ok(Err(why)),
        };
        let login = Login { app: &app, realm, refresh_token: &refresh_token };
        Ok(self.sync_account(&login, global, w).await.map_err(|e| super::explain(&e)))
    }

    async fn sync_account(&self, login: &Login<'_>, global: &str, w: &V2Wanted) -> Result<Vec<(String, V2SubscriptionState)>, AdsError> {
        let existing = self.client.query_v2_subscriptions(login, global).await?;
        let mut out = Vec::new();
        for (region, bucket, queue_arn) in &w.destinations {
            if crate::v2_realm(region) != Some(login.realm) {
                continue;
            }
            let destination = S3Destination { bucket_arn: format!("arn:aws:s3:::{bucket}"), notification: Notification { queue_arn: queue_arn.clone() } };
            let ours: Vec<&V2Subscription> =
                existing.iter().filter(|s| s.status != "ARCHIVED" && s.destination.s3_destination == destination).collect();
            for dataset in &w.declared {
                let sub = match ours.iter().find(|s| s.dataset_id() == dataset) {
                    Some(s) => (*s).clone(),
                    None => {
                        let created = self.client.create_v2_subscription(login, global, dataset, &destination).await?;
                        tracing::info!(account = %w.account_id, %dataset, subscription = %created.stream_subscription_id, "Stream v2 subscription created");
                        created
                    }
                };
                out.push((region.clone(), state(&sub)));
            }
            for s in ours.iter().filter(|s| !w.declared.iter().any(|d| d == s.dataset_id())) {
                let archived = self.client.archive_v2_subscription(login, global, &s.stream_subscription_id).await?;
                tracing::info!(account = %w.account_id, dataset = %s.dataset_id(), subscription = %s.stream_subscription_id, "Stream v2 subscription archived");
                out.push((region.clone(), state(&archived)));
            }
        }
        Ok(out)
    }
}

fn state(s: &V2Subscription) -> V2SubscriptionState {
    V2SubscriptionState { dataset: s.dataset_id().to_owned(), id: s.stream_subscription_id.clone(), status: s.status.clone() }
}
