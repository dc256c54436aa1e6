//! Tenant schema v4: the reporting layer, what BI tools and the reporting API read (README,
//! "Reporting views"):
//!
//! * `marketplace_time_zones`: each marketplace's code, IANA time zone (the one Amazon's console
//!   reports in) and currency, seeded from `ams_model::MARKETPLACES` (editable per tenant);
//! * `performance_facts`: every traffic and conversion rollup row of the three products, with
//!   its local hour (one of each per key and hour; what reports aggregate);
//! * `campaign_daily`: campaign sums per local day, kept by triggers (below);
//! * `performance_base`: Sponsored Products, Brands and Display traffic and conversions unified
//!   by hour (UTC and the marketplace's local hour), one row per (product, marketplace,
//!   advertiser, campaign, ad group, ad, target, placement, currency, hour), no names: the cheap
//!   one to aggregate;
//! * `performance_hourly` and `performance_daily`: the same with the derived ratios and the
//!   current names and states of campaigns, ad groups, ads and targets;
//! * `budget_pacing`: the latest usage of every budget scope, with its budget and when Amazon
//!   reported it.
//!
//! Every statement may run again over what it made (a schema brought back to an older version).
//!
//! Sales, orders and units are 14-day attribution for all three products (SP's console
//! default; the window the SB and SD conversion datasets document). Ratios are exact decimals
//! rounded to 4 places, null where the denominator is 0.

/// (product, traffic table, conversion table, target column, placement column)
const PRODUCTS: [(&str, &str, &str, &str, &str); 3] = [
    ("SP", "amzn_stream_sp_traffic_hourly", "amzn_stream_sp_conversion_hourly", "keyword_id", "placement"),
    ("SB", "amzn_stream_sb_traffic_hourly", "amzn_stream_sb_conversion_hourly", "keyword_id", "placement_type"),
    ("SD", "amzn_stream_sd_traffic_hourly", "amzn_stream_sd_conversion_hourly", "target_id", "NULL::text"),
];

/// The rollups `campaign_daily` sums (by trigger, in the same transaction): their days stay
/// reportable when retention drops their hours.
pub const DAILY_ROLLED_UP: [&str; 6] = [
    PRODUCTS[0].1, PRODUCTS[0].2, PRODUCTS[1].1, PRODUCTS[1].2, PRODUCTS[2].1, PRODUCTS[2].2,
];

/// The derived ratios of a row (or a group) with these metric expressions.
pub fn ratios(impressions: &str, clicks: &str, cost: &str, orders: &str, sales: &str) -> String {
    format!(
        "round({clicks}::numeric / nullif({impressions}, 0), 4) AS ctr,
         round({cost} / nullif({clicks}, 0), 4) AS cpc,
         round({orders}::numeric / nullif({clicks}, 0), 4) AS cvr,
         round({cost} / nullif({sales}, 0), 4) AS acos,
         round({sales} / nullif({cost}, 0), 4) AS roas"
    )
}

/// (target column, expression over a rollup row) per product's traffic and conversion tables.
const TRAFFIC: [(&str, &str); 3] = [("impressions", "impressions"), ("clicks", "clicks"), ("cost", "cost")];
const CONVERSION: [(&str, &str); 3] =
    [("orders", "attributed_conversions_14d"), ("units", "attributed_units_ordered_14d"), ("sales", "attributed_sales_14d")];

/// `campaign_daily`: sums per (product, marketplace, advertiser, campaign, currency, local day),
/// kept in the same transaction as the hourly rollups by statement-level triggers on them
/// (transition tables: one set-based upsert per statement, whatever its size; an update adds
/// the new values and takes the old away). Reports by day or in total at campaign grain read it
/// instead of the hourly rows (docs/performance.md, "Reports"). Statements run in key order so
/// two writers lock rows in the same order. A marketplace's time zone changed in
/// `marketplace_time_zones` re-buckets only what arrives after: run the last statement of this
/// function again (truncate and fill) to re-bucket the past.
fn campaign_daily(schema: &str, fill: bool) -> Vec<String> {
    let mut out = vec![format!(
        "CREATE TABLE IF NOT EXISTS {schema}.campaign_daily (
    product text NOT NULL,
    marketplace_id text NOT NULL,
    advertiser_id text NOT NULL,
    campaign_id text NOT NULL,
    currency text NOT NULL,
    date_local date NOT NULL,
    impressions bigint NOT NULL DEFAULT 0,
    clicks bigint NOT NULL DEFAULT 0,
    cost numeric NOT NULL DEFAULT 0,
    orders bigint NOT NULL DEFAULT 0,
    units bigint NOT NULL DEFAULT 0,
    sales numeric NOT NULL DEFAULT 0,
    PRIMARY KEY (date_local, campaign_id, product, marketplace_id, advertiser_id, currency)
)"
    )];
    let upsert = |product: &str, metrics: &[(&str, &str)], from: &str| {
        let targets: Vec<&str> = metrics.iter().map(|(t, _)| *t).collect();
        let sums: Vec<String> = metrics.iter().map(|(_, e)| format!("sum(r.sign * r.{e})")).collect();
        let adds: Vec<String> = targets.iter().map(|t| format!("{t} = d.{t} + excluded.{t}")).collect();
        format!(
            "INSERT INTO {schema}.campaign_daily AS d (product, marketplace_id, advertiser_id, campaign_id, currency, date_local, {targets})
             SELECT '{product}', r.marketplace_id, r.advertiser_id, r.campaign_id, coalesce(r.currency, ''),
                    (r.time_window_start AT TIME ZONE coalesce(z.time_zone, 'UTC'))::date, {sums}
             FROM ({from}) r LEFT JOIN {schema}.marketplace_time_zones z ON z.marketplace_id = r.marketplace_id
             GROUP BY 2, 3, 4, 5, 6
             ORDER BY 6, 4, 2, 3, 5
             ON CONFLICT (date_local, campaign_id, product, marketplace_id, advertiser_id, currency) DO UPDATE SET {adds}",
            targets = targets.join(", "),
            sums = sums.join(", "),
            adds = adds.join(", ")
        )
    };
    let mut refill = vec![format!("TRUNCATE {schema}.campaign_daily")];
    for (product, traffic, conversion, _, _) in PRODUCTS {
        for (table, metrics) in [(traffic, &TRAFFIC), (conversion, &CONVERSION)] {
            for (event, from) in [
                ("insert", "SELECT n.*, 1 AS sign FROM new_rows n".to_owned()),
                ("update", "SELECT n.*, 1 AS sign FROM new_rows n UNION ALL SELECT o.*, -1 FROM old_rows o".to_owned()),
            ] {
                let name = format!("{table}_daily_{event}");
                out.push(format!(
                    "CREATE OR REPLACE FUNCTION {schema}.{name}() RETURNS trigger LANGUAGE plpgsql AS $f$
                     BEGIN
                         {};
                         RETURN NULL;
                     END $f$",
                    upsert(product, metrics, &from)
                ));
                let referencing = if event == "insert" { "NEW TABLE AS new_rows" } else { "OLD TABLE AS old_rows NEW TABLE AS new_rows" };
                out.push(format!("DROP TRIGGER IF EXISTS {name} ON {schema}.{table}"));
                out.push(format!(
                    "CREATE TRIGGER {name} AFTER {} ON {schema}.{table} REFERENCING {referencing}
                     FOR EACH STATEMENT EXECUTE FUNCTION {schema}.{name}()",
                    event.to_uppercase()
                ));
            }
            refill.push(upsert(product, metrics, &format!("SELECT t.*, 1 AS sign FROM {schema}.{table} t")));
        }
    }
    if fill {
        out.extend(refill);
    }
    out
}

/// v004: the reporting layer, `campaign_daily` filled from the rollups.
pub fn statements(schema: &str) -> Vec<String> {
    objects(schema, true)
}

/// The reporting layer's tables, indexes, views and triggers; with `fill`, `campaign_daily`
/// truncated and summed again from the rollups.
pub fn objects(schema: &str, fill: bool) -> Vec<String> {
    let mut out = Vec::new();
    out.push(format!(
        "CREATE TABLE IF NOT EXISTS {schema}.marketplace_time_zones (
    marketplace_id text PRIMARY KEY,
    code text NOT NULL,
    time_zone text NOT NULL,
    currency text NOT NULL
)"
    ));
    let rows: Vec<String> = ams_model::MARKETPLACES
        .iter()
        .map(|m| format!("('{}', '{}', '{}', '{}')", m.marketplace_id, m.code, m.time_zone, m.currency))
        .collect();
    out.push(format!("INSERT INTO {schema}.marketplace_time_zones VALUES {} ON CONFLICT DO NOTHING", rows.join(", ")));
    // Reports filter on the hour (the rollups' BRIN index) and on a campaign's hours (this one).
    for (_, traffic, conversion, _, _) in PRODUCTS {
        for table in [traffic, conversion] {
            out.push(format!("CREATE INDEX IF NOT EXISTS {table}_campaign_hour ON {schema}.{table} (campaign_id, time_window_start)"));
        }
    }
    let mut facts = Vec::new();
    for (product, traffic, conversion, target, placement) in PRODUCTS {
        facts.push(format!(
            "SELECT '{product}'::text AS product, marketplace_id, advertiser_id, campaign_id, ad_group_id, ad_id,
                    {target} AS target_id, {placement} AS placement, currency, time_window_start,
                    impressions, clicks, cost, 0::bigint AS orders, 0::bigint AS units, 0::numeric AS sales
             FROM {schema}.{traffic}"
        ));
        facts.push(format!(
            "SELECT '{product}', marketplace_id, advertiser_id, campaign_id, ad_group_id, ad_id, {target}, {placement}, currency,
                    time_window_start, 0, 0, 0, attributed_conversions_14d, attributed_units_ordered_14d, attributed_sales_14d
             FROM {schema}.{conversion}"
        ));
    }
    out.push(format!(
        "CREATE OR REPLACE VIEW {schema}.performance_facts AS
         SELECT f.*, f.time_window_start AS hour_utc, (f.time_window_start AT TIME ZONE coalesce(z.time_zone, 'UTC')) AS hour_local
         FROM ({facts}) f
         LEFT JOIN {schema}.marketplace_time_zones z ON z.marketplace_id = f.marketplace_id",
        facts = facts.join(" UNION ALL ")
    ));
    out.push(format!(
        "CREATE OR REPLACE VIEW {schema}.performance_base AS
         SELECT product, marketplace_id, advertiser_id, campaign_id, ad_group_id, ad_id, target_id, placement, currency,
                hour_utc, hour_local,
                sum(impressions)::bigint AS impressions, sum(clicks)::bigint AS clicks, sum(cost) AS cost,
                sum(orders)::bigint AS orders, sum(units)::bigint AS units, sum(sales) AS sales
         FROM {schema}.performance_facts
         GROUP BY product, marketplace_id, advertiser_id, campaign_id, ad_group_id, ad_id, target_id, placement, currency,
                  hour_utc, hour_local"
    ));
    out.extend(campaign_daily(schema, fill));
    let names = format!(
        "LEFT JOIN {schema}.marketplace_time_zones z ON z.marketplace_id = b.marketplace_id
         LEFT JOIN {schema}.amzn_stream_campaigns c ON c.marketplace_id = b.marketplace_id AND c.campaign_id = b.campaign_id
         LEFT JOIN {schema}.amzn_stream_adgroups g ON g.marketplace_id = b.marketplace_id AND g.ad_group_id = b.ad_group_id
         LEFT JOIN {schema}.amzn_stream_ads a ON a.marketplace_id = b.marketplace_id AND a.ad_id = b.ad_id
         LEFT JOIN {schema}.amzn_stream_targets t ON t.marketplace_id = b.marketplace_id AND t.target_id = b.target_id"
    );
    let named = "z.code AS marketplace, z.time_zone, b.advertiser_id, b.campaign_id, c.name AS campaign_name, c.state AS campaign_state,
                 b.ad_group_id, g.name AS ad_group_name, g.state AS ad_group_state, b.ad_id, a.name AS ad_name, a.state AS ad_state,
                 b.target_id, coalesce(t.keyword, t.targeting_clause) AS target_text, t.state AS target_state, b.placement, b.currency";
    out.push(format!(
        "CREATE OR REPLACE VIEW {schema}.performance_hourly AS
         SELECT b.product, b.marketplace_id, {named}, b.hour_utc, b.hour_local,
                b.impressions, b.clicks, b.cost, b.orders, b.units, b.sales,
                {ratios}
         FROM {schema}.performance_base b {names}",
        ratios = ratios("b.impressions", "b.clicks", "b.cost", "b.orders", "b.sales")
    ));
    out.push(format!(
        "CREATE OR REPLACE VIEW {schema}.performance_daily AS
         SELECT b.product, b.marketplace_id, {named}, b.date_local,
                b.impressions, b.clicks, b.cost, b.orders, b.units, b.sales,
                {ratios}
         FROM (SELECT product, marketplace_id, advertiser_id, campaign_id, ad_group_id, ad_id, target_id, placement, currency,
                      hour_local::date AS date_local, sum(impressions)::bigint AS impressions, sum(clicks)::bigint AS clicks,
                      sum(cost) AS cost, sum(orders)::bigint AS orders, sum(units)::bigint AS units, sum(sales) AS sales
               FROM {schema}.performance_base
               GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10) b {names}",
        ratios = ratios("b.impressions", "b.clicks", "b.cost", "b.orders", "b.sales")
    ));
    out.push(format!(
        "CREATE OR REPLACE VIEW {schema}.budget_pacing AS
         SELECT u.advertiser_id, u.marketplace_id, z.code AS marketplace, u.budget_scope_type, u.budget_scope_id,
                c.name AS campaign_name, c.state AS campaign_state, u.advertising_product_type, u.budget,
                u.budget_usage_percentage, round(u.budget * u.budget_usage_percentage / 100, 2) AS spent_estimate,
                coalesce(c.budget_currency_code, z.currency) AS currency,
                u.usage_updated_at, (u.usage_updated_at AT TIME ZONE coalesce(z.time_zone, 'UTC')) AS usage_updated_local
         FROM {schema}.amzn_stream_budget_usage_current u
         LEFT JOIN {schema}.marketplace_time_zones z ON z.marketplace_id = u.marketplace_id
         LEFT JOIN {schema}.amzn_stream_campaigns c
                ON u.budget_scope_type = 'CAMPAIGN' AND c.marketplace_id = u.marketplace_id AND c.campaign_id = u.budget_scope_id"
    ));
    out
}
