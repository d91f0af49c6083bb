//! Webhook ingest over HTTP on 127.0.0.1: `serve`'s router with the GitFlic plugin verifying
//! every delivery in a fresh sandboxed instance and SQLite storing it durably before the 202,
//! driven by concurrent keep-alive clients; and the start-up from the compile cache. Prints
//! deliveries per second, latency percentiles and that every accepted delivery is stored.
//! Asserts nothing about speed.
//!
//! `cargo bench -p exlogare-conformance-tests --bench ingest [-- DELIVERIES CLIENTS]`
//! (after the component is built: `./x bench` does both). Defaults: 4,000 deliveries, 16 clients.
//!
//! `… --bench ingest -- serve PORT SECONDS` serves the same router (under `serve`'s listener
//! limits) on 127.0.0.1:PORT for SECONDS with no load of its own, for a load generator from
//! outside (`tests/benches/wrk_ingest.sh` drives `wrk` with `post.lua`), then prints how many
//! deliveries it stored.

use exlogare_conformance_tests::{gitflic_component, workspace_root};
use exlogare_service::config::Config;
use exlogare_service::service::Service;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SECRET: &str = "wh-bench-Qz81Lm2P";

fn config(dir: &std::path::Path) -> Config {
    std::fs::write(dir.join("secret"), SECRET).unwrap();
    std::fs::write(dir.join("token"), "gf-bench-token").unwrap();
    let text = format!(
        r#"
[server]
listen = "127.0.0.1:0"
max_queued = 1000000

{storage}

[plugins]
files = [{plugin:?}]
cache_dir = {cache:?}

[[connections]]
id = "cloud"
provider = "gitflic"
web_base = "https://gitflic.ru"
api_base = "https://api.gitflic.ru"
oauth_base = "https://oauth.gitflic.ru"
webhook_secret_file = {secret:?}
access_token_file = {token:?}
"#,
        storage = storage(dir),
        plugin = gitflic_component(),
        cache = dir.join("cache"),
        secret = dir.join("secret"),
        token = dir.join("token"),
    );
    toml::from_str(&text).expect("bench config")
}

/// The bench's database: SQLite in `dir`, or the PostgreSQL database named by
/// `EXLOGARE_BENCH_DB` (tests/benches/wrk_replicas.sh starts replicas on one).
fn storage(dir: &std::path::Path) -> String {
    match std::env::var("EXLOGARE_BENCH_DB") {
        Ok(url) => format!("[storage]\nurl = {url:?}"),
        Err(_) => format!("[storage]\npath = {:?}", dir.join("bench.db")),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = raw.iter().position(|a| a == "serve") {
        let port: u16 = raw.get(i + 1).and_then(|p| p.parse().ok()).unwrap_or(18080);
        let secs: u64 = raw.get(i + 2).and_then(|s| s.parse().ok()).unwrap_or(30);
        serve_for_load_generator(port, Duration::from_secs(secs));
        return;
    }
    let args: Vec<u64> = raw.iter().filter_map(|a| a.parse().ok()).collect();
    let deliveries = args.first().copied().unwrap_or(4_000);
    let clients = args.get(1).copied().unwrap_or(16).max(1);
    let dir = tempfile::tempdir().unwrap();

    // Start-up: the first build compiles the component into the cache; a restart loads it.
    let t = Instant::now();
    drop(Service::build(config(dir.path())).expect("first start"));
    let first = t.elapsed();
    let t = Instant::now();
    let service = Arc::new(Service::build(config(dir.path())).expect("start from the cache"));
    let cached = t.elapsed();
    println!(
        "start-up: {:.0} ms compiling the GitFlic component, {:.1} ms from the compile cache",
        first.as_secs_f64() * 1e3,
        cached.as_secs_f64() * 1e3
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = exlogare_service::server::router(service.clone());
    rt.spawn(async move { axum::serve(listener, app).await });

    let template: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            workspace_root().join("fixtures/gitflic/failed-job-trace/bodies/delivery.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let url = format!("{base}/api/integrations/gitflic/webhook/cloud?secret={SECRET}");
    let started = Instant::now();
    let per_client = deliveries.div_ceil(clients);
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let (url, template) = (url.clone(), template.clone());
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::builder()
                    .no_proxy()
                    .timeout(Duration::from_secs(60))
                    .build()
                    .unwrap();
                let mut latencies = Vec::new();
                let mut accepted = 0u64;
                for i in 0..per_client {
                    let n = c * per_client + i + 1;
                    if n > deliveries {
                        break;
                    }
                    // A distinct pipeline each: every delivery is a new failure to store.
                    let mut body = template.clone();
                    body["pipeline"]["local_id"] = n.into();
                    body["pipeline"]["id"] = format!("bench-{n}").into();
                    let t = Instant::now();
                    let resp = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .header("gitflic-webhook-secret", SECRET)
                        .body(body.to_string())
                        .send()
                        .expect("the service answers");
                    latencies.push(t.elapsed());
                    if resp.status().as_u16() == 202 {
                        accepted += 1;
                    }
                }
                (latencies, accepted)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut accepted = 0;
    for h in handles {
        let (l, a) = h.join().unwrap();
        latencies.extend(l);
        accepted += a;
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let stored = service.store.queue_depth().unwrap();
    println!(
        "ingest: {deliveries} deliveries from {clients} keep-alive clients in {:.2} s: {:.0} deliveries/s, \
         latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {accepted} accepted (202), {stored} stored",
        elapsed.as_secs_f64(),
        deliveries as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3,
    );
    assert_eq!(
        stored, accepted,
        "every accepted delivery is stored, and nothing else"
    );
}

/// Serves the ingest path for `wrk` (or any client) and reports what was stored.
fn serve_for_load_generator(port: u16, for_how_long: Duration) {
    let dir = tempfile::tempdir().unwrap();
    drop(Service::build(config(dir.path())).expect("first start"));
    let service = Arc::new(Service::build(config(dir.path())).expect("start from the cache"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(("127.0.0.1", port)))
        .unwrap_or_else(|e| panic!("cannot listen on 127.0.0.1:{port}: {e}"));
    let app = exlogare_service::server::router(service.clone());
    let listener = exlogare_service::server::edge(listener, &service.config.server);
    rt.spawn(async move { axum::serve(listener, app).await });
    println!(
        "serving on http://127.0.0.1:{port} for {} s (secret {SECRET})",
        for_how_long.as_secs()
    );
    std::thread::sleep(for_how_long);
    println!(
        "stored: {} deliveries",
        service.store.queue_depth().unwrap()
    );
}
