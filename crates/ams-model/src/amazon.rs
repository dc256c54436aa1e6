//! Amazon's side of AMS (docs/ams.md §1 and §5): realms, their queue regions, and the AWS
//! account that owns each dataset's SNS topics per realm. Used to decide which subscription
//! confirmations may be confirmed (anything else is an SSRF hole) and to write queue policies.

use crate::DatasetId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Realm {
    Na,
    Eu,
    Fe,
}

impl Realm {
    pub const ALL: [Realm; 3] = [Realm::Na, Realm::Eu, Realm::Fe];

    /// The region where queues (and Amazon's topics) of this realm live.
    pub fn region(self) -> &'static str {
        match self {
            Realm::Na => "us-east-1",
            Realm::Eu => "eu-west-1",
            Realm::Fe => "us-west-2",
        }
    }

    /// The Amazon Ads API endpoint of this realm.
    pub fn api_endpoint(self) -> &'static str {
        match self {
            Realm::Na => "https://advertising-api.amazon.com",
            Realm::Eu => "https://advertising-api-eu.amazon.com",
            Realm::Fe => "https://advertising-api-fe.amazon.com",
        }
    }

    pub fn from_region(region: &str) -> Option<Realm> {
        Realm::ALL.into_iter().find(|r| r.region() == region)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Realm::Na => "NA",
            Realm::Eu => "EU",
            Realm::Fe => "FE",
        }
    }
}

/// Every Marketing Stream dataset Amazon publishes (v1), with the AWS accounts owning its SNS
/// topics in NA, EU and FE. Some are not decoded yet (they have no [`DatasetId`]): their
/// subscriptions are still confirmed, so a subscription made ahead of ams-hub loses nothing —
/// its records are quarantined as `unknown_dataset` and replayed once ams-hub decodes them.
pub const TOPIC_ACCOUNTS: [(&str, [&str; 3]); 23] = [
    ("sp-traffic", ["906013806264", "668473351658", "074266271188"]),
    ("sp-conversion", ["802324068763", "562877083794", "622939981599"]),
    ("sd-traffic", ["370941301809", "947153514089", "310605068565"]),
    ("sd-conversion", ["877712924581", "664093967423", "818973306977"]),
    ("sb-traffic", ["709476672186", "623198756881", "485899199471"]),
    ("sb-conversion", ["154357381721", "195770945541", "112347756703"]),
    ("sb-clickstream", ["091028706140", "219513501272", "632322331982"]),
    ("sb-rich-media", ["010312603579", "662188760626", "618223300352"]),
    ("budget-usage", ["055588217351", "675750596317", "100899330244"]),
    ("campaigns", ["570159413969", "834862128520", "527383333093"]),
    ("adgroups", ["118846437111", "130948361130", "668585072850"]),
    ("ads", ["305370293182", "648558082147", "802070757281"]),
    ("targets", ["644124924521", "503759481754", "248074939493"]),
    ("sponsored-ads-campaign-diagnostics-recommendations", ["084590724871", "059061853903", "489995134625"]),
    ("sp-budget-recommendations", ["678715897637", "158915609581", "007292432803"]),
    ("adsp-campaigns", ["153247821255", "599052634802", "216875695489"]),
    ("adsp-campaign-flights", ["700228448367", "633559263003", "451213518288"]),
    ("adsp-adgroups", ["222778752755", "682324742468", "360850786875"]),
    ("adsp-adgroup-targets", ["419834811630", "764057072099", "178122609971"]),
    ("adsp-traffic", ["192826442293", "738976022360", "115810253223"]),
    ("adsp-conversion", ["561176707666", "238549931437", "063613587323"]),
    ("adsp-clickstream", ["740036912861", "475804811800", "201394813667"]),
    ("adsp-rich-media", ["718926279583", "047120534722", "886046350753"]),
];

fn realm_index(realm: Realm) -> usize {
    match realm {
        Realm::Na => 0,
        Realm::Eu => 1,
        Realm::Fe => 2,
    }
}

/// The AWS account owning `dataset`'s SNS topics in `realm`.
pub fn sns_account(dataset: DatasetId, realm: Realm) -> &'static str {
    TOPIC_ACCOUNTS
        .iter()
        .find(|(id, _)| *id == dataset.as_str())
        .map(|(_, accounts)| accounts[realm_index(realm)])
        .expect("every DatasetId is in TOPIC_ACCOUNTS (tested)")
}

/// An SNS topic ARN taken apart: `arn:aws:sns:<region>:<account>:<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicArn<'a> {
    pub region: &'a str,
    pub account: &'a str,
    pub name: &'a str,
}

impl<'a> TopicArn<'a> {
    pub fn parse(arn: &'a str) -> Option<TopicArn<'a>> {
        let mut parts = arn.splitn(6, ':');
        let (Some("arn"), Some("aws"), Some("sns"), Some(region), Some(account), Some(name)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        Some(TopicArn { region, account, name })
    }
}

/// Why a subscription confirmation must not be confirmed, or the dataset and realm it is for.
///
/// Confirm only when the topic lives in one of the three AMS regions, is owned by Amazon's
/// account for a dataset in that realm, and its name carries that dataset; the `SubscribeURL`
/// (if any) must point at that region's SNS endpoint. The URL is never fetched: confirmation
/// goes through the SNS API.
pub fn confirmable(topic_arn: &str, subscribe_url: Option<&str>) -> Result<(&'static str, Realm), String> {
    let topic = TopicArn::parse(topic_arn).ok_or_else(|| format!("not an SNS topic ARN: {topic_arn:?}"))?;
    let realm = Realm::from_region(topic.region)
        .ok_or_else(|| format!("topic region {} is not an Amazon Marketing Stream region", topic.region))?;
    let dataset = TOPIC_ACCOUNTS
        .iter()
        .find(|(_, accounts)| accounts[realm_index(realm)] == topic.account)
        .map(|(id, _)| *id)
        .ok_or_else(|| format!("topic account {} is not an Amazon Marketing Stream account", topic.account))?;
    if !topic.name.contains(&format!("-{dataset}-")) {
        return Err(format!("topic {} of account {} does not carry dataset {}", topic.name, topic.account, dataset));
    }
    if let Some(url) = subscribe_url {
        let expected = format!("https://sns.{}.amazonaws.com/", topic.region);
        if !url.starts_with(&expected) {
            return Err(format!("SubscribeURL does not point at {expected}"));
        }
    }
    Ok((dataset, realm))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amazon_topics_are_confirmable_and_others_are_not() {
        let arn = "arn:aws:sns:us-east-1:906013806264:FEADMessageDeliveryTopic-sp-traffic-ATVPDKIKX0DER-ENTITYX";
        let url = "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=x&Token=y";
        assert_eq!(confirmable(arn, Some(url)), Ok(("sp-traffic", Realm::Na)));
        assert!(confirmable(arn, Some("https://evil.example.com/?x=sns.us-east-1.amazonaws.com/")).is_err());
        assert!(confirmable(arn, Some("http://sns.us-east-1.amazonaws.com/")).is_err());
        assert!(confirmable("arn:aws:sns:us-east-1:123456789012:FEADMessageDeliveryTopic-sp-traffic-X", None).is_err());
        // Amazon's account for sp-traffic, but in the wrong region.
        assert!(confirmable("arn:aws:sns:eu-west-1:906013806264:FEADMessageDeliveryTopic-sp-traffic-X", None).is_err());
        // Amazon's budget-usage account with an sp-traffic topic name.
        assert!(confirmable("arn:aws:sns:us-east-1:055588217351:FEADMessageDeliveryTopic-sp-traffic-X", None).is_err());
        assert!(confirmable("not an arn", None).is_err());
        // A dataset ams-hub does not decode yet is confirmed all the same (its records are
        // quarantined, and replayed after an upgrade).
        let dsp = "arn:aws:sns:eu-west-1:738976022360:FEADMessageDeliveryTopic-adsp-traffic-A1PA6795UKMFR9-X";
        assert_eq!(confirmable(dsp, None), Ok(("adsp-traffic", Realm::Eu)));
        // Amazon's sp-traffic account with an adsp-traffic topic name: refused.
        assert!(confirmable("arn:aws:sns:us-east-1:906013806264:FEADMessageDeliveryTopic-adsp-traffic-X", None).is_err());
    }

    #[test]
    fn the_topic_table_names_every_decoded_dataset_once_and_no_account_twice() {
        for d in DatasetId::ALL {
            assert_eq!(TOPIC_ACCOUNTS.iter().filter(|(id, _)| *id == d.as_str()).count(), 1, "{d}");
            let _ = sns_account(d, Realm::Fe);
        }
        let mut accounts: Vec<&str> = TOPIC_ACCOUNTS.iter().flat_map(|(_, a)| a.iter().copied()).collect();
        accounts.sort_unstable();
        let n = accounts.len();
        accounts.dedup();
        assert_eq!(accounts.len(), n, "an AWS account owns one dataset's topics in one realm");
    }
}
