//! Which contract line a component speaks, and the import surface the host offers it.
//!
//! The line is read from the component's export names (`exlogare:ci/provider@0.1.3`), not
//! from a custom section, so it works for any guest language with no SDK help. Imports are
//! checked against a closed list before linking, so a plugin that wants sockets or an interface
//! we never offered is refused with the import named, instead of wasmtime's generic message.
//! Exports beyond `provider` are optional interfaces ([`OPTIONAL_EXPORTS`]), probed at load.

pub mod v0_1;

use crate::call_state::CallState;
use wasmtime::Engine;
use wasmtime::component::{Component, HasData, Linker, ResourceTable};

/// The contract lines this host runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ContractLine {
    V0_1,
}

pub const PROVIDER_INTERFACE: &str = "exlogare:ci/provider";

/// Interfaces of our own package a plugin may export besides `provider`, which the host probes
/// for at load and calls when present (wit/README.md, "Versioning rules").
/// `endpoints` (since 0.1.1): a connection's API and OAuth roots from its web address.
/// `green-runs` (since 0.1.2): a job's last passing run, to compare a failing log with.
pub const OPTIONAL_EXPORTS: &[&str] = &["endpoints", "green-runs"];

/// Interfaces of our own package the host provides (any `0.1.y`).
const OWN_IMPORTS: &[&str] = &["types", "http", "log", "clock", "log-sink"];

/// WASI interfaces a Rust (or other) guest's standard library may import. They are linked
/// with an empty context: no preopened directories, no environment, no arguments. Sockets
/// and name lookup are deliberately absent.
const WASI_IMPORTS: &[&str] = &[
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:clocks/wall-clock",
    "wasi:clocks/monotonic-clock",
    "wasi:filesystem/types",
    "wasi:filesystem/preopens",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:cli/exit",
    "wasi:cli/environment",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
];

/// Splits `ns:pkg/iface@1.2.3` into the unversioned name and `(major, minor, patch)`.
fn split_version(name: &str) -> (&str, Option<(u64, u64, u64)>) {
    let Some((base, version)) = name.split_once('@') else {
        return (name, None);
    };
    let mut parts = version
        .split(['.', '-', '+'])
        .map(|p| p.parse::<u64>().ok());
    match (
        parts.next().flatten(),
        parts.next().flatten(),
        parts.next().flatten(),
    ) {
        (Some(a), Some(b), Some(c)) => (base, Some((a, b, c))),
        _ => (base, None),
    }
}

fn is_prerelease(name: &str) -> bool {
    name.split_once('@').is_some_and(|(_, v)| v.contains('-'))
}

/// The names a component imports and exports, for reports and tests.
pub fn surface(engine: &Engine, component: &Component) -> (Vec<String>, Vec<String>) {
    let ty = component.component_type();
    let imports = ty.imports(engine).map(|(n, _)| n.to_string()).collect();
    let exports = ty.exports(engine).map(|(n, _)| n.to_string()).collect();
    (imports, exports)
}

/// Checks a component's exports and imports; returns its contract line.
pub fn check_surface(engine: &Engine, component: &Component) -> Result<ContractLine, String> {
    let (imports, exports) = surface(engine, component);
    check_names(&exports, &imports)
}

/// [`check_surface`] on the names alone.
///
/// Exports: `exlogare:ci/provider@0.1.x` is required and sets the line. Any other export of our
/// package must be of the same line and released (no prerelease, a version): the ones this host
/// knows ([`OPTIONAL_EXPORTS`]) are probed for at load, and one it does not know comes from a
/// later `0.1` patch, is optional by the versioning rules and is ignored, so a newer plugin still
/// loads here. Exports outside our package (a guest toolchain's `wasi:cli/run`, say) are ignored
/// as before. Imports stay a closed list.
pub fn check_names(exports: &[String], imports: &[String]) -> Result<ContractLine, String> {
    let mut line = None;
    for name in exports {
        let (base, version) = split_version(name);
        let Some(iface) = base.strip_prefix("exlogare:ci/") else {
            continue;
        };
        if is_prerelease(name) {
            return Err(format!(
                "export `{name}` is a prerelease version; build against a released exlogare:ci version"
            ));
        }
        match version {
            Some((0, 1, _)) if base == PROVIDER_INTERFACE => line = Some(ContractLine::V0_1),
            Some((0, 1, _)) => {
                if !OPTIONAL_EXPORTS.contains(&iface) {
                    tracing::debug!(export = %name, "ignoring an optional export this host does not know (from a later 0.1 patch)");
                }
            }
            Some((a, b, c)) => {
                return Err(format!(
                    "the plugin exports `{name}` (contract {a}.{b}.{c}); this host runs exlogare:ci 0.1.x. Rebuild the plugin against 0.1 or upgrade the host"
                ));
            }
            None => {
                return Err(format!(
                    "export `{name}` carries no version; build with the versioned exlogare:ci package"
                ));
            }
        }
    }
    let Some(line) = line else {
        let found = if exports.is_empty() {
            "nothing".to_string()
        } else {
            exports.join(", ")
        };
        return Err(format!(
            "the component does not export `{PROVIDER_INTERFACE}@0.1.x` (it exports {found}); is it an exlogare:ci provider plugin built for the `ci-provider` world?"
        ));
    };
    for name in imports {
        let (base, version) = split_version(name);
        let ours = base
            .strip_prefix("exlogare:ci/")
            .is_some_and(|i| OWN_IMPORTS.contains(&i));
        let ok = match version {
            Some((0, 1, _)) if ours => true,
            Some((0, 2, _)) => WASI_IMPORTS.contains(&base),
            _ => false,
        };
        if !ok {
            let why = if base.starts_with("wasi:sockets") || base.starts_with("wasi:http") {
                "plugins reach the network only through exlogare:ci/http"
            } else {
                "this host does not provide it"
            };
            return Err(format!(
                "the plugin imports `{name}`, which is not allowed: {why}"
            ));
        }
    }
    Ok(line)
}

struct HasTable;
impl HasData for HasTable {
    type Data<'a> = &'a mut ResourceTable;
}

/// Links the allowed WASI interfaces (see [`WASI_IMPORTS`]) and nothing else of WASI.
pub fn add_wasi(l: &mut Linker<CallState>) -> wasmtime::Result<()> {
    use wasmtime_wasi::cli::{WasiCli, WasiCliView};
    use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
    use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView};
    use wasmtime_wasi::p2::bindings::{cli, clocks, filesystem, random, sync};
    use wasmtime_wasi::random::WasiRandom;

    wasmtime_wasi_io::bindings::wasi::io::error::add_to_linker::<CallState, HasTable>(l, |t| {
        &mut t.table
    })?;
    sync::io::poll::add_to_linker::<CallState, HasTable>(l, |t| &mut t.table)?;
    sync::io::streams::add_to_linker::<CallState, HasTable>(l, |t| &mut t.table)?;
    clocks::wall_clock::add_to_linker::<CallState, WasiClocks>(l, |t| t.clocks())?;
    clocks::monotonic_clock::add_to_linker::<CallState, WasiClocks>(l, |t| t.clocks())?;
    filesystem::preopens::add_to_linker::<CallState, WasiFilesystem>(l, |t| t.filesystem())?;
    sync::filesystem::types::add_to_linker::<CallState, WasiFilesystem>(l, |t| t.filesystem())?;
    random::random::add_to_linker::<CallState, WasiRandom>(l, |t| t.wasi.random())?;
    random::insecure::add_to_linker::<CallState, WasiRandom>(l, |t| t.wasi.random())?;
    random::insecure_seed::add_to_linker::<CallState, WasiRandom>(l, |t| t.wasi.random())?;
    cli::exit::add_to_linker::<CallState, WasiCli>(l, |t| t.cli())?;
    cli::environment::add_to_linker::<CallState, WasiCli>(l, |t| t.cli())?;
    cli::stdin::add_to_linker::<CallState, WasiCli>(l, |t| t.cli())?;
    cli::stdout::add_to_linker::<CallState, WasiCli>(l, |t| t.cli())?;
    cli::stderr::add_to_linker::<CallState, WasiCli>(l, |t| t.cli())?;
    cli::terminal_input::add_to_linker::<CallState, WasiCli>(l, |t| t.cli())?;
    cli::terminal_output::add_to_linker::<CallState, WasiCli>(l, |t| t.cli())?;
    cli::terminal_stdin::add_to_linker::<CallState, WasiCli>(l, |t| t.cli())?;
    cli::terminal_stdout::add_to_linker::<CallState, WasiCli>(l, |t| t.cli())?;
    cli::terminal_stderr::add_to_linker::<CallState, WasiCli>(l, |t| t.cli())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_split() {
        assert_eq!(
            split_version("exlogare:ci/provider@0.1.3"),
            ("exlogare:ci/provider", Some((0, 1, 3)))
        );
        assert_eq!(
            split_version("exlogare:ci/provider"),
            ("exlogare:ci/provider", None)
        );
        assert!(is_prerelease("exlogare:ci/provider@0.1.0-rc1"));
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn check(exports: &[&str]) -> Result<ContractLine, String> {
        check_names(
            &names(exports),
            &names(&["exlogare:ci/http@0.1.0", "wasi:io/streams@0.2.3"]),
        )
    }

    #[test]
    fn provider_alone_or_with_optional_exports_loads() {
        assert_eq!(
            check(&["exlogare:ci/provider@0.1.0"]),
            Ok(ContractLine::V0_1)
        );
        assert_eq!(
            check(&["exlogare:ci/provider@0.1.1", "exlogare:ci/endpoints@0.1.1"]),
            Ok(ContractLine::V0_1)
        );
        // From a later patch: optional by the rules, so a newer plugin still loads here.
        assert_eq!(
            check(&["exlogare:ci/provider@0.1.7", "exlogare:ci/artifacts@0.1.7"]),
            Ok(ContractLine::V0_1)
        );
        assert_eq!(
            check(&["exlogare:ci/provider@0.1.1", "wasi:cli/run@0.2.3"]),
            Ok(ContractLine::V0_1)
        );
    }

    #[test]
    fn an_optional_export_must_be_released_and_of_the_line() {
        let err =
            check(&["exlogare:ci/provider@0.1.1", "exlogare:ci/endpoints@0.2.0"]).unwrap_err();
        assert!(
            err.contains("`exlogare:ci/endpoints@0.2.0`") && err.contains("0.1.x"),
            "{err}"
        );
        let err = check(&[
            "exlogare:ci/provider@0.1.1",
            "exlogare:ci/endpoints@0.1.2-rc1",
        ])
        .unwrap_err();
        assert!(err.contains("prerelease"), "{err}");
        let err = check(&["exlogare:ci/provider@0.1.1", "exlogare:ci/endpoints"]).unwrap_err();
        assert!(err.contains("no version"), "{err}");
    }

    #[test]
    fn an_optional_export_is_no_substitute_for_provider() {
        let err = check(&["exlogare:ci/endpoints@0.1.1"]).unwrap_err();
        assert!(
            err.contains("does not export `exlogare:ci/provider@0.1.x`"),
            "{err}"
        );
    }

    #[test]
    fn imports_stay_a_closed_list() {
        let ok = names(&["exlogare:ci/provider@0.1.1"]);
        assert!(
            check_names(
                &ok,
                &names(&["exlogare:ci/log-sink@0.1.1", "wasi:cli/stdout@0.2.0"])
            )
            .is_ok()
        );
        // Plugins export `endpoints`; importing it (or anything unlisted) is refused.
        let err = check_names(&ok, &names(&["exlogare:ci/endpoints@0.1.1"])).unwrap_err();
        assert!(
            err.contains("`exlogare:ci/endpoints@0.1.1`") && err.contains("does not provide"),
            "{err}"
        );
        let err = check_names(&ok, &names(&["wasi:sockets/tcp@0.2.0"])).unwrap_err();
        assert!(err.contains("only through exlogare:ci/http"), "{err}");
    }

    #[test]
    fn the_bindings_probe_the_exports_this_host_knows() {
        let (base, version) = split_version(v0_1::ENDPOINTS_EXPORT);
        assert_eq!(base.strip_prefix("exlogare:ci/"), Some(OPTIONAL_EXPORTS[0]));
        assert_eq!(version, Some((0, 1, 1)));
        let (base, version) = split_version(v0_1::GREEN_RUNS_EXPORT);
        assert_eq!(base.strip_prefix("exlogare:ci/"), Some(OPTIONAL_EXPORTS[1]));
        assert_eq!(version, Some((0, 1, 2)));
        assert_eq!(v0_1::CONTRACT_VERSION, "0.1.2");
    }
}
