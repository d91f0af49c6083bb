//! `exlogare-host analyze [--json] FILE...`: the lead wires the host's subcommand to [`run`];
//! [`run_with_baseline`] is the same against a passing log of the same job
//! (`--baseline PASSING.log`).

use crate::{Fingerprint, JobMeta, Report, analyze_reader, analyze_reader_with_baseline};
use anyhow::Context;
use std::io::Write;
use std::path::PathBuf;

/// Analyses each file; with `json`, one JSON object per file, one per line (a single file
/// gives exactly one object); otherwise a report for a person, with the excerpt.
pub fn run(files: &[PathBuf], json: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    run_with_baseline(files, json, None, out)
}

/// [`run`], each file compared with `baseline`, the log of a green run of the same job: lines
/// it also printed are not taken as the cause, and the report says so (`comparison`).
pub fn run_with_baseline(
    files: &[PathBuf],
    json: bool,
    baseline: Option<&std::path::Path>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    anyhow::ensure!(!files.is_empty(), "analyze: no log file given");
    let green = baseline
        .map(|p| {
            let f = std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?;
            Fingerprint::from_reader(std::io::BufReader::with_capacity(1 << 16, f))
                .with_context(|| format!("reading {}", p.display()))
        })
        .transpose()?;
    // Off unless EXLOGARE_MODEL_URL is set (see `model`); one client for every file. A bad
    // URL is an error here, before any file is read, not a `model_error` on each report.
    let model = crate::model::ModelConfig::from_env()
        .map(crate::model::ModelClient::new)
        .transpose()
        .context("EXLOGARE_MODEL_URL")?;
    for (i, path) in files.iter().enumerate() {
        let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let reader = std::io::BufReader::with_capacity(1 << 16, f);
        let mut report = match &green {
            Some(g) => analyze_reader_with_baseline(reader, JobMeta::default(), g.clone()),
            None => analyze_reader(reader, JobMeta::default()),
        }
        .with_context(|| format!("reading {}", path.display()))?;
        if let Some(model) = &model {
            model.enrich(&mut report);
        }
        if json {
            let mut v = serde_json::to_value(&report)?;
            v["file"] = serde_json::Value::String(path.display().to_string());
            serde_json::to_writer(&mut *out, &v)?;
            writeln!(out)?;
        } else {
            if i > 0 {
                writeln!(out)?;
            }
            write_human(path, &report, out)?;
        }
    }
    Ok(())
}

fn write_human(path: &std::path::Path, r: &Report, out: &mut dyn Write) -> anyhow::Result<()> {
    writeln!(out, "== {}", path.display())?;
    writeln!(out, "{}", r.summary)?;
    writeln!(
        out,
        "category:   {} ({})",
        r.category.as_str(),
        r.category_rule
    )?;
    if let Some(s) = &r.failing_step {
        writeln!(out, "step:       {s}")?;
    }
    writeln!(
        out,
        "confidence: {:.2}   signature: {}",
        r.confidence, r.signature
    )?;
    if let Some(c) = &r.comparison {
        writeln!(
            out,
            "compared with the green run ({} lines): {} failure lines it also printed set aside, {} lines new; {}",
            c.green_lines,
            c.demoted,
            c.new_lines,
            match c.outcome {
                "first_new_lines" => "no rule matched, the excerpt is the first new lines",
                "nothing_new" => {
                    "the failed command printed nothing new, so the log was analysed alone"
                }
                _ => "the decisive line is new",
            }
        )?;
    }
    if !r.located {
        writeln!(
            out,
            "could not locate the failure; last lines of the failed command:"
        )?;
    }
    for range in &r.excerpt {
        writeln!(out, "--- lines {}-{}", range.start_line, range.end_line)?;
    }
    if let Some(text) = &r.model_explanation {
        writeln!(out, "model ({}): {text}", r.model.as_deref().unwrap_or("?"))?;
    }
    if let Some(e) = &r.model_error {
        writeln!(out, "model step failed, deterministic report only: {e}")?;
    }
    let width = r
        .excerpt_lines
        .last()
        .map(|(n, _)| n.to_string().len())
        .unwrap_or(1);
    for (n, t) in &r.excerpt_lines {
        writeln!(out, "{n:>width$} | {t}")?;
    }
    Ok(())
}
