//! `exlogare-host watch`: have a project's failed pipelines delivered to this host.

use super::ConfigFile;
use clap::Args;
use std::process::ExitCode;

/// Watches a project: registers a PIPELINE_FAIL webhook to this host with a fresh secret.
///
/// Registration goes through the provider plugin and is idempotent (a webhook of ours already
/// there is reused or repaired). With --print-only nothing is registered: the secret is stored
/// and what to set by hand is printed. A watched project is also polled, as a fallback for lost
/// webhooks, within the connection's calls_per_hour. --remove stops watching.
#[derive(Args)]
pub struct Watch {
    #[command(flatten)]
    pub config: ConfigFile,
    /// The connection's id (`exlogare-host connections` lists them)
    #[arg(long, value_name = "ID")]
    pub connection: String,
    /// The project, as owner/name
    #[arg(long, value_name = "OWNER/NAME")]
    pub project: String,
    /// How the provider reaches this host, e.g. https://exlogare.example.com (default:
    /// [server] public_url, else http://{[server] listen})
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// Register nothing: store a secret and print the webhook to set by hand
    #[arg(long)]
    pub print_only: bool,
    /// Stop watching instead: remove our webhook and forget the project
    #[arg(long, conflicts_with = "print_only")]
    pub remove: bool,
}

pub fn run(args: &Watch) -> anyhow::Result<ExitCode> {
    let service = args.config.service()?;
    let (connection, project) = (args.connection.as_str(), args.project.as_str());
    if args.remove {
        let was = service.unwatch(connection, project)?;
        println!(
            "{}",
            if was {
                format!("{project} is no longer watched on {connection}")
            } else {
                format!("{project} was not watched on {connection}")
            }
        );
        return Ok(ExitCode::SUCCESS);
    }
    let w = service.watch(
        connection,
        project,
        args.public_url.as_deref(),
        args.print_only,
    )?;
    if args.print_only {
        println!(
            "Set this webhook on {} by hand (stored: deliveries with this secret are accepted for this project):",
            w.project
        );
    } else {
        println!(
            "webhook on {} {} (id {}):",
            w.project,
            w.registration,
            w.webhook_id.as_deref().unwrap_or("-")
        );
    }
    println!("  url:    {}", w.url);
    println!("  secret: {}", w.secret.expose());
    println!("  event:  {}", w.event);
    Ok(ExitCode::SUCCESS)
}
