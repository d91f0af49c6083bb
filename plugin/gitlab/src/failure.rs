//! `get-failure-details`: the pipeline (`GET /projects/:id/pipelines/:pipeline_id`), the jobs
//! that failed it (`GET …/pipelines/:pipeline_id/jobs?scope[]=failed&include_retried=false`,
//! paged), and the link a person follows (ref §6, §10).

use serde_json::Value;

use exlogare_kit::invalid_input as invalid;

use crate::api::{Api, bearer, get_list, project_id};
use crate::model::{GlBridge, GlJob, GlPipeline, run_status, timestamp};
use crate::{
    Connection, FailureDetails, FailureEvent, Host, Job, Pipeline, PipelineRef, ProjectRef,
    ProviderError, RunStatus,
};

/// Jobs per page, GitLab's maximum (ref §5).
const JOB_PAGE_SIZE: u32 = 100;
/// A pipeline with more than 500 failed jobs is reported by its first 500.
const JOB_PAGES: u32 = 5;
/// Pages of 100 searched for a pipeline known only by its `iid` (GitLab has no `iid` filter,
/// ref §6): the newest 1000 pipelines of the project.
const IID_PAGES: u32 = 10;

pub fn get_failure_details<H: Host>(
    host: &H,
    conn: &Connection,
    event: &FailureEvent,
) -> Result<FailureDetails, ProviderError> {
    let project = &event.project;
    let pid = project_id(project)?;
    let api = Api::new(host, conn);
    let global_id = match event.pipeline.id.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(id) => Some(id.parse::<u64>().map_err(|_| {
            invalid(
                "event.pipeline.id",
                format!("`{id}` is not a GitLab pipeline id (a number)"),
            )
        })?),
    };
    let pl: GlPipeline = match (global_id, event.pipeline.number) {
        (Some(id), _) => by_id(&api, &pid, project, id)?,
        (None, Some(iid)) => by_iid(&api, &pid, project, iid)?,
        (None, None) => newest_failed(&api, &pid, project)?,
    };
    let id = pl.id.ok_or_else(|| {
        invalid(
            "response",
            format!("a pipeline of {} has no `id`", shown(project)),
        )
    })?;
    let status = run_status(pl.status.as_deref(), &pl.detailed_status);
    let jobs = failed_jobs(&api, &pid, id)?;
    // Allowed failures did not fail the pipeline and are left out, unless the pipeline passed
    // with warnings: then they are all it has to show.
    let include_allowed = status == RunStatus::Warning;
    let failed_jobs: Vec<Job> = jobs
        .into_iter()
        .filter(|j| run_status(j.status.as_deref(), &Value::Null) == RunStatus::Failed)
        .filter(|j| include_allowed || !j.allow_failure.unwrap_or(false))
        .filter_map(to_job)
        .collect();
    let failed_jobs = if failed_jobs.is_empty() && status == RunStatus::Failed {
        downstream_failures(&api, &pid, project, pl.project_id, id)?
    } else {
        failed_jobs
    };
    let deep_link = pipeline_url(&conn.web_base, project, id);
    let mut project_ref = project.clone();
    if project_ref.id.is_none() {
        // Addressed by its path: GitLab's answer names the numeric id later calls prefer.
        project_ref.id = pl.project_id.map(|n| n.to_string());
    }
    Ok(FailureDetails {
        pipeline: Pipeline {
            project: project_ref,
            reference: PipelineRef {
                id: Some(id.to_string()),
                number: pl.iid.or(event.pipeline.number),
            },
            status,
            git_ref: pl.git_ref.clone().or_else(|| event.git_ref.clone()),
            commit_sha: pl.sha.clone().or_else(|| event.commit_sha.clone()),
            source: pl.source.clone(),
            created_at: timestamp(&pl.created_at),
            finished_at: timestamp(&pl.finished_at),
            web_url: deep_link.clone(),
        },
        failed_jobs,
        deep_link,
    })
}

/// `{web}/{namespace}/{project}/-/pipelines/{id}` (ref §10), built from the connection's web
/// root rather than GitLab's `web_url`, which carries the instance's `external_url` and may name
/// a host the users do not reach (ref §5).
pub fn pipeline_url(web_base: &str, project: &ProjectRef, id: u64) -> String {
    let id = id.to_string();
    let mut segments: Vec<&str> = project.owner.split('/').filter(|s| !s.is_empty()).collect();
    segments.push(&project.name);
    segments.extend(["-", "pipelines", &id]);
    crate::api::join_url(web_base, &segments, &[])
}

fn shown(p: &ProjectRef) -> String {
    if p.owner.is_empty() && p.name.is_empty() {
        format!("project {}", p.id.as_deref().unwrap_or("?"))
    } else {
        format!("{}/{}", p.owner, p.name)
    }
}

fn read<T: serde::de::DeserializeOwned>(v: Value, what: &str) -> Result<T, ProviderError> {
    serde_json::from_value(v).map_err(|e| {
        invalid(
            "response",
            format!("{what} is not a GitLab object of the expected shape: {e}"),
        )
    })
}

fn by_id<H: Host>(
    api: &Api<H>,
    pid: &str,
    project: &ProjectRef,
    id: u64,
) -> Result<GlPipeline, ProviderError> {
    let url = api.url(&["projects", pid, "pipelines", &id.to_string()], &[]);
    let v = api
        .get_json(url, bearer(), "event.pipeline")
        .map_err(|e| match e {
            ProviderError::NotFound(m) => ProviderError::NotFound(format!(
                "pipeline {id} of {} is gone (deleted), or the token cannot see the project: {m}",
                shown(project)
            )),
            other => other,
        })?;
    read(v, &format!("pipeline {id}"))
}

fn by_iid<H: Host>(
    api: &Api<H>,
    pid: &str,
    project: &ProjectRef,
    iid: u64,
) -> Result<GlPipeline, ProviderError> {
    let mut page = 1;
    for _ in 0..IID_PAGES {
        let listed = get_list(
            api,
            &["projects", pid, "pipelines"],
            &[("order_by", "id"), ("sort", "desc")],
            page,
            100,
            "event.pipeline",
        )?;
        let pipelines: Vec<GlPipeline> = listed.page.typed(&api.conn.api_base)?.items;
        if let Some(pl) = pipelines.iter().position(|p| p.iid == Some(iid)) {
            return Ok(pipelines.into_iter().nth(pl).expect("found above"));
        }
        // Newest first: once the list is below the number, the pipeline is not in it.
        if pipelines.iter().any(|p| p.iid.is_some_and(|n| n < iid)) {
            break;
        }
        match listed.next {
            Some(next) => page = next,
            None => break,
        }
    }
    Err(ProviderError::NotFound(format!(
        "pipeline #{iid} of {} is not among its newest pipelines",
        shown(project)
    )))
}

fn newest_failed<H: Host>(
    api: &Api<H>,
    pid: &str,
    project: &ProjectRef,
) -> Result<GlPipeline, ProviderError> {
    let listed = get_list(
        api,
        &["projects", pid, "pipelines"],
        &[("status", "failed"), ("order_by", "id"), ("sort", "desc")],
        1,
        1,
        "event.pipeline",
    )?;
    listed
        .page
        .typed::<GlPipeline>(&api.conn.api_base)?
        .items
        .into_iter()
        .next()
        .ok_or_else(|| {
            ProviderError::NotFound(format!("{} has no failed pipeline", shown(project)))
        })
}

fn failed_jobs<H: Host>(api: &Api<H>, pid: &str, id: u64) -> Result<Vec<GlJob>, ProviderError> {
    let id = id.to_string();
    let mut all = Vec::new();
    let mut page = 1;
    for _ in 0..JOB_PAGES {
        let listed = get_list(
            api,
            &["projects", pid, "pipelines", &id, "jobs"],
            // The latest attempt of each job only: a retried-and-passed job is not a failure.
            &[("scope[]", "failed"), ("include_retried", "false")],
            page,
            JOB_PAGE_SIZE,
            "event.pipeline",
        )?;
        all.extend(listed.page.typed::<GlJob>(&api.conn.api_base)?.items);
        match listed.next {
            Some(next) => page = next,
            None => return Ok(all),
        }
    }
    api.host.log(
        crate::Level::Warn,
        &format!("failed jobs of pipeline {id}: stopped after {JOB_PAGES} pages"),
    );
    Ok(all)
}

/// Trigger jobs followed for a pipeline that failed in its child pipelines.
const MAX_BRIDGES: usize = 5;

/// A pipeline that failed with no failed job of its own failed in a downstream pipeline: its
/// failed trigger job (a bridge) started a child pipeline whose jobs failed (ref §6: bridges are
/// not in the job list, and `downstream_pipeline.id` is where the jobs are). The failed jobs of
/// each failed child of the same project are this pipeline's failed jobs, so their logs are read
/// under the same project. A downstream pipeline of another project is left out (its jobs' logs
/// are under that project, which the failure does not name), and so is a grandchild.
fn downstream_failures<H: Host>(
    api: &Api<H>,
    pid: &str,
    project: &ProjectRef,
    project_id: Option<u64>,
    id: u64,
) -> Result<Vec<Job>, ProviderError> {
    let listed = get_list(
        api,
        &["projects", pid, "pipelines", &id.to_string(), "bridges"],
        &[("scope[]", "failed")],
        1,
        100,
        "event.pipeline",
    )?;
    let bridges = listed.page.typed::<GlBridge>(&api.conn.api_base)?.items;
    let own_path = format!("/{}/{}/-/pipelines/", project.owner, project.name);
    let mut jobs = Vec::new();
    for b in bridges
        .iter()
        .filter(|b| run_status(b.status.as_deref(), &Value::Null) == RunStatus::Failed)
        .filter(|b| !b.allow_failure.unwrap_or(false))
        .take(MAX_BRIDGES)
    {
        let Some(down) = &b.downstream_pipeline else {
            continue;
        };
        let Some(child) = down.id else { continue };
        let same_project = match (down.project_id, project_id) {
            (Some(a), Some(b)) => a == b,
            _ => down
                .web_url
                .as_deref()
                .is_some_and(|u| u.contains(&own_path)),
        };
        if !same_project {
            api.host.log(
                crate::Level::Info,
                &format!(
                    "trigger job {} of pipeline {id} started pipeline {child} in another project; its jobs are not read",
                    b.name.as_deref().unwrap_or("?")
                ),
            );
            continue;
        }
        jobs.extend(
            failed_jobs(api, pid, child)?
                .into_iter()
                .filter(|j| run_status(j.status.as_deref(), &Value::Null) == RunStatus::Failed)
                .filter(|j| !j.allow_failure.unwrap_or(false))
                .filter_map(to_job),
        );
    }
    Ok(jobs)
}

/// A job as `extract-job-log` takes it (its global `id`): the same shape for a failed job and a
/// passing one (`green_runs.rs`).
pub(crate) fn to_job(j: GlJob) -> Option<Job> {
    Some(Job {
        id: j.id?.to_string(),
        name: j.name.unwrap_or_else(|| "job".into()),
        stage: j.stage,
        status: run_status(j.status.as_deref(), &Value::Null),
        allow_failure: j.allow_failure.unwrap_or(false),
        started_at: timestamp(&j.started_at),
        finished_at: timestamp(&j.finished_at),
        web_url: j.web_url,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Method;
    use crate::fake::{FakeHost, conn};
    use serde_json::json;

    const PIPELINE: &str = "https://gitlab.com/api/v4/projects/1/pipelines/31";
    const JOBS: &str = "https://gitlab.com/api/v4/projects/1/pipelines/31/jobs?scope%5B%5D=failed&include_retried=false&page=1&per_page=100";

    fn event() -> FailureEvent {
        FailureEvent {
            project: ProjectRef {
                owner: "gitlab-org".into(),
                name: "gitlab-test".into(),
                id: Some("1".into()),
            },
            pipeline: PipelineRef {
                id: Some("31".into()),
                number: Some(3),
            },
            event: "Pipeline Hook".into(),
            git_ref: Some("master".into()),
            commit_sha: None,
        }
    }

    fn pipeline(status: &str) -> Value {
        json!({"id": 31, "iid": 3, "project_id": 1, "status": status, "ref": "master",
               "sha": "bcbb5ec396a2c0f828686f14fac9b80b780504f2", "source": "push",
               "created_at": "2016-08-11T11:28:34.085Z", "finished_at": "2016-08-11T11:32:35.145Z",
               "web_url": "https://gitlab.com/gitlab-org/gitlab-test/-/pipelines/31"})
    }

    fn jobs() -> Value {
        json!([
            {"id": 7, "name": "rspec", "stage": "test", "status": "failed", "allow_failure": false,
             "started_at": "2016-08-11T11:29:00.000Z", "finished_at": "2016-08-11T11:32:00.000Z",
             "web_url": "https://gitlab.com/gitlab-org/gitlab-test/-/jobs/7"},
            {"id": 8, "name": "lint", "stage": "test", "status": "failed", "allow_failure": true}
        ])
    }

    #[test]
    fn failed_jobs_leave_out_allowed_failures() {
        let host = FakeHost::new();
        host.on_json(Method::Get, PIPELINE, 200, pipeline("failed"));
        host.on_json(Method::Get, JOBS, 200, jobs());
        let d = get_failure_details(&host, &conn(), &event()).unwrap();
        assert_eq!(
            d.failed_jobs
                .iter()
                .map(|j| j.id.as_str())
                .collect::<Vec<_>>(),
            ["7"]
        );
        assert_eq!(
            d.deep_link,
            "https://gitlab.com/gitlab-org/gitlab-test/-/pipelines/31"
        );
        assert_eq!(d.pipeline.status, RunStatus::Failed);
        assert_eq!(d.pipeline.reference.number, Some(3));
        assert_eq!(d.pipeline.created_at, Some(1_470_914_914_085));
        assert!(
            host.requests
                .borrow()
                .iter()
                .all(|r| host.matched(r) && r.credential == bearer())
        );
    }

    #[test]
    fn a_pipeline_with_warnings_shows_its_allowed_failures() {
        let host = FakeHost::new();
        let mut pl = pipeline("success");
        pl["detailed_status"] =
            json!({"label": "passed with warnings", "group": "success-with-warnings"});
        host.on_json(Method::Get, PIPELINE, 200, pl);
        host.on_json(Method::Get, JOBS, 200, jobs());
        let d = get_failure_details(&host, &conn(), &event()).unwrap();
        assert_eq!(d.pipeline.status, RunStatus::Warning);
        assert_eq!(d.failed_jobs.len(), 2);
    }

    #[test]
    fn a_deleted_pipeline_is_not_found_in_words() {
        let host = FakeHost::new();
        host.on(Method::Get, PIPELINE, 404, r#"{"message":"404 Not found"}"#);
        let err = get_failure_details(&host, &conn(), &event()).unwrap_err();
        assert!(
            matches!(err, ProviderError::NotFound(ref m) if m.contains("pipeline 31 of gitlab-org/gitlab-test is gone")),
            "{err:?}"
        );
    }

    #[test]
    fn jobs_are_paged_by_the_next_page_header() {
        let host = FakeHost::new();
        host.on_json(Method::Get, PIPELINE, 200, pipeline("failed"));
        host.on_with(
            Method::Get,
            JOBS,
            200,
            &[("X-Next-Page", "2"), ("X-Total-Pages", "2")],
            Ok(exlogare_kit::testing::Body::Bytes(
                jobs().to_string().into_bytes(),
            )),
        );
        host.on_with(
            Method::Get,
            &JOBS.replace("page=1&", "page=2&"),
            200,
            &[("X-Next-Page", "")],
            Ok(exlogare_kit::testing::Body::Bytes(
                br#"[{"id": 9, "name": "e2e", "status": "failed"}]"#.to_vec(),
            )),
        );
        let d = get_failure_details(&host, &conn(), &event()).unwrap();
        assert_eq!(
            d.failed_jobs
                .iter()
                .map(|j| j.id.as_str())
                .collect::<Vec<_>>(),
            ["7", "9"]
        );
    }

    #[test]
    fn a_pipeline_known_by_number_only_is_found_in_the_list() {
        let host = FakeHost::new();
        let mut e = event();
        e.pipeline.id = None;
        host.on_json(Method::Get, "https://gitlab.com/api/v4/projects/1/pipelines?order_by=id&sort=desc&page=1&per_page=100", 200,
            json!([{"id": 32, "iid": 4, "status": "running"}, pipeline("failed")]));
        host.on_json(Method::Get, JOBS, 200, jobs());
        let d = get_failure_details(&host, &conn(), &e).unwrap();
        assert_eq!(d.pipeline.reference.id.as_deref(), Some("31"));
        let mut bad = event();
        bad.pipeline.id = Some("9b1c2d3e".into());
        assert!(
            matches!(get_failure_details(&host, &conn(), &bad), Err(ProviderError::InvalidInput(i)) if i.field == "event.pipeline.id")
        );
    }

    #[test]
    fn a_pipeline_failed_by_its_child_reports_the_childs_failed_jobs() {
        let host = FakeHost::new();
        host.on_json(Method::Get, PIPELINE, 200, pipeline("failed"));
        host.on_json(Method::Get, JOBS, 200, json!([]));
        host.on_json(Method::Get, "https://gitlab.com/api/v4/projects/1/pipelines/31/bridges?scope%5B%5D=failed&page=1&per_page=100", 200, json!([
            {"id": 40, "name": "trigger-docs", "status": "failed", "allow_failure": false,
             "downstream_pipeline": {"id": 32, "project_id": 1, "status": "failed", "web_url": "https://gitlab.com/gitlab-org/gitlab-test/-/pipelines/32"}},
            {"id": 41, "name": "trigger-other", "status": "failed", "allow_failure": false,
             "downstream_pipeline": {"id": 99, "project_id": 2, "status": "failed"}}
        ]));
        host.on_json(Method::Get, &JOBS.replace("/31/", "/32/"), 200, jobs());
        let d = get_failure_details(&host, &conn(), &event()).unwrap();
        assert_eq!(
            d.failed_jobs
                .iter()
                .map(|j| j.id.as_str())
                .collect::<Vec<_>>(),
            ["7"]
        );
        assert_eq!(
            d.deep_link,
            "https://gitlab.com/gitlab-org/gitlab-test/-/pipelines/31"
        );
        assert_eq!(host.unused(), 0);
        assert!(
            host.logs
                .borrow()
                .iter()
                .any(|(_, m)| m.contains("another project"))
        );
    }

    #[test]
    fn links_carry_subgroups_and_a_relative_root() {
        let own = crate::endpoints::defaults("https://git.example.com/gitlab").unwrap();
        let p = ProjectRef {
            owner: "acme/backend".into(),
            name: "payments api".into(),
            id: None,
        };
        assert_eq!(
            pipeline_url(&own.web_base, &p, 77),
            "https://git.example.com/gitlab/acme/backend/payments%20api/-/pipelines/77"
        );
    }
}
