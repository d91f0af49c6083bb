//! `exlogare-host new-provider` as a provider author runs it: the crate it writes builds to a
//! component and passes its own conformance scenario as written, with no edit and no `--bless`
//! (the golden ships in the template, so a change in the template or in the host's output that
//! breaks a new provider fails here); and what it refuses, it refuses in words.
//!
//! Needs the `wasm32-wasip2` target (`./x test` installs it).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

fn host() -> Command {
    Command::new(env!("CARGO_BIN_EXE_exlogare-host"))
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Where the generated crate is built: `new-provider-template` under the workspace's target
/// folder (`CARGO_TARGET_DIR` when set, as `./x` and cargo read it).
///
/// Why a folder of its own, not the main build's `target/wasm32-wasip2/plugin`: the generated
/// crate is a workspace of its own with its own `[profile.release]`, so cargo could reuse none
/// of the main build's artifacts anyway (a path package such as the kit is hashed by its path
/// relative to the workspace root, and each profile has its own output folder), while sharing
/// the folder would make this build wait on the main build's lock. A folder that survives
/// between runs (CI caches `target/`) means only the first run builds the kit's dependencies
/// (about 1.5 min on 2 cores); later runs rebuild the generated crate alone (about 10 s). Its
/// artifacts' names do not depend on the temporary folder the crate is written to (cargo hashes
/// a workspace's own package by its path relative to the workspace root), so runs do not pile up.
fn shared_target() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
        .join("new-provider-template")
}

#[test]
fn the_generated_crate_builds_to_a_component_and_passes_its_conformance() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("acme-ci");
    // No --kit: the kit is found above the current folder (the test runs in host/cli).
    let out = host()
        .args(["new-provider", "acme-ci", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    for file in [
        "Cargo.toml",
        "Cargo.lock",
        "README.md",
        "src/lib.rs",
        "src/component.rs",
        "fixtures/acme-ci/failed-pipeline/scenario.toml",
        "fixtures/acme-ci/failed-pipeline/expected.json",
    ] {
        assert!(dir.join(file).is_file(), "{file} missing\n{}", text(&out));
    }
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    assert!(
        !readme.contains("__") && readme.contains("acme_ci.wasm"),
        "{readme}"
    );

    // The build command of the crate's README, into the shared target folder.
    let target = shared_target();
    let started = Instant::now();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "--target", "wasm32-wasip2", "--release"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert!(out.status.success(), "cargo build: {}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("`acme-ci` (lib) generated"),
        "the template warns:\n{stderr}"
    );
    eprintln!("built the generated crate in {:?}", started.elapsed());

    // The conformance command of the README, as written: no --bless.
    let plugin = target.join("wasm32-wasip2/release/acme_ci.wasm");
    let out = host()
        .args(["conformance", "--plugin"])
        .arg(&plugin)
        .arg("--fixtures")
        .arg(dir.join("fixtures/acme-ci"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout.contains("plugin Acme CI (acme-ci) contract 0.1.2")
            && stdout.contains("ok   failed-pipeline")
            && stdout.contains("conformance: 1 passed, 0 failed"),
        "{stdout}"
    );
}

#[test]
fn a_bad_name_is_refused_in_words() {
    let tmp = tempfile::tempdir().unwrap();
    for bad in ["Acme", "acme_ci", "acme-", "acme--ci", "9ci"] {
        let dir = tmp.path().join("out");
        let out = host()
            .args(["new-provider", bad, "--dir"])
            .arg(&dir)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", text(&out));
        assert!(
            stderr.contains(&format!("`{bad}`"))
                && stderr.contains("lower-case letters, digits and dashes"),
            "{bad}: {stderr}"
        );
        assert!(!dir.exists(), "{bad}: wrote {}", dir.display());
    }
}

#[test]
fn a_folder_that_is_not_empty_is_refused_and_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("notes.txt"), "mine").unwrap();
    let out = host()
        .args(["new-provider", "acme-ci", "--dir"])
        .arg(tmp.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(stderr.contains("is not empty"), "{stderr}");
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert_eq!(left.len(), 1);
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("notes.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn the_help_lists_it_for_provider_authors() {
    let out = host().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    let section = help
        .split("Provider author")
        .nth(1)
        .and_then(|s| s.split("\n\n").next())
        .unwrap_or_else(|| panic!("no provider author section:\n{help}"));
    assert!(
        section
            .lines()
            .any(|l| l.trim_start().starts_with("new-provider ")
                && l.contains("Writes a new CI-provider crate")),
        "{help}"
    );
}
