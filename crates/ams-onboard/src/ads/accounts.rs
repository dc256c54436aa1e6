//! Amazon's account-management API, as far as ams-hub reads it: `POST /adsAccounts/list`, the
//! login's global advertising accounts (`adsAccountId`, `amzn1.ads-account.g.…`) with the
//! profile ids each holds per country (`alternateIds`). Stream v2 subscriptions name an account
//! by that global id (`advertiserAccountId`: "ADSP Regional Account or Global Account" in the v2
//! document), so import records it beside the profiles. Contract: `ads-accounts.contract.json`.

use std::collections::HashMap;

use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use super::client::{AdsClient, Body, Login};
use super::AdsError;

/// The media type Amazon's document names for the listing, both ways.
pub const LIST_MEDIA_TYPE: &str = "application/vnd.listaccountsresource.v1+json";

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AdsAccount {
    pub ads_account_id: String,
    #[serde(default)]
    pub account_name: Option<String>,
    #[serde(default)]
    pub alternate_ids: Vec<AlternateId>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AlternateId {
    #[serde(default)]
    pub country_code: Option<String>,
    /// A number in Amazon's document; profile ids fit a JSON number exactly.
    #[serde(default)]
    pub profile_id: Option<serde_json::Number>,
    #[serde(default)]
    pub entity_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    #[serde(default)]
    ads_accounts: Vec<AdsAccount>,
    #[serde(default)]
    next_token: Option<String>,
}

impl AdsClient {
    /// Every global advertising account the login reaches, all pages.
    pub async fn ads_accounts(&self, login: &Login<'_>) -> Result<Vec<AdsAccount>, AdsError> {
        let mut all = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut body = json!({"maxResults": 100});
            if let Some(t) = &token {
                body["nextToken"] = json!(t);
            }
            let v = self.call_as(login, Method::POST, "/adsAccounts/list", &[], None, Body::Json(&body), Some(LIST_MEDIA_TYPE)).await?;
            let page: Page = serde_json::from_value(v).map_err(|e| AdsError::Unavailable(format!("ads account list not understood: {e}")))?;
            all.extend(page.ads_accounts);
            match page.next_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(all),
            }
        }
    }
}

/// Profile id → the global account holding it.
pub fn global_accounts_by_profile(accounts: &[AdsAccount]) -> HashMap<String, String> {
    accounts
        .iter()
        .flat_map(|a| a.alternate_ids.iter().filter_map(|alt| Some((alt.profile_id.as_ref()?.to_string(), a.ads_account_id.clone()))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_profile_maps_to_its_global_account() {
        let page: Page = serde_json::from_value(json!({"adsAccounts": [
            {"adsAccountId": "amzn1.ads-account.g.aaa", "accountName": "Brand", "status": "CREATED",
             "alternateIds": [{"countryCode": "US", "profileId": 3245678901234567u64, "entityId": "ENTITY1"}, {"countryCode": "CA", "profileId": 12}]},
            {"adsAccountId": "amzn1.ads-account.g.bbb", "alternateIds": [{"countryCode": "DE", "entityId": "ENTITY2"}]}
        ]}))
        .unwrap();
        let map = global_accounts_by_profile(&page.ads_accounts);
        assert_eq!(map.get("3245678901234567").map(String::as_str), Some("amzn1.ads-account.g.aaa"), "a 16-digit id kept exact");
        assert_eq!(map.get("12").map(String::as_str), Some("amzn1.ads-account.g.aaa"));
        assert_eq!(map.len(), 2);
    }
}
