//! `exlogare-host parked`: deliveries that gave up, and why.

use super::ConfigFile;
use clap::Args;
use exlogare_service::storage::Store;
use std::process::ExitCode;

/// Lists deliveries parked after repeated failures, with their reasons.
///
/// A delivery is parked after [worker] max_attempts failed attempts; nothing retries it.
#[derive(Args)]
pub struct Parked {
    #[command(flatten)]
    pub config: ConfigFile,
    /// How many to list, most recently parked first
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
}

pub fn run(args: &Parked) -> anyhow::Result<ExitCode> {
    let store = Store::open(&args.config.load()?.storage.path)?;
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
