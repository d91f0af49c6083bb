//! The per-plugin HTTP concurrency limit (`http_concurrency`, `http_wait_ms`;
//! ../shared/reference/plugin-hosts.md §9.1) end to end: concurrent calls of one loaded misbehave plugin
//! against a local server on 127.0.0.1 that counts the requests it has open at once.
//!
//! Nothing here asserts speed. The server holds each request until the test hands out a
//! ticket, so which requests wait and which time out is decided by the test's order of events,
//! and every wait is bounded so a broken limit fails instead of hanging.
//!
//! Needs the misbehave component: cargo build -p exlogare-test-misbehave --target wasm32-wasip2 --profile plugin

mod support;

use exlogare_runtime::contract::ProviderError;
use exlogare_runtime::limits::SandboxLimits;
use exlogare_runtime::plugin::{LoadedPlugin, PluginFault};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use support::*;

/// What the server saw: requests open now, the most open at once, tickets not yet used,
/// connections the client closed before the response ended.
#[derive(Default, Debug, Clone, Copy)]
struct Seen {
    open: u32,
    max_open: u32,
    tickets: u32,
    closed_early: u32,
}

#[derive(Default)]
struct Gauge {
    seen: Mutex<Seen>,
    changed: Condvar,
}

impl Gauge {
    fn update(&self, f: impl FnOnce(&mut Seen)) {
        f(&mut self.seen.lock().unwrap());
        self.changed.notify_all();
    }

    fn now(&self) -> Seen {
        *self.seen.lock().unwrap()
    }

    /// Waits (at most 20 s) until `done` holds; panics naming `what` otherwise.
    fn wait_for(&self, what: &str, done: impl Fn(&Seen) -> bool) -> Seen {
        let until = Instant::now() + Duration::from_secs(20);
        let mut seen = self.seen.lock().unwrap();
        while !done(&seen) {
            let now = Instant::now();
            assert!(
                now < until,
                "waited 20 s for {what}; the server saw {:?}",
                *seen
            );
            seen = self.changed.wait_timeout(seen, until - now).unwrap().0;
        }
        *seen
    }

    fn open_request(&self) {
        self.update(|s| {
            s.open += 1;
            s.max_open = s.max_open.max(s.open);
        });
    }

    /// Blocks the handler until the test hands out a ticket (at most 20 s).
    fn take_ticket(&self) {
        let until = Instant::now() + Duration::from_secs(20);
        let mut seen = self.seen.lock().unwrap();
        while seen.tickets == 0 && Instant::now() < until {
            seen = self
                .changed
                .wait_timeout(seen, Duration::from_millis(100))
                .unwrap()
                .0;
        }
        seen.tickets = seen.tickets.saturating_sub(1);
    }
}

/// Answers each request `200 held-ok` once it gets a ticket. The request stops counting as
/// open before its last byte is written, so the client cannot finish reading (and free its
/// slot) while the server still counts it: `max_open` is an exact upper bound.
fn holding_server() -> (Server, Arc<Gauge>) {
    let gauge = Arc::new(Gauge::default());
    let g = gauge.clone();
    let server = Server::start(move |_, s| {
        g.open_request();
        g.take_ticket();
        let _ =
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 7\r\nconnection: close\r\n\r\nheld-o");
        let _ = s.flush();
        g.update(|seen| seen.open -= 1);
        let _ = s.write_all(b"k");
        let _ = s.flush();
    });
    (server, gauge)
}

/// Sends the head and the first 10 bytes of a 100 000-byte body, then waits for the client to
/// hang up (at most 20 s) and counts that.
fn dribbling_server() -> (Server, Arc<Gauge>) {
    let gauge = Arc::new(Gauge::default());
    let g = gauge.clone();
    let server = Server::start(move |_, s| {
        g.open_request();
        let _ = s.write_all(
            b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\nconnection: close\r\n\r\n0123456789",
        );
        let _ = s.flush();
        let closed = hung_up(s);
        g.update(|seen| {
            seen.open -= 1;
            seen.closed_early += closed as u32;
        });
    });
    (server, gauge)
}

fn hung_up(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(20))).ok();
    let mut buf = [0u8; 64];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return false;
            }
            Err(_) => return true,
        }
    }
}

/// A `fetch` (or other HTTP mode) call's report and the transcript outcome of its request.
fn fetch(plugin: &LoadedPlugin, server: &Server, mode: &str) -> (String, String) {
    let origin = format!("http://api.test:{}", server.port);
    let p = policy(&origin, true);
    let out = plugin
        .current_user(
            ctx(p.clone(), live(&p, &[("api.test", "127.0.0.1")])),
            &connection(mode, &[("url", &format!("{origin}/x"))]),
        )
        .unwrap_or_else(|fault| {
            panic!("the call faulted ({fault:?}) instead of returning the HTTP outcome")
        });
    let Err(ProviderError::Transient(text)) = out.value else {
        panic!("expected a report, got {:?}", out.value)
    };
    let outcome = out
        .transcript
        .first()
        .map(|r| r.outcome.clone())
        .unwrap_or_default();
    (text, outcome)
}

#[test]
fn six_concurrent_calls_never_have_more_than_two_requests_open_and_the_waiting_ones_are_served() {
    let (server, gauge) = holding_server();
    let plugin = misbehave(SandboxLimits {
        http_concurrency: 2,
        http_wait_ms: 20_000,
        ..SandboxLimits::default()
    });
    let results = std::thread::scope(|scope| {
        let calls: Vec<_> = (0..6)
            .map(|_| scope.spawn(|| fetch(&plugin, &server, "fetch")))
            .collect();
        let seen = gauge.wait_for("two requests open", |s| s.open == 2);
        assert_eq!(
            plugin.http_requests_open(),
            2,
            "slots held while the server holds two requests ({seen:?})"
        );
        gauge.update(|s| s.tickets += 6);
        calls
            .into_iter()
            .map(|c| c.join().unwrap())
            .collect::<Vec<_>>()
    });
    let seen = gauge.now();
    for (text, _) in &results {
        assert_eq!(
            text, "response status=200 bytes=7 location=",
            "every call is served after waiting; all: {results:?}"
        );
    }
    assert_eq!(
        seen.max_open, 2,
        "most requests open at once at the server: {seen:?}"
    );
    assert_eq!(server.hits(), 6);
    assert_eq!(
        plugin.http_requests_open(),
        0,
        "every slot back after the calls"
    );
    eprintln!(
        "6 calls, http_concurrency 2: server saw at most {} open, {} requests, all answered",
        seen.max_open,
        server.hits()
    );
}

#[test]
fn calls_that_wait_past_http_wait_ms_get_timeout_naming_the_limit() {
    let (server, gauge) = holding_server();
    let plugin = misbehave(SandboxLimits {
        http_concurrency: 2,
        http_wait_ms: 300,
        ..SandboxLimits::default()
    });
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|scope| {
        for _ in 0..6 {
            let tx = tx.clone();
            let (plugin, server) = (&plugin, &server);
            scope.spawn(move || tx.send(fetch(plugin, server, "fetch")).unwrap());
        }
        // The server answers nothing until it gets tickets, so the first four calls to end are
        // the ones that never got a slot.
        let mut timed_out = Vec::new();
        for _ in 0..4 {
            timed_out.push(
                rx.recv_timeout(Duration::from_secs(20))
                    .expect("a call over the wait ends within 20 s"),
            );
        }
        let seen = gauge.now();
        assert_eq!(
            seen.open, 2,
            "the two calls with a slot are still at the server: {seen:?}"
        );
        for (text, outcome) in &timed_out {
            assert_eq!(
                text, "http-error timeout",
                "guest-visible outcome; transcript: {outcome}"
            );
            assert!(
                outcome.starts_with("Timeout: ")
                    && outcome.contains("`http_concurrency` = 2")
                    && outcome.contains("`http_wait_ms` = 300"),
                "transcript outcome: {outcome}"
            );
        }
        gauge.update(|s| s.tickets += 2);
        for _ in 0..2 {
            let (text, _) = rx
                .recv_timeout(Duration::from_secs(20))
                .expect("the held calls end once answered");
            assert_eq!(text, "response status=200 bytes=7 location=");
        }
        eprintln!(
            "6 calls, http_concurrency 2, wait 300 ms: 4 × {:?}",
            timed_out[0].1
        );
    });
    let seen = gauge.now();
    assert_eq!(
        (seen.max_open, server.hits()),
        (2, 2),
        "at most open, requests reaching the server: {seen:?}"
    );
    assert_eq!(plugin.http_requests_open(), 0);
}

#[test]
fn a_trap_or_an_undropped_stream_gives_its_slot_back_and_closes_the_connection() {
    let (dribbler, gauge) = dribbling_server();
    let fast = Server::fixed(200, &[], b"{}".to_vec());
    // One slot and a 2 s wait: a leaked slot shows as `http-error timeout` in the next call.
    let plugin = misbehave(SandboxLimits {
        http_concurrency: 1,
        http_wait_ms: 2_000,
        ..SandboxLimits::default()
    });

    let origin = format!("http://api.test:{}", dribbler.port);
    let p = policy(&origin, true);
    let trapped = plugin
        .current_user(
            ctx(p.clone(), live(&p, &[("api.test", "127.0.0.1")])),
            &connection("stream-trap", &[("url", &format!("{origin}/log"))]),
        )
        .map(|o| o.value);
    assert!(
        matches!(&trapped, Err(PluginFault::Trap(_))),
        "observed {trapped:?}"
    );
    assert_eq!(
        plugin.http_requests_open(),
        0,
        "slots held after the trapped call returned"
    );
    let seen = gauge.wait_for("the trapped call's connection to close", |s| s.open == 0);
    assert_eq!(seen.closed_early, 1, "{seen:?}");
    assert_eq!(
        fetch(&plugin, &fast, "fetch").0,
        "response status=200 bytes=2 location=",
        "the call after the trap"
    );

    let (text, _) = fetch(&plugin, &dribbler, "stream-forget");
    assert_eq!(text, "stream status=200 bytes=10 left open");
    assert_eq!(
        plugin.http_requests_open(),
        0,
        "a stream the guest never dropped is released with its instance"
    );
    let seen = gauge.wait_for("the forgotten stream's connection to close", |s| {
        s.open == 0
    });
    assert_eq!(seen.closed_early, 2, "{seen:?}");
    assert_eq!(
        fetch(&plugin, &fast, "fetch").0,
        "response status=200 bytes=2 location=",
        "the call after the forgotten stream"
    );
    eprintln!(
        "trap mid-stream and a forgotten stream: 0 slots held after each, server saw {} early hang-ups",
        seen.closed_early
    );
}

#[test]
fn a_copy_with_other_limits_has_its_own_slots() {
    let (server, gauge) = holding_server();
    let base = misbehave(SandboxLimits {
        http_concurrency: 1,
        http_wait_ms: 20_000,
        ..SandboxLimits::default()
    });
    let copy = base.with_limits(SandboxLimits {
        http_concurrency: 1,
        http_wait_ms: 100,
        ..SandboxLimits::default()
    });
    std::thread::scope(|scope| {
        let held = scope.spawn(|| fetch(&base, &server, "fetch"));
        gauge.wait_for("the base plugin's request to arrive", |s| s.open == 1);
        // The base's only slot is taken; the copy's is its own.
        let copy_call = scope.spawn(|| fetch(&copy, &server, "fetch"));
        gauge.wait_for("the copy's request to arrive too", |s| s.open == 2);
        gauge.update(|s| s.tickets += 2);
        assert_eq!(
            held.join().unwrap().0,
            "response status=200 bytes=7 location="
        );
        assert_eq!(
            copy_call.join().unwrap().0,
            "response status=200 bytes=7 location="
        );
    });
    assert_eq!(
        (base.http_requests_open(), copy.http_requests_open()),
        (0, 0)
    );
}
