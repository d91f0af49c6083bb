//! `exlogare-host serve`: the service itself.

use super::ConfigFile;
use clap::Args;
use exlogare_service::accounts::polling::Poller;
use exlogare_service::service::Service;
use exlogare_service::worker::Workers;
use std::process::ExitCode;
use std::sync::Arc;

/// Runs the service: webhook endpoint, connection API, workers, polling, notifications.
///
/// Listens at [server] listen and stops on Ctrl-C; deliveries left in flight are resumed at the
/// next start. Beyond loopback it refuses to start without an admin token.
///
/// SIGHUP (or `POST /api/plugins/reload`, `exlogare-host plugins --reload`) loads the plugins
/// folder again: added and replaced providers serve from the next call, calls in flight finish
/// on their version, and a component that does not load leaves the earlier one serving.
///
/// Logging goes to stderr at `info` by default. EXLOGARE_LOG or RUST_LOG (EXLOGARE_LOG wins)
/// take a tracing filter, e.g. EXLOGARE_LOG=debug or EXLOGARE_LOG=warn,exlogare_service=debug.
#[derive(Args)]
pub struct Serve {
    #[command(flatten)]
    pub config: ConfigFile,
}

pub fn run(args: &Serve) -> anyhow::Result<ExitCode> {
    let config = args.config.load()?;
    config.server.check_admin_exposure()?;
    let listen = config.server.listen.clone();
    // Built outside the async runtime: plugin loading compiles, and the blocking HTTP clients
    // must not be created or dropped inside async tasks.
    let service = Arc::new(Service::build(config)?);
    if service.admin_token.is_none() {
        tracing::warn!(
            "no admin token ([server] admin_token_env / _file): OAuth start and /api/connections are open to anyone who reaches this host"
        );
    }
    let workers = Workers::start(service.clone());
    let poller = Poller::start(service.clone());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
        eprintln!(
            "exlogare-host listening on http://{}",
            listener.local_addr()?
        );
        // The listener's limits (connection cap, header and idle deadlines): server::edge.
        let listener = exlogare_service::server::edge(listener, &service.config.server);
        reload_on_sighup(service.clone());
        axum::serve(listener, exlogare_web::app(service.clone()))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        anyhow::Ok(())
    });
    drop(runtime);
    workers.stop();
    poller.stop();
    result.map(|_| ExitCode::SUCCESS)
}

/// Each SIGHUP reloads the plugins folder, on a blocking thread (it compiles).
#[cfg(unix)]
fn reload_on_sighup(service: Arc<Service>) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(
                "cannot listen for SIGHUP ({e}); reload plugins with POST /api/plugins/reload"
            );
            return;
        }
    };
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the plugins folder");
            let service = service.clone();
            let _ = tokio::task::spawn_blocking(move || service.reload_plugins()).await;
        }
    });
}

#[cfg(not(unix))]
fn reload_on_sighup(_service: Arc<Service>) {}
