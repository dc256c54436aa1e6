//! The marketplaces AMS serves (docs/ams.md §1): each code's Amazon marketplace id and realm,
//! from which the queue region and the Ads API endpoint follow. The admin API accepts only
//! these codes.

use crate::Realm;

/// One Amazon marketplace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marketplace {
    /// The code users type: `US`, `DE`, `JP`, …
    pub code: &'static str,
    /// Amazon's marketplace id, as in every AMS record's `marketplace_id`.
    pub marketplace_id: &'static str,
    pub realm: Realm,
    /// The IANA time zone Amazon's console (and a profile's `timezone`) reports this
    /// marketplace in; AMS hours are UTC.
    pub time_zone: &'static str,
    /// The marketplace's currency (ISO 4217).
    pub currency: &'static str,
}

impl Marketplace {
    /// The region of the realm's queues and SNS topics.
    pub fn region(&self) -> &'static str {
        self.realm.region()
    }
    pub fn api_endpoint(&self) -> &'static str {
        self.realm.api_endpoint()
    }
    /// The marketplace with this code (case-sensitive: codes are upper case).
    pub fn by_code(code: &str) -> Option<&'static Marketplace> {
        MARKETPLACES.iter().find(|m| m.code == code)
    }
}

const fn m(code: &'static str, marketplace_id: &'static str, realm: Realm, time_zone: &'static str, currency: &'static str) -> Marketplace {
    Marketplace { code, marketplace_id, realm, time_zone, currency }
}

/// Every marketplace AMS serves, by realm.
pub static MARKETPLACES: [Marketplace; 21] = [
    m("US", "ATVPDKIKX0DER", Realm::Na, "America/Los_Angeles", "USD"),
    m("CA", "A2EUQ1WTGCTBG2", Realm::Na, "America/Los_Angeles", "CAD"),
    m("MX", "A1AM78C64UM0Y8", Realm::Na, "America/Los_Angeles", "MXN"),
    m("BR", "A2Q3Y263D00KWC", Realm::Na, "America/Sao_Paulo", "BRL"),
    m("AE", "A2VIGQ35RCS4UG", Realm::Eu, "Asia/Dubai", "AED"),
    m("DE", "A1PA6795UKMFR9", Realm::Eu, "Europe/Paris", "EUR"),
    m("EG", "ARBP9OOSHTCHU", Realm::Eu, "Africa/Cairo", "EGP"),
    m("ES", "A1RKKUPIHCS9HS", Realm::Eu, "Europe/Paris", "EUR"),
    m("FR", "A13V1IB3VIYZZH", Realm::Eu, "Europe/Paris", "EUR"),
    m("BE", "AMEN7PMS3EDWL", Realm::Eu, "Europe/Brussels", "EUR"),
    m("UK", "A1F83G8C2ARO7P", Realm::Eu, "Europe/London", "GBP"),
    m("IN", "A21TJRUUN4KGV", Realm::Eu, "Asia/Kolkata", "INR"),
    m("IT", "APJ6JRA9NG5V4", Realm::Eu, "Europe/Paris", "EUR"),
    m("NL", "A1805IZSGTT6HS", Realm::Eu, "Europe/Amsterdam", "EUR"),
    m("PL", "A1C3SOZRARQ6R3", Realm::Eu, "Europe/Warsaw", "PLN"),
    m("SA", "A17E79C6D8DWNP", Realm::Eu, "Asia/Riyadh", "SAR"),
    m("SE", "A2NODRKZP88ZB9", Realm::Eu, "Europe/Stockholm", "SEK"),
    m("TR", "A33AVAJ2PDY3EV", Realm::Eu, "Europe/Istanbul", "TRY"),
    m("SG", "A19VAU5U5O7RUS", Realm::Fe, "Asia/Singapore", "SGD"),
    m("AU", "A39IBJ37TRP1C6", Realm::Fe, "Australia/Sydney", "AUD"),
    m("JP", "A1VC38T7YXB528", Realm::Fe, "Asia/Tokyo", "JPY"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn realms_follow_the_table_of_ams_md() {
        let de = Marketplace::by_code("DE").unwrap();
        assert_eq!((de.region(), de.api_endpoint()), ("eu-west-1", "https://advertising-api-eu.amazon.com"));
        let jp = Marketplace::by_code("JP").unwrap();
        assert_eq!((jp.region(), jp.api_endpoint()), ("us-west-2", "https://advertising-api-fe.amazon.com"));
        assert_eq!(Marketplace::by_code("US").unwrap().marketplace_id, "ATVPDKIKX0DER");
        assert!(Marketplace::by_code("us").is_none() && Marketplace::by_code("XX").is_none());
        let mut codes: Vec<_> = MARKETPLACES.iter().map(|m| m.code).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), MARKETPLACES.len());
    }
}
