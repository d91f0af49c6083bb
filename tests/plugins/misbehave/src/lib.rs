//! A deliberately misbehaving `exlogare:ci` provider for the host's sandbox tests.
//!
//! Each limit in `../shared/reference/plugin-hosts.md` §9.1 needs a guest that actually tries to break
//! it; a well-behaved plugin cannot show that a limit bites. The connection option `mode`
//! picks the misbehaviour for the calls that take a connection (`current-user`,
//! `list-pipelines`, ...). HTTP outcomes are reported back as `provider-error.transient`
//! strings so a test can tell a guest-visible refusal (the guest got an answer and returned)
//! from a trap (the host stopped the guest).
//!
//! Options: `mode` (ok, loop, alloc, stdout, trap, fetch, fetch-header, budget, stream,
//! stream-trap: read one piece of a streamed body, then trap while holding it; stream-forget:
//! read one piece, then return without dropping the stream; sleep: wait `ms` milliseconds
//! (default 300) on the WASI clock, then succeed; recurse: recurse until the stack runs out;
//! amplify: hand the host a request whose `count` (default 100) header values all point into
//! one 1 MiB buffer, so the host would copy `count` MiB),
//! `url` (for the HTTP modes), `header` (fetch-header: which header to set, default `host`),
//! `auth` (`access-token` asks the host to add the token, scheme `token`).
//!
//! `mode = "hostile"` is third-party code that tries to leak what it is handed and to mislead
//! people, without breaking any sandbox limit (`tests/tests/hostile_plugin.rs`):
//! `verify-webhook` answers by the delivery's `x-hostile-answer` header: `reject`, `malformed`
//! and `ping` quote the expected secret and the whole delivery back, `accept` accepts without
//! comparing anything; with no such header it compares `?secret=` honestly and accepts, putting
//! the expected secret into the event's `git-ref`. `refresh-token` refuses, quoting the refresh
//! token, and logs it (log import and stderr); `get-failure-details` links the pipeline and every job to a phishing page dressed up as
//! the instance's, and returns `jobs` (default 10,000) failed jobs; `extract-job-log` emits a
//! failure line with a bidi override and a `@room` mention.
//!
//! `mode = "emit-flood"`: `extract-job-log` makes up 64 KiB lines and emits them, without
//! reading anything, until `log-sink.emit` refuses; it answers `transient` with the count and
//! the refusal.

mod bindings {
    // Built against the frozen 0.1.0 release, not the current `wit/`: this is also the suite's
    // plugin of the oldest contract of the line, which every 0.1.x host must keep loading.
    wit_bindgen::generate!({
        path: "../../../wit/releases/0.1.0",
        world: "ci-provider",
    });
}

use bindings::exlogare::ci::http::{self, Credential, HttpError, Method, Request};
use bindings::exlogare::ci::log::{self as plugin_log, Level};
use bindings::exlogare::ci::log_sink::{self, LogChunk, LogLine};
use bindings::exlogare::ci::types::{
    Connection, InvalidInput, Job, Pipeline, PipelineRef, ProjectRef, ProviderError, ProviderInfo,
    RunStatus,
};
use bindings::exports::exlogare::ci::provider::{
    FailureDetails, FailureEvent, Guest, LogSource, OauthClient, PipelineSummary, ProjectPage,
    Registration, TokenSet, User, Webhook, WebhookDelivery, WebhookOutcome, WebhookRejection,
    WebhookSpec,
};

fn option<'a>(conn: &'a Connection, key: &str) -> Option<&'a str> {
    conn.options
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn describe_error(e: &HttpError) -> String {
    match e {
        HttpError::Denied(m) => format!("http-error denied: {m}"),
        HttpError::Timeout => "http-error timeout".into(),
        HttpError::TooLarge(n) => format!("http-error too-large {n}"),
        HttpError::Transport(m) => format!("http-error transport: {m}"),
        HttpError::InvalidRequest(m) => format!("http-error invalid-request: {m}"),
    }
}

fn request(conn: &Connection, headers: Vec<(String, String)>) -> Result<Request, ProviderError> {
    let url = option(conn, "url").ok_or_else(|| {
        ProviderError::InvalidInput(InvalidInput {
            field: "options.url".into(),
            message: "this mode needs a `url` option".into(),
        })
    })?;
    let credential = match option(conn, "auth") {
        Some("access-token") => Some(Credential::AccessToken("token".into())),
        _ => None,
    };
    Ok(Request {
        method: Method::Get,
        url: url.to_string(),
        headers,
        body: None,
        credential,
    })
}

fn report(text: String) -> ProviderError {
    ProviderError::Transient(text)
}

/// Runs the connection's `mode`. `Ok` means the call should succeed normally.
fn misbehave(conn: &Connection) -> Result<(), ProviderError> {
    match option(conn, "mode").unwrap_or("ok") {
        "ok" => Ok(()),
        "loop" => {
            // black_box keeps the loop observable, so the optimizer cannot prove it
            // side-effect free and the guest really spins until the epoch deadline.
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        "alloc" => {
            // Grows in 1 MiB steps, as a real leak would, until 128 MiB.
            let mut kept: Vec<Vec<u8>> = Vec::new();
            for i in 0..128u32 {
                kept.push(vec![i as u8; 1 << 20]);
            }
            std::hint::black_box(&kept);
            Err(report(format!(
                "allocated {} MiB without being stopped",
                kept.len()
            )))
        }
        "stdout" => {
            use std::io::Write;
            let line = [b'x'; 1023];
            let mut out = std::io::stdout();
            for _ in 0..10 * 1024 {
                let _ = out.write_all(&line);
                let _ = out.write_all(b"\n");
            }
            let _ = out.flush();
            Ok(())
        }
        "trap" => panic!("misbehave: asked to trap"),
        "sleep" => {
            let ms = option(conn, "ms")
                .and_then(|v| v.parse().ok())
                .unwrap_or(300);
            std::thread::sleep(std::time::Duration::from_millis(ms));
            Ok(())
        }
        "recurse" => {
            let depth = recurse(std::hint::black_box(1));
            Err(report(format!(
                "recursed {depth} deep without being stopped"
            )))
        }
        "amplify" => amplify(conn),
        "fetch" => {
            let req = request(conn, vec![])?;
            match http::send(&req) {
                Ok(resp) => {
                    let location = resp
                        .headers
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case("location"))
                        .map(|(_, v)| v.clone());
                    Err(report(format!(
                        "response status={} bytes={} location={}",
                        resp.status,
                        resp.body.len(),
                        location.unwrap_or_default()
                    )))
                }
                Err(e) => Err(report(describe_error(&e))),
            }
        }
        "fetch-header" => {
            let name = option(conn, "header").unwrap_or("host").to_string();
            let req = request(conn, vec![(name, "evil.example".into())])?;
            match http::send(&req) {
                Ok(resp) => Err(report(format!("response status={}", resp.status))),
                Err(e) => Err(report(describe_error(&e))),
            }
        }
        "budget" => {
            let req = request(conn, vec![])?;
            let mut sent = 0u32;
            loop {
                match http::send(&req) {
                    Ok(_) => sent += 1,
                    Err(e) => {
                        return Err(report(format!("sent={sent} then {}", describe_error(&e))));
                    }
                }
                if sent > 10_000 {
                    return Err(report(format!("sent={sent} and was never refused")));
                }
            }
        }
        "stream" => {
            let req = request(conn, vec![])?;
            let (head, body) = match http::send_streaming(&req) {
                Ok(pair) => pair,
                Err(e) => return Err(report(describe_error(&e))),
            };
            let mut bytes: u64 = 0;
            loop {
                match body.read(64 * 1024) {
                    Ok(Some(chunk)) => bytes += chunk.len() as u64,
                    Ok(None) => {
                        return Err(report(format!(
                            "stream status={} bytes={bytes} end",
                            head.status
                        )));
                    }
                    Err(e) => {
                        return Err(report(format!(
                            "stream status={} bytes={bytes} then {}",
                            head.status,
                            describe_error(&e)
                        )));
                    }
                }
            }
        }
        "stream-trap" | "stream-forget" => {
            let req = request(conn, vec![])?;
            let (head, body) = match http::send_streaming(&req) {
                Ok(pair) => pair,
                Err(e) => return Err(report(describe_error(&e))),
            };
            let first = match body.read(64 * 1024) {
                Ok(chunk) => chunk.map_or(0, |c| c.len()),
                Err(e) => {
                    return Err(report(format!(
                        "stream status={} then {}",
                        head.status,
                        describe_error(&e)
                    )));
                }
            };
            if option(conn, "mode") == Some("stream-trap") {
                panic!("misbehave: trapping with a body stream open after {first} bytes");
            }
            // The handle is leaked, not dropped: only the instance's teardown can close it.
            std::mem::forget(body);
            Err(report(format!(
                "stream status={} bytes={first} left open",
                head.status
            )))
        }
        other => Err(ProviderError::InvalidInput(InvalidInput {
            field: "options.mode".into(),
            message: format!("unknown mode `{other}`"),
        })),
    }
}

/// Not a loop the compiler can turn into one: the call goes through a pointer it cannot see
/// through, and its result is used after the call returns.
fn recurse(n: u64) -> u64 {
    let next: fn(u64) -> u64 = std::hint::black_box(recurse);
    next(n.wrapping_add(1)).wrapping_mul(n | 1)
}

/// One 1 MiB buffer, `count` header values aliasing it: the guest holds 1 MiB, the lowered
/// request names `count` MiB. What a hostile plugin can do without unsafe code in another
/// language; here the aliases are `ManuallyDrop` so the buffer is freed once.
fn amplify(conn: &Connection) -> Result<(), ProviderError> {
    use std::mem::ManuallyDrop;
    let count: usize = option(conn, "count")
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let mut buffer = ManuallyDrop::new(String::from_utf8(vec![b'a'; 1 << 20]).unwrap());
    let (ptr, len, cap) = (buffer.as_mut_ptr(), buffer.len(), buffer.capacity());
    let headers: Vec<(String, String)> = (0..count)
        .map(|i| {
            // SAFETY: every alias is wrapped in ManuallyDrop below and never dropped or written.
            let alias = unsafe { String::from_raw_parts(ptr, len, cap) };
            (format!("x-amplify-{i}"), alias)
        })
        .collect();
    let req = Request {
        method: Method::Get,
        url: option(conn, "url")
            .unwrap_or("http://api.test/x")
            .to_string(),
        headers,
        body: None,
        credential: None,
    };
    let req = ManuallyDrop::new(req);
    let outcome = http::send(&req);
    // The header names are leaked with the aliases: this plugin's instance ends with the call.
    match outcome {
        Ok(resp) => Err(report(format!(
            "the host took {count} MiB of headers: status={}",
            resp.status
        ))),
        Err(e) => Err(report(format!(
            "the host refused {count} MiB of headers: {}",
            describe_error(&e)
        ))),
    }
}

fn unsupported<T>(what: &str) -> Result<T, ProviderError> {
    Err(ProviderError::InvalidInput(InvalidInput {
        field: what.into(),
        message: "the misbehave plugin does not implement this".into(),
    }))
}

fn hostile(conn: &Connection) -> bool {
    option(conn, "mode") == Some("hostile")
}

/// Where the hostile plugin sends people: the instance's name as userinfo, then another host.
const PHISH: &str = "https://gitflic.ru@evil.example/phish";

fn hostile_verify(
    delivery: &WebhookDelivery,
    secret: &str,
) -> Result<WebhookOutcome, WebhookRejection> {
    let header = |name: &str| {
        delivery
            .headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let everything = format!(
        "expected {secret}; query {:?}; headers {:?}",
        delivery.query, delivery.headers
    );
    let event = |git_ref: &str| FailureEvent {
        project: ProjectRef {
            owner: "acme".into(),
            name: "app".into(),
            id: None,
        },
        pipeline: PipelineRef {
            id: None,
            number: Some(7),
        },
        event: "PIPELINE_FAIL".into(),
        git_ref: Some(git_ref.into()),
        commit_sha: None,
    };
    match header("x-hostile-answer") {
        Some("reject") => Err(WebhookRejection::SecretMismatch(everything)),
        Some("malformed") => Err(WebhookRejection::Malformed(everything)),
        Some("ping") => Ok(WebhookOutcome::Ping(everything)),
        Some("accept") => Ok(WebhookOutcome::PipelineFailed(event("accepted-unchecked"))),
        _ => {
            let given = delivery
                .query
                .iter()
                .find(|(k, _)| k == "secret")
                .map(|(_, v)| v.as_str());
            if given == Some(secret) {
                Ok(WebhookOutcome::PipelineFailed(event(secret)))
            } else {
                Err(WebhookRejection::SecretMismatch(everything))
            }
        }
    }
}

fn hostile_failure(conn: &Connection, event: FailureEvent) -> FailureDetails {
    let jobs: usize = option(conn, "jobs")
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    FailureDetails {
        pipeline: Pipeline {
            project: event.project,
            reference: event.pipeline,
            status: RunStatus::Failed,
            git_ref: event.git_ref,
            commit_sha: None,
            source: None,
            created_at: None,
            finished_at: None,
            web_url: PHISH.into(),
        },
        failed_jobs: (0..jobs)
            .map(|i| Job {
                id: i.to_string(),
                name: format!("job-{i}"),
                stage: None,
                status: RunStatus::Failed,
                allow_failure: false,
                started_at: None,
                finished_at: None,
                web_url: Some(PHISH.into()),
            })
            .collect(),
        deep_link: PHISH.into(),
    }
}

fn emit_flood() -> Result<LogSource, ProviderError> {
    let line = "x".repeat(64 << 10);
    let mut chunks = 0u64;
    loop {
        let chunk = LogChunk {
            lines: (0..4)
                .map(|i| LogLine {
                    source_line: chunks * 4 + i + 1,
                    text: line.clone(),
                })
                .collect(),
            steps: vec![],
        };
        if let Err(refusal) = log_sink::emit(&chunk) {
            return Err(report(format!(
                "emit refused after {chunks} chunks of 256 KiB: {refusal}"
            )));
        }
        chunks += 1;
    }
}

fn hostile_log(job: &Job) -> Result<LogSource, ProviderError> {
    let lines = [
        "$ make test".to_string(),
        format!("error: {} failed \u{202e}gnp.exe @room", job.name),
    ];
    log_sink::emit(&LogChunk {
        lines: lines
            .iter()
            .enumerate()
            .map(|(i, text)| LogLine {
                source_line: i as u64 + 1,
                text: text.clone(),
            })
            .collect(),
        steps: vec![],
    })
    .map_err(report)?;
    Ok(LogSource {
        name: "hostile".into(),
        url: PHISH.into(),
        bytes: 64,
        lines: lines.len() as u64,
    })
}

struct Misbehave;

impl Guest for Misbehave {
    fn describe() -> ProviderInfo {
        ProviderInfo {
            id: "misbehave".into(),
            display_name: "Misbehaving test plugin".into(),
            contract_version: "0.1.0".into(),
            capabilities: vec![],
        }
    }
    fn verify_webhook(
        conn: Connection,
        delivery: WebhookDelivery,
        secret: String,
    ) -> Result<WebhookOutcome, WebhookRejection> {
        if hostile(&conn) {
            return hostile_verify(&delivery, &secret);
        }
        match misbehave(&conn) {
            Ok(()) => Ok(WebhookOutcome::Ignored("misbehave: ok".into())),
            Err(e) => Err(WebhookRejection::Malformed(format!("{e:?}"))),
        }
    }
    fn authorize_url(
        conn: Connection,
        _client: OauthClient,
        _state: String,
    ) -> Result<String, ProviderError> {
        misbehave(&conn).map(|()| "https://example.invalid/authorize".into())
    }
    fn exchange_code(
        conn: Connection,
        _client: OauthClient,
        _code: String,
    ) -> Result<TokenSet, ProviderError> {
        misbehave(&conn)?;
        unsupported("exchange-code")
    }
    fn refresh_token(
        conn: Connection,
        _client: OauthClient,
        refresh: String,
    ) -> Result<TokenSet, ProviderError> {
        if hostile(&conn) {
            // Into the host's log, and into stderr for a later fault to quote.
            plugin_log::log(Level::Warn, &format!("refreshing with {refresh}"));
            eprintln!("refresh token: {refresh}");
            return Err(ProviderError::CredentialsRejected(format!(
                "the refresh token {refresh} was refused"
            )));
        }
        misbehave(&conn)?;
        unsupported("refresh-token")
    }
    fn current_user(conn: Connection) -> Result<User, ProviderError> {
        misbehave(&conn)?;
        Ok(User {
            id: "0".into(),
            username: "misbehave".into(),
            display_name: None,
        })
    }
    fn list_projects(
        conn: Connection,
        _search: Option<String>,
        _cursor: Option<String>,
    ) -> Result<ProjectPage, ProviderError> {
        misbehave(&conn)?;
        Ok(ProjectPage {
            projects: vec![],
            next_cursor: None,
        })
    }
    fn list_webhooks(
        conn: Connection,
        _project: ProjectRef,
    ) -> Result<Vec<Webhook>, ProviderError> {
        misbehave(&conn)?;
        Ok(vec![])
    }
    fn register_webhook(
        conn: Connection,
        _project: ProjectRef,
        _spec: WebhookSpec,
    ) -> Result<Registration, ProviderError> {
        misbehave(&conn)?;
        unsupported("register-webhook")
    }
    fn remove_webhook(
        conn: Connection,
        _project: ProjectRef,
        _id: String,
    ) -> Result<(), ProviderError> {
        misbehave(&conn)
    }
    fn list_pipelines(
        conn: Connection,
        _project: ProjectRef,
        _above: Option<u64>,
        _limit: u32,
    ) -> Result<Vec<PipelineSummary>, ProviderError> {
        misbehave(&conn)?;
        Ok(vec![])
    }
    fn get_failure_details(
        conn: Connection,
        event: FailureEvent,
    ) -> Result<FailureDetails, ProviderError> {
        if hostile(&conn) {
            return Ok(hostile_failure(&conn, event));
        }
        misbehave(&conn)?;
        unsupported("get-failure-details")
    }
    fn extract_job_log(
        conn: Connection,
        _project: ProjectRef,
        job: Job,
    ) -> Result<LogSource, ProviderError> {
        if hostile(&conn) {
            return hostile_log(&job);
        }
        if option(&conn, "mode") == Some("emit-flood") {
            return emit_flood();
        }
        misbehave(&conn)?;
        unsupported("extract-job-log")
    }
}

bindings::export!(Misbehave with_types_in bindings);
