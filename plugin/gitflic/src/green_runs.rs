//! `last-green-job` (interface `green-runs`, contract 0.1.2): the newest passing run of a job, so
//! the host can compare a failing log with it.
//!
//! GitFlic's pipeline list is newest first and ignores a `ref` filter (PRACTICE, tested live,
//! `../shared/reference/gitflic-api.md`), so one newest-first walk of the list serves the ref and
//! the default branch alike, and the plugin filters itself:
//! - pipelines numbered `before` or above (the failing one and newer) are skipped;
//! - the first pipeline numbered `known` or below ends the walk: the host already holds a passing
//!   run at least that new, so without a candidate above it the answer is `unchanged`;
//! - a candidate is a pipeline with status `SUCCESS` or `WARNING` (a warning pipeline failed only
//!   in jobs allowed to fail, so the job asked for may well have passed in it); its jobs
//!   (`GET …/cicd/pipeline/{localId}/jobs`) decide, the job of that name with status `SUCCESS`
//!   (`exlogare_kit::green::passing_job`). A passing pipeline without that job is passed over;
//! - candidates on `git-ref` come first, newest first, checked after each page (a passing run on
//!   the first page costs no second page); when none holds the job, the candidates on the
//!   project's default branch (`GET /project/{owner}/{alias}`, field `defaultBranch`, DOC
//!   `docs.gitflic.ru/en/api/project`), asked for only when pipelines of another ref passed.
//!
//! **The bound**: at most [`LIST_PAGES`] pages of 20 pipelines (the newest 40), one project
//! request, and at most [`JOB_LISTS`] job lists of one page (100 jobs): [`MAX_REQUESTS`] (5)
//! requests a call, 1 % of GitFlic's 500 requests an hour. It never reads a log.

use exlogare_kit::green::{Searched, check_job_name, passing_job, same_ref};
use exlogare_kit::{GreenJob, GreenRun};

use crate::api::{Api, EmbeddedPages, Page, token};
use crate::failure::{jobs_of, to_job};
use crate::model::{RestPipeline, RestProject, run_status};
use crate::pipelines::check_project;
use crate::{Connection, Host, PipelineRef, ProjectRef, ProviderError, RunStatus};

/// Pages of the pipeline list read at most (20 pipelines each).
pub const LIST_PAGES: u32 = 2;
/// Passing pipelines whose jobs are read at most (one request of 100 jobs each).
pub const JOB_LISTS: u32 = 2;
/// Requests one call makes at most: the list pages, the project, the job lists.
pub const MAX_REQUESTS: u32 = LIST_PAGES + 1 + JOB_LISTS;

/// Where the walk stopped at `known`: the pipeline it stopped at, and whether it is `known` itself.
struct Stop {
    exact: bool,
    git_ref: Option<String>,
}

pub fn last_green_job<H: Host>(
    host: &H,
    conn: &Connection,
    project: &ProjectRef,
    job_name: &str,
    git_ref: Option<&str>,
    before: Option<u64>,
    known: Option<u64>,
) -> Result<GreenRun, ProviderError> {
    check_project(project)?;
    let job_name = check_job_name(job_name)?;
    let git_ref = git_ref.map(str::trim).filter(|r| !r.is_empty());
    let offset = crate::options::naive_utc_offset(conn)?;
    let api = Api::new(host, conn);

    let mut searched = Searched {
        job_name,
        git_ref,
        before,
        ..Searched::default()
    };
    let mut ctx = Candidates {
        api: &api,
        project,
        job_name,
        offset,
        job_lists: 0,
    };

    // 1. The ref the failure ran on, page by page: a passing run on the first page costs no
    // second one. Passing pipelines of other refs are kept for step 2.
    let mut passing: Vec<RestPipeline> = Vec::new();
    let mut stop: Option<Stop> = None;
    for page in 0..LIST_PAGES {
        let got: Page<RestPipeline> = api.get_page(
            &["project", &project.owner, &project.name, "cicd", "pipeline"],
            &[],
            "restPipelineModelList",
            page,
            crate::pipelines::PAGE_SIZE,
            "project",
        )?;
        searched.pipelines += got.items.len() as u32;
        let first_new = passing.len();
        for pl in got.items {
            let Some(n) = pl.local_id else { continue };
            if before.is_some_and(|b| n >= b) {
                continue;
            }
            if let Some(k) = known
                && n <= k
            {
                stop = Some(Stop {
                    exact: n == k,
                    git_ref: pl.git_ref.clone(),
                });
                break;
            }
            if matches!(
                run_status(pl.status.as_deref()),
                RunStatus::Success | RunStatus::Warning
            ) {
                passing.push(pl);
            }
        }
        if let Some(r) = git_ref {
            let on_ref = passing[first_new..]
                .iter()
                .filter(|p| same_ref(p.git_ref.as_deref(), r));
            if let Some(found) = ctx.try_each(on_ref, &mut searched)? {
                return Ok(found);
            }
        }
        if stop.is_some() {
            break;
        }
        if got.last {
            searched.whole_list = true;
            break;
        }
    }
    if let Some(r) = git_ref {
        // The host's passing run is on this ref and nothing newer passed: it stands.
        if stop
            .as_ref()
            .is_some_and(|s| s.exact && same_ref(s.git_ref.as_deref(), r))
        {
            return Ok(GreenRun::Unchanged);
        }
    }

    // 2. The default branch, asked for only when a pipeline of another ref passed.
    let elsewhere = |p: &&RestPipeline| git_ref.is_none_or(|r| !same_ref(p.git_ref.as_deref(), r));
    let default_branch = if passing.iter().any(|p| elsewhere(&p)) && !searched.jobs_bound_hit {
        default_branch(&api, project)?
    } else {
        None
    };
    if let Some(d) = default_branch.as_deref() {
        searched.default_branch = Some(d);
        let on_default = passing
            .iter()
            .filter(elsewhere)
            .filter(|p| same_ref(p.git_ref.as_deref(), d));
        if let Some(found) = ctx.try_each(on_default, &mut searched)? {
            return Ok(found);
        }
    }

    if stop.is_some() {
        return Ok(GreenRun::Unchanged);
    }
    Ok(searched.none())
}

/// What checking a candidate needs, and the job lists read so far.
struct Candidates<'a, H: Host> {
    api: &'a Api<'a, H>,
    project: &'a ProjectRef,
    job_name: &'a str,
    offset: i32,
    job_lists: u32,
}

impl<H: Host> Candidates<'_, H> {
    /// The first of `candidates` (newest first) with a passing run of the job, reading one job
    /// list each while [`JOB_LISTS`] allows.
    fn try_each<'p>(
        &mut self,
        candidates: impl Iterator<Item = &'p RestPipeline>,
        searched: &mut Searched,
    ) -> Result<Option<GreenRun>, ProviderError> {
        for pl in candidates {
            if self.job_lists == JOB_LISTS {
                searched.jobs_bound_hit = true;
                return Ok(None);
            }
            self.job_lists += 1;
            let n = pl.local_id.expect("candidates are numbered");
            let jobs = jobs_of(self.api, self.project, n, 1, "project")?;
            let offset = self.offset;
            let jobs = jobs.into_iter().filter_map(|j| to_job(j, offset));
            match passing_job(jobs, self.job_name) {
                Some(job) => {
                    return Ok(Some(GreenRun::Found(GreenJob {
                        pipeline: PipelineRef {
                            id: pl.id.clone(),
                            number: Some(n),
                        },
                        job,
                        git_ref: pl.git_ref.clone(),
                    })));
                }
                None => searched.without_job += 1,
            }
        }
        Ok(None)
    }
}

/// The project's default branch (`defaultBranch`, DOC); `None` when GitFlic does not say.
fn default_branch<H: Host>(
    api: &Api<H>,
    project: &ProjectRef,
) -> Result<Option<String>, ProviderError> {
    let url = api.url(&["project", &project.owner, &project.name], &[]);
    let v = api.get_json(url, token(), "project")?;
    let p: RestProject = serde_json::from_value(v).unwrap_or_default();
    Ok(p.default_branch.filter(|b| !b.trim().is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Method;
    use crate::fake::{FakeHost, conn};
    use serde_json::{Value, json};

    const PROJECT: &str = "https://api.gitflic.ru/project/acme/api";

    fn project() -> ProjectRef {
        ProjectRef {
            owner: "acme".into(),
            name: "api".into(),
            id: None,
        }
    }

    fn list_url(page: u32) -> String {
        format!("{PROJECT}/cicd/pipeline?page={page}&size=20")
    }

    fn jobs_url(n: u64) -> String {
        format!("{PROJECT}/cicd/pipeline/{n}/jobs?page=0&size=100")
    }

    /// A page of the list: `(localId, status, ref)` newest first, in GitFlic's envelope
    /// (shapes from `../shared/reference/gitflic-api.md`).
    fn page(n: u32, items: &[(u64, &str, &str)], total_pages: u32) -> Value {
        let items: Vec<Value> = items
            .iter()
            .map(
                |(l, s, r)| json!({"id": format!("uuid-{l}"), "localId": l, "status": s, "ref": r}),
            )
            .collect();
        json!({"_embedded": {"restPipelineModelList": items},
               "page": {"size": 20, "totalElements": 0, "totalPages": total_pages, "number": n}})
    }

    fn jobs(n: u64, items: &[(u64, &str, &str)]) -> Value {
        let items: Vec<Value> = items
            .iter()
            .map(|(l, name, s)| {
                json!({"id": format!("job-{l}"), "localId": l, "name": name, "stageName": "build",
                                       "status": s, "pipelineLocalId": n})
            })
            .collect();
        json!({"_embedded": {"restPipelineJobModelList": items},
               "page": {"size": 100, "totalElements": items.len(), "totalPages": 1, "number": 0}})
    }

    fn search(
        host: &FakeHost,
        git_ref: Option<&str>,
        before: Option<u64>,
        known: Option<u64>,
    ) -> GreenRun {
        last_green_job(host, &conn(), &project(), "build", git_ref, before, known).unwrap()
    }

    fn found(r: &GreenRun) -> (Option<u64>, &str, Option<&str>) {
        match r {
            GreenRun::Found(g) => (g.pipeline.number, g.job.id.as_str(), g.git_ref.as_deref()),
            other => panic!("expected found, got {other:?}"),
        }
    }

    #[test]
    fn found_on_the_ref() {
        let host = FakeHost::new();
        host.on_json(
            Method::Get,
            &list_url(0),
            200,
            page(
                0,
                &[
                    (1288, "FAILED", "main"),
                    (1287, "FAILED", "main"),
                    (1286, "SUCCESS", "main"),
                    (1285, "SUCCESS", "main"),
                ],
                1,
            ),
        );
        host.on_json(
            Method::Get,
            &jobs_url(1286),
            200,
            jobs(
                1286,
                &[
                    (5510, "fmt", "SUCCESS"),
                    (5511, "build", "SUCCESS"),
                    (5512, "test", "SUCCESS"),
                ],
            ),
        );
        let r = search(&host, Some("main"), Some(1288), None);
        assert_eq!(found(&r), (Some(1286), "5511", Some("main")));
        let GreenRun::Found(g) = &r else {
            unreachable!()
        };
        assert_eq!(g.pipeline.id.as_deref(), Some("uuid-1286"));
        assert_eq!(g.job.name, "build");
        assert_eq!(g.job.status, RunStatus::Success);
        assert_eq!(host.requests.borrow().len(), 2, "one page, one job list");
    }

    #[test]
    fn found_on_the_default_branch_when_the_ref_has_none() {
        let host = FakeHost::new();
        host.on_json(
            Method::Get,
            &list_url(0),
            200,
            page(
                0,
                &[
                    (40, "FAILED", "feature/x"),
                    (39, "SUCCESS", "develop"),
                    (38, "FAILED", "feature/x"),
                    (37, "SUCCESS", "main"),
                ],
                1,
            ),
        );
        host.on_json(Method::Get, PROJECT, 200,
            json!({"id": "p", "alias": "api", "defaultBranch": "main", "owner": {"alias": "acme", "type": "USER"}}));
        host.on_json(
            Method::Get,
            &jobs_url(37),
            200,
            jobs(37, &[(900, "build", "SUCCESS")]),
        );
        let r = search(&host, Some("feature/x"), Some(40), None);
        assert_eq!(found(&r), (Some(37), "900", Some("main")));
        assert_eq!(host.unused(), 0);
        assert_eq!(
            host.requests.borrow().len(),
            3,
            "a page, the project, one job list"
        );
    }

    #[test]
    fn unchanged_when_known_is_reached() {
        let host = FakeHost::new();
        host.on_json(
            Method::Get,
            &list_url(0),
            200,
            page(
                0,
                &[
                    (1288, "FAILED", "main"),
                    (1287, "FAILED", "main"),
                    (1286, "SUCCESS", "main"),
                    (1285, "SUCCESS", "main"),
                ],
                1,
            ),
        );
        let r = search(&host, Some("main"), Some(1288), Some(1286));
        assert_eq!(r, GreenRun::Unchanged);
        assert_eq!(
            host.requests.borrow().len(),
            1,
            "no job list for the run the host holds"
        );

        // Passed below `known` without seeing it (deleted): still nothing newer.
        let host = FakeHost::new();
        host.on_json(
            Method::Get,
            &list_url(0),
            200,
            page(
                0,
                &[
                    (1288, "FAILED", "main"),
                    (1287, "FAILED", "main"),
                    (1284, "SUCCESS", "main"),
                ],
                1,
            ),
        );
        assert_eq!(
            search(&host, Some("main"), Some(1288), Some(1286)),
            GreenRun::Unchanged
        );

        // A newer passing run is found before `known`.
        let host = FakeHost::new();
        host.on_json(
            Method::Get,
            &list_url(0),
            200,
            page(
                0,
                &[
                    (1290, "FAILED", "main"),
                    (1289, "SUCCESS", "main"),
                    (1286, "SUCCESS", "main"),
                ],
                1,
            ),
        );
        host.on_json(
            Method::Get,
            &jobs_url(1289),
            200,
            jobs(1289, &[(7, "build", "SUCCESS")]),
        );
        assert_eq!(
            found(&search(&host, Some("main"), Some(1290), Some(1286))).0,
            Some(1289)
        );
    }

    #[test]
    fn none_past_the_bound_within_the_request_bound() {
        let host = FakeHost::new();
        // 60 failed pipelines: the bound reads the newest 40 and stops.
        for n in 0..3u32 {
            let items: Vec<(u64, &str, &str)> = (0..20)
                .map(|i| (1000 - u64::from(n) * 20 - i, "FAILED", "main"))
                .collect();
            host.on_json(Method::Get, &list_url(n), 200, page(n, &items, 50));
        }
        let r = search(&host, Some("main"), Some(1001), None);
        assert_eq!(
            r,
            GreenRun::None(
                "no passing run of `build` on `main` among the 40 newest pipelines (below #1001)"
                    .into()
            )
        );
        assert_eq!(host.requests.borrow().len(), LIST_PAGES as usize);

        // Every pipeline passed but none ran the job: the job lists are bounded too.
        let host = FakeHost::new();
        for n in 0..3u32 {
            let items: Vec<(u64, &str, &str)> = (0..20)
                .map(|i| (1000 - u64::from(n) * 20 - i, "SUCCESS", "main"))
                .collect();
            host.on_json(Method::Get, &list_url(n), 200, page(n, &items, 50));
        }
        for l in 960..=1000 {
            host.on_json(
                Method::Get,
                &jobs_url(l),
                200,
                jobs(l, &[(l * 10, "deploy", "SUCCESS")]),
            );
        }
        let r = search(&host, Some("main"), None, None);
        let GreenRun::None(text) = &r else {
            panic!("{r:?}")
        };
        assert!(
            text.contains("2 passing pipelines had no passing `build` job"),
            "{text}"
        );
        assert!(host.requests.borrow().len() <= MAX_REQUESTS as usize);
        assert_eq!(
            host.requests.borrow().len(),
            (LIST_PAGES + JOB_LISTS) as usize
        );
    }

    #[test]
    fn a_passing_pipeline_without_the_job_is_skipped() {
        let host = FakeHost::new();
        host.on_json(
            Method::Get,
            &list_url(0),
            200,
            page(
                0,
                &[
                    (12, "FAILED", "main"),
                    (11, "SUCCESS", "main"),
                    (10, "WARNING", "main"),
                ],
                1,
            ),
        );
        host.on_json(
            Method::Get,
            &jobs_url(11),
            200,
            jobs(11, &[(110, "docs", "SUCCESS"), (111, "build", "SKIPPED")]),
        );
        host.on_json(
            Method::Get,
            &jobs_url(10),
            200,
            jobs(10, &[(100, "lint", "FAILED"), (101, "build", "SUCCESS")]),
        );
        let r = search(&host, Some("main"), Some(12), None);
        assert_eq!(
            found(&r),
            (Some(10), "101", Some("main")),
            "a warning pipeline whose build passed"
        );
    }

    #[test]
    fn before_is_respected() {
        let host = FakeHost::new();
        host.on_json(
            Method::Get,
            &list_url(0),
            200,
            page(
                0,
                &[
                    (30, "SUCCESS", "main"),
                    (29, "FAILED", "main"),
                    (28, "FAILED", "main"),
                    (27, "SUCCESS", "main"),
                ],
                1,
            ),
        );
        host.on_json(
            Method::Get,
            &jobs_url(27),
            200,
            jobs(27, &[(270, "build", "SUCCESS")]),
        );
        let r = search(&host, Some("main"), Some(28), None);
        assert_eq!(
            found(&r).0,
            Some(27),
            "#30 passed after the failure: not a candidate"
        );
        assert_eq!(host.unused(), 0);
    }

    #[test]
    fn errors_are_typed() {
        for (status, check) in [
            (
                401,
                (|e: &ProviderError| matches!(e, ProviderError::CredentialsRejected(_)))
                    as fn(&ProviderError) -> bool,
            ),
            (403, |e| matches!(e, ProviderError::CredentialsRejected(_))),
            (404, |e| matches!(e, ProviderError::NotFound(_))),
            (429, |e| matches!(e, ProviderError::RateLimited(_))),
            (500, |e| matches!(e, ProviderError::Transient(_))),
        ] {
            let host = FakeHost::new();
            host.on(Method::Get, &list_url(0), status, r#"{"message":"no"}"#);
            let err = last_green_job(
                &host,
                &conn(),
                &project(),
                "build",
                Some("main"),
                None,
                None,
            )
            .unwrap_err();
            assert!(check(&err), "{status}: {err:?}");
        }
        let host = FakeHost::new();
        assert!(matches!(
            last_green_job(&host, &conn(), &project(), " ", None, None, None),
            Err(ProviderError::InvalidInput(i)) if i.field == "job-name"
        ));
        assert!(host.requests.borrow().is_empty());
    }
}
