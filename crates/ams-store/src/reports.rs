//! Reports over a tenant's reporting views (tenant schema v4, `migrations/src/tenant/reporting.rs`):
//! performance by hour, day or in total, grouped by any of the dimensions, filtered, sorted;
//! and budget pacing.
//!
//! The SQL is built from whitelisted identifiers only ([`Dimension`], [`Metric`]); every value is
//! bound. Sums never mix currencies: the currency is always part of the group. Aggregation runs
//! once, over `campaign_daily` (whole local days at campaign grain or coarser) or over
//! `performance_facts` (the rollup rows); names are joined to the groups afterwards.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Value};
use sqlx::Row;

use crate::{Store, StoreError, TenantSchema};

/// The most rows a budget pacing report returns (the most used budgets first).
pub const BUDGET_ROWS: i64 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    Hour,
    Day,
    Total,
}

impl Granularity {
    pub const NAMES: [&'static str; 3] = ["hour", "day", "total"];
    pub fn parse(s: &str) -> Option<Granularity> {
        match s {
            "hour" => Some(Granularity::Hour),
            "day" => Some(Granularity::Day),
            "total" => Some(Granularity::Total),
            _ => None,
        }
    }
}

/// What a report can be grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dimension {
    Account,
    Marketplace,
    Product,
    Campaign,
    AdGroup,
    Ad,
    Target,
    Placement,
}

impl Dimension {
    pub const ALL: [Dimension; 8] = [
        Dimension::Account,
        Dimension::Marketplace,
        Dimension::Product,
        Dimension::Campaign,
        Dimension::AdGroup,
        Dimension::Ad,
        Dimension::Target,
        Dimension::Placement,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Dimension::Account => "account",
            Dimension::Marketplace => "marketplace",
            Dimension::Product => "product",
            Dimension::Campaign => "campaign",
            Dimension::AdGroup => "ad_group",
            Dimension::Ad => "ad",
            Dimension::Target => "target",
            Dimension::Placement => "placement",
        }
    }
    pub fn parse(s: &str) -> Option<Dimension> {
        Dimension::ALL.into_iter().find(|d| d.name() == s)
    }
    /// The `performance_base` column.
    fn column(self) -> &'static str {
        match self {
            Dimension::Account => "advertiser_id",
            Dimension::Marketplace => "marketplace_id",
            Dimension::Product => "product",
            Dimension::Campaign => "campaign_id",
            Dimension::AdGroup => "ad_group_id",
            Dimension::Ad => "ad_id",
            Dimension::Target => "target_id",
            Dimension::Placement => "placement",
        }
    }
}

/// The current names of a dimension's entity, joined to its groups: (entity table, id column,
/// [(expression, output column)]). Ids are unique across marketplaces, the newest version wins.
fn entity_names(d: Dimension) -> Option<(&'static str, &'static str, &'static [(&'static str, &'static str)])> {
    match d {
        Dimension::Campaign => Some(("amzn_stream_campaigns", "campaign_id", &[("name", "campaign_name"), ("state", "campaign_state")])),
        Dimension::AdGroup => Some(("amzn_stream_adgroups", "ad_group_id", &[("name", "ad_group_name")])),
        Dimension::Ad => Some(("amzn_stream_ads", "ad_id", &[("name", "ad_name")])),
        Dimension::Target => Some(("amzn_stream_targets", "target_id", &[("coalesce(keyword, targeting_clause)", "target_text")])),
        _ => None,
    }
}

/// The metrics of every row: sums, then ratios.
pub const METRICS: [&str; 11] = ["impressions", "clicks", "cost", "orders", "units", "sales", "ctr", "cpc", "cvr", "acos", "roas"];

/// The time range: local dates (in each marketplace's time zone, both ends included) or UTC
/// instants (`[from, to)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    Dates(NaiveDate, NaiveDate),
    Instants(DateTime<Utc>, DateTime<Utc>),
}

#[derive(Debug, Clone)]
pub struct PerformanceQuery {
    pub range: Range,
    pub granularity: Granularity,
    pub group_by: Vec<Dimension>,
    /// Amazon advertiser ids.
    pub advertisers: Option<Vec<String>>,
    /// Amazon marketplace ids.
    pub marketplace_id: Option<String>,
    pub product: Option<String>,
    pub campaign_id: Option<String>,
    /// A column of the result (`cost`, `campaign`, `date`…), descending when true.
    pub sort: Option<(String, bool)>,
    pub limit: i64,
}

/// The result's columns, in order, and its rows (as JSON objects with the same keys).
#[derive(Debug, Clone)]
pub struct Report {
    pub columns: Vec<String>,
    pub rows: Vec<Map<String, Value>>,
}

/// Column kinds, for reading a row.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Big,
    Money,
    Instant,
    Local,
    Date,
}

fn decimal(d: Option<Decimal>) -> Value {
    // Exact: decimals travel as strings ("12.34"), never as binary floats.
    d.map_or(Value::Null, |d| Value::String(d.normalize().to_string()))
}

fn read(row: &sqlx::postgres::PgRow, columns: &[(String, Kind)]) -> Result<Map<String, Value>, sqlx::Error> {
    let mut out = Map::new();
    for (name, kind) in columns {
        let n = name.as_str();
        let v = match kind {
            Kind::Text => row.try_get::<Option<String>, _>(n)?.map_or(Value::Null, Value::String),
            Kind::Big => row.try_get::<Option<i64>, _>(n)?.map_or(Value::Null, |v| Value::from(v)),
            Kind::Money => decimal(row.try_get::<Option<Decimal>, _>(n)?),
            Kind::Instant => row.try_get::<Option<DateTime<Utc>>, _>(n)?.map_or(Value::Null, |t| Value::String(t.to_rfc3339())),
            Kind::Local => row
                .try_get::<Option<NaiveDateTime>, _>(n)?
                .map_or(Value::Null, |t| Value::String(t.format("%Y-%m-%dT%H:%M:%S").to_string())),
            Kind::Date => row.try_get::<Option<NaiveDate>, _>(n)?.map_or(Value::Null, |d| Value::String(d.to_string())),
        };
        out.insert(name.clone(), v);
    }
    Ok(out)
}

impl Store {
    /// A performance report of one tenant.
    pub async fn performance(&self, schema: &TenantSchema, q: &PerformanceQuery) -> Result<Report, StoreError> {
        let s = schema.name();
        let mut columns: Vec<(String, Kind)> = Vec::new();
        let mut group: Vec<String> = Vec::new();
        let mut select: Vec<String> = Vec::new();
        let mut dims = q.group_by.clone();
        dims.sort();
        dims.dedup();
        // Whole local days at campaign grain (or coarser): the daily sums the triggers keep,
        // thirty rows per campaign a month instead of 720 hourly ones of each table.
        let daily = matches!(q.range, Range::Dates(..))
            && q.granularity != Granularity::Hour
            && dims.iter().all(|d| matches!(d, Dimension::Account | Dimension::Marketplace | Dimension::Product | Dimension::Campaign));
        match q.granularity {
            Granularity::Hour => {
                select.push("b.hour_utc".into());
                select.push("b.hour_local".into());
                group.extend(["b.hour_utc".to_owned(), "b.hour_local".to_owned()]);
                columns.push(("hour_utc".into(), Kind::Instant));
                columns.push(("hour_local".into(), Kind::Local));
            }
            Granularity::Day => {
                let day = if daily { "b.date_local" } else { "b.hour_local::date" };
                select.push(format!("{day} AS date"));
                group.push(day.into());
                columns.push(("date".into(), Kind::Date));
            }
            Granularity::Total => {}
        }
        for d in &dims {
            select.push(format!("b.{} AS {}", d.column(), d.column()));
            group.push(format!("b.{}", d.column()));
        }
        let currency = if daily { "nullif(b.currency, '')" } else { "b.currency" };
        select.push(format!("{currency} AS currency"));
        group.push(currency.into());
        // The names of what is grouped, joined to the groups (not to the hourly rows).
        let mut joins = String::new();
        let mut named: Vec<String> = Vec::new();
        for d in &dims {
            columns.push((d.column().into(), Kind::Text));
            match d {
                Dimension::Marketplace => {
                    joins.push_str(&format!(" LEFT JOIN {s}.marketplace_time_zones z ON z.marketplace_id = g.marketplace_id"));
                    named.push("z.code AS marketplace".into());
                    columns.push(("marketplace".into(), Kind::Text));
                }
                d => {
                    if let Some((table, id, names)) = entity_names(*d) {
                        let picked: Vec<String> = names.iter().map(|(expr, col)| format!("{expr} AS {col}")).collect();
                        joins.push_str(&format!(
                            " LEFT JOIN LATERAL (SELECT {} FROM {s}.{table} e WHERE e.{id} = g.{id}
                               ORDER BY e.version DESC LIMIT 1) n_{id} ON true",
                            picked.join(", ")
                        ));
                        for (_, col) in names {
                            named.push(format!("n_{id}.{col}"));
                            columns.push(((*col).into(), Kind::Text));
                        }
                    }
                }
            }
        }
        columns.push(("currency".into(), Kind::Text));
        for m in ["impressions", "clicks"] {
            columns.push((m.into(), Kind::Big));
        }
        columns.push(("cost".into(), Kind::Money));
        for m in ["orders", "units"] {
            columns.push((m.into(), Kind::Big));
        }
        for m in ["sales", "ctr", "cpc", "cvr", "acos", "roas"] {
            columns.push((m.into(), Kind::Money));
        }
        // UTC bounds always (they use the hour indexes); local dates are widened by the widest
        // offsets (−12 h … +14 h) and then cut exactly on the local hour.
        let (utc_from, utc_to, local): (DateTime<Utc>, DateTime<Utc>, Option<(NaiveDateTime, NaiveDateTime)>) = match q.range {
            Range::Instants(a, b) => (a, b, None),
            Range::Dates(a, b) => {
                let from = a.and_hms_opt(0, 0, 0).expect("midnight");
                let to = (b + chrono::Duration::days(1)).and_hms_opt(0, 0, 0).expect("midnight");
                (
                    from.and_utc() - chrono::Duration::hours(14),
                    to.and_utc() + chrono::Duration::hours(12),
                    Some((from, to)),
                )
            }
        };
        let order = match &q.sort {
            Some((col, desc)) => {
                // Only a column of the result (the API says which): never spliced otherwise.
                if !columns.iter().any(|(c, _)| c == col) {
                    return Err(StoreError::Invalid(format!(
                        "cannot sort by {col:?}; the columns are {}",
                        columns.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>().join(", ")
                    )));
                }
                format!("\"{col}\" {} NULLS LAST", if *desc { "DESC" } else { "ASC" })
            }
            None => {
                let mut keys: Vec<&str> = columns.iter().map(|(c, _)| c.as_str()).filter(|c| matches!(*c, "hour_utc" | "date")).collect();
                keys.extend(dims.iter().map(|d| d.column()));
                keys.push("currency");
                keys.join(", ")
            }
        };
        let sql = format!(
            "WITH g AS (
                 SELECT {select},
                        sum(b.impressions)::bigint AS impressions, sum(b.clicks)::bigint AS clicks, sum(b.cost) AS cost,
                        sum(b.orders)::bigint AS orders, sum(b.units)::bigint AS units, sum(b.sales) AS sales
                 FROM {source}
                 WHERE {range}
                   AND ($5::text[] IS NULL OR b.advertiser_id = ANY($5))
                   AND ($6::text IS NULL OR b.marketplace_id = $6)
                   AND ($7::text IS NULL OR b.product = $7)
                   AND ($8::text IS NULL OR b.campaign_id = $8)
                 GROUP BY {group})
             SELECT g.*{named}, {ratios}
             FROM g{joins}
             ORDER BY {order}
             LIMIT $9",
            select = select.join(", "),
            group = group.join(", "),
            source = if daily { format!("{s}.campaign_daily b") } else { format!("{s}.performance_facts b") },
            range = if daily {
                "b.date_local >= $3::timestamp::date AND b.date_local < $4::timestamp::date AND $1::timestamptz IS NOT NULL AND $2::timestamptz IS NOT NULL"
            } else {
                "b.hour_utc >= $1 AND b.hour_utc < $2
                 AND ($3::timestamp IS NULL OR b.hour_local >= $3) AND ($4::timestamp IS NULL OR b.hour_local < $4)"
            },
            named = named.iter().map(|n| format!(", {n}")).collect::<String>(),
            ratios = migration::tenant::reporting::ratios("g.impressions", "g.clicks", "g.cost", "g.orders", "g.sales"),
        );
        // A month of 20,000 campaigns is 600,000 campaign-days to sum into 20,000 groups:
        // with the default 4 MB of work_mem Postgres sorts them on disk to group them, and
        // JIT-compiles the plan (1.5 s); hashed in memory, 0.4 s (docs/performance.md, Ledger
        // at scale). Both settings end with the transaction; reports per tenant are limited, so
        // the memory is bounded.
        let mut tx = self.pool().begin().await?;
        sqlx::query("SELECT set_config('work_mem', '32MB', true), set_config('jit', 'off', true)").execute(&mut *tx).await?;
        let rows = sqlx::query(&sql)
            .bind(utc_from)
            .bind(utc_to)
            .bind(local.map(|l| l.0))
            .bind(local.map(|l| l.1))
            .bind(q.advertisers.as_deref())
            .bind(q.marketplace_id.as_deref())
            .bind(q.product.as_deref())
            .bind(q.campaign_id.as_deref())
            .bind(q.limit)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        let out = rows.iter().map(|r| read(r, &columns)).collect::<Result<Vec<_>, _>>()?;
        Ok(Report { columns: columns.into_iter().map(|(c, _)| c).collect(), rows: out })
    }

    /// The latest local day with performance data under a query's filters (its range and
    /// grouping aside): where an empty range can point the reader. `None`: no data at all.
    /// The newest day is the end of `campaign_daily`'s key: Postgres reads the index from its
    /// end until a row matches the filters.
    pub async fn latest_performance_day(&self, schema: &TenantSchema, q: &PerformanceQuery) -> Result<Option<NaiveDate>, StoreError> {
        Ok(sqlx::query_scalar(&format!(
            "SELECT max(date_local) FROM {}.campaign_daily
             WHERE ($1::text[] IS NULL OR advertiser_id = ANY ($1)) AND ($2::text IS NULL OR marketplace_id = $2)
               AND ($3::text IS NULL OR product = $3) AND ($4::text IS NULL OR campaign_id = $4)",
            schema.name()
        ))
        .bind(&q.advertisers)
        .bind(&q.marketplace_id)
        .bind(&q.product)
        .bind(&q.campaign_id)
        .fetch_one(self.pool())
        .await?)
    }

    /// Budget pacing: the latest usage of every budget scope.
    /// Budgets' latest usage, most used first: at most [`BUDGET_ROWS`] rows.
    pub async fn budget_pacing(
        &self,
        schema: &TenantSchema,
        advertisers: Option<&[String]>,
        marketplace_id: Option<&str>,
    ) -> Result<Report, StoreError> {
        let s = schema.name();
        let columns: Vec<(String, Kind)> = vec![
            ("advertiser_id".into(), Kind::Text),
            ("marketplace_id".into(), Kind::Text),
            ("marketplace".into(), Kind::Text),
            ("budget_scope_type".into(), Kind::Text),
            ("budget_scope_id".into(), Kind::Text),
            ("campaign_name".into(), Kind::Text),
            ("campaign_state".into(), Kind::Text),
            ("advertising_product_type".into(), Kind::Text),
            ("budget".into(), Kind::Money),
            ("budget_usage_percentage".into(), Kind::Money),
            ("spent_estimate".into(), Kind::Money),
            ("currency".into(), Kind::Text),
            ("usage_updated_at".into(), Kind::Instant),
            ("usage_updated_local".into(), Kind::Local),
        ];
        let rows = sqlx::query(&format!(
            "SELECT * FROM {s}.budget_pacing
             WHERE ($1::text[] IS NULL OR advertiser_id = ANY($1)) AND ($2::text IS NULL OR marketplace_id = $2)
             ORDER BY budget_usage_percentage DESC NULLS LAST, budget_scope_id
             LIMIT {BUDGET_ROWS}"
        ))
        .bind(advertisers)
        .bind(marketplace_id)
        .fetch_all(self.pool())
        .await?;
        let out = rows.iter().map(|r| read(r, &columns)).collect::<Result<Vec<_>, _>>()?;
        Ok(Report { columns: columns.into_iter().map(|(c, _)| c).collect(), rows: out })
    }
}
