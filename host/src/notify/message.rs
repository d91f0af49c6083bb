//! The platform-neutral failure message: what every notifier renders.
//!
//! It is stored (JSON) with the delivery and rebuilt on retries, so it holds plain data only and
//! every field added later must have a serde default.

use crate::pipeline::FailureAnalysis;
use crate::wit::v0_1::types;
use serde::{Deserialize, Serialize};

/// One pipeline failure, ready to post.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureMessage {
    /// Provider id (`gitflic`).
    pub provider: String,
    /// The connection's id in the service config.
    pub connection: String,
    /// `owner/name`.
    pub project: String,
    /// `#1287`, or the provider's id when the pipeline has no number.
    pub pipeline: String,
    /// `failed`, or `warning` when only allowed failures failed.
    #[serde(default = "failed")]
    pub status: String,
    #[serde(default)]
    pub git_ref: Option<String>,
    #[serde(default)]
    pub commit_sha: Option<String>,
    /// The pipeline page.
    pub deep_link: String,
    pub jobs: Vec<JobMessage>,
}

fn failed() -> String {
    "failed".to_owned()
}

/// One failed job and what the analysis found in its log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobMessage {
    pub name: String,
    #[serde(default)]
    pub stage: Option<String>,
    #[serde(default)]
    pub failing_step: Option<String>,
    /// An [`exlogare_analysis::Category`] name (`compilation`, `test_failure`...); `unknown`
    /// when the log could not be analysed.
    pub category: String,
    /// Empty when the log could not be analysed.
    #[serde(default)]
    pub summary: String,
    /// 0.0 to 1.0.
    #[serde(default)]
    pub confidence: f32,
    /// Groups recurring failures; empty without an analysis.
    #[serde(default)]
    pub signature: String,
    /// False when the analysis found no failure line and the excerpt is the log's tail.
    #[serde(default = "yes")]
    pub located: bool,
    /// The decisive lines `(line number, text)`, already redacted by the analysis.
    #[serde(default)]
    pub excerpt: Vec<(u64, String)>,
    /// Why the log could not be read (or was read only in part), e.g. an expired artifact.
    #[serde(default)]
    pub log_unavailable: Option<String>,
    /// The job's page, when the provider gave one.
    #[serde(default)]
    pub web_url: Option<String>,
}

fn yes() -> bool {
    true
}

impl FailureMessage {
    /// The message for one analysed failure. Jobs keep the provider's order.
    pub fn from_analysis(provider: &str, connection: &str, analysis: &FailureAnalysis) -> FailureMessage {
        let p = &analysis.details.pipeline;
        let jobs = analysis
            .jobs
            .iter()
            .map(|j| {
                let unavailable = match (&j.source, &j.report) {
                    (Err(e), None) => Some(provider_error_text(e)),
                    (Err(e), Some(_)) => Some(format!("the log was read only in part: {}", provider_error_text(e))),
                    (Ok(_), None) => Some("the log was empty".to_owned()),
                    (Ok(_), Some(_)) => None,
                };
                let mut m = JobMessage {
                    name: j.job.name.clone(),
                    stage: j.job.stage.clone(),
                    failing_step: None,
                    category: "unknown".to_owned(),
                    summary: String::new(),
                    confidence: 0.0,
                    signature: String::new(),
                    located: false,
                    excerpt: Vec::new(),
                    log_unavailable: unavailable,
                    web_url: j.job.web_url.clone(),
                };
                if let Some(r) = &j.report {
                    m.failing_step = r.failing_step.clone();
                    m.category = r.category.as_str().to_owned();
                    m.summary = r.summary.clone();
                    m.confidence = r.confidence;
                    m.signature = r.signature.clone();
                    m.located = r.located;
                    m.excerpt = r.excerpt_lines.clone();
                }
                m
            })
            .collect();
        FailureMessage {
            provider: provider.to_owned(),
            connection: connection.to_owned(),
            project: format!("{}/{}", p.project.owner, p.project.name),
            pipeline: pipeline_label(&p.reference),
            status: match p.status {
                types::RunStatus::Warning => "warning".to_owned(),
                _ => "failed".to_owned(),
            },
            git_ref: p.git_ref.clone(),
            commit_sha: p.commit_sha.clone(),
            deep_link: analysis.details.deep_link.clone(),
            jobs,
        }
    }

    /// `CI failed: acme/payments-api #1287` (unescaped).
    pub fn headline(&self) -> String {
        let verb = if self.status == "warning" { "CI finished with warnings" } else { "CI failed" };
        format!("{verb}: {} {}", self.project, self.pipeline)
    }

    /// `main @ bd7315127a`, or what is known of it.
    pub fn ref_line(&self) -> Option<String> {
        match (&self.git_ref, self.short_sha()) {
            (Some(r), Some(s)) => Some(format!("{r} @ {s}")),
            (Some(r), None) => Some(r.clone()),
            (None, Some(s)) => Some(format!("@ {s}")),
            (None, None) => None,
        }
    }

    pub fn short_sha(&self) -> Option<&str> {
        self.commit_sha.as_deref().map(|s| s.get(..10).unwrap_or(s))
    }

    /// The deep link when it is an http(s) URL (anything else is shown as text, never linked).
    pub fn link(&self) -> Option<&str> {
        safe_url(&self.deep_link)
    }
}

impl JobMessage {
    /// `build [build]`
    pub fn title(&self) -> String {
        match &self.stage {
            Some(s) if !s.is_empty() && s != &self.name => format!("{} [{s}]", self.name),
            _ => self.name.clone(),
        }
    }

    /// `compilation, 90% confidence` or `not analysed`.
    pub fn verdict(&self) -> String {
        if self.summary.is_empty() && self.excerpt.is_empty() {
            return "not analysed".to_owned();
        }
        let cat = self.category.replace('_', " ");
        if self.located {
            format!("{cat}, {:.0}% confidence", self.confidence * 100.0)
        } else {
            format!("{cat} (no failure line found; the end of the log is shown)")
        }
    }
}

pub(crate) fn safe_url(u: &str) -> Option<&str> {
    let parsed = url::Url::parse(u).ok()?;
    matches!(parsed.scheme(), "http" | "https").then_some(u)
}

fn pipeline_label(p: &types::PipelineRef) -> String {
    match (&p.number, &p.id) {
        (Some(n), _) => format!("#{n}"),
        (None, Some(id)) => id.clone(),
        (None, None) => "(newest failed)".into(),
    }
}

/// The pipeline renders provider errors with `{:?}` (`NotFound("artifact expired")`); make that
/// `not found: artifact expired`.
fn provider_error_text(e: &str) -> String {
    let Some((variant, rest)) = e.split_once('(') else { return e.to_owned() };
    if !variant.chars().all(|c| c.is_ascii_alphabetic()) || !rest.ends_with(')') {
        return e.to_owned();
    }
    let inner = &rest[..rest.len() - 1];
    let inner = serde_json::from_str::<String>(inner).unwrap_or_else(|_| inner.to_owned());
    let mut words = String::new();
    for (i, c) in variant.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            words.push(' ');
        }
        words.push(c.to_ascii_lowercase());
    }
    format!("{words}: {inner}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn provider_errors_read_as_words() {
        assert_eq!(super::provider_error_text("NotFound(\"artifact \\\"job.log\\\" expired\")"), "not found: artifact \"job.log\" expired");
        assert_eq!(super::provider_error_text("plugin trapped: out of fuel"), "plugin trapped: out of fuel");
    }
}
