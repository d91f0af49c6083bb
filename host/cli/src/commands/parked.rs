//! `exlogare-host parked`: deliveries that gave up, and why.

use super::ConfigFile;
use clap::Args;
use exlogare_service::storage::Store;
use std::process::ExitCode;

/// Lists deliveries parked after repeated failures, with their reasons, or queues them again.
///
/// A delivery is parked after [worker] max_attempts failed attempts, or when its processing
/// crashed; once the cause is fixed, `--retry ID` or `--all` queues it again with fresh
/// attempts (a running service picks it up; so does the next start).
#[derive(Args)]
pub struct Parked {
    #[command(flatten)]
    pub config: ConfigFile,
    /// How many to list, most recently parked first
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Queue this parked delivery again with fresh attempts (the number after `#` in the list)
    #[arg(long, value_name = "ID", conflicts_with = "all")]
    pub retry: Option<i64>,
    /// Queue every parked delivery again with fresh attempts
    #[arg(long)]
    pub all: bool,
}

pub fn run(args: &Parked) -> anyhow::Result<ExitCode> {
    let store = Store::open_at(&args.config.load()?.storage.location()?)?;
    if let Some(id) = args.retry {
        let Some(d) = store.delivery(id)? else {
            anyhow::bail!("no delivery #{id}; `exlogare-host parked` lists the parked ones")
        };
        if !store.retry_parked(id)? {
            anyhow::bail!(
                "delivery #{id} is {}, not parked; only parked deliveries are retried",
                d.state
            );
        }
        println!(
            "#{id} {} pipeline {} queued again with fresh attempts",
            d.project, d.pipeline
        );
        return Ok(ExitCode::SUCCESS);
    }
    if args.all {
        println!(
            "{} parked deliveries queued again with fresh attempts",
            store.retry_all_parked()?
        );
        return Ok(ExitCode::SUCCESS);
    }
    let parked = store.deliveries_in("parked", args.limit)?;
    if parked.is_empty() {
        println!("no parked deliveries");
    }
    for d in parked {
        println!(
            "#{} {} {} {} pipeline {} ({} attempts, via {}): {}",
            d.id,
            d.provider,
            d.connection,
            d.project,
            d.pipeline,
            d.attempts,
            d.source,
            d.last_error.as_deref().unwrap_or("(no reason recorded)")
        );
    }
    Ok(ExitCode::SUCCESS)
}
