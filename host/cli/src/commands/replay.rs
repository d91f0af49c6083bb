//! `exlogare-host replay SCENARIO`: a recorded failure through the whole path, offline.
//!
//! The delivery from the scenario goes to the plugin's webhook check, the plugin finds the
//! failed jobs and streams their logs from the recorded traffic (through the same sandbox and
//! egress gate as production), and the analyzer turns each log into a root-cause report.

use super::{Sandbox, terminal_safe};
use clap::Args;
use exlogare_conformance::{ScenarioEnv, Step};
use exlogare_runtime::contract;
use exlogare_runtime::plugin::LoadedPlugin;
use exlogare_runtime::secret_stand_in;
use exlogare_service::pipeline::{
    FailureAnalysis, LogWords, analyze_failure, failure_message, pipeline_label,
};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Replays a recorded failure through the whole path, offline.
///
/// The delivery, the plugin, the recorded provider traffic, log extraction and the root cause,
/// without network. Prints what each stage did and the message a notifier would post; exits 1 when the failure
/// could not be analysed. `./x demo` runs it on fixtures/gitflic/failed-job-trace.
#[derive(Args)]
pub struct Replay {
    /// A scenario folder, e.g. fixtures/gitflic/failed-job-trace
    #[arg(value_name = "SCENARIO")]
    pub scenario: PathBuf,
    /// The provider plugin component (build it with
    /// `cargo build -p exlogare-gitflic --target wasm32-wasip2 --profile plugin`)
    #[arg(
        long,
        value_name = "FILE",
        default_value = "target/wasm32-wasip2/plugin/exlogare_gitflic.wasm"
    )]
    pub plugin: PathBuf,
    #[command(flatten)]
    pub sandbox: Sandbox,
}

pub fn run(args: &Replay) -> anyhow::Result<ExitCode> {
    let rt = args.sandbox.runtime()?;
    let limits = args.sandbox.limits()?;
    let plugin = rt.load(&args.plugin, limits).map_err(|e| {
        anyhow::anyhow!("{e}\n(build it first: cargo build -p exlogare-gitflic --target wasm32-wasip2 --profile plugin)")
    })?;
    let report = replay(&plugin, &args.scenario)?;
    print!("{}", report.render());
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub struct ReplayReport {
    text: String,
    ok: bool,
}

impl ReplayReport {
    /// The report for a terminal: everything in it that came from the plugin or the log
    /// (names, messages, excerpts) is the plugin's to choose, so control characters (escape
    /// sequences that clear the screen or forge hyperlinks) show as U+FFFD and bidirectional
    /// overrides are dropped.
    pub fn render(&self) -> String {
        terminal_safe(&self.text)
    }

    /// True when the failure was analysed (every failed job got a report).
    pub fn ok(&self) -> bool {
        self.ok
    }
}

pub fn replay(plugin: &LoadedPlugin, dir: &Path) -> anyhow::Result<ReplayReport> {
    let env = ScenarioEnv::prepare(dir)?;
    let limited = env.plugin_for(plugin)?;
    let plugin = limited.as_ref().unwrap_or(plugin);
    let mut out = String::new();
    let limits = plugin.limits();
    writeln!(
        out,
        "scenario   {} — {}",
        env.name, env.scenario.description
    )?;
    writeln!(
        out,
        "plugin     {} ({}) contract {}; sandbox: {} MiB memory, {} s per call, {} requests per call, no network but the recording",
        plugin.info.display_name,
        plugin.info.id,
        plugin.info.contract_version,
        limits.memory_bytes >> 20,
        limits.call_timeout_ms / 1000,
        limits.requests_per_call
    )?;
    let Some(Step::VerifyWebhook {
        query,
        headers,
        body,
        body_file,
        expected_secret,
    }) = env
        .scenario
        .steps
        .iter()
        .find(|s| matches!(s, Step::VerifyWebhook { .. }))
    else {
        anyhow::bail!(
            "{}: the scenario has no verify-webhook step to replay",
            env.name
        );
    };
    let delivery = env.delivery(query, headers, body, body_file)?;
    let secret = expected_secret
        .clone()
        .or_else(|| env.scenario.secrets.webhook_secret.clone())
        .unwrap_or_default();
    // As the service does: the plugin compares a stand-in, never the secret.
    let stand_in = secret_stand_in::fixed_stand_in(&secret);
    let delivery = secret_stand_in::masked_delivery(&delivery, &secret, &stand_in);
    let verified = plugin.verify_webhook(env.ctx(None), &env.conn, &delivery, &stand_in)?;
    let event = match verified.value {
        Ok(contract::WebhookOutcome::PipelineFailed(event)) => event,
        Ok(other) => {
            writeln!(out, "delivery   accepted, nothing to analyse: {other:?}")?;
            return Ok(ReplayReport {
                text: out,
                ok: true,
            });
        }
        Err(rejection) => {
            let (kind, why) = match rejection {
                contract::WebhookRejection::Malformed(m) => ("malformed", m),
                contract::WebhookRejection::SecretMissing(m) => ("no secret", m),
                contract::WebhookRejection::SecretMismatch(m) => ("secret mismatch", m),
            };
            writeln!(out, "delivery   REJECTED ({kind}): {why}")?;
            return Ok(ReplayReport {
                text: out,
                ok: false,
            });
        }
    };
    writeln!(
        out,
        "delivery   {} for {}/{} pipeline {} (secret verified in {} µs)",
        event.event,
        event.project.owner,
        event.project.name,
        pipeline_label(&event.pipeline),
        verified.elapsed.as_micros()
    )?;
    let ctx = |sink| env.ctx(sink);
    let analysis = match analyze_failure(plugin, &ctx, &env.conn, &event, None) {
        Ok(a) => a,
        Err(e) => {
            writeln!(out, "failure    could not be analysed: {e}")?;
            return Ok(ReplayReport {
                text: out,
                ok: false,
            });
        }
    };
    let ok = render_analysis(&mut out, &analysis)?;
    let words = LogWords {
        provider_name: plugin.info.display_name.clone(),
        web_base: Some(env.conn.web_base.clone()),
        ..LogWords::default()
    };
    let message = failure_message(&plugin.info.id, &env.name, &analysis, &words);
    writeln!(out, "\nmessage as the console notifier posts it:\n")?;
    writeln!(
        out,
        "{}",
        exlogare_notify::console::render_plain(&message, usize::MAX)
    )?;
    let violations = env.backend.violations();
    for v in &violations {
        writeln!(out, "VIOLATION  {v}")?;
    }
    Ok(ReplayReport {
        text: out,
        ok: ok && violations.is_empty(),
    })
}

fn render_analysis(out: &mut String, a: &FailureAnalysis) -> anyhow::Result<bool> {
    let p = &a.details.pipeline;
    writeln!(
        out,
        "pipeline   {} {} on {} @ {} — {}",
        pipeline_label(&p.reference),
        serde_json::to_value(p.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_uppercase))
            .unwrap_or_default(),
        p.git_ref.as_deref().unwrap_or("?"),
        p.commit_sha
            .as_deref()
            .map(|s| s.char_indices().nth(10).map_or(s, |(i, _)| &s[..i]))
            .unwrap_or("?"),
        a.details.deep_link
    )?;
    writeln!(
        out,
        "jobs       {} failed; {} provider requests, all answered from the recording",
        a.jobs.len(),
        a.requests
    )?;
    let mut ok = !a.jobs.is_empty();
    for j in &a.jobs {
        writeln!(out)?;
        let stage = j
            .job
            .stage
            .as_deref()
            .map(|s| format!(" [{s}]"))
            .unwrap_or_default();
        match &j.source {
            Ok(src) => writeln!(
                out,
                "job {}{} (#{}) — log {} ({} bytes, {} lines), extracted in {} ms, plugin memory peak {:.1} MiB",
                j.job.name,
                stage,
                j.job.id,
                src.name,
                src.bytes,
                src.lines,
                j.elapsed.as_millis(),
                j.peak_memory_bytes as f64 / (1 << 20) as f64
            )?,
            Err(e) => {
                writeln!(
                    out,
                    "job {}{} (#{}) — no log: {e}",
                    j.job.name, stage, j.job.id
                )?;
                ok = false;
                continue;
            }
        }
        let Some(r) = &j.report else {
            writeln!(out, "  the log was empty; nothing to analyse")?;
            ok = false;
            continue;
        };
        let ranges: Vec<String> = r
            .excerpt
            .iter()
            .map(|x| format!("{}-{}", x.start_line, x.end_line))
            .collect();
        writeln!(
            out,
            "  analysis   {} (rule: {}), confidence {:.2}, signature {}, decisive lines {} of the original log",
            r.category.as_str(),
            r.category_rule,
            r.confidence,
            r.signature,
            ranges.join(", ")
        )?;
    }
    Ok(ok)
}
