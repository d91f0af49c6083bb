//! Shared helpers for the conformance and sandbox tests: where the built components are.
//!
//! The components are built before the tests (see `.ci/run` and the README's test command),
//! because cargo cannot build a `wasm32-wasip2` artifact as a dependency of a native test.
//! A missing component fails the test with the command that builds it; it never skips.

use std::path::PathBuf;

/// The workspace root (this crate lives in `tests/`).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The recorded GitFlic scenarios (`fixtures/gitflic/<scenario>/`): exchanges, bodies, goldens.
pub fn gitflic_fixtures() -> PathBuf {
    workspace_root().join("fixtures/gitflic")
}

/// Where built plugin components are: `$EXLOGARE_PLUGIN_DIR`, else the workspace's
/// `target/wasm32-wasip2/plugin`.
pub fn plugin_dir() -> PathBuf {
    match std::env::var_os("EXLOGARE_PLUGIN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| workspace_root().join("target"));
            target.join("wasm32-wasip2").join("plugin")
        }
    }
}

/// A built component by crate name (`exlogare-gitflic` -> `exlogare_gitflic.wasm`).
pub fn component(package: &str) -> PathBuf {
    let path = plugin_dir().join(format!("{}.wasm", package.replace('-', "_")));
    assert!(
        path.is_file(),
        "{} is missing; build it first: cargo build -p {package} --target wasm32-wasip2 --profile plugin (or run ./x test)",
        path.display()
    );
    path
}

/// The built GitFlic plugin, the one every end-to-end test serves.
pub fn gitflic_component() -> PathBuf {
    component("exlogare-gitflic")
}

/// The built GitLab plugin (`plugin/gitlab`), the second provider on the same contract.
pub fn gitlab_component() -> PathBuf {
    component("exlogare-gitlab")
}
