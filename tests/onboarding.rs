//! Onboarding a brand's AWS side through the API: the CloudFormation template of an account,
//! checked by `cfn-lint` (AWS's own linter) for every AMS region, with the role and without.

use std::process::Command;

use ams_tests::api::{serve_with_api, Api, ADMIN_TOKEN};
use ams_tests::aws::venv_python as python;
use ams_tests::aws::{cfn_lint as lint, deploy, Moto};
use ams_tests::TestDb;
use serde_json::{json, Value};

const ADMIN: Option<&str> = Some(ADMIN_TOKEN);
const PRINCIPAL: &str = "arn:aws:iam::999999999999:role/ams-hub-platform";

/// A tenant with an `admin` key and an account selling in the US, Germany and Japan (one
/// marketplace per AMS region); returns (key, account id, external id).
fn brand(api: &Api, slug: &str) -> (String, String, String) {
    api.ok("POST", "/v1/tenants", ADMIN, Some(&json!({"slug": slug, "name": slug})), 201);
    let key = api.ok("POST", &format!("/v1/tenants/{slug}/api-keys"), ADMIN, Some(&json!({"name": "k", "scope": "admin"})), 201);
    let key = key["token"].as_str().unwrap().to_owned();
    let a = api.ok("POST", &format!("/v1/tenants/{slug}/accounts"), Some(&key), Some(&json!({"name": "Brand"})), 201);
    let id = a["id"].as_str().unwrap().to_owned();
    for m in ["US", "DE", "JP"] {
        api.ok("POST", &format!("/v1/tenants/{slug}/accounts/{id}/marketplaces"), Some(&key), Some(&json!({"marketplace": m})), 201);
    }
    (key, id, a["external_id"].as_str().unwrap().to_owned())
}

/// GET the template: (status, content type, deploy command header, body).
fn template(api: &Api, path: &str, token: &str) -> (u16, String, Option<String>, String) {
    let r = ureq::get(&format!("{}{path}", api.base)).set("Authorization", &format!("Bearer {token}")).call();
    let r = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{e}"),
    };
    let (status, ct, cmd) = (r.status(), r.content_type().to_owned(), r.header("Ams-Hub-Deploy-Command").map(str::to_owned));
    (status, ct, cmd, r.into_string().unwrap())
}

#[tokio::test]
async fn the_template_of_every_region_passes_cfn_lint_with_and_without_the_role() {
    let db = TestDb::new();
    let moto = Moto::start();
    let (serve, api) = serve_with_api(&db, &moto.url, &[("AMS_HUB_PLATFORM_PRINCIPAL", PRINCIPAL)]);
    let (key, id, external_id) = brand(&api, "lint");
    let dir = std::env::temp_dir().join(format!("ams-cfn-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    for region in ["us-east-1", "eu-west-1", "us-west-2"] {
        let path = format!("/v1/tenants/lint/accounts/{id}/aws-template?region={region}");
        let (status, ct, cmd, yaml) = template(&api, &path, &key);
        assert_eq!(status, 200, "{yaml}");
        assert_eq!(ct, "application/yaml");
        let cmd = cmd.expect("the deploy command header");
        assert!(cmd.starts_with("aws cloudformation deploy --template-file ") && cmd.contains(&format!("--region {region}")), "{cmd}");
        assert!(yaml.contains(&external_id), "the role's trust policy carries the external id");
        assert!(yaml.contains(PRINCIPAL));
        let (status, ct, _, json_text) = template(&api, &format!("{path}&format=json"), &key);
        assert_eq!((status, ct.as_str()), (200, "application/json"));
        let mut body: Value = serde_json::from_str(&json_text).unwrap();
        assert_eq!(body["Parameters"]["CreateRole"]["Default"], "true");
        let with_role = dir.join(format!("{region}.yaml"));
        std::fs::write(&with_role, &yaml).unwrap();
        lint(&with_role);
        body["Parameters"]["CreateRole"]["Default"] = json!("false");
        let without_role = dir.join(format!("{region}-no-role.json"));
        std::fs::write(&without_role, body.to_string()).unwrap();
        lint(&without_role);
    }
    assert!(!serve.log_text().contains(&external_id), "the external id reached the log");
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn the_template_is_refused_with_a_reason_and_never_to_read_keys_or_other_tenants() {
    let db = TestDb::new();
    let moto = Moto::start();
    let (_serve, api) = serve_with_api(&db, &moto.url, &[("AMS_HUB_PLATFORM_PRINCIPAL", PRINCIPAL)]);
    let (key, id, _) = brand(&api, "owner");
    let (other, _, _) = brand(&api, "other");
    let base = format!("/v1/tenants/owner/accounts/{id}/aws-template");
    let code = |path: &str, token: &str| -> (u16, String) {
        let (status, _, _, body) = template(&api, path, token);
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        (status, v["error"]["code"].as_str().unwrap_or("").to_owned())
    };
    assert_eq!(code(&format!("{base}?region=eu-central-1"), &key), (422, "invalid_request".into()));
    assert_eq!(code(&format!("{base}?region=us-east-1&format=xml"), &key), (422, "invalid_request".into()));
    assert_eq!(code(&base, &key).0, 400, "region is required");
    assert_eq!(code(&format!("{base}?region=us-east-1"), &other), (404, "not_found".into()));
    let read = api.ok("POST", "/v1/tenants/owner/api-keys", ADMIN, Some(&json!({"name": "r", "scope": "read"})), 201);
    assert_eq!(code(&format!("{base}?region=us-east-1"), read["token"].as_str().unwrap()), (403, "read_only".into()));
    // An account without marketplaces has no region yet.
    let bare = api.ok("POST", "/v1/tenants/owner/accounts", Some(&key), Some(&json!({"name": "New"})), 201);
    let bare_path = format!("/v1/tenants/owner/accounts/{}/aws-template?region=us-east-1", bare["id"].as_str().unwrap());
    assert_eq!(code(&bare_path, &key), (422, "invalid_request".into()));

    // A server without the platform principal says what the operator must set.
    let db2 = TestDb::new();
    let (_serve2, api2) = serve_with_api(&db2, &moto.url, &[]);
    let (key2, id2, _) = brand(&api2, "unset");
    let (status, _, _, body) = template(&api2, &format!("/v1/tenants/unset/accounts/{id2}/aws-template?region=us-east-1"), &key2);
    assert_eq!(status, 422);
    assert!(body.contains("platform_principal_unset") && body.contains("AMS_HUB_PLATFORM_PRINCIPAL"), "{body}");
}


/// Deploys a template (JSON) in the brand's account on moto with `scripts/cfn_deploy.py`;
/// returns `describe-stacks`'s answer.
/// The brand's own AWS account on moto (another account than the platform's).
const DEPLOYER: &str = "arn:aws:iam::111111111111:role/brand-deployer";

/// A tenant with an admin key and an account selling in the US only; (key, account id).
fn us_brand(api: &Api, slug: &str) -> (String, String) {
    api.ok("POST", "/v1/tenants", ADMIN, Some(&json!({"slug": slug, "name": slug})), 201);
    let key = api.ok("POST", &format!("/v1/tenants/{slug}/api-keys"), ADMIN, Some(&json!({"name": "k", "scope": "admin"})), 201);
    let key = key["token"].as_str().unwrap().to_owned();
    let a = api.ok("POST", &format!("/v1/tenants/{slug}/accounts"), Some(&key), Some(&json!({"name": "Brand"})), 201);
    let id = a["id"].as_str().unwrap().to_owned();
    api.ok("POST", &format!("/v1/tenants/{slug}/accounts/{id}/marketplaces"), Some(&key), Some(&json!({"marketplace": "US"})), 201);
    (key, id)
}

#[tokio::test]
async fn a_stack_deployed_from_the_template_is_adopted_and_its_messages_reach_the_tenant() {
    use ams_tests::check::{assert_exact, wait_until};
    let db = TestDb::new();
    let store = db.store().await;
    let moto = Moto::start();
    let (serve, api) = serve_with_api(&db, &moto.url, &[("AMS_HUB_PLATFORM_PRINCIPAL", PRINCIPAL)]);
    let (key, id) = us_brand(&api, "deployed");
    let checklist = |api: &Api| api.ok("GET", &format!("/v1/tenants/deployed/accounts/{id}/onboarding"), Some(&key), None, 200);
    let before = checklist(&api);
    assert_eq!(before["status"], "incomplete");
    assert!(before["next_step"].as_str().unwrap().contains("aws-template?region=us-east-1"), "{before}");
    let (status, _, _, template_json) =
        template(&api, &format!("/v1/tenants/deployed/accounts/{id}/aws-template?region=us-east-1&format=json"), &key);
    assert_eq!(status, 200);
    // moto finds an SNS topic only in its owner's account: the brand's stack lives in Amazon's
    // sp-traffic account here, so that the subscription confirmation below can be confirmed.
    let deployer = "arn:aws:iam::906013806264:role/brand-deployer";
    let described = deploy(&moto, deployer, &template_json, "ams-hub-brand", "us-east-1");
    let outputs = ams_tests::aws::stack_outputs(&described);
    assert!(outputs["RoleArn"].starts_with("arn:aws:iam::906013806264:role/"), "{outputs:?}");

    // The outputs pasted as describe-stacks prints them.
    let adopted = api.ok("POST", &format!("/v1/tenants/deployed/accounts/{id}/aws-stack"), Some(&key), Some(&described), 200);
    assert_eq!(adopted["role_arn"], json!(outputs["RoleArn"]));
    assert_eq!(adopted["queues"].as_array().unwrap().len(), 1, "{adopted}");
    let account = api.ok("GET", &format!("/v1/tenants/deployed/accounts/{id}"), Some(&key), None, 200);
    assert_eq!(account["aws_role_arn"], json!(outputs["RoleArn"]));

    let adopted_list = checklist(&api);
    assert!(adopted_list["role"]["verified_at"].is_string(), "{adopted_list}");
    assert_eq!(adopted_list["regions"][0]["queues"][0]["queue_url"], json!(outputs["QueueUrl"]));
    assert!(adopted_list["next_step"].as_str().unwrap().contains("subscribe"), "{adopted_list}");

    // Amazon confirms the subscription, then its messages reach the tenant's schema through the
    // brand's role, and the checklist turns ready.
    let brand = moto.assume(deployer).await;
    let sns = aws_sdk_sns::Client::new(&brand);
    let topic = sns.create_topic().name("FEADMessageDeliveryTopic-sp-traffic-ATVPDKIKX0DER-ENTITY2EXAMPLEABCD1").send().await.unwrap();
    let confirmation: Value = serde_json::from_str(&ams_tests::fixture("subscription-confirmation.json")).unwrap();
    assert_eq!(confirmation["TopicArn"].as_str(), topic.topic_arn.as_deref());
    ams_tests::aws::send_all(&brand, &outputs["QueueUrl"], &[confirmation.to_string()]).await;
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(15);
    let records: Vec<_> =
        (0..12).map(|i| ams_tests::gen::delta(&mut rng, ams_model::DELTA_SPECS[0], i % 3, format!("stack-{i}"))).collect();
    ams_tests::aws::send_all(&brand, &outputs["QueueUrl"], &ams_tests::check::bodies(&records)).await;
    let schema = ams_store::TenantSchema::of(&ams_store::TenantSlug::parse("deployed").unwrap());
    wait_until("the stack's queue to be consumed", 60, &serve, || async {
        ams_tests::check::delta_count(&store, &schema).await == records.len() as i64
    })
    .await;
    assert_exact(&store, &schema, &records).await;
    wait_until("the checklist to turn ready", 30, &serve, || async {
        let c = checklist(&api);
        let traffic = &c["data"]["sp-traffic"];
        c["status"] == "ready"
            && c["confirmations"][0]["status"] == "confirmed"
            && traffic["records_committed"].as_i64() >= Some(12)
            && traffic["first_received_at"].is_string()
            && traffic["last_received_at"].as_str() >= traffic["first_received_at"].as_str()
    })
    .await;
}

#[tokio::test]
async fn each_failed_check_of_a_stack_is_a_422_that_says_what_to_fix_and_registers_nothing() {
    use ams_model::{DatasetInfo, Realm, DATASETS};
    use ams_onboard::template::queue_policy;
    let db = TestDb::new();
    let moto = Moto::start();
    let (_serve, api) = serve_with_api(&db, &moto.url, &[("AMS_HUB_PLATFORM_PRINCIPAL", PRINCIPAL)]);
    let (key, id) = us_brand(&api, "checked");
    let brand = moto.assume(DEPLOYER).await;
    let sqs = aws_sdk_sqs::Client::new(&brand);
    let role = "arn:aws:iam::111111111111:role/ams-hub-checked";
    let queue = |name: &'static str, fifo: bool, datasets: Vec<DatasetInfo>| {
        let sqs = sqs.clone();
        async move {
            let mut create = sqs.create_queue().queue_name(name);
            if fifo {
                create = create.attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true");
            }
            let url = create.send().await.unwrap().queue_url.unwrap();
            if !datasets.is_empty() {
                let arn = format!("arn:aws:sqs:us-east-1:111111111111:{name}");
                let policy = queue_policy(Value::String(arn), &datasets, Realm::Na).to_string();
                sqs.set_queue_attributes()
                    .queue_url(&url)
                    .attributes(aws_sdk_sqs::types::QueueAttributeName::Policy, policy)
                    .send()
                    .await
                    .unwrap();
            }
            url
        }
    };
    let mut without_one: Vec<DatasetInfo> = DATASETS.to_vec();
    let dropped = without_one.remove(17);
    let cases = [
        (queue("partial", false, without_one).await, "policy_missing_datasets", dropped.name),
        (queue("nopolicy", false, vec![]).await, "policy_missing_datasets", "23 dataset(s)"),
        (queue("ordered.fifo", true, DATASETS.to_vec()).await, "fifo_queue", "FIFO"),
        ("https://sqs.eu-west-1.amazonaws.com/111111111111/elsewhere".to_string(), "foreign_region", "eu-west-1"),
    ];
    let path = format!("/v1/tenants/checked/accounts/{id}/aws-stack");
    for (url, code, says) in &cases {
        let (status, body) = api.call("POST", &path, Some(&key), Some(&json!({"role_arn": role, "queue_urls": [url]})));
        assert_eq!((status, body["error"]["code"].as_str()), (422, Some(*code)), "{url}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{url}: {message}");
        if *code == "policy_missing_datasets" && *says == dropped.name {
            assert!(message.contains(dropped.topic_accounts[0]), "names the account to add: {message}");
        }
    }
    // A good queue beside a bad one: still nothing.
    let good = queue("good", false, DATASETS.to_vec()).await;
    let (status, _) = api.call("POST", &path, Some(&key), Some(&json!({"role_arn": role, "queue_urls": [good, cases[0].0]})));
    assert_eq!(status, 422);
    assert_eq!(api.ok("GET", &format!("/v1/tenants/checked/accounts/{id}/queues"), Some(&key), None, 200), json!([]));
    let account = api.ok("GET", &format!("/v1/tenants/checked/accounts/{id}"), Some(&key), None, 200);
    assert_eq!(account["aws_role_arn"], Value::Null, "no role was set");
    // The checklist says why the last attempt failed.
    let list = api.ok("GET", &format!("/v1/tenants/checked/accounts/{id}/onboarding"), Some(&key), None, 200);
    assert_eq!(list["status"], "incomplete");
    assert!(list["role"]["last_error"].as_str().unwrap().contains(dropped.name), "{list}");
    assert!(list["next_step"].as_str().unwrap().contains("the last attempt failed"), "{list}");
    let (status, body) = api.call("POST", &path, Some(&key), Some(&json!({"queue_urls": [good]})));
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("invalid_request")), "no role: {body}");
    // The good queue alone is adopted.
    let adopted = api.ok("POST", &path, Some(&key), Some(&json!({"role_arn": role, "queue_urls": [good]})), 200);
    assert_eq!(adopted["queues"][0]["queue_url"], json!(good));
}

#[tokio::test]
async fn a_role_that_does_not_trust_the_accounts_external_id_is_refused_then_adopted_once_it_does() {
    use ams_tests::faulty::FaultyProxy;
    use ams_model::{Realm, DATASETS};
    let db = TestDb::new();
    let moto = Moto::start();
    // STS through a stand-in that enforces trust policies' external id (moto does not).
    let sts = FaultyProxy::start(&moto.url);
    let (_serve, api) =
        serve_with_api(&db, &moto.url, &[("AMS_HUB_PLATFORM_PRINCIPAL", PRINCIPAL), ("AWS_ENDPOINT_URL_STS", &sts.url)]);
    api.ok("POST", "/v1/tenants", ADMIN, Some(&json!({"slug": "trusting", "name": "t"})), 201);
    let key = api.ok("POST", "/v1/tenants/trusting/api-keys", ADMIN, Some(&json!({"name": "k", "scope": "admin"})), 201);
    let key = key["token"].as_str().unwrap().to_owned();
    let a = api.ok("POST", "/v1/tenants/trusting/accounts", Some(&key), Some(&json!({"name": "Brand"})), 201);
    let (id, external_id) = (a["id"].as_str().unwrap().to_owned(), a["external_id"].as_str().unwrap().to_owned());
    api.ok("POST", &format!("/v1/tenants/trusting/accounts/{id}/marketplaces"), Some(&key), Some(&json!({"marketplace": "US"})), 201);
    let brand = moto.assume(DEPLOYER).await;
    let sqs = aws_sdk_sqs::Client::new(&brand);
    let url = sqs.create_queue().queue_name("trusted").send().await.unwrap().queue_url.unwrap();
    let policy = ams_onboard::template::queue_policy(Value::String("arn:aws:sqs:us-east-1:111111111111:trusted".into()), &DATASETS, Realm::Na);
    sqs.set_queue_attributes()
        .queue_url(&url)
        .attributes(aws_sdk_sqs::types::QueueAttributeName::Policy, policy.to_string())
        .send()
        .await
        .unwrap();
    let role = "arn:aws:iam::111111111111:role/ams-hub-trusting";
    let path = format!("/v1/tenants/trusting/accounts/{id}/aws-stack");
    let body = json!({"role_arn": role, "queue_urls": [url]});

    sts.require_external_id(role, "some-other-accounts-id");
    let (status, answer) = api.call("POST", &path, Some(&key), Some(&body));
    assert_eq!((status, answer["error"]["code"].as_str()), (422, Some("role_not_assumable")), "{answer}");
    assert!(!answer.to_string().contains(&external_id), "the external id is not echoed");
    assert_eq!(api.ok("GET", &format!("/v1/tenants/trusting/accounts/{id}/queues"), Some(&key), None, 200), json!([]));

    sts.require_external_id(role, &external_id);
    let adopted = api.ok("POST", &path, Some(&key), Some(&body), 200);
    assert_eq!(adopted["role_arn"], role);
}

/// Runs boto3 code against moto as the brand's deployer (the venv's python).
fn as_brand(moto: &Moto, code: &str) {
    let out = Command::new(python())
        .args([
            "-c",
            &format!(
                "import boto3, json\nc = boto3.client('sts').assume_role(RoleArn='{DEPLOYER}', RoleSessionName='brand')['Credentials']\n\
                 s = boto3.session.Session(aws_access_key_id=c['AccessKeyId'], aws_secret_access_key=c['SecretAccessKey'], \
                 aws_session_token=c['SessionToken'], region_name='us-east-1')\n{code}"
            ),
        ])
        .env("AWS_ENDPOINT_URL", &moto.url)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .unwrap();
    assert!(out.status.success(), "boto3: {}", String::from_utf8_lossy(&out.stderr));
}

/// ams-hub confirms Amazon's subscriptions as the brand's role, and SNS refuses a signed call
/// the role's policy does not allow: a hand-made role without `sns:ConfirmSubscription` is
/// refused by `aws-stack` (SNS asked, through the Amazon stand-in, which evaluates the role's
/// policy in moto as AWS would); adopted once granted; and a confirmation SNS refuses later
/// (the grant removed) makes the checklist say what to fix.
#[tokio::test(flavor = "multi_thread")]
async fn a_role_that_may_not_confirm_subscriptions_is_refused_and_the_checklist_says_why() {
    use ams_model::{Realm, DATASETS};
    use ams_onboard::template::{queue_policy, topic_arn_patterns};
    let db = TestDb::new();
    let moto = Moto::start();
    let amazon = ams_tests::amazon::AmazonStandIn::start(&moto.url);
    let (serve, api) =
        serve_with_api(&db, &moto.url, &[("AMS_HUB_PLATFORM_PRINCIPAL", PRINCIPAL), ("AWS_ENDPOINT_URL_SNS", amazon.url.as_str())]);
    let (key, id) = us_brand(&api, "confirming");
    let brand = moto.assume(DEPLOYER).await;
    let sqs = aws_sdk_sqs::Client::new(&brand);
    let url = sqs.create_queue().queue_name("confirming").send().await.unwrap().queue_url.unwrap();
    let arn = "arn:aws:sqs:us-east-1:111111111111:confirming";
    let policy = queue_policy(Value::String(arn.into()), &DATASETS, Realm::Na);
    sqs.set_queue_attributes().queue_url(&url).attributes(aws_sdk_sqs::types::QueueAttributeName::Policy, policy.to_string()).send().await.unwrap();
    let read = json!({"Effect": "Allow", "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"], "Resource": [arn]});
    let confirm = json!({"Effect": "Allow", "Action": "sns:ConfirmSubscription", "Resource": topic_arn_patterns(&DATASETS, Realm::Na)});
    let put_policy = |statements: Vec<&Value>| {
        let doc = json!({"Version": "2012-10-17", "Statement": statements});
        as_brand(&moto, &format!("s.client('iam').put_role_policy(RoleName='ams-hub-confirming', PolicyName='read', PolicyDocument=json.dumps({doc}))"));
    };
    as_brand(&moto, &format!("s.client('iam').create_role(RoleName='ams-hub-confirming', AssumeRolePolicyDocument=json.dumps({{'Version': '2012-10-17', 'Statement': [{{'Effect': 'Allow', 'Principal': {{'AWS': '{PRINCIPAL}'}}, 'Action': 'sts:AssumeRole'}}]}}))"));
    put_policy(vec![&read]);
    let role = "arn:aws:iam::111111111111:role/ams-hub-confirming";
    let path = format!("/v1/tenants/confirming/accounts/{id}/aws-stack");
    let body = json!({"role_arn": role, "queue_urls": [url]});

    let (status, answer) = api.call("POST", &path, Some(&key), Some(&body));
    assert_eq!((status, answer["error"]["code"].as_str()), (422, Some("confirm_not_allowed")), "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("sns:ConfirmSubscription") && message.contains("arn:aws:sns:us-east-1:906013806264:*"), "{message}");
    let checklist = || api.ok("GET", &format!("/v1/tenants/confirming/accounts/{id}/onboarding"), Some(&key), None, 200);
    assert!(checklist()["role"]["last_error"].as_str().unwrap().contains("sns:ConfirmSubscription"));
    assert_eq!(api.ok("GET", &format!("/v1/tenants/confirming/accounts/{id}/queues"), Some(&key), None, 200), json!([]), "nothing registered");
    assert!(amazon.confirms().iter().all(|(who, _, status)| who.contains("assumed-role/ams-hub-confirming") && *status == 403), "{:?}", amazon.confirms());

    put_policy(vec![&read, &confirm]);
    api.ok("POST", &path, Some(&key), Some(&body), 200);

    // The grant removed afterwards: Amazon's confirmation is refused, and the checklist says so.
    put_policy(vec![&read]);
    ams_tests::aws::send_all(&brand, &url, &[ams_tests::fixture("subscription-confirmation.json")]).await;
    ams_tests::check::wait_until("the checklist to name the missing grant", 60, &serve, || async {
        checklist()["next_step"].as_str().is_some_and(|s| s.contains("may not confirm Amazon's subscriptions"))
    })
    .await;
    let c = checklist();
    assert!(c["next_step"].as_str().unwrap().contains("sns:ConfirmSubscription"), "{c}");
    assert!(c["confirmations"][0]["error"].as_str().unwrap().contains("AuthorizationError"), "{c}");
    amazon.assert_contract_kept();
}
