//! `get-failure-details`: which pipeline failed, which of its jobs failed it, and the link a
//! person follows. GitFlic has no documented endpoint for one pipeline by number, so the
//! pipeline is found in the (newest-first) list; its jobs come from `…/pipeline/{localId}/jobs`,
//! which also stands in for the list when a numbered pipeline is not found there.

use crate::api::{Api, EmbeddedPages, Page};
use crate::model::{RestJob, RestPipeline, run_status, timestamp};
use crate::pipeline_search::{Search, find_by_number};
use crate::pipelines::{check_project, walk};
use crate::{
    Connection, FailureDetails, FailureEvent, Host, InvalidInput, Job, Pipeline, PipelineRef,
    ProjectRef, ProviderError, RunStatus,
};

/// Pipelines searched for the event's one when only its UUID or nothing is known: 5 pages of
/// 20. Without a number the walk cannot tell when it has gone past the pipeline.
pub const FIND_PAGES: u32 = 5;
/// List pages the search by number (`pipeline_search.rs`) may read: a burst of failures in a
/// busy project pushes a pipeline far past the newest 100 before its delivery is processed; the
/// number tells the search which page to jump to, so this cap is rarely reached.
pub const FIND_PAGES_BY_NUMBER: u32 = crate::pipelines::MAX_PAGES;
const JOB_PAGE_SIZE: u32 = 100;
const JOB_PAGES: u32 = 5;

enum Wanted<'a> {
    Number(u64),
    Id(&'a str),
    NewestWith(&'static str),
}

pub fn get_failure_details<H: Host>(
    host: &H,
    conn: &Connection,
    event: &FailureEvent,
) -> Result<FailureDetails, ProviderError> {
    let project = &event.project;
    check_project(project)?;
    let offset = crate::options::naive_utc_offset(conn)?;
    let warning_event = event.event.eq_ignore_ascii_case("PIPELINE_WARNING");
    let wanted = match (&event.pipeline.number, &event.pipeline.id) {
        (Some(n), _) => Wanted::Number(*n),
        (None, Some(id)) => Wanted::Id(id),
        (None, None) => Wanted::NewestWith(if warning_event { "WARNING" } else { "FAILED" }),
    };

    let api = Api::new(host, conn);
    let (owner, name) = (&project.owner, &project.name);
    let (pl, jobs) = match wanted {
        Wanted::Number(n) => by_number(&api, event, n)?,
        other => {
            let pl = by_walk(&api, project, &other)?;
            let number = pl.local_id.ok_or_else(|| {
                ProviderError::InvalidInput(InvalidInput {
                    field: "response".into(),
                    message: format!(
                        "{} of {owner}/{name} has no usable localId",
                        other.describe()
                    ),
                })
            })?;
            let jobs = jobs_of(&api, project, number, JOB_PAGES, "event.pipeline")?;
            (pl, jobs)
        }
    };
    let number = pl
        .local_id
        .expect("both searches return a numbered pipeline");

    let status = run_status(pl.status.as_deref());
    // A WARNING pipeline failed only in jobs allowed to fail: those are what a warning analysis
    // is about. Otherwise allowed failures did not fail the pipeline and are left out.
    let include_allowed = status == RunStatus::Warning || warning_event;
    let failed_jobs: Vec<Job> = jobs
        .into_iter()
        .filter(|j| run_status(j.status.as_deref()) == RunStatus::Failed)
        .filter(|j| include_allowed || !j.allow_failure.unwrap_or(false))
        .filter_map(|j| to_job(j, offset))
        .collect();

    let deep_link =
        crate::links::pipeline_url(&conn.web_base, &project.owner, &project.name, number);
    let mut project_ref = project.clone();
    if project_ref.id.is_none() {
        project_ref.id = pl.project_id.clone();
    }
    Ok(FailureDetails {
        pipeline: Pipeline {
            project: project_ref,
            reference: PipelineRef {
                id: pl.id.clone(),
                number: Some(number),
            },
            status,
            git_ref: pl.git_ref.clone().or_else(|| event.git_ref.clone()),
            commit_sha: pl.commit_id.clone().or_else(|| event.commit_sha.clone()),
            source: pl.source.clone(),
            created_at: timestamp(&pl.created_at, offset),
            finished_at: timestamp(&pl.finished_at, offset),
            web_url: deep_link.clone(),
        },
        failed_jobs,
        deep_link,
    })
}

impl Wanted<'_> {
    fn describe(&self) -> String {
        match self {
            Wanted::Number(n) => format!("pipeline #{n}"),
            Wanted::Id(id) => format!("pipeline {id}"),
            Wanted::NewestWith(s) => format!("a pipeline with status {s}"),
        }
    }
}

/// A pipeline whose number is known: searched in the list by number (`pipeline_search.rs`), and
/// when the list does not show it (too new for the list yet, or more requests away than the
/// search may spend), asked for its jobs directly: the jobs endpoint takes the number, so a
/// pipeline of any age is still analysed and linked, with what the event says about it.
fn by_number<H: Host>(
    api: &Api<H>,
    event: &FailureEvent,
    n: u64,
) -> Result<(RestPipeline, Vec<RestJob>), ProviderError> {
    let project = &event.project;
    let (owner, name) = (&project.owner, &project.name);
    let why = match find_by_number(api, project, n, FIND_PAGES_BY_NUMBER)? {
        Search::Found(pl) => {
            let jobs = jobs_of(api, project, n, JOB_PAGES, "event.pipeline")?;
            return Ok((*pl, jobs));
        }
        Search::Absent(why) => why,
        Search::NotListedYet { newest } => format!("the newest pipeline listed is #{newest}"),
        Search::GaveUp { requests } => format!("{requests} pages of the list did not reach it"),
    };
    let jobs = match jobs_of(api, project, n, JOB_PAGES, "event.pipeline") {
        Ok(jobs) if !jobs.is_empty() => jobs,
        Ok(_) | Err(ProviderError::NotFound(_)) => {
            return Err(ProviderError::NotFound(format!(
                "pipeline #{n} is not in the pipeline list of {owner}/{name} ({why}) and has no jobs"
            )));
        }
        Err(e) => return Err(e),
    };
    // Only what the event and the jobs say: the list did not give the pipeline itself.
    let warning = event.event.eq_ignore_ascii_case("PIPELINE_WARNING");
    let pl = RestPipeline {
        id: event.pipeline.id.clone(),
        local_id: Some(n),
        status: Some(if warning { "WARNING" } else { "FAILED" }.to_string()),
        git_ref: event.git_ref.clone(),
        commit_id: event.commit_sha.clone(),
        ..RestPipeline::default()
    };
    Ok((pl, jobs))
}

/// A pipeline known by its UUID or by nothing: the newest pages are walked, since without a
/// number the walk cannot tell when it has gone past.
fn by_walk<H: Host>(
    api: &Api<H>,
    project: &ProjectRef,
    wanted: &Wanted,
) -> Result<RestPipeline, ProviderError> {
    let mut found: Option<RestPipeline> = None;
    let capped = walk(api, project, FIND_PAGES, |pl| {
        let hit = match wanted {
            Wanted::Number(n) => pl.local_id == Some(*n),
            Wanted::Id(id) => pl.id.as_deref() == Some(*id),
            Wanted::NewestWith(status) => pl
                .status
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case(status)),
        };
        if hit {
            found = Some(pl);
        }
        !hit
    })?;
    found.ok_or_else(|| {
        let (owner, name, what) = (&project.owner, &project.name, wanted.describe());
        ProviderError::NotFound(if capped {
            format!(
                "{what} is not among the newest {} pipelines of {owner}/{name}",
                FIND_PAGES * crate::pipelines::PAGE_SIZE
            )
        } else {
            format!("{what} is not in the pipeline list of {owner}/{name}")
        })
    })
}

/// The jobs of pipeline `number`, pages of 100 up to `max_pages` (one request each); a 4xx
/// other than 401/403/404/429 is `invalid-input` on `field`.
pub(crate) fn jobs_of<H: Host>(
    api: &Api<H>,
    project: &ProjectRef,
    number: u64,
    max_pages: u32,
    field: &str,
) -> Result<Vec<RestJob>, ProviderError> {
    let mut jobs: Vec<RestJob> = Vec::new();
    let number_s = number.to_string();
    for page in 0..max_pages {
        let got: Page<RestJob> = api.get_page(
            &[
                "project",
                &project.owner,
                &project.name,
                "cicd",
                "pipeline",
                &number_s,
                "jobs",
            ],
            &[],
            "restPipelineJobModelList",
            page,
            JOB_PAGE_SIZE,
            field,
        )?;
        jobs.extend(got.items);
        if got.last {
            break;
        }
    }
    Ok(jobs)
}

/// A job is addressed by its project-wide `localId`; one without it cannot be fetched. The
/// same shape for a failed job and a passing one (`green_runs.rs`): `extract-job-log` takes both.
pub(crate) fn to_job(j: RestJob, offset: i32) -> Option<Job> {
    let id = j.local_id?.to_string();
    Some(Job {
        name: j.name.unwrap_or_else(|| format!("job {id}")),
        id,
        stage: j.stage_name,
        status: run_status(j.status.as_deref()),
        allow_failure: j.allow_failure.unwrap_or(false),
        started_at: timestamp(&j.started_at, offset),
        finished_at: timestamp(&j.finished_at, offset),
        // GitFlic's job page URL is not known from any public source.
        web_url: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{FakeHost, NOW, conn};
    use crate::{Method, ProjectRef};
    use serde_json::{Value, json};

    const PIPELINES: &str = "https://api.gitflic.ru/project/acme/api/cicd/pipeline?page=0&size=20";

    fn event(number: Option<u64>, id: Option<&str>, name: &str) -> FailureEvent {
        FailureEvent {
            project: ProjectRef {
                owner: "acme".into(),
                name: "api".into(),
                id: None,
            },
            pipeline: PipelineRef {
                id: id.map(String::from),
                number,
            },
            event: name.into(),
            git_ref: None,
            commit_sha: None,
        }
    }

    fn pipelines(items: Value, total_pages: u32) -> Value {
        json!({"_embedded": {"restPipelineModelList": items}, "page": {"size": 20, "totalElements": 3, "totalPages": total_pages, "number": 0}})
    }

    fn jobs_url(n: u64) -> String {
        format!("https://api.gitflic.ru/project/acme/api/cicd/pipeline/{n}/jobs?page=0&size=100")
    }

    fn jobs(items: Value) -> Value {
        json!({"_embedded": {"restPipelineJobModelList": items}, "page": {"size": 100, "totalElements": 4, "totalPages": 1, "number": 0}})
    }

    fn job(local_id: Value, name: &str, status: &str, allow: Option<bool>) -> Value {
        let mut j = json!({"id": format!("uuid-{name}"), "localId": local_id, "name": name, "stageName": "test", "status": status,
                           "startedAt": "2026-11-20T09:50:00", "finishedAt": "2026-11-20T09:55:00Z", "pipelineLocalId": 42});
        if let Some(a) = allow {
            j["allowFailure"] = json!(a);
        }
        j
    }

    #[test]
    fn by_number_with_failed_jobs_and_deep_link() {
        let host = FakeHost::new();
        host.on_json(Method::Get, PIPELINES, 200, pipelines(json!([
            {"id": "p43", "localId": 43, "status": "RUNNING"},
            {"id": "p42", "localId": "42", "status": "FAILED", "ref": "main", "commitId": "d6cd1e2", "projectId": "proj-uuid",
             "source": "PUSH", "createdAt": "2026-11-20T09:49:00", "finishedAt": "2026-11-20T12:56:00+03:00"}]), 3));
        host.on_json(
            Method::Get,
            &jobs_url(42),
            200,
            jobs(json!([
                job(json!(101), "build", "SUCCESS", None),
                job(json!("102"), "test", "FAILED", None),
                job(json!(103), "lint", "FAILED", Some(true)),
                job(json!(104), "audit", "FAILED", Some(false)),
                job(json!(null), "ghost", "FAILED", None)
            ])),
        );
        let d =
            get_failure_details(&host, &conn(), &event(Some(42), None, "PIPELINE_FAIL")).unwrap();
        assert_eq!(
            d.deep_link,
            "https://gitflic.ru/project/acme/api/ci-cd/pipeline/42"
        );
        assert_eq!(d.pipeline.web_url, d.deep_link);
        assert_eq!(
            d.pipeline.reference,
            PipelineRef {
                id: Some("p42".into()),
                number: Some(42)
            }
        );
        assert_eq!(d.pipeline.status, RunStatus::Failed);
        assert_eq!(d.pipeline.project.id.as_deref(), Some("proj-uuid"));
        assert_eq!(d.pipeline.created_at, Some(NOW - 11 * 60_000));
        assert_eq!(d.pipeline.finished_at, Some(NOW - 4 * 60_000));
        assert_eq!(
            d.failed_jobs
                .iter()
                .map(|j| j.id.as_str())
                .collect::<Vec<_>>(),
            ["102", "104"]
        );
        assert_eq!(d.failed_jobs[0].started_at, Some(NOW - 10 * 60_000));
        assert_eq!(d.failed_jobs[0].finished_at, Some(NOW - 5 * 60_000));
        assert_eq!(host.requests.borrow().len(), 2);
    }

    #[test]
    fn warning_pipelines_report_their_allowed_failures() {
        let host = FakeHost::new();
        host.on_json(
            Method::Get,
            PIPELINES,
            200,
            pipelines(json!([{"id": "p9", "localId": 9, "status": "WARNING"}]), 1),
        );
        host.on_json(
            Method::Get,
            &jobs_url(9),
            200,
            jobs(json!([
                job(json!(5), "lint", "FAILED", Some(true)),
                job(json!(6), "ok", "SUCCESS", None)
            ])),
        );
        let d =
            get_failure_details(&host, &conn(), &event(None, None, "PIPELINE_WARNING")).unwrap();
        assert_eq!(d.pipeline.status, RunStatus::Warning);
        assert_eq!(d.failed_jobs.len(), 1);
        assert!(d.failed_jobs[0].allow_failure);
    }

    #[test]
    fn without_reference_the_newest_failed_one_across_pages() {
        let host = FakeHost::new();
        host.on_json(
            Method::Get,
            PIPELINES,
            200,
            pipelines(
                json!([{"localId": 30, "status": "SUCCESS"}, {"localId": 29, "status": "RUNNING"}]),
                2,
            ),
        );
        host.on_json(
            Method::Get,
            "https://api.gitflic.ru/project/acme/api/cicd/pipeline?page=1&size=20",
            200,
            pipelines(
                json!([{"localId": 28, "status": "FAILED"}, {"localId": 27, "status": "FAILED"}]),
                2,
            ),
        );
        host.on_json(Method::Get, &jobs_url(28), 200, json!({}));
        let d = get_failure_details(&host, &conn(), &event(None, None, "PIPELINE_FAIL")).unwrap();
        assert_eq!(d.pipeline.reference.number, Some(28));
        assert!(
            d.failed_jobs.is_empty(),
            "a jobs answer without `_embedded` is an empty list"
        );
    }

    #[test]
    fn by_id_and_not_found() {
        let host = FakeHost::new();
        host.on_json(Method::Get, PIPELINES, 200, pipelines(json!([{"id": "a", "localId": 3, "status": "FAILED"}, {"id": "b", "localId": 2, "status": "FAILED"}]), 1));
        host.on_json(Method::Get, &jobs_url(2), 200, jobs(json!([])));
        assert_eq!(
            get_failure_details(&host, &conn(), &event(None, Some("b"), "PIPELINE_FAIL"))
                .unwrap()
                .pipeline
                .reference
                .number,
            Some(2)
        );

        let host = FakeHost::new();
        host.on_json(
            Method::Get,
            PIPELINES,
            200,
            pipelines(json!([{"localId": 50}, {"localId": 40}]), 9),
        );
        host.on_json(Method::Get, &jobs_url(45), 200, jobs(json!([])));
        let err = get_failure_details(&host, &conn(), &event(Some(45), None, "PIPELINE_FAIL"))
            .unwrap_err();
        assert!(matches!(err, ProviderError::NotFound(m) if m.contains("#45")));
        assert_eq!(
            host.requests.borrow().len(),
            2,
            "the search stops once it passes the number; the jobs endpoint confirms"
        );
    }

    fn page_url(n: u32) -> String {
        format!("https://api.gitflic.ru/project/acme/api/cicd/pipeline?page={n}&size=20")
    }

    /// Page `n` of a busy project's list: 20 failed pipelines numbered down from `top`.
    fn busy_page(n: u32, top: u64, total_pages: u32) -> Value {
        let items: Vec<Value> = (0..20)
            .map(|i| {
                let l = top - u64::from(n) * 20 - i;
                json!({"id": format!("p{l}"), "localId": l, "status": "FAILED"})
            })
            .collect();
        json!({"_embedded": {"restPipelineModelList": items},
               "page": {"size": 20, "totalElements": 0, "totalPages": total_pages, "number": n}})
    }

    #[test]
    fn a_known_number_is_found_far_beyond_the_newest_hundred() {
        // Pipeline #1000 - 7 * 20 - 3 = #857 sits on page 7: the number names the page.
        let host = FakeHost::new();
        for n in 0..50 {
            host.on_json(Method::Get, &page_url(n), 200, busy_page(n, 1000, 50));
        }
        host.on_json(Method::Get, &jobs_url(857), 200, jobs(json!([])));
        let d =
            get_failure_details(&host, &conn(), &event(Some(857), None, "PIPELINE_FAIL")).unwrap();
        assert_eq!(
            d.pipeline.reference,
            PipelineRef {
                id: Some("p857".into()),
                number: Some(857)
            }
        );
        assert_eq!(
            d.deep_link,
            "https://gitflic.ru/project/acme/api/ci-cd/pipeline/857"
        );
        assert_eq!(host.requests.borrow().len(), 3, "page 0, page 7, the jobs");

        // A thousand runs old costs no more.
        let host = FakeHost::new();
        for n in 0..50 {
            host.on_json(Method::Get, &page_url(n), 200, busy_page(n, 1000, 50));
        }
        host.on_json(Method::Get, &jobs_url(21), 200, jobs(json!([])));
        let d =
            get_failure_details(&host, &conn(), &event(Some(21), None, "PIPELINE_FAIL")).unwrap();
        assert_eq!(d.pipeline.reference.number, Some(21));
        assert_eq!(host.requests.borrow().len(), 3);
    }

    #[test]
    fn a_numbered_pipeline_the_list_does_not_show_is_read_through_its_jobs() {
        // Newer than the list (it lags the event): the jobs endpoint takes the number.
        let host = FakeHost::new();
        host.on_json(Method::Get, &page_url(0), 200, busy_page(0, 1000, 50));
        host.on_json(
            Method::Get,
            &jobs_url(1001),
            200,
            jobs(json!([job(json!(7001), "build", "FAILED", None)])),
        );
        let mut e = event(Some(1001), Some("uuid-1001"), "PIPELINE_FAIL");
        e.git_ref = Some("main".into());
        e.commit_sha = Some("abc123".into());
        let d = get_failure_details(&host, &conn(), &e).unwrap();
        assert_eq!(d.pipeline.reference.number, Some(1001));
        assert_eq!(d.pipeline.reference.id.as_deref(), Some("uuid-1001"));
        assert_eq!(d.pipeline.status, RunStatus::Failed);
        assert_eq!(d.pipeline.git_ref.as_deref(), Some("main"));
        assert_eq!(d.pipeline.commit_sha.as_deref(), Some("abc123"));
        assert_eq!(
            d.deep_link,
            "https://gitflic.ru/project/acme/api/ci-cd/pipeline/1001"
        );
        assert_eq!(d.failed_jobs.len(), 1);
        assert_eq!(d.failed_jobs[0].name, "build", "the job keeps its name");

        // Deleted: the list skips it and the jobs endpoint does not know it.
        let host = FakeHost::new();
        host.on_json(
            Method::Get,
            PIPELINES,
            200,
            pipelines(json!([{"localId": 50}, {"localId": 40}]), 9),
        );
        host.on(
            Method::Get,
            &jobs_url(45),
            404,
            r#"{"message":"not found"}"#,
        );
        let err = get_failure_details(&host, &conn(), &event(Some(45), None, "PIPELINE_FAIL"))
            .unwrap_err();
        assert!(
            matches!(&err, ProviderError::NotFound(m) if m.contains("#45") && m.contains("deleted")),
            "{err:?}"
        );
        assert_eq!(host.requests.borrow().len(), 2, "one page and the jobs");

        // A server error on the jobs stays a server error (retried), not "not found".
        let host = FakeHost::new();
        host.on_json(Method::Get, &page_url(0), 200, busy_page(0, 1000, 1));
        host.on(Method::Get, &jobs_url(5000), 502, "Bad Gateway");
        let err = get_failure_details(&host, &conn(), &event(Some(5000), None, "PIPELINE_FAIL"))
            .unwrap_err();
        assert!(matches!(err, ProviderError::Transient(_)), "{err:?}");
    }

    #[test]
    fn the_walk_without_a_number_is_bounded() {
        // Without a number the search stays at 5 pages: it cannot tell when it went past.
        let host = FakeHost::new();
        for n in 0..FIND_PAGES + 2 {
            host.on_json(Method::Get, &page_url(n), 200, busy_page(n, 1000, 50));
        }
        let err = get_failure_details(&host, &conn(), &event(None, Some("nope"), "PIPELINE_FAIL"))
            .unwrap_err();
        assert!(
            matches!(&err, ProviderError::NotFound(m) if m.contains("newest 100")),
            "{err:?}"
        );
        assert_eq!(host.requests.borrow().len(), FIND_PAGES as usize);
    }

    #[test]
    fn api_errors_surface_typed() {
        let host = FakeHost::new();
        host.on(
            Method::Get,
            PIPELINES,
            500,
            "<html><body><h1>502 Bad Gateway</h1></body></html>",
        );
        assert!(
            matches!(get_failure_details(&host, &conn(), &event(Some(1), None, "PIPELINE_FAIL")), Err(ProviderError::Transient(m)) if m.contains("502 Bad Gateway"))
        );
    }
}
