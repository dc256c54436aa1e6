//! Command-line interface. Every flag's doc comment is its `--help` text.

use std::path::PathBuf;

use ams_store::DEFAULT_DATABASE_URL;
use clap::{Args, Parser, Subcommand, ValueEnum};
use uuid::Uuid;

#[derive(Parser, Debug)]
#[command(name = "ams-hub", version, about = "Amazon Marketing Stream into Postgres, exactly.")]
pub struct Cli {
    /// Postgres URL; the database is created if it does not exist.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, hide_env_values = true, global = true)]
    pub database_url: String,

    /// Log format on stderr (`RUST_LOG` sets the level, default info).
    #[arg(long, env = "AMS_HUB_LOG_FORMAT", value_enum, default_value = "text", global = true)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Apply control-plane migrations and bring every tenant schema up to date.
    Migrate,
    /// Print the admin API's OpenAPI document (YAML), as checked in at `openapi.yaml`.
    Openapi,
    /// Run the runtime and the admin API: consume every registered queue into the tenants'
    /// ledgers.
    Serve {
        /// TOML file with `[runtime]` and `[api]` tables (see README); `AMS_HUB_*` variables override it.
        #[arg(long, env = "AMS_HUB_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Manage tenants.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Re-seal every stored secret (refresh tokens, client secrets, external ids) with the key
    /// in AMS_HUB_SECRET_KEY, opening old ones with the keys in AMS_HUB_SECRET_KEY_PREVIOUS (key
    /// rotation; see README). Idempotent; safe while servers run.
    RotateSecrets,
    /// Ingest files of SQS bodies or AMS records (Firehose/S3 archives, exported queues,
    /// quarantined bodies). Idempotent: ingesting the same file twice changes nothing.
    IngestFile(IngestFileArgs),
}

#[derive(Subcommand, Debug)]
pub enum TenantCommand {
    /// Create a tenant and its schema `tenant_<slug>` (idempotent).
    Create {
        /// 3–40 characters: lowercase letters, digits, `_`; starts with a letter.
        slug: String,
        /// Display name (defaults to the slug).
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(Args, Debug)]
pub struct IngestFileArgs {
    /// The tenant whose ledger receives the records.
    #[arg(long)]
    pub tenant: String,
    /// The tenant's account (control-plane id) to record as the records' source.
    #[arg(long)]
    pub account: Option<Uuid>,
    /// Records per transaction.
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub batch_size: u32,
    /// Print the summary as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Files holding JSON values one after another: one pretty-printed body, newline-delimited
    /// bodies, or concatenated records as Firehose writes them. Each value is one SQS body.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}
