//! Shared by `sandbox.rs` and `http_live.rs`: one engine and one loaded misbehave plugin per
//! test binary (compiling it once keeps the suite fast), call contexts, and tiny local HTTP
//! servers on 127.0.0.1 (never the internet).

#![allow(dead_code)]

use exlogare_runtime::call_state::Clock;
use exlogare_runtime::contract::{Connection, ProviderError};
use exlogare_runtime::egress::{EgressPolicy, Origin};
use exlogare_runtime::engine::{EngineOptions, HostEngine};
use exlogare_runtime::http::HttpBackend;
use exlogare_runtime::http::gate::Credentials;
use exlogare_runtime::http::live::{LiveBackend, LiveOptions};
use exlogare_runtime::limits::SandboxLimits;
use exlogare_runtime::plugin::{CallContext, LoadedPlugin, PluginRuntime};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

pub fn runtime() -> &'static PluginRuntime {
    static RUNTIME: OnceLock<PluginRuntime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let engine = HostEngine::new(&EngineOptions::default()).expect("engine");
        PluginRuntime::new(Arc::new(engine), None).expect("runtime")
    })
}

/// The misbehave plugin, loaded once; tests take it `with_limits` (which also gives each test
/// its own circuit-breaker state).
pub fn misbehave(limits: SandboxLimits) -> LoadedPlugin {
    static PLUGIN: OnceLock<LoadedPlugin> = OnceLock::new();
    PLUGIN
        .get_or_init(|| {
            let path = exlogare_conformance_tests::component("exlogare-test-misbehave");
            runtime()
                .load(&path, SandboxLimits::default())
                .unwrap_or_else(|e| panic!("{e}"))
        })
        .with_limits(limits)
}

pub fn connection(mode: &str, extra: &[(&str, &str)]) -> Connection {
    let mut options = vec![("mode".to_string(), mode.to_string())];
    options.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Connection {
        web_base: "http://api.test".into(),
        api_base: "http://api.test".into(),
        oauth_base: "http://api.test".into(),
        options,
    }
}

pub fn policy(api: &str, allow_private: bool) -> EgressPolicy {
    let api = Origin::parse(api).unwrap();
    EgressPolicy {
        api: api.clone(),
        oauth: api,
        extra: vec![],
        allow_private,
    }
}

/// A live backend whose `static_hosts` aim names at chosen addresses.
pub fn live(policy: &EgressPolicy, hosts: &[(&str, &str)]) -> Arc<dyn HttpBackend> {
    let mut static_hosts: HashMap<String, Vec<IpAddr>> = HashMap::new();
    for (name, ip) in hosts {
        static_hosts
            .entry(name.to_string())
            .or_default()
            .push(ip.parse().unwrap());
    }
    Arc::new(
        LiveBackend::new(
            policy.clone(),
            LiveOptions {
                static_hosts,
                ..Default::default()
            },
        )
        .unwrap(),
    )
}

pub fn ctx(policy: EgressPolicy, backend: Arc<dyn HttpBackend>) -> CallContext {
    CallContext {
        policy,
        backend,
        credentials: Credentials::default(),
        clock: Clock::System,
        sink: None,
        redact: vec![],
    }
}

/// A context for calls that make no requests.
pub fn offline() -> CallContext {
    ctx(
        policy("https://api.invalid", false),
        Arc::new(exlogare_runtime::http::replay::Unreachable),
    )
}

/// Runs `current-user` and returns the report string the misbehave plugin hands back as
/// `provider-error.transient`. A fault (trap, timeout) fails the test: HTTP refusals must be
/// guest-visible answers, not traps.
pub fn report(plugin: &LoadedPlugin, ctx: CallContext, conn: &Connection) -> String {
    match plugin.current_user(ctx, conn) {
        Ok(out) => match out.value {
            Err(ProviderError::Transient(text)) => text,
            other => panic!("expected a transient report from the plugin, got {other:?}"),
        },
        Err(fault) => panic!(
            "the call faulted ({fault:?}) instead of returning the HTTP outcome to the guest"
        ),
    }
}

/// One request per connection (`Connection: close`), each on its own thread, so a stalling
/// handler never blocks the next request.
pub struct Server {
    pub port: u16,
    hits: Arc<AtomicUsize>,
    pub heads: Arc<Mutex<Vec<String>>>,
}

impl Server {
    pub fn start(handler: impl Fn(&str, &mut TcpStream) + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(AtomicUsize::new(0));
        let heads = Arc::new(Mutex::new(Vec::new()));
        let handler = Arc::new(handler);
        let (h, hd) = (hits.clone(), heads.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let (h, hd, handler) = (h.clone(), hd.clone(), handler.clone());
                std::thread::spawn(move || {
                    let head = read_head(&mut stream);
                    h.fetch_add(1, Ordering::SeqCst);
                    hd.lock().unwrap().push(head.clone());
                    handler(&head, &mut stream);
                });
            }
        });
        Server { port, hits, heads }
    }

    /// Answers every request with `status` and `body`.
    pub fn fixed(
        status: u16,
        headers: &'static [(&'static str, &'static str)],
        body: Vec<u8>,
    ) -> Server {
        Server::start(move |_, s| respond(s, status, headers, &body))
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

pub fn respond(s: &mut TcpStream, status: u16, headers: &[(&str, &str)], body: &[u8]) {
    let mut out = format!(
        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let _ = s.write_all(out.as_bytes());
    let _ = s.write_all(body);
    let _ = s.flush();
}

fn read_head(s: &mut TcpStream) -> String {
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    // Drain a request body so the client is not reset mid-write.
    let len = text
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    let _ = s.read_exact(&mut body);
    text + &String::from_utf8_lossy(&body)
}
