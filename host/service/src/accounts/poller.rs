//! The polling fallback's state: per polled project, the watermark (the highest pipeline
//! number handled), and the step that turns a `list-pipelines(above = watermark)` result into
//! deliveries.
//!
//! - A project's first poll only records its newest pipeline number (no flood of old failures).
//! - A FAILED pipeline above the watermark is enqueued (source `poll`) under the same
//!   idempotency key a webhook delivery of it gets (`provider|connection|owner/name|number`),
//!   so a failure seen both ways is analysed once.
//! - The deliveries and the new watermark are written in one transaction.
//! - The watermark never passes a pipeline still in progress (created, pending, running): it
//!   may still fail, and must be seen again. Nor does it pass a failure that could not be
//!   stored because the queue was full.

use crate::storage::{StorageError, Store, idem_key};
use exlogare_runtime::contract;
use exlogare_storage::{OptionalExtension, params};

/// Which project a poll is about.
#[derive(Debug, Clone)]
pub struct PollTarget {
    pub provider: String,
    pub connection: String,
    pub project: contract::ProjectRef,
    /// The provider's failure event name put in the stored event (GitFlic: `PIPELINE_FAIL`).
    pub event_name: String,
}

impl PollTarget {
    /// The project as it appears in idempotency keys and the watermark table: `owner/name`.
    pub fn project_key(&self) -> String {
        format!("{}/{}", self.project.owner, self.project.name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PollOutcome {
    /// This poll only set the starting watermark.
    pub first_poll: bool,
    /// Pipeline numbers stored as new deliveries.
    pub enqueued: Vec<u64>,
    /// Failed pipelines already stored (by a webhook or an earlier poll).
    pub duplicates: Vec<u64>,
    /// The queue was full: the remaining failures wait for the next poll.
    pub queue_full: bool,
    pub watermark_before: Option<u64>,
    pub watermark: u64,
    /// The pipeline in progress that kept the watermark from advancing further.
    pub held_by: Option<u64>,
}

/// The stored watermark; `None` before the first poll.
pub fn watermark(
    store: &Store,
    connection: &str,
    project: &str,
) -> Result<Option<u64>, StorageError> {
    let w: Option<i64> = store
        .db()?
        .query_row(
            "SELECT watermark FROM poll_watermarks WHERE connection = ?1 AND project = ?2",
            params![connection, project],
            |r| r.get(0),
        )
        .optional()?;
    Ok(w.map(|w| u64::try_from(w).unwrap_or(0)))
}

/// Takes (or renews) the poll of `project` for this process until `now + for_ms`, unless another
/// process holds a claim that has not run out: so replicas on one database poll each project
/// from one of them at a time. True when this process may poll it now.
pub fn claim_poll(
    store: &Store,
    connection: &str,
    project: &str,
    now: i64,
    for_ms: i64,
) -> Result<bool, StorageError> {
    Ok(store.db()?.execute(
        "INSERT INTO poll_claims (connection, project, holder, claimed_until) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (connection, project) DO UPDATE
             SET holder = excluded.holder, claimed_until = excluded.claimed_until
             WHERE poll_claims.holder = excluded.holder OR poll_claims.claimed_until < ?5",
        params![connection, project, store.holder(), now.saturating_add(for_ms), now],
    )? == 1)
}

/// Forgets a project's watermark (it is no longer watched).
pub fn forget(store: &Store, connection: &str, project: &str) -> Result<bool, StorageError> {
    let db = store.db()?;
    db.execute(
        "DELETE FROM poll_claims WHERE connection = ?1 AND project = ?2",
        params![connection, project],
    )?;
    Ok(db.execute(
        "DELETE FROM poll_watermarks WHERE connection = ?1 AND project = ?2",
        params![connection, project],
    )? > 0)
}

fn in_progress(s: contract::RunStatus) -> bool {
    matches!(
        s,
        contract::RunStatus::Created | contract::RunStatus::Pending | contract::RunStatus::Running
    )
}

/// Handles one `list-pipelines` result for `target` (pipelines above the stored watermark, in
/// any order; those without a number are skipped). `max_queued` is the service's queue limit.
pub fn poll_project(
    store: &Store,
    target: &PollTarget,
    pipelines: &[contract::PipelineSummary],
    max_queued: u64,
    now: i64,
) -> Result<PollOutcome, StorageError> {
    let project = target.project_key();
    let mut numbered: Vec<(u64, &contract::PipelineSummary)> = pipelines
        .iter()
        .filter_map(|p| p.reference.number.map(|n| (n, p)))
        .collect();
    numbered.sort_by_key(|&(n, _)| n);

    let db = store.db()?;
    let tx = db.transaction(&format!("poll:{}:{project}", target.connection))?;
    let before: Option<u64> = tx
        .query_row(
            "SELECT watermark FROM poll_watermarks WHERE connection = ?1 AND project = ?2",
            params![target.connection, project],
            |r| r.get::<i64>(0),
        )
        .optional()?
        .map(|w| u64::try_from(w).unwrap_or(0));
    let mut out = PollOutcome {
        watermark_before: before,
        ..Default::default()
    };

    let newest = numbered.last().map(|&(n, _)| n).unwrap_or(0);
    let new_mark = match before {
        None => {
            out.first_poll = true;
            newest
        }
        Some(mark) => {
            let mut advanced = mark;
            let mut blocked = false;
            for &(n, p) in numbered.iter().filter(|&&(n, _)| n > mark) {
                if in_progress(p.status) {
                    if !blocked {
                        out.held_by = Some(n);
                        blocked = true;
                    }
                    continue;
                }
                if p.status == contract::RunStatus::Failed {
                    // Its number, and its UUID when listed: a webhook may have named either.
                    let keys: Vec<String> = std::iter::once(n.to_string())
                        .chain(p.reference.id.clone().filter(|id| !id.is_empty()))
                        .map(|name| idem_key(&target.provider, &target.connection, &project, &name))
                        .collect();
                    let mut existing = None;
                    for key in &keys {
                        existing = crate::storage::holder_of(&tx, key)?;
                        if existing.is_some() {
                            break;
                        }
                    }
                    if let Some(id) = existing {
                        // A parked failure (rejected credentials, say) seen again by the poller
                        // after the cause is fixed is queued again rather than lost.
                        crate::storage::add_aliases(&tx, id, &keys)?;
                        crate::storage::resume_parked(&tx, id)?;
                        out.duplicates.push(n);
                    } else {
                        let depth: u64 = tx.query_row(
                            "SELECT COUNT(*) FROM deliveries WHERE state IN ('queued', 'running')",
                            [],
                            |r| r.get(0),
                        )?;
                        if depth >= max_queued {
                            out.queue_full = true;
                            break;
                        }
                        let event = contract::FailureEvent {
                            project: target.project.clone(),
                            pipeline: p.reference.clone(),
                            event: target.event_name.clone(),
                            git_ref: p.git_ref.clone(),
                            commit_sha: None,
                        };
                        let id: i64 = tx.query_row(
                            "INSERT INTO deliveries (idem_key, provider, connection, project, pipeline, event_json, source, state, next_attempt_at, received_at, updated_at)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'poll', 'queued', ?7, ?7, ?7) RETURNING id",
                            params![
                                keys[0],
                                target.provider,
                                target.connection,
                                project,
                                n.to_string(),
                                serde_json::to_string(&event).expect("contract types serialize"),
                                now
                            ],
                            |r| r.get(0),
                        )?;
                        crate::storage::add_aliases(&tx, id, &keys[1..])?;
                        out.enqueued.push(n);
                    }
                }
                if !blocked {
                    advanced = n;
                }
            }
            advanced
        }
    };
    tx.execute(
        "INSERT INTO poll_watermarks (connection, project, watermark, polled_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (connection, project) DO UPDATE SET watermark = excluded.watermark, polled_at = excluded.polled_at",
        // Numbers past i64::MAX (a hostile or broken listing) are stored as the highest the
        // column holds rather than wrapping to a negative watermark that re-polls everything.
        params![target.connection, project, i64::try_from(new_mark).unwrap_or(i64::MAX), now],
    )?;
    tx.commit()?;
    out.watermark = new_mark;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{Enqueued, NewDelivery};
    use contract::RunStatus::*;

    const NOW: i64 = 1_700_000_000_000;

    fn target() -> PollTarget {
        PollTarget {
            provider: "gitflic".into(),
            connection: "cloud".into(),
            project: contract::ProjectRef {
                owner: "acme".into(),
                name: "app".into(),
                id: None,
            },
            event_name: "PIPELINE_FAIL".into(),
        }
    }

    fn p(n: u64, status: contract::RunStatus) -> contract::PipelineSummary {
        contract::PipelineSummary {
            reference: contract::PipelineRef {
                id: Some(format!("uuid-{n}")),
                number: Some(n),
            },
            status,
            git_ref: Some("main".into()),
            created_at: None,
        }
    }

    fn by_source(s: &Store) -> Vec<(String, String)> {
        s.db()
            .unwrap()
            .query_map(
                "SELECT pipeline, source FROM deliveries ORDER BY id",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
    }

    #[test]
    fn one_replica_polls_a_project_until_its_claim_runs_out() {
        crate::storage::each_backend("poll claims", |s| {
            // Another process on the same database: its own holder name.
            let other = s.clone_as_another_process();
            assert!(claim_poll(&s, "cloud", "acme/app", NOW, 90_000).unwrap());
            assert!(
                claim_poll(&s, "cloud", "acme/app", NOW + 60_000, 90_000).unwrap(),
                "renewed by its holder"
            );
            assert!(
                !claim_poll(&other, "cloud", "acme/app", NOW + 100_000, 90_000).unwrap(),
                "still held"
            );
            assert!(
                claim_poll(&other, "cloud", "acme/lib", NOW, 90_000).unwrap(),
                "per project"
            );
            // The holder stopped polling: once its claim ran out, the other takes the project.
            assert!(claim_poll(&other, "cloud", "acme/app", NOW + 151_000, 90_000).unwrap());
            assert!(!claim_poll(&s, "cloud", "acme/app", NOW + 152_000, 90_000).unwrap());
            // Unwatching forgets the claim with the watermark.
            forget(&other, "cloud", "acme/app").unwrap();
            assert!(claim_poll(&s, "cloud", "acme/app", NOW + 153_000, 90_000).unwrap());
        });
    }

    #[test]
    fn a_number_past_what_the_column_holds_does_not_wrap_the_watermark() {
        crate::storage::each_backend(
            "a_number_past_what_the_column_holds_does_not_wrap_the_watermark",
            |s| {
                poll_project(&s, &target(), &[p(u64::MAX, Failed)], 10, NOW).unwrap();
                assert_eq!(
                    watermark(&s, "cloud", "acme/app").unwrap(),
                    Some(i64::MAX as u64),
                    "not negative, so not every pipeline again"
                );
                let again = poll_project(&s, &target(), &[p(7, Failed)], 10, NOW).unwrap();
                assert!(again.enqueued.is_empty());
            },
        );
    }

    #[test]
    fn the_first_poll_sets_the_watermark_without_enqueueing_old_failures() {
        crate::storage::each_backend(
            "the_first_poll_sets_the_watermark_without_enqueueing_old_failures",
            |s| {
                let out = poll_project(
                    &s,
                    &target(),
                    &[p(12, Failed), p(11, Failed), p(10, Success)],
                    10,
                    NOW,
                )
                .unwrap();
                assert!(out.first_poll);
                assert_eq!((out.watermark, out.enqueued.len()), (12, 0));
                assert_eq!(watermark(&s, "cloud", "acme/app").unwrap(), Some(12));
                assert!(by_source(&s).is_empty());
                // A project without pipelines yet starts at 0, so its very first pipeline is seen.
                let empty = PollTarget {
                    project: contract::ProjectRef {
                        owner: "acme".into(),
                        name: "new".into(),
                        id: None,
                    },
                    ..target()
                };
                assert_eq!(poll_project(&s, &empty, &[], 10, NOW).unwrap().watermark, 0);
                assert_eq!(
                    poll_project(&s, &empty, &[p(1, Failed)], 10, NOW)
                        .unwrap()
                        .enqueued,
                    [1]
                );
            },
        );
    }

    #[test]
    fn a_lost_webhook_is_caught_by_polling_and_the_watermark_advances() {
        crate::storage::each_backend(
            "a_lost_webhook_is_caught_by_polling_and_the_watermark_advances",
            |s| {
                poll_project(&s, &target(), &[p(5, Success)], 10, NOW).unwrap();
                let out = poll_project(
                    &s,
                    &target(),
                    &[p(8, Success), p(7, Failed), p(6, Canceled)],
                    10,
                    NOW,
                )
                .unwrap();
                assert_eq!(
                    (out.enqueued.clone(), out.watermark, out.watermark_before),
                    (vec![7], 8, Some(5))
                );
                assert_eq!(by_source(&s), [("7".to_string(), "poll".to_string())]);
                let d = s.claim_due(NOW).unwrap().unwrap();
                assert_eq!(d.idem_key, "gitflic|cloud|acme/app|7");
                let event: contract::FailureEvent = serde_json::from_str(&d.event_json).unwrap();
                assert_eq!(
                    (
                        event.pipeline.number,
                        event.event.as_str(),
                        event.project.name.as_str()
                    ),
                    (Some(7), "PIPELINE_FAIL", "app")
                );
                // The same listing again (e.g. a retried poll) adds nothing.
                let again = poll_project(&s, &target(), &[p(7, Failed)], 10, NOW).unwrap();
                assert!(again.enqueued.is_empty() && again.watermark == 8);
            },
        );
    }

    #[test]
    fn a_failure_seen_by_webhook_and_by_poll_is_stored_once() {
        crate::storage::each_backend(
            "a_failure_seen_by_webhook_and_by_poll_is_stored_once",
            |s| {
                poll_project(&s, &target(), &[p(20, Success)], 10, NOW).unwrap();
                // What Service::enqueue_failure stores for a webhook about pipeline 21.
                let webhook = NewDelivery {
                    provider: "gitflic".into(),
                    connection: "cloud".into(),
                    project: "acme/app".into(),
                    pipeline: "21".into(),
                    also_known_as: vec![],
                    event_json: "{}".into(),
                    source: "webhook",
                };
                let Enqueued::Stored(id) = s.enqueue(&webhook, 10).unwrap() else {
                    panic!()
                };
                let out =
                    poll_project(&s, &target(), &[p(22, Failed), p(21, Failed)], 10, NOW).unwrap();
                assert_eq!((out.duplicates, out.enqueued), (vec![21], vec![22]));
                // And the other way round: polled first, the webhook is the duplicate.
                let late = NewDelivery {
                    pipeline: "22".into(),
                    ..webhook
                };
                assert!(matches!(
                    s.enqueue(&late, 10).unwrap(),
                    Enqueued::Duplicate(_)
                ));
                assert_eq!(
                    by_source(&s),
                    [
                        ("21".to_string(), "webhook".to_string()),
                        ("22".to_string(), "poll".to_string())
                    ]
                );
                assert_eq!(s.delivery(id).unwrap().unwrap().source, "webhook");
            },
        );
    }

    #[test]
    fn a_pipeline_in_progress_holds_the_watermark_until_it_settles() {
        crate::storage::each_backend(
            "a_pipeline_in_progress_holds_the_watermark_until_it_settles",
            |s| {
                poll_project(&s, &target(), &[p(1, Success)], 10, NOW).unwrap();
                let out = poll_project(
                    &s,
                    &target(),
                    &[p(2, Success), p(3, Running), p(4, Failed)],
                    10,
                    NOW,
                )
                .unwrap();
                assert_eq!(
                    (out.watermark, out.held_by, out.enqueued.clone()),
                    (2, Some(3), vec![4])
                );
                let out = poll_project(
                    &s,
                    &target(),
                    &[p(3, Failed), p(4, Failed), p(5, Pending)],
                    10,
                    NOW,
                )
                .unwrap();
                assert_eq!(
                    (
                        out.watermark,
                        out.enqueued.clone(),
                        out.duplicates.clone(),
                        out.held_by
                    ),
                    (4, vec![3], vec![4], Some(5))
                );
            },
        );
    }

    #[test]
    fn a_full_queue_stops_the_watermark_before_the_failure_it_could_not_store() {
        crate::storage::each_backend(
            "a_full_queue_stops_the_watermark_before_the_failure_it_could_not_store",
            |s| {
                poll_project(&s, &target(), &[p(1, Success)], 1, NOW).unwrap();
                let out = poll_project(
                    &s,
                    &target(),
                    &[p(2, Failed), p(3, Success), p(4, Failed), p(5, Success)],
                    1,
                    NOW,
                )
                .unwrap();
                assert!(out.queue_full);
                assert_eq!((out.enqueued.clone(), out.watermark), (vec![2], 3));
                s.complete(s.claim_due(NOW).unwrap().unwrap().id, None)
                    .unwrap();
                let out =
                    poll_project(&s, &target(), &[p(4, Failed), p(5, Success)], 1, NOW).unwrap();
                assert_eq!(
                    (out.enqueued, out.watermark, out.queue_full),
                    (vec![4], 5, false)
                );
                assert!(forget(&s, "cloud", "acme/app").unwrap());
                assert_eq!(watermark(&s, "cloud", "acme/app").unwrap(), None);
            },
        );
    }
}
