//! `exlogare-host`: parses the command line and hands each command to its module in
//! `commands/`, which does the work and the printing.

mod commands;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use commands::*;
use std::process::ExitCode;

const ABOUT: &str = "Exlogare turns failed CI pipelines into root-cause reports in your chat.\n\
This command runs the service, and holds the tools to build and check the sandboxed plugins\n\
(WASI components) that talk to each CI provider.";

#[derive(Parser)]
#[command(name = "exlogare-host", version, about = ABOUT)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Who uses which command; the top-level help lists the commands under these headings, in this
/// order (a unit test checks every command is in exactly one group).
const GROUPS: &[(&str, &[&str])] = &[
    (
        "Operator: run the service and decide what it watches",
        &[
            "serve",
            "connections",
            "projects",
            "watch",
            "reports",
            "parked",
            "plugins",
        ],
    ),
    (
        "Provider author: build and check a CI-provider plugin",
        &["new-provider", "inspect", "conformance", "record", "replay"],
    ),
    ("Analyst: the root-cause analysis alone", &["analyze"]),
];

// Parsed once per run; boxing the big variants would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    Serve(serve::Serve),
    Connections(connections::Connections),
    Projects(projects::Projects),
    Watch(watch::Watch),
    Reports(reports::Reports),
    Parked(parked::Parked),
    Plugins(plugins::Plugins),
    NewProvider(new_provider::NewProvider),
    Inspect(inspect::Inspect),
    Conformance(conformance::Conformance),
    Record(record::Record),
    Replay(replay::Replay),
    Analyze(analyze::Analyze),
}

fn main() -> ExitCode {
    let cli = parse();
    init_logging(match cli.command {
        Command::Serve(_) => "info",
        _ => "warn",
    });
    let result = match &cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Connections(args) => connections::run(args),
        Command::Projects(args) => projects::run(args),
        Command::Watch(args) => watch::run(args),
        Command::Reports(args) => reports::run(args),
        Command::Parked(args) => parked::run(args),
        Command::Plugins(args) => plugins::run(args),
        Command::NewProvider(args) => new_provider::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Conformance(args) => conformance::run(args),
        Command::Record(args) => record::run(args),
        Command::Replay(args) => replay::run(args),
        Command::Analyze(args) => analyze::run(args),
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        ExitCode::from(2)
    })
}

/// [`Cli::parse`], with the top-level help listing the commands by who uses them (clap has one
/// heading for all subcommands).
fn parse() -> Cli {
    let command = Cli::command();
    let template = help_template(&command);
    let matches = command.help_template(template).get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

fn help_template(command: &clap::Command) -> String {
    let width = command
        .get_subcommands()
        .map(|s| s.get_name().len())
        .max()
        .unwrap_or(0);
    let mut groups = String::new();
    for (heading, names) in GROUPS {
        groups.push_str(&format!("{heading}:\n"));
        for name in *names {
            let about = command
                .find_subcommand(name)
                .and_then(|s| s.get_about())
                .map(|a| a.to_string())
                .unwrap_or_default();
            groups.push_str(&format!("  {name:width$}  {about}\n"));
        }
        groups.push('\n');
    }
    format!(
        "{{before-help}}{{about-with-newline}}\n{{usage-heading}} {{usage}}\n\n{groups}\
         Options:\n{{options}}\n\n\
         `exlogare-host help COMMAND` or `exlogare-host COMMAND --help` explains a command and\n\
         its arguments. Logging goes to stderr: EXLOGARE_LOG or RUST_LOG (EXLOGARE_LOG wins)\n\
         take a filter such as `debug`; the default is `info` for serve, `warn` for the rest.\
         {{after-help}}"
    )
}

/// Logs to stderr. `EXLOGARE_LOG`, else `RUST_LOG`, else `default`; a filter that does not
/// parse is reported and the default used.
fn init_logging(default: &str) {
    let given = ["EXLOGARE_LOG", "RUST_LOG"].into_iter().find_map(|var| {
        std::env::var(var)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .map(|v| (var, v))
    });
    let filter = match given {
        Some((var, spec)) => tracing_subscriber::EnvFilter::try_new(&spec).unwrap_or_else(|e| {
            eprintln!("warning: {var}={spec} is not a log filter ({e}); logging at {default}");
            tracing_subscriber::EnvFilter::new(default)
        }),
        None => tracing_subscriber::EnvFilter::new(default),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_arguments_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_command_is_in_exactly_one_group() {
        let command = Cli::command();
        let mut grouped: Vec<&str> = GROUPS
            .iter()
            .flat_map(|(_, names)| names.iter().copied())
            .collect();
        grouped.sort_unstable();
        let mut all: Vec<&str> = command.get_subcommands().map(|s| s.get_name()).collect();
        all.sort_unstable();
        assert_eq!(grouped, all);
    }

    #[test]
    fn every_argument_has_help() {
        fn check(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in command.get_arguments() {
                if arg.get_help().is_none() && !matches!(arg.get_id().as_str(), "help" | "version")
                {
                    missing.push(format!("{path} {}", arg.get_id()));
                }
            }
            for sub in command.get_subcommands() {
                if sub.get_about().is_none() {
                    missing.push(format!("{path} {} (the command itself)", sub.get_name()));
                }
                check(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        check(&Cli::command(), "exlogare-host", &mut missing);
        assert!(missing.is_empty(), "arguments without help: {missing:?}");
    }

    #[test]
    fn sandbox_flags_belong_to_the_commands_that_load_plugins_themselves() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("exlogare-host").chain(args.iter().copied()))
        };
        for ok in [
            &[
                "replay",
                "fixtures/gitflic/failed-job-trace",
                "--cache-dir",
                "c",
                "--limits",
                "l",
            ][..],
            &["inspect", "--plugin", "p.wasm", "--cache-dir", "c"],
            &[
                "conformance",
                "--plugin",
                "p",
                "--fixtures",
                "f",
                "--limits",
                "l",
            ],
        ] {
            assert!(parse(ok).is_ok(), "{ok:?}");
        }
        for refused in [
            &["serve", "--config", "x.toml", "--cache-dir", "c"][..],
            &[
                "record",
                "--config",
                "x",
                "--connection",
                "c",
                "--project",
                "o/n",
                "--out",
                "d",
                "--limits",
                "l",
            ],
            &["--cache-dir", "c", "analyze", "log.txt"],
            &["connections", "--config", "x", "--limits", "l"],
        ] {
            assert!(parse(refused).is_err(), "{refused:?}");
        }
    }

    #[test]
    fn the_replay_example_exists() {
        let command = Cli::command();
        let replay = command.find_subcommand("replay").unwrap();
        let help = replay
            .get_arguments()
            .find(|a| a.get_id() == "scenario")
            .unwrap()
            .get_help()
            .unwrap()
            .to_string();
        let example = help
            .split_whitespace()
            .find(|w| w.starts_with("fixtures/"))
            .expect("an example scenario");
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        assert!(
            root.join(example).join("scenario.toml").is_file(),
            "{example} is not a scenario"
        );
    }
}
