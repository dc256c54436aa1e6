//! Tenant schema v7: what BI logins read (README, "BI logins").
//!
//! A BI login is a Postgres role of its own (made and dropped by `ams_store::bi_logins`). It
//! reads the `bi_` views of its tenant's schema, one over each reporting view, and nothing
//! else; `bi_logins` says which roles those views answer and, per role, which advertisers' rows
//! (none listed: all of the tenant's).
//!
//! Why this shape:
//! * A view reads its tables with its owner's rights, so granting a role SELECT on the views
//!   alone gives it the reports and none of the ledger tables, the control schema or another
//!   tenant's schema.
//! * `current_user` inside a view is the role running the query, so one set of views serves
//!   every login of the tenant with its own rows: no view per login, and nothing for a later
//!   migration to find and rebuild per login.
//! * `security_barrier`: Postgres applies the view's own condition before any condition of the
//!   caller's. Without it, a login could hand the planner a cheap function of its own (a
//!   temporary function needs no grant) that sees, and reports, rows the view would filter out.
//! * In the tenant's schema, not a schema of their own: a view elsewhere over the tenant's
//!   views would tie the tenant schema to another one, which Citus's schema-based sharding
//!   refuses (docs/scaling.md; tests/citus_rules.rs).
//!
//! A later migration that drops and recreates the reporting views must run [`objects`] again
//! afterwards (the views here depend on them, and the grants belong to these views).

/// The reporting views a BI login reads, and whether their rows carry an `advertiser_id` to
/// filter by (the time zones are the same reference table for every login).
const VIEWS: [(&str, bool); 5] = [
    ("performance_hourly", true),
    ("performance_daily", true),
    ("campaign_daily", true),
    ("budget_pacing", true),
    ("marketplace_time_zones", false),
];

/// The views a BI login reads: `bi_` and the reporting view's name.
pub fn view_names() -> Vec<String> {
    VIEWS.iter().map(|(v, _)| format!("bi_{v}")).collect()
}

pub fn statements(schema: &str) -> Vec<String> {
    let mut out = vec![format!(
        "CREATE TABLE IF NOT EXISTS {schema}.bi_logins (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    role_name text NOT NULL UNIQUE,
    account_ids uuid[],
    advertiser_ids text[],
    created_at timestamptz NOT NULL DEFAULT now()
)"
    )];
    out.extend(objects(schema));
    out
}

/// The `GRANT`s a BI login holds, for a role name (or a `%I` placeholder).
pub fn grants(schema: &str, role: &str) -> Vec<String> {
    let views: Vec<String> = view_names().iter().map(|v| format!("{schema}.{v}")).collect();
    vec![format!("GRANT USAGE ON SCHEMA {schema} TO {role}"), format!("GRANT SELECT ON {} TO {role}", views.join(", "))]
}

/// The BI views and every existing login's grants on them. May run again.
pub fn objects(schema: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (view, filtered) in VIEWS {
        let login = format!("SELECT 1 FROM {schema}.bi_logins l WHERE l.role_name = current_user");
        let condition = if filtered {
            format!("EXISTS ({login} AND (l.advertiser_ids IS NULL OR v.advertiser_id = ANY (l.advertiser_ids)))")
        } else {
            format!("EXISTS ({login})")
        };
        out.push(format!(
            "CREATE OR REPLACE VIEW {schema}.bi_{view} WITH (security_barrier) AS SELECT v.* FROM {schema}.{view} v WHERE {condition}"
        ));
    }
    // Views made again lose nothing (CREATE OR REPLACE keeps grants), but a dropped and remade
    // view does: grant every login again. A role dropped by hand is skipped.
    let grant: Vec<String> = grants(schema, "%I").into_iter().map(|g| format!("EXECUTE format('{g}', r);")).collect();
    out.push(format!(
        "DO $grant$ DECLARE r text; BEGIN
           FOR r IN SELECT l.role_name FROM {schema}.bi_logins l JOIN pg_roles p ON p.rolname = l.role_name LOOP
             {}
           END LOOP;
         END $grant$",
        grant.join("\n             ")
    ));
    out
}
