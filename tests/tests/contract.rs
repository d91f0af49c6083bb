//! The contract's compatibility rules (wit/README.md), checked the way
//! `wasm-tools component semver-check` does, with the same library: the current `wit/` must be
//! a compatible evolution of every frozen release of its line in `wit/releases/`.

use exlogare_conformance_tests::workspace_root;
use std::path::{Path, PathBuf};
use wit_parser::Resolve;

/// Loads a WIT folder with `+tag` added to its package version, so that two copies of one
/// package can sit in one `Resolve` (semver_check clears versions before comparing, so the tag
/// does not matter). Build metadata keeps each copy's own version for `@since` gates.
fn load_as(
    resolve: &mut Resolve,
    dir: &Path,
    tag: &str,
    edit: impl Fn(String) -> String,
) -> wit_parser::PackageId {
    let tmp = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "wit") {
            let text = with_tag(&std::fs::read_to_string(&path).unwrap(), tag);
            std::fs::write(tmp.path().join(path.file_name().unwrap()), edit(text)).unwrap();
        }
    }
    let (pkg, _) = resolve
        .push_dir(tmp.path())
        .unwrap_or_else(|e| panic!("{} does not parse: {e:#}", dir.display()));
    pkg
}

/// The text with `+tag` after every `exlogare:ci@<version>` (the package line).
fn with_tag(text: &str, tag: &str) -> String {
    const PKG: &str = "exlogare:ci@";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(PKG) {
        let start = at + PKG.len();
        let end = start
            + rest[start..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
                .unwrap_or(rest.len() - start);
        out.push_str(&rest[..end]);
        out.push('+');
        out.push_str(tag);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// The worlds a package defines, by name.
fn worlds(resolve: &Resolve, pkg: wit_parser::PackageId) -> Vec<String> {
    resolve.packages[pkg].worlds.keys().cloned().collect()
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

/// Every world of the release must have a compatible successor of the same name in `wit/`
/// (semver_check compares one world pair; a release's worlds are all promises to plugins).
fn check(prev_dir: &Path, new_edit: impl Fn(String) -> String) -> anyhow::Result<()> {
    let mut probe = Resolve::default();
    let prev_pkg = load_as(&mut probe, prev_dir, "prev", |t| t);
    for world in worlds(&probe, prev_pkg) {
        let mut resolve = Resolve::default();
        let prev_pkg = load_as(&mut resolve, prev_dir, "prev", |t| t);
        let new_pkg = load_as(
            &mut resolve,
            &workspace_root().join("wit"),
            "next",
            &new_edit,
        );
        let prev = resolve.select_world(&[prev_pkg], Some(&world))?;
        let new = resolve
            .select_world(&[new_pkg], Some(&world))
            .map_err(|e| anyhow::anyhow!("world `{world}` of the release is gone: {e:#}"))?;
        wit_component::semver_check(resolve, prev, new)
            .map_err(|e| e.context(format!("world `{world}`")))?;
    }
    Ok(())
}

#[test]
fn the_current_contract_is_compatible_with_every_frozen_release() {
    let releases = releases();
    assert!(!releases.is_empty(), "at least the 0.1.0 release is frozen");
    for release in releases {
        check(&release, |t| t).unwrap_or_else(|e| {
            panic!(
                "wit/ breaks compatibility with {}: {e:#}",
                release.display()
            )
        });
    }
}

#[test]
fn the_check_catches_a_removed_host_function() {
    // Plugins built against the release import `clock.now`; a host without it cannot run them.
    let release = releases().remove(0);
    let err = check(&release, |t| {
        t.replace("    now: func() -> timestamp;\n", "")
    })
    .unwrap_err();
    assert!(format!("{err:#}").contains("now"), "{err:#}");
}

#[test]
fn the_check_catches_a_changed_record() {
    let release = releases().remove(0);
    let result = check(&release, |t| {
        t.replace(
            "        display-name: string,\n",
            "        display-name: option<string>,\n",
        )
    });
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
    assert!(
        check(&release, added).is_err(),
        "a new required export must be flagged"
    );
}

fn release(version: &str) -> PathBuf {
    let dir = workspace_root().join("wit/releases").join(version);
    assert!(dir.is_dir(), "{} is not frozen", dir.display());
    dir
}

/// The version a WIT folder's package line declares.
fn declared_version(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("types.wit")).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("package exlogare:ci@"))
        .expect("a package line");
    line["package exlogare:ci@".len()..]
        .trim_end_matches(';')
        .to_string()
}

#[test]
fn every_frozen_release_declares_its_own_version_and_the_current_one_is_frozen() {
    for dir in releases() {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(
            declared_version(&dir),
            name,
            "{} declares another version",
            dir.display()
        );
    }
    // Releasing means freezing (wit/README.md); the newest frozen copy is the current text.
    let current = declared_version(&workspace_root().join("wit"));
    let frozen = release(&current);
    for file in ["types.wit", "host.wit", "provider.wit"] {
        let a = std::fs::read_to_string(workspace_root().join("wit").join(file)).unwrap();
        let b = std::fs::read_to_string(frozen.join(file)).unwrap();
        assert_eq!(
            a,
            b,
            "wit/{file} differs from its frozen copy in {}",
            frozen.display()
        );
    }
}

#[test]
fn the_optional_worlds_add_only_their_exports() {
    let mut resolve = Resolve::default();
    let pkg = load_as(&mut resolve, &workspace_root().join("wit"), "next", |t| t);
    let names = |world: &str, exports: bool| -> Vec<String> {
        let id = resolve.select_world(&[pkg], Some(world)).unwrap();
        let w = &resolve.worlds[id];
        let items = if exports { &w.exports } else { &w.imports };
        let mut names: Vec<String> = items.keys().map(|k| resolve.name_world_key(k)).collect();
        names.sort();
        names
    };
    let base = "exlogare:ci/";
    let version = format!("@{}+next", declared_version(&workspace_root().join("wit")));
    assert_eq!(
        names("ci-provider", true),
        [format!("{base}provider{version}")],
        "ci-provider requires only `provider`"
    );
    assert_eq!(
        names("ci-provider-with-endpoints", true),
        [
            format!("{base}endpoints{version}"),
            format!("{base}provider{version}")
        ]
    );
    assert_eq!(
        names("ci-provider-with-endpoints", false),
        names("ci-provider", false),
        "the same imports"
    );
    assert_eq!(
        names("ci-provider-full", true),
        [
            format!("{base}endpoints{version}"),
            format!("{base}green-runs{version}"),
            format!("{base}provider{version}")
        ]
    );
    assert_eq!(
        names("ci-provider-full", false),
        names("ci-provider", false),
        "the same imports"
    );
}

#[test]
fn the_check_catches_a_changed_green_runs_interface() {
    // Plugins built against 0.1.2 export `last-green-job` with this signature.
    let result = check(&release("0.1.2"), |t| {
        t.replace("known: option<u64>)", "known: option<u64>, limit: u32)")
    });
    let err = result.expect_err("changing an optional export's signature must be flagged");
    assert!(format!("{err:#}").contains("ci-provider-full"), "{err:#}");
}

#[test]
fn the_check_catches_a_changed_optional_interface() {
    // Plugins built against 0.1.1 export `endpoints.defaults` with this signature; the host
    // calls it with that one.
    let result = check(&release("0.1.1"), |t| {
        t.replace(
            "defaults: func(web-base: string)",
            "defaults: func(web-base: string, strict: bool)",
        )
    });
    let err = result.expect_err("changing an optional export's signature must be flagged");
    assert!(
        format!("{err:#}").contains("ci-provider-with-endpoints"),
        "{err:#}"
    );
}

#[test]
fn the_check_catches_a_removed_optional_world() {
    // Renamed wherever it is named (`ci-provider-full` includes it since 0.1.2).
    let result = check(&release("0.1.1"), |t| {
        t.replace("ci-provider-with-endpoints", "ci-provider-with-extras")
    });
    let err = result.expect_err("a released world must stay");
    assert!(
        format!("{err:#}").contains("ci-provider-with-endpoints"),
        "{err:#}"
    );
}
