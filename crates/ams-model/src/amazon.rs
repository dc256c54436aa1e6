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

/// The AWS account owning `dataset`'s SNS topics in `realm`.
pub fn sns_account(dataset: DatasetId, realm: Realm) -> &'static str {
    use DatasetId::*;
    let [na, eu, fe] = match dataset {
        SpTraffic => ["906013806264", "668473351658", "074266271188"],
        SpConversion => ["802324068763", "562877083794", "622939981599"],
        SdTraffic => ["370941301809", "947153514089", "310605068565"],
        SdConversion => ["877712924581", "664093967423", "818973306977"],
        SbTraffic => ["709476672186", "623198756881", "485899199471"],
        SbConversion => ["154357381721", "195770945541", "112347756703"],
        SbClickstream => ["091028706140", "219513501272", "632322331982"],
        SbRichMedia => ["010312603579", "662188760626", "618223300352"],
        BudgetUsage => ["055588217351", "675750596317", "100899330244"],
        Campaigns => ["570159413969", "834862128520", "527383333093"],
        AdGroups => ["118846437111", "130948361130", "668585072850"],
        Ads => ["305370293182", "648558082147", "802070757281"],
        Targets => ["644124924521", "503759481754", "248074939493"],
    };
    match realm {
        Realm::Na => na,
        Realm::Eu => eu,
        Realm::Fe => fe,
    }
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
pub fn confirmable(topic_arn: &str, subscribe_url: Option<&str>) -> Result<(DatasetId, Realm), String> {
    let topic = TopicArn::parse(topic_arn).ok_or_else(|| format!("not an SNS topic ARN: {topic_arn:?}"))?;
    let realm = Realm::from_region(topic.region)
        .ok_or_else(|| format!("topic region {} is not an Amazon Marketing Stream region", topic.region))?;
    let dataset = DatasetId::ALL
        .into_iter()
        .find(|d| sns_account(*d, realm) == topic.account)
        .ok_or_else(|| format!("topic account {} is not an Amazon Marketing Stream account", topic.account))?;
    if !topic.name.contains(&format!("-{}-", dataset.as_str())) {
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
        assert_eq!(confirmable(arn, Some(url)), Ok((DatasetId::SpTraffic, Realm::Na)));
        assert!(confirmable(arn, Some("https://evil.example.com/?x=sns.us-east-1.amazonaws.com/")).is_err());
        assert!(confirmable(arn, Some("http://sns.us-east-1.amazonaws.com/")).is_err());
        assert!(confirmable("arn:aws:sns:us-east-1:123456789012:FEADMessageDeliveryTopic-sp-traffic-X", None).is_err());
        // Amazon's account for sp-traffic, but in the wrong region.
        assert!(confirmable("arn:aws:sns:eu-west-1:906013806264:FEADMessageDeliveryTopic-sp-traffic-X", None).is_err());
        // Amazon's budget-usage account with an sp-traffic topic name.
        assert!(confirmable("arn:aws:sns:us-east-1:055588217351:FEADMessageDeliveryTopic-sp-traffic-X", None).is_err());
        assert!(confirmable("not an arn", None).is_err());
    }
}
