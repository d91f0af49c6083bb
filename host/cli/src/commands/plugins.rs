//! `exlogare-host plugins`: the running host's plugins and their circuit breakers, and the reset.
//!
//! A breaker lives in the serving process, not in the database the other operator commands
//! read, so this command asks the running `serve` over its admin API (`GET /api/plugins`,
//! `POST /api/plugins/{id}/breaker/reset`, host/service/src/plugins_http.rs) with the config's
//! admin token.

use super::{ConfigFile, terminal_safe};
use clap::Args;
use serde_json::Value;
use std::process::ExitCode;

/// Shows each plugin the running host has loaded, its circuit breaker (closed, or open with why
/// and for how long) and its call slots; `--reset ID` switches a plugin back on after its cause
/// is fixed, instead of waiting out the cool-down.
#[derive(Args)]
pub struct Plugins {
    #[command(flatten)]
    pub config: ConfigFile,
    /// The running host's address, when it is not the config's `[server] listen` as seen from
    /// this machine (behind a proxy, say): e.g. https://exlogare.example.com
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Close this plugin's breaker (its id, e.g. gitflic): the next call runs
    #[arg(long, value_name = "ID", conflicts_with = "reload")]
    pub reset: Option<String>,
    /// Load the plugins folder again (like SIGHUP): added and replaced providers serve from
    /// their next call; a component that does not load leaves the earlier version serving, and
    /// this exits 1 with why
    #[arg(long)]
    pub reload: bool,
}

pub fn run(args: &Plugins) -> anyhow::Result<ExitCode> {
    let config = args.config.load()?;
    let base = match &args.url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => local_url(&config.server.listen),
    };
    let token = exlogare_service::config::resolve_secret(
        "admin token ([server] admin_token_*)",
        &config.server.admin_token_env,
        &config.server.admin_token_file,
    )?;
    let client = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()?;
    if let Some(id) = &args.reset
        && !is_plugin_id(id)
    {
        anyhow::bail!(
            "`{id}` is not a plugin id (lowercase letters, digits and `-`); `exlogare-host plugins --config ...` lists them"
        );
    }
    let request = match (&args.reset, args.reload) {
        (Some(id), _) => client.post(format!("{base}/api/plugins/{id}/breaker/reset")),
        // Loading compiles each changed component: give it longer than a listing.
        (None, true) => client
            .post(format!("{base}/api/plugins/reload"))
            .timeout(std::time::Duration::from_secs(300)),
        (None, false) => client.get(format!("{base}/api/plugins")),
    };
    let request = match &token {
        Some(t) => request.bearer_auth(t.expose()),
        None => request,
    };
    let response = request.send().map_err(|e| {
        anyhow::anyhow!(
            "cannot reach the running host at {base} ({e}); is `exlogare-host serve` running with this config? Give its address with --url"
        )
    })?;
    let status = response.status();
    let body: Value = response.json().unwrap_or(Value::Null);
    if args.reload && body["report"].is_object() {
        print_reload(&body["report"]);
        return Ok(if status.is_success() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
    if !status.is_success() {
        let why = body["error"].as_str().unwrap_or("no reason given");
        anyhow::bail!("the host at {base} answered {status}: {why}");
    }
    match &args.reset {
        Some(id) => println!(
            "{id}: breaker closed (it was {})",
            breaker_words(&body["was"])
        ),
        None => {
            for p in body["plugins"].as_array().into_iter().flatten() {
                // What a plugin says of itself reaches the operator's terminal: made safe.
                println!(
                    "{} ({} contract {}): breaker {}; {} of {} call slots in use",
                    terminal_safe(p["id"].as_str().unwrap_or("?")),
                    terminal_safe(p["name"].as_str().unwrap_or("?")),
                    terminal_safe(p["contract"].as_str().unwrap_or("?")),
                    terminal_safe(&breaker_words(&p["breaker"])),
                    p["calls_running"],
                    p["call_slots"],
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What a reload did, a line per change; file paths and reasons are the host's words, made safe.
fn print_reload(report: &Value) {
    let ids = |k: &str| -> Vec<String> {
        report[k]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(terminal_safe))
            .collect()
    };
    for (label, key) in [
        ("added", "added"),
        ("replaced", "replaced"),
        ("unchanged", "unchanged"),
    ] {
        let list = ids(key);
        if !list.is_empty() {
            println!("{label}: {}", list.join(", "));
        }
    }
    for k in report["kept"].as_array().into_iter().flatten() {
        println!(
            "kept {}: {}",
            terminal_safe(k["id"].as_str().unwrap_or("?")),
            terminal_safe(k["reason"].as_str().unwrap_or("?"))
        );
    }
    for r in report["refused"].as_array().into_iter().flatten() {
        println!(
            "refused {}: {}",
            terminal_safe(r["path"].as_str().unwrap_or("?")),
            terminal_safe(r["reason"].as_str().unwrap_or("?"))
        );
    }
}

/// A provider id as plugins declare them (`gitflic`), so it can stand in a URL path as it is.
fn is_plugin_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `127.0.0.1:8080` for a host listening on every address (`0.0.0.0:8080`, `[::]:8080`).
fn local_url(listen: &str) -> String {
    let port = listen.rsplit_once(':').map_or("80", |(_, p)| p);
    let host = listen.rsplit_once(':').map_or(listen, |(h, _)| h);
    let host = match host {
        "0.0.0.0" | "" => "127.0.0.1",
        "[::]" => "[::1]",
        h => h,
    };
    format!("http://{host}:{port}")
}

fn breaker_words(b: &Value) -> String {
    match b["state"].as_str() {
        Some("open") => format!(
            "open: {} (re-enables itself in {} s)",
            b["reason"].as_str().unwrap_or("?"),
            b["reenables_in_secs"]
        ),
        Some("closed") => format!("closed, {} recent faults", b["recent_faults"]),
        _ => "unknown".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_on_every_address_is_reached_on_loopback() {
        assert_eq!(local_url("0.0.0.0:8080"), "http://127.0.0.1:8080");
        assert_eq!(local_url("[::]:9000"), "http://[::1]:9000");
        assert_eq!(local_url("10.1.2.3:80"), "http://10.1.2.3:80");
    }

    #[test]
    fn breakers_read_as_words() {
        let open = serde_json::json!({"state": "open", "reason": "it panicked: boom", "reenables_in_secs": 42});
        assert_eq!(
            breaker_words(&open),
            "open: it panicked: boom (re-enables itself in 42 s)"
        );
        let closed = serde_json::json!({"state": "closed", "recent_faults": 2});
        assert_eq!(breaker_words(&closed), "closed, 2 recent faults");
    }

    /// `--reset` puts the id into a URL path: only what a plugin id may be gets there.
    #[test]
    fn only_plugin_ids_are_reset() {
        assert!(is_plugin_id("gitflic") && is_plugin_id("gitlab-2"));
        for bad in ["", "../admin", "a/b", "GitFlic", "x?y=1", "a b"] {
            assert!(!is_plugin_id(bad), "{bad}");
        }
    }
}
