//! `exlogare-host record`: one real failed pipeline of a connection, recorded as a fixture
//! scenario (fixtures/README.md) that replays through the conformance runner.
//!
//! GitFlic's API is documented thinly (../shared/reference/gitflic-api.md labels much of it by
//! confidence), so fixtures should be recorded shapes, not guesses: this runs the same plugin
//! calls an analysis makes — list-pipelines (when no pipeline is named), failure-details,
//! extract-job-logs — through the connection's sandbox with the record backend in front of
//! the live one, which redacts credentials (http/record.rs). The scenario it writes holds
//! placeholder secrets, never the connection's; the golden is made by the runner with
//! `--bless` after a person has reviewed the bodies.

use crate::accounts::watch::project_ref;
use crate::service::Service;
use exlogare_conformance::CollectingSink;
use exlogare_runtime::contract;
use exlogare_runtime::http::record::{RecordBackend, RecordSummary, quote};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How many of the newest pipelines are searched for a failed one when none is named.
const SEARCH_NEWEST: u32 = 20;

/// What [`Service::record_failure`] wrote.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub dir: PathBuf,
    pub pipeline: u64,
    pub failed_jobs: Vec<String>,
    pub log_bytes: u64,
    pub summary: RecordSummary,
}

fn provider_failure(what: &str, e: &contract::ProviderError) -> anyhow::Error {
    anyhow::anyhow!("{what}: {}", crate::provider_words::describe(e))
}

impl Service {
    /// Records the failure of `pipeline` (default: the newest failed one among the last 20)
    /// of `project` on `connection` into `out`, which must not exist or be empty.
    pub fn record_failure(
        &self,
        connection: &str,
        project: &str,
        pipeline: Option<u64>,
        out: &Path,
    ) -> anyhow::Result<Recorded> {
        let c = self
            .connection(connection)
            .ok_or_else(|| anyhow::anyhow!("no connection `{connection}`"))?;
        let plugin = self.plugins.get(&c.config.provider).ok_or_else(|| {
            anyhow::anyhow!("provider plugin `{}` is not loaded", c.config.provider)
        })?;
        if out.exists() && std::fs::read_dir(out)?.next().is_some() {
            anyhow::bail!(
                "{} is not empty; record into a new folder (a scenario is one folder)",
                out.display()
            );
        }
        let project_ref = project_ref(project)?;
        let token = if Self::is_token_managed(&c) {
            Some(self.connection_token(&c)?)
        } else {
            None
        };
        let recorder = Arc::new(RecordBackend::new(c.backend.clone(), out)?);
        let ctx = |sink: Option<Box<dyn exlogare_runtime::log_sink::LogSink>>| {
            let mut ctx = self.ctx_with_token(&c, sink, token.as_ref());
            ctx.backend = recorder.clone();
            ctx
        };
        let mut steps = String::new();
        let number = match pipeline {
            Some(n) => n,
            None => {
                let listed = plugin
                    .list_pipelines(ctx(None), &c.conn, &project_ref, None, SEARCH_NEWEST)?
                    .value
                    .map_err(|e| provider_failure("listing pipelines", &e))?;
                steps.push_str(&format!(
                    "\n[[step]]\nop = \"list-pipelines\"\nproject = {{ owner = {}, name = {} }}\nlimit = {SEARCH_NEWEST}\n",
                    quote(&project_ref.owner),
                    quote(&project_ref.name)
                ));
                listed
                    .iter()
                    .find(|p| p.status == contract::RunStatus::Failed)
                    .and_then(|p| p.reference.number)
                    .ok_or_else(|| anyhow::anyhow!("no failed pipeline among the newest {SEARCH_NEWEST} of {project}; name one with --pipeline"))?
            }
        };
        let event = contract::FailureEvent {
            project: project_ref.clone(),
            pipeline: contract::PipelineRef {
                id: None,
                number: Some(number),
            },
            event: "PIPELINE_FAIL".into(),
            git_ref: None,
            commit_sha: None,
        };
        let details = plugin
            .failure_details(ctx(None), &c.conn, &event)?
            .value
            .map_err(|e| provider_failure("failure details", &e))?;
        steps.push_str(&format!(
            "\n[[step]]\nop = \"failure-details\"\nevent = {{ owner = {}, name = {}, pipeline_number = {number} }}\n",
            quote(&project_ref.owner),
            quote(&project_ref.name)
        ));
        let mut log_bytes = 0;
        for job in &details.failed_jobs {
            let out = plugin.extract_job_log(
                ctx(Some(Box::new(CollectingSink::new(0)))),
                &c.conn,
                &project_ref,
                job,
            )?;
            // An expired log is a case worth keeping too: the recording shows what GitFlic answered.
            if let Ok(source) = out.value {
                log_bytes += source.bytes;
            }
        }
        if !details.failed_jobs.is_empty() {
            steps.push_str("\n[[step]]\nop = \"extract-job-logs\"\n");
        }
        let summary = recorder.finish()?;
        std::fs::write(
            out.join("scenario.toml"),
            scenario_text(&c.conn, c.config.allow_private, project, number, &steps),
        )?;
        Ok(Recorded {
            dir: out.to_path_buf(),
            pipeline: number,
            failed_jobs: details.failed_jobs.iter().map(|j| j.name.clone()).collect(),
            log_bytes,
            summary,
        })
    }
}

/// The scenario around the recorded exchanges. The secrets are placeholders: the record
/// backend wrote the credential kind, not its value, so any value replays.
fn scenario_text(
    conn: &contract::Connection,
    allow_private: bool,
    project: &str,
    pipeline: u64,
    steps: &str,
) -> String {
    let now = now_rfc3339();
    let options: Vec<String> = conn
        .options
        .iter()
        .map(|(k, v)| format!("{} = {}", quote(k), quote(v)))
        .collect();
    format!(
        "description = {}\nnow = {}\n\n[connection]\nweb_base = {}\napi_base = {}\noauth_base = {}\noptions = {{ {} }}\nallow_private = {allow_private}\n\n[secrets]\naccess_token = \"recorded-placeholder-token\"\nclient_id = \"recorded-placeholder-client\"\nclient_secret = \"recorded-placeholder-secret\"\n{steps}",
        quote(&format!(
            "Recorded: {project} pipeline #{pipeline} (review the bodies before committing; then bless the golden)"
        )),
        quote(&now),
        quote(&conn.web_base),
        quote(&conn.api_base),
        quote(&conn.oauth_base),
        options.join(", "),
    )
}

/// Now as RFC 3339 UTC, to the second (the scenario's fixed clock).
fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
