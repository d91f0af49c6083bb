//! `exlogare-host conformance`: a provider plugin against its recorded scenarios.

use super::Sandbox;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// Checks a provider plugin against recorded scenarios and their goldens.
///
/// Runs every scenario under --fixtures through --plugin and compares the results with the
/// goldens. Each scenario folder holds scenario.toml (the connection and the steps), exchanges.toml and
/// bodies/ (the recorded provider traffic) and expected.json (the golden); no network is used.
/// Exits 1 when a scenario fails.
#[derive(Args)]
pub struct Conformance {
    /// The provider plugin component to test (.wasm), e.g.
    /// target/wasm32-wasip2/plugin/exlogare_gitflic.wasm
    #[arg(long, value_name = "FILE")]
    pub plugin: PathBuf,
    /// The folder whose subfolders are scenarios, e.g. fixtures/gitflic
    #[arg(long, value_name = "DIR")]
    pub fixtures: PathBuf,
    /// Only this scenario (its folder name); repeat for more
    #[arg(long = "scenario", value_name = "NAME")]
    pub scenarios: Vec<String>,
    /// Write the goldens from this run instead of comparing (review them before committing)
    #[arg(long)]
    pub bless: bool,
    #[command(flatten)]
    pub sandbox: Sandbox,
}

pub fn run(args: &Conformance) -> anyhow::Result<ExitCode> {
    let rt = args.sandbox.runtime()?;
    let limits = args.sandbox.limits()?;
    let plugin = rt.load(&args.plugin, limits)?;
    println!(
        "plugin {} ({}) contract {} from {}",
        plugin.info.display_name,
        plugin.info.id,
        plugin.info.contract_version,
        plugin.path.display()
    );
    let verdicts =
        exlogare_conformance::run_suite(&plugin, &args.fixtures, &args.scenarios, args.bless)?;
    let failed = verdicts.iter().filter(|v| !v.passed).count();
    for v in &verdicts {
        let detail = if v.detail.is_empty() {
            String::new()
        } else {
            format!(": {}", v.detail)
        };
        println!(
            "{} {}{detail}",
            if v.passed { "ok  " } else { "FAIL" },
            v.name
        );
    }
    println!(
        "conformance: {} passed, {} failed",
        verdicts.len() - failed,
        failed
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
