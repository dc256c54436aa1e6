//! Least privilege, proven: the brand's side (ams-hub's CloudFormation template) deployed on
//! moto with IAM enforced (`INITIAL_NO_AUTH_ACTION_COUNT`: every request after the setup must
//! be signed by an identity whose policies allow it), ams-hub running as a plain IAM user that
//! may only assume roles, and Amazon's SNS played by the stand-in, which refuses a signed
//! `ConfirmSubscription` the signing role's policy does not allow, as AWS does.
//!
//! With exactly the template's policy, ams-hub verifies the stack, consumes the queue and
//! confirms Amazon's subscription; without any one of the five actions it grants (receive,
//! delete, change visibility, read attributes, confirm), that call, and only that one, fails.

use std::process::Command;

use ams_model::{sns_account, DatasetId, Realm};
use ams_tests::amazon::{profile, AmazonStandIn, CLIENT_ID, CLIENT_SECRET};
use ams_tests::api::{serve_with_api, ADMIN_TOKEN};
use ams_tests::aws::venv_python as python;
use ams_tests::aws::Moto;
use ams_tests::check::wait_until;
use ams_tests::TestDb;
use aws_credential_types::Credentials;
use serde_json::{json, Value};

const ADMIN: Option<&str> = Some(ADMIN_TOKEN);
const TOKEN: &str = "Atzr|least-privilege-refresh-token-LLLLLLLLLLLL";
/// IAM requests moto takes before it enforces IAM: the setup script's six.
const SETUP_REQUESTS: &str = "6";


/// Runs boto3 code against moto with these credentials; its stdout as JSON.
fn boto(moto: &Moto, credentials: (&str, &str), code: &str) -> Value {
    let out = Command::new(python())
        .args(["-c", &format!("import boto3, json, sys\n{code}")])
        .env("AWS_ENDPOINT_URL", &moto.url)
        .env("AWS_ACCESS_KEY_ID", credentials.0)
        .env("AWS_SECRET_ACCESS_KEY", credentials.1)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .unwrap();
    assert!(out.status.success(), "boto3: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// An administrator (everything) and ams-hub's own identity (may assume roles, nothing else).
const SETUP: &str = r#"
iam = boto3.client("iam")
keys = {}
for user, action in [("admin", "*"), ("ams-hub", "sts:AssumeRole")]:
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]}))
    k = iam.create_access_key(UserName=user)["AccessKey"]
    keys[user] = [k["AccessKeyId"], k["SecretAccessKey"]]
print(json.dumps(keys))
"#;

fn pair(v: &Value) -> (String, String) {
    (v[0].as_str().unwrap().to_owned(), v[1].as_str().unwrap().to_owned())
}

/// The five calls ams-hub makes as the brand's role; each `Ok` or the error code it got.
async fn calls(amazon: &AmazonStandIn, role: &aws_config::SdkConfig, admin: &aws_config::SdkConfig, queue: &str) -> Vec<(&'static str, Result<(), String>)> {
    let code = |e: &dyn std::fmt::Debug| {
        let text = format!("{e:?}");
        ["AccessDenied", "AuthorizationError", "NotFound"].iter().find(|c| text.contains(*c)).map_or(text, |c| c.to_string())
    };
    let (as_role, as_admin) = (aws_sdk_sqs::Client::new(role), aws_sdk_sqs::Client::new(admin));
    as_admin.send_message().queue_url(queue).message_body("{}").send().await.unwrap();
    let received = as_admin.receive_message().queue_url(queue).visibility_timeout(60).wait_time_seconds(1).send().await.unwrap();
    let handle = received.messages.unwrap()[0].receipt_handle.clone().unwrap();
    let sns = aws_sdk_sns::Client::from_conf(aws_sdk_sns::config::Builder::from(role).endpoint_url(&amazon.url).build());
    let topic = format!("arn:aws:sns:us-east-1:{}:FEADMessageDeliveryTopic-sp-traffic-probe", sns_account(DatasetId::SpTraffic, Realm::Na));
    vec![
        ("sqs:ReceiveMessage", as_role.receive_message().queue_url(queue).send().await.map(|_| ()).map_err(|e| code(&e))),
        (
            "sqs:ChangeMessageVisibility",
            as_role.change_message_visibility().queue_url(queue).receipt_handle(&handle).visibility_timeout(30).send().await.map(|_| ()).map_err(|e| code(&e)),
        ),
        ("sqs:GetQueueAttributes", as_role.get_queue_attributes().queue_url(queue).send().await.map(|_| ()).map_err(|e| code(&e))),
        ("sqs:DeleteMessage", as_role.delete_message().queue_url(queue).receipt_handle(&handle).send().await.map(|_| ()).map_err(|e| code(&e))),
        // Allowed, SNS looks for the topic (the stand-in knows no such one): NotFound.
        (
            "sns:ConfirmSubscription",
            match sns.confirm_subscription().topic_arn(&topic).token("probe").send().await.map_err(|e| code(&e)) {
                Err(c) if c == "NotFound" => Ok(()),
                other => other.map(|_| ()),
            },
        ),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn the_brand_side_works_with_exactly_the_templates_policy_and_fails_without_each_action() {
    let moto = Moto::start_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", SETUP_REQUESTS)]);
    let keys = boto(&moto, ("testing", "testing"), SETUP);
    let (admin, hub) = (pair(&keys["admin"]), pair(&keys["ams-hub"]));
    let amazon = AmazonStandIn::start_with(&moto.url, (&admin.0, &admin.1));
    amazon.add_login(TOKEN, vec![profile(1001, "US", "ATVPDKIKX0DER", "ENTITYAAAA1", "Brand A")]);
    let db = TestDb::new();
    let env = [
        ("AMS_HUB_PLATFORM_PRINCIPAL", "arn:aws:iam::123456789012:user/ams-hub"),
        ("AWS_ACCESS_KEY_ID", hub.0.as_str()),
        ("AWS_SECRET_ACCESS_KEY", hub.1.as_str()),
        ("AMS_HUB_ADS_CLIENT_ID", CLIENT_ID),
        ("AMS_HUB_ADS_CLIENT_SECRET", CLIENT_SECRET),
        ("AMS_HUB_ADS_API_URL", amazon.url.as_str()),
        ("AMS_HUB_LWA_URL", amazon.url.as_str()),
        ("AWS_ENDPOINT_URL_SNS", amazon.url.as_str()),
        ("AMS_HUB_ADS_PENDING_SYNC_SECS", "1"),
        ("AMS_HUB_VISIBILITY_SECS", "5"),
    ];
    let (mut serve, api) = serve_with_api(&db, &moto.url, &env);
    api.ok("POST", "/v1/tenants", ADMIN, Some(&json!({"slug": "least", "name": "least"})), 201);
    let key = api.ok("POST", "/v1/tenants/least/api-keys", ADMIN, Some(&json!({"name": "k", "scope": "admin"})), 201)["token"].as_str().unwrap().to_owned();
    let c = api.ok("POST", "/v1/tenants/least/ads-connections", Some(&key), Some(&json!({"name": "main", "region": "NA", "refresh_token": TOKEN})), 201);
    let imported = api.ok("POST", &format!("/v1/tenants/least/ads-connections/{}/import", c["id"].as_str().unwrap()), Some(&key), None, 200);
    let a = imported["accounts"][0]["account_id"].as_str().unwrap().to_owned();

    // The template, as a brand gets it, deployed by the brand's administrator.
    let template = ureq::get(&format!("{}/v1/tenants/least/accounts/{a}/aws-template?region=us-east-1&format=json", api.base))
        .set("Authorization", &format!("Bearer {key}"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    let file = std::env::temp_dir().join(format!("least-{}.json", uuid::Uuid::new_v4().simple()));
    std::fs::write(&file, &template).unwrap();
    let out = Command::new(python())
        .arg(ams_tests::repo_root().join("scripts/cfn_deploy.py"))
        .args(["-", file.to_str().unwrap(), "ams-hub-least", "us-east-1"])
        .env("AWS_ENDPOINT_URL", &moto.url)
        .env("AWS_ACCESS_KEY_ID", &admin.0)
        .env("AWS_SECRET_ACCESS_KEY", &admin.1)
        .output()
        .unwrap();
    std::fs::remove_file(&file).ok();
    assert!(out.status.success(), "cfn_deploy: {}", String::from_utf8_lossy(&out.stderr));
    let described: Value = serde_json::from_slice(&out.stdout).unwrap();
    let output = |k: &str| {
        described["Stacks"][0]["Outputs"].as_array().unwrap().iter().find(|o| o["OutputKey"] == k).unwrap()["OutputValue"].as_str().unwrap().to_owned()
    };
    let (role_arn, queue_url) = (output("RoleArn"), output("QueueUrl"));

    // ams-hub verifies the stack through the role (reading the queue, asking SNS whether the
    // role may confirm), subscribes, confirms as the role, and consumes.
    api.ok("POST", &format!("/v1/tenants/least/accounts/{a}/aws-stack"), Some(&key), Some(&described), 200);
    api.ok("PUT", &format!("/v1/tenants/least/accounts/{a}/streams"), Some(&key), Some(&json!({"datasets": ["sp-traffic"]})), 200);
    wait_until("the subscription ACTIVE", 90, &serve, || async {
        let s = api.ok("GET", &format!("/v1/tenants/least/accounts/{a}/streams"), Some(&key), None, 200);
        s["subscriptions"][0]["status"] == "ACTIVE"
    })
    .await;
    let confirmed = amazon.confirms();
    assert!(
        confirmed.iter().any(|(who, _, status)| who.contains(":assumed-role/ams-hub-") && *status == 200),
        "confirmed as the brand's role: {confirmed:?}"
    );
    let admin_config = moto.config(Credentials::new(&admin.0, &admin.1, None, None, "admin"));
    ams_tests::aws::send_all(&admin_config, &queue_url, &[ams_tests::fixture("sp-traffic.json")]).await;
    let store = db.store().await;
    wait_until("the record committed (received and deleted through the role)", 60, &serve, || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM tenant_least.amzn_stream_sp_traffic").fetch_one(store.pool()).await.unwrap_or(0);
        n == 1
    })
    .await;
    let external_id = serde_json::from_str::<Value>(&template).unwrap()["Resources"]["Role"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
        ["Condition"]["StringEquals"]["sts:ExternalId"]
        .as_str()
        .unwrap()
        .to_owned();
    serve.terminate(30);

    // The five calls as the role, with the template's policy, then without each action.
    let hub_config = moto.config(Credentials::new(&hub.0, &hub.1, None, None, "ams-hub"));
    let assumed = aws_sdk_sts::Client::new(&hub_config)
        .assume_role()
        .role_arn(&role_arn)
        .role_session_name("least-privilege")
        .external_id(&external_id)
        .send()
        .await
        .unwrap()
        .credentials
        .unwrap();
    let role = moto.config(Credentials::new(assumed.access_key_id, assumed.secret_access_key, Some(assumed.session_token), None, "role"));
    let all = calls(&amazon, &role, &admin_config, &queue_url).await;
    assert!(all.iter().all(|(_, r)| r.is_ok()), "every call works with the template's policy: {all:?}");
    let role_name = role_arn.rsplit('/').next().unwrap().to_owned();
    let original = boto(
        &moto,
        (&admin.0, &admin.1),
        &format!(
            "iam = boto3.client('iam')\nname = iam.list_role_policies(RoleName='{role_name}')['PolicyNames'][0]\n\
             print(json.dumps({{'name': name, 'doc': iam.get_role_policy(RoleName='{role_name}', PolicyName=name)['PolicyDocument']}}))"
        ),
    );
    let set_policy = |doc: &Value| {
        let code = format!(
            "boto3.client('iam').put_role_policy(RoleName='{role_name}', PolicyName={}, PolicyDocument=json.dumps(json.loads(sys.argv[1])))",
            original["name"]
        );
        let out = Command::new(python())
            .args(["-c", &format!("import boto3, json, sys\n{code}"), &doc.to_string()])
            .env("AWS_ENDPOINT_URL", &moto.url)
            .env("AWS_ACCESS_KEY_ID", &admin.0)
            .env("AWS_SECRET_ACCESS_KEY", &admin.1)
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .output()
            .unwrap();
        assert!(out.status.success(), "put_role_policy: {}", String::from_utf8_lossy(&out.stderr));
    };
    for (action, _) in &all {
        // The template's policy without this one action (a statement left with none goes).
        let mut doc = original["doc"].clone();
        let statements = doc["Statement"].as_array_mut().unwrap();
        for s in statements.iter_mut() {
            match &mut s["Action"] {
                Value::Array(list) => list.retain(|a| a != action),
                a @ Value::String(_) if a == action => *a = json!([]),
                _ => {}
            }
        }
        statements.retain(|s| s["Action"] != json!([]));
        set_policy(&doc);
        let results = calls(&amazon, &role, &admin_config, &queue_url).await;
        for (call, result) in &results {
            if call == action {
                let code = result.as_ref().expect_err(&format!("{call} must fail without its grant"));
                assert!(code == "AccessDenied" || code == "AuthorizationError", "{call}: {code}");
            } else {
                assert!(result.is_ok(), "{call} must still work without {action}: {result:?}");
            }
        }
    }
    set_policy(&original["doc"]);
    amazon.assert_contract_kept();
}
