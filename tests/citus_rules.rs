//! The rules Citus's schema-based sharding imposes on a distributed schema, checked on the real
//! schema without Citus (docs/scaling.md). Each tenant schema must be movable to a worker on its
//! own: nothing in it may depend on another schema, and nothing outside it (the control plane,
//! another tenant) may depend on it.

use ams_tests::{tenant, TestDb};

/// (kind, object, depends on) for every dependency between a tenant schema's objects and
/// objects of another schema (system schemas aside), in either direction: foreign keys, views
/// and their rules, sequences owned by columns, functions, types.
async fn crossings(pool: &sqlx::PgPool) -> Vec<(String, String, String)> {
    sqlx::query_as(
        r#"
        WITH objects AS (
            -- every object pg_depend can name, with its schema
            SELECT 'pg_class'::regclass AS classid, c.oid AS objid, n.nspname AS schema, c.relname::text AS name
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            UNION ALL
            SELECT 'pg_proc'::regclass, p.oid, n.nspname, p.proname::text
              FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            UNION ALL
            SELECT 'pg_type'::regclass, t.oid, n.nspname, t.typname::text
              FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
            UNION ALL
            -- a view's rule stands for the view
            SELECT 'pg_rewrite'::regclass, r.oid, n.nspname, c.relname::text
              FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class JOIN pg_namespace n ON n.oid = c.relnamespace
            UNION ALL
            SELECT 'pg_constraint'::regclass, k.oid, n.nspname, k.conname::text
              FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace
        )
        SELECT d.deptype::text AS kind, o.schema || '.' || o.name AS object, r.schema || '.' || r.name AS depends_on
          FROM pg_depend d
          JOIN objects o ON o.classid = d.classid AND o.objid = d.objid
          JOIN objects r ON r.classid = d.refclassid AND r.objid = d.refobjid
         WHERE o.schema <> r.schema
           AND (o.schema LIKE 'tenant\_%' OR r.schema LIKE 'tenant\_%')
           -- the system's own schemas (the catalog, TOAST) go wherever their table goes
           AND o.schema NOT LIKE 'pg\_%' AND o.schema <> 'information_schema'
           AND r.schema NOT LIKE 'pg\_%' AND r.schema <> 'information_schema'
         ORDER BY 2, 3
        "#,
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_tenant_schema_depends_on_nothing_outside_itself_and_nothing_depends_on_it() {
    let db = TestDb::new();
    let store = db.store().await;
    // Two tenants, every tenant migration applied: views, rollups, functions and all.
    let a = tenant(&store, "citus_a").await;
    let b = tenant(&store, "citus_b").await;
    let pool = store.pool();

    let found = crossings(pool).await;
    assert!(found.is_empty(), "dependencies across a tenant schema's boundary: {found:#?}");

    // The check sees what it must: an object of one tenant that reads another's is found.
    sqlx::query(&format!("CREATE VIEW {}.peek AS SELECT * FROM {}.amzn_stream_sp_traffic", a.name(), b.name()))
        .execute(pool)
        .await
        .unwrap();
    let found = crossings(pool).await;
    assert!(
        found.iter().any(|(_, object, on)| object == &format!("{}.peek", a.name()) && on.starts_with(&format!("{}.", b.name()))),
        "a view across tenants went unseen: {found:#?}"
    );
    sqlx::query(&format!("DROP VIEW {}.peek", a.name())).execute(pool).await.unwrap();

    // And so is a foreign key from a tenant table to the control plane.
    sqlx::query(&format!(
        "ALTER TABLE {}.amzn_stream_sp_traffic ADD CONSTRAINT to_control FOREIGN KEY (hub_account_id) REFERENCES control.accounts(id)",
        a.name()
    ))
    .execute(pool)
    .await
    .unwrap();
    let found = crossings(pool).await;
    assert!(found.iter().any(|(_, object, on)| object.ends_with(".to_control") && on.starts_with("control.")), "{found:#?}");
}

#[tokio::test]
async fn tenant_schemas_hold_no_object_named_by_another_schema_in_their_definitions() {
    // Views and functions are checked by dependency above; a function body is not (Postgres
    // records no dependencies for PL/pgSQL text), so its source must not name another schema.
    let db = TestDb::new();
    let store = db.store().await;
    let a = tenant(&store, "citus_fn").await;
    let bodies: Vec<(String, String)> = sqlx::query_as(
        "SELECT p.proname::text, p.prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1",
    )
    .bind(a.name())
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert!(!bodies.is_empty(), "the reporting layer's trigger functions live in the tenant schema");
    for (name, src) in &bodies {
        let lower = src.to_lowercase().replace(a.name(), "<own schema>");
        assert!(!lower.contains("control."), "{name} names the control schema: {src}");
        assert!(!lower.contains("tenant_"), "{name} names a tenant schema: {src}");
    }
}
