use std::path::PathBuf;

use anyhow::Context as _;
use attendance_service::{App, Config, import_roster};
use attn_runtime::{Shutdown, settings};
use clap::{Parser, Subcommand};

/// glibc kept freed memory in per-thread arenas (about 2 GiB after 2,000
/// sign-ins when argon2's buffers still came and went); mimalloc returns it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// ATTN's public API. With no command, serves.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Load users from a roster CSV (columns school_number, full_name, role,
    /// and optionally photo_url and password) into the user directory.
    ImportRoster {
        file: PathBuf,
        /// Check the file and report, without writing anything.
        #[arg(long)]
        dry_run: bool,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config: Config = settings::load()?;
    let _telemetry = attn_telemetry::init("attendance-service", config.log_format)?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let shutdown = Shutdown::on_signals();
            let app = App::build(config, shutdown).await?;
            tracing::info!(address = %app.local_addr(), "attendance-service listening");
            app.run().await
        }
        Command::ImportRoster { file, dry_run } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let archive = attn_store::Archive::connect_lazy(&config.database.store_settings())?;
            if !dry_run {
                attn_store::preflight::prepare_postgres(&archive).await?;
            }
            let summary = import_roster(&archive, &text, dry_run).await?;
            println!(
                "{} {} users ({} teachers, {} students, {} admins); {} rows rejected",
                if dry_run { "checked" } else { "imported" },
                if dry_run { (summary.teachers + summary.students + summary.admins) as u64 } else { summary.imported },
                summary.teachers,
                summary.students,
                summary.admins,
                summary.rejected
            );
            if summary.with_courses && !dry_run {
                let courses = summary.courses;
                println!(
                    "courses: {} created; enrolments: {} added, {} dropped; teaching: {} added, {} dropped",
                    courses.courses_created,
                    courses.enrolments_added,
                    courses.enrolments_dropped,
                    courses.teachings_added,
                    courses.teachings_dropped
                );
            }
            if summary.rejected > 0 {
                std::process::exit(2);
            }
            Ok(())
        }
    }
}
