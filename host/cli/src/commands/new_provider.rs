//! `exlogare-host new-provider`: a provider crate on the guest kit, written from the template in
//! `host/cli/templates/provider/`, that builds and passes its own conformance scenario as written.
//!
//! The template is a small but real provider for a fictional JSON CI API: every function of the
//! contract answers, the component exports `provider`, `endpoints` and `green-runs`, and the
//! scenario's golden (`expected.json`) was written by `conformance --bless` against the built
//! template, so `tests/new_provider.rs` catches a template or host change that breaks either.

use anyhow::{Context, bail};
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Writes a new CI-provider crate on the plugin kit, ready to build and check.
///
/// The crate (in --dir, default ./NAME) implements every function of the contract for a fictional
/// JSON CI API, with unit tests on the kit's fake host and one conformance scenario
/// (fixtures/NAME/failed-pipeline) with its golden; its README says what to change first. It
/// builds with `cargo build --target wasm32-wasip2 --release` and passes
/// `exlogare-host conformance` as written.
#[derive(Args)]
pub struct NewProvider {
    /// The provider's id and package name: lower-case letters, digits and dashes, e.g. acme-ci
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Where to write the crate: a new or empty folder (default: ./NAME)
    #[arg(long, value_name = "PATH")]
    pub dir: Option<PathBuf>,
    /// The exlogare-kit crate to depend on (plugin/kit of an Exlogare checkout); default: found
    /// above the current folder, else the checkout this binary was built from
    #[arg(long, value_name = "PATH")]
    pub kit: Option<PathBuf>,
}

/// One template file: where it goes in the new crate, and its text.
macro_rules! template {
    ($to:literal, $from:literal) => {
        (
            $to,
            include_str!(concat!("../../templates/provider/", $from)),
        )
    };
}

/// The template's files, with the placeholders `__NAME__`, `__CRATE__`, `__DISPLAY__` and
/// `__KIT__` in their paths and text.
const TEMPLATE: &[(&str, &str)] = &[
    template!("Cargo.toml", "Cargo.toml.tmpl"),
    template!(".gitignore", "gitignore"),
    template!("README.md", "README.md"),
    template!("src/lib.rs", "src/lib.rs"),
    template!("src/component.rs", "src/component.rs"),
    template!("src/webhook.rs", "src/webhook.rs"),
    template!("src/failure.rs", "src/failure.rs"),
    template!("src/green_runs.rs", "src/green_runs.rs"),
    template!("src/endpoints.rs", "src/endpoints.rs"),
    template!("src/account.rs", "src/account.rs"),
    template!("src/model.rs", "src/model.rs"),
    template!(
        "fixtures/__NAME__/failed-pipeline/scenario.toml",
        "fixtures/failed-pipeline/scenario.toml"
    ),
    template!(
        "fixtures/__NAME__/failed-pipeline/exchanges.toml",
        "fixtures/failed-pipeline/exchanges.toml"
    ),
    template!(
        "fixtures/__NAME__/failed-pipeline/expected.json",
        "fixtures/failed-pipeline/expected.json"
    ),
    template!(
        "fixtures/__NAME__/failed-pipeline/bodies/delivery.json",
        "fixtures/failed-pipeline/bodies/delivery.json"
    ),
    template!(
        "fixtures/__NAME__/failed-pipeline/bodies/pipeline-42.json",
        "fixtures/failed-pipeline/bodies/pipeline-42.json"
    ),
    template!(
        "fixtures/__NAME__/failed-pipeline/bodies/job-301.log",
        "fixtures/failed-pipeline/bodies/job-301.log"
    ),
    template!(
        "fixtures/__NAME__/failed-pipeline/bodies/passing-main.json",
        "fixtures/failed-pipeline/bodies/passing-main.json"
    ),
];

pub fn run(args: &NewProvider) -> anyhow::Result<ExitCode> {
    check_name(&args.name)?;
    let kit = find_kit(args.kit.as_deref())?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.exists() {
        let mut entries = std::fs::read_dir(&dir)
            .with_context(|| format!("{} exists and is not a readable folder", dir.display()))?;
        if entries.next().is_some() {
            bail!(
                "{} exists and is not empty; give --dir a new or empty folder",
                dir.display()
            );
        }
    }
    let name = args.name.as_str();
    let krate = name.replace('-', "_");
    let display = display_name(name);
    // The crate is its own workspace, so `path` is written absolute: it builds wherever it is moved
    // on this machine; Cargo.toml is the place to change it.
    let kit_path = kit.display().to_string().replace('\\', "/");
    let fill = |text: &str| {
        text.replace("__NAME__", name)
            .replace("__CRATE__", &krate)
            .replace("__DISPLAY__", &display)
            .replace("__KIT__", &kit_path)
    };
    for (path, text) in TEMPLATE {
        let path = dir.join(fill(path));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, fill(text))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    // The lock file of the kit's workspace: the new crate resolves the dependency versions the kit
    // is built and tested with, and needs no registry index to start.
    let lock = kit.join("../../Cargo.lock");
    let locked = lock.is_file() && std::fs::copy(&lock, dir.join("Cargo.lock")).is_ok();

    println!(
        "wrote the provider crate `{name}` ({display}) in {}, on the kit at {kit_path}{}",
        dir.display(),
        if locked {
            ", with the kit's Cargo.lock"
        } else {
            ""
        }
    );
    println!("  Cargo.toml, README.md, src/ (8 modules), fixtures/{name}/failed-pipeline/");
    println!("next:");
    println!("  cd {}", dir.display());
    println!("  cargo test");
    println!("  cargo build --target wasm32-wasip2 --release");
    println!(
        "  exlogare-host conformance --plugin target/wasm32-wasip2/release/{krate}.wasm --fixtures fixtures/{name}"
    );
    println!("then README.md says what to change first.");
    Ok(ExitCode::SUCCESS)
}

/// A provider's id is its package name and appears in URLs, header names and file names:
/// lower-case letters, digits and single dashes, starting with a letter.
fn check_name(name: &str) -> anyhow::Result<()> {
    const RULE: &str = "a provider name is lower-case letters, digits and dashes, starting with a letter (e.g. acme-ci)";
    if name.is_empty() {
        bail!("the provider name is empty: {RULE}");
    }
    if name.len() > 40 {
        bail!("`{name}` is longer than 40 characters: {RULE}");
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        bail!("`{name}` has {c:?}: {RULE}");
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        bail!("`{name}` does not start with a letter: {RULE}");
    }
    if name.ends_with('-') || name.contains("--") {
        bail!("`{name}` has a dash at its end or two in a row: {RULE}");
    }
    if ["exlogare-kit", "test", "core", "std", "alloc", "proc-macro"].contains(&name) {
        bail!("`{name}` is the name of a crate the provider builds on; choose another");
    }
    Ok(())
}

/// `acme-ci` → `Acme CI`: words capitalized, `ci` and `cd` upper-cased.
fn display_name(name: &str) -> String {
    name.split('-')
        .map(|w| {
            if w == "ci" || w == "cd" {
                w.to_ascii_uppercase()
            } else {
                w[..1].to_ascii_uppercase() + &w[1..]
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The kit: `--kit`, else `plugin/kit` above the current folder, else the checkout this binary was
/// built from. Absolute, and checked to be `exlogare-kit`.
fn find_kit(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let is_kit = |dir: &Path| {
        std::fs::read_to_string(dir.join("Cargo.toml"))
            .is_ok_and(|t| t.lines().any(|l| l.trim() == r#"name = "exlogare-kit""#))
    };
    if let Some(kit) = given {
        let kit = kit
            .canonicalize()
            .with_context(|| format!("--kit {}", kit.display()))?;
        if !is_kit(&kit) {
            bail!(
                "--kit {}: not the exlogare-kit crate (plugin/kit of an Exlogare checkout)",
                kit.display()
            );
        }
        return Ok(kit);
    }
    let cwd = std::env::current_dir()?;
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    cwd.ancestors()
        .map(Path::to_path_buf)
        .chain([built_from])
        .map(|root| root.join("plugin/kit"))
        .find(|kit| is_kit(kit))
        .and_then(|kit| kit.canonicalize().ok())
        .context(
            "no exlogare-kit found above the current folder nor where this binary was built; give --kit PATH (plugin/kit of an Exlogare checkout)",
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_displayed() {
        for ok in ["acme-ci", "a", "ci2", "big-co-ci"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Acme",
            "acme_ci",
            "-acme",
            "acme-",
            "acme--ci",
            "9ci",
            "acme ci",
            "exlogare-kit",
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert_eq!(display_name("acme-ci"), "Acme CI");
        assert_eq!(display_name("big-co-builds"), "Big Co Builds");
    }

    #[test]
    fn every_template_file_is_written() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/provider");
        let mut on_disk = Vec::new();
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    on_disk.push(path.strip_prefix(&root).unwrap().to_path_buf());
                }
            }
        }
        // A file added to the template folder and forgotten in TEMPLATE would silently not be
        // written.
        assert_eq!(on_disk.len(), TEMPLATE.len(), "{on_disk:?}");
    }
}
