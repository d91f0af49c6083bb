//! `exlogare-host inspect` on the binary as an operator runs it: each plugin with the sandbox
//! limits its faults would name (the operator's `--limits` applied), and a file that is no
//! plugin refused with the reason, exit 1.
//!
//! Needs the misbehave component: cargo build -p exlogare-test-misbehave --target wasm32-wasip2 --profile plugin

#[path = "support/component.rs"]
mod component;

use component::misbehave_component;
use std::process::Command;

#[test]
fn each_plugin_is_shown_with_the_limits_its_faults_name_and_a_bad_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let limits = dir.path().join("limits.toml");
    std::fs::write(&limits, "memory_bytes = 33554432\ncall_timeout_ms = 5000\n").unwrap();
    let not_a_plugin = dir.path().join("notes.wasm");
    std::fs::write(&not_a_plugin, "не компонент").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_exlogare-host"))
        .arg("inspect")
        .arg("--plugin")
        .arg(misbehave_component())
        .arg("--plugin")
        .arg(&not_a_plugin)
        .arg("--limits")
        .arg(&limits)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a refused file exits 1: {stdout}"
    );
    assert!(
        stdout.contains("misbehave: Misbehaving test plugin contract 0.1.0"),
        "{stdout}"
    );
    for part in [
        "limits: deadline 5000 ms a call (call_timeout_ms)",
        "memory 32 MiB (memory_bytes)",
        "of log text a job (log_text_bytes)",
        "call slots here",
    ] {
        assert!(stdout.contains(part), "{part:?} in {stdout}");
    }
    let refused = stdout
        .lines()
        .find(|l| l.starts_with("refused:"))
        .unwrap_or_else(|| panic!("no refusal in {stdout}"));
    assert!(refused.contains("notes.wasm"), "{refused}");
}
