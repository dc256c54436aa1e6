//! Reading a brand's queue policy: which datasets' Amazon SNS topics it lets send. One missing
//! account means that dataset silently never arrives, so onboarding refuses such a queue and
//! names what to add.
//!
//! A statement admits a topic when it allows (`Effect: Allow`) the SNS service (or anyone) to
//! `sqs:SendMessage` (or a wildcard covering it), and its conditions on `aws:SourceArn`
//! (`ArnLike`, `ArnEquals`, `StringLike`, `StringEquals`) or `aws:SourceAccount` match the
//! topic. A statement with other conditions is not counted: ams-hub cannot evaluate them.

use ams_model::{DatasetInfo, Realm};
use serde_json::Value;

/// A dataset whose topics the policy does not admit, with the account to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub dataset: &'static str,
    pub account: &'static str,
}

/// The datasets of `datasets` whose SNS topics in `realm` may not send to the queue under
/// `policy` (the queue's `Policy` attribute); every one when there is no policy.
pub fn missing_datasets(policy: Option<&str>, datasets: &[DatasetInfo], realm: Realm) -> Result<Vec<Missing>, String> {
    let statements: Vec<Value> = match policy {
        None => Vec::new(),
        Some(text) => {
            let v: Value = serde_json::from_str(text).map_err(|e| format!("the queue policy is not JSON: {e}"))?;
            match v.get("Statement") {
                Some(Value::Array(a)) => a.clone(),
                Some(s @ Value::Object(_)) => vec![s.clone()],
                _ => Vec::new(),
            }
        }
    };
    Ok(datasets
        .iter()
        .filter(|d| {
            let account = d.topic_accounts[realm.index()];
            let topic = format!("arn:aws:sns:{}:{account}:FEADMessageDeliveryTopic-{}-X", realm.region(), d.name);
            !statements.iter().any(|s| admits(s, &topic, account))
        })
        .map(|d| Missing { dataset: d.name, account: d.topic_accounts[realm.index()] })
        .collect())
}

fn strings(v: Option<&Value>) -> Vec<&str> {
    match v {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn admits(s: &Value, topic: &str, account: &str) -> bool {
    if s.get("Effect").and_then(Value::as_str) != Some("Allow") {
        return false;
    }
    let principal_ok = match s.get("Principal") {
        Some(Value::String(p)) => p == "*",
        Some(p @ Value::Object(_)) => {
            strings(p.get("Service")).iter().any(|x| x.eq_ignore_ascii_case("sns.amazonaws.com"))
                || strings(p.get("AWS")).contains(&"*")
        }
        _ => false,
    };
    let action_ok = strings(s.get("Action")).iter().any(|a| glob(&a.to_ascii_lowercase(), "sqs:sendmessage"));
    if !principal_ok || !action_ok {
        return false;
    }
    let Some(conditions) = s.get("Condition").and_then(Value::as_object) else {
        return true;
    };
    conditions.iter().all(|(op, keys)| {
        let Some(keys) = keys.as_object() else { return false };
        keys.iter().all(|(key, values)| {
            let values = strings(Some(values));
            match (op.as_str(), key.to_ascii_lowercase().as_str()) {
                ("ArnLike" | "ArnEquals" | "StringLike", "aws:sourcearn") => values.iter().any(|p| glob(p, topic)),
                ("StringEquals", "aws:sourcearn") => values.contains(&topic),
                ("StringEquals" | "StringLike", "aws:sourceaccount") => values.iter().any(|p| glob(p, account)),
                _ => false,
            }
        })
    })
}

/// IAM's wildcard match: `*` any run of characters, `?` one.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::queue_policy;
    use ams_model::DATASETS;

    #[test]
    fn the_templates_own_policy_admits_every_dataset() {
        for realm in Realm::ALL {
            let policy = queue_policy(Value::String("arn:aws:sqs:x:1:q".into()), &DATASETS, realm).to_string();
            assert_eq!(missing_datasets(Some(&policy), &DATASETS, realm), Ok(vec![]));
        }
    }

    #[test]
    fn a_policy_missing_an_account_names_its_dataset() {
        let mut partial: Vec<DatasetInfo> = DATASETS.to_vec();
        let dropped = partial.remove(5);
        let policy = queue_policy(Value::String("arn:aws:sqs:x:1:q".into()), &partial, Realm::Eu).to_string();
        assert_eq!(
            missing_datasets(Some(&policy), &DATASETS, Realm::Eu),
            Ok(vec![Missing { dataset: dropped.name, account: dropped.topic_accounts[1] }])
        );
        // The NA policy says nothing of EU accounts.
        let na = queue_policy(Value::String("q".into()), &DATASETS, Realm::Na).to_string();
        assert_eq!(missing_datasets(Some(&na), &DATASETS, Realm::Eu).unwrap().len(), DATASETS.len());
        assert_eq!(missing_datasets(None, &DATASETS, Realm::Fe).unwrap().len(), DATASETS.len());
    }

    #[test]
    fn other_policy_shapes_are_read_as_iam_would() {
        let open = r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"sqs:*"}}"#;
        assert_eq!(missing_datasets(Some(open), &DATASETS, Realm::Na), Ok(vec![]));
        let by_account = serde_json::json!({"Statement": [{"Effect": "Allow", "Principal": {"Service": ["sns.amazonaws.com"]},
            "Action": ["SQS:SendMessage"], "Condition": {"StringEquals": {"aws:SourceAccount": DATASETS[0].topic_accounts[0]}}}]});
        assert_eq!(missing_datasets(Some(&by_account.to_string()), &DATASETS, Realm::Na).unwrap().len(), DATASETS.len() - 1);
        let denied = r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"sqs:*"}]}"#;
        assert_eq!(missing_datasets(Some(denied), &DATASETS, Realm::Na).unwrap().len(), DATASETS.len());
        assert!(missing_datasets(Some("not json"), &DATASETS, Realm::Na).is_err());
        assert!(glob("arn:aws:sns:us-east-1:1:*", "arn:aws:sns:us-east-1:1:topic") && !glob("a?c", "abbc"));
    }
}
