//! `exlogare-host record`: a live failure captured as a fixture scenario.

use super::ConfigFile;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// Records one failed pipeline of a connection (live) as a fixture scenario.
///
/// It makes the calls an analysis makes, through the sandbox ([plugins] and [sandbox] of the
/// config), and writes them with credentials redacted. Review the bodies, then make its golden
/// with `conformance --bless --scenario NAME`.
#[derive(Args)]
pub struct Record {
    #[command(flatten)]
    pub config: ConfigFile,
    /// The connection's id (`exlogare-host connections` lists them)
    #[arg(long, value_name = "ID")]
    pub connection: String,
    /// The project, as owner/name
    #[arg(long, value_name = "OWNER/NAME")]
    pub project: String,
    /// The pipeline number (GitFlic localId); default: the newest failed one
    #[arg(long, value_name = "N")]
    pub pipeline: Option<u64>,
    /// A new folder for the scenario, e.g. fixtures/gitflic/my-case
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

pub fn run(args: &Record) -> anyhow::Result<ExitCode> {
    let service = args.config.service()?;
    let r = service.record_failure(&args.connection, &args.project, args.pipeline, &args.out)?;
    println!(
        "recorded {} pipeline #{} into {}: {} exchanges ({} cut short), failed jobs [{}], {} log bytes",
        args.project,
        r.pipeline,
        r.dir.display(),
        r.summary.exchanges,
        r.summary.truncated,
        r.failed_jobs.join(", "),
        r.log_bytes
    );
    println!(
        "next: review {}/bodies, then: exlogare-host conformance --plugin PLUGIN.wasm --fixtures {} --scenario {} --bless",
        r.dir.display(),
        r.dir
            .parent()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| ".".into()),
        r.dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}
