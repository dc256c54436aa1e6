//! Amazon's side of AMS (docs/ams.md §1 and §5): realms, their queue regions, and the AWS
//! account that owns each dataset's SNS topics per realm. Used to decide which subscription
//! confirmations may be confirmed (anything else is an SSRF hole) and to write queue policies.

use crate::{DatasetId, DatasetInfo, DATASETS};

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

    /// Its position in [`Realm::ALL`] (and in a dataset's `topic_accounts`).
    pub fn index(self) -> usize {
        match self {
            Realm::Na => 0,
            Realm::Eu => 1,
            Realm::Fe => 2,
        }
    }

    /// `NA`, `EU` or `FE`.
    pub fn from_code(code: &str) -> Option<Realm> {
        Realm::ALL.into_iter().find(|r| r.as_str() == code)
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

/// A stored realm code (`NA`, `EU`, `FE`): how a database row becomes a [`Realm`].
impl TryFrom<String> for Realm {
    type Error = String;
    fn try_from(code: String) -> Result<Realm, String> {
        Realm::from_code(&code).ok_or_else(|| format!("{code:?} is not a realm: NA, EU or FE"))
    }
}


/// The AWS account owning `dataset`'s SNS topics in `realm`.
pub fn sns_account(dataset: DatasetId, realm: Realm) -> &'static str {
    dataset.info().topic_accounts[realm.index()]
}

/// The ARN of the SQS queue at `queue_url` (`…/<account id>/<name>`, AWS's URL or an
/// emulator's) in `region`: what a Marketing Stream subscription names as its destination.
pub fn queue_arn(queue_url: &str, region: &str) -> Option<String> {
    let path = queue_url.split_once("://").map_or(queue_url, |(_, rest)| rest);
    let mut parts = path.trim_end_matches('/').rsplit('/');
    let name = parts.next().filter(|n| !n.is_empty())?;
    let account = parts.next().filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))?;
    Some(format!("arn:aws:sqs:{region}:{account}:{name}"))
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
    confirmable_in(&DATASETS, topic_arn, subscribe_url)
}

/// [`confirmable`] against a given dataset table (the tests extend the real one).
pub fn confirmable_in(
    datasets: &[DatasetInfo],
    topic_arn: &str,
    subscribe_url: Option<&str>,
) -> Result<(DatasetId, Realm), String> {
    let topic = TopicArn::parse(topic_arn).ok_or_else(|| format!("not an SNS topic ARN: {topic_arn:?}"))?;
    let realm = Realm::from_region(topic.region)
        .ok_or_else(|| format!("topic region {} is not an Amazon Marketing Stream region", topic.region))?;
    let dataset = datasets
        .iter()
        .find(|d| d.topic_accounts[realm.index()] == topic.account)
        .ok_or_else(|| format!("topic account {} is not an Amazon Marketing Stream account", topic.account))?;
    if !topic.name.contains(&format!("-{}-", dataset.name)) {
        return Err(format!("topic {} of account {} does not carry dataset {}", topic.name, topic.account, dataset.name));
    }
    if let Some(url) = subscribe_url {
        let expected = format!("https://sns.{}.amazonaws.com/", topic.region);
        if !url.starts_with(&expected) {
            return Err(format!("SubscribeURL does not point at {expected}"));
        }
    }
    Ok((dataset.id, realm))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_urls_give_their_arns() {
        assert_eq!(
            queue_arn("https://sqs.us-east-1.amazonaws.com/123456789012/ams-brand", "us-east-1").as_deref(),
            Some("arn:aws:sqs:us-east-1:123456789012:ams-brand")
        );
        assert_eq!(
            queue_arn("http://127.0.0.1:5000/123456789012/q-1/", "eu-west-1").as_deref(),
            Some("arn:aws:sqs:eu-west-1:123456789012:q-1")
        );
        assert_eq!(queue_arn("https://sqs.us-east-1.amazonaws.com/q", "us-east-1"), None);
    }

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
        let dsp = "arn:aws:sns:eu-west-1:738976022360:FEADMessageDeliveryTopic-adsp-traffic-A1PA6795UKMFR9-X";
        assert_eq!(confirmable(dsp, None), Ok((DatasetId::AdspTraffic, Realm::Eu)));
        // Amazon's sp-traffic account with an adsp-traffic topic name: refused.
        assert!(confirmable("arn:aws:sns:us-east-1:906013806264:FEADMessageDeliveryTopic-adsp-traffic-X", None).is_err());
    }

    #[test]
    fn no_account_owns_two_datasets_topics() {
        assert_eq!(sns_account(DatasetId::AdspRichMedia, Realm::Fe), "886046350753");
        let mut accounts: Vec<&str> = DATASETS.iter().flat_map(|d| d.topic_accounts.iter().copied()).collect();
        accounts.sort_unstable();
        let n = accounts.len();
        accounts.dedup();
        assert_eq!(accounts.len(), n, "an AWS account owns one dataset's topics in one realm");
    }
}
