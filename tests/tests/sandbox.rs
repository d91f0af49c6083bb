//! The sandbox's limits, each shown biting (../shared/reference/plugin-hosts.md §9.1): runaway code and
//! memory, trap recovery and the circuit breaker, the request budget, load-time refusals,
//! the signed compile cache and bounded stdout. The HTTP egress cases are in `http_live.rs`.
//!
//! Each assertion message carries the value observed, so a failing run says what the host did.
//! §9.1 item 13 (a fuel budget for the GitFlic goldens) is in `fuel.rs`: production engines
//! run with epoch interruption only; fuel is on for that test's engine.
//!
//! Needs the misbehave component: cargo build -p exlogare-test-misbehave --target wasm32-wasip2 --profile plugin

mod support;

use exlogare_runtime::cache::{CacheOutcome, CompileCache};
use exlogare_runtime::engine::{EngineOptions, HostEngine};
use exlogare_runtime::limits::SandboxLimits;
use exlogare_runtime::plugin::{PluginFault, PluginRuntime};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;

fn limits() -> SandboxLimits {
    SandboxLimits::default()
}

#[test]
fn an_infinite_loop_times_out_at_its_deadline_while_another_call_completes() {
    let timeout_ms = 300;
    let looping = misbehave(SandboxLimits {
        call_timeout_ms: timeout_ms,
        ..limits()
    });
    let other = misbehave(limits());
    let started = Instant::now();
    let spinner = std::thread::spawn(move || {
        let result = looping.current_user(offline(), &connection("loop", &[]));
        (result.map(|o| o.value), started.elapsed())
    });
    // Runs while the loop spins on the other thread; epochs interrupt per store, so one
    // runaway guest must not hold up anyone else.
    std::thread::sleep(Duration::from_millis(50));
    let ok = other
        .current_user(offline(), &connection("ok", &[]))
        .expect("the well-behaved call");
    let ok_done = started.elapsed();
    assert!(
        ok.value.is_ok(),
        "the concurrent call failed: {:?}",
        ok.value
    );
    let (result, loop_done) = spinner.join().unwrap();
    let Err(PluginFault::Timeout(ms)) = result else {
        panic!("expected a timeout, got {result:?}")
    };
    assert!(
        ok_done < loop_done,
        "the concurrent call finished at {ok_done:?}, after the loop was stopped at {loop_done:?}"
    );
    // The epoch ticker's phase can fire the deadline up to one tick (10 ms) early; the margin
    // above is generous for a loaded CI machine, but a loop that is never stopped fails it.
    assert!(
        ms + 20 >= timeout_ms,
        "stopped after {ms} ms, before the {timeout_ms} ms deadline"
    );
    assert!(
        loop_done < Duration::from_millis(timeout_ms + 1500),
        "stopped only after {loop_done:?} for a {timeout_ms} ms deadline"
    );
    eprintln!(
        "loop: Timeout({ms}) for a {timeout_ms} ms deadline; concurrent call done at {ok_done:?}"
    );
}

#[test]
fn growing_to_128_mib_under_a_64_mib_cap_is_a_memory_limit_fault() {
    let cap = 64u64 << 20;
    let plugin = misbehave(SandboxLimits {
        memory_bytes: cap,
        ..limits()
    });
    let result = plugin
        .current_user(offline(), &connection("alloc", &[]))
        .map(|o| o.value);
    assert!(
        matches!(result, Err(PluginFault::MemoryLimit(c)) if c == cap),
        "observed {result:?}"
    );
}

#[test]
fn the_call_after_a_trap_gets_a_fresh_instance_and_succeeds() {
    let plugin = misbehave(limits());
    let trapped = plugin
        .current_user(offline(), &connection("trap", &[]))
        .map(|o| o.value);
    assert!(
        matches!(&trapped, Err(PluginFault::Trap(_))),
        "observed {trapped:?}"
    );
    let next = plugin
        .current_user(offline(), &connection("ok", &[]))
        .map(|o| o.value);
    assert!(
        matches!(&next, Ok(Ok(user)) if user.username == "misbehave"),
        "the call after the trap: {next:?}"
    );
}

#[test]
fn the_circuit_breaker_disables_a_plugin_after_n_consecutive_faults() {
    let n = 3;
    let plugin = misbehave(SandboxLimits {
        max_consecutive_traps: n,
        ..limits()
    });
    let call = |mode: &str| {
        plugin
            .current_user(offline(), &connection(mode, &[]))
            .map(|o| o.value)
    };
    // A success in between resets the count: only consecutive faults disable.
    for _ in 0..n - 1 {
        assert!(matches!(call("trap"), Err(PluginFault::Trap(_))));
    }
    assert!(
        call("ok").is_ok(),
        "a success before the limit keeps the plugin enabled"
    );
    for i in 0..n {
        let r = call("trap");
        assert!(
            matches!(&r, Err(PluginFault::Trap(_))),
            "fault {} of {n}: {r:?}",
            i + 1
        );
    }
    let after = call("ok");
    assert!(
        matches!(&after, Err(PluginFault::Disabled(reason)) if reason.contains(&format!("{n} consecutive faults"))),
        "after {n} consecutive traps a good call must be refused, observed {after:?}"
    );
}

#[test]
fn the_request_budget_refuses_the_request_after_n() {
    let server = Server::fixed(200, &[], b"{}".to_vec());
    let api = format!("http://api.test:{}", server.port);
    let p = policy(&api, true);
    let plugin = misbehave(SandboxLimits {
        requests_per_call: 3,
        ..limits()
    });
    let text = report(
        &plugin,
        ctx(p.clone(), live(&p, &[("api.test", "127.0.0.1")])),
        &connection("budget", &[("url", &format!("{api}/x"))]),
    );
    assert!(
        text.starts_with("sent=3 then http-error denied:") && text.contains("budget of 3"),
        "observed: {text}"
    );
    assert_eq!(server.hits(), 3, "requests that reached the server");
}

#[test]
fn stdout_flooding_is_truncated_at_the_cap() {
    let cap = 64u64 << 10;
    let plugin = misbehave(SandboxLimits {
        stdio_bytes: cap,
        ..limits()
    });
    let out = plugin
        .current_user(offline(), &connection("stdout", &[]))
        .expect("printing is not a fault");
    assert!(out.value.is_ok(), "{:?}", out.value);
    assert_eq!(
        out.stdio.len() as u64,
        cap,
        "kept {} bytes",
        out.stdio.len()
    );
    assert_eq!(
        out.stdio_dropped,
        (10u64 << 20) - cap,
        "dropped {} of the 10 MiB printed",
        out.stdio_dropped
    );
}

// ---- Loading ---------------------------------------------------------------------------

fn load_wat(wat: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plugin.wasm");
    std::fs::write(&path, wat::parse_str(wat).expect("test WAT parses")).unwrap();
    match runtime().load(&path, limits()) {
        Ok(p) => panic!("{wat} loaded as {}", p.id()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_plugin_importing_sockets_is_refused_naming_the_import() {
    let err = load_wat(
        r#"(component (import "wasi:sockets/tcp@0.2.0" (instance)) (instance $i) (export "exlogare:ci/provider@0.1.0" (instance $i)))"#,
    );
    assert!(
        err.contains("`wasi:sockets/tcp@0.2.0`") && err.contains("only through exlogare:ci/http"),
        "observed: {err}"
    );
}

#[test]
fn a_plugin_importing_an_unknown_interface_is_refused_naming_it() {
    let err = load_wat(
        r#"(component (import "acme:backdoor/shell@1.0.0" (instance)) (instance $i) (export "exlogare:ci/provider@0.1.0" (instance $i)))"#,
    );
    assert!(
        err.contains("`acme:backdoor/shell@1.0.0`") && err.contains("does not provide"),
        "observed: {err}"
    );
}

#[test]
fn a_plugin_exporting_another_contract_line_is_refused_naming_the_export() {
    let err = load_wat(
        r#"(component (instance $i) (export "exlogare:ci/provider@0.2.0" (instance $i)))"#,
    );
    assert!(
        err.contains("`exlogare:ci/provider@0.2.0`") && err.contains("0.1"),
        "observed: {err}"
    );
}

#[test]
fn a_component_exporting_nothing_is_refused_naming_the_missing_export() {
    let err = load_wat("(component)");
    assert!(
        err.contains("exlogare:ci/provider@0.1.x") && err.contains("exports nothing"),
        "observed: {err}"
    );
}

#[test]
fn a_core_module_is_refused_as_not_a_component() {
    let err = load_wat("(module)");
    assert!(
        err.contains("core wasm module") && err.contains("wasm32-wasip2"),
        "observed: {err}"
    );
}

// ---- Compile cache ---------------------------------------------------------------------

fn cached_runtime(dir: &std::path::Path) -> PluginRuntime {
    let engine = HostEngine::new(&EngineOptions {
        pooling: false,
        ..Default::default()
    })
    .unwrap();
    PluginRuntime::new(Arc::new(engine), Some(CompileCache::open(dir).unwrap())).unwrap()
}

fn cwasm_in(dir: &std::path::Path) -> std::path::PathBuf {
    let found: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    assert_eq!(found.len(), 1, "cache entries: {found:?}");
    found[0].clone()
}

#[test]
fn a_tampered_cached_artifact_is_rejected_and_recompiled_then_hits() {
    let wasm = exlogare_conformance_tests::component("exlogare-test-misbehave");
    let dir = tempfile::tempdir().unwrap();
    let rt = cached_runtime(dir.path());
    let first = rt.load(&wasm, limits()).unwrap();
    assert_eq!(first.cache, CacheOutcome::Miss);
    let artifact = cwasm_in(dir.path());
    let mut bytes = std::fs::read(&artifact).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0xff;
    std::fs::write(&artifact, &bytes).unwrap();

    let second = rt.load(&wasm, limits()).unwrap();
    assert!(
        matches!(&second.cache, CacheOutcome::Rejected(why) if why.contains("MAC")),
        "after tampering: {:?}",
        second.cache
    );
    let works = second
        .current_user(offline(), &connection("ok", &[]))
        .map(|o| o.value);
    assert!(
        matches!(works, Ok(Ok(_))),
        "the recompiled plugin runs: {works:?}"
    );
    let third = rt.load(&wasm, limits()).unwrap();
    assert_eq!(
        third.cache,
        CacheOutcome::Hit,
        "a clean load after the recompile"
    );
}

#[test]
fn an_artifact_signed_by_another_host_is_rejected() {
    let wasm = exlogare_conformance_tests::component("exlogare-test-misbehave");
    let ours = tempfile::tempdir().unwrap();
    let theirs = tempfile::tempdir().unwrap();
    let rt = cached_runtime(ours.path());
    assert_eq!(rt.load(&wasm, limits()).unwrap().cache, CacheOutcome::Miss);
    // Another host (another key) compiles the same wasm; its artifact and MAC are copied in
    // over ours, as a plugin author shipping a ".cwasm" would.
    let other = cached_runtime(theirs.path());
    assert_eq!(
        other.load(&wasm, limits()).unwrap().cache,
        CacheOutcome::Miss
    );
    let foreign = cwasm_in(theirs.path());
    let name = foreign.file_name().unwrap();
    assert_eq!(
        name,
        cwasm_in(ours.path()).file_name().unwrap(),
        "same wasm, same engine: same cache key"
    );
    std::fs::copy(&foreign, ours.path().join(name)).unwrap();
    std::fs::copy(
        foreign.with_extension("mac"),
        ours.path().join(name).with_extension("mac"),
    )
    .unwrap();

    let loaded = rt.load(&wasm, limits()).unwrap();
    assert!(
        matches!(&loaded.cache, CacheOutcome::Rejected(why) if why.contains("MAC")),
        "foreign artifact: {:?}",
        loaded.cache
    );
    assert_eq!(rt.load(&wasm, limits()).unwrap().cache, CacheOutcome::Hit);
}
