//! From a failure event to root-cause reports: the provider-agnostic path every plugin feeds.
//!
//! The plugin finds the failed jobs and streams their logs; the host's analyzer reads the
//! stream as it arrives, so a job log never sits whole in host memory either.

use crate::green_run::{GreenCost, GreenLookup, Mode};
pub use crate::provider_words::{bounded_line, pipeline_label, provider_error_words};
use exlogare_analysis::{Analyzer, Fingerprint, JobMeta, Report};
use exlogare_notify::{FailureMessage, JobMessage, Language};
use exlogare_runtime::contract;
use exlogare_runtime::log_sink::{self, LogSink};
use exlogare_runtime::plugin::{CallContext, LoadedPlugin, PluginFault};
use std::time::Duration;

/// Feeds extracted chunks to the analyzer, which runs on its own thread: the plugin's
/// extraction and the host's analysis overlap, so a job takes the slower of the two, not their
/// sum. The channel holds a few chunks (each bounded by the sandbox), so a log never piles up
/// in host memory: a plugin that extracts faster than the analysis reads waits in `emit`.
pub struct AnalysisSink {
    chunks: Option<std::sync::mpsc::SyncSender<log_sink::LogChunk>>,
    analysis: Option<std::thread::JoinHandle<Analysed>>,
    lines: u64,
    done: Option<Analysed>,
}

/// What the analysis thread hands back.
struct Analysed {
    report: Option<Report>,
    /// Time the thread spent analysing, overlapping the extraction.
    busy: Duration,
}

/// Chunks waiting for the analysis at most.
const CHUNKS_IN_FLIGHT: usize = 4;

impl AnalysisSink {
    pub fn new(job: &contract::Job) -> Self {
        Self::against(job, None)
    }

    /// Compares with the job's last green run when there is a fingerprint of it.
    pub fn against(job: &contract::Job, green: Option<Fingerprint>) -> Self {
        let meta = JobMeta {
            job_name: Some(job.name.clone()),
            stage: job.stage.clone(),
        };
        let mut analyzer = match green {
            Some(fp) => Analyzer::with_baseline(meta, fp),
            None => Analyzer::new(meta),
        };
        let (chunks, received) =
            std::sync::mpsc::sync_channel::<log_sink::LogChunk>(CHUNKS_IN_FLIGHT);
        let analysis = std::thread::Builder::new()
            .name("analysis".into())
            .spawn(move || {
                let mut busy = Duration::ZERO;
                let mut lines = 0u64;
                for chunk in received {
                    let started = std::time::Instant::now();
                    lines += chunk.lines.len() as u64;
                    analyse_chunk(&mut analyzer, chunk);
                    busy += started.elapsed();
                }
                let started = std::time::Instant::now();
                let report = (lines > 0).then(|| analyzer.finish());
                busy += started.elapsed();
                Analysed { report, busy }
            });
        let (chunks, analysis) = match analysis {
            Ok(handle) => (Some(chunks), Some(handle)),
            Err(e) => {
                tracing::error!("cannot start the analysis thread: {e}");
                (None, None)
            }
        };
        Self {
            chunks,
            analysis,
            lines: 0,
            done: None,
        }
    }

    /// The report of the lines received, once the plugin has emitted them all.
    pub fn into_report(mut self) -> Option<Report> {
        self.finish().report.clone()
    }

    /// Closes the stream and waits for the analysis (once).
    fn finish(&mut self) -> &Analysed {
        if self.done.is_none() {
            self.chunks = None;
            let analysed = match self.analysis.take().map(|h| h.join()) {
                Some(Ok(a)) => a,
                Some(Err(payload)) => {
                    tracing::error!(
                        "the analysis failed on this log: {}",
                        crate::provider_words::panic_text(payload.as_ref())
                    );
                    Analysed {
                        report: None,
                        busy: Duration::ZERO,
                    }
                }
                None => Analysed {
                    report: None,
                    busy: Duration::ZERO,
                },
            };
            self.done = Some(analysed);
        }
        self.done.as_ref().expect("set above")
    }
}

/// One chunk into the analyzer. Lines and step edges arrive as separate lists; they are merged
/// by source line so a step starts before the lines it holds.
fn analyse_chunk(analyzer: &mut Analyzer, chunk: log_sink::LogChunk) {
    let mut steps = chunk.steps.into_iter().peekable();
    for line in chunk.lines {
        while let Some(step) = steps.next_if(|s| s.source_line <= line.source_line) {
            analyzer.step(edge(step.edge), &step.name, step.source_line);
        }
        analyzer.push_line(line.source_line, &line.text);
    }
    for step in steps {
        analyzer.step(edge(step.edge), &step.name, step.source_line);
    }
}

impl LogSink for AnalysisSink {
    fn emit(&mut self, chunk: log_sink::LogChunk) -> Result<(), String> {
        let chunks = self
            .chunks
            .as_ref()
            .ok_or("the analysis already finished")?;
        let lines = chunk.lines.len() as u64;
        chunks
            .send(chunk)
            .map_err(|_| "the analysis stopped on this log".to_owned())?;
        self.lines += lines;
        Ok(())
    }

    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any> {
        self
    }
}

fn edge(e: log_sink::StepEdge) -> exlogare_logtext::Edge {
    match e {
        log_sink::StepEdge::Start => exlogare_logtext::Edge::Start,
        log_sink::StepEdge::End => exlogare_logtext::Edge::End,
    }
}

/// What happened to one failed job.
pub struct JobAnalysis {
    pub job: contract::Job,
    /// The log the plugin read, or why it could not.
    pub source: Result<contract::LogSource, LogProblem>,
    pub report: Option<Report>,
    /// The host stopped taking the log's text at the sandbox's cap (`log_text_bytes`).
    pub text_cut_at: Option<u64>,
    /// The connection's request budget refused a request of this job's log.
    pub over_budget: Option<Duration>,
    pub elapsed: Duration,
    pub peak_memory_bytes: u64,
    /// How the log was read against the job's last green run; `None` when the plugin cannot
    /// look green runs up (or the caller did not ask).
    pub comparison: Option<Mode>,
    /// What finding and reading the green run cost.
    pub green_cost: GreenCost,
    /// The time the host's analysis spent on the lines, on its own thread beside the
    /// extraction (so it overlaps `elapsed`).
    pub analysis_time: Duration,
}

pub struct FailureAnalysis {
    pub details: contract::FailureDetails,
    /// How long `get-failure-details` took (the provider's answers about the pipeline).
    pub details_time: Duration,
    pub jobs: Vec<JobAnalysis>,
    pub requests: usize,
    /// Failed jobs past [`MAX_JOBS_ANALYSED`], not read.
    pub jobs_not_analysed: usize,
}

/// Failed jobs whose logs one analysis reads: each is a plugin call of up to the sandbox's
/// deadline, so a pipeline (or a plugin) with thousands of failed jobs cannot hold a worker
/// for hours; the message says how many more there were.
pub const MAX_JOBS_ANALYSED: usize = 20;

/// Wall-clock time one analysis may spend reading job logs before it stops taking up more:
/// with the per-connection cap on running deliveries (`Service::running_cap_per_connection`)
/// it bounds how long a slow plugin holds a worker. Jobs not started by then are counted in
/// the message's note.
pub const MAX_ANALYSIS_TIME: Duration = Duration::from_secs(120);

impl FailureAnalysis {
    /// The first job log that a later attempt may still read (see [`LogProblem::is_transient`]).
    pub fn transient_log_problem(&self) -> Option<&LogProblem> {
        // A job cut at the text cap is not retried: another attempt would read the same text
        // up to the same cap, and whatever the plugin said after the cut is its consequence.
        self.jobs
            .iter()
            .filter(|j| j.text_cut_at.is_none())
            .find_map(|j| j.source.as_ref().err().filter(|p| p.is_transient()))
    }

    /// Whether the request budget refused a log read (the longest wait for room): the
    /// problem reading it is the budget's, and another attempt now would spend it again.
    pub fn over_budget(&self) -> Option<Duration> {
        self.jobs.iter().filter_map(|j| j.over_budget).max()
    }
}

/// Why a job's log could not be read, or was read only in part.
#[derive(Debug, Clone)]
pub enum LogProblem {
    /// The provider's answer, as the plugin classified it.
    Provider(contract::ProviderError),
    /// The plugin trapped, ran out of time or memory, or was switched off.
    Fault(String),
}

impl LogProblem {
    /// A later attempt can succeed: the provider failed, timed out or asked to slow down, or
    /// the plugin faulted. "Not found" (an expired or deleted log) is final.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            LogProblem::Fault(_)
                | LogProblem::Provider(
                    contract::ProviderError::Transient(_) | contract::ProviderError::RateLimited(_)
                )
        )
    }

    /// How long the provider asked to wait, when it did.
    pub fn retry_after_ms(&self) -> u64 {
        match self {
            LogProblem::Provider(contract::ProviderError::RateLimited(rl)) => {
                rl.retry_after_secs.map_or(0, |s| u64::from(s) * 1000)
            }
            _ => 0,
        }
    }
}

/// For the operator (logs, a parked delivery's reason): what went wrong, on one bounded line.
impl std::fmt::Display for LogProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LogProblem::Provider(e) => write!(f, "{}", provider_error_words(e)),
            LogProblem::Fault(m) => write!(f, "the plugin failed: {}", bounded_line(m, 300)),
        }
    }
}

/// What a chat message needs to say why a log is missing in a person's words.
#[derive(Debug, Clone)]
pub struct LogWords {
    /// The provider as people call it (`GitFlic`).
    pub provider_name: String,
    /// How long the delivery has been retried, when the message comes after giving up.
    pub failing_for: Option<Duration>,
    /// The connection's request budget ran out during the analysis: a missing log is ours to
    /// explain, not the provider's failure.
    pub budget_spent: bool,
    /// The connection's web root: links the plugin gives must lie under it.
    pub web_base: Option<String>,
}

impl Default for LogWords {
    fn default() -> Self {
        LogWords {
            provider_name: "the provider".to_owned(),
            failing_for: None,
            budget_spent: false,
            web_base: None,
        }
    }
}

/// Why a job's log is missing from the message, as a sentence for the team.
pub fn log_unavailable_text(problem: &LogProblem, words: &LogWords) -> String {
    use contract::ProviderError as E;
    let p = &words.provider_name;
    let detail = |m: &str| provider_detail(m);
    if words.budget_spent
        && let LogProblem::Provider(E::Transient(m)) = problem
    {
        return format!("the log was not read: {}", detail(m));
    }
    match problem {
        LogProblem::Provider(E::NotFound(m)) => format!(
            "the job's log is no longer on {p}: it expired or was deleted ({})",
            detail(m)
        ),
        LogProblem::Provider(E::Transient(m)) => match words.failing_for.map(spell_duration) {
            Some(d) => format!(
                "{p} kept failing for {d} while the log was read ({})",
                detail(m)
            ),
            None => format!("{p} failed while the log was read ({})", detail(m)),
        },
        LogProblem::Provider(E::RateLimited(rl)) => match words.failing_for.map(spell_duration) {
            Some(d) => format!(
                "{p} kept asking us to slow down for {d} while the log was read ({})",
                detail(&rl.message)
            ),
            None => format!(
                "{p} asked us to slow down while the log was read ({})",
                detail(&rl.message)
            ),
        },
        LogProblem::Provider(E::CredentialsRejected(m)) => {
            format!(
                "{p} refused the connection's credentials while the log was read ({}); reconnect the connection",
                detail(m)
            )
        }
        LogProblem::Provider(E::InvalidInput(i)) => {
            format!(
                "the {p} plugin could not read the log's answer ({}: {})",
                i.field,
                detail(&i.message)
            )
        }
        LogProblem::Provider(E::Denied(m)) => format!(
            "the sandbox refused the plugin's request for the log ({})",
            detail(m)
        ),
        LogProblem::Fault(m) => format!(
            "the {p} plugin failed while reading the log ({})",
            bounded_line(m, 160)
        ),
    }
}

/// A plugin's error text as a chat message shows it: `GET https://… answered 500: <body>`
/// becomes `HTTP 500` (a server error's body is the provider's internals, often a stack
/// trace), other statuses keep a bounded line of the body; `GET https://…: timed out` loses
/// the request line.
pub fn provider_detail(m: &str) -> String {
    let m = m.trim();
    let after_request = ["GET ", "HEAD ", "POST ", "PUT ", "PATCH ", "DELETE "]
        .iter()
        .find_map(|verb| m.strip_prefix(verb))
        .and_then(|rest| rest.split_once(' ').map(|(_url, tail)| tail));
    if let Some(tail) = after_request
        && let Some(answer) = tail.strip_prefix("answered ")
    {
        let (status, body) = answer.split_once(':').unwrap_or((answer, ""));
        if status.starts_with('5') {
            return format!("HTTP {status}");
        }
        let body = bounded_line(body, 120);
        return if body.is_empty() {
            format!("HTTP {status}")
        } else {
            format!("HTTP {status}: {body}")
        };
    }
    // `GET https://…: timed out`: the request line ends at the first `: ` after the URL.
    let m = match m.split_once(' ') {
        Some((verb, rest))
            if verb.chars().all(|c| c.is_ascii_uppercase()) && rest.contains("://") =>
        {
            rest.split_once(": ").map_or(m, |(_, why)| why)
        }
        _ => m,
    };
    bounded_line(m, 160)
}

/// `40 minutes`, `1 hour 5 minutes`, `30 seconds`.
fn spell_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let plural = |n: u64, unit: &str| {
        if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    match secs {
        0..=59 => plural(secs.max(1), "second"),
        60..=3599 => plural(secs / 60, "minute"),
        _ if secs % 3600 < 60 => plural(secs / 3600, "hour"),
        _ => format!(
            "{} {}",
            plural(secs / 3600, "hour"),
            plural(secs % 3600 / 60, "minute")
        ),
    }
}

/// Why the path stopped before any report.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("{}", provider_error_words(.0))]
    Provider(contract::ProviderError),
    /// The connection's request budget refused a request the call needed (whatever the plugin
    /// made of the refusal): room again in `wait`, it is not the provider's doing. `spent`:
    /// the requests the call made before the refusal, which say whether waiting can help.
    #[error("the connection's request budget is spent; room again in {} s", .wait.as_secs().max(1))]
    OverBudget { wait: Duration, spent: usize },
    #[error(transparent)]
    Fault(#[from] PluginFault),
}

/// Failure details, then every failed job's log through the analyzer; with `green`, each
/// job against its last green run where the plugin finds one (green_run.rs).
pub fn analyze_failure(
    plugin: &LoadedPlugin,
    ctx: &dyn Fn(Option<Box<dyn LogSink>>) -> CallContext,
    conn: &contract::Connection,
    event: &contract::FailureEvent,
    green: Option<&GreenLookup<'_>>,
) -> Result<FailureAnalysis, PipelineError> {
    let out = plugin.failure_details(ctx(None), conn, event)?;
    let details_time = out.elapsed;
    let mut requests = out.transcript.len();
    let details = match (out.value, out.over_budget) {
        (Ok(details), _) => details,
        (Err(_), Some(wait)) => {
            return Err(PipelineError::OverBudget {
                wait,
                spent: requests,
            });
        }
        (Err(e), None) => return Err(PipelineError::Provider(e)),
    };
    let mut jobs = Vec::new();
    let started = std::time::Instant::now();
    for (index, job) in details
        .failed_jobs
        .iter()
        .take(MAX_JOBS_ANALYSED)
        .enumerate()
    {
        if started.elapsed() >= MAX_ANALYSIS_TIME {
            break;
        }
        let looked_up = std::time::Instant::now();
        let (fingerprint, comparison, green_cost) = match green {
            Some(g) => {
                let b = g.baseline(plugin, ctx, conn, &details.pipeline, job, index);
                requests += b.requests;
                let cost = GreenCost {
                    requests: b.requests,
                    elapsed: looked_up.elapsed(),
                };
                (b.fingerprint, b.mode, cost)
            }
            None => (None, None, GreenCost::default()),
        };
        let sink = Box::new(AnalysisSink::against(job, fingerprint));
        let analysis =
            match plugin.extract_job_log(ctx(Some(sink)), conn, &details.pipeline.project, job) {
                Ok(out) => {
                    requests += out.transcript.len();
                    let mut analysis_time = Duration::ZERO;
                    let report = out
                        .sink
                        .and_then(|s| s.into_any().downcast::<AnalysisSink>().ok())
                        .and_then(|mut s| {
                            let analysed = s.finish();
                            analysis_time = analysed.busy;
                            analysed.report.clone()
                        });
                    JobAnalysis {
                        job: job.clone(),
                        source: out.value.map_err(LogProblem::Provider),
                        report,
                        text_cut_at: out.log_text_cut.then(|| plugin.limits().log_text_bytes),
                        over_budget: out.over_budget,
                        elapsed: out.elapsed,
                        peak_memory_bytes: out.peak_memory_bytes,
                        comparison,
                        green_cost,
                        analysis_time,
                    }
                }
                Err(fault) => JobAnalysis {
                    job: job.clone(),
                    source: Err(LogProblem::Fault(fault.to_string())),
                    report: None,
                    text_cut_at: None,
                    over_budget: None,
                    elapsed: Duration::ZERO,
                    peak_memory_bytes: 0,
                    comparison,
                    green_cost,
                    analysis_time: Duration::ZERO,
                },
            };
        jobs.push(analysis);
    }
    let jobs_not_analysed = details.failed_jobs.len().saturating_sub(jobs.len());
    Ok(FailureAnalysis {
        details,
        details_time,
        jobs,
        requests,
        jobs_not_analysed,
    })
}

/// The optional model step over every job that has a report: on success the job's summary
/// becomes the model's (the rest of the report stays deterministic); on failure the report is
/// left as it was and the reason logged. Runs on the worker thread, after the plugin calls,
/// with the host's own client: the model URL is never part of any plugin's egress.
pub fn explain_with_model(
    analysis: &mut FailureAnalysis,
    model: &exlogare_analysis::model::ModelClient,
) {
    for job in &mut analysis.jobs {
        let Some(report) = job.report.as_mut() else {
            continue;
        };
        if !model.rewrite_summary(report) {
            tracing::warn!(job = %job.job.name, "model step failed, posting the deterministic report: {}", report.model_error.as_deref().unwrap_or("?"));
        }
    }
}

/// The message for one analysed failure. Jobs keep the provider's order.
pub fn failure_message(
    provider: &str,
    connection: &str,
    analysis: &FailureAnalysis,
    words: &LogWords,
) -> FailureMessage {
    let p = &analysis.details.pipeline;
    let jobs = analysis
        .jobs
        .iter()
        .map(|j| {
            let unavailable = match (&j.source, &j.report) {
                // The host's own words, whatever the plugin answered after the refused chunk
                // (its error is a consequence; an Ok would read as "empty").
                _ if j.text_cut_at.is_some() => Some(format!(
                    "the log was read only in part: its text passed this host's cap of {} per job (sandbox `log_text_bytes`), and what came after was not analysed",
                    exlogare_runtime::limits::size(j.text_cut_at.unwrap_or(0))
                )),
                (Err(e), None) => Some(log_unavailable_text(e, words)),
                (Err(e), Some(_)) => Some(format!(
                    "the log was read only in part: {}",
                    log_unavailable_text(e, words)
                )),
                (Ok(_), None) => Some("the log was empty".to_owned()),
                (Ok(_), Some(_)) => None,
            };
            // Said only when a report was made: a missing log says enough on its own.
            let compared = j.report.as_ref().and(j.comparison.as_ref()).map(|mode| {
                let outcome = j
                    .report
                    .as_ref()
                    .and_then(|r| r.comparison.as_ref())
                    .map(|c| c.outcome);
                mode.said(outcome)
            });
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
                web_url: j.job.web_url.clone().filter(|u| {
                    words
                        .web_base
                        .as_deref()
                        .is_none_or(|b| is_under_web_base(u, b))
                }),
                comparison: compared.as_ref().map(|c| c.line(Language::En)),
                compared,
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
    let mut notes = Vec::new();
    let deep_link = match &words.web_base {
        Some(base) if !is_under_web_base(&analysis.details.deep_link, base) => {
            notes.push(format!(
                "the {} plugin's link to this pipeline pointed outside {base}, so it is not shown",
                words.provider_name
            ));
            base.clone()
        }
        _ => analysis.details.deep_link.clone(),
    };
    if analysis.jobs_not_analysed > 0 {
        notes.push(format!(
            "{} more failed job{} not analysed (at most {MAX_JOBS_ANALYSED} per pipeline, read within {} s)",
            analysis.jobs_not_analysed,
            if analysis.jobs_not_analysed == 1 {
                " was"
            } else {
                "s were"
            },
            MAX_ANALYSIS_TIME.as_secs()
        ));
    }
    FailureMessage {
        provider: provider.to_owned(),
        connection: connection.to_owned(),
        project: format!("{}/{}", p.project.owner, p.project.name),
        pipeline: pipeline_label(&p.reference),
        status: match p.status {
            contract::RunStatus::Warning => "warning".to_owned(),
            _ => "failed".to_owned(),
        },
        git_ref: p.git_ref.clone(),
        commit_sha: p.commit_sha.clone(),
        deep_link,
        jobs,
        note: (!notes.is_empty()).then(|| notes.join("; ")),
    }
}

/// Whether `link` is a page of the instance at `web_base`: same scheme, host and port, no
/// user name or password (`https://gitflic.ru@evil.example/` is evil.example), and a path at
/// or under the base's. A plugin's links become buttons in chat: one elsewhere would be a
/// phishing link in the team's channel.
pub fn is_under_web_base(link: &str, web_base: &str) -> bool {
    let (Ok(link), Ok(base)) = (url::Url::parse(link), url::Url::parse(web_base)) else {
        return false;
    };
    let base_path = base.path().trim_end_matches('/');
    link.scheme() == base.scheme()
        && link.username().is_empty()
        && link.password().is_none()
        && link.host_str().map(str::to_ascii_lowercase)
            == base.host_str().map(str::to_ascii_lowercase)
        && link.port_or_known_default() == base.port_or_known_default()
        && (link.path() == base_path
            || link
                .path()
                .strip_prefix(base_path)
                .is_some_and(|rest| rest.starts_with('/')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use contract::ProviderError as E;

    #[test]
    fn links_must_be_pages_of_the_connections_instance() {
        let cloud = "https://gitflic.ru";
        assert!(is_under_web_base(
            "https://gitflic.ru/project/acme/api/ci-cd/pipeline/7",
            cloud
        ));
        assert!(is_under_web_base("https://GITFLIC.ru:443/project/x", cloud));
        for evil in [
            "https://evil.example/phish",
            "https://gitflic.ru@evil.example/phish",
            "https://user:pw@gitflic.ru/project/x",
            "https://gitflic.ru.evil.example/project/x",
            "http://gitflic.ru/project/x",
            "https://gitflic.ru:8443/project/x",
            "javascript:alert(1)",
            "not a url",
        ] {
            assert!(!is_under_web_base(evil, cloud), "{evil}");
        }
        let onprem = "https://git.example.com/gitflic/";
        assert!(is_under_web_base(
            "https://git.example.com/gitflic/project/x",
            onprem
        ));
        assert!(is_under_web_base("https://git.example.com/gitflic", onprem));
        assert!(!is_under_web_base(
            "https://git.example.com/gitflicker/project/x",
            onprem
        ));
        assert!(!is_under_web_base("https://git.example.com/other", onprem));
    }

    const NPE: &str = "GET https://api.gitflic.ru/project/acme/payments-api/cicd/job/5521/artifact/0d2d/download answered 500: java.lang.NullPointerException: Cannot invoke \"ru.gitflic.cicd.domain.PipelineJob.getStage()\" because \"job\" is null at ru.gitflic.cicd.rest.PipelineJobRestController.toModel(PipelineJobRestController.java:142) at java.base/java.util.stream.ReferencePipeline$3$1.accept(ReferencePipeline.java:197)";

    fn gitflic(failing_for: Option<u64>) -> LogWords {
        LogWords {
            provider_name: "GitFlic".into(),
            failing_for: failing_for.map(Duration::from_secs),
            budget_spent: false,
            web_base: None,
        }
    }

    #[test]
    fn log_problems_read_as_sentences_without_type_names_or_stack_traces() {
        let text = log_unavailable_text(
            &LogProblem::Provider(E::Transient(NPE.into())),
            &gitflic(Some(40 * 60 + 10)),
        );
        assert_eq!(
            text,
            "GitFlic kept failing for 40 minutes while the log was read (HTTP 500)"
        );
        let text = log_unavailable_text(
            &LogProblem::Provider(E::Transient(NPE.into())),
            &gitflic(None),
        );
        assert_eq!(text, "GitFlic failed while the log was read (HTTP 500)");
        let gone = E::NotFound("GET https://api.gitflic.ru/x/download answered 404: {\"message\":\"Artifact \\\"job.log\\\" expired\"}".into());
        let text = log_unavailable_text(&LogProblem::Provider(gone), &gitflic(None));
        assert!(
            text.starts_with(
                "the job's log is no longer on GitFlic: it expired or was deleted (HTTP 404: "
            ),
            "{text}"
        );
        let spent = E::Transient("GET https://api.gitflic.ru/x/download: the request budget of 3 calls per hour is spent (3 used); the next call fits in 5 ms".into());
        let words = LogWords {
            budget_spent: true,
            ..gitflic(None)
        };
        assert_eq!(
            log_unavailable_text(&LogProblem::Provider(spent), &words),
            "the log was not read: the request budget of 3 calls per hour is spent (3 used); the next call fits in 5 ms"
        );
        let timeout = E::Transient("GET https://api.gitflic.ru/x: timed out".into());
        assert_eq!(
            log_unavailable_text(
                &LogProblem::Provider(timeout),
                &gitflic(Some(3 * 3600 + 5 * 60))
            ),
            "GitFlic kept failing for 3 hours 5 minutes while the log was read (timed out)"
        );
        for problem in [
            LogProblem::Provider(E::Transient(NPE.into())),
            LogProblem::Provider(E::CredentialsRejected(
                "GET https://x/y answered 403: {}".into(),
            )),
            LogProblem::Provider(E::Denied(
                "GET https://x/y: refused by the sandbox: private address".into(),
            )),
            LogProblem::Fault("plugin trapped: wasm `unreachable` instruction executed".into()),
        ] {
            let text = log_unavailable_text(&problem, &gitflic(Some(90)));
            for banned in [
                "ProviderError",
                "Transient(",
                "NotFound(",
                "\\\"",
                "\n",
                " at ru.gitflic",
                "java.base",
            ] {
                assert!(!text.contains(banned), "{banned:?} in {text:?}");
            }
        }
    }

    #[test]
    fn operator_words_are_one_bounded_line_and_cut_before_a_stack_trace() {
        let words = LogProblem::Provider(E::Transient(NPE.into())).to_string();
        assert!(
            words.starts_with("temporary failure: GET https://api.gitflic.ru/"),
            "{words}"
        );
        assert!(words.ends_with("because \"job\" is null"), "{words}");
        let long = "ошибка ".repeat(200);
        let line = bounded_line(&long, 50);
        assert_eq!(line.chars().count(), 51, "{line}");
        assert!(line.ends_with('…'));
        assert_eq!(
            PipelineError::Provider(E::NotFound("no pipeline #9".into())).to_string(),
            "not found: no pipeline #9"
        );
    }

    #[test]
    fn only_failures_a_retry_can_mend_are_transient() {
        assert!(LogProblem::Provider(E::Transient("x".into())).is_transient());
        assert!(LogProblem::Fault("x".into()).is_transient());
        let rl = LogProblem::Provider(E::RateLimited(contract::RateLimit {
            retry_after_secs: Some(30),
            message: "slow".into(),
        }));
        assert!(rl.is_transient());
        assert_eq!(rl.retry_after_ms(), 30_000);
        for final_ in [
            E::NotFound("x".into()),
            E::Denied("x".into()),
            E::CredentialsRejected("x".into()),
        ] {
            assert!(!LogProblem::Provider(final_).is_transient());
        }
    }
}
