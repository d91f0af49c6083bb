//! Replays fixture scenarios through a plugin in the sandbox and compares with the goldens.
//!
//! The format is `fixtures/README.md`. The runner is provider-neutral: it knows the contract,
//! not GitFlic, so a third-party author points it at their own plugin and fixtures. Every
//! request goes through the real gate (policy, credentials, budget) before the replay backend.

use base64::Engine as _;
use exlogare_runtime::call_state::Clock;
pub use exlogare_runtime::connection::ConnectionSpec;
use exlogare_runtime::contract;
use exlogare_runtime::egress::EgressPolicy;
use exlogare_runtime::http::Secret;
use exlogare_runtime::http::gate::{Credentials, ExchangeRecord};
use exlogare_runtime::http::replay::ReplayBackend;
use exlogare_runtime::limits::SandboxLimits;
use exlogare_runtime::log_sink::{self, LogSink};
use exlogare_runtime::plugin::{CallContext, CallOutput, LoadedPlugin, PluginFault};
use exlogare_runtime::secret_stand_in;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub description: String,
    pub now: Option<String>,
    pub connection: ConnectionSpec,
    #[serde(default)]
    pub secrets: SecretsSpec,
    pub limits: Option<SandboxLimits>,
    #[serde(default, rename = "step")]
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SecretsSpec {
    pub webhook_secret: Option<String>,
    pub access_token: Option<String>,
    /// The scheme the plugin asks the host to put before the access token
    /// (`access-token("<scheme>")`): `token` (the default, GitFlic's), `Bearer` (GitLab's).
    pub access_token_scheme: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub redirect_url: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
}

impl SecretsSpec {
    pub fn credentials(&self) -> Credentials {
        Credentials {
            access_token: self.access_token.clone().map(Secret::new),
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone().map(Secret::new),
        }
    }

    fn oauth_client(&self) -> contract::OauthClient {
        contract::OauthClient {
            client_id: self.client_id.clone().unwrap_or_default(),
            redirect_url: self.redirect_url.clone().unwrap_or_default(),
            scopes: self.scopes.clone(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectSpec {
    pub owner: String,
    pub name: String,
    pub id: Option<String>,
}

impl ProjectSpec {
    fn reference(&self) -> contract::ProjectRef {
        contract::ProjectRef {
            owner: self.owner.clone(),
            name: self.name.clone(),
            id: self.id.clone(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSpec {
    pub owner: String,
    pub name: String,
    pub pipeline_number: Option<u64>,
    pub pipeline_id: Option<String>,
    #[serde(default = "default_event")]
    pub event: String,
}

fn default_event() -> String {
    "PIPELINE_FAIL".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Step {
    Describe,
    VerifyWebhook {
        query: Option<String>,
        #[serde(default)]
        headers: BTreeMap<String, String>,
        body: Option<String>,
        body_file: Option<String>,
        expected_secret: Option<String>,
    },
    FailureDetails {
        event: Option<EventSpec>,
    },
    ExtractJobLogs {
        jobs: Option<Vec<String>>,
    },
    AuthorizeUrl {
        state: String,
    },
    ExchangeCode {
        code: String,
    },
    RefreshToken {
        refresh_token: String,
    },
    CurrentUser,
    ListProjects {
        search: Option<String>,
        max_pages: Option<u32>,
    },
    ListWebhooks {
        project: ProjectSpec,
    },
    RegisterWebhook {
        project: ProjectSpec,
        url: String,
        #[serde(default)]
        events: Vec<String>,
    },
    RemoveWebhook {
        project: ProjectSpec,
        webhook_id: String,
    },
    ListPipelines {
        project: ProjectSpec,
        above: Option<u64>,
        limit: Option<u32>,
    },
    /// The optional `green-runs.last-green-job` (contract 0.1.2); a plugin without the export
    /// answers `{"not_exported": "green-runs"}`.
    LastGreenJob {
        project: ProjectSpec,
        job_name: String,
        git_ref: Option<String>,
        before: Option<u64>,
        known: Option<u64>,
    },
}

impl Step {
    fn op(&self) -> &'static str {
        match self {
            Step::Describe => "describe",
            Step::VerifyWebhook { .. } => "verify-webhook",
            Step::FailureDetails { .. } => "failure-details",
            Step::ExtractJobLogs { .. } => "extract-job-logs",
            Step::AuthorizeUrl { .. } => "authorize-url",
            Step::ExchangeCode { .. } => "exchange-code",
            Step::RefreshToken { .. } => "refresh-token",
            Step::CurrentUser => "current-user",
            Step::ListProjects { .. } => "list-projects",
            Step::ListWebhooks { .. } => "list-webhooks",
            Step::RegisterWebhook { .. } => "register-webhook",
            Step::RemoveWebhook { .. } => "remove-webhook",
            Step::ListPipelines { .. } => "list-pipelines",
            Step::LastGreenJob { .. } => "last-green-job",
        }
    }
}

pub fn load_scenario(dir: &Path) -> anyhow::Result<Scenario> {
    let path = dir.join("scenario.toml");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Keeps what a golden needs of an extracted log, in memory bounded by the edges kept.
pub struct CollectingSink {
    pub lines: u64,
    pub text_bytes: u64,
    pub chunks: u64,
    pub head: Vec<(u64, String)>,
    pub tail: VecDeque<(u64, String)>,
    pub steps: Vec<Value>,
    pub step_count: u64,
    pub last_source_line: u64,
    pub order_violations: u64,
    digest: Sha256,
    edge: usize,
}

impl CollectingSink {
    pub fn new(edge: usize) -> Self {
        Self {
            lines: 0,
            text_bytes: 0,
            chunks: 0,
            head: vec![],
            tail: VecDeque::new(),
            steps: vec![],
            step_count: 0,
            last_source_line: 0,
            order_violations: 0,
            digest: Sha256::new(),
            edge,
        }
    }

    pub fn summary(&self) -> Value {
        json!({
            "lines": self.lines,
            "text_bytes": self.text_bytes,
            "last_source_line": self.last_source_line,
            "sha256": hex::encode(self.digest.clone().finalize()),
            "step_boundaries": self.step_count,
            "first_steps": self.steps,
            "head": self.head.iter().map(|(n, t)| json!([n, t])).collect::<Vec<_>>(),
            "tail": self.tail.iter().map(|(n, t)| json!([n, t])).collect::<Vec<_>>(),
        })
    }
}

impl LogSink for CollectingSink {
    fn emit(&mut self, chunk: log_sink::LogChunk) -> Result<(), String> {
        self.chunks += 1;
        for line in chunk.lines {
            if line.source_line <= self.last_source_line {
                self.order_violations += 1;
            }
            self.last_source_line = line.source_line;
            self.lines += 1;
            self.text_bytes += line.text.len() as u64;
            self.digest.update(line.source_line.to_le_bytes());
            self.digest.update(line.text.as_bytes());
            self.digest.update(b"\n");
            if self.head.len() < self.edge {
                self.head.push((line.source_line, line.text));
            } else {
                if self.tail.len() == self.edge {
                    self.tail.pop_front();
                }
                self.tail.push_back((line.source_line, line.text));
            }
        }
        for step in chunk.steps {
            self.step_count += 1;
            if self.steps.len() < 8 {
                self.steps
                    .push(serde_json::to_value(&step).unwrap_or(Value::Null));
            }
        }
        Ok(())
    }

    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any> {
        self
    }
}

/// The outcome of one scenario.
pub struct ScenarioRun {
    pub name: String,
    pub actual: Value,
    /// Broken expectations that no golden can bless (a wrong credential, out-of-order lines).
    pub violations: Vec<String>,
    /// The largest guest memory any call of the scenario reached (not in the golden: it
    /// depends on the plugin's build, not on its behaviour).
    pub peak_memory_bytes: u64,
    /// Fuel every successful call of the scenario burned, summed; `None` unless the plugin runs
    /// on a fuel engine. Not in the golden either: the CI instruction budget
    /// (tests/tests/fuel.rs) compares it with fixtures/gitflic/fuel-baseline.json.
    pub fuel_consumed: Option<u64>,
    /// The same per step, in order: the step's op and its calls' fuel (empty without fuel).
    pub step_fuel: Vec<(&'static str, u64)>,
}

fn result_json<T: serde::Serialize, E: serde::Serialize>(r: &Result<T, E>) -> Value {
    match r {
        Ok(v) => json!({ "ok": v }),
        Err(e) => json!({ "err": e }),
    }
}

fn fault_json(f: &PluginFault) -> Value {
    json!({ "fault": f, "message": f.to_string() })
}

/// A scenario made ready to run: its connection, policy, credentials, clock and a replay
/// backend loaded with its exchanges.
pub struct ScenarioEnv {
    pub name: String,
    pub dir: PathBuf,
    pub scenario: Scenario,
    pub conn: contract::Connection,
    pub policy: EgressPolicy,
    pub backend: Arc<ReplayBackend>,
    pub clock: Clock,
}

impl ScenarioEnv {
    pub fn prepare(dir: &Path) -> anyhow::Result<Self> {
        let scenario = load_scenario(dir)?;
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let clock = match &scenario.now {
            Some(text) => Clock::Fixed(
                chrono::DateTime::parse_from_rfc3339(text)
                    .map_err(|e| anyhow::anyhow!("{name}: `now` is not RFC 3339: {e}"))?
                    .timestamp_millis(),
            ),
            None => Clock::Fixed(0),
        };
        let secrets = &scenario.secrets;
        let scheme = secrets.access_token_scheme.as_deref().unwrap_or("token");
        let expected_access = secrets
            .access_token
            .as_ref()
            .map(|t| format!("{scheme} {t}"));
        let expected_basic = match (&secrets.client_id, &secrets.client_secret) {
            (Some(id), Some(s)) => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{id}:{s}"))
            )),
            _ => None,
        };
        let backend = Arc::new(ReplayBackend::load(dir, expected_access, expected_basic)?);
        let policy = scenario.connection.policy()?;
        let conn = scenario.connection.connection();
        Ok(Self {
            name,
            dir: dir.to_path_buf(),
            scenario,
            conn,
            policy,
            backend,
            clock,
        })
    }

    pub fn ctx(&self, sink: Option<Box<dyn LogSink>>) -> CallContext {
        CallContext {
            policy: self.policy.clone(),
            backend: self.backend.clone(),
            credentials: self.scenario.secrets.credentials(),
            clock: self.clock,
            sink,
            redact: self
                .scenario
                .secrets
                .webhook_secret
                .iter()
                .map(Secret::new)
                .collect(),
        }
    }

    /// The plugin under this scenario's limits, if it sets any.
    pub fn plugin_for(&self, plugin: &LoadedPlugin) -> anyhow::Result<Option<LoadedPlugin>> {
        match &self.scenario.limits {
            Some(limits) => {
                limits.validate().map_err(anyhow::Error::msg)?;
                Ok(Some(plugin.with_limits(limits.clone())))
            }
            None => Ok(None),
        }
    }

    /// A step's webhook delivery.
    pub fn delivery(
        &self,
        query: &Option<String>,
        headers: &BTreeMap<String, String>,
        body: &Option<String>,
        body_file: &Option<String>,
    ) -> anyhow::Result<contract::WebhookDelivery> {
        let body = match (body, body_file) {
            (Some(b), _) => b.clone().into_bytes(),
            (None, Some(f)) => std::fs::read(self.dir.join(f))
                .map_err(|e| anyhow::anyhow!("{}: body_file {f}: {e}", self.name))?,
            (None, None) => Vec::new(),
        };
        Ok(contract::WebhookDelivery {
            query: url::form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes())
                .into_owned()
                .collect(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .collect(),
            body,
        })
    }
}

/// Runs one scenario directory against `plugin`.
pub fn run_scenario(plugin: &LoadedPlugin, dir: &Path) -> anyhow::Result<ScenarioRun> {
    let env = ScenarioEnv::prepare(dir)?;
    let limited = env.plugin_for(plugin)?;
    let plugin = limited.as_ref().unwrap_or(plugin);
    let (name, scenario, conn, backend) = (&env.name, &env.scenario, &env.conn, &env.backend);
    let secrets = &scenario.secrets;
    let ctx = |sink: Option<Box<dyn LogSink>>| env.ctx(sink);

    let mut violations = Vec::new();
    let mut peak_memory_bytes = 0u64;
    let mut fuel_consumed: Option<u64> = None;
    let mut step_fuel = Vec::new();
    let mut steps_out = Vec::new();
    let mut last_event: Option<contract::FailureEvent> = None;
    let mut last_jobs: Vec<contract::Job> = Vec::new();
    let mut last_project: Option<contract::ProjectRef> = None;

    for step in &scenario.steps {
        let mut http = Vec::new();
        let mut fuel: Option<u64> = None;
        let mut record = |t: &[ExchangeRecord], used: Option<u64>| {
            http.extend(
                t.iter()
                    .map(|r| serde_json::to_value(r).unwrap_or(Value::Null)),
            );
            if let Some(used) = used {
                *fuel.get_or_insert(0) += used;
            }
        };
        let result: Value = match step {
            // `describe()` itself, with the output kept for its fuel.
            Step::Describe => match plugin.describe_in(CallContext::offline()) {
                Ok(out) => {
                    record(&out.transcript, out.fuel_consumed);
                    json!({ "ok": out.value })
                }
                Err(f) => fault_json(&f),
            },
            Step::VerifyWebhook {
                query,
                headers,
                body,
                body_file,
                expected_secret,
            } => {
                let delivery = env.delivery(query, headers, body, body_file)?;
                let secret = expected_secret
                    .clone()
                    .or_else(|| secrets.webhook_secret.clone())
                    .unwrap_or_default();
                // As the service does: the plugin compares a stand-in, never the secret.
                let stand_in = secret_stand_in::fixed_stand_in(&secret);
                let delivery = secret_stand_in::masked_delivery(&delivery, &secret, &stand_in);
                match plugin.verify_webhook(ctx(None), conn, &delivery, &stand_in) {
                    Ok(out) => {
                        record(&out.transcript, out.fuel_consumed);
                        if let Ok(contract::WebhookOutcome::PipelineFailed(ev)) = &out.value {
                            last_event = Some(ev.clone());
                        }
                        result_json(&out.value)
                    }
                    Err(f) => fault_json(&f),
                }
            }
            Step::FailureDetails { event } => {
                let event = match event {
                    Some(e) => Some(contract::FailureEvent {
                        project: contract::ProjectRef {
                            owner: e.owner.clone(),
                            name: e.name.clone(),
                            id: None,
                        },
                        pipeline: contract::PipelineRef {
                            id: e.pipeline_id.clone(),
                            number: e.pipeline_number,
                        },
                        event: e.event.clone(),
                        git_ref: None,
                        commit_sha: None,
                    }),
                    None => last_event.clone(),
                };
                match event {
                    None => json!({ "skipped": "no failure event from an earlier step" }),
                    Some(event) => match plugin.failure_details(ctx(None), conn, &event) {
                        Ok(out) => {
                            record(&out.transcript, out.fuel_consumed);
                            if let Ok(d) = &out.value {
                                last_jobs = d.failed_jobs.clone();
                                last_project = Some(d.pipeline.project.clone());
                            }
                            result_json(&out.value)
                        }
                        Err(f) => fault_json(&f),
                    },
                }
            }
            Step::ExtractJobLogs { jobs } => {
                let selected: Vec<contract::Job> = match jobs {
                    Some(ids) => ids.iter().map(|id| placeholder_job(id)).collect(),
                    None => last_jobs.clone(),
                };
                let project = last_project
                    .clone()
                    .or_else(|| last_event.as_ref().map(|e| e.project.clone()));
                match project {
                    None => json!({ "skipped": "no project from an earlier step" }),
                    Some(project) => {
                        let mut per_job = Vec::new();
                        for job in &selected {
                            let sink: Box<dyn LogSink> = Box::new(CollectingSink::new(30));
                            let entry = match plugin.extract_job_log(
                                ctx(Some(sink)),
                                conn,
                                &project,
                                job,
                            ) {
                                Ok(out) => {
                                    record(&out.transcript, out.fuel_consumed);
                                    peak_memory_bytes =
                                        peak_memory_bytes.max(out.peak_memory_bytes);
                                    let summary = out
                                        .sink
                                        .and_then(|s| {
                                            s.into_any().downcast::<CollectingSink>().ok()
                                        })
                                        .map(|s| {
                                            if s.order_violations > 0 {
                                                violations.push(format!(
                                                    "job {}: {} lines arrived out of source order",
                                                    job.id, s.order_violations
                                                ));
                                            }
                                            s.summary()
                                        });
                                    json!({ "job": job.id, "result": result_json(&out.value), "log": summary })
                                }
                                Err(f) => json!({ "job": job.id, "result": fault_json(&f) }),
                            };
                            per_job.push(entry);
                        }
                        json!({ "jobs": per_job })
                    }
                }
            }
            Step::AuthorizeUrl { state } => call_json(
                plugin.authorize_url(ctx(None), conn, &secrets.oauth_client(), state),
                &mut record,
            ),
            Step::ExchangeCode { code } => call_json(
                plugin.exchange_code(ctx(None), conn, &secrets.oauth_client(), code),
                &mut record,
            ),
            Step::RefreshToken { refresh_token } => call_json(
                plugin.refresh_token(ctx(None), conn, &secrets.oauth_client(), refresh_token),
                &mut record,
            ),
            Step::CurrentUser => call_json(plugin.current_user(ctx(None), conn), &mut record),
            Step::ListProjects { search, max_pages } => {
                let mut pages = Vec::new();
                let mut cursor: Option<String> = None;
                for _ in 0..max_pages.unwrap_or(10) {
                    match plugin.list_projects(
                        ctx(None),
                        conn,
                        search.as_deref(),
                        cursor.as_deref(),
                    ) {
                        Ok(out) => {
                            record(&out.transcript, out.fuel_consumed);
                            let next = out.value.as_ref().ok().and_then(|p| p.next_cursor.clone());
                            pages.push(result_json(&out.value));
                            match next {
                                Some(c) => cursor = Some(c),
                                None => break,
                            }
                        }
                        Err(f) => {
                            pages.push(fault_json(&f));
                            break;
                        }
                    }
                }
                json!({ "pages": pages })
            }
            Step::ListWebhooks { project } => call_json(
                plugin.list_webhooks(ctx(None), conn, &project.reference()),
                &mut record,
            ),
            Step::RegisterWebhook {
                project,
                url,
                events,
            } => {
                let spec = contract::WebhookSpec {
                    url: url.clone(),
                    secret: secrets.webhook_secret.clone().unwrap_or_default(),
                    events: events.clone(),
                };
                call_json(
                    plugin.register_webhook(ctx(None), conn, &project.reference(), &spec),
                    &mut record,
                )
            }
            Step::RemoveWebhook {
                project,
                webhook_id,
            } => call_json(
                plugin.remove_webhook(ctx(None), conn, &project.reference(), webhook_id),
                &mut record,
            ),
            Step::ListPipelines {
                project,
                above,
                limit,
            } => call_json(
                plugin.list_pipelines(
                    ctx(None),
                    conn,
                    &project.reference(),
                    *above,
                    limit.unwrap_or(20),
                ),
                &mut record,
            ),
            Step::LastGreenJob {
                project,
                job_name,
                git_ref,
                before,
                known,
            } => match plugin.last_green_job(
                ctx(None),
                conn,
                &project.reference(),
                job_name,
                git_ref.as_deref(),
                *before,
                *known,
            ) {
                Ok(None) => json!({ "not_exported": "green-runs" }),
                Ok(Some(out)) => call_json(Ok(out), &mut record),
                Err(f) => call_json::<contract::GreenRun>(Err(f), &mut record),
            },
        };
        steps_out.push(json!({ "op": step.op(), "result": result, "http": http }));
        if let Some(used) = fuel {
            *fuel_consumed.get_or_insert(0) += used;
            step_fuel.push((step.op(), used));
        }
    }
    violations.extend(backend.violations());
    Ok(ScenarioRun {
        name: name.clone(),
        actual: json!({ "description": scenario.description, "steps": steps_out }),
        violations,
        peak_memory_bytes,
        fuel_consumed,
        step_fuel,
    })
}

fn call_json<T: serde::Serialize>(
    r: Result<CallOutput<Result<T, contract::ProviderError>>, PluginFault>,
    record: &mut impl FnMut(&[ExchangeRecord], Option<u64>),
) -> Value {
    match r {
        Ok(out) => {
            record(&out.transcript, out.fuel_consumed);
            result_json(&out.value)
        }
        Err(f) => fault_json(&f),
    }
}

fn placeholder_job(id: &str) -> contract::Job {
    contract::Job {
        id: id.to_string(),
        name: format!("job {id}"),
        stage: None,
        status: contract::RunStatus::Failed,
        allow_failure: false,
        started_at: None,
        finished_at: None,
        web_url: None,
    }
}

/// One scenario's verdict.
pub struct Verdict {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

/// Runs every scenario below `fixtures` (or the named ones) and compares with the goldens;
/// with `bless`, writes the goldens instead.
pub fn run_suite(
    plugin: &LoadedPlugin,
    fixtures: &Path,
    only: &[String],
    bless: bool,
) -> anyhow::Result<Vec<Verdict>> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(fixtures)
        .map_err(|e| anyhow::anyhow!("cannot list {}: {e}", fixtures.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("scenario.toml").is_file())
        .collect();
    dirs.sort();
    if dirs.is_empty() {
        anyhow::bail!(
            "no scenarios (folders with scenario.toml) under {}",
            fixtures.display()
        );
    }
    let mut verdicts = Vec::new();
    for dir in dirs {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        if !only.is_empty() && !only.contains(&name) {
            continue;
        }
        let run = match run_scenario(plugin, &dir) {
            Ok(run) => run,
            Err(e) => {
                verdicts.push(Verdict {
                    name,
                    passed: false,
                    detail: format!("{e:#}"),
                });
                continue;
            }
        };
        let golden_path = dir.join("expected.json");
        let pretty = serde_json::to_string_pretty(&run.actual)? + "\n";
        if !run.violations.is_empty() {
            verdicts.push(Verdict {
                name,
                passed: false,
                detail: format!("contract violations:\n  {}", run.violations.join("\n  ")),
            });
            continue;
        }
        if bless {
            std::fs::write(&golden_path, &pretty)?;
            verdicts.push(Verdict {
                name,
                passed: true,
                detail: "golden written".into(),
            });
            continue;
        }
        let expected = match std::fs::read_to_string(&golden_path) {
            Ok(text) => text,
            Err(_) => {
                verdicts.push(Verdict {
                    name,
                    passed: false,
                    detail: format!(
                        "no golden at {}; run with --bless and review it",
                        golden_path.display()
                    ),
                });
                continue;
            }
        };
        let expected_value: Value = serde_json::from_str(&expected)
            .map_err(|e| anyhow::anyhow!("{}: {e}", golden_path.display()))?;
        if expected_value == run.actual {
            verdicts.push(Verdict {
                name,
                passed: true,
                detail: String::new(),
            });
        } else {
            let expected_pretty = serde_json::to_string_pretty(&expected_value)? + "\n";
            verdicts.push(Verdict {
                name,
                passed: false,
                detail: line_diff(&expected_pretty, &pretty),
            });
        }
    }
    Ok(verdicts)
}

/// A short diff: the first differing lines with a little context.
fn line_diff(expected: &str, actual: &str) -> String {
    let e: Vec<&str> = expected.lines().collect();
    let a: Vec<&str> = actual.lines().collect();
    let first = e
        .iter()
        .zip(&a)
        .position(|(x, y)| x != y)
        .unwrap_or(e.len().min(a.len()));
    let mut out = format!("differs from the golden at line {}:\n", first + 1);
    for (i, line) in e.iter().enumerate().skip(first.saturating_sub(2)).take(8) {
        out.push_str(&format!("  - {:>4} {line}\n", i + 1));
    }
    for (i, line) in a.iter().enumerate().skip(first.saturating_sub(2)).take(8) {
        out.push_str(&format!("  + {:>4} {line}\n", i + 1));
    }
    out
}
