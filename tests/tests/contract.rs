//! The contract's compatibility rules (wit/README.md), checked the way
//! `wasm-tools component semver-check` does, with the same library: the current `wit/` must be
//! a compatible evolution of every frozen release of its line in `wit/releases/`.

use exlogare_conformance_tests::workspace_root;
use std::path::{Path, PathBuf};
use wit_parser::Resolve;

/// Loads a WIT folder under another version, so that two copies of one package can sit in one
/// `Resolve` (semver_check clears versions before comparing, so the rename does not matter).
fn load_as(resolve: &mut Resolve, dir: &Path, version: &str, edit: impl Fn(String) -> String) -> wit_parser::WorldId {
    let tmp = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "wit") {
            let text = std::fs::read_to_string(&path).unwrap().replace("exlogare:ci@0.1.0", &format!("exlogare:ci@{version}"));
            std::fs::write(tmp.path().join(path.file_name().unwrap()), edit(text)).unwrap();
        }
    }
    let (pkg, _) = resolve.push_dir(tmp.path()).unwrap_or_else(|e| panic!("{} does not parse: {e:#}", dir.display()));
    resolve.select_world(&[pkg], Some("ci-provider")).unwrap()
}

fn releases() -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = std::fs::read_dir(workspace_root().join("wit/releases"))
        .expect("wit/releases holds the frozen releases")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    all.sort();
    all
}

fn check(prev_dir: &Path, new_edit: impl Fn(String) -> String) -> anyhow::Result<()> {
    let mut resolve = Resolve::default();
    let prev = load_as(&mut resolve, prev_dir, "0.1.0-prev", |t| t);
    let new = load_as(&mut resolve, &workspace_root().join("wit"), "0.1.0-next", new_edit);
    wit_component::semver_check(resolve, prev, new)
}

#[test]
fn the_current_contract_is_compatible_with_every_frozen_release() {
    let releases = releases();
    assert!(!releases.is_empty(), "at least the 0.1.0 release is frozen");
    for release in releases {
        check(&release, |t| t).unwrap_or_else(|e| panic!("wit/ breaks compatibility with {}: {e:#}", release.display()));
    }
}

#[test]
fn the_check_catches_a_removed_host_function() {
    // Plugins built against the release import `clock.now`; a host without it cannot run them.
    let release = releases().remove(0);
    let err = check(&release, |t| t.replace("    now: func() -> timestamp;\n", "")).unwrap_err();
    assert!(format!("{err:#}").contains("now"), "{err:#}");
}

#[test]
fn the_check_catches_a_changed_record() {
    let release = releases().remove(0);
    let result = check(&release, |t| t.replace("        display-name: string,\n", "        display-name: option<string>,\n"));
    assert!(result.is_err(), "changing a field's type must be flagged");
}

#[test]
fn the_check_rejects_a_new_required_export() {
    let release = releases().remove(0);
    let added = |t: String| {
        t.replace("world ci-provider {\n", "interface artifacts {\n    list-names: func() -> list<string>;\n}\n\nworld ci-provider {\n    export artifacts;\n")
    };
    // Plugins built against the release do not export it, so a world that requires it is a
    // breaking change. Optional functionality goes in a separate world or is probed by the host
    // (wit/README.md), never into `ci-provider` within a line.
    assert!(check(&release, added).is_err(), "a new required export must be flagged");
}
