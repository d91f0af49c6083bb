//! The GitLab plugin (`plugin/gitlab`), built the way a third party would build a provider (the
//! contract in `wit/`, the guest kit, the README), driven through the host's sandbox over every
//! recorded scenario in `fixtures/gitlab`: it must reproduce the reviewed goldens exactly. And
//! both providers load side by side in one host.
//!
//! Needs both components: `./x test`, or
//! `cargo build -p exlogare-gitflic -p exlogare-gitlab --target wasm32-wasip2 --profile plugin`.

use exlogare_conformance::{run_scenario, run_suite};
use exlogare_conformance_tests::{gitflic_component, gitlab_component, workspace_root};
use exlogare_runtime::engine::{EngineOptions, HostEngine};
use exlogare_runtime::limits::SandboxLimits;
use exlogare_runtime::plugin::{CallContext, LoadedPlugin, PluginRuntime};
use exlogare_runtime::wit::ContractLine;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

fn runtime() -> &'static PluginRuntime {
    static RUNTIME: OnceLock<PluginRuntime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let engine = Arc::new(HostEngine::new(&EngineOptions::default()).expect("engine"));
        PluginRuntime::new(engine, None).expect("runtime")
    })
}

fn gitlab() -> &'static LoadedPlugin {
    static PLUGIN: OnceLock<LoadedPlugin> = OnceLock::new();
    PLUGIN.get_or_init(|| {
        runtime()
            .load(&gitlab_component(), SandboxLimits::default())
            .expect("the GitLab plugin loads")
    })
}

#[test]
fn every_gitlab_scenario_matches_its_golden() {
    let verdicts = run_suite(
        gitlab(),
        &workspace_root().join("fixtures/gitlab"),
        &[],
        false,
    )
    .expect("suite runs");
    let failed: Vec<String> = verdicts
        .iter()
        .filter(|v| !v.passed)
        .map(|v| format!("{}: {}", v.name, v.detail))
        .collect();
    assert!(
        verdicts.len() >= 25,
        "expected the full GitLab scenario set, found {}",
        verdicts.len()
    );
    assert!(
        failed.is_empty(),
        "{} of {} scenarios differ:\n{}",
        failed.len(),
        verdicts.len(),
        failed.join("\n")
    );
}

/// The runner records a request that matches no recording as a 599 instead of failing, so a
/// golden blessed while the plugin wandered would keep the wandering; none of GitLab's may.
#[test]
fn no_golden_records_a_request_without_a_recording() {
    let root = workspace_root().join("fixtures/gitlab");
    for entry in std::fs::read_dir(&root).unwrap() {
        let golden = entry.unwrap().path().join("expected.json");
        if let Ok(text) = std::fs::read_to_string(&golden) {
            assert!(
                !text.contains("\"outcome\": \"599\""),
                "{} records a request no exchange answers; fix the recording and bless again",
                golden.display()
            );
        }
    }
}

#[test]
fn the_component_is_a_provider_with_endpoints_and_no_sockets() {
    let plugin = gitlab();
    assert_eq!(plugin.line, ContractLine::V0_1);
    assert!(
        plugin
            .exports
            .iter()
            .any(|e| e == "exlogare:ci/provider@0.1.2"),
        "exports: {:?}",
        plugin.exports
    );
    assert!(plugin.supports_endpoints(), "exports: {:?}", plugin.exports);
    assert_eq!(plugin.info.id, "gitlab");
    assert_eq!(plugin.info.contract_version, "0.1.2");
    // The optional `green-runs` (0.1.2): exported, and listed where people read it.
    assert!(
        plugin.supports_green_runs(),
        "exports: {:?}",
        plugin.exports
    );
    assert!(
        plugin
            .exports
            .iter()
            .any(|e| e == "exlogare:ci/green-runs@0.1.2"),
        "exports: {:?}",
        plugin.exports
    );
    assert!(
        plugin.info.capabilities.iter().any(|c| c == "green-runs"),
        "capabilities: {:?}",
        plugin.info.capabilities
    );
    for import in &plugin.imports {
        assert!(
            (import.starts_with("exlogare:ci/") || import.starts_with("wasi:"))
                && !import.starts_with("wasi:sockets")
                && !import.starts_with("wasi:http"),
            "unexpected import {import}"
        );
    }
}

#[test]
fn a_100_mb_trace_is_extracted_under_the_64_mib_cap() {
    let plugin = gitlab();
    let run = run_scenario(plugin, &workspace_root().join("fixtures/gitlab/huge-trace"))
        .expect("scenario runs");
    assert!(run.violations.is_empty(), "{:?}", run.violations);
    let job = &run.actual["steps"][1]["result"]["jobs"][0];
    assert_eq!(job["result"]["ok"]["bytes"], 104_857_600u64, "{job}");
    assert!(
        run.peak_memory_bytes > 0 && run.peak_memory_bytes < 64 << 20,
        "peak guest memory {} bytes stays under the cap",
        run.peak_memory_bytes
    );
    assert!(
        job["log"]["tail"].to_string().contains("exit code 101"),
        "the failure at the very end survived: {}",
        job["log"]["tail"]
    );
}

/// One host, both providers: each loads from its own component, describes itself, and derives
/// its own connection roots from the address a user types; neither knows the other.
#[test]
fn both_providers_load_side_by_side_in_one_host() {
    let gitflic = runtime()
        .load(&gitflic_component(), SandboxLimits::default())
        .expect("the GitFlic plugin loads");
    let gitlab = gitlab();
    assert_eq!(
        (gitflic.info.id.as_str(), gitlab.info.id.as_str()),
        ("gitflic", "gitlab")
    );
    let roots = |p: &LoadedPlugin, web: &str| {
        let c = p
            .connection_defaults(CallContext::offline(), web)
            .expect("no fault")
            .expect("endpoints exported")
            .value
            .expect("a web root");
        (c.web_base, c.api_base, c.oauth_base)
    };
    assert_eq!(
        roots(gitlab, "https://git.example.com/gitlab/"),
        (
            "https://git.example.com/gitlab".to_string(),
            "https://git.example.com/gitlab/api/v4".to_string(),
            "https://git.example.com/gitlab".to_string()
        )
    );
    assert_eq!(roots(gitlab, "").1, "https://gitlab.com/api/v4");
    assert_eq!(
        roots(&gitflic, "https://git.example.com/gitflic").1,
        "https://git.example.com/gitflic/rest-api"
    );
    // Calls alternate between the two without either seeing the other's state.
    for _ in 0..3 {
        assert_eq!(roots(&gitflic, "").1, "https://api.gitflic.ru");
        assert_eq!(
            roots(gitlab, "https://gitlab.com").1,
            "https://gitlab.com/api/v4"
        );
    }
}

/// The GitLab half of the CI instruction budget (`tests/fuel.rs` holds GitFlic's): every scenario
/// on a fuel-metered engine, each within +20 % of `fixtures/gitlab/fuel-baseline.json`, which
/// also records what a call costs (verify, one log extraction) for comparing the providers.
/// Re-bless after an intended change: `EXLOGARE_BLESS_FUEL=1 cargo test -p
/// exlogare-conformance-tests --test gitlab_conformance gitlab_fuel`.
#[test]
fn gitlab_fuel_stays_within_its_baseline() {
    let engine = Arc::new(
        HostEngine::new(&EngineOptions {
            pooling: false,
            consume_fuel: true,
            ..Default::default()
        })
        .expect("engine"),
    );
    let plugin = PluginRuntime::new(engine, None)
        .expect("runtime")
        .load(&gitlab_component(), SandboxLimits::default())
        .expect("the GitLab plugin loads");
    let root = workspace_root().join("fixtures/gitlab");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("scenario.toml").is_file())
        .collect();
    dirs.sort();
    let mut measured: BTreeMap<String, u64> = BTreeMap::new();
    for dir in &dirs {
        let run = run_scenario(&plugin, dir).expect("scenario runs");
        assert!(
            run.violations.is_empty(),
            "{}: {:?}",
            run.name,
            run.violations
        );
        let fuel = run.fuel_consumed.expect("fuel on a fuel engine");
        eprintln!("{:<40} {fuel:>13} fuel  {:?}", run.name, run.step_fuel);
        measured.insert(run.name, fuel);
    }
    let path = root.join("fuel-baseline.json");
    if std::env::var_os("EXLOGARE_BLESS_FUEL").is_some_and(|v| v == "1") {
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&measured).unwrap() + "\n",
        )
        .unwrap();
        return;
    }
    let baseline: BTreeMap<String, u64> = serde_json::from_str(
        &std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("no baseline at {} ({e}); bless it", path.display())),
    )
    .unwrap();
    let over: Vec<String> = measured
        .iter()
        .filter_map(|(name, &fuel)| match baseline.get(name) {
            None => Some(format!("{name}: {fuel} fuel, not in the baseline")),
            Some(&base) if fuel as u128 * 100 > base as u128 * 120 => Some(format!(
                "{name}: {fuel} fuel against a baseline of {base}, over the +20 % budget"
            )),
            Some(_) => None,
        })
        .collect();
    assert!(
        over.is_empty(),
        "GitLab scenarios over their fuel budget in {}:\n  {}\nIf the extra work is intended, re-bless (see this test's documentation).",
        path.display(),
        over.join("\n  ")
    );
}
