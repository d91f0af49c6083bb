//! `exlogare-host projects`: what a connection could watch.

use super::ConfigFile;
use clap::Args;
use std::process::ExitCode;

/// Lists the projects a connection's user can watch, marking the watched ones.
///
/// Every page, asked from the provider now: owner/name, watched or -, title, (private).
#[derive(Args)]
pub struct Projects {
    #[command(flatten)]
    pub config: ConfigFile,
    /// The connection's id (`exlogare-host connections` lists them)
    #[arg(long, value_name = "ID")]
    pub connection: String,
    /// Only projects matching this text (the provider's own search)
    #[arg(long, value_name = "TEXT")]
    pub search: Option<String>,
}

pub fn run(args: &Projects) -> anyhow::Result<ExitCode> {
    let service = args.config.service()?;
    let watched = service.watched_projects(&args.connection)?;
    let projects = service.sync_projects(&args.connection, args.search.as_deref())?;
    if projects.is_empty() {
        println!("no projects");
    }
    for p in projects {
        let key = format!("{}/{}", p.reference.owner, p.reference.name);
        let mark = if watched.iter().any(|w| w.eq_ignore_ascii_case(&key)) {
            "watched"
        } else {
            "-"
        };
        println!(
            "{key}\t{mark}\t{}{}",
            p.title,
            if p.private { " (private)" } else { "" }
        );
    }
    Ok(ExitCode::SUCCESS)
}
