//! `green-runs.last-green-job`: the newest passing run of a job, so the host can compare the
//! failing log with it.
//!
//! Bound: at most 3 requests. The passing pipelines of `git-ref`
//! (`GET …/pipelines?ref=&status=success&per_page=20`, newest first, jobs included); when none
//! has a passing run of the job, the project (`GET /projects/{owner}/{name}`) for its default
//! branch and that branch's list. Without a ref, the default branch alone.

use serde_json::Value;

use exlogare_kit::green::{Searched, check_job_name, passing_job, same_ref};
use exlogare_kit::http::Api;
use exlogare_kit::json::value_string;
use exlogare_kit::{GreenJob, GreenRun};

use crate::model::pipelines;
use crate::{Connection, Host, ProjectRef, ProviderError, bearer, project_path};

/// Passing pipelines read per ref.
pub const PER_REF: u32 = 20;

pub fn last_green_job<H: Host>(
    host: &H,
    conn: &Connection,
    project: &ProjectRef,
    job_name: &str,
    git_ref: Option<&str>,
    before: Option<u64>,
    known: Option<u64>,
) -> Result<GreenRun, ProviderError> {
    let job_name = check_job_name(job_name)?;
    let (owner, name) = project_path(project)?;
    let api = Api::new(host, conn);
    let mut searched = Searched {
        job_name,
        git_ref,
        before,
        passing_only: true,
        whole_list: true,
        ..Default::default()
    };
    if let Some(r) = git_ref
        && let Some(answer) = search(&api, (owner, name), r, before, known, &mut searched)?
    {
        return Ok(answer);
    }
    let url = api.url(&["projects", owner, name], &[]);
    let default = api
        .get_json(url, bearer(), "project")?
        .get("default_branch")
        .and_then(value_string)
        .unwrap_or_else(|| "main".into());
    if git_ref.is_some_and(|r| same_ref(Some(r), &default)) {
        return Ok(searched.none());
    }
    searched.default_branch = Some(&default);
    Ok(
        search(&api, (owner, name), &default, before, known, &mut searched)?
            .unwrap_or_else(|| searched.none()),
    )
}

/// One ref's passing pipelines, newest first: the first with a passing run of the job, or
/// `unchanged` on meeting `known`; `None` when the list has neither.
fn search<H: Host>(
    api: &Api<H>,
    (owner, name): (&str, &str),
    git_ref: &str,
    before: Option<u64>,
    known: Option<u64>,
    searched: &mut Searched,
) -> Result<Option<GreenRun>, ProviderError> {
    let per_page = PER_REF.to_string();
    let query = [
        ("ref", git_ref),
        ("status", "success"),
        ("per_page", &per_page),
    ];
    let url = api.url(&["projects", owner, name, "pipelines"], &query);
    let list: Value = api.get_json(url, bearer(), "git-ref")?;
    let listed = pipelines(list, "the list of passing pipelines")?;
    searched.whole_list &= listed.len() < PER_REF as usize;
    for pl in listed {
        let Some(number) = pl.number else { continue };
        searched.pipelines += 1;
        if before.is_some_and(|b| number >= b) {
            continue;
        }
        if known.is_some_and(|k| number <= k) {
            return Ok(Some(GreenRun::Unchanged));
        }
        match passing_job(pl.jobs(), searched.job_name) {
            Some(job) => {
                return Ok(Some(GreenRun::Found(GreenJob {
                    pipeline: pl.reference(),
                    job,
                    git_ref: pl.git_ref.clone().or_else(|| Some(git_ref.to_string())),
                })));
            }
            None => searched.without_job += 1,
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Method;
    use exlogare_kit::testing::FakeHost;

    const LIST: &str = "https://ci.example.com/api/v1/projects/example/widgets/pipelines";

    fn project() -> ProjectRef {
        ProjectRef {
            owner: "example".into(),
            name: "widgets".into(),
            id: None,
        }
    }

    #[test]
    fn the_newest_passing_run_below_the_failure_then_the_default_branch() {
        let host = FakeHost::new();
        let conn = crate::endpoints::defaults("https://ci.example.com").unwrap();
        host.on_json(
            Method::Get,
            &format!("{LIST}?ref=feature&status=success&per_page=20"),
            200,
            serde_json::json!({"pipelines": [
                {"number": 40, "ref": "feature", "jobs": [{"id": 5, "name": "lint", "status": "success"}]}]}),
        );
        host.on_json(
            Method::Get,
            "https://ci.example.com/api/v1/projects/example/widgets",
            200,
            serde_json::json!({"default_branch": "main"}),
        );
        host.on_json(
            Method::Get,
            &format!("{LIST}?ref=main&status=success&per_page=20"),
            200,
            serde_json::json!({"pipelines": [
                {"number": 43, "jobs": [{"id": 9, "name": "test", "status": "success"}]},
                {"number": 39, "id": "p-39", "jobs": [{"id": 7, "name": "test", "status": "success"}]}]}),
        );
        let found = last_green_job(
            &host,
            &conn,
            &project(),
            "test",
            Some("feature"),
            Some(42),
            None,
        );
        let Ok(GreenRun::Found(g)) = found else {
            panic!("{found:?}")
        };
        assert_eq!((g.pipeline.number, g.job.id.as_str()), (Some(39), "7"));
        assert_eq!(g.git_ref.as_deref(), Some("main"));
        assert_eq!(host.requests.borrow().len(), 3);
    }
}
