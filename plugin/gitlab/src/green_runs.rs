//! `last-green-job` (interface `green-runs`, contract 0.1.2): the newest passing run of a job, so
//! the host can compare a failing log with it.
//!
//! GitLab filters server-side (ref §6): `GET /projects/:id/pipelines?ref=…&status=success&
//! order_by=id&sort=desc` lists the ref's passing pipelines newest first (`success` includes
//! "passed with warnings", whose jobs allowed to fail are the only ones that failed), and
//! `GET …/pipelines/:pipeline_id/jobs?scope[]=success` their passing jobs; the job of that name
//! (`exlogare_kit::green::passing_job`) is the answer. Numbers are `iid`s, as `list-pipelines`
//! and `get-failure-details` give them (`pipeline-ref.number`): GitLab has no `iid` filter, but
//! `iid` grows with `id` within a project, so in the `id`-descending list
//! - pipelines with an `iid` of `before` or above (the failing one and newer) are skipped;
//! - the `iid` `known` itself ends the search with `unchanged` (the host holds that run), and an
//!   `iid` below `known` ends that ref's list (nothing newer there);
//! - a passing pipeline without that job is passed over.
//!
//! The ref comes first; when it has no passing run within the bound, the project's default
//! branch (`GET /projects/:id`, `default_branch`). Without a ref, the default branch alone.
//!
//! **The bound**: at most [`LIST_PAGES`] pipeline-list pages of [`PAGE_SIZE`] (the ref's first
//! page, then the default branch's, or the ref's second when the ref is the default branch), one
//! project request, and at most [`JOB_LISTS`] job lists of one page (100 jobs):
//! [`MAX_REQUESTS`] (5) requests a call. It never reads a log.

use exlogare_kit::green::{Searched, check_job_name, passing_job, same_ref};
use exlogare_kit::{GreenJob, GreenRun};

use crate::api::{Api, bearer, get_list, project_id};
use crate::failure::to_job;
use crate::model::{GlJob, GlPipeline, GlProject};
use crate::{Connection, Host, PipelineRef, ProjectRef, ProviderError};

/// Pipelines a list page holds.
pub const PAGE_SIZE: u32 = 20;
/// Pipeline-list pages read at most, over the ref and the default branch together.
pub const LIST_PAGES: u32 = 2;
/// Passing pipelines whose jobs are read at most (one request of 100 jobs each).
pub const JOB_LISTS: u32 = 2;
/// Requests one call makes at most: the list pages, the project, the job lists.
pub const MAX_REQUESTS: u32 = LIST_PAGES + 1 + JOB_LISTS;

/// How the list of one ref ended.
enum Scan {
    Found(GreenJob),
    /// The pipeline `known` itself was listed: the host's run is this ref's newest.
    KnownListed,
    /// The list went below `known` without listing it: nothing newer on this ref.
    BelowKnown,
    /// The ref has no more passing pipelines.
    Ended,
    /// The page bound was reached; the list goes on at this page.
    More(u32),
    /// The job lists ran out.
    JobsSpent,
}

struct Search<'a, H: Host> {
    api: Api<'a, H>,
    pid: String,
    job_name: &'a str,
    before: Option<u64>,
    known: Option<u64>,
    lists_left: u32,
    jobs_left: u32,
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
    let pid = project_id(project)?;
    let job_name = check_job_name(job_name)?;
    let git_ref = git_ref.map(str::trim).filter(|r| !r.is_empty());
    let mut search = Search {
        api: Api::new(host, conn),
        pid,
        job_name,
        before,
        known,
        lists_left: LIST_PAGES,
        jobs_left: JOB_LISTS,
    };
    let mut searched = Searched {
        job_name,
        git_ref,
        before,
        passing_only: true,
        whole_list: true,
        ..Searched::default()
    };
    let mut below_known = false;

    // 1. The ref the failure ran on: its first page.
    let mut ref_more = None;
    if let Some(r) = git_ref {
        match search.scan(r, 1, 1, &mut searched)? {
            Scan::Found(g) => return Ok(GreenRun::Found(g)),
            Scan::KnownListed => return Ok(GreenRun::Unchanged),
            Scan::BelowKnown => below_known = true,
            Scan::More(next) => ref_more = Some(next),
            Scan::Ended | Scan::JobsSpent => {}
        }
    }
    if search.jobs_left == 0 {
        searched.jobs_bound_hit = true;
        return Ok(conclude(below_known, &searched));
    }

    // 2. The default branch (or the ref's next page, when the ref is the default branch).
    let default_branch = search.default_branch()?;
    let Some(d) = default_branch.as_deref() else {
        return Ok(conclude(below_known, &searched));
    };
    searched.default_branch = Some(d);
    let scan = match git_ref {
        Some(r) if same_ref(Some(d), r) => match ref_more {
            Some(next) => search.scan(r, next, 1, &mut searched)?,
            None => return Ok(conclude(below_known, &searched)),
        },
        _ => {
            let pages = search.lists_left;
            search.scan(d, 1, pages, &mut searched)?
        }
    };
    match scan {
        Scan::Found(g) => Ok(GreenRun::Found(g)),
        Scan::KnownListed | Scan::BelowKnown => Ok(GreenRun::Unchanged),
        Scan::Ended | Scan::More(_) | Scan::JobsSpent => Ok(conclude(below_known, &searched)),
    }
}

/// No candidate: `unchanged` when a list went below `known` (the host's run is newer than
/// anything left), else `none` in words.
fn conclude(below_known: bool, searched: &Searched) -> GreenRun {
    if below_known {
        GreenRun::Unchanged
    } else {
        searched.none()
    }
}

impl<H: Host> Search<'_, H> {
    /// The passing pipelines of `git_ref` from page `page` on, at most `pages` pages, newest
    /// first, each checked for a passing run of the job while job lists are left.
    fn scan(
        &mut self,
        git_ref: &str,
        mut page: u32,
        pages: u32,
        searched: &mut Searched,
    ) -> Result<Scan, ProviderError> {
        for _ in 0..pages.min(self.lists_left) {
            self.lists_left -= 1;
            let listed = get_list(
                &self.api,
                &["projects", &self.pid, "pipelines"],
                &[
                    ("ref", git_ref),
                    ("status", "success"),
                    ("order_by", "id"),
                    ("sort", "desc"),
                ],
                page,
                PAGE_SIZE,
                "project",
            )?;
            let pipelines = listed
                .page
                .typed::<GlPipeline>(&self.api.conn.api_base)?
                .items;
            searched.pipelines += pipelines.len() as u32;
            for pl in pipelines {
                let (Some(id), Some(iid)) = (pl.id, pl.iid) else {
                    continue;
                };
                if self.before.is_some_and(|b| iid >= b) {
                    continue;
                }
                match self.known {
                    Some(k) if iid == k => return Ok(Scan::KnownListed),
                    Some(k) if iid < k => return Ok(Scan::BelowKnown),
                    _ => {}
                }
                if self.jobs_left == 0 {
                    searched.jobs_bound_hit = true;
                    return Ok(Scan::JobsSpent);
                }
                self.jobs_left -= 1;
                match passing_job(self.passing_jobs(id)?, self.job_name) {
                    Some(job) => {
                        return Ok(Scan::Found(GreenJob {
                            pipeline: PipelineRef {
                                id: Some(id.to_string()),
                                number: Some(iid),
                            },
                            job,
                            git_ref: pl.git_ref.or_else(|| Some(git_ref.to_string())),
                        }));
                    }
                    None => searched.without_job += 1,
                }
            }
            match listed.next {
                Some(next) => page = next,
                None => return Ok(Scan::Ended),
            }
        }
        // Every list read ended, or the search says "the newest N".
        searched.whole_list = false;
        Ok(Scan::More(page))
    }

    /// The passing jobs of pipeline `id` (its global id), one page of 100.
    fn passing_jobs(&self, id: u64) -> Result<Vec<crate::Job>, ProviderError> {
        let listed = get_list(
            &self.api,
            &["projects", &self.pid, "pipelines", &id.to_string(), "jobs"],
            &[("scope[]", "success")],
            1,
            100,
            "project",
        )?;
        Ok(listed
            .page
            .typed::<GlJob>(&self.api.conn.api_base)?
            .items
            .into_iter()
            .filter_map(to_job)
            .collect())
    }

    /// The project's default branch (`GET /projects/:id`, `default_branch`); `None` for an
    /// empty repository.
    fn default_branch(&self) -> Result<Option<String>, ProviderError> {
        let url = self.api.url(&["projects", &self.pid], &[]);
        let v = self.api.get_json(url, bearer(), "project")?;
        let p: GlProject = serde_json::from_value(v).unwrap_or_default();
        Ok(p.default_branch.filter(|b| !b.trim().is_empty()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{Body, FakeHost, conn};
    use crate::{Method, RunStatus};
    use serde_json::{Value, json};

    const API: &str = "https://gitlab.com/api/v4/projects/1";

    fn project() -> ProjectRef {
        ProjectRef {
            owner: "gitlab-org".into(),
            name: "gitlab-test".into(),
            id: Some("1".into()),
        }
    }

    fn list_url(r: &str, page: u32) -> String {
        format!(
            "{API}/pipelines?ref={r}&status=success&order_by=id&sort=desc&page={page}&per_page=20"
        )
    }

    fn jobs_url(id: u64) -> String {
        format!("{API}/pipelines/{id}/jobs?scope%5B%5D=success&page=1&per_page=100")
    }

    /// `(id, iid)` of passing pipelines on `r`, newest first (pipelines.md item shape).
    fn pipelines(r: &str, items: &[(u64, u64)]) -> Value {
        Value::Array(
            items
                .iter()
                .map(|(id, iid)| json!({"id": id, "iid": iid, "project_id": 1, "ref": r, "status": "success", "sha": "bd73"}))
                .collect(),
        )
    }

    fn jobs(items: &[(u64, &str)]) -> Value {
        Value::Array(
            items
                .iter()
                .map(|(id, name)| json!({"id": id, "name": name, "stage": "build", "status": "success", "allow_failure": false,
                                         "web_url": format!("https://gitlab.com/gitlab-org/gitlab-test/-/jobs/{id}")}))
                .collect(),
        )
    }

    fn project_body(default_branch: &str) -> Value {
        json!({"id": 1, "path_with_namespace": "gitlab-org/gitlab-test", "default_branch": default_branch})
    }

    fn search(
        host: &FakeHost,
        git_ref: Option<&str>,
        before: Option<u64>,
        known: Option<u64>,
    ) -> GreenRun {
        last_green_job(host, &conn(), &project(), "build", git_ref, before, known).unwrap()
    }

    fn found(r: &GreenRun) -> (Option<u64>, Option<&str>, &str, Option<&str>) {
        match r {
            GreenRun::Found(g) => (
                g.pipeline.number,
                g.pipeline.id.as_deref(),
                g.job.id.as_str(),
                g.git_ref.as_deref(),
            ),
            other => panic!("expected found, got {other:?}"),
        }
    }

    #[test]
    fn found_on_the_ref() {
        let host = FakeHost::new();
        host.on_json(
            Method::Get,
            &list_url("main", 1),
            200,
            pipelines("main", &[(46, 11), (44, 9)]),
        );
        host.on_json(
            Method::Get,
            &jobs_url(46),
            200,
            jobs(&[(300, "lint"), (301, "build")]),
        );
        let r = search(&host, Some("main"), Some(12), None);
        assert_eq!(found(&r), (Some(11), Some("46"), "301", Some("main")));
        let GreenRun::Found(g) = &r else {
            unreachable!()
        };
        assert_eq!(g.job.status, RunStatus::Success);
        assert_eq!(host.requests.borrow().len(), 2);
    }

    #[test]
    fn found_on_the_default_branch_when_the_ref_has_none() {
        let host = FakeHost::new();
        host.on_json(Method::Get, &list_url("feature%2Fx", 1), 200, json!([]));
        host.on_json(Method::Get, API, 200, project_body("main"));
        host.on_json(
            Method::Get,
            &list_url("main", 1),
            200,
            pipelines("main", &[(40, 8)]),
        );
        host.on_json(Method::Get, &jobs_url(40), 200, jobs(&[(200, "build")]));
        let r = search(&host, Some("feature/x"), Some(12), None);
        assert_eq!(found(&r), (Some(8), Some("40"), "200", Some("main")));
        assert_eq!(host.unused(), 0);

        // Without a ref: the default branch alone.
        let host = FakeHost::new();
        host.on_json(Method::Get, API, 200, project_body("main"));
        host.on_json(
            Method::Get,
            &list_url("main", 1),
            200,
            pipelines("main", &[(40, 8)]),
        );
        host.on_json(Method::Get, &jobs_url(40), 200, jobs(&[(200, "build")]));
        assert_eq!(found(&search(&host, None, None, None)).0, Some(8));
    }

    #[test]
    fn unchanged_when_known_is_reached() {
        let host = FakeHost::new();
        host.on_json(
            Method::Get,
            &list_url("main", 1),
            200,
            pipelines("main", &[(46, 11), (44, 9)]),
        );
        assert_eq!(
            search(&host, Some("main"), Some(12), Some(11)),
            GreenRun::Unchanged
        );
        assert_eq!(
            host.requests.borrow().len(),
            1,
            "no job list for the run the host holds"
        );

        // `known` on the default branch: the feature branch's list is empty, main lists it.
        let host = FakeHost::new();
        host.on_json(Method::Get, &list_url("feature%2Fx", 1), 200, json!([]));
        host.on_json(Method::Get, API, 200, project_body("main"));
        host.on_json(
            Method::Get,
            &list_url("main", 1),
            200,
            pipelines("main", &[(46, 11)]),
        );
        assert_eq!(
            search(&host, Some("feature/x"), Some(12), Some(11)),
            GreenRun::Unchanged
        );
    }

    #[test]
    fn none_past_the_bound_within_the_request_bound() {
        // The ref is the default branch; every passing pipeline lacks the job.
        let host = FakeHost::new();
        let page1: Vec<(u64, u64)> = (0..20).map(|i| (100 - i, 50 - i)).collect();
        host.on(
            Method::Get,
            &list_url("main", 1),
            200,
            &pipelines("main", &page1).to_string(),
        );
        host.on_json(Method::Get, API, 200, project_body("main"));
        for (id, _) in &page1 {
            host.on_json(
                Method::Get,
                &jobs_url(*id),
                200,
                jobs(&[(id * 10, "deploy")]),
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

        // Every passing pipeline is newer than the failure: two pages of the ref, then none.
        let host = FakeHost::new();
        let newer: Vec<(u64, u64)> = (0..20).map(|i| (900 - i, 400 - i)).collect();
        let older: Vec<(u64, u64)> = (0..20).map(|i| (880 - i, 380 - i)).collect();
        let body =
            |p: &[(u64, u64)]| Ok(Body::Bytes(pipelines("main", p).to_string().into_bytes()));
        host.on_with(
            Method::Get,
            &list_url("main", 1),
            200,
            &[("x-next-page", "2")],
            body(&newer),
        );
        host.on_with(
            Method::Get,
            &list_url("main", 2),
            200,
            &[("x-next-page", "3")],
            body(&older),
        );
        host.on_json(Method::Get, API, 200, project_body("main"));
        let r = search(&host, Some("main"), Some(300), None);
        assert_eq!(
            r,
            GreenRun::None("no passing run of `build` on `main` among the 40 newest passing pipelines (below #300)".into())
        );
        assert_eq!(host.requests.borrow().len(), (LIST_PAGES + 1) as usize);
    }

    #[test]
    fn a_passing_pipeline_without_the_job_is_skipped() {
        let host = FakeHost::new();
        host.on_json(
            Method::Get,
            &list_url("main", 1),
            200,
            pipelines("main", &[(46, 11), (44, 9)]),
        );
        host.on_json(Method::Get, &jobs_url(46), 200, jobs(&[(300, "docs")]));
        host.on_json(Method::Get, &jobs_url(44), 200, jobs(&[(290, "build")]));
        assert_eq!(found(&search(&host, Some("main"), None, None)).0, Some(9));
    }

    #[test]
    fn before_is_respected() {
        let host = FakeHost::new();
        host.on_json(
            Method::Get,
            &list_url("main", 1),
            200,
            pipelines("main", &[(50, 13), (46, 11)]),
        );
        host.on_json(Method::Get, &jobs_url(46), 200, jobs(&[(301, "build")]));
        assert_eq!(
            found(&search(&host, Some("main"), Some(12), None)).0,
            Some(11)
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
            host.on(
                Method::Get,
                &list_url("main", 1),
                status,
                r#"{"message":"no"}"#,
            );
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
    }
}
