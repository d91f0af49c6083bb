//! `exlogare-host`: runs CI-provider plugins in a sandbox.

use clap::{Parser, Subcommand};
use exlogare_host::cache::CompileCache;
use exlogare_host::engine::{EngineOptions, HostEngine};
use exlogare_host::limits::SandboxLimits;
use exlogare_host::plugin::{PluginRuntime, PluginSet};
use exlogare_host::{conformance, replay};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(name = "exlogare-host", version, about = "Runs Exlogare CI-provider plugins (WASI components) in a sandbox")]
struct Cli {
    /// Where compiled plugins are cached (host-signed artifacts only).
    #[arg(long, global = true, env = "EXLOGARE_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Sandbox limits as a TOML file (any field of `[sandbox]`; the rest keep their defaults).
    #[arg(long, global = true)]
    limits: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

// Parsed once per run; boxing the big variants would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Replays a recorded failure through the whole path: delivery, plugin, recorded provider
    /// traffic, log extraction, root cause. No network.
    Replay {
        /// A scenario folder, e.g. fixtures/gitflic/pipeline-fail-trace.
        scenario: PathBuf,
        /// The provider plugin component.
        #[arg(long, default_value = "target/wasm32-wasip2/plugin/exlogare_gitflic.wasm")]
        plugin: PathBuf,
    },
    /// Runs the conformance suite: every scenario under --fixtures through --plugin, compared
    /// with the goldens.
    Conformance {
        #[arg(long)]
        plugin: PathBuf,
        #[arg(long)]
        fixtures: PathBuf,
        /// Only these scenarios (folder names).
        #[arg(long = "scenario")]
        scenarios: Vec<String>,
        /// Write the goldens from this run instead of comparing (review them before committing).
        #[arg(long)]
        bless: bool,
    },
    /// Finds the root cause in raw CI log files (any CI system).
    Analyze {
        /// One JSON object per file (excerpt line ranges, category, summary, signature, failing_step).
        #[arg(long)]
        json: bool,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Runs the service: webhook endpoint, workers, notifications.
    Serve {
        #[arg(long, env = "EXLOGARE_CONFIG")]
        config: PathBuf,
    },
    /// Lists deliveries parked after repeated failures, with their reasons.
    Parked {
        #[arg(long, env = "EXLOGARE_CONFIG")]
        config: PathBuf,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Lists the most recent failure reports.
    Reports {
        #[arg(long, env = "EXLOGARE_CONFIG")]
        config: PathBuf,
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Print each report's whole message.
        #[arg(long)]
        full: bool,
    },
    /// Connections: list (the default) with each one's status — connected / needs reconnection,
    /// last error, calls used this hour (asked from the running host at `server.listen`; from
    /// storage when it is not running) — or show, add, remove one.
    Connections {
        #[arg(long, env = "EXLOGARE_CONFIG", global = true)]
        config: Option<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        action: Option<ConnectionAction>,
    },
    /// Watches a project: registers (idempotently, via the plugin) a PIPELINE_FAIL webhook to
    /// this host with a fresh per-project secret, or with --print-only prints what to set by hand.
    Watch {
        #[arg(long, env = "EXLOGARE_CONFIG")]
        config: PathBuf,
        #[arg(long)]
        connection: String,
        /// owner/name
        #[arg(long)]
        project: String,
        /// How the provider reaches this host, e.g. https://exlogare.example.com (default: [server] public_url, else http://{server.listen}).
        #[arg(long)]
        public_url: Option<String>,
        #[arg(long)]
        print_only: bool,
        /// Stop watching instead: remove our webhook and forget the project.
        #[arg(long, conflicts_with = "print_only")]
        remove: bool,
    },
    /// Lists the projects a connection's user can watch (all pages), optionally searched.
    Projects {
        #[arg(long, env = "EXLOGARE_CONFIG")]
        config: PathBuf,
        #[arg(long)]
        connection: String,
        #[arg(long)]
        search: Option<String>,
    },
    /// Records one failed pipeline of a connection (live) as a fixture scenario: the same
    /// calls an analysis makes, through the sandbox, credentials redacted. Review the bodies,
    /// then make its golden with `conformance --bless --scenario NAME`.
    Record {
        #[arg(long, env = "EXLOGARE_CONFIG")]
        config: PathBuf,
        #[arg(long)]
        connection: String,
        /// owner/name
        #[arg(long)]
        project: String,
        /// The pipeline number (GitFlic localId); default: the newest failed one.
        #[arg(long)]
        pipeline: Option<u64>,
        /// A new folder, e.g. fixtures/gitflic/my-case.
        #[arg(long)]
        out: PathBuf,
    },
    /// Loads plugins (a directory and/or files) side by side and reports what each is.
    Inspect {
        #[arg(long)]
        plugins_dir: Option<PathBuf>,
        #[arg(long = "plugin")]
        plugins: Vec<PathBuf>,
    },
}

#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum ConnectionAction {
    /// One connection's status.
    Show { id: String },
    /// Adds a connection (stored in the database; a running host picks it up). The REST and
    /// OAuth roots come from the provider plugin for the web base unless given. Secrets are
    /// read from an environment variable or a file, never from the command line.
    Add {
        id: String,
        #[arg(long, default_value = "gitflic")]
        provider: String,
        /// Web UI root; default: the provider's public cloud (https://gitflic.ru).
        #[arg(long, default_value = "")]
        web_base: String,
        #[arg(long)]
        api_base: Option<String>,
        #[arg(long)]
        oauth_base: Option<String>,
        #[arg(long)]
        client_id: Option<String>,
        #[arg(long)]
        client_secret_env: Option<String>,
        #[arg(long)]
        client_secret_file: Option<PathBuf>,
        /// A personal access token instead of OAuth.
        #[arg(long)]
        access_token_env: Option<String>,
        #[arg(long)]
        access_token_file: Option<PathBuf>,
        /// Repeat for each scope (default: PROJECT_READ, PROJECT_WRITE, USER_READ, PROJECT_EDIT).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        #[arg(long)]
        redirect_url: Option<String>,
        /// PEM file with an extra CA for a self-hosted instance.
        #[arg(long)]
        ca_file: Option<PathBuf>,
        /// Allow loopback and private addresses (a self-hosted instance on your network).
        #[arg(long)]
        allow_private: bool,
        #[arg(long)]
        calls_per_hour: Option<u32>,
    },
    /// Removes a stored connection: its webhooks at the provider, tokens, watches.
    Remove {
        id: String,
        /// Forget hooks the provider would not remove (they are listed).
        #[arg(long)]
        force: bool,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("EXLOGARE_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn runtime(cli: &Cli) -> anyhow::Result<PluginRuntime> {
    let engine = Arc::new(HostEngine::new(&EngineOptions::default())?);
    let cache = match &cli.cache_dir {
        Some(dir) => Some(CompileCache::open(dir)?),
        None => None,
    };
    PluginRuntime::new(engine, cache)
}

fn limits(cli: &Cli) -> anyhow::Result<SandboxLimits> {
    let limits = match &cli.limits {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
        None => SandboxLimits::default(),
    };
    limits.validate().map_err(anyhow::Error::msg)?;
    Ok(limits)
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Command::Analyze { json, files } = &cli.command {
        // No engine: analysis is plain host code, and the scorer runs this once per log.
        let stdout = std::io::stdout();
        exlogare_analysis::cli::run(files, *json, &mut stdout.lock())?;
        return Ok(ExitCode::SUCCESS);
    }
    match &cli.command {
        Command::Serve { config } => return serve(config),
        Command::Parked { config, limit } => return parked(config, *limit),
        Command::Reports { config, limit, full } => return reports(config, *limit, *full),
        Command::Connections { config, json, action } => {
            let config = config.as_deref().ok_or_else(|| anyhow::anyhow!("give --config FILE (or set EXLOGARE_CONFIG)"))?;
            return match action {
                None => connections(config, *json),
                Some(action) => connection_action(config, *json, action),
            };
        }
        Command::Projects { config, connection, search } => return projects(config, connection, search.as_deref()),
        Command::Record { config, connection, project, pipeline, out } => {
            let service = exlogare_host::service::Service::build_without_resuming(exlogare_host::config::Config::load(config)?)?;
            let r = service.record_failure(connection, project, *pipeline, out)?;
            println!(
                "recorded {project} pipeline #{} into {}: {} exchanges ({} cut short), failed jobs [{}], {} log bytes",
                r.pipeline,
                r.dir.display(),
                r.summary.exchanges,
                r.summary.truncated,
                r.failed_jobs.join(", "),
                r.log_bytes
            );
            println!("next: review {}/bodies, then: exlogare-host conformance --plugin PLUGIN.wasm --fixtures {} --scenario {} --bless",
                r.dir.display(),
                r.dir.parent().map(|p| p.display().to_string()).unwrap_or_else(|| ".".into()),
                r.dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
            return Ok(ExitCode::SUCCESS);
        }
        Command::Watch { config, connection, project, public_url, print_only, remove } => {
            return watch(config, connection, project, public_url.as_deref(), *print_only, *remove);
        }
        _ => {}
    }
    let rt = runtime(&cli)?;
    let limits = limits(&cli)?;
    match &cli.command {
        Command::Replay { scenario, plugin } => {
            let plugin = rt.load(plugin, limits).map_err(|e| {
                anyhow::anyhow!("{e}\n(build it first: cargo build -p exlogare-gitflic --target wasm32-wasip2 --profile plugin)")
            })?;
            let report = replay::replay(&plugin, scenario)?;
            print!("{}", report.render());
            Ok(if report.ok() { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Conformance { plugin, fixtures, scenarios, bless } => {
            let plugin = rt.load(plugin, limits)?;
            println!(
                "plugin {} ({}) contract {} from {}",
                plugin.info.display_name,
                plugin.info.id,
                plugin.info.contract_version,
                plugin.path.display()
            );
            let verdicts = conformance::run_suite(&plugin, fixtures, scenarios, *bless)?;
            let failed = verdicts.iter().filter(|v| !v.passed).count();
            for v in &verdicts {
                println!("{} {}{}", if v.passed { "ok  " } else { "FAIL" }, v.name, if v.detail.is_empty() { String::new() } else { format!(": {}", v.detail) });
            }
            println!("conformance: {} passed, {} failed", verdicts.len() - failed, failed);
            Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Analyze { .. } | Command::Serve { .. } | Command::Parked { .. } | Command::Reports { .. } | Command::Connections { .. } | Command::Watch { .. } | Command::Projects { .. } | Command::Record { .. } => {
            unreachable!("handled before the engine starts")
        }
        Command::Inspect { plugins_dir, plugins } => {
            let (set, errors) = PluginSet::load(&rt, plugins_dir.as_deref(), plugins, &limits);
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
            Ok(if errors.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
    }
}

fn serve(config_path: &std::path::Path) -> anyhow::Result<ExitCode> {
    let config = exlogare_host::config::Config::load(config_path)?;
    config.server.check_admin_exposure()?;
    let listen = config.server.listen.clone();
    // Built outside the async runtime: plugin loading compiles, and the blocking HTTP clients
    // must not be created or dropped inside async tasks.
    let service = Arc::new(exlogare_host::service::Service::build(config)?);
    if service.admin_token.is_none() {
        tracing::warn!("no admin token ([server] admin_token_env / _file): OAuth start and /api/connections are open to anyone who reaches this host");
    }
    let workers = exlogare_host::worker::Workers::start(service.clone());
    let poller = exlogare_host::accounts::polling::Poller::start(service.clone());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let result = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&listen).await.map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
        eprintln!("exlogare-host listening on http://{}", listener.local_addr()?);
        axum::serve(listener, exlogare_host::server::router(service.clone()))
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

fn open_store(config_path: &std::path::Path) -> anyhow::Result<exlogare_host::storage::Store> {
    let config = exlogare_host::config::Config::load(config_path)?;
    Ok(exlogare_host::storage::Store::open(&config.storage.path)?)
}

fn parked(config_path: &std::path::Path, limit: u32) -> anyhow::Result<ExitCode> {
    let store = open_store(config_path)?;
    let parked = store.deliveries_in("parked", limit)?;
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

fn reports(config_path: &std::path::Path, limit: u32, full: bool) -> anyhow::Result<ExitCode> {
    let store = open_store(config_path)?;
    let rows = store.recent_reports(limit)?;
    if rows.is_empty() {
        println!("no reports yet");
    }
    for (id, created, json) in rows {
        let message: exlogare_host::notify::FailureMessage = serde_json::from_str(&json)?;
        let when = chrono::DateTime::from_timestamp_millis(created).map(|t| t.to_rfc3339()).unwrap_or_default();
        if full {
            println!("── delivery #{id} at {when}\n{}", exlogare_host::notify::console::render_plain(&message, usize::MAX));
        } else {
            let first = message.jobs.first();
            println!(
                "#{id} {when} {} {} {}: {}",
                message.project,
                message.pipeline,
                first.map(|j| j.category.as_str()).unwrap_or("-"),
                first.map(|j| j.summary.as_str()).unwrap_or("")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn connections(config_path: &std::path::Path, json: bool) -> anyhow::Result<ExitCode> {
    use exlogare_host::accounts::service::{offline_views, ConnectionView};
    let config = exlogare_host::config::Config::load(config_path)?;
    let listen = config.server.listen.replace("0.0.0.0", "127.0.0.1").replace("[::]", "[::1]");
    let admin = exlogare_host::config::resolve_secret("admin token", &config.server.admin_token_env, &config.server.admin_token_file)?;
    let mut request = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(std::time::Duration::from_secs(3))
        .build()?
        .get(format!("http://{listen}/api/connections"));
    if let Some(token) = &admin {
        request = request.bearer_auth(token.expose());
    }
    let live = request
        .send()
        .ok()
        .filter(|r| r.status().is_success())
        .and_then(|r| r.text().ok())
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| serde_json::from_value::<Vec<ConnectionView>>(v["connections"].clone()).ok());
    let (views, source) = match live {
        Some(v) => (v, format!("from the running host at http://{listen}")),
        None => {
            let store = exlogare_host::storage::Store::open(&config.storage.path)?;
            (offline_views(&config, &store), format!("from storage (no host answered at http://{listen})"))
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "connections": views }))?);
    } else {
        println!("connections {source}:");
        for v in &views {
            println!("  {}", v.line());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn connection_action(config_path: &std::path::Path, json: bool, action: &ConnectionAction) -> anyhow::Result<ExitCode> {
    use exlogare_host::accounts::connections::NewConnection;
    use exlogare_host::config::resolve_secret;
    let config = exlogare_host::config::Config::load(config_path)?;
    let public_root = config.server.public_root();
    // Not `build`: a host may be serving this database, and its running deliveries must stay its own.
    let service = exlogare_host::service::Service::build_without_resuming(config)?;
    let print = |value: serde_json::Value, text: String| -> anyhow::Result<()> {
        if json {
            println!("{}", serde_json::to_string_pretty(&value)?);
        } else {
            println!("{text}");
        }
        Ok(())
    };
    match action {
        ConnectionAction::Show { id } => {
            let Some(v) = service.connection_view(id) else { anyhow::bail!("no connection `{id}`; `exlogare-host connections` lists them") };
            print(serde_json::json!({ "connection": v }), v.line())?;
        }
        ConnectionAction::Add {
            id, provider, web_base, api_base, oauth_base, client_id, client_secret_env, client_secret_file, access_token_env,
            access_token_file, scopes, redirect_url, ca_file, allow_private, calls_per_hour,
        } => {
            let ca_pem = match ca_file {
                Some(p) => Some(std::fs::read_to_string(p).map_err(|e| anyhow::anyhow!("cannot read --ca-file {}: {e}", p.display()))?),
                None => None,
            };
            let new = NewConnection {
                id: id.clone(),
                provider: provider.clone(),
                web_base: web_base.clone(),
                api_base: api_base.clone(),
                oauth_base: oauth_base.clone(),
                client_id: client_id.clone(),
                client_secret: resolve_secret("the client secret", client_secret_env, client_secret_file)?.map(|s| s.expose().to_string()),
                scopes: (!scopes.is_empty()).then(|| scopes.clone()),
                redirect_url: redirect_url.clone(),
                access_token: resolve_secret("the access token", access_token_env, access_token_file)?.map(|s| s.expose().to_string()),
                ca_pem,
                allow_private: *allow_private,
                calls_per_hour: *calls_per_hour,
                options: Default::default(),
            };
            let v = service.add_connection(&new).map_err(|r| anyhow::anyhow!("{}", r.message))?;
            let connect = (v.auth == "oauth").then(|| format!("{public_root}/api/integrations/{}/oauth/start/{}", v.provider, v.id));
            let mut text = format!("added {}\n  web {}\n  api {}\n  oauth {}", v.line(), v.web_base, v.api_base, v.oauth_base);
            if let Some(url) = &connect {
                text.push_str(&format!("\nconnect it: open {url} (with the admin token as ?admin_token=... when one is set)"));
            }
            print(serde_json::json!({ "connection": v, "connect_url": connect }), text)?;
        }
        ConnectionAction::Remove { id, force } => {
            let r = service.remove_connection(id, *force).map_err(|r| anyhow::anyhow!("{}", r.message))?;
            let mut text = format!("removed {id}; webhooks removed from [{}]", r.unwatched.join(", "));
            for left in &r.hooks_left {
                text.push_str(&format!("\n  left at the provider: {left}"));
            }
            print(serde_json::json!({ "removed": r }), text)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn watch(config_path: &std::path::Path, connection: &str, project: &str, public_url: Option<&str>, print_only: bool, remove: bool) -> anyhow::Result<ExitCode> {
    let config = exlogare_host::config::Config::load(config_path)?;
    // Not `build`: a host may be serving this database, and its running deliveries must stay its own.
    let service = exlogare_host::service::Service::build_without_resuming(config)?;
    if remove {
        let was = service.unwatch(connection, project)?;
        println!("{}", if was { format!("{project} is no longer watched on {connection}") } else { format!("{project} was not watched on {connection}") });
        return Ok(ExitCode::SUCCESS);
    }
    let w = service.watch(connection, project, public_url, print_only)?;
    if print_only {
        println!("Set this webhook on {} by hand (stored: deliveries with this secret are accepted for this project):", w.project);
    } else {
        println!("webhook on {} {} (id {}):", w.project, w.registration, w.webhook_id.as_deref().unwrap_or("-"));
    }
    println!("  url:    {}", w.url);
    println!("  secret: {}", w.secret.expose());
    println!("  event:  {}", w.event);
    Ok(ExitCode::SUCCESS)
}

fn projects(config_path: &std::path::Path, connection: &str, search: Option<&str>) -> anyhow::Result<ExitCode> {
    let config = exlogare_host::config::Config::load(config_path)?;
    let service = exlogare_host::service::Service::build_without_resuming(config)?;
    let watched = service.watched_projects(connection)?;
    let projects = service.sync_projects(connection, search)?;
    if projects.is_empty() {
        println!("no projects");
    }
    for p in projects {
        let key = format!("{}/{}", p.reference.owner, p.reference.name);
        let mark = if watched.iter().any(|w| w.eq_ignore_ascii_case(&key)) { "watched" } else { "-" };
        println!("{key}\t{mark}\t{}{}", p.title, if p.private { " (private)" } else { "" });
    }
    Ok(ExitCode::SUCCESS)
}
