//! `extract-job-log`: GitFlic has no log endpoint (`…/log` and `…/trace` answer 404, PRACTICE);
//! a job's log is one of its artifacts. The artifact is streamed in 64 KiB reads, normalized
//! line by line (`exlogare-logtext`) and handed to the host's log sink in bounded chunks as it
//! goes, so guest memory stays flat whatever the log's size (a 200 MB log under a 64 MiB cap).

use exlogare_kit::http::{is_absolute, origin, resolve};
use exlogare_kit::logstream::{read_excerpt, stream};
// The streaming bounds are the kit's; GitFlic's callers and tests keep reaching them here.
pub use exlogare_kit::logstream::{CHUNK_MAX_LINES, CHUNK_MAX_TEXT, MAX_LINE_BYTES, READ_BYTES};

use crate::api::{
    Api, Page, header, is_under, parse_page, snippet, status_error, token, transport_error,
};
use crate::model::RestArtifact;
use crate::pipelines::check_project;
use crate::{
    Connection, Host, InvalidInput, Job, LogSource, Method, ProjectRef, ProviderError, Request,
};

/// The host never follows redirects; the plugin follows this many, each a new request that
/// the host checks against its egress policy again.
pub const MAX_REDIRECTS: usize = 3;

fn invalid(field: &str, message: String) -> ProviderError {
    ProviderError::InvalidInput(InvalidInput {
        field: field.into(),
        message,
    })
}

/// Which artifact holds the log, and on whose word.
fn choose(artifacts: &[RestArtifact]) -> Option<&RestArtifact> {
    // gitflic-api.md (PRACTICE): the job log is the artifact with `fileType: "trace"`.
    let trace = artifacts.iter().find(|a| {
        a.file_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("trace"))
    });
    // The announcement: "the failing job's primary .log artifact"; the first one listed.
    trace.or_else(|| {
        artifacts.iter().find(|a| {
            a.file_name
                .as_deref()
                .is_some_and(|n| n.to_ascii_lowercase().ends_with(".log"))
        })
    })
}

/// The artifact's `downloadUrl` (absolute, or relative to the REST base: PRACTICE), else the
/// documented-by-one-client path `…/cicd/job/{job}/artifact/{id}/download` (ONE CLIENT; it is
/// also the path the announcement names).
fn download_url(
    conn: &Connection,
    p: &ProjectRef,
    job: &str,
    a: &RestArtifact,
) -> Result<String, ProviderError> {
    let api_base = conn.api_base.trim_end_matches('/');
    if let Some(u) = a.download_url.as_deref() {
        if is_absolute(u) {
            return Ok(u.to_string());
        }
        // A path that already carries the REST base's own path (`/rest-api/…` on self-hosted)
        // hangs off the origin; any other path hangs off the REST base.
        let base_path = origin(api_base).map_or("", |o| &api_base[o.len()..]);
        return Ok(match origin(api_base) {
            Some(o)
                if u.starts_with('/')
                    && !base_path.is_empty()
                    && u.starts_with(&format!("{base_path}/")) =>
            {
                format!("{o}{u}")
            }
            _ => format!("{api_base}/{}", u.trim_start_matches('/')),
        });
    }
    let id = a.id.as_deref().ok_or_else(|| {
        invalid(
            "response",
            format!("the log artifact of job {job} has neither `downloadUrl` nor `id`"),
        )
    })?;
    Ok(crate::api::join_url(
        api_base,
        &[
            "project", &p.owner, &p.name, "cicd", "job", job, "artifact", id, "download",
        ],
        &[],
    ))
}

pub fn extract_job_log<H: Host>(
    host: &H,
    conn: &Connection,
    project: &ProjectRef,
    job: &Job,
) -> Result<LogSource, ProviderError> {
    check_project(project)?;
    let job_id = job.id.trim();
    if job_id.is_empty() {
        return Err(invalid(
            "job.id",
            "the job id (GitFlic localId) is empty".into(),
        ));
    }
    let where_ = format!(
        "job {job_id} ({}) of {}/{}",
        job.name, project.owner, project.name
    );
    let api = Api::new(host, conn);
    let list_url = api.url(
        &[
            "project",
            &project.owner,
            &project.name,
            "cicd",
            "job",
            job_id,
            "artifacts",
        ],
        &[],
    );
    let listed = api
        .get_json(list_url.clone(), token(), "job.id")
        .map_err(|e| match e {
            ProviderError::NotFound(m) => ProviderError::NotFound(format!(
                "{where_}: its artifacts are missing (expired or never kept): {m}"
            )),
            other => other,
        })?;
    let artifacts: Page<RestArtifact> = parse_page(
        listed,
        "restPipelineJobArtifactModelList",
        0,
        u32::MAX,
        &list_url,
    )?;
    if artifacts.items.is_empty() {
        return Err(ProviderError::NotFound(format!(
            "{where_} has no artifacts: its log expired or was never kept"
        )));
    }
    let Some(artifact) = choose(&artifacts.items) else {
        let names: Vec<&str> = artifacts
            .items
            .iter()
            .take(10)
            .map(|a| a.file_name.as_deref().unwrap_or("?"))
            .collect();
        return Err(ProviderError::NotFound(format!(
            "{where_} has no `trace` or `.log` artifact (it has: {})",
            names.join(", ")
        )));
    };
    let name = artifact
        .file_name
        .clone()
        .unwrap_or_else(|| format!("job-{job_id}.log"));
    let mut url = download_url(conn, project, job_id, artifact)?;

    for hop in 0..=MAX_REDIRECTS {
        // Credentials only to the REST base: a redirect to a storage host or a `downloadUrl`
        // elsewhere gets the request without them (and the host's policy decides if it may go).
        let req = Request {
            method: Method::Get,
            url: url.clone(),
            headers: Vec::new(),
            body: None,
            credential: if is_under(&url, &conn.api_base) {
                token()
            } else {
                None
            },
        };
        let (head, mut body) = host
            .send_streaming(&req)
            .map_err(|e| transport_error(Method::Get, &url, e))?;
        match head.status {
            200..=299 => {
                let (bytes, lines) = stream(host, &mut body, &url)?;
                return Ok(LogSource {
                    name,
                    url,
                    bytes,
                    lines,
                });
            }
            301 | 302 | 303 | 307 | 308 => {
                let next = header(&head.headers, "location").and_then(|l| resolve(&url, l.trim()));
                let Some(next) = next else {
                    return Err(invalid(
                        "response",
                        format!(
                            "GET {} answered {} without a usable Location",
                            crate::api::redact_query(&url),
                            head.status
                        ),
                    ));
                };
                if hop == MAX_REDIRECTS {
                    return Err(invalid(
                        "response",
                        format!(
                            "the log of {where_} is behind more than {MAX_REDIRECTS} redirects"
                        ),
                    ));
                }
                url = next;
            }
            status => {
                let excerpt = read_excerpt(&mut body);
                return Err(match status {
                    404 | 410 => ProviderError::NotFound(format!(
                        "the log artifact {name} of {where_} is gone (expired or deleted): GET {} answered {status}: {}",
                        crate::api::redact_query(&url),
                        snippet(&excerpt)
                    )),
                    _ => status_error(
                        Method::Get,
                        &url,
                        status,
                        &head.headers,
                        &excerpt,
                        "job.id",
                        host.now(),
                    ),
                });
            }
        }
    }
    unreachable!("the loop returns on its last hop")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{Body, FakeHost, conn};
    use crate::{HttpError, RunStatus, StepBoundary, StepEdge};
    use serde_json::json;

    const ARTIFACTS: &str = "https://api.gitflic.ru/project/acme/api/cicd/job/102/artifacts";

    fn project() -> ProjectRef {
        ProjectRef {
            owner: "acme".into(),
            name: "api".into(),
            id: None,
        }
    }

    fn job() -> Job {
        Job {
            id: "102".into(),
            name: "test".into(),
            stage: Some("test".into()),
            status: RunStatus::Failed,
            allow_failure: false,
            started_at: None,
            finished_at: None,
            web_url: None,
        }
    }

    fn artifacts(items: serde_json::Value) -> serde_json::Value {
        json!({"_embedded": {"restPipelineJobArtifactModelList": items}, "page": {"size": 20, "totalElements": 2, "totalPages": 1, "number": 0}})
    }

    fn lines_of(host: &FakeHost) -> Vec<(u64, String)> {
        host.emitted
            .borrow()
            .kept
            .iter()
            .flat_map(|c| c.lines.iter().map(|l| (l.source_line, l.text.clone())))
            .collect()
    }

    #[test]
    fn trace_artifact_is_preferred_and_normalized() {
        let host = FakeHost::new();
        host.on_json(Method::Get, ARTIFACTS, 200, artifacts(json!([
            {"id": "a1", "fileName": "report.log", "fileType": "archive", "downloadUrl": "https://api.gitflic.ru/dl/a1"},
            {"id": "a2", "fileName": "job.log", "fileType": "trace", "downloadUrl": "/project/acme/api/cicd/job/102/artifact/a2/download"}])));
        let log = "\x1b[0Ksection_start:1795168000:build\r\x1b[0K\x1b[1mBuilding\x1b[0m\n 10%\r 50%\r100% done\nerror[E0308]: mismatched types\x1b[0m\n\x1b[0Ksection_end:1795168000:build\r\x1b[0K\nlast line without newline";
        host.on(
            Method::Get,
            "https://api.gitflic.ru/project/acme/api/cicd/job/102/artifact/a2/download",
            200,
            log,
        );
        let src = extract_job_log(&host, &conn(), &project(), &job()).unwrap();
        assert_eq!(src.name, "job.log");
        assert_eq!(
            src.url,
            "https://api.gitflic.ru/project/acme/api/cicd/job/102/artifact/a2/download"
        );
        assert_eq!(src.bytes, log.len() as u64);
        assert_eq!(src.lines, 5);
        assert_eq!(
            lines_of(&host),
            vec![
                (1, "Building".into()),
                (2, "100% done".into()),
                (3, "error[E0308]: mismatched types".into()),
                (4, "".into()),
                (5, "last line without newline".into())
            ]
        );
        let steps = host.emitted.borrow().kept[0].steps.clone();
        assert_eq!(
            steps,
            vec![
                StepBoundary {
                    edge: StepEdge::Start,
                    name: "build".into(),
                    source_line: 1
                },
                StepBoundary {
                    edge: StepEdge::End,
                    name: "build".into(),
                    source_line: 4
                }
            ]
        );
        assert!(
            host.requests
                .borrow()
                .iter()
                .all(|r| r.credential == token())
        );
    }

    #[test]
    fn dot_log_fallback_and_documented_download_path() {
        let host = FakeHost::new();
        host.on_json(
            Method::Get,
            ARTIFACTS,
            200,
            artifacts(json!([
            {"id": "z", "fileName": "target.zip", "fileType": "archive"},
            {"id": "b7", "fileName": "build-output.LOG", "fileType": "archive"}])),
        );
        host.on(
            Method::Get,
            "https://api.gitflic.ru/project/acme/api/cicd/job/102/artifact/b7/download",
            200,
            "ok\n",
        );
        let src = extract_job_log(&host, &conn(), &project(), &job()).unwrap();
        assert_eq!((src.name.as_str(), src.lines), ("build-output.LOG", 1));
    }

    #[test]
    fn missing_artifacts_are_not_found() {
        let host = FakeHost::new();
        host.on_json(
            Method::Get,
            ARTIFACTS,
            200,
            json!({"page": {"size": 20, "totalElements": 0, "totalPages": 0, "number": 0}}),
        );
        assert!(
            matches!(extract_job_log(&host, &conn(), &project(), &job()), Err(ProviderError::NotFound(m)) if m.contains("expired"))
        );

        host.on_json(
            Method::Get,
            ARTIFACTS,
            200,
            artifacts(json!([{"id": "z", "fileName": "target.zip", "fileType": "archive"}])),
        );
        assert!(
            matches!(extract_job_log(&host, &conn(), &project(), &job()), Err(ProviderError::NotFound(m)) if m.contains("target.zip"))
        );

        host.on(Method::Get, ARTIFACTS, 404, r#"{"title":"Not Found"}"#);
        assert!(
            matches!(extract_job_log(&host, &conn(), &project(), &job()), Err(ProviderError::NotFound(m)) if m.contains("missing"))
        );

        host.on_json(
            Method::Get,
            ARTIFACTS,
            200,
            artifacts(json!([{"id": "t", "fileName": "job.log", "fileType": "trace"}])),
        );
        host.on(
            Method::Get,
            "https://api.gitflic.ru/project/acme/api/cicd/job/102/artifact/t/download",
            404,
            "Artifact file not found",
        );
        assert!(
            matches!(extract_job_log(&host, &conn(), &project(), &job()), Err(ProviderError::NotFound(m)) if m.contains("gone") && m.contains("Artifact file not found"))
        );
        assert_eq!(host.emitted.borrow().chunks, 0);
    }

    #[test]
    fn redirects_are_followed_without_credentials_elsewhere() {
        let host = FakeHost::new();
        host.on_json(Method::Get, ARTIFACTS, 200, artifacts(json!([{"id": "t", "fileName": "job.log", "fileType": "trace", "downloadUrl": "https://api.gitflic.ru/dl/t"}])));
        host.on_with(
            Method::Get,
            "https://api.gitflic.ru/dl/t",
            302,
            &[("Location", "/dl/t2")],
            Ok(Body::Bytes(Vec::new())),
        );
        host.on_with(
            Method::Get,
            "https://api.gitflic.ru/dl/t2",
            307,
            &[("location", "https://storage.gitflic.ru/b/t?sig=1")],
            Ok(Body::Bytes(Vec::new())),
        );
        host.on(
            Method::Get,
            "https://storage.gitflic.ru/b/t?sig=1",
            200,
            "x\n",
        );
        let src = extract_job_log(&host, &conn(), &project(), &job()).unwrap();
        assert_eq!(src.url, "https://storage.gitflic.ru/b/t?sig=1");
        let creds: Vec<_> = host
            .requests
            .borrow()
            .iter()
            .map(|r| r.credential.is_some())
            .collect();
        assert_eq!(creds, [true, true, true, false]);

        let host = FakeHost::new();
        host.on_json(Method::Get, ARTIFACTS, 200, artifacts(json!([{"id": "t", "fileName": "job.log", "fileType": "trace", "downloadUrl": "https://api.gitflic.ru/loop"}])));
        for _ in 0..=MAX_REDIRECTS {
            host.on_with(
                Method::Get,
                "https://api.gitflic.ru/loop",
                302,
                &[("Location", "/loop")],
                Ok(Body::Bytes(Vec::new())),
            );
        }
        assert!(
            matches!(extract_job_log(&host, &conn(), &project(), &job()), Err(ProviderError::InvalidInput(i)) if i.message.contains("redirects"))
        );
        assert_eq!(host.requests.borrow().len(), 1 + 1 + MAX_REDIRECTS);
    }

    #[test]
    fn relative_download_urls_on_a_self_hosted_base() {
        let mut c = conn();
        c.api_base = "https://git.example.com/rest-api".into();
        let a = |u: &str| RestArtifact {
            id: Some("i".into()),
            download_url: Some(u.into()),
            ..Default::default()
        };
        assert_eq!(
            download_url(&c, &project(), "1", &a("/rest-api/project/x/download")).unwrap(),
            "https://git.example.com/rest-api/project/x/download"
        );
        assert_eq!(
            download_url(&c, &project(), "1", &a("/project/x/download")).unwrap(),
            "https://git.example.com/rest-api/project/x/download"
        );
        assert_eq!(
            download_url(&c, &project(), "1", &a("project/x")).unwrap(),
            "https://git.example.com/rest-api/project/x"
        );
    }

    #[test]
    fn sandbox_refusals_and_sink_refusals_are_denied() {
        let host = FakeHost::new();
        host.on_json(Method::Get, ARTIFACTS, 200, artifacts(json!([{"id": "t", "fileName": "job.log", "fileType": "trace", "downloadUrl": "https://evil.example/x"}])));
        host.on_with(
            Method::Get,
            "https://evil.example/x",
            0,
            &[],
            Err(HttpError::Denied("origin not allowed".into())),
        );
        assert!(
            matches!(extract_job_log(&host, &conn(), &project(), &job()), Err(ProviderError::Denied(m)) if m.contains("origin not allowed"))
        );
        assert_eq!(host.requests.borrow()[1].credential, None);

        let mut host = FakeHost::new();
        host.keep_chunks = false;
        host.fail_emit_at = Some(2);
        host.on_json(
            Method::Get,
            ARTIFACTS,
            200,
            artifacts(json!([{"id": "t", "fileName": "job.log", "fileType": "trace"}])),
        );
        host.on_with(
            Method::Get,
            "https://api.gitflic.ru/project/acme/api/cicd/job/102/artifact/t/download",
            200,
            &[],
            Ok(Body::Generated(10 << 20)),
        );
        let err = extract_job_log(&host, &conn(), &project(), &job()).unwrap_err();
        assert!(
            matches!(err, ProviderError::Denied(ref m) if m.contains("after 4000 lines")),
            "{err:?}"
        );
    }

    #[test]
    fn streaming_stays_bounded() {
        let mut host = FakeHost::new();
        host.keep_chunks = false;
        let total: u64 = 64_000_000; // whole 100-byte lines
        host.on_json(
            Method::Get,
            ARTIFACTS,
            200,
            artifacts(json!([{"id": "t", "fileName": "job.log", "fileType": "trace"}])),
        );
        host.on_with(
            Method::Get,
            "https://api.gitflic.ru/project/acme/api/cicd/job/102/artifact/t/download",
            200,
            &[],
            Ok(Body::Generated(total)),
        );
        let before = exlogare_kit::testing::alloc::reset_peak();
        let src = extract_job_log(&host, &conn(), &project(), &job()).unwrap();
        let peak = exlogare_kit::testing::alloc::peak_since(before);
        assert_eq!(src.bytes, total);
        assert_eq!(src.lines, total / 100);
        let s = host.emitted.borrow();
        assert_eq!(s.lines, total / 100);
        assert!(s.max_chunk_lines <= CHUNK_MAX_LINES && s.max_chunk_text <= CHUNK_MAX_TEXT);
        assert!(host.max_read.get() <= READ_BYTES);
        // 64 MB went through; the heap above the starting point stayed within a few chunks.
        assert!(peak < 4 << 20, "peak heap growth {peak} bytes");
    }
}
