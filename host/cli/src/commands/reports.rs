//! `exlogare-host reports`: the failure reports the service made, from its database.

use super::ConfigFile;
use clap::Args;
use exlogare_notify::FailureMessage;
use exlogare_service::storage::Store;
use std::process::ExitCode;

/// Lists the most recent failure reports.
///
/// One line each: when, project, pipeline, and the category and summary of the first failed
/// job; --full prints each whole message.
#[derive(Args)]
pub struct Reports {
    #[command(flatten)]
    pub config: ConfigFile,
    /// How many to list, newest first
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    /// Print each report's whole message, as the console notifier posts it
    #[arg(long)]
    pub full: bool,
}

pub fn run(args: &Reports) -> anyhow::Result<ExitCode> {
    let store = Store::open_at(&args.config.load()?.storage.location()?)?;
    let rows = store.recent_reports(args.limit)?;
    if rows.is_empty() {
        println!("no reports yet");
    }
    for (id, created, json) in rows {
        let message: FailureMessage = serde_json::from_str(&json)?;
        let when = chrono::DateTime::from_timestamp_millis(created)
            .map(|t| t.to_rfc3339())
            .unwrap_or_default();
        if args.full {
            println!(
                "── delivery #{id} at {when}\n{}",
                exlogare_notify::console::render_plain(&message, usize::MAX)
            );
        } else {
            let first = message.jobs.first();
            println!(
                "#{id} {when} {} {} {}: {}",
                message.project,
                message.pipeline,
                first.map(|j| j.category.as_str()).unwrap_or("-"),
                first.map(|j| j.summary.as_str()).unwrap_or("")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
