//! Plugin vs native: the same provider code (GitFlic, then GitLab), run natively and as a
//! sandboxed component through the host, on the same inputs, measured in one run so the ratio
//! is meaningful on a noisy machine. Prints numbers; asserts nothing about speed.
//!
//! `cargo bench -p exlogare-conformance-tests --bench plugin_vs_native` (after the component is
//! built: `./x bench` does both).

use exlogare_conformance::ScenarioEnv;
use exlogare_conformance_tests::{component, workspace_root};
use exlogare_runtime::call_state::Clock;
use exlogare_runtime::contract as htypes;
use exlogare_runtime::egress::{EgressPolicy, Origin};
use exlogare_runtime::engine::{EngineOptions, HostEngine};
use exlogare_runtime::http::gate::Credentials;
use exlogare_runtime::http::replay::{ExchangeFile, GeneratedLog, ReplayBackend};
use exlogare_runtime::limits::SandboxLimits;
use exlogare_runtime::log_sink::{self, LogSink};
use exlogare_runtime::plugin::{CallContext, LoadedPlugin, PluginRuntime};
use std::cell::Cell;
use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Median of `rounds` timings of `f`, after a warm-up.
fn median(rounds: usize, mut f: impl FnMut()) -> Duration {
    for _ in 0..rounds.div_ceil(10) {
        f();
    }
    let mut times: Vec<Duration> = (0..rounds)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[rounds / 2]
}

fn report(name: &str, native: Duration, plugin: Duration, unit: &str, per: f64) {
    let (n, p) = (native.as_secs_f64() * per, plugin.as_secs_f64() * per);
    println!(
        "{name:<38} native {n:>10.2} {unit}   plugin {p:>10.2} {unit}   plugin/native {:>6.2}x",
        p / n
    );
}

// ---- the native side: the plugin crate's logic over a native host -----------------------

struct NativeHost {
    artifacts: Vec<u8>,
    log_bytes: u64,
    lines: Cell<u64>,
}

struct NativeBody(GeneratedLog);

impl exlogare_gitflic::BodyReader for NativeBody {
    fn read(&mut self, max: u32) -> Result<Option<Vec<u8>>, exlogare_gitflic::HttpError> {
        let mut buf = vec![0; max as usize];
        let n = self
            .0
            .read(&mut buf)
            .map_err(|e| exlogare_gitflic::HttpError::Transport(e.to_string()))?;
        if n == 0 {
            return Ok(None);
        }
        buf.truncate(n);
        Ok(Some(buf))
    }
}

/// The kit's `Host`, which both providers take: one native host serves either.
impl exlogare_gitflic::Host for NativeHost {
    type Body = NativeBody;

    fn send(
        &self,
        req: &exlogare_gitflic::Request,
    ) -> Result<exlogare_gitflic::Response, exlogare_gitflic::HttpError> {
        // GitFlic lists the job's artifacts before streaming the trace; GitLab streams at once.
        assert!(
            req.url.ends_with("/artifacts"),
            "unexpected request {}",
            req.url
        );
        Ok(exlogare_gitflic::Response {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: self.artifacts.clone(),
        })
    }

    fn send_streaming(
        &self,
        _req: &exlogare_gitflic::Request,
    ) -> Result<(exlogare_gitflic::ResponseHead, NativeBody), exlogare_gitflic::HttpError> {
        Ok((
            exlogare_gitflic::ResponseHead {
                status: 200,
                headers: vec![],
            },
            NativeBody(GeneratedLog::new(self.log_bytes)),
        ))
    }

    fn log(&self, _level: exlogare_gitflic::Level, _message: &str) {}

    fn now(&self) -> i64 {
        0
    }

    fn emit(&self, chunk: &exlogare_gitflic::LogChunk) -> Result<(), String> {
        self.lines.set(self.lines.get() + chunk.lines.len() as u64);
        Ok(())
    }
}

// ---- the plugin side ------------------------------------------------------------------

struct CountingSink(u64);

impl LogSink for CountingSink {
    fn emit(&mut self, chunk: log_sink::LogChunk) -> Result<(), String> {
        self.0 += chunk.lines.len() as u64;
        Ok(())
    }

    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any> {
        self
    }
}

/// Both components, loaded side by side in one host.
fn load() -> (LoadedPlugin, LoadedPlugin, Allocator) {
    let engine = Arc::new(HostEngine::new(&EngineOptions::default()).expect("engine"));
    let allocator = engine.allocator;
    let rt = PluginRuntime::new(engine, None).expect("runtime");
    let load = |package: &str| {
        rt.load(&component(package), SandboxLimits::default())
            .expect("plugin loads")
    };
    (load("exlogare-gitflic"), load("exlogare-gitlab"), allocator)
}

/// The job both sides extract, `7` (`build`) of acme/app, in the providers' (the kit's) types.
fn native_target(
    project_id: Option<&str>,
) -> (exlogare_gitflic::ProjectRef, exlogare_gitflic::Job) {
    let project = exlogare_gitflic::ProjectRef {
        owner: "acme".into(),
        name: "app".into(),
        id: project_id.map(String::from),
    };
    let job = exlogare_gitflic::Job {
        id: "7".into(),
        name: "build".into(),
        stage: None,
        status: exlogare_gitflic::RunStatus::Failed,
        allow_failure: false,
        started_at: None,
        finished_at: None,
        web_url: None,
    };
    (project, job)
}

/// The same job in the host's types.
fn host_target(project_id: Option<&str>) -> (htypes::ProjectRef, htypes::Job) {
    let (p, j) = native_target(project_id);
    let project = htypes::ProjectRef {
        owner: p.owner,
        name: p.name,
        id: p.id,
    };
    let job = htypes::Job {
        id: j.id,
        name: j.name,
        stage: j.stage,
        status: htypes::RunStatus::Failed,
        allow_failure: j.allow_failure,
        started_at: j.started_at,
        finished_at: j.finished_at,
        web_url: j.web_url,
    };
    (project, job)
}

/// What each component weighs on disk.
fn sizes() {
    for package in ["exlogare-gitflic", "exlogare-gitlab"] {
        let path = component(package);
        let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        println!(
            "{:<38} {:>10.1} KiB   {}",
            format!("component size, {package}"),
            bytes as f64 / 1024.0,
            path.display()
        );
    }
}

/// The sandboxed side of a log extraction: a replay of `exchanges` (the generated log among
/// them), `extract-job-log` of `job` in a fresh instance. Median time and plugin memory peak.
fn sandboxed_extract(
    plugin: &LoadedPlugin,
    conn: &htypes::Connection,
    exchanges: &str,
    token_scheme: &str,
    project: &htypes::ProjectRef,
    job: &htypes::Job,
) -> (Duration, u64) {
    let exchanges: ExchangeFile = toml::from_str(exchanges).unwrap();
    let backend = Arc::new(ReplayBackend::new(
        &workspace_root(),
        exchanges,
        Some(format!("{token_scheme} t")),
        None,
    ));
    let policy = EgressPolicy {
        api: Origin::parse(&conn.api_base).unwrap(),
        oauth: Origin::parse(&conn.oauth_base).unwrap(),
        extra: vec![],
        allow_private: false,
    };
    let mut peak = 0;
    let time = median(5, || {
        let ctx = CallContext {
            policy: policy.clone(),
            backend: backend.clone(),
            credentials: Credentials {
                access_token: Some(exlogare_runtime::http::Secret::new("t")),
                ..Default::default()
            },
            clock: Clock::Fixed(0),
            sink: Some(Box::new(CountingSink(0))),
            redact: vec![],
        };
        let out = plugin
            .extract_job_log(ctx, conn, project, job)
            .expect("call");
        assert!(out.value.is_ok(), "{:?}", out.value);
        peak = out.peak_memory_bytes;
    });
    assert!(
        backend.violations().is_empty(),
        "{:?}",
        backend.violations()
    );
    (time, peak)
}

fn report_extract(name: &str, log_bytes: u64, native: Duration, plugin: Duration, peak: u64) {
    let mib = log_bytes as f64 / (1 << 20) as f64;
    println!(
        "{:<38} native {:>10.1} MiB/s   plugin {:>10.1} MiB/s   plugin/native time {:>6.2}x   (plugin memory peak {:.1} MiB)",
        name,
        mib / native.as_secs_f64(),
        mib / plugin.as_secs_f64(),
        plugin.as_secs_f64() / native.as_secs_f64(),
        peak as f64 / (1 << 20) as f64
    );
}

type Allocator = exlogare_runtime::engine::Allocator;

fn main() {
    let (plugin, gitlab_plugin, allocator) = load();
    // `-- fixed-cost N`: only N fresh-instance calls of `describe`, for a profiler
    // (`perf record -g target/release/deps/plugin_vs_native-* fixed-cost 200000`).
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "fixed-cost") {
        let n: usize = args
            .get(i + 1)
            .and_then(|n| n.parse().ok())
            .unwrap_or(100_000);
        let t = Instant::now();
        for _ in 0..n {
            plugin.describe().expect("call");
        }
        println!(
            "{n} calls of describe in fresh instances: {:.2} µs each",
            t.elapsed().as_secs_f64() * 1e6 / n as f64
        );
        let env = ScenarioEnv::prepare(&workspace_root().join("fixtures/gitflic/failed-job-trace"))
            .expect("scenario");
        let t = Instant::now();
        for _ in 0..n {
            plugin.describe_in(env.ctx(None)).expect("call");
        }
        println!(
            "{n} calls of describe under a scenario's context: {:.2} µs each",
            t.elapsed().as_secs_f64() * 1e6 / n as f64
        );
        return;
    }
    println!(
        "wasmtime 48, allocator {allocator:?}, fresh instance per plugin call; medians of repeated runs"
    );
    sizes();
    println!("GitFlic");

    // 1. Webhook verification and envelope parsing (the hot path of every delivery).
    let env = ScenarioEnv::prepare(&workspace_root().join("fixtures/gitflic/failed-job-trace"))
        .expect("scenario");
    let body = std::fs::read(
        workspace_root().join("fixtures/gitflic/failed-job-trace/bodies/delivery.json"),
    )
    .unwrap();
    let secret = env.scenario.secrets.webhook_secret.clone().unwrap();
    let headers = vec![
        ("content-type".to_string(), "application/json".to_string()),
        ("gitflic-webhook-secret".to_string(), secret.clone()),
    ];
    let query = vec![("secret".to_string(), secret.clone())];
    let native_conn = exlogare_gitflic::Connection {
        web_base: env.conn.web_base.clone(),
        api_base: env.conn.api_base.clone(),
        oauth_base: env.conn.oauth_base.clone(),
        options: env.conn.options.clone(),
    };
    let native_delivery = exlogare_gitflic::WebhookDelivery {
        query: query.clone(),
        headers: headers.clone(),
        body: body.clone(),
    };
    let host_delivery = exlogare_runtime::contract::WebhookDelivery {
        query,
        headers,
        body,
    };
    let native = median(2000, || {
        let out = exlogare_gitflic::webhook::verify(&native_conn, &native_delivery, &secret);
        assert!(out.is_ok());
    });
    let sandboxed = median(2000, || {
        let out = plugin
            .verify_webhook(env.ctx(None), &env.conn, &host_delivery, &secret)
            .expect("call");
        assert!(out.value.is_ok());
    });
    report(
        "verify-webhook (2 KB envelope)",
        native,
        sandboxed,
        "µs",
        1e6,
    );
    // Where a sandboxed verify's time goes: a fresh instance and the smallest export (`describe`)
    // is the fixed cost of any call (store, instantiation, memory reset); the rest is the
    // envelope's copy and the parse.
    let fixed = median(2000, || {
        plugin.describe_in(env.ctx(None)).expect("call");
    });
    println!(
        "{:<38} plugin {:>10.2} µs   ({:.0} % of verify-webhook: store, fresh instance, memory reset)",
        "  of which a call's fixed cost",
        fixed.as_secs_f64() * 1e6,
        100.0 * fixed.as_secs_f64() / sandboxed.as_secs_f64()
    );

    // 2. Job-log extraction: list artifacts, stream, normalize, emit (16 MiB generated log).
    let log_bytes: u64 = 16 << 20;
    let artifacts = br#"{"_embedded":{"restPipelineJobArtifactModelList":[{"id":"a1","fileName":"job.log","fileType":"trace","downloadUrl":"https://api.gitflic.ru/project/acme/app/cicd/job/7/artifact/a1/download"}]}}"#.to_vec();
    let native_host = NativeHost {
        artifacts: artifacts.clone(),
        log_bytes,
        lines: Cell::new(0),
    };
    let (native_project, native_job) = native_target(None);
    let native = median(5, || {
        exlogare_gitflic::joblog::extract_job_log(
            &native_host,
            &native_conn,
            &native_project,
            &native_job,
        )
        .expect("native extract");
    });
    let (host_project, host_job) = host_target(None);
    let exchanges = format!(
        r#"
[[exchange]]
method = "GET"
url = "https://api.gitflic.ru/project/acme/app/cicd/job/7/artifacts"
auth = "access-token"
status = 200
body = '{}'
times = 1000

[[exchange]]
method = "GET"
url = "https://api.gitflic.ru/project/acme/app/cicd/job/7/artifact/a1/download"
auth = "access-token"
status = 200
generate = {{ log_bytes = {log_bytes} }}
times = 1000
"#,
        String::from_utf8(artifacts).unwrap()
    );
    let (sandboxed, peak) = sandboxed_extract(
        &plugin,
        &env.conn,
        &exchanges,
        "token",
        &host_project,
        &host_job,
    );
    report_extract(
        "extract-job-log (16 MiB log)",
        log_bytes,
        native,
        sandboxed,
        peak,
    );

    gitlab(&gitlab_plugin, log_bytes);
    log_path(&plugin, &env.conn);
}

/// Issue 16's log path: a generated 100 MB job log from the provider (replayed, streamed, never
/// held whole) through the plugin's extraction and the host's analysis to a report, against
/// `grep -c -i error` on the same bytes in a file; and the host's peak resident memory while
/// it runs (VmHWM, reset before).
fn log_path(plugin: &LoadedPlugin, conn: &htypes::Connection) {
    const BYTES: u64 = 100_000_000;
    println!("Log path");
    let exchanges = format!(
        r#"
[[exchange]]
method = "GET"
url = "https://api.gitflic.ru/project/acme/app/cicd/job/7/artifacts"
auth = "access-token"
status = 200
body = '{{"_embedded":{{"restPipelineJobArtifactModelList":[{{"id":"a1","fileName":"job.log","fileType":"trace","downloadUrl":"https://api.gitflic.ru/project/acme/app/cicd/job/7/artifact/a1/download"}}]}}}}'

[[exchange]]
method = "GET"
url = "https://api.gitflic.ru/project/acme/app/cicd/job/7/artifact/a1/download"
auth = "access-token"
status = 200
generate = {{ log_bytes = {BYTES} }}
"#
    );
    let backend = Arc::new(ReplayBackend::new(
        &workspace_root(),
        toml::from_str(&exchanges).unwrap(),
        Some("token t".into()),
        None,
    ));
    let (project, job) = host_target(None);
    let ctx = CallContext {
        policy: EgressPolicy {
            api: Origin::parse(&conn.api_base).unwrap(),
            oauth: Origin::parse(&conn.oauth_base).unwrap(),
            extra: vec![],
            allow_private: false,
        },
        backend,
        credentials: Credentials {
            access_token: Some(exlogare_runtime::http::Secret::new("t")),
            ..Default::default()
        },
        clock: Clock::Fixed(0),
        sink: Some(Box::new(exlogare_service::pipeline::AnalysisSink::new(
            &job,
        ))),
        redact: vec![],
    };
    // The default sandbox (1 GiB a stream, 256 MiB of text a job) takes the whole log.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let rss_before = status_kib("VmRSS");
    let t = Instant::now();
    let out = plugin
        .extract_job_log(ctx, conn, &project, &job)
        .expect("call");
    let report = out
        .sink
        .and_then(|s| {
            s.into_any()
                .downcast::<exlogare_service::pipeline::AnalysisSink>()
                .ok()
        })
        .and_then(|s| s.into_report());
    let took = t.elapsed();
    let peak = status_kib("VmHWM");
    assert!(out.value.is_ok(), "{:?}", out.value);
    let report = report.expect("a report");

    let file = tempfile::NamedTempFile::new().unwrap();
    std::io::copy(
        &mut GeneratedLog::new(BYTES),
        &mut std::fs::File::create(file.path()).unwrap(),
    )
    .unwrap();
    let t = Instant::now();
    let grep = std::process::Command::new("grep")
        .args(["-c", "-i", "error"])
        .arg(file.path())
        .output()
        .expect("grep runs");
    let grep_took = t.elapsed();
    let mb = BYTES as f64 / 1e6;
    println!(
        "{:<38} {:>10.1} MB/s ({:.2} s, {} lines, category {}); grep -c -i error {:.1} MB/s ({} matches): {:.1}x grep's time",
        "100 MB log: extraction + analysis",
        mb / took.as_secs_f64(),
        took.as_secs_f64(),
        report.lines_seen,
        report.category.as_str(),
        mb / grep_took.as_secs_f64(),
        String::from_utf8_lossy(&grep.stdout).trim(),
        took.as_secs_f64() / grep_took.as_secs_f64()
    );
    println!(
        "{:<38} host RSS {:.0} MiB before, peak {:.0} MiB during (VmHWM, reset before); plugin memory peak {:.1} MiB",
        "  memory",
        rss_before as f64 / 1024.0,
        peak as f64 / 1024.0,
        out.peak_memory_bytes as f64 / (1 << 20) as f64
    );
}

/// A `/proc/self/status` field in KiB (0 where there is none).
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .trim_start_matches(':')
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// The same two measurements for GitLab: its Pipeline Hook, and its job trace streamed.
fn gitlab(plugin: &LoadedPlugin, log_bytes: u64) {
    println!("GitLab");
    let dir = workspace_root().join("fixtures/gitlab/failed-pipeline-trace");
    let env = ScenarioEnv::prepare(&dir).expect("scenario");
    let body = std::fs::read(dir.join("bodies/delivery.json")).unwrap();
    let secret = env.scenario.secrets.webhook_secret.clone().unwrap();
    let headers = vec![
        ("content-type".to_string(), "application/json".to_string()),
        ("x-gitlab-event".to_string(), "Pipeline Hook".to_string()),
        ("x-gitlab-token".to_string(), secret.clone()),
    ];
    let native_conn = exlogare_gitlab::Connection {
        web_base: env.conn.web_base.clone(),
        api_base: env.conn.api_base.clone(),
        oauth_base: env.conn.oauth_base.clone(),
        options: env.conn.options.clone(),
    };
    let native_delivery = exlogare_gitlab::WebhookDelivery {
        query: vec![],
        headers: headers.clone(),
        body: body.clone(),
    };
    let host_delivery = htypes::WebhookDelivery {
        query: vec![],
        headers,
        body,
    };
    let native = median(2000, || {
        let out = exlogare_gitlab::webhook::verify(&native_conn, &native_delivery, &secret);
        assert!(out.is_ok(), "{out:?}");
    });
    let sandboxed = median(2000, || {
        let out = plugin
            .verify_webhook(env.ctx(None), &env.conn, &host_delivery, &secret)
            .expect("call");
        assert!(out.value.is_ok(), "{:?}", out.value);
    });
    report(
        "verify-webhook (Pipeline Hook)",
        native,
        sandboxed,
        "µs",
        1e6,
    );

    let native_host = NativeHost {
        artifacts: Vec::new(),
        log_bytes,
        lines: Cell::new(0),
    };
    let (native_project, native_job) = native_target(Some("4812"));
    let native = median(5, || {
        exlogare_gitlab::joblog::extract_job_log(
            &native_host,
            &native_conn,
            &native_project,
            &native_job,
        )
        .expect("native extract");
    });
    let exchanges = format!(
        r#"
[[exchange]]
method = "GET"
url = "https://gitlab.com/api/v4/projects/4812/jobs/7/trace"
auth = "access-token"
status = 200
generate = {{ log_bytes = {log_bytes} }}
times = 1000
"#
    );
    let (host_project, host_job) = host_target(Some("4812"));
    let (sandboxed, peak) = sandboxed_extract(
        plugin,
        &env.conn,
        &exchanges,
        "Bearer",
        &host_project,
        &host_job,
    );
    report_extract(
        "extract-job-log (16 MiB trace)",
        log_bytes,
        native,
        sandboxed,
        peak,
    );
}
