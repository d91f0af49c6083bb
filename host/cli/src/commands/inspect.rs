//! `exlogare-host inspect`: whether the host accepts a plugin, and what it is.

use super::Sandbox;
use clap::Args;
use exlogare_runtime::plugin::PluginSet;
use std::path::PathBuf;
use std::process::ExitCode;

/// Loads plugins side by side and reports what each is, or why it is refused.
///
/// For each: its id and name, contract version, capabilities, and whether it came from the
/// compile cache. Exits 1 when any was refused.
#[derive(Args)]
pub struct Inspect {
    /// Load every *.wasm in this directory
    #[arg(long, value_name = "DIR")]
    pub plugins_dir: Option<PathBuf>,
    /// A plugin component (.wasm) to load; repeat for more
    #[arg(long = "plugin", value_name = "FILE")]
    pub plugins: Vec<PathBuf>,
    #[command(flatten)]
    pub sandbox: Sandbox,
}

pub fn run(args: &Inspect) -> anyhow::Result<ExitCode> {
    let rt = args.sandbox.runtime()?;
    let limits = args.sandbox.limits()?;
    let (set, errors) = PluginSet::load(&rt, args.plugins_dir.as_deref(), &args.plugins, &limits);
    println!("engine allocator: {:?}", rt.engine().allocator);
    for (id, p) in &set.plugins {
        println!(
            "{id}: {} contract {} ({:?}) capabilities [{}] from {} (compile cache: {:?})",
            p.info.display_name,
            p.info.contract_version,
            p.line,
            p.info.capabilities.join(", "),
            p.path.display(),
            p.cache
        );
    }
    for e in &errors {
        println!("refused: {e}");
    }
    Ok(if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
