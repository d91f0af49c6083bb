//! From a failure event to root-cause reports: the provider-agnostic path every plugin feeds.
//!
//! The plugin finds the failed jobs and streams their logs; the host's analyzer reads the
//! stream as it arrives, so a job log never sits whole in host memory either.

use crate::plugin::{CallContext, LoadedPlugin, PluginFault};
use crate::store::LogSink;
use crate::wit::v0_1::{provider, sink_types, types};
use exlogare_analysis::{Analyzer, JobMeta, Report};
use std::time::Duration;

/// Feeds extracted chunks straight into the analyzer.
pub struct AnalysisSink {
    analyzer: Option<Analyzer>,
    lines: u64,
    report: Option<Report>,
}

impl AnalysisSink {
    pub fn new(job: &types::Job) -> Self {
        let meta = JobMeta { job_name: Some(job.name.clone()), stage: job.stage.clone() };
        Self { analyzer: Some(Analyzer::new(meta)), lines: 0, report: None }
    }

    fn finish(&mut self) -> Option<Report> {
        if let Some(analyzer) = self.analyzer.take() {
            self.report = Some(analyzer.finish());
        }
        self.report.clone()
    }
}

impl LogSink for AnalysisSink {
    fn emit(&mut self, chunk: sink_types::LogChunk) -> Result<(), String> {
        let analyzer = self.analyzer.as_mut().ok_or("the analysis already finished")?;
        // Lines and step edges arrive as separate lists; merge them by source line so a step
        // starts before the lines it holds.
        let mut steps = chunk.steps.into_iter().peekable();
        for line in chunk.lines {
            while let Some(step) = steps.next_if(|s| s.source_line <= line.source_line) {
                analyzer.step(edge(step.edge), &step.name, step.source_line);
            }
            analyzer.push_line(line.source_line, &line.text);
            self.lines += 1;
        }
        for step in steps {
            analyzer.step(edge(step.edge), &step.name, step.source_line);
        }
        Ok(())
    }

    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any> {
        self
    }
}

fn edge(e: sink_types::StepEdge) -> exlogare_logtext::Edge {
    match e {
        sink_types::StepEdge::Start => exlogare_logtext::Edge::Start,
        sink_types::StepEdge::End => exlogare_logtext::Edge::End,
    }
}

/// What happened to one failed job.
pub struct JobAnalysis {
    pub job: types::Job,
    /// The log the plugin read, or why it could not.
    pub source: Result<provider::LogSource, String>,
    pub report: Option<Report>,
    pub elapsed: Duration,
    pub peak_memory_bytes: u64,
}

pub struct FailureAnalysis {
    pub details: provider::FailureDetails,
    pub jobs: Vec<JobAnalysis>,
    pub requests: usize,
}

/// Why the path stopped before any report.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("the provider refused: {0:?}")]
    Provider(types::ProviderError),
    #[error(transparent)]
    Fault(#[from] PluginFault),
}

/// Failure details, then every failed job's log through the analyzer.
pub fn analyze_failure(
    plugin: &LoadedPlugin,
    ctx: &dyn Fn(Option<Box<dyn LogSink>>) -> CallContext,
    conn: &types::Connection,
    event: &provider::FailureEvent,
) -> Result<FailureAnalysis, PipelineError> {
    let out = plugin.failure_details(ctx(None), conn, event)?;
    let mut requests = out.transcript.len();
    let details = out.value.map_err(PipelineError::Provider)?;
    let mut jobs = Vec::new();
    for job in &details.failed_jobs {
        let sink = Box::new(AnalysisSink::new(job));
        let analysis = match plugin.extract_job_log(ctx(Some(sink)), conn, &details.pipeline.project, job) {
            Ok(out) => {
                requests += out.transcript.len();
                let report = out
                    .sink
                    .and_then(|s| s.into_any().downcast::<AnalysisSink>().ok())
                    .and_then(|mut s| if s.lines > 0 { s.finish() } else { None });
                JobAnalysis {
                    job: job.clone(),
                    source: out.value.map_err(|e| format!("{e:?}")),
                    report,
                    elapsed: out.elapsed,
                    peak_memory_bytes: out.peak_memory_bytes,
                }
            }
            Err(fault) => JobAnalysis {
                job: job.clone(),
                source: Err(fault.to_string()),
                report: None,
                elapsed: Duration::ZERO,
                peak_memory_bytes: 0,
            },
        };
        jobs.push(analysis);
    }
    Ok(FailureAnalysis { details, jobs, requests })
}

/// The optional model step over every job that has a report: on success the job's summary
/// becomes the model's (the rest of the report stays deterministic); on failure the report is
/// left as it was and the reason logged. Runs on the worker thread, after the plugin calls,
/// with the host's own client: the model URL is never part of any plugin's egress.
pub fn explain_with_model(analysis: &mut FailureAnalysis, model: &exlogare_analysis::model::ModelClient) {
    for job in &mut analysis.jobs {
        let Some(report) = job.report.as_mut() else { continue };
        if !model.rewrite_summary(report) {
            tracing::warn!(job = %job.job.name, "model step failed, posting the deterministic report: {}", report.model_error.as_deref().unwrap_or("?"));
        }
    }
}
