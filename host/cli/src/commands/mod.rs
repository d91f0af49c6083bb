//! One module per `exlogare-host` command: its arguments, what it does and what it prints.
//! `main.rs` only parses and dispatches; the arguments two or more commands share live here.

pub mod analyze;
pub mod conformance;
pub mod connections;
pub mod inspect;
pub mod new_provider;
pub mod parked;
pub mod plugins;
pub mod projects;
pub mod record;
pub mod replay;
pub mod reports;
pub mod serve;
pub mod watch;

use clap::Args;
use exlogare_runtime::cache::CompileCache;
use exlogare_runtime::engine::{EngineOptions, HostEngine};
use exlogare_runtime::limits::SandboxLimits;
use exlogare_runtime::plugin::PluginRuntime;
use exlogare_service::config::Config;
use exlogare_service::service::Service;
use std::path::PathBuf;
use std::sync::Arc;

/// `--config`: the operator's commands and `record` read the service's TOML file.
#[derive(Args)]
pub struct ConfigFile {
    /// The service's configuration file (exlogare.example.toml documents every key)
    #[arg(long, env = "EXLOGARE_CONFIG", value_name = "FILE")]
    pub config: PathBuf,
}

impl ConfigFile {
    pub fn load(&self) -> anyhow::Result<Config> {
        Config::load(&self.config)
    }

    /// The service without requeueing deliveries left running: a host may be serving this
    /// database, and its running deliveries must stay its own.
    pub fn service(&self) -> anyhow::Result<Service> {
        Service::build_without_resuming(self.load()?)
    }
}

/// The sandbox of the commands that load plugins without a config file (`inspect`,
/// `conformance`, `replay`). The others take both from the config file: `[plugins] cache_dir`
/// and `[sandbox]`.
#[derive(Args)]
#[command(next_help_heading = "Sandbox")]
pub struct Sandbox {
    /// Where compiled plugins are kept between runs (created if missing; only artifacts this host
    /// signed are loaded back). Without it every run compiles the plugin again
    #[arg(long, env = "EXLOGARE_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Sandbox limits as a TOML file: any key of the config's [sandbox] section, without the
    /// header; the rest keep their defaults
    #[arg(long, value_name = "FILE")]
    pub limits: Option<PathBuf>,
}

impl Sandbox {
    pub fn runtime(&self) -> anyhow::Result<PluginRuntime> {
        let engine = Arc::new(HostEngine::new(&EngineOptions::default())?);
        let cache = match &self.cache_dir {
            Some(dir) => Some(CompileCache::open(dir)?),
            None => None,
        };
        PluginRuntime::new(engine, cache)
    }

    pub fn limits(&self) -> anyhow::Result<SandboxLimits> {
        let limits = match &self.limits {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
                toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
            }
            None => SandboxLimits::default(),
        };
        limits.validate().map_err(anyhow::Error::msg)?;
        Ok(limits)
    }
}

/// `text` with control characters other than newline and tab shown as U+FFFD and the
/// bidirectional controls dropped: plugin text printed to an operator's terminal (replay,
/// plugins) cannot move the cursor, clear the screen, hide a link or reverse a line.
pub(crate) fn terminal_safe(text: &str) -> String {
    text.chars()
        .filter(|&c| !exlogare_runtime::plugin::is_bidi_control(c))
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn plugin_text_cannot_drive_the_terminal() {
        let hostile = "job \u{1b}]8;;https://evil.example\u{7}click\u{1b}]8;;\u{7} \u{1b}[2J\u{202E}gpj.exe\nnext\tline";
        let shown = super::terminal_safe(hostile);
        assert!(
            !shown.contains('\u{1b}') && !shown.contains('\u{7}') && !shown.contains('\u{202E}'),
            "{shown:?}"
        );
        assert!(shown.ends_with("gpj.exe\nnext\tline"), "{shown:?}");
    }
}
