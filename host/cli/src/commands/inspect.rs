//! `exlogare-host inspect`: whether the host accepts a plugin, and what it is.

use super::Sandbox;
use clap::Args;
use exlogare_runtime::plugin::PluginSet;
use std::path::PathBuf;
use std::process::ExitCode;

/// Loads plugins side by side and reports what each is, or why it is refused.
///
/// For each: its id and name, contract version, capabilities, whether it came from the compile
/// cache, and the sandbox limits its faults would name. A plugin refused at load is shown with
/// the reason, a fault in its `describe` included. Exits 1 when any was refused.
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
        // What a fault of this plugin would name (plugin.rs words them by these settings).
        let (slots, _) = p.call_slots();
        println!(
            "  limits: {}; {slots} call slots here (its share of the engine's pool)",
            p.limits().summary()
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
