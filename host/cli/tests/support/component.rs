//! The misbehaving test plugin, for the command's tests that load a component
//! (inspect.rs, plugins.rs): built by `./x test` before the tests, since cargo cannot build a
//! `wasm32-wasip2` artifact as a dependency of a native test.

use std::path::PathBuf;

/// The built test plugin, where `./x test` puts it (`CARGO_TARGET_DIR` respected).
pub fn misbehave_component() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let path = target.join("wasm32-wasip2/plugin/exlogare_test_misbehave.wasm");
    assert!(
        path.is_file(),
        "{} is missing; build it first: cargo build -p exlogare-test-misbehave --target wasm32-wasip2 --profile plugin (or run ./x test)",
        path.display()
    );
    path
}
