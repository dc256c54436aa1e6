//! BI logins end to end: made through the API of a running server, then used the way a BI tool
//! uses them, by connecting to Postgres as the login. It reads its tenant's reporting views
//! (only its accounts' rows when it has accounts), and is refused the ledger tables, the
//! control schema, the other tenant and every write; a function of its own cannot see the
//! rows its views hide; deleting it ends its open sessions and it cannot connect again.

use ams_tests::api::{serve_with_api, Api, ADMIN_TOKEN};
use ams_tests::{gen, TestDb};
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};

const ADMIN: Option<&str> = Some(ADMIN_TOKEN);

fn key(api: &Api, tenant: &str, scope: &str) -> String {
    let k = api.ok("POST", &format!("/v1/tenants/{tenant}/api-keys"), ADMIN, Some(&json!({"name": scope, "scope": scope})), 201);
    k["token"].as_str().unwrap().to_owned()
}

/// The SQLSTATE a statement fails with (it must fail).
async fn refused(conn: &mut PgConnection, sql: &str) -> String {
    match sqlx::query(sql).execute(&mut *conn).await {
        Ok(_) => panic!("allowed: {sql}"),
        Err(sqlx::Error::Database(e)) => e.code().unwrap_or_default().into_owned(),
        Err(e) => panic!("{sql}: {e}"),
    }
}

async fn strings(conn: &mut PgConnection, sql: &str) -> Vec<String> {
    sqlx::query_scalar(sql).fetch_all(conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn number(conn: &mut PgConnection, sql: &str) -> String {
    sqlx::query_scalar::<_, String>(sql).fetch_one(conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Recomputes the SCRAM-SHA-256 verifier Postgres holds for `role` from the password with
/// Python's hashlib (another implementation than the one that made it): Postgres checks a
/// password against exactly this when its server asks for one (this machine's trusts local
/// connections, so connecting alone would not prove the password right).
async fn password_matches(postgres: &mut PgConnection, role: &str, password: &str) -> bool {
    let stored: String = sqlx::query_scalar("SELECT rolpassword FROM pg_authid WHERE rolname = $1")
        .bind(role)
        .fetch_one(postgres)
        .await
        .unwrap();
    let script = r#"
import base64, hashlib, hmac, sys
stored, password = sys.argv[1], sys.argv[2]
method, rest = stored.split("$", 1)
iterations_salt, keys = rest.split("$")
iterations, salt = iterations_salt.split(":")
stored_key, server_key = keys.split(":")
salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
client_key = hmac.new(salted, b"Client Key", "sha256").digest()
ok = (method == "SCRAM-SHA-256"
      and base64.b64encode(hashlib.sha256(client_key).digest()).decode() == stored_key
      and base64.b64encode(hmac.new(salted, b"Server Key", "sha256").digest()).decode() == server_key)
print("match" if ok else "differ")
"#;
    let out = std::process::Command::new("python3").args(["-c", script, &stored, password]).output().expect("python3");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim() == "match"
}

#[tokio::test]
async fn a_bi_login_reads_its_views_and_nothing_else_until_it_is_deleted() {
    let db = TestDb::new();
    let moto = ams_tests::aws::Moto::start();
    let (serve, api) = serve_with_api(&db, &moto.url, &[("AMS_HUB_BI_HOST", "bi.example.test"), ("AMS_HUB_BI_CONNECTIONS", "3")]);
    let store = db.store().await;
    for t in ["bitest_a", "bitest_b"] {
        api.ok("POST", "/v1/tenants", ADMIN, Some(&json!({"slug": t, "name": t})), 201);
    }
    let (admin_a, write_a, read_a, admin_b) = (key(&api, "bitest_a", "admin"), key(&api, "bitest_a", "write"), key(&api, "bitest_a", "read"), key(&api, "bitest_b", "admin"));
    let account = |tenant: &str, name: &str| {
        api.ok("POST", &format!("/v1/tenants/{tenant}/accounts"), ADMIN, Some(&json!({"name": name})), 201)["id"].as_str().unwrap().to_owned()
    };
    let (acc1, acc2, bare, acc_b) = (account("bitest_a", "One"), account("bitest_a", "Two"), account("bitest_a", "Bare"), account("bitest_b", "B"));
    let mut postgres = PgConnection::connect(&db.url).await.unwrap();
    // Accounts imported from an Ads connection carry their advertiser id; these are made by
    // hand, so give them theirs as an import would.
    for (id, adv) in [(&acc1, "ADV1"), (&acc2, "ADV2"), (&acc_b, "ADV1")] {
        sqlx::query("UPDATE control.accounts SET advertiser_id = $2 WHERE id = $1::uuid").bind(id).bind(adv).execute(&mut postgres).await.unwrap();
    }
    // Three campaigns of ADV1 over two days in A, then campaign C2 moved to ADV2 (the
    // triggers move its days in campaign_daily too); one campaign in B.
    let schema_a = ams_tests::tenant(&store, "bitest_a").await;
    gen::fill_rollups(&store, &schema_a, 3, 2).await;
    for table in ["amzn_stream_sp_traffic_hourly", "amzn_stream_sp_conversion_hourly", "amzn_stream_campaigns"] {
        sqlx::query(&format!("UPDATE tenant_bitest_a.{table} SET advertiser_id = 'ADV2' WHERE campaign_id = 'C2'")).execute(&mut postgres).await.unwrap();
    }
    gen::fill_rollups(&store, &ams_tests::tenant(&store, "bitest_b").await, 1, 2).await;

    // Who may make one; what a bad request gets.
    let path = "/v1/tenants/bitest_a/bi-logins";
    let (s, b) = api.call("POST", path, Some(&write_a), Some(&json!({"name": "x"})));
    assert_eq!((s, b["error"]["code"].as_str()), (403, Some("forbidden")), "{b}");
    for (body, says) in [
        (json!({"name": ""}), "name"),
        (json!({"name": "x", "accounts": []}), "empty"),
        (json!({"name": "x", "accounts": [uuid::Uuid::new_v4()]}), "not an account of this tenant"),
        (json!({"name": "x", "accounts": [acc_b]}), "not an account of this tenant"),
        (json!({"name": "x", "accounts": [bare]}), "no Amazon advertiser id"),
    ] {
        let (s, b) = api.call("POST", path, Some(&admin_a), Some(&body));
        assert_eq!((s, b["error"]["code"].as_str()), (422, Some("invalid_request")), "{body}: {b}");
        assert!(b["error"]["message"].as_str().unwrap().contains(says), "{body}: {b}");
    }
    let (s, _) = api.call("POST", path, Some(&admin_b), Some(&json!({"name": "x"})));
    assert_eq!(s, 404, "another tenant's key");

    let all = api.ok("POST", path, Some(&admin_a), Some(&json!({"name": "Metabase"})), 201);
    let one = api.ok("POST", path, ADMIN, Some(&json!({"name": "Brand One", "accounts": [acc1]})), 201);
    assert_eq!(one["accounts"], json!([acc1]));
    assert_eq!(one["advertiser_ids"], json!(["ADV1"]));
    assert_eq!((all["schema"].as_str(), all["database"].as_str(), all["host"].as_str()), (Some("tenant_bitest_a"), Some(db.name.as_str()), Some("bi.example.test")));
    assert_eq!(
        all["views"],
        json!(["bi_performance_hourly", "bi_performance_daily", "bi_campaign_daily", "bi_budget_pacing", "bi_marketplace_time_zones"])
    );
    let (user, password) = (one["user"].as_str().unwrap(), one["password"].as_str().unwrap());
    assert_eq!(
        one["connection_string"].as_str().unwrap(),
        format!("postgresql://{user}:{password}@bi.example.test:{}/{}", one["port"], db.name)
    );
    assert!(password_matches(&mut postgres, user, password).await, "the stored verifier is not the password's");
    assert!(!password_matches(&mut postgres, user, "not-the-password").await);

    // Connect as the logins (to the real host: bi.example.test is only what BI tools are told).
    let connect = |login: &Value| {
        let url = format!("{}/{}", ams_tests::server_url(), db.name).replacen("postgres@", &format!("{}:{}@", login["user"].as_str().unwrap(), login["password"].as_str().unwrap()), 1);
        async move { PgConnection::connect(&url).await }
    };
    let mut as_all = connect(&all).await.unwrap();
    let mut as_one = connect(&one).await.unwrap();

    // It reads its views (by their names alone: its search_path is its schema), the sums the
    // tenant's own views give for its advertisers.
    assert_eq!(strings(&mut as_all, "SELECT DISTINCT advertiser_id FROM bi_performance_daily ORDER BY 1").await, ["ADV1", "ADV2"]);
    assert_eq!(strings(&mut as_one, "SELECT DISTINCT advertiser_id FROM bi_performance_daily ORDER BY 1").await, ["ADV1"]);
    for (view, metric) in [("campaign_daily", "cost"), ("performance_daily", "sales"), ("performance_hourly", "clicks")] {
        let mine = number(&mut as_one, &format!("SELECT sum({metric})::text FROM bi_{view}")).await;
        let truth = number(&mut postgres, &format!("SELECT sum({metric})::text FROM tenant_bitest_a.{view} WHERE advertiser_id = 'ADV1'")).await;
        let everything = number(&mut as_all, &format!("SELECT sum({metric})::text FROM bi_{view}")).await;
        let total = number(&mut postgres, &format!("SELECT sum({metric})::text FROM tenant_bitest_a.{view}")).await;
        assert_eq!((mine.as_str(), everything.as_str()), (truth.as_str(), total.as_str()), "{view}.{metric}");
        assert_ne!(mine, total, "{view}: ADV2's rows are part of the total");
    }
    assert!(number(&mut as_one, "SELECT count(*)::text FROM bi_marketplace_time_zones").await.parse::<i64>().unwrap() > 20);
    number(&mut as_one, "SELECT count(*)::text FROM bi_budget_pacing").await;

    // And nothing else.
    for sql in [
        "SELECT 1 FROM tenant_bitest_a.amzn_stream_sp_traffic_hourly LIMIT 1",
        "SELECT 1 FROM tenant_bitest_a.amzn_stream_sp_traffic LIMIT 1",
        "SELECT 1 FROM tenant_bitest_a.performance_daily LIMIT 1",
        "SELECT 1 FROM tenant_bitest_a.campaign_daily LIMIT 1",
        "SELECT 1 FROM tenant_bitest_a.bi_logins LIMIT 1",
        "SELECT 1 FROM tenant_bitest_a.quarantine LIMIT 1",
        "SELECT 1 FROM tenant_bitest_a.amzn_stream_campaigns LIMIT 1",
        "SELECT 1 FROM control.tenants LIMIT 1",
        "SELECT 1 FROM control.api_keys LIMIT 1",
        "SELECT 1 FROM control.accounts LIMIT 1",
        "SELECT 1 FROM tenant_bitest_b.bi_performance_daily LIMIT 1",
        "SELECT 1 FROM tenant_bitest_b.campaign_daily LIMIT 1",
    ] {
        assert_eq!(refused(&mut as_one, sql).await, "42501", "{sql}");
        assert_eq!(refused(&mut as_all, sql).await, "42501", "{sql}");
    }
    // Read-only by default; and with that switched off, still no right to write anything.
    assert_eq!(strings(&mut as_all, "SHOW default_transaction_read_only").await, ["on"]);
    sqlx::query("SET default_transaction_read_only = off").execute(&mut as_all).await.unwrap();
    for sql in [
        "DELETE FROM bi_campaign_daily",
        "UPDATE bi_marketplace_time_zones SET time_zone = 'UTC'",
        "UPDATE tenant_bitest_a.marketplace_time_zones SET time_zone = 'UTC'",
        "CREATE TABLE tenant_bitest_a.mine (a int)",
        "CREATE VIEW tenant_bitest_a.mine AS SELECT 1",
        "CREATE TABLE public.mine (a int)",
        "CREATE SCHEMA mine",
    ] {
        assert_eq!(refused(&mut as_all, sql).await, "42501", "{sql}");
    }
    // A function of its own, made to run before the views' filter (as cheap as the planner
    // allows), that fails when it sees another advertiser's row: the views are security
    // barriers, so it only ever sees the login's rows.
    sqlx::query("SET default_transaction_read_only = off").execute(&mut as_one).await.unwrap();
    sqlx::query(
        "CREATE FUNCTION pg_temp.peek(a text) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS $$
         BEGIN IF a <> 'ADV1' THEN RAISE EXCEPTION 'saw %', a; END IF; RETURN true; END $$",
    )
    .execute(&mut as_one)
    .await
    .unwrap();
    for view in ["bi_campaign_daily", "bi_performance_daily", "bi_performance_hourly", "bi_budget_pacing"] {
        let peeked = number(&mut as_one, &format!("SELECT count(*)::text FROM {view} WHERE pg_temp.peek(advertiser_id)")).await;
        let plain = number(&mut as_one, &format!("SELECT count(*)::text FROM {view}")).await;
        assert_eq!(peeked, plain, "{view}");
    }

    // Listed without passwords, with their sessions; a read key may list; another tenant's
    // key sees none of them.
    let listed = api.ok("GET", path, Some(&read_a), None, 200);
    assert!(!listed.to_string().contains(password) && !listed.to_string().contains("password"), "{listed}");
    let names: Vec<(&str, i64)> = listed.as_array().unwrap().iter().map(|l| (l["name"].as_str().unwrap(), l["sessions"].as_i64().unwrap())).collect();
    assert_eq!(names, [("Metabase", 1), ("Brand One", 1)]);
    let (s, _) = api.call("GET", path, Some(&admin_b), None);
    assert_eq!(s, 404);
    let one_id = one["id"].as_str().unwrap();
    let (s, _) = api.call("DELETE", &format!("/v1/tenants/bitest_b/bi-logins/{one_id}"), Some(&admin_b), None);
    assert_eq!(s, 404, "a login of another tenant");
    let (s, _) = api.call("DELETE", &format!("{path}/{one_id}"), Some(&write_a), None);
    assert_eq!(s, 403);
    assert_eq!(strings(&mut as_one, "SELECT 'still here'").await, ["still here"]);

    // Deleted: its open session ends at once, and it cannot connect again.
    let (s, _) = api.call("DELETE", &format!("{path}/{one_id}"), Some(&admin_a), None);
    assert_eq!(s, 204);
    assert!(sqlx::query("SELECT 1").execute(&mut as_one).await.is_err(), "the session outlived its login");
    let again = connect(&one).await;
    assert!(again.is_err(), "a deleted login connected");
    assert_eq!(api.call("DELETE", &format!("{path}/{one_id}"), Some(&admin_a), None).0, 404);
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)").bind(user).fetch_one(&mut postgres).await.unwrap();
    assert!(!exists, "its role is still there");
    // The other login is untouched.
    assert_eq!(strings(&mut as_all, "SELECT DISTINCT advertiser_id FROM bi_campaign_daily ORDER BY 1").await, ["ADV1", "ADV2"]);
    // The role's limits are the server's settings.
    let limit: i32 = sqlx::query_scalar("SELECT rolconnlimit FROM pg_roles WHERE rolname = $1").bind(all["user"].as_str().unwrap()).fetch_one(&mut postgres).await.unwrap();
    assert_eq!(limit, 3);

    // Passwords are in their creating answers only, never in the server's log.
    let log = serve.log_text();
    assert!(!log.contains(password) && !log.contains(all["password"].as_str().unwrap()), "a password in the log");
    let all_id = all["id"].as_str().unwrap();
    assert_eq!(api.call("DELETE", &format!("{path}/{all_id}"), Some(&admin_a), None).0, 204);
    assert!(sqlx::query("SELECT 1").execute(&mut as_all).await.is_err());
    assert_eq!(api.ok("GET", path, Some(&admin_a), None, 200), json!([]));
}
