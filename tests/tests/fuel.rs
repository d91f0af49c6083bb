//! The CI instruction budget (../shared/reference/plugin-hosts.md §9.1 item 13): the GitFlic plugin runs
//! every golden fixture scenario on a fuel-metered engine, and each scenario's fuel (roughly,
//! wasm instructions, summed over its calls) must stay within +20 % of
//! `fixtures/gitflic/fuel-baseline.json`. Fuel is deterministic for one component and one
//! input, so unlike a timing benchmark this needs no noise margin beyond the budget itself.
//!
//! Production engines run without fuel (epochs only); only this test's engine meters it. Every
//! scenario is measured, huge-log included: its 200 MB log takes ~3 s with fuel on the 2-core
//! machine, about what it takes without (tests/conformance.rs).
//!
//! Re-bless after an intended change (and commit the baseline with it):
//! `EXLOGARE_BLESS_FUEL=1 cargo test -p exlogare-conformance-tests --test fuel`
//!
//! Needs both components: cargo build -p exlogare-gitflic -p exlogare-test-misbehave --target wasm32-wasip2 --profile plugin

use exlogare_conformance::{ScenarioRun, run_scenario};
use exlogare_conformance_tests::{component, workspace_root};
use exlogare_runtime::contract::Connection;
use exlogare_runtime::engine::{EngineOptions, HostEngine};
use exlogare_runtime::limits::SandboxLimits;
use exlogare_runtime::plugin::{CallContext, LoadedPlugin, PluginFault, PluginRuntime};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BASELINE: &str = "fixtures/gitflic/fuel-baseline.json";
const BLESS_ENV: &str = "EXLOGARE_BLESS_FUEL";
const BLESS_COMMAND: &str =
    "EXLOGARE_BLESS_FUEL=1 cargo test -p exlogare-conformance-tests --test fuel";
/// A scenario fails above baseline × (100 + this) / 100; below × (100 − this) / 100 it is
/// reported so the baseline gets lowered.
const BUDGET_PERCENT: u128 = 20;

fn load(package: &str, options: EngineOptions) -> LoadedPlugin {
    let engine = Arc::new(HostEngine::new(&options).expect("engine"));
    let runtime = PluginRuntime::new(engine, None).expect("runtime");
    runtime
        .load(&component(package), SandboxLimits::default())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn metered() -> EngineOptions {
    EngineOptions {
        pooling: false,
        consume_fuel: true,
        ..Default::default()
    }
}

fn scenario_dirs(fixtures: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(fixtures)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", fixtures.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("scenario.toml").is_file())
        .collect();
    dirs.sort();
    dirs
}

/// Runs one scenario and checks it still matches its golden: the fuel of a run that behaves
/// differently measures nothing (tests/conformance.rs shows the diff).
fn run(plugin: &LoadedPlugin, dir: &Path) -> ScenarioRun {
    let run = run_scenario(plugin, dir).unwrap_or_else(|e| panic!("{}: {e:#}", dir.display()));
    assert!(
        run.violations.is_empty(),
        "{}: {:?}",
        run.name,
        run.violations
    );
    let golden = std::fs::read_to_string(dir.join("expected.json"))
        .unwrap_or_else(|e| panic!("{}: no golden: {e}", run.name));
    let golden: serde_json::Value = serde_json::from_str(&golden).unwrap();
    assert!(
        golden == run.actual,
        "{}: on the fuel engine the scenario differs from its golden; run `cargo test -p exlogare-conformance-tests --test conformance` for the diff",
        run.name
    );
    run
}

fn percent(fuel: u64, base: u64) -> f64 {
    (fuel as f64 / base.max(1) as f64 - 1.0) * 100.0
}

/// Straight to the process's stderr: libtest captures `eprintln!` of a passing test, and a note
/// that the baseline should come down is only useful if someone sees it.
fn note(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "note: {text}");
}

#[test]
fn every_golden_scenario_stays_within_its_fuel_baseline() {
    let started = Instant::now();
    let plugin = load("exlogare-gitflic", metered());
    let root = workspace_root();
    let mut measured: BTreeMap<String, u64> = BTreeMap::new();
    let mut steps: BTreeMap<String, Vec<(&'static str, u64)>> = BTreeMap::new();
    for dir in scenario_dirs(&root.join("fixtures/gitflic")) {
        let at = Instant::now();
        let run = run(&plugin, &dir);
        let fuel = run
            .fuel_consumed
            .unwrap_or_else(|| panic!("{}: no fuel reported on a fuel engine", run.name));
        eprintln!("{:<28} {fuel:>15} fuel  {:>8.2?}", run.name, at.elapsed());
        measured.insert(run.name.clone(), fuel);
        steps.insert(run.name, run.step_fuel);
    }
    assert!(
        measured.len() >= 30,
        "expected the full scenario set, found {}",
        measured.len()
    );
    eprintln!(
        "{} scenarios, {} fuel in all, in {:.1?}",
        measured.len(),
        measured.values().sum::<u64>(),
        started.elapsed()
    );

    let path = root.join(BASELINE);
    if std::env::var_os(BLESS_ENV).is_some_and(|v| v == "1") {
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&measured).unwrap() + "\n",
        )
        .unwrap();
        eprintln!("wrote {}; review and commit it", path.display());
        return;
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "no baseline at {} ({e}); create it: {BLESS_COMMAND}",
            path.display()
        )
    });
    let baseline: BTreeMap<String, u64> =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));

    let mut failures = Vec::new();
    for (name, &fuel) in &measured {
        let breakdown = || {
            steps[name]
                .iter()
                .map(|(op, f)| format!("{op} {f}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let Some(&base) = baseline.get(name) else {
            failures.push(format!(
                "{name}: {fuel} fuel, but the scenario is not in the baseline"
            ));
            continue;
        };
        if fuel as u128 * 100 > base as u128 * (100 + BUDGET_PERCENT) {
            failures.push(format!(
                "{name}: {fuel} fuel against a baseline of {base}: {:+.1} %, over the +{BUDGET_PERCENT} % budget (by step: {})",
                percent(fuel, base),
                breakdown()
            ));
        } else if (fuel as u128) * 100 < base as u128 * (100 - BUDGET_PERCENT) {
            note(&format!(
                "{name} now takes {fuel} fuel, {:.1} % below its baseline of {base}; lower the baseline: {BLESS_COMMAND}",
                -percent(fuel, base)
            ));
        }
    }
    for name in baseline.keys().filter(|n| !measured.contains_key(*n)) {
        note(&format!(
            "the baseline lists {name}, which is no longer a scenario; re-bless to drop it: {BLESS_COMMAND}"
        ));
    }
    assert!(
        failures.is_empty(),
        "{} scenario(s) fail the fuel budget in {}:\n  {}\nIf the extra work is intended (or the scenario is new), re-bless and commit the baseline: {BLESS_COMMAND}",
        failures.len(),
        BASELINE,
        failures.join("\n  ")
    );
}

fn connection(mode: &str) -> Connection {
    Connection {
        web_base: "http://api.test".into(),
        api_base: "http://api.test".into(),
        oauth_base: "http://api.test".into(),
        options: vec![("mode".into(), mode.into())],
    }
}

#[test]
fn fuel_is_reported_by_a_fuel_engine_only_and_is_deterministic() {
    let plain = load(
        "exlogare-test-misbehave",
        EngineOptions {
            pooling: false,
            ..Default::default()
        },
    );
    let out = plain
        .current_user(CallContext::offline(), &connection("ok"))
        .expect("the call");
    assert!(out.value.is_ok(), "{:?}", out.value);
    assert_eq!(
        out.fuel_consumed, None,
        "a production engine meters no fuel"
    );

    let fueled = load("exlogare-test-misbehave", metered());
    let fuel = |_| {
        fueled
            .current_user(CallContext::offline(), &connection("ok"))
            .expect("the call")
            .fuel_consumed
    };
    let runs: Vec<Option<u64>> = (0..3).map(fuel).collect();
    assert!(
        runs[0].is_some_and(|f| f > 0),
        "a fuel engine reports the fuel: {runs:?}"
    );
    assert!(
        runs.iter().all(|r| *r == runs[0]),
        "the same call burns the same fuel every time: {runs:?}"
    );
}

#[test]
fn running_out_of_a_fuel_cap_is_a_fault_that_names_it() {
    let cap = 50_000_000;
    let plugin = load(
        "exlogare-test-misbehave",
        EngineOptions {
            fuel_per_call: cap,
            ..metered()
        },
    );
    let started = Instant::now();
    let result = plugin
        .current_user(CallContext::offline(), &connection("loop"))
        .map(|o| o.value);
    let Err(PluginFault::Trap(message)) = &result else {
        panic!("expected a trap, got {result:?}")
    };
    assert!(
        message.contains("fuel") && message.contains(&cap.to_string()),
        "the fault names the fuel cap: {message}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "fuel, not the 30 s deadline, stopped the loop: {:?}",
        started.elapsed()
    );
    eprintln!(
        "fuel cap {cap}: {} after {:?}",
        result.unwrap_err(),
        started.elapsed()
    );
}
