//! Replays every scenario under `fixtures/gitflic/` through the library with the fake host, so
//! the recorded exchanges and the plugin agree (every request matched, every exchange used,
//! credentials and JSON bodies as recorded) before the host's conformance runner compares
//! whole outcomes with the goldens. Here only the kind of each step's outcome is checked.

use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use toml::Value;

use crate::fake::{Body, Exchange, FakeHost};
use crate::{
    Connection, Credential, FailureEvent, Job, Method, OauthClient, PipelineRef, ProjectRef,
    ProviderError, Registration, WebhookDelivery, WebhookOutcome, WebhookRejection, WebhookSpec,
};
use exlogare_kit::GreenRun;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/gitflic")
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("missing string `{k}` in {v}"))
}

fn decode(q: &str) -> String {
    let b = q.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                out.push(u8::from_str_radix(&q[i + 1..i + 3], 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

fn err_kind(e: &ProviderError) -> &'static str {
    match e {
        ProviderError::CredentialsRejected(_) => "credentials-rejected",
        ProviderError::NotFound(_) => "not-found",
        ProviderError::RateLimited(_) => "rate-limited",
        ProviderError::Transient(_) => "transient",
        ProviderError::InvalidInput(_) => "invalid-input",
        ProviderError::Denied(_) => "denied",
    }
}

fn kind<T>(r: &Result<T, ProviderError>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => err_kind(e).into(),
    }
}

fn load_exchanges(host: &FakeHost, path: &Path) {
    let Ok(text) = std::fs::read_to_string(path.join("exchanges.toml")) else {
        return;
    };
    let doc: Value = toml::from_str(&text).unwrap();
    for e in doc
        .get("exchange")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let body = if let Some(f) = e.get("body_file").and_then(Value::as_str) {
            Body::Bytes(std::fs::read(path.join(f)).unwrap())
        } else if let Some(g) = e.get("generate") {
            Body::Generated(g.get("log_bytes").and_then(Value::as_integer).unwrap() as u64)
        } else {
            Body::Bytes(
                e.get("body")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .as_bytes()
                    .to_vec(),
            )
        };
        let method = match s(e, "method") {
            "GET" => Method::Get,
            "POST" => Method::Post,
            other => panic!("method {other}"),
        };
        let credential = match e.get("auth").and_then(Value::as_str).unwrap_or("none") {
            "access-token" => Some(Credential::AccessToken("token".into())),
            "client-basic" => Some(Credential::ClientBasic),
            _ => None,
        };
        let headers: Vec<(String, String)> = e
            .get("headers")
            .and_then(Value::as_table)
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect();
        let times = e.get("times").and_then(Value::as_integer).unwrap_or(1);
        for _ in 0..times {
            host.push(Exchange {
                method,
                url: s(e, "url").into(),
                status: e.get("status").and_then(Value::as_integer).unwrap() as u16,
                headers: headers.clone(),
                body: Ok(match &body {
                    Body::Bytes(b) => Body::Bytes(b.clone()),
                    Body::Generated(n) => Body::Generated(*n),
                }),
                credential: Some(credential.clone()),
                body_json: e
                    .get("body_json")
                    .and_then(Value::as_str)
                    .map(|j| serde_json::from_str::<Json>(j).unwrap()),
            });
        }
    }
}

fn project_of(v: &Value) -> ProjectRef {
    let p = v.get("project").unwrap();
    ProjectRef {
        owner: s(p, "owner").into(),
        name: s(p, "name").into(),
        id: None,
    }
}

/// Runs one scenario; returns each step's outcome kind.
fn run(path: &Path) -> Vec<String> {
    let sc: Value =
        toml::from_str(&std::fs::read_to_string(path.join("scenario.toml")).unwrap()).unwrap();
    let c = sc.get("connection").unwrap();
    let conn = Connection {
        web_base: s(c, "web_base").into(),
        api_base: s(c, "api_base").into(),
        oauth_base: s(c, "oauth_base").into(),
        options: c
            .get("options")
            .and_then(Value::as_table)
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect(),
    };
    let secrets = sc.get("secrets").unwrap();
    let client = OauthClient {
        client_id: s(secrets, "client_id").into(),
        redirect_url: s(secrets, "redirect_url").into(),
        scopes: secrets
            .get("scopes")
            .and_then(Value::as_array)
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().into())
            .collect(),
    };
    let mut host = FakeHost::new();
    host.keep_chunks = false;
    load_exchanges(&host, path);

    let mut event: Option<FailureEvent> = None;
    let mut failed: Vec<Job> = Vec::new();
    let mut out = Vec::new();
    for step in sc.get("step").and_then(Value::as_array).unwrap() {
        let label = match s(step, "op") {
            "describe" => {
                assert_eq!(crate::describe().id, "gitflic");
                "ok".into()
            }
            "verify-webhook" => {
                let body = match step.get("body_file").and_then(Value::as_str) {
                    Some(f) => std::fs::read(path.join(f)).unwrap(),
                    None => step
                        .get("body")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .as_bytes()
                        .to_vec(),
                };
                let query = step
                    .get("query")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .split('&')
                    .filter(|p| !p.is_empty())
                    .map(|p| {
                        let (k, v) = p.split_once('=').unwrap_or((p, ""));
                        (decode(k), decode(v))
                    })
                    .collect();
                let headers = step
                    .get("headers")
                    .and_then(Value::as_table)
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str().unwrap().to_string()))
                    .collect();
                let expected = step
                    .get("expected_secret")
                    .and_then(Value::as_str)
                    .unwrap_or(s(secrets, "webhook_secret"));
                match crate::webhook::verify(
                    &conn,
                    &WebhookDelivery {
                        query,
                        headers,
                        body,
                    },
                    expected,
                ) {
                    Ok(WebhookOutcome::PipelineFailed(e)) => {
                        event = Some(e);
                        "pipeline-failed".into()
                    }
                    Ok(WebhookOutcome::Ping(_)) => "ping".into(),
                    Ok(WebhookOutcome::Ignored(_)) => "ignored".into(),
                    Err(WebhookRejection::Malformed(_)) => "malformed".into(),
                    Err(WebhookRejection::SecretMissing(_)) => "secret-missing".into(),
                    Err(WebhookRejection::SecretMismatch(_)) => "secret-mismatch".into(),
                }
            }
            "failure-details" => {
                let ev = match step.get("event") {
                    Some(e) => FailureEvent {
                        project: ProjectRef {
                            owner: s(e, "owner").into(),
                            name: s(e, "name").into(),
                            id: None,
                        },
                        pipeline: PipelineRef {
                            id: None,
                            number: e
                                .get("pipeline_number")
                                .and_then(Value::as_integer)
                                .map(|n| n as u64),
                        },
                        event: s(e, "event").into(),
                        git_ref: None,
                        commit_sha: None,
                    },
                    None => event.clone().expect("a failure event from a previous step"),
                };
                let r = crate::failure::get_failure_details(&host, &conn, &ev);
                if let Ok(d) = &r {
                    failed = d.failed_jobs.clone();
                    event = Some(ev);
                }
                kind(&r)
            }
            "extract-job-logs" => {
                let project = event.as_ref().unwrap().project.clone();
                // `jobs = ["17"]` names the jobs (a failed one and its green run, say); without
                // it, every failed job of the last failure-details step.
                let named: Vec<Job> = step
                    .get("jobs")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|id| Job {
                        id: id.as_str().unwrap().into(),
                        name: "job".into(),
                        stage: None,
                        status: crate::RunStatus::Failed,
                        allow_failure: false,
                        started_at: None,
                        finished_at: None,
                        web_url: None,
                    })
                    .collect();
                if named.is_empty() { &failed } else { &named }
                    .iter()
                    .map(|j| kind(&crate::joblog::extract_job_log(&host, &conn, &project, j)))
                    .collect::<Vec<_>>()
                    .join(",")
            }
            "authorize-url" => kind(&crate::oauth::authorize_url(
                &conn,
                &client,
                s(step, "state"),
            )),
            "exchange-code" => kind(&crate::oauth::exchange_code(&host, &conn, s(step, "code"))),
            "refresh-token" => kind(&crate::oauth::refresh_token(
                &host,
                &conn,
                s(step, "refresh_token"),
            )),
            "current-user" => kind(&crate::oauth::current_user(&host, &conn)),
            "list-projects" => {
                let search = step.get("search").and_then(Value::as_str);
                let mut cursor: Option<String> = None;
                let mut pages = Vec::new();
                loop {
                    let r = crate::projects::list_projects(&host, &conn, search, cursor.as_deref());
                    pages.push(kind(&r));
                    match r {
                        Ok(p) if p.next_cursor.is_some() => cursor = p.next_cursor,
                        _ => break,
                    }
                }
                pages.join(",")
            }
            "list-webhooks" => kind(&crate::hooks::list_webhooks(
                &host,
                &conn,
                &project_of(step),
            )),
            "register-webhook" => {
                let spec = WebhookSpec {
                    url: s(step, "url").into(),
                    secret: s(secrets, "webhook_secret").into(),
                    events: Vec::new(),
                };
                match crate::hooks::register_webhook(&host, &conn, &project_of(step), &spec) {
                    Ok(Registration::Created(_)) => "created".into(),
                    Ok(Registration::Reused(_)) => "reused".into(),
                    Ok(Registration::Repaired(_)) => "repaired".into(),
                    Err(e) => err_kind(&e).into(),
                }
            }
            "remove-webhook" => kind(&crate::hooks::remove_webhook(
                &host,
                &conn,
                &project_of(step),
                s(step, "webhook_id"),
            )),
            "list-pipelines" => {
                let above = step
                    .get("above")
                    .and_then(Value::as_integer)
                    .map(|n| n as u64);
                let limit = step.get("limit").and_then(Value::as_integer).unwrap_or(20) as u32;
                match crate::pipelines::list_pipelines(
                    &host,
                    &conn,
                    &project_of(step),
                    above,
                    limit,
                ) {
                    Ok(v) => format!("ok:{}", v.len()),
                    Err(e) => err_kind(&e).into(),
                }
            }
            "last-green-job" => {
                let int = |k: &str| step.get(k).and_then(Value::as_integer).map(|n| n as u64);
                match crate::green_runs::last_green_job(
                    &host,
                    &conn,
                    &project_of(step),
                    s(step, "job_name"),
                    step.get("git_ref").and_then(Value::as_str),
                    int("before"),
                    int("known"),
                ) {
                    Ok(GreenRun::Found(g)) => format!(
                        "found:{}",
                        g.pipeline.number.map_or("?".into(), |n| n.to_string())
                    ),
                    Ok(GreenRun::Unchanged) => "unchanged".into(),
                    Ok(GreenRun::None(_)) => "none".into(),
                    Err(e) => err_kind(&e).into(),
                }
            }
            other => panic!("unknown op {other}"),
        };
        out.push(label);
    }
    let unmatched: Vec<String> = host
        .requests
        .borrow()
        .iter()
        .filter(|r| !host.matched(r))
        .map(|r| r.url.clone())
        .collect();
    assert!(
        unmatched.is_empty(),
        "{}: requests without a recorded exchange: {unmatched:?}",
        path.display()
    );
    assert_eq!(
        host.unused(),
        0,
        "{}: recorded exchanges the plugin never made",
        path.display()
    );
    out
}

#[test]
fn every_scenario_replays_with_its_expected_outcome_kinds() {
    let expected: &[(&str, &[&str])] = &[
        ("failed-job-trace", &["ok", "pipeline-failed", "ok", "ok"]),
        ("two-failed-jobs", &["pipeline-failed", "ok", "ok,ok"]),
        ("log-artifact-fallback", &["pipeline-failed", "ok", "ok"]),
        ("artifact-expired", &["ok", "not-found,not-found"]),
        ("pipeline-deleted", &["not-found"]),
        (
            "token-rejected",
            &[
                "pipeline-failed",
                "credentials-rejected",
                "credentials-rejected",
            ],
        ),
        (
            "rate-limited",
            &["pipeline-failed", "rate-limited", "rate-limited"],
        ),
        (
            "gitflic-500",
            &["pipeline-failed", "transient", "transient"],
        ),
        (
            "malformed-envelope",
            &["malformed", "malformed", "malformed", "malformed"],
        ),
        ("wrong-secret", &["secret-mismatch", "secret-mismatch"]),
        ("missing-secret", &["secret-missing"]),
        ("secret-header-only", &["pipeline-failed"]),
        ("secret-query-only", &["pipeline-failed"]),
        ("test-webhook", &["ping"]),
        ("test-webhook-project-id-only", &["ping"]),
        ("pipeline-success-ignored", &["ignored"]),
        ("pipeline-warning-ignored", &["ignored"]),
        (
            "pipeline-warning-analyzed",
            &["pipeline-failed", "ok", "ok"],
        ),
        ("self-hosted", &["pipeline-failed", "ok", "ok"]),
        ("ansi-progress-sections", &["ok", "ok"]),
        ("huge-log", &["ok", "ok"]),
        ("no-pipeline-reference", &["pipeline-failed", "ok"]),
        ("oauth-authorize-url", &["ok"]),
        ("oauth-exchange-code", &["ok"]),
        ("self-hosted-oauth-exchange", &["ok"]),
        ("oauth-refresh-token", &["ok", "credentials-rejected"]),
        ("current-user", &["ok"]),
        ("list-projects-search", &["ok,ok,ok"]),
        ("register-webhook-created", &["created"]),
        ("register-webhook-reused", &["reused"]),
        ("register-webhook-repaired", &["repaired"]),
        ("list-and-remove-webhook", &["ok", "ok", "not-found"]),
        ("pipelines-above-watermark", &["ok:8", "ok:3"]),
        ("green-run-found", &["found:1286"]),
        ("green-run-unchanged", &["unchanged", "found:1286"]),
        ("green-run-none", &["none"]),
        ("green-run-default-branch", &["found:1283"]),
        (
            "green-run-compared",
            &["pipeline-failed", "ok", "found:1290", "ok,ok"],
        ),
    ];
    let mut on_disk: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .filter_map(|e| {
            e.ok()
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().into_string().unwrap())
        })
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = expected.iter().map(|(n, _)| n.to_string()).collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "every scenario on disk has an expectation here, and only those"
    );
    for (name, kinds) in expected {
        assert_eq!(run(&dir().join(name)), *kinds, "{name}");
    }
}
