//! What every provider's `last-green-job` (interface `green-runs`, contract 0.1.2) shares and no
//! provider knows: which job of a passing pipeline is the one asked for, whether two refs name
//! the same branch, and the words of a `none` answer. Where the pipelines come from, and the
//! request bound of the search, are the provider's.

use crate::bindings::exports::exlogare::ci::green_runs::GreenRun;
use crate::{Job, ProviderError, RunStatus};

/// The job name the host asks for, trimmed; `invalid-input` on `job-name` when it is empty.
pub fn check_job_name(job_name: &str) -> Result<&str, ProviderError> {
    let name = job_name.trim();
    if name.is_empty() {
        return Err(crate::invalid_input(
            "job-name",
            "the name of the job to find a passing run of is empty",
        ));
    }
    Ok(name)
}

/// A branch or tag without its `refs/heads/` or `refs/tags/` prefix, so the ref of an event
/// and the ref of a listed pipeline compare whichever form either uses.
pub fn short_ref(r: &str) -> &str {
    let r = r.trim();
    r.strip_prefix("refs/heads/")
        .or_else(|| r.strip_prefix("refs/tags/"))
        .unwrap_or(r)
}

/// Whether a pipeline's ref (`None` when the provider did not say) is `wanted`.
pub fn same_ref(pipeline_ref: Option<&str>, wanted: &str) -> bool {
    pipeline_ref.is_some_and(|r| short_ref(r) == short_ref(wanted))
}

/// Whether `job` is a passing run of the job named `job_name`: the same name exactly (job
/// names are the CI file's keys, so case matters; surrounding spaces do not) and `success`.
pub fn is_passing_run(job: &Job, job_name: &str) -> bool {
    job.status == RunStatus::Success && job.name.trim() == job_name.trim()
}

/// The passing run of `job_name` among a pipeline's jobs. A pipeline that lists the name more
/// than once (a retried job) gives the newest attempt: the highest numeric id.
pub fn passing_job(jobs: impl IntoIterator<Item = Job>, job_name: &str) -> Option<Job> {
    jobs.into_iter()
        .filter(|j| is_passing_run(j, job_name))
        .max_by_key(|j| j.id.trim().parse::<u64>().unwrap_or(0))
}

/// What a search read without finding a passing run, for `green-run::none`.
#[derive(Debug, Default, Clone)]
pub struct Searched<'a> {
    pub job_name: &'a str,
    /// The ref searched first; `None` when the host gave none.
    pub git_ref: Option<&'a str>,
    /// The project's default branch, when the search looked there too.
    pub default_branch: Option<&'a str>,
    /// Pipelines read from the provider's lists.
    pub pipelines: u32,
    /// The lists ended within the bound (every pipeline there is was read).
    pub whole_list: bool,
    /// The lists held passing pipelines only (the provider filtered them by status).
    pub passing_only: bool,
    /// Passing pipelines whose jobs were read and held no passing run of the job.
    pub without_job: u32,
    /// The job-list requests ran out before every passing pipeline read was checked.
    pub jobs_bound_hit: bool,
    /// The failing pipeline's number: only pipelines below it were candidates.
    pub before: Option<u64>,
}

impl Searched<'_> {
    /// In words, e.g. "no passing run of `build` on `main` among the 40 newest pipelines".
    pub fn describe(&self) -> String {
        let mut out = format!("no passing run of `{}`", self.job_name);
        match (self.git_ref, self.default_branch) {
            (Some(r), Some(d)) if short_ref(r) != short_ref(d) => {
                out += &format!(" on `{r}` nor on the default branch `{d}`")
            }
            (Some(r), _) => out += &format!(" on `{r}`"),
            (None, Some(d)) => out += &format!(" on the default branch `{d}`"),
            (None, None) => out += " on the default branch",
        }
        let n = self.pipelines;
        let kind = if self.passing_only {
            "passing pipeline"
        } else {
            "pipeline"
        };
        let plural = if n == 1 { "" } else { "s" };
        if self.whole_list && n == 0 {
            out += &format!(" (no {kind} listed)");
        } else if self.whole_list {
            out += &format!(" among all {n} {kind}{plural} listed");
        } else {
            out += &format!(" among the {n} newest {kind}{plural}");
        }
        if let Some(b) = self.before {
            out += &format!(" (below #{b})");
        }
        if self.without_job > 0 {
            let m = self.without_job;
            let s = if m == 1 { "" } else { "s" };
            out += &format!(
                "; {m} passing pipeline{s} had no passing `{}` job",
                self.job_name
            );
        }
        if self.jobs_bound_hit {
            out += "; the search reads no more jobs than that";
        }
        out
    }

    pub fn none(&self) -> GreenRun {
        GreenRun::None(self.describe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str, name: &str, status: RunStatus) -> Job {
        Job {
            id: id.into(),
            name: name.into(),
            stage: None,
            status,
            allow_failure: false,
            started_at: None,
            finished_at: None,
            web_url: None,
        }
    }

    #[test]
    fn the_passing_job_of_that_name_newest_attempt_first() {
        let jobs = vec![
            job("7", "build", RunStatus::Failed),
            job("9", "build", RunStatus::Success),
            job("8", "build", RunStatus::Success),
            job("10", "Build", RunStatus::Success),
            job("11", "build:arm", RunStatus::Success),
        ];
        assert_eq!(passing_job(jobs.clone(), " build ").unwrap().id, "9");
        assert!(passing_job(jobs, "test").is_none());
        assert!(!is_passing_run(
            &job("1", "lint", RunStatus::Warning),
            "lint"
        ));
    }

    #[test]
    fn refs_and_job_names() {
        assert!(same_ref(Some("refs/heads/main"), "main"));
        assert!(same_ref(Some("v1.2"), "refs/tags/v1.2"));
        assert!(!same_ref(Some("main"), "master"));
        assert!(!same_ref(None, "main"));
        assert_eq!(check_job_name(" build ").unwrap(), "build");
        assert!(
            matches!(check_job_name("  "), Err(ProviderError::InvalidInput(i)) if i.field == "job-name")
        );
    }

    #[test]
    fn none_says_what_was_searched() {
        let s = Searched {
            job_name: "build",
            git_ref: Some("main"),
            pipelines: 40,
            ..Searched::default()
        };
        assert_eq!(
            s.describe(),
            "no passing run of `build` on `main` among the 40 newest pipelines"
        );
        let s = Searched {
            job_name: "build",
            git_ref: Some("feature/x"),
            default_branch: Some("main"),
            pipelines: 7,
            whole_list: true,
            without_job: 1,
            before: Some(1288),
            ..Searched::default()
        };
        assert_eq!(
            s.describe(),
            "no passing run of `build` on `feature/x` nor on the default branch `main` among all 7 pipelines listed (below #1288); 1 passing pipeline had no passing `build` job"
        );
        assert!(matches!(s.none(), GreenRun::None(t) if t.contains("feature/x")));
        let s = Searched {
            job_name: "build",
            git_ref: Some("main"),
            whole_list: true,
            passing_only: true,
            ..Searched::default()
        };
        assert_eq!(
            s.describe(),
            "no passing run of `build` on `main` (no passing pipeline listed)"
        );
    }
}
