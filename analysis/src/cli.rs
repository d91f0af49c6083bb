//! `exlogare-host analyze [--json] FILE...`: the lead wires the host's subcommand to [`run`].

use crate::{JobMeta, Report, analyze_reader};
use anyhow::Context;
use std::io::Write;
use std::path::PathBuf;

/// Analyses each file; with `json`, one JSON object per file, one per line (a single file
/// gives exactly one object); otherwise a report for a person, with the excerpt.
pub fn run(files: &[PathBuf], json: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    anyhow::ensure!(!files.is_empty(), "analyze: no log file given");
    // Off unless EXLOGARE_MODEL_URL is set (see `model`); one client for every file. A bad
    // URL is an error here, before any file is read, not a `model_error` on each report.
    let model = crate::model::ModelConfig::from_env()
        .map(crate::model::ModelClient::new)
        .transpose()
        .context("EXLOGARE_MODEL_URL")?;
    for (i, path) in files.iter().enumerate() {
        let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let mut report = analyze_reader(
            std::io::BufReader::with_capacity(1 << 16, f),
            JobMeta::default(),
        )
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
