//! The webhook endpoint faces the internet (issue 11): a flood of deliveries cannot disable a
//! plugin (verifications are capped below the instance pool, the excess gets 503 with
//! `Retry-After`, and host capacity never counts against a plugin); a made-up provider name in
//! the URL cannot forge or add `/metrics` series; and an unauthenticated sender never reads a
//! plugin's or a trap's text.
//!
//! Needs both components: ./x test builds them (cargo build -p exlogare-gitflic -p
//! exlogare-test-misbehave --target wasm32-wasip2 --profile plugin).

#[path = "support/config_text.rs"]
mod config_text;
#[path = "support/fakes.rs"]
mod fakes;
#[path = "support/running.rs"]
mod running;

use config_text::*;
use exlogare_conformance_tests::{component, gitflic_component, gitflic_fixtures};
use exlogare_runtime::plugin::BreakerState;
use running::RunningHost as Host;
use serde_json::Value;
use std::collections::BTreeSet;

const SECRET: &str = "wh-exposure-Q8s1Vn";

struct World {
    dir: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        write_secrets(dir.path(), &[("secret", SECRET), ("token", "gf-token")]);
        World { dir }
    }

    /// GitFlic on connection `cloud`, the misbehave plugin on `bad` doing `options`.
    fn host(&self, server_fields: &str, options: &str) -> Host {
        let d = self.dir.path();
        let rest = format!(
            r#"
[sandbox]
call_timeout_ms = 5000

[[connections]]
id = "cloud"
provider = "gitflic"
compare_green_runs = false
web_base = "https://gitflic.ru"
api_base = "https://api.gitflic.ru"
oauth_base = "https://oauth.gitflic.ru"
webhook_secret_file = {secret:?}
access_token_file = {token:?}

[[connections]]
id = "bad"
provider = "misbehave"
web_base = "http://api.test"
api_base = "http://api.test"
oauth_base = "http://api.test"
options = {{ {options} }}
webhook_secret_file = {secret:?}
"#,
            secret = d.join("secret"),
            token = d.join("token"),
        );
        let both = plugins(
            &[gitflic_component(), component("exlogare-test-misbehave")],
            Some(&d.join("cache")),
        );
        let path = write_config(d, &(server(server_fields) + &storage(d) + &both + &rest));
        Host::start(&path, false, true)
    }
}

fn delivery_body() -> Vec<u8> {
    std::fs::read(gitflic_fixtures().join("failed-job-trace/bodies/delivery.json")).unwrap()
}

struct Answer {
    status: u16,
    json: Value,
    retry_after: Option<String>,
}

impl Host {
    fn send(&self, provider: &str, connection: &str, secret: &str) -> Answer {
        let resp = self
            .webhook(provider, connection, secret, delivery_body())
            .send()
            .unwrap();
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        let text = resp.text().unwrap();
        Answer {
            status,
            json: serde_json::from_str(&text).unwrap_or(Value::Null),
            retry_after,
        }
    }

    fn scrape(&self) -> String {
        self.client
            .get(format!("{}/metrics", self.base))
            .send()
            .unwrap()
            .text()
            .unwrap()
    }
}

/// Every line of a scrape is a comment, empty, or `name{labels} value`, labels well quoted;
/// returns the series (name and labels) it holds.
fn series_of(scrape: &str) -> BTreeSet<String> {
    let mut series = BTreeSet::new();
    for line in scrape.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("a sample line without a value: {line:?}"));
        assert!(
            value.parse::<f64>().is_ok(),
            "not a number in {line:?}\n{scrape}"
        );
        let name_end = key.find('{').unwrap_or(key.len());
        let name = &key[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "a bad metric name in {line:?}"
        );
        if name_end < key.len() {
            assert!(key.ends_with('}'), "unterminated labels in {line:?}");
            // Inside the braces: key="value" pairs, quotes balanced once escapes are skipped.
            let mut quoted = false;
            let mut escaped = false;
            for c in key[name_end + 1..key.len() - 1].chars() {
                match (quoted, escaped, c) {
                    (true, false, '\\') => escaped = true,
                    (true, true, _) => escaped = false,
                    (_, false, '"') => quoted = !quoted,
                    _ => {}
                }
            }
            assert!(!quoted, "an unterminated label value in {line:?}");
        }
        assert!(
            name.starts_with("exlogare_"),
            "a series the service does not define: {line:?}"
        );
        series.insert(key.to_string());
    }
    series
}

#[test]
fn a_provider_name_in_the_url_cannot_forge_or_add_metrics_series() {
    let world = World::new();
    let host = world.host("", r#"mode = "ok""#);
    let before = series_of(&host.scrape());
    for path in [
        "/api/integrations/%22%7D%0Afake_metric%201/webhook/x",
        "/api/integrations/random-name-4711/webhook/x",
        "/api/integrations/a%5C%22b/webhook/x",
    ] {
        let resp = host
            .client
            .post(format!("{}{path}", host.base))
            .header("gitflic-webhook-secret", "x")
            .body("{}")
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 404, "{path}");
        let text = resp.text().unwrap();
        assert!(
            !text.contains("fake_metric"),
            "the answer does not echo a name that is no id: {text}"
        );
    }
    let scrape = host.scrape();
    let after = series_of(&scrape);
    assert_eq!(before, after, "no series was added:\n{scrape}");
    assert!(!scrape.contains("fake_metric"), "{scrape}");
    assert!(
        scrape.contains(
            r#"exlogare_webhook_deliveries_total{provider="unknown",outcome="http_404"} 3"#
        ),
        "{scrape}"
    );
}

#[test]
fn a_flood_of_deliveries_gets_503_with_retry_after_and_disables_no_plugin() {
    let world = World::new();
    // Each misbehave verification takes 1 s; 4 run at once.
    let host = world.host(
        "max_concurrent_verifications = 4",
        r#"mode = "sleep", ms = "1000""#,
    );
    let answers: Vec<(&str, Answer)> = std::thread::scope(|scope| {
        let mut calls = Vec::new();
        for i in 0..240 {
            let host = &host;
            calls.push(scope.spawn(move || {
                if i % 3 == 0 {
                    ("gitflic", host.send("gitflic", "cloud", "wh-guessed-0000"))
                } else {
                    ("misbehave", host.send("misbehave", "bad", SECRET))
                }
            }));
        }
        calls.into_iter().map(|c| c.join().unwrap()).collect()
    });
    let mut busy = 0;
    for (provider, a) in &answers {
        match (provider, a.status, a.json["status"].as_str()) {
            (_, 503, Some("busy")) => {
                assert_eq!(a.retry_after.as_deref(), Some("5"), "{}", a.json);
                busy += 1;
            }
            (&"gitflic", 401, Some("unauthorized")) => {}
            (&"misbehave", 200, Some("ignored")) => {}
            _ => panic!("{provider}: {} {}", a.status, a.json),
        }
    }
    assert!(busy > 0, "the cap of 4 bit on 240 deliveries at once");
    for id in ["gitflic", "misbehave"] {
        assert_eq!(
            host.service.plugins.get(id).unwrap().breaker(),
            BreakerState::Closed { recent_faults: 0 },
            "{id}"
        );
    }
    let scrape = host.scrape();
    series_of(&scrape);
    assert!(
        !scrape
            .lines()
            .any(|l| l.starts_with("exlogare_plugin_faults_total")),
        "no plugin fault was counted:\n{scrape}"
    );
    assert!(
        scrape.contains(r#"exlogare_plugin_disabled{provider="gitflic"} 0"#),
        "{scrape}"
    );

    // Right after the flood, a valid delivery is checked and stored.
    let a = host.send("gitflic", "cloud", SECRET);
    assert_eq!(
        (a.status, a.json["status"].as_str()),
        (202, Some("queued")),
        "{}",
        a.json
    );
    eprintln!("240 deliveries at once: {busy} got 503 busy");
}

#[test]
fn an_unauthenticated_sender_never_reads_plugin_or_trap_text() {
    let world = World::new();
    // A rejection whose text the plugin chose ("unknown mode `...`").
    let host = world.host("", r#"mode = "leak-this-text""#);
    let a = host.send("misbehave", "bad", SECRET);
    assert_eq!(
        (a.status, a.json["status"].as_str()),
        (400, Some("malformed")),
        "{}",
        a.json
    );
    let text = a.json.to_string();
    assert!(
        !text.contains("leak-this-text") && !text.contains("unknown mode"),
        "{text}"
    );
    drop(host);

    // A panic message and the trap.
    let host = world.host("", r#"mode = "trap""#);
    let a = host.send("misbehave", "bad", SECRET);
    assert_eq!(
        (a.status, a.json["status"].as_str()),
        (503, Some("plugin_fault")),
        "{}",
        a.json
    );
    let text = a.json.to_string();
    assert!(
        !text.contains("asked to trap")
            && !text.contains("panicked")
            && !text.contains("unreachable"),
        "{text}"
    );
    assert!(text.contains("nothing was stored, retry later"), "{text}");
}

#[test]
fn a_body_that_trickles_gets_408_and_frees_its_connection() {
    use std::io::{Read, Write};
    let world = World::new();
    let host = world.host("body_read_timeout_ms = 300", r#"mode = "ok""#);
    let addr = host.base.trim_start_matches("http://").to_string();
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    // Headers promise 1000 bytes; one arrives, then nothing.
    write!(
        stream,
        "POST /api/integrations/gitflic/webhook/cloud HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{"
    )
    .unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&answer).contains("body_read_timeout_ms") {
        let n = stream
            .read(&mut buf)
            .expect("an answer before the read timeout");
        assert!(
            n > 0,
            "closed without an answer: {}",
            String::from_utf8_lossy(&answer)
        );
        answer.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    // The endpoint still serves.
    let a = host.send("gitflic", "cloud", SECRET);
    assert_eq!(a.status, 202, "{}", a.json);
}

#[test]
fn the_token_less_admin_api_refuses_what_another_site_would_send() {
    let world = World::new();
    let host = world.host("", r#"mode = "ok""#);
    assert!(
        host.service.admin_token.is_none(),
        "the open loopback default"
    );
    let url = format!("{}/api/connections", host.base);
    let new = r#"{"id": "planted", "provider": "gitflic", "web_base": "https://gitflic.ru"}"#;

    // A cross-site form post: text/plain needs no preflight.
    let resp = host
        .client
        .post(&url)
        .header("content-type", "text/plain")
        .body(new)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 415, "{}", resp.text().unwrap());

    // DNS rebinding: the page's own name, now resolving to this host.
    let resp = host
        .client
        .get(&url)
        .header("host", "evil.example:8080")
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 421, "{}", resp.text().unwrap());

    // Another site's page, JSON and all.
    let resp = host
        .client
        .post(&url)
        .header("content-type", "application/json")
        .header("origin", "http://evil.example")
        .body(new)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403, "{}", resp.text().unwrap());
    assert!(
        host.service.connection("planted").is_none(),
        "nothing was added"
    );

    // This host's own page and the CLI pass.
    let resp = host
        .client
        .get(&url)
        .header("origin", host.base.as_str())
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200, "{}", resp.text().unwrap());
    let resp = host.client.get(&url).send().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    // The webhook endpoint is not an admin endpoint: no Host rule there.
    let resp = host
        .webhook("gitflic", "cloud", SECRET, delivery_body())
        .header("host", "gitflic-proxy.example")
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
}

/// The host's router served through `server::edge` with small limits, on its own runtime.
fn edge_server(
    host: &Host,
    limits: &str,
) -> (
    tokio::runtime::Runtime,
    String,
    std::sync::Arc<tokio::sync::Semaphore>,
) {
    let server: exlogare_service::config::ServerConfig = toml::from_str(limits).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let _guard = rt.enter();
    let edge = exlogare_service::server::edge(listener, &server);
    let free = edge.free_slots();
    let app = exlogare_service::server::router(host.service.clone());
    rt.spawn(async move { axum::serve(edge, app).await });
    (rt, addr, free)
}

/// Reads until the peer closes (or resets) the connection; what it sent meanwhile.
fn read_to_close(stream: &mut std::net::TcpStream) -> String {
    use std::io::Read;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the server kept the connection open: {e}"),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn trickled_headers_and_silent_connections_are_closed_and_connections_are_capped() {
    use std::io::Write;
    let world = World::new();
    let host = world.host("", r#"mode = "ok""#);
    let (_rt, addr, free) = edge_server(
        &host,
        "max_connections = 2\nheader_read_timeout_ms = 300\nidle_timeout_ms = 1500",
    );

    // A head trickled a line every 100 ms: never idle for 1.5 s, so only the 300 ms header
    // deadline can close it, and it does before the head is complete (100 lines).
    let mut trickle = std::net::TcpStream::connect(&addr).unwrap();
    write!(trickle, "GET /healthz HTTP/1.1\r\nHost: {addr}\r\n").unwrap();
    let mut lines = 0;
    while writeln!(trickle, "X-Pad-{lines}: 1\r").is_ok() {
        lines += 1;
        assert!(lines < 100, "a head trickled for 10 s was never cut off");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    eprintln!("the trickled head was cut off after {lines} lines");

    // Two silent connections take both slots; a third waits until one is closed for idling.
    let mut a = std::net::TcpStream::connect(&addr).unwrap();
    let _b = std::net::TcpStream::connect(&addr).unwrap();
    running::wait_until("both slots taken", || free.available_permits() == 0);
    let mut c = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        c,
        "GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    assert_eq!(read_to_close(&mut a), "", "the silent connection is closed");
    let answer = read_to_close(&mut c);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
