//! `exlogare-host connections [show|add|remove]`: the connections to CI providers.

use clap::{Args, Subcommand};
use exlogare_service::accounts::connection_view::{ConnectionView, offline_views};
use exlogare_service::accounts::stored_connections::NewConnection;
use exlogare_service::config::{Config, resolve_secret};
use exlogare_service::service::Service;
use exlogare_service::storage::Store;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Connections to CI providers: lists them (the default), or shows, adds or removes one.
///
/// The list gives each connection's status (connected, needs_reconnection, not_connected or
/// unusable), its last error and the provider calls it used this hour. It is asked from the
/// running host at [server] listen (with the admin token when one is set) and read from storage
/// when no host answers there. --config and --json go before or after the subcommand.
#[derive(Args)]
pub struct Connections {
    /// The service's configuration file (exlogare.example.toml documents every key)
    #[arg(long, env = "EXLOGARE_CONFIG", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print JSON instead of text: the bodies the connection API answers ({"connections": [...]},
    /// {"connection": {...}, "connect_url": ...}, {"removed": {...}})
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub action: Option<Action>,
}

// Parsed once per run; boxing the big variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum Action {
    /// One connection's status.
    Show {
        /// The connection's id
        id: String,
    },
    /// Adds a connection, stored in the database (a running host picks it up).
    ///
    /// Give an OAuth client (--client-id with --client-secret-env or --client-secret-file, then
    /// open the connect URL it prints) or a personal access token (--access-token-env or
    /// --access-token-file). Secrets are read from an environment variable or a file, never from
    /// the command line, and stored encrypted: set EXLOGARE_TOKEN_KEY or EXLOGARE_TOKEN_KEY_FILE
    /// (32 bytes as hex or base64, e.g. `openssl rand -hex 32`) here and for `serve`. The REST
    /// and OAuth roots are derived by the provider plugin from --web-base unless given.
    Add {
        /// The new connection's id: 1-64 letters, digits, `-` or `_` (it is part of its webhook
        /// URL, /api/integrations/{provider}/webhook/{id})
        id: String,
        /// The provider plugin's id
        #[arg(long, default_value = "gitflic", value_name = "ID")]
        provider: String,
        /// Web UI root, e.g. https://git.example.com; default: the provider's public cloud
        /// (https://gitflic.ru)
        #[arg(
            long,
            default_value = "",
            hide_default_value = true,
            value_name = "URL"
        )]
        web_base: String,
        /// REST API root; default: derived by the plugin from --web-base (GitFlic:
        /// https://api.gitflic.ru for the cloud, {web_base}/rest-api self-hosted)
        #[arg(long, value_name = "URL")]
        api_base: Option<String>,
        /// OAuth root; default: derived by the plugin from --web-base
        #[arg(long, value_name = "URL")]
        oauth_base: Option<String>,
        /// OAuth client id (registered at the provider); needs the client secret too
        #[arg(long, value_name = "ID")]
        client_id: Option<String>,
        /// Environment variable holding the OAuth client secret
        #[arg(long, value_name = "VAR")]
        client_secret_env: Option<String>,
        /// File holding the OAuth client secret
        #[arg(long, value_name = "FILE")]
        client_secret_file: Option<PathBuf>,
        /// Environment variable holding a personal access token (instead of OAuth)
        #[arg(long, value_name = "VAR")]
        access_token_env: Option<String>,
        /// File holding a personal access token (instead of OAuth)
        #[arg(long, value_name = "FILE")]
        access_token_file: Option<PathBuf>,
        /// An OAuth scope; repeat for each (default: PROJECT_READ, PROJECT_WRITE, USER_READ,
        /// PROJECT_EDIT)
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// Where the provider sends the user back after OAuth; default:
        /// {[server] public_url}/api/integrations/{provider}/oauth/callback
        #[arg(long, value_name = "URL")]
        redirect_url: Option<String>,
        /// PEM file with an extra CA for a self-hosted instance (its text is stored)
        #[arg(long, value_name = "FILE")]
        ca_file: Option<PathBuf>,
        /// Let the plugin reach loopback and private addresses (a self-hosted instance on your
        /// network); link-local and cloud-metadata addresses stay refused
        #[arg(long)]
        allow_private: bool,
        /// Provider requests per hour this connection may make, all paths together (default
        /// 250, half of the GitFlic cloud's 500)
        #[arg(long, value_name = "N")]
        calls_per_hour: Option<u32>,
    },
    /// Removes a stored connection: its webhooks at the provider, its tokens and watches.
    Remove {
        /// The connection's id
        id: String,
        /// Forget the hooks the provider would not remove (they are listed)
        #[arg(long)]
        force: bool,
    },
}

pub fn run(args: &Connections) -> anyhow::Result<ExitCode> {
    let config = args
        .config
        .as_deref()
        .ok_or_else(|| anyhow::anyhow!("give --config FILE (or set EXLOGARE_CONFIG)"))?;
    match &args.action {
        None => list(config, args.json),
        Some(action) => act(config, args.json, action),
    }
}

fn list(config_path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let config = Config::load(config_path)?;
    let listen = config
        .server
        .listen
        .replace("0.0.0.0", "127.0.0.1")
        .replace("[::]", "[::1]");
    let admin = resolve_secret(
        "admin token",
        &config.server.admin_token_env,
        &config.server.admin_token_file,
    )?;
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
            let store = Store::open_at(&config.storage.location()?)?;
            (
                offline_views(&config, &store),
                format!("from storage (no host answered at http://{listen})"),
            )
        }
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "connections": views }))?
        );
    } else {
        println!("connections {source}:");
        for v in &views {
            println!("  {}", v.line());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn act(config_path: &Path, json: bool, action: &Action) -> anyhow::Result<ExitCode> {
    let config = Config::load(config_path)?;
    let public_root = config.server.public_root();
    // Not `build`: a host may be serving this database, and its running deliveries must stay its own.
    let service = Service::build_without_resuming(config)?;
    let print = |value: serde_json::Value, text: String| -> anyhow::Result<()> {
        if json {
            println!("{}", serde_json::to_string_pretty(&value)?);
        } else {
            println!("{text}");
        }
        Ok(())
    };
    match action {
        Action::Show { id } => {
            let Some(v) = service.connection_view(id) else {
                anyhow::bail!("no connection `{id}`; `exlogare-host connections` lists them")
            };
            print(serde_json::json!({ "connection": v }), v.line())?;
        }
        Action::Add {
            id,
            provider,
            web_base,
            api_base,
            oauth_base,
            client_id,
            client_secret_env,
            client_secret_file,
            access_token_env,
            access_token_file,
            scopes,
            redirect_url,
            ca_file,
            allow_private,
            calls_per_hour,
        } => {
            let ca_pem =
                match ca_file {
                    Some(p) => Some(std::fs::read_to_string(p).map_err(|e| {
                        anyhow::anyhow!("cannot read --ca-file {}: {e}", p.display())
                    })?),
                    None => None,
                };
            let new = NewConnection {
                id: id.clone(),
                provider: provider.clone(),
                web_base: web_base.clone(),
                api_base: api_base.clone(),
                oauth_base: oauth_base.clone(),
                client_id: client_id.clone(),
                client_secret: resolve_secret(
                    "the client secret",
                    client_secret_env,
                    client_secret_file,
                )?
                .map(|s| s.expose().to_string()),
                scopes: (!scopes.is_empty()).then(|| scopes.clone()),
                redirect_url: redirect_url.clone(),
                access_token: resolve_secret(
                    "the access token",
                    access_token_env,
                    access_token_file,
                )?
                .map(|s| s.expose().to_string()),
                ca_pem,
                allow_private: *allow_private,
                calls_per_hour: *calls_per_hour,
                compare_green_runs: None,
                options: Default::default(),
            };
            let v = service
                .add_connection(&new)
                .map_err(|r| anyhow::anyhow!("{}", r.message))?;
            let connect = (v.auth == "oauth").then(|| {
                format!(
                    "{public_root}/api/integrations/{}/oauth/start/{}",
                    v.provider, v.id
                )
            });
            let mut text = format!(
                "added {}\n  web {}\n  api {}\n  oauth {}",
                v.line(),
                v.web_base,
                v.api_base,
                v.oauth_base
            );
            if let Some(url) = &connect {
                text.push_str(&format!(
                    "\nconnect it: open {url} (with the admin token as ?admin_token=... when one is set)"
                ));
            }
            print(
                serde_json::json!({ "connection": v, "connect_url": connect }),
                text,
            )?;
        }
        Action::Remove { id, force } => {
            let r = service
                .remove_connection(id, *force)
                .map_err(|r| anyhow::anyhow!("{}", r.message))?;
            let mut text = format!(
                "removed {id}; webhooks removed from [{}]",
                r.unwatched.join(", ")
            );
            for left in &r.hooks_left {
                text.push_str(&format!("\n  left at the provider: {left}"));
            }
            print(serde_json::json!({ "removed": r }), text)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
