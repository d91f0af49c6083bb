//! The misbehaving test plugin, for the command's tests that load a component
//! (inspect.rs, plugins.rs, plugin_reload.rs): built by `./x test` before the tests, since cargo cannot build a
//! `wasm32-wasip2` artifact as a dependency of a native test.

use std::path::PathBuf;

/// The built test plugin, where `./x test` puts it (`CARGO_TARGET_DIR` respected).
#[allow(dead_code)]
pub fn misbehave_component() -> PathBuf {
    built("exlogare-test-misbehave")
}

/// The built GitFlic plugin (plugin_reload.rs adds it to a running host's folder).
#[allow(dead_code)]
pub fn gitflic_component() -> PathBuf {
    built("exlogare-gitflic")
}

fn built(package: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let file = format!("{}.wasm", package.replace('-', "_"));
    let path = target.join("wasm32-wasip2/plugin").join(file);
    assert!(
        path.is_file(),
        "{} is missing; build it first: cargo build -p {package} --target wasm32-wasip2 --profile plugin (or run ./x test)",
        path.display()
    );
    path
}
