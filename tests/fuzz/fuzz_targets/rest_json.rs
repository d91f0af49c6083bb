//! GitFlic's REST JSON as the plugin reads it. The first byte chooses an entry point and how the
//! fake server answers; the rest is the body of every answer. Each public operation runs end
//! to end on that body (list pages, the lenient models, timestamps, token responses, the
//! artifact list and the streamed log, error mapping with `Retry-After`), and the pure parse
//! functions run on it directly. Nothing may panic; a bad body is an error, never a crash.
#![no_main]

use exlogare_gitflic::api::{parse_json, parse_page, retry_after_secs, snippet, status_error};
use exlogare_gitflic::model::{
    RestArtifact, RestJob, RestPipeline, RestProject, RestUser, RestWebhook, timestamp,
};
use exlogare_gitflic::{
    BodyReader, Connection, FailureEvent, Host, HttpError, Job, Level, LogChunk, Method,
    PipelineRef, ProjectRef, Request, Response, ResponseHead, RunStatus, Timestamp, WebhookSpec,
};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// 2026-11-20T10:00:00Z, the fixtures' "now".
const NOW: Timestamp = 1_795_168_800_000;

struct Server<'a> {
    body: &'a [u8],
    /// Plain requests answer 429 with the body's first line as `Retry-After`.
    rate_limited: bool,
    /// Streamed downloads answer 302 to the body's first line.
    redirect: bool,
}

impl Server<'_> {
    fn first_line(&self) -> String {
        let line = self.body.split(|&b| b == b'\n').next().unwrap_or_default();
        String::from_utf8_lossy(line).into_owned()
    }
}

struct Stream<'a> {
    rest: &'a [u8],
}

impl BodyReader for Stream<'_> {
    fn read(&mut self, max: u32) -> Result<Option<Vec<u8>>, HttpError> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        // Odd sizes, so reads end inside UTF-8 characters and CRLFs.
        let n = (max as usize).min(self.rest.len()).min(7 + self.rest.len() % 13);
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(Some(head.to_vec()))
    }
}

impl<'a> Host for Server<'a> {
    type Body = Stream<'a>;

    fn send(&self, _req: &Request) -> Result<Response, HttpError> {
        if self.rate_limited {
            return Ok(Response {
                status: 429,
                headers: vec![("retry-after".into(), self.first_line())],
                body: self.body.to_vec(),
            });
        }
        Ok(Response { status: 200, headers: vec![("content-type".into(), "application/json".into())], body: self.body.to_vec() })
    }

    fn send_streaming(&self, _req: &Request) -> Result<(ResponseHead, Stream<'a>), HttpError> {
        let head = if self.redirect {
            ResponseHead { status: 302, headers: vec![("location".into(), self.first_line())] }
        } else {
            ResponseHead { status: 200, headers: Vec::new() }
        };
        Ok((head, Stream { rest: self.body }))
    }

    fn log(&self, _level: Level, _message: &str) {}

    fn now(&self) -> Timestamp {
        NOW
    }

    fn emit(&self, _chunk: &LogChunk) -> Result<(), String> {
        Ok(())
    }
}

fn project() -> ProjectRef {
    ProjectRef { owner: "acme".into(), name: "payments-api".into(), id: None }
}

/// The pure parse functions on the body as it is.
fn parse_directly(body: &[u8]) {
    let _ = snippet(body);
    let _ = retry_after_secs(std::str::from_utf8(body).ok(), NOW);
    let Ok(value) = parse_json(body, Method::Get, "https://api.gitflic.ru/project?page=0") else { return };
    let url = "https://api.gitflic.ru/x";
    let _ = parse_page::<RestPipeline>(value.clone(), "restPipelineModelList", 0, 10, url);
    let _ = parse_page::<RestJob>(value.clone(), "restPipelineJobModelList", 1, 10, url);
    let _ = parse_page::<RestArtifact>(value.clone(), "restPipelineJobArtifactModelList", 0, u32::MAX, url);
    let _ = parse_page::<RestProject>(value.clone(), "projectList", 3, 10, url);
    let _ = parse_page::<RestUser>(value.clone(), "userList", 0, 0, url);
    if let Ok(Some(w)) = parse_page::<RestWebhook>(value.clone(), "webhookList", 0, 10, url).map(|p| p.items.into_iter().next()) {
        let _ = w.event_names();
    }
    if let Ok(p) = serde_json::from_value::<RestProject>(value.clone()) {
        let _ = p.owner_alias();
    }
    let _ = exlogare_gitflic::oauth::token_set(&value, NOW, 3 * 3600);
    let mut stack = vec![&value];
    while let Some(v) = stack.pop() {
        let _ = timestamp(v, 3 * 3600);
        let _ = timestamp(v, -12 * 3600);
        match v {
            Value::Array(a) => stack.extend(a),
            Value::Object(o) => stack.extend(o.values()),
            _ => {}
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else { return };
    parse_directly(body);
    let server = Server { body, rate_limited: sel & 0x10 != 0, redirect: sel & 0x20 != 0 };
    let conn = Connection {
        web_base: "https://gitflic.ru".into(),
        api_base: "https://api.gitflic.ru".into(),
        oauth_base: "https://oauth.gitflic.ru".into(),
        options: Vec::new(),
    };
    let p = project();
    match sel & 0x0f {
        0 => drop(exlogare_gitflic::pipelines::list_pipelines(&server, &conn, &p, None, 20)),
        1 => drop(exlogare_gitflic::pipelines::list_pipelines(&server, &conn, &p, Some(3), 100)),
        2 | 3 | 4 => {
            let event = FailureEvent {
                project: p,
                pipeline: match sel & 0x0f {
                    2 => PipelineRef { id: None, number: Some(1287) },
                    3 => PipelineRef { id: Some("9b1c2d3e".into()), number: None },
                    _ => PipelineRef { id: None, number: None },
                },
                event: if sel & 0x40 != 0 { "PIPELINE_WARNING" } else { "PIPELINE_FAIL" }.into(),
                git_ref: None,
                commit_sha: None,
            };
            drop(exlogare_gitflic::failure::get_failure_details(&server, &conn, &event));
        }
        5 => drop(exlogare_gitflic::hooks::list_webhooks(&server, &conn, &p)),
        6 => {
            let spec = WebhookSpec {
                url: "https://exlogare.example/hooks/gitflic/acc".into(),
                secret: "wh-3f9a1c".into(),
                events: Vec::new(),
            };
            drop(exlogare_gitflic::hooks::register_webhook(&server, &conn, &p, &spec));
        }
        7 => drop(exlogare_gitflic::projects::list_projects(&server, &conn, Some("api"), None)),
        8 => drop(exlogare_gitflic::projects::list_projects(&server, &conn, None, Some("shared:2"))),
        9 => drop(exlogare_gitflic::oauth::current_user(&server, &conn)),
        10 => drop(exlogare_gitflic::oauth::exchange_code(&server, &conn, "code")),
        11 => drop(exlogare_gitflic::oauth::refresh_token(&server, &conn, "r1")),
        12 | 13 => {
            let job = Job {
                id: "5521".into(),
                name: "build".into(),
                stage: Some("build".into()),
                status: RunStatus::Failed,
                allow_failure: false,
                started_at: None,
                finished_at: None,
                web_url: None,
            };
            drop(exlogare_gitflic::joblog::extract_job_log(&server, &conn, &p, &job));
        }
        _ => {
            let status = 100 + u16::from(sel) * 3;
            let headers = vec![("retry-after".into(), server.first_line())];
            drop(status_error(Method::Get, "https://api.gitflic.ru/x?secret=1", status, &headers, body, "project", NOW));
        }
    }
});
