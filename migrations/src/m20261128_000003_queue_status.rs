//! What the status API shows per queue beyond the consumer counters: records committed per
//! dataset, and the queue's approximate backlog as SQS last reported it (polled by the
//! consumer with GetQueueAttributes).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
ALTER TABLE consumer_states
    ADD COLUMN records_committed      jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN approximate_visible    bigint,
    ADD COLUMN approximate_in_flight  bigint,
    ADD COLUMN approximate_updated_at timestamptz;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(UP).await.map(|_| ())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "ALTER TABLE consumer_states DROP COLUMN IF EXISTS records_committed,
                 DROP COLUMN IF EXISTS approximate_visible, DROP COLUMN IF EXISTS approximate_in_flight,
                 DROP COLUMN IF EXISTS approximate_updated_at;",
            )
            .await
            .map(|_| ())
    }
}
