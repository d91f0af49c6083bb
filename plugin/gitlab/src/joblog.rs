//! `extract-job-log`: `GET /projects/:id/jobs/:job_id/trace`, the whole raw log as text (ref §7),
//! streamed through the kit's `logstream` (64 KiB reads, normalized by `exlogare-logtext`, which
//! already reads GitLab's `section_start`/`section_end` markers and ANSI) into the host's sink,
//! so a 100 MB log never sits whole in guest memory.
//!
//! GitLab's docs fetch the trace with `curl --location` (object storage may serve it), and the
//! host never follows redirects, so the plugin does: each hop is a new request the host checks
//! again, with the credential only while the URL stays under the REST root.

use exlogare_kit::http::{
    header, is_under, redact_query, resolve, snippet, status_error, transport_error,
};
use exlogare_kit::invalid_input as invalid;
use exlogare_kit::logstream::{read_excerpt, stream};

use crate::api::{Api, bearer, project_id};
use crate::{Connection, Host, Job, LogSource, Method, ProjectRef, ProviderError, Request};

pub const MAX_REDIRECTS: usize = 3;

pub fn extract_job_log<H: Host>(
    host: &H,
    conn: &Connection,
    project: &ProjectRef,
    job: &Job,
) -> Result<LogSource, ProviderError> {
    let pid = project_id(project)?;
    let job_id = job.id.trim();
    if job_id.is_empty() || !job_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(
            "job.id",
            format!("`{job_id}` is not a GitLab job id (a number)"),
        ));
    }
    let where_ = format!(
        "job {job_id} ({}) of {}/{}",
        job.name, project.owner, project.name
    );
    let mut url = Api::new(host, conn).url(&["projects", &pid, "jobs", job_id, "trace"], &[]);
    for hop in 0..=MAX_REDIRECTS {
        let req = Request {
            method: Method::Get,
            url: url.clone(),
            headers: vec![("accept".into(), "text/plain".into())],
            body: None,
            credential: if is_under(&url, &conn.api_base) {
                bearer()
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
                    name: format!("{job_id}.log"),
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
                            redact_query(&url),
                            head.status
                        ),
                    ));
                };
                if hop == MAX_REDIRECTS {
                    return Err(ProviderError::Transient(format!(
                        "the log of {where_} is more than {MAX_REDIRECTS} redirects away"
                    )));
                }
                url = next;
            }
            404 => {
                let excerpt = read_excerpt(&mut body);
                return Err(ProviderError::NotFound(format!(
                    "the log of {where_} is missing: GitLab answers 404 for a job without a log (erased or expired) or one the token cannot see: {}",
                    snippet(&excerpt)
                )));
            }
            status => {
                let excerpt = read_excerpt(&mut body);
                return Err(status_error(
                    Method::Get,
                    &url,
                    status,
                    &head.headers,
                    &excerpt,
                    "job.id",
                    host.now(),
                ));
            }
        }
    }
    unreachable!("the loop returns on its last hop")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{Body, FakeHost, conn};
    use crate::{RateLimit, RunStatus};

    const TRACE: &str = "https://gitlab.com/api/v4/projects/1/jobs/7/trace";

    fn project() -> ProjectRef {
        ProjectRef {
            owner: "gitlab-org".into(),
            name: "gitlab-test".into(),
            id: Some("1".into()),
        }
    }

    fn job(id: &str) -> Job {
        Job {
            id: id.into(),
            name: "rspec".into(),
            stage: None,
            status: RunStatus::Failed,
            allow_failure: false,
            started_at: None,
            finished_at: None,
            web_url: None,
        }
    }

    #[test]
    fn the_trace_is_streamed_with_its_sections() {
        let host = FakeHost::new();
        let log = "\x1b[0Ksection_start:1560896352:prepare_script\r\x1b[0KPreparing environment\nRunning on runner-1\n\x1b[0Ksection_end:1560896353:prepare_script\r\x1b[0K\n\x1b[31;1mERROR: Job failed: exit code 1\x1b[0;m\n";
        host.on(Method::Get, TRACE, 200, log);
        let src = extract_job_log(&host, &conn(), &project(), &job("7")).unwrap();
        assert_eq!(
            (src.name.as_str(), src.url.as_str(), src.bytes, src.lines),
            ("7.log", TRACE, log.len() as u64, 4)
        );
        let e = host.emitted.borrow();
        assert_eq!(e.kept[0].steps.len(), 2);
        assert_eq!(e.kept[0].lines[3].text, "ERROR: Job failed: exit code 1");
        assert_eq!(host.requests.borrow()[0].credential, bearer());
    }

    #[test]
    fn a_huge_trace_stays_in_bounded_memory() {
        let mut host = FakeHost::new();
        host.keep_chunks = false;
        host.on_with(
            Method::Get,
            TRACE,
            200,
            &[],
            Ok(Body::Generated(50_000_000)),
        );
        let before = exlogare_kit::testing::alloc::reset_peak();
        let src = extract_job_log(&host, &conn(), &project(), &job("7")).unwrap();
        assert_eq!(src.lines, 500_000);
        assert!(exlogare_kit::testing::alloc::peak_since(before) < 4 << 20);
    }

    #[test]
    fn errors_are_typed() {
        let host = FakeHost::new();
        host.on(Method::Get, TRACE, 404, r#"{"message":"404 Not found"}"#);
        assert!(
            matches!(extract_job_log(&host, &conn(), &project(), &job("7")), Err(ProviderError::NotFound(m)) if m.contains("job 7 (rspec) of gitlab-org/gitlab-test") && m.contains("404 Not found"))
        );
        host.on_with(
            Method::Get,
            TRACE,
            429,
            &[("Retry-After", "30")],
            Ok(Body::Bytes(b"Retry later".to_vec())),
        );
        assert!(matches!(
            extract_job_log(&host, &conn(), &project(), &job("7")),
            Err(ProviderError::RateLimited(RateLimit {
                retry_after_secs: Some(30),
                ..
            }))
        ));
        host.on(Method::Get, TRACE, 401, r#"{"message":"401 Unauthorized"}"#);
        assert!(matches!(
            extract_job_log(&host, &conn(), &project(), &job("7")),
            Err(ProviderError::CredentialsRejected(_))
        ));
        host.on(Method::Get, TRACE, 502, "<html>Bad Gateway</html>");
        assert!(matches!(
            extract_job_log(&host, &conn(), &project(), &job("7")),
            Err(ProviderError::Transient(_))
        ));
        assert!(
            matches!(extract_job_log(&host, &conn(), &project(), &job("x7")), Err(ProviderError::InvalidInput(i)) if i.field == "job.id")
        );
    }

    #[test]
    fn a_redirect_to_storage_goes_without_the_credential() {
        let host = FakeHost::new();
        host.on_with(
            Method::Get,
            TRACE,
            302,
            &[(
                "Location",
                "https://storage.example.com/traces/7.log?sig=abc",
            )],
            Ok(Body::Bytes(Vec::new())),
        );
        host.on(
            Method::Get,
            "https://storage.example.com/traces/7.log?sig=abc",
            200,
            "line\n",
        );
        let src = extract_job_log(&host, &conn(), &project(), &job("7")).unwrap();
        assert_eq!(src.lines, 1);
        let reqs = host.requests.borrow();
        assert_eq!(
            (reqs[0].credential.clone(), reqs[1].credential.clone()),
            (bearer(), None)
        );
    }
}
