//! The GitFlic plugin, driven through the host's sandbox over every recorded scenario in
//! `fixtures/gitflic`, must reproduce the reviewed goldens exactly.
//!
//! Third-party provider authors run the same suite on their plugin with
//! `exlogare-host conformance --plugin X.wasm --fixtures DIR`.

use exlogare_conformance::{run_scenario, run_suite};
use exlogare_conformance_tests::{component, workspace_root};
use exlogare_runtime::engine::{EngineOptions, HostEngine};
use exlogare_runtime::limits::SandboxLimits;
use exlogare_runtime::plugin::{LoadedPlugin, PluginRuntime};
use exlogare_runtime::wit::ContractLine;
use std::sync::{Arc, OnceLock};

fn gitflic() -> &'static LoadedPlugin {
    static PLUGIN: OnceLock<LoadedPlugin> = OnceLock::new();
    PLUGIN.get_or_init(|| {
        let engine = Arc::new(HostEngine::new(&EngineOptions::default()).expect("engine"));
        let runtime = PluginRuntime::new(engine, None).expect("runtime");
        runtime
            .load(&component("exlogare-gitflic"), SandboxLimits::default())
            .expect("the GitFlic plugin loads")
    })
}

#[test]
fn every_gitflic_scenario_matches_its_golden() {
    let verdicts = run_suite(
        gitflic(),
        &workspace_root().join("fixtures/gitflic"),
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
        verdicts.len() >= 30,
        "expected the full scenario set, found {}",
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

#[test]
fn the_component_exports_the_versioned_provider_interface() {
    let plugin = gitflic();
    assert_eq!(plugin.line, ContractLine::V0_1);
    assert!(
        plugin
            .exports
            .iter()
            .any(|e| e == "exlogare:ci/provider@0.1.2"),
        "exports: {:?}",
        plugin.exports
    );
    assert_eq!(plugin.info.id, "gitflic");
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
            import.starts_with("exlogare:ci/") || import.starts_with("wasi:"),
            "unexpected import {import}"
        );
        assert!(
            !import.starts_with("wasi:sockets"),
            "the plugin must not import sockets: {import}"
        );
    }
}

#[test]
fn a_200_mb_log_is_extracted_under_the_64_mib_cap() {
    let plugin = gitflic();
    assert_eq!(
        plugin.limits().memory_bytes,
        64 << 20,
        "the default cap applies"
    );
    let run = run_scenario(plugin, &workspace_root().join("fixtures/gitflic/huge-log"))
        .expect("scenario runs");
    assert!(run.violations.is_empty(), "{:?}", run.violations);
    let steps = run.actual["steps"].as_array().unwrap();
    let extract = steps
        .iter()
        .find(|s| s["op"] == "extract-job-logs")
        .expect("an extract step");
    let job = &extract["result"]["jobs"][0];
    assert_eq!(job["result"]["ok"]["bytes"], 209_715_200u64, "{job}");
    let lines = job["log"]["lines"].as_u64().unwrap();
    assert!(lines > 3_000_000, "every line reached the sink: {lines}");
    assert!(
        run.peak_memory_bytes > 0 && run.peak_memory_bytes < 64 << 20,
        "peak guest memory {} bytes stays under the cap",
        run.peak_memory_bytes
    );
    eprintln!(
        "200 MB log: {lines} lines, peak guest memory {:.1} MiB",
        run.peak_memory_bytes as f64 / 1048576.0
    );
    assert!(
        job["log"]["tail"].to_string().contains("exit code 101"),
        "the failure at the very end survived: {}",
        job["log"]["tail"]
    );
}
