//! `get-failure-details` (`GET /projects/{owner}/{name}/pipelines/{number}`, jobs included) and
//! `extract-job-log` (`GET /projects/{owner}/{name}/jobs/{id}/log`, streamed into the host's log
//! sink by the kit's `logstream`, so a log of any size never sits whole in guest memory).

use exlogare_kit::http::{Api, join_url, status_error, transport_error};
use exlogare_kit::invalid_input as invalid;
use exlogare_kit::logstream::{read_excerpt, stream};

use crate::model::{ApiPipeline, read};
use crate::{
    Connection, FailureDetails, FailureEvent, Host, Job, LogSource, Method, Pipeline, ProjectRef,
    ProviderError, Request, RunStatus, bearer, project_path,
};

pub fn get_failure_details<H: Host>(
    host: &H,
    conn: &Connection,
    event: &FailureEvent,
) -> Result<FailureDetails, ProviderError> {
    let (owner, name) = project_path(&event.project)?;
    let number = event.pipeline.number.ok_or_else(|| {
        invalid(
            "event.pipeline.number",
            "__DISPLAY__ finds a pipeline by its number, and the event has none",
        )
    })?;
    let n = number.to_string();
    let api = Api::new(host, conn);
    let url = api.url(&["projects", owner, name, "pipelines", &n], &[]);
    let pl: ApiPipeline = read(
        api.get_json(url, bearer(), "event.pipeline")?,
        &format!("pipeline #{n}"),
    )?;
    let status = pl.status();
    // Allowed failures did not fail the pipeline, unless it passed with warnings: then they are
    // all it has to show.
    let failed_jobs: Vec<Job> = pl
        .jobs()
        .into_iter()
        .filter(|j| j.status == RunStatus::Failed)
        .filter(|j| status == RunStatus::Warning || !j.allow_failure)
        .collect();
    let deep_link = join_url(&conn.web_base, &[owner, name, "pipelines", &n], &[]);
    let mut reference = pl.reference();
    reference.number = Some(number);
    reference.id = reference.id.or_else(|| event.pipeline.id.clone());
    Ok(FailureDetails {
        pipeline: Pipeline {
            project: event.project.clone(),
            reference,
            status,
            git_ref: pl.git_ref.clone().or_else(|| event.git_ref.clone()),
            commit_sha: pl.sha.clone().or_else(|| event.commit_sha.clone()),
            source: pl.source.clone(),
            created_at: exlogare_kit::json::timestamp(&pl.created_at, 0),
            finished_at: exlogare_kit::json::timestamp(&pl.finished_at, 0),
            web_url: deep_link.clone(),
        },
        failed_jobs,
        deep_link,
    })
}

pub fn extract_job_log<H: Host>(
    host: &H,
    conn: &Connection,
    project: &ProjectRef,
    job: &Job,
) -> Result<LogSource, ProviderError> {
    let (owner, name) = project_path(project)?;
    let id = job.id.trim();
    if id.is_empty() {
        return Err(invalid("job.id", "the job has no id"));
    }
    let url = Api::new(host, conn).url(&["projects", owner, name, "jobs", id, "log"], &[]);
    let req = Request {
        method: Method::Get,
        url: url.clone(),
        headers: vec![("accept".into(), "text/plain".into())],
        body: None,
        credential: bearer(),
    };
    let (head, mut body) = host
        .send_streaming(&req)
        .map_err(|e| transport_error(Method::Get, &url, e))?;
    if !(200..300).contains(&head.status) {
        // 404: the log expired or the job is gone; the kit maps every status to its typed error.
        let excerpt = read_excerpt(&mut body);
        return Err(status_error(
            Method::Get,
            &url,
            head.status,
            &head.headers,
            &excerpt,
            "job.id",
            host.now(),
        ));
    }
    let (bytes, lines) = stream(host, &mut body, &url)?;
    Ok(LogSource {
        name: format!("job {id} log"),
        url,
        bytes,
        lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PipelineRef;
    use exlogare_kit::testing::{Body, FakeHost};

    const PIPELINE: &str = "https://ci.example.com/api/v1/projects/example/widgets/pipelines/42";
    const LOG: &str = "https://ci.example.com/api/v1/projects/example/widgets/jobs/301/log";

    fn conn() -> Connection {
        crate::endpoints::defaults("https://ci.example.com").unwrap()
    }

    fn event() -> FailureEvent {
        FailureEvent {
            project: ProjectRef {
                owner: "example".into(),
                name: "widgets".into(),
                id: None,
            },
            pipeline: PipelineRef {
                id: None,
                number: Some(42),
            },
            event: "pipeline_failed".into(),
            git_ref: Some("main".into()),
            commit_sha: None,
        }
    }

    #[test]
    fn the_failed_jobs_of_a_pipeline_without_allowed_failures() {
        let host = FakeHost::new();
        host.on_json(
            Method::Get,
            PIPELINE,
            200,
            serde_json::json!({"id": 9042, "number": 42, "status": "failed", "ref": "main",
                "created_at": "2026-11-20T09:50:00Z", "jobs": [
                {"id": 300, "name": "lint", "status": "success"},
                {"id": 301, "name": "test", "stage": "test", "status": "failed"},
                {"id": 302, "name": "flaky", "status": "failed", "allow_failure": "true"}]}),
        );
        let d = get_failure_details(&host, &conn(), &event()).unwrap();
        assert_eq!(d.pipeline.status, RunStatus::Failed);
        assert_eq!(d.pipeline.reference.id.as_deref(), Some("9042"));
        let ids: Vec<&str> = d.failed_jobs.iter().map(|j| j.id.as_str()).collect();
        assert_eq!(ids, ["301"]);
        assert_eq!(
            d.deep_link,
            "https://ci.example.com/example/widgets/pipelines/42"
        );
        assert_eq!(host.requests.borrow()[0].credential, bearer());
    }

    #[test]
    fn errors_come_back_typed() {
        let host = FakeHost::new();
        host.on(Method::Get, PIPELINE, 401, r#"{"message":"bad token"}"#);
        let e = get_failure_details(&host, &conn(), &event()).unwrap_err();
        assert!(matches!(e, ProviderError::CredentialsRejected(_)), "{e:?}");
        host.on(Method::Get, LOG, 404, "expired");
        let job = Job {
            id: "301".into(),
            name: "test".into(),
            stage: None,
            status: RunStatus::Failed,
            allow_failure: false,
            started_at: None,
            finished_at: None,
            web_url: None,
        };
        let e = extract_job_log(&host, &conn(), &event().project, &job).unwrap_err();
        assert!(matches!(e, ProviderError::NotFound(_)), "{e:?}");
    }

    #[test]
    fn a_log_is_streamed_into_the_sink() {
        let host = FakeHost::new();
        host.on_with(Method::Get, LOG, 200, &[], Ok(Body::Generated(3_000_000)));
        let job = Job {
            id: "301".into(),
            name: "test".into(),
            stage: None,
            status: RunStatus::Failed,
            allow_failure: false,
            started_at: None,
            finished_at: None,
            web_url: None,
        };
        let src = extract_job_log(&host, &conn(), &event().project, &job).unwrap();
        assert_eq!(src.bytes, 3_000_000);
        assert_eq!(host.emitted.borrow().lines, src.lines);
        assert!(host.emitted.borrow().chunks > 1);
    }
}
