//! The failing job's last green run, for the analysis to compare the failing log with (issue
//! 12): a line the green run also printed did not fail it, so it is not the cause; a new one
//! is where to look.
//!
//! The plugin finds the run (`green-runs.last-green-job`, contract 0.1.2) and reads its log
//! (`extract-job-log`, into a [`FingerprintSink`]); the host keeps only a bounded fingerprint
//! of it ([`exlogare_analysis::Fingerprint`]) per connection, project, job name and ref
//! ([`FingerprintStore`], kept in SQLite by `green_store.rs`). Costs, in provider requests:
//! - the first failure of a job: the plugin's search (a few; its documented bound) plus the
//!   green log (as many as any log read);
//! - a failure within [`RECHECK_AFTER_MS`] of the last lookup for the same job and ref: none;
//! - a later one: the search, which stops at the run the host already has (`known`), and no
//!   log unless a newer green run exists.
//!
//! Without a green run, without room in the connection's request budget, or when the lookup
//! fails, the analysis reads the failing log alone and the message says which ([`Mode`]).
//! [`plan`] is the policy, apart from the calls.

use exlogare_analysis::Fingerprint;
use exlogare_runtime::contract;
use exlogare_runtime::log_sink::{self, LogSink};
use exlogare_runtime::plugin::{CallContext, LoadedPlugin};

/// How long a lookup's answer stands for the same job and ref: failures in a row (a broken
/// main branch fails every pipeline) cost no request until then.
pub const RECHECK_AFTER_MS: i64 = 10 * 60_000;

/// Requests of the connection's budget that must be left before a lookup is started: the
/// plugin's search and the green log, with room over for the failing logs themselves. Below
/// this the failing logs come first and the comparison is skipped.
pub const GREEN_RESERVE: u32 = 12;

/// Failed jobs of one pipeline that are compared; the others are analysed alone (each lookup
/// may read a whole log).
pub const MAX_COMPARED_JOBS: usize = 3;

/// Which green run a failing job is compared with: connection, project, job name, ref.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GreenKey {
    pub connection: String,
    /// `owner/name`.
    pub project: String,
    pub job_name: String,
    /// The failing run's branch or tag; empty when the provider did not say.
    pub git_ref: String,
}

/// What the host keeps of the last lookup for a [`GreenKey`].
#[derive(Debug, Clone, PartialEq)]
pub struct StoredGreen {
    /// The green pipeline's number (passed back as `known`); `None` when no run was found or
    /// the provider gave none.
    pub pipeline: Option<u64>,
    /// `#1286`, as the message names the run.
    pub label: String,
    /// The ref the green run ran on (the default branch when the failing ref had none).
    pub git_ref: Option<String>,
    /// [`Fingerprint::to_bytes`]; `None` when no green run was found.
    pub fingerprint: Option<Vec<u8>>,
    /// Why there is no green run, in the plugin's words.
    pub none_reason: Option<String>,
    /// When the plugin was last asked (epoch ms).
    pub checked_at: i64,
}

/// Where fingerprints are kept between failures. Errors are the store's words; a lookup that
/// cannot read or write its row goes on without it (the comparison is an aid, never a
/// reason to lose a failure).
pub trait FingerprintStore {
    fn load_green(&self, key: &GreenKey) -> Result<Option<StoredGreen>, String>;
    fn save_green(&self, key: &GreenKey, green: &StoredGreen) -> Result<(), String>;
}

/// How a failing job's log was read, for the message and the stored report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Against the green run `label` on `git_ref`.
    Compared {
        label: String,
        git_ref: Option<String>,
    },
    /// The plugin found no green run; its words.
    NoGreenRun(String),
    /// A green run may exist but was not used; why.
    NotCompared(String),
}

impl Mode {
    /// For metrics: `compared`, `no_green_run`, `not_compared`.
    pub fn kind(&self) -> &'static str {
        match self {
            Mode::Compared { .. } => "compared",
            Mode::NoGreenRun(_) => "no_green_run",
            Mode::NotCompared(_) => "not_compared",
        }
    }

    /// The message's line, in English (the stored report's words). `outcome` is the analysis's
    /// `comparison.outcome` when it compared.
    pub fn line(&self, outcome: Option<&str>) -> String {
        self.said(outcome).line(exlogare_notify::Language::En)
    }

    /// What the message says of it, without the words (each route's language says it): the
    /// plugin's reasons cut to one bounded line here, where they come in.
    pub fn said(&self, outcome: Option<&str>) -> exlogare_notify::Comparison {
        use exlogare_notify::Comparison;
        match self {
            Mode::Compared { label, git_ref } => Comparison::Compared {
                label: label.clone(),
                git_ref: git_ref.clone(),
                nothing_new: outcome == Some("nothing_new"),
            },
            Mode::NoGreenRun(why) => Comparison::NoGreenRun {
                why: crate::provider_words::bounded_line(why, 160),
            },
            Mode::NotCompared(why) => Comparison::NotCompared {
                why: crate::provider_words::bounded_line(why, 200),
            },
        }
    }
}

/// What to do for one failing job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// The stored answer is recent: no request.
    UseStored,
    /// Ask the plugin, naming the run already fingerprinted.
    Ask { known: Option<u64> },
    /// Read the failing log alone, for this reason.
    Skip(String),
}

/// The policy: `index` is the job's place among the pipeline's failed jobs, `budget_left`
/// the connection's requests left this hour (`None`: no budget applies).
pub fn plan(
    supported: bool,
    stored: Option<&StoredGreen>,
    index: usize,
    budget_left: Option<u32>,
    now: i64,
) -> Option<Plan> {
    if !supported {
        return None;
    }
    if index >= MAX_COMPARED_JOBS {
        return Some(Plan::Skip(format!(
            "only the first {MAX_COMPARED_JOBS} failed jobs of a pipeline are compared"
        )));
    }
    if let Some(s) = stored
        && now.saturating_sub(s.checked_at) < RECHECK_AFTER_MS
        && now >= s.checked_at
    {
        return Some(Plan::UseStored);
    }
    if let Some(left) = budget_left
        && left < GREEN_RESERVE
    {
        return Some(Plan::Skip(format!(
            "the connection's request budget has {left} requests left this hour, fewer than the {GREEN_RESERVE} a lookup keeps in reserve"
        )));
    }
    Some(Plan::Ask {
        known: stored.and_then(|s| s.fingerprint.as_ref().and(s.pipeline)),
    })
}

/// Feeds a green log's lines into a fingerprint as the plugin extracts it.
#[derive(Default)]
pub struct FingerprintSink {
    pub fingerprint: Fingerprint,
}

impl LogSink for FingerprintSink {
    fn emit(&mut self, chunk: log_sink::LogChunk) -> Result<(), String> {
        for line in chunk.lines {
            self.fingerprint.add_line(&line.text);
        }
        Ok(())
    }

    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any> {
        self
    }
}

/// The baseline for one failing job: the fingerprint to compare with, how the log is read,
/// and the requests the lookup made.
pub struct Baseline {
    pub fingerprint: Option<Fingerprint>,
    pub mode: Option<Mode>,
    pub requests: usize,
}

/// What one job's comparison cost: provider requests, and the wall time of the lookup and the
/// green log's read (zero for a stored answer).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GreenCost {
    pub requests: usize,
    pub elapsed: std::time::Duration,
}

/// Everything a lookup needs besides the job: the plugin and its call context, the store,
/// and the budget left when the analysis started.
pub struct GreenLookup<'a> {
    pub store: &'a dyn FingerprintStore,
    pub connection_id: &'a str,
    pub budget_left: Option<u32>,
    pub now: i64,
}

impl GreenLookup<'_> {
    /// Finds (or reuses) the green run of `job` of the failing `pipeline`, `index`-th of its
    /// failed jobs.
    pub fn baseline(
        &self,
        plugin: &LoadedPlugin,
        ctx: &dyn Fn(Option<Box<dyn LogSink>>) -> CallContext,
        conn: &contract::Connection,
        pipeline: &contract::Pipeline,
        job: &contract::Job,
        index: usize,
    ) -> Baseline {
        let key = GreenKey {
            connection: self.connection_id.to_owned(),
            project: format!("{}/{}", pipeline.project.owner, pipeline.project.name),
            job_name: job.name.clone(),
            git_ref: pipeline.git_ref.clone().unwrap_or_default(),
        };
        let stored = match self.store.load_green(&key) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(project = %key.project, job = %key.job_name, "cannot read the stored green run, looking it up again: {e}");
                None
            }
        };
        let none = |mode: Option<Mode>, requests| Baseline {
            fingerprint: None,
            mode,
            requests,
        };
        let plan = plan(
            plugin.supports_green_runs(),
            stored.as_ref(),
            index,
            self.budget_left,
            self.now,
        );
        let known = match plan {
            None => return none(None, 0),
            Some(Plan::Skip(why)) => return none(Some(Mode::NotCompared(why)), 0),
            Some(Plan::UseStored) => {
                let s = stored.expect("UseStored comes from a stored row");
                return from_stored(&s, 0);
            }
            Some(Plan::Ask { known }) => known,
        };
        let answer = plugin.last_green_job(
            ctx(None),
            conn,
            &pipeline.project,
            &job.name,
            pipeline.git_ref.as_deref(),
            pipeline.reference.number,
            known,
        );
        let out = match answer {
            Ok(Some(out)) => out,
            Ok(None) => return none(None, 0),
            Err(fault) => {
                return self.fallback(stored, format!("the plugin failed: {fault}"), 0);
            }
        };
        let mut requests = out.transcript.len();
        let run = match (out.value, out.over_budget) {
            (Ok(run), _) => run,
            (Err(_), Some(_)) => {
                return self.fallback(
                    stored,
                    "the connection's request budget ran out during the lookup".into(),
                    requests,
                );
            }
            (Err(e), None) => {
                return self.fallback(
                    stored,
                    format!(
                        "looking it up failed: {}",
                        crate::provider_words::provider_error_words(&e)
                    ),
                    requests,
                );
            }
        };
        let green = match run {
            contract::GreenRun::Unchanged => match stored {
                Some(mut s) if s.fingerprint.is_some() => {
                    s.checked_at = self.now;
                    self.save(&key, &s);
                    return from_stored(&s, requests);
                }
                // The plugin named a run the host does not have: nothing to compare with.
                _ => {
                    return none(
                        Some(Mode::NotCompared(
                            "the plugin answered `unchanged` for a green run this host has not fingerprinted"
                                .into(),
                        )),
                        requests,
                    );
                }
            },
            contract::GreenRun::None(why) => {
                let s = StoredGreen {
                    pipeline: None,
                    label: String::new(),
                    git_ref: None,
                    fingerprint: None,
                    none_reason: Some(why),
                    checked_at: self.now,
                };
                self.save(&key, &s);
                return from_stored(&s, requests);
            }
            contract::GreenRun::Found(green) => green,
        };
        // The same run as stored (a plugin that did not use `known`): no second download.
        if let Some(s) = stored.as_ref().filter(|s| {
            s.fingerprint.is_some() && s.pipeline.is_some() && s.pipeline == green.pipeline.number
        }) {
            let mut s = s.clone();
            s.checked_at = self.now;
            self.save(&key, &s);
            return from_stored(&s, requests);
        }
        let read = plugin.extract_job_log(
            ctx(Some(Box::new(FingerprintSink::default()))),
            conn,
            &pipeline.project,
            &green.job,
        );
        let label = crate::provider_words::pipeline_label(&green.pipeline);
        let out = match read {
            Ok(out) => out,
            Err(fault) => {
                return self.fallback(
                    stored,
                    format!("reading the green run {label}'s log failed: {fault}"),
                    requests,
                );
            }
        };
        requests += out.transcript.len();
        let why_not = match (&out.value, out.over_budget, out.log_text_cut) {
            (_, Some(_), _) => Some(format!(
                "the connection's request budget ran out while the green run {label}'s log was read"
            )),
            (Err(e), None, _) => Some(format!(
                "reading the green run {label}'s log failed: {}",
                crate::provider_words::provider_error_words(e)
            )),
            // A green log cut at the host's cap would make every later line look new.
            (Ok(_), None, true) => Some(format!(
                "the green run {label}'s log passed this host's text cap"
            )),
            (Ok(_), None, false) => None,
        };
        if let Some(why) = why_not {
            return self.fallback(stored, why, requests);
        }
        let fingerprint = out
            .sink
            .and_then(|s| s.into_any().downcast::<FingerprintSink>().ok())
            .map(|s| s.fingerprint)
            .unwrap_or_default();
        if fingerprint.lines == 0 {
            return self.fallback(
                stored,
                format!("the green run {label}'s log was empty"),
                requests,
            );
        }
        let s = StoredGreen {
            pipeline: green.pipeline.number,
            label,
            git_ref: green.git_ref.clone(),
            fingerprint: Some(fingerprint.to_bytes()),
            none_reason: None,
            checked_at: self.now,
        };
        self.save(&key, &s);
        Baseline {
            mode: Some(Mode::Compared {
                label: s.label,
                git_ref: s.git_ref,
            }),
            fingerprint: Some(fingerprint),
            requests,
        }
    }

    /// A lookup that failed: the fingerprint stored earlier still describes a green run of
    /// the job, so it is used; without one the log is read alone, saying why. The stored row
    /// is left as it was, so the next failure asks again.
    fn fallback(&self, stored: Option<StoredGreen>, why: String, requests: usize) -> Baseline {
        match stored {
            Some(s) if s.fingerprint.is_some() => {
                tracing::info!("green run lookup failed, comparing with the stored one: {why}");
                from_stored(&s, requests)
            }
            _ => Baseline {
                fingerprint: None,
                mode: Some(Mode::NotCompared(why)),
                requests,
            },
        }
    }

    fn save(&self, key: &GreenKey, s: &StoredGreen) {
        if let Err(e) = self.store.save_green(key, s) {
            tracing::warn!(project = %key.project, job = %key.job_name, "cannot store the green run: {e}");
        }
    }
}

/// The baseline a stored row gives: its fingerprint, or the reason there is none.
fn from_stored(s: &StoredGreen, requests: usize) -> Baseline {
    let fingerprint = s.fingerprint.as_deref().and_then(Fingerprint::from_bytes);
    let mode = match (&fingerprint, &s.none_reason) {
        (Some(_), _) => Mode::Compared {
            label: s.label.clone(),
            git_ref: s.git_ref.clone(),
        },
        (None, Some(why)) => Mode::NoGreenRun(why.clone()),
        (None, None) => Mode::NotCompared(
            "the stored fingerprint of the green run could not be read; it is looked up again next time".into(),
        ),
    };
    Baseline {
        fingerprint,
        mode: Some(mode),
        requests,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(pipeline: Option<u64>, checked_at: i64) -> StoredGreen {
        StoredGreen {
            pipeline,
            label: pipeline.map(|n| format!("#{n}")).unwrap_or_default(),
            git_ref: Some("main".into()),
            fingerprint: pipeline.map(|_| Fingerprint::new().to_bytes()),
            none_reason: pipeline.is_none().then(|| "no passing run".into()),
            checked_at,
        }
    }

    #[test]
    fn a_recent_answer_is_reused_without_a_request() {
        let now = 1_000_000_000;
        let fresh = stored(Some(1286), now - RECHECK_AFTER_MS + 1);
        assert_eq!(
            plan(true, Some(&fresh), 0, Some(100), now),
            Some(Plan::UseStored)
        );
        // "No green run" is an answer too: a failing main branch does not ask again each time.
        let none = stored(None, now - 1000);
        assert_eq!(
            plan(true, Some(&none), 0, Some(100), now),
            Some(Plan::UseStored)
        );
    }

    #[test]
    fn an_old_answer_is_checked_naming_the_run_already_fingerprinted() {
        let now = 1_000_000_000;
        let old = stored(Some(1286), now - RECHECK_AFTER_MS);
        assert_eq!(
            plan(true, Some(&old), 0, Some(100), now),
            Some(Plan::Ask { known: Some(1286) })
        );
        let old_none = stored(None, now - RECHECK_AFTER_MS - 5);
        assert_eq!(
            plan(true, Some(&old_none), 0, None, now),
            Some(Plan::Ask { known: None })
        );
        assert_eq!(
            plan(true, None, 0, None, now),
            Some(Plan::Ask { known: None })
        );
        // A clock that went back does not make a row from the future "recent" forever.
        let future = stored(Some(1286), now + 60_000);
        assert_eq!(
            plan(true, Some(&future), 0, None, now),
            Some(Plan::Ask { known: Some(1286) })
        );
    }

    #[test]
    fn the_budget_and_the_job_cap_skip_the_lookup_and_say_why() {
        let now = 1_000_000_000;
        let Some(Plan::Skip(why)) = plan(true, None, 0, Some(GREEN_RESERVE - 1), now) else {
            panic!("a low budget must skip")
        };
        assert!(why.contains("request budget has 11 requests left"), "{why}");
        assert_eq!(
            plan(true, None, 0, Some(GREEN_RESERVE), now),
            Some(Plan::Ask { known: None })
        );
        let Some(Plan::Skip(why)) = plan(true, None, MAX_COMPARED_JOBS, None, now) else {
            panic!("past the job cap must skip")
        };
        assert!(why.contains("first 3 failed jobs"), "{why}");
        // A plugin without the export: no comparison and no line about it.
        assert_eq!(plan(false, None, 0, None, now), None);
    }

    #[test]
    fn each_mode_reads_as_a_sentence() {
        let compared = Mode::Compared {
            label: "#1286".into(),
            git_ref: Some("main".into()),
        };
        assert_eq!(
            compared.line(Some("new_failure_line")),
            "compared with the last green run #1286 on main"
        );
        assert_eq!(
            compared.line(Some("nothing_new")),
            "compared with the last green run #1286 on main: the failed step printed nothing that run did not, so the log was read alone"
        );
        assert_eq!(
            Mode::NoGreenRun(
                "no passing run of `build` on `main` among the 40 newest pipelines".into()
            )
            .line(None),
            "no green run to compare with (no passing run of `build` on `main` among the 40 newest pipelines)"
        );
        assert_eq!(
            Mode::NoGreenRun(" ".into()).line(None),
            "no green run to compare with"
        );
        assert!(
            Mode::NotCompared("x".repeat(500))
                .line(None)
                .starts_with("not compared with a green run: xxx")
        );
    }

    /// The plugin's words reach a chat message: Cyrillic, a 1 MB line, control characters
    /// and U+FFFD (what invalid UTF-8 became) are cut by whole characters to one bounded line.
    #[test]
    fn any_words_from_the_plugin_become_one_bounded_line() {
        let huge = "ветка «main»: нет зелёного запуска \u{FFFD}\0\n".repeat(30_000);
        for mode in [
            Mode::NoGreenRun(huge.clone()),
            Mode::NotCompared(huge.clone()),
        ] {
            let line = mode.line(None);
            assert!(!line.contains('\n'), "{line}");
            assert!(line.chars().count() < 260, "{}", line.chars().count());
            assert!(line.contains('…'), "cut, and says so: {line}");
        }
        let label = Mode::Compared {
            label: "#7".into(),
            git_ref: Some("фича/ёлка".into()),
        };
        assert_eq!(
            label.line(None),
            "compared with the last green run #7 on фича/ёлка"
        );
    }

    #[test]
    fn a_stored_row_gives_its_fingerprint_or_its_reason() {
        let mut fp = Fingerprint::new();
        fp.add_line("Compiling serde v1.0.200");
        let s = StoredGreen {
            fingerprint: Some(fp.to_bytes()),
            ..stored(Some(1286), 0)
        };
        let b = from_stored(&s, 0);
        assert_eq!(b.fingerprint.map(|f| f.lines), Some(1));
        assert_eq!(
            b.mode,
            Some(Mode::Compared {
                label: "#1286".into(),
                git_ref: Some("main".into())
            })
        );
        let b = from_stored(&stored(None, 0), 2);
        assert!(b.fingerprint.is_none());
        assert_eq!(b.requests, 2);
        assert_eq!(b.mode, Some(Mode::NoGreenRun("no passing run".into())));
        // Bytes of another version are not trusted: read alone, looked up again next time.
        let corrupt = StoredGreen {
            fingerprint: Some(b"EXF9 something else".to_vec()),
            ..stored(Some(1286), 0)
        };
        assert!(matches!(
            from_stored(&corrupt, 0).mode,
            Some(Mode::NotCompared(_))
        ));
    }
}
