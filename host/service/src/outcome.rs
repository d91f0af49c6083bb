//! What processing one delivery decided, and the one place that writes it.
//!
//! The worker's steps (`service.rs`: the connection, the token, the analysis, the
//! notifications; `accounts/credentials.rs`: the token's failures) each return an [`Outcome`]
//! instead of writing the delivery's state themselves; [`record`] applies it: one storage
//! write, one log line, one metric per decision. So a delivery's story reads from one
//! function, and a new way to end (a new backend for the queue, a new metric) changes one
//! place. Reasons carry no secrets: they become the stored `last_error`.

use crate::metrics::Metrics;
use crate::storage::{Delivery, StorageError, Store, now_ms};
use exlogare_notify::Comparison;
use exlogare_notify::FailureMessage;

/// A comparison's words through `scrub`; its shape unchanged.
fn scrub_comparison(c: Comparison, scrub: &dyn Fn(&str) -> String) -> Comparison {
    match c {
        Comparison::Compared {
            label,
            git_ref,
            nothing_new,
        } => Comparison::Compared {
            label: scrub(&label),
            git_ref: git_ref.as_deref().map(scrub),
            nothing_new,
        },
        Comparison::NoGreenRun { why } => Comparison::NoGreenRun { why: scrub(&why) },
        Comparison::NotCompared { why } => Comparison::NotCompared { why: scrub(&why) },
    }
}

/// The decision about one claimed delivery.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Analysed: the message is stored with the delivery (a retried notification does not
    /// redo the analysis) and then posted.
    Report(FailureMessage),
    /// A failure worth another attempt, no sooner than `at_least_ms` (a provider's
    /// `Retry-After`); after the last attempt the delivery is parked with the reason.
    Retry { reason: String, at_least_ms: u64 },
    /// A wait that is not a failure (the request budget, a disabled plugin, an unusable
    /// connection): back in the queue at `until_ms` without spending the attempt.
    Defer {
        reason: String,
        until_ms: i64,
        /// The `exlogare_analyses_total` outcome it counts as.
        metric: &'static str,
    },
    /// Kept aside for an operator (`exlogare-host parked --retry`) with the reason.
    Park { reason: String },
    /// Nothing more to do; the note says why when it is not the normal end (a duplicate).
    Done { note: Option<String> },
}

impl Outcome {
    pub fn retry(reason: impl Into<String>) -> Outcome {
        Outcome::Retry {
            reason: reason.into(),
            at_least_ms: 0,
        }
    }

    pub fn park(reason: impl Into<String>) -> Outcome {
        Outcome::Park {
            reason: reason.into(),
        }
    }

    /// The outcome with every text in it passed through `scrub` (scrub.rs): the reasons that
    /// become `last_error`, and the message's words that reach chat; the log's own lines
    /// (excerpt, summary: already redacted by the analysis) through `log_line`, which only
    /// takes out the connection's secrets and leaves the line as the log has it.
    pub fn scrubbed(
        self,
        scrub: &dyn Fn(&str) -> String,
        log_line: &dyn Fn(&str) -> String,
    ) -> Outcome {
        match self {
            Outcome::Report(mut m) => {
                m.note = m.note.as_deref().map(scrub);
                for job in &mut m.jobs {
                    job.name = scrub(&job.name);
                    job.stage = job.stage.as_deref().map(scrub);
                    job.failing_step = job.failing_step.as_deref().map(scrub);
                    job.summary = log_line(&job.summary);
                    job.log_unavailable = job.log_unavailable.as_deref().map(scrub);
                    // The green-run line can carry the plugin's words (why a lookup failed).
                    job.comparison = job.comparison.as_deref().map(scrub);
                    job.compared = job.compared.take().map(|c| scrub_comparison(c, scrub));
                    for (_, line) in &mut job.excerpt {
                        *line = log_line(line);
                    }
                }
                Outcome::Report(m)
            }
            Outcome::Retry {
                reason,
                at_least_ms,
            } => Outcome::Retry {
                reason: scrub(&reason),
                at_least_ms,
            },
            Outcome::Defer {
                reason,
                until_ms,
                metric,
            } => Outcome::Defer {
                reason: scrub(&reason),
                until_ms,
                metric,
            },
            Outcome::Park { reason } => Outcome::Park {
                reason: scrub(&reason),
            },
            Outcome::Done { note } => Outcome::Done {
                note: note.as_deref().map(scrub),
            },
        }
    }
}

/// Applies `outcome` to the claimed delivery `d`. Returns the message to post for a
/// [`Outcome::Report`] (already stored), `None` otherwise.
pub fn record(
    store: &Store,
    metrics: &Metrics,
    worker: &crate::config::WorkerConfig,
    d: &Delivery,
    outcome: Outcome,
) -> Result<Option<FailureMessage>, StorageError> {
    let (id, conn, project, pipeline) = (d.id, &d.connection, &d.project, &d.pipeline);
    match outcome {
        Outcome::Report(message) => {
            let json = serde_json::to_string(&message).expect("a message serializes");
            store.save_report(id, &json)?;
            metrics.analysis("reported");
            return Ok(Some(message));
        }
        Outcome::Retry {
            reason,
            at_least_ms,
        } => match retry_at(worker, d.attempts, at_least_ms) {
            Some(wait) => {
                tracing::info!(
                    delivery = id, connection = %conn, project = %project, pipeline = %pipeline,
                    "retrying in {} s (attempt {} of {} failed): {reason}",
                    wait.div_ceil(1000), d.attempts, worker.max_attempts
                );
                store.retry_later(id, &reason, now_ms() + wait as i64)?;
            }
            None => {
                let reason = format!("gave up after {} attempts: {reason}", d.attempts);
                tracing::warn!(delivery = id, connection = %conn, project = %project, pipeline = %pipeline, "parked: {reason}");
                metrics.analysis("parked");
                store.park(id, &reason)?;
            }
        },
        Outcome::Defer {
            reason,
            until_ms,
            metric,
        } => {
            tracing::info!(delivery = id, connection = %conn, project = %project, pipeline = %pipeline, "deferred: {reason}");
            metrics.analysis(metric);
            store.defer(id, &reason, until_ms)?;
        }
        Outcome::Park { reason } => {
            tracing::warn!(delivery = id, connection = %conn, project = %project, pipeline = %pipeline, "parked: {reason}");
            metrics.analysis("parked");
            store.park(id, &reason)?;
        }
        Outcome::Done { note } => {
            tracing::info!(delivery = id, connection = %conn, project = %project, pipeline = %pipeline,
                "done{}", note.as_deref().map(|n| format!(": {n}")).unwrap_or_default());
            store.complete(id, note.as_deref())?;
        }
    }
    Ok(None)
}

/// How long until the next attempt after attempt `attempts` failed, or `None` when it was the
/// last one allowed.
pub fn retry_at(
    worker: &crate::config::WorkerConfig,
    attempts: u32,
    at_least_ms: u64,
) -> Option<u64> {
    (attempts < worker.max_attempts).then(|| worker.backoff_ms(attempts).max(at_least_ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::WorkerConfig;
    use crate::storage::{Enqueued, NewDelivery};

    fn claimed(store: &Store) -> Delivery {
        let new = NewDelivery {
            provider: "gitflic".into(),
            connection: "cloud".into(),
            project: "acme/app".into(),
            pipeline: "7".into(),
            also_known_as: vec![],
            event_json: "{}".into(),
            source: "webhook",
        };
        assert!(matches!(
            store.enqueue(&new, 10).unwrap(),
            Enqueued::Stored(_)
        ));
        store.claim_due(now_ms()).unwrap().unwrap()
    }

    fn worker() -> WorkerConfig {
        WorkerConfig {
            max_attempts: 2,
            backoff_base_ms: 1000,
            backoff_max_ms: 4000,
            ..WorkerConfig::default()
        }
    }

    #[test]
    fn the_green_run_line_is_scrubbed_like_the_rest_of_a_report() {
        use exlogare_notify::JobMessage;
        let job = JobMessage {
            name: "test".into(),
            stage: None,
            failing_step: None,
            category: "test_failure".into(),
            summary: String::new(),
            confidence: 0.0,
            signature: String::new(),
            located: true,
            excerpt: vec![],
            log_unavailable: None,
            web_url: None,
            comparison: Some("not compared with a green run: token s3cr3t refused".into()),
            compared: Some(Comparison::NotCompared {
                why: "token s3cr3t refused".into(),
            }),
        };
        let m = FailureMessage {
            provider: "gitflic".into(),
            connection: "team".into(),
            project: "acme/api".into(),
            pipeline: "#1".into(),
            status: "failed".into(),
            git_ref: None,
            commit_sha: None,
            deep_link: String::new(),
            jobs: vec![job],
            note: None,
        };
        let scrub = |s: &str| s.replace("s3cr3t", "[secret]");
        let Outcome::Report(m) = Outcome::Report(m).scrubbed(&scrub, &scrub) else {
            panic!("a report stays a report")
        };
        assert_eq!(
            m.jobs[0].comparison.as_deref(),
            Some("not compared with a green run: token [secret] refused")
        );
        assert_eq!(
            m.jobs[0].compared,
            Some(Comparison::NotCompared {
                why: "token [secret] refused".into()
            })
        );
    }

    #[test]
    fn a_retry_backs_off_until_the_last_attempt_then_parks_with_the_reason() {
        assert_eq!(retry_at(&worker(), 1, 0), Some(1000));
        assert_eq!(
            retry_at(&worker(), 1, 30_000),
            Some(30_000),
            "Retry-After wins"
        );
        assert_eq!(retry_at(&worker(), 2, 0), None);

        let (store, metrics) = (Store::open_in_memory().unwrap(), Metrics::default());
        let d = claimed(&store);
        record(&store, &metrics, &worker(), &d, Outcome::retry("HTTP 502")).unwrap();
        let after = store.delivery(d.id).unwrap().unwrap();
        assert_eq!(
            (after.state.as_str(), after.last_error.as_deref()),
            ("queued", Some("HTTP 502"))
        );

        let d = store.claim_due(i64::MAX).unwrap().unwrap();
        assert_eq!(d.attempts, 2);
        record(&store, &metrics, &worker(), &d, Outcome::retry("HTTP 502")).unwrap();
        let after = store.delivery(d.id).unwrap().unwrap();
        assert_eq!(
            (after.state.as_str(), after.last_error.as_deref()),
            ("parked", Some("gave up after 2 attempts: HTTP 502"))
        );
    }

    #[test]
    fn a_deferral_gives_the_attempt_back_and_a_report_is_stored_before_it_is_posted() {
        crate::storage::each_backend(
            "a_deferral_gives_the_attempt_back_and_a_report_is_stored_before_it_is_posted",
            |s| {
                let (store, metrics) = (s, Metrics::default());
                let d = claimed(&store);
                let until = now_ms() + 60_000;
                let wait = Outcome::Defer {
                    reason: "waiting for the budget".into(),
                    until_ms: until,
                    metric: "deferred_budget",
                };
                assert_eq!(record(&store, &metrics, &worker(), &d, wait).unwrap(), None);
                let after = store.delivery(d.id).unwrap().unwrap();
                assert_eq!((after.state.as_str(), after.attempts), ("queued", 0));

                let d = store.claim_due(until).unwrap().unwrap();
                let message: FailureMessage = serde_json::from_value(serde_json::json!({
                    "provider": "gitflic", "connection": "cloud", "project": "acme/app",
                    "pipeline": "#7", "deep_link": "https://gitflic.ru", "jobs": []
                }))
                .unwrap();
                let posted = record(
                    &store,
                    &metrics,
                    &worker(),
                    &d,
                    Outcome::Report(message.clone()),
                );
                assert_eq!(posted.unwrap(), Some(message));
                assert!(
                    store.report(d.id).unwrap().is_some(),
                    "stored before posting"
                );
                record(
                    &store,
                    &metrics,
                    &worker(),
                    &d,
                    Outcome::Done { note: None },
                )
                .unwrap();
                assert_eq!(store.delivery(d.id).unwrap().unwrap().state, "done");
            },
        );
    }
}
