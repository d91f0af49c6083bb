//! Replacing a plugin while calls run (host/runtime/src/live_plugins.rs): a call in flight
//! finishes on the version it started with, the next call gets the new one, an unchanged file
//! keeps its loaded plugin (and its circuit breaker), and a file that stops loading leaves the
//! earlier version serving with the reason in the report. `serve` wires it to SIGHUP and the
//! admin API (host/cli/tests/plugin_reload.rs).
//!
//! Needs the misbehave component: cargo build -p exlogare-test-misbehave --target wasm32-wasip2 --profile plugin

mod support;

use exlogare_runtime::engine::{EngineOptions, HostEngine};
use exlogare_runtime::limits::SandboxLimits;
use exlogare_runtime::live_plugins::LivePlugins;
use exlogare_runtime::plugin::PluginRuntime;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A plugins folder holding the misbehave component, served by a fresh runtime.
fn live(folder: &Path) -> LivePlugins {
    std::fs::copy(
        exlogare_conformance_tests::component("exlogare-test-misbehave"),
        folder.join("misbehave.wasm"),
    )
    .unwrap();
    let engine = HostEngine::new(&EngineOptions::default()).unwrap();
    let runtime = PluginRuntime::new(Arc::new(engine), None).unwrap();
    let (live, errors) = LivePlugins::load(runtime, Some(folder), &[], &SandboxLimits::default());
    assert!(errors.is_empty(), "{errors:?}");
    live
}

/// The same component with one more custom section at its end: other bytes, same behaviour
/// (a rebuilt plugin, as far as the host can tell).
fn rebuilt(path: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(path).unwrap();
    let name = b"exlogare-test-rebuild";
    let payload = b"2";
    bytes.push(0); // custom section id
    bytes.push((1 + name.len() + payload.len()) as u8); // size, one LEB128 byte
    bytes.push(name.len() as u8);
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(payload);
    bytes
}

#[test]
fn a_call_in_flight_finishes_on_its_version_and_the_next_gets_the_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let live = live(dir.path());
    let file = dir.path().join("misbehave.wasm");
    let before = live.digest("misbehave").unwrap();
    let old = live.get("misbehave").unwrap();

    // A call that sleeps in the guest, started on the loaded version.
    let in_flight = {
        let old = old.clone();
        std::thread::spawn(move || {
            old.current_user(
                support::offline(),
                &support::connection("sleep", &[("ms", "700")]),
            )
        })
    };
    std::thread::sleep(Duration::from_millis(100));

    std::fs::write(&file, rebuilt(&file)).unwrap();
    let report = live.reload();
    assert_eq!(report.replaced, ["misbehave"], "{report:?}");
    assert!(report.refused.is_empty(), "{report:?}");
    let new = live.get("misbehave").unwrap();
    assert!(
        !Arc::ptr_eq(&old, &new),
        "the next call gets the new version"
    );
    assert_ne!(live.digest("misbehave").unwrap(), before);

    let answer = in_flight
        .join()
        .unwrap()
        .expect("the old version's call runs to its end");
    assert!(
        matches!(&answer.value, Ok(user) if user.username == "misbehave"),
        "{:?}",
        answer.value
    );
    let answer = new
        .current_user(support::offline(), &support::connection("ok", &[]))
        .unwrap();
    assert!(answer.value.is_ok(), "{:?}", answer.value);
}

#[test]
fn an_unchanged_file_keeps_its_plugin_and_a_broken_one_leaves_it_serving() {
    let dir = tempfile::tempdir().unwrap();
    let live = live(dir.path());
    let file = dir.path().join("misbehave.wasm");
    let loaded = live.get("misbehave").unwrap();

    let report = live.reload();
    assert_eq!(report.unchanged, ["misbehave"], "{report:?}");
    assert!(Arc::ptr_eq(&loaded, &live.get("misbehave").unwrap()));

    std::fs::write(&file, b"\0asm but not really").unwrap();
    let report = live.reload();
    assert_eq!(report.refused.len(), 1, "{report:?}");
    assert!(report.refused[0].path.ends_with("misbehave.wasm"));
    assert!(!report.refused[0].reason.is_empty());
    assert_eq!(report.kept.len(), 1, "{report:?}");
    assert!(
        report.kept[0].reason.contains("did not load")
            && report.kept[0].reason.contains("keeps serving"),
        "{report:?}"
    );
    assert!(Arc::ptr_eq(&loaded, &live.get("misbehave").unwrap()));
    assert_eq!(live.last_reload(), Some(report));

    // Gone from the folder: still served until a restart, and the report says so.
    std::fs::remove_file(&file).unwrap();
    let report = live.reload();
    assert!(report.refused.is_empty(), "{report:?}");
    assert!(report.kept[0].reason.contains("is gone"), "{report:?}");
    assert_eq!(live.ids(), ["misbehave"]);
}
