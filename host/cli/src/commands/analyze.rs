//! `exlogare-host analyze`: the root-cause analysis alone, on log files.

use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// Finds the root cause in raw CI log files (any CI system); no plugin, no config.
///
/// The optional model step is configured by EXLOGARE_MODEL_URL, EXLOGARE_MODEL,
/// EXLOGARE_MODEL_KEY and EXLOGARE_MODEL_TIMEOUT_SECS (off without EXLOGARE_MODEL_URL); the
/// service reads [analysis] of its config file instead.
#[derive(Args)]
pub struct Analyze {
    /// One JSON object per file (excerpt line ranges, category, summary, signature,
    /// failing_step) instead of text
    #[arg(long)]
    pub json: bool,
    /// The log of a green run of the same job: lines it also printed are not taken as the
    /// cause, and the report says so (`comparison`)
    #[arg(long, value_name = "PASSING.log")]
    pub baseline: Option<PathBuf>,
    /// The log files to analyse
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

pub fn run(args: &Analyze) -> anyhow::Result<ExitCode> {
    // No engine: analysis is plain host code, and the scorer runs this once per log.
    let stdout = std::io::stdout();
    exlogare_analysis::cli::run_with_baseline(
        &args.files,
        args.json,
        args.baseline.as_deref(),
        &mut stdout.lock(),
    )?;
    Ok(ExitCode::SUCCESS)
}
