//! The platform-neutral failure message: what every notifier renders.
//!
//! It is stored (JSON) with the delivery and rebuilt on retries, so it holds plain data only and
//! every field added later must have a serde default.

use super::words::{self, Language};
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
    /// What the team should know about the whole pipeline when its jobs could not be told,
    /// e.g. that the provider no longer has it.
    #[serde(default)]
    pub note: Option<String>,
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
    /// The analysis category's name (`compilation`, `test_failure`...); `unknown`
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
    /// How the log was read: against the job's last green run ("compared with the last green
    /// run #1286 on main") or alone, and why ("no green run to compare with: …"). Absent when
    /// the provider cannot look green runs up. In English: readers of the stored report get it
    /// as before; chat messages say [`compared`](Self::compared) in the route's language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison: Option<String>,
    /// The same as data, so each route's language can say it. Messages stored before it have
    /// only [`comparison`](Self::comparison), shown as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compared: Option<Comparison>,
}

/// How a failing job's log was read, without the words (see [`Comparison::line`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Comparison {
    /// Against the last green run `label` (`#1286`) on `git_ref`. `nothing_new`: the failed
    /// step printed nothing that run did not, so the log was read alone after all.
    Compared {
        label: String,
        #[serde(default)]
        git_ref: Option<String>,
        #[serde(default)]
        nothing_new: bool,
    },
    /// The plugin found no green run; its words (may be empty), already one bounded line.
    NoGreenRun { why: String },
    /// A green run may exist but was not used; why, already one bounded line.
    NotCompared { why: String },
}

impl Comparison {
    /// The message's line in `language`; the label, the ref and the reasons as they came.
    pub fn line(&self, language: Language) -> String {
        match self {
            Comparison::Compared {
                label,
                git_ref,
                nothing_new,
            } => words::compared(language, label, git_ref.as_deref(), *nothing_new),
            Comparison::NoGreenRun { why } => words::no_green_run(language, why),
            Comparison::NotCompared { why } => words::not_compared(language, why),
        }
    }
}

fn yes() -> bool {
    true
}

impl FailureMessage {
    /// `CI failed: acme/payments-api #1287` (unescaped), our words in `language`.
    pub fn headline(&self, language: Language) -> String {
        let w = language.words();
        let verb = if self.status == "warning" {
            w.finished_with_warnings
        } else {
            w.failed
        };
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

    /// `compilation, 90% confidence` or `not analysed`, in `language`.
    pub fn verdict(&self, language: Language) -> String {
        if self.summary.is_empty() && self.excerpt.is_empty() {
            return language.words().not_analysed.to_owned();
        }
        let cat = words::category(language, &self.category);
        if self.located {
            words::verdict(language, &cat, self.confidence * 100.0)
        } else {
            words::verdict_unlocated(language, &cat)
        }
    }

    /// How the log was read, in `language` when the message has it as data, else the stored
    /// line as it is (unescaped, not yet cut).
    pub fn comparison_line(&self, language: Language) -> Option<String> {
        match &self.compared {
            Some(c) => Some(c.line(language)),
            None => self.comparison.clone(),
        }
    }
}

pub(crate) fn safe_url(u: &str) -> Option<&str> {
    let parsed = url::Url::parse(u).ok()?;
    matches!(parsed.scheme(), "http" | "https").then_some(u)
}
