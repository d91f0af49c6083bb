//! The polling fallback's loop: a thread that, for each watched project, calls the
//! plugin's `list-pipelines(above = watermark)` and feeds [`poller::poll_project`], so a
//! failure whose webhook never arrived is still analysed (once: same idempotency key).
//!
//! Pace: per connection, every watched project is polled once per [`budget::poll_interval`]
//! of a [`budget::PollPlan::from_usage`]: the webhook path keeps what it actually spent in the
//! last hour (plus a quarter, at least a fifth of `calls_per_hour`; [`budget::webhook_reserve`])
//! and polling shares the rest among the projects, at what one poll cost in the last complete
//! round ([`RequestBudget::calls_per_poll`](budget::RequestBudget::calls_per_poll): a second
//! page counts), so the interval stretches as projects are added or webhooks get busy. Polls are counted as [`Purpose::Poll`](budget::Purpose) in the
//! connection's durable budget. A poll is skipped while that budget has nothing left (the
//! budgeted backend refuses past it anyway), and while an OAuth connection needs reconnection.
//!
//! A 429 from the provider ends the connection's round (its other projects are not asked
//! either: the limit is the account's) and the connection is not polled again before the
//! `Retry-After` it gave ([`RATE_LIMIT_WAIT`] when it gave none), nor before its interval.
//! Nothing is lost: the watermark did not move, so the next poll lists the same pipelines.

use super::budget::{self, PollPlan, Purpose};
use super::poller::{self, PollOutcome, PollTarget};
use super::watch::WATCH_EVENT;
use crate::service::Service;
use crate::storage::now_ms;
use exlogare_runtime::contract;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Pipelines asked for per poll.
pub const POLL_LIMIT: u32 = 20;

/// How long a connection is left alone after a 429 that named no `Retry-After`.
pub const RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// One round over a connection's watched projects.
#[derive(Debug, Default)]
pub struct PollRound {
    /// Each project polled (or skipped) and what came of it.
    pub projects: Vec<(String, Result<PollOutcome, String>)>,
    /// The provider answered 429: wait at least this long before the next round.
    pub rate_limited: Option<Duration>,
    /// Provider calls the round spent (all counted as polling).
    pub calls: u32,
}

#[derive(Debug, Clone, Copy)]
pub struct PollerOptions {
    /// Never poll a connection's projects more often than this.
    pub min_interval: Duration,
    /// How often the loop wakes to look for due connections (and for the stop flag).
    pub tick: Duration,
}

impl Default for PollerOptions {
    fn default() -> Self {
        Self {
            min_interval: Duration::from_secs(60),
            tick: Duration::from_secs(1),
        }
    }
}

impl Service {
    /// How often `connection`'s watched projects are polled; `None`: nothing to poll, or no
    /// budget left for polling after the webhook path's reserve.
    pub fn poll_interval_of(&self, connection: &str, min_interval: Duration) -> Option<Duration> {
        let c = self.connection(connection)?;
        let projects = self.watched_projects(connection).ok()?.len() as u32;
        let (limit, webhook_spent, calls_per_poll) = {
            let mut b = c.budget.lock().unwrap_or_else(|p| p.into_inner());
            (
                b.limit(),
                b.used_by(Purpose::Other, now_ms()),
                b.calls_per_poll(),
            )
        };
        let mut plan = PollPlan::from_usage(limit, webhook_spent, projects);
        plan.calls_per_poll = calls_per_poll;
        plan.min_interval = min_interval;
        budget::poll_interval(&plan)
    }

    /// Polls every watched project of `connection` once (its requests counted as polling).
    /// Errors of one project are returned in its slot and do not stop the others, except a
    /// 429, which ends the round (see the module docs).
    pub fn poll_connection(&self, connection: &str) -> anyhow::Result<PollRound> {
        let spent = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let mut round = self.poll_round(connection, &spent)?;
        let calls = spent.load(std::sync::atomic::Ordering::Relaxed);
        round.calls = calls;
        // A complete round tells what one poll costs (GitFlic may need a second page), which
        // the interval is planned with.
        if !round.projects.is_empty()
            && round.projects.iter().all(|(_, r)| r.is_ok())
            && let Some(c) = self.connection(connection)
        {
            c.budget
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .note_poll_round(calls, round.projects.len() as u32);
        }
        Ok(round)
    }

    fn poll_round(
        &self,
        connection: &str,
        spent: &Arc<std::sync::atomic::AtomicU32>,
    ) -> anyhow::Result<PollRound> {
        let c = self
            .connection(connection)
            .ok_or_else(|| anyhow::anyhow!("no connection `{connection}`"))?
            .for_polling(spent.clone());
        let c = &c;
        let plugin = self.plugins.get(&c.config.provider).ok_or_else(|| {
            anyhow::anyhow!("provider plugin `{}` is not loaded", c.config.provider)
        })?;
        let mut round = PollRound::default();
        // Another replica on the database polling a project skips it here; its claim lasts
        // past its next round, so the one that polls a project keeps it while it lives.
        let claim_ms = self
            .poll_interval_of(connection, Duration::ZERO)
            .unwrap_or(Duration::from_secs(60))
            .as_millis()
            .saturating_mul(3)
            / 2;
        let claim_ms = i64::try_from(claim_ms).unwrap_or(i64::MAX);
        for project in self.watched_projects(connection)? {
            if !poller::claim_poll(&self.store, connection, &project, now_ms(), claim_ms)? {
                tracing::debug!(
                    connection,
                    project = project.as_str(),
                    "polled by another replica"
                );
                continue;
            }
            if let Some(wait) = round.rate_limited {
                round.projects.push((
                    project,
                    Err(format!(
                        "not polled: the provider asked to wait {} s",
                        wait.as_secs()
                    )),
                ));
                continue;
            }
            if c.budget
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remaining(now_ms())
                == 0
            {
                round.projects.push((
                    project,
                    Err("the request budget is spent; polled again later".to_string()),
                ));
                continue;
            }
            let Some((owner, name)) = project.split_once('/') else {
                continue;
            };
            let target = PollTarget {
                provider: c.config.provider.clone(),
                connection: connection.to_string(),
                project: exlogare_runtime::contract::ProjectRef {
                    owner: owner.into(),
                    name: name.into(),
                    id: None,
                },
                event_name: WATCH_EVENT.to_string(),
            };
            let above = poller::watermark(&self.store, connection, &project)?;
            let listed = match self.provider_call(c, |ctx| {
                plugin.list_pipelines(ctx, &c.conn, &target.project, above, POLL_LIMIT)
            }) {
                Ok(Ok(pipelines)) => Ok(pipelines),
                Ok(Err(contract::ProviderError::RateLimited(rl))) => {
                    let wait = rl
                        .retry_after_secs
                        .map_or(RATE_LIMIT_WAIT, |s| Duration::from_secs(s.into()));
                    round.rate_limited = Some(wait);
                    Err(format!(
                        "rate limited, not polled again for {} s: {}",
                        wait.as_secs(),
                        rl.message
                    ))
                }
                Ok(Err(e)) => Err(crate::pipeline::provider_error_words(&e)),
                Err(e) => Err(format!("{e:#}")),
            };
            let result = match listed {
                Ok(pipelines) => poller::poll_project(
                    &self.store,
                    &target,
                    &pipelines,
                    self.config.server.max_queued,
                    now_ms(),
                )
                .map_err(|e| e.to_string()),
                Err(e) => Err(e),
            };
            if let Err(e) = &result {
                tracing::warn!(connection, project = project.as_str(), "poll failed: {e}");
            }
            round.projects.push((project, result));
        }
        Ok(round)
    }
}

/// The polling thread; [`Poller::stop`] ends it.
pub struct Poller {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Poller {
    pub fn start(service: Arc<Service>) -> Self {
        Self::start_with(service, PollerOptions::default())
    }

    pub fn start_with(service: Arc<Service>, options: PollerOptions) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("poller".into())
            .spawn(move || {
                let mut next: HashMap<String, Instant> = HashMap::new();
                while !flag.load(Ordering::Relaxed) {
                    for id in &service.connection_ids() {
                        if flag.load(Ordering::Relaxed) {
                            break;
                        }
                        if next.get(id).is_some_and(|t| Instant::now() < *t) {
                            continue;
                        }
                        let Some(interval) = service.poll_interval_of(id, options.min_interval)
                        else {
                            next.insert(id.clone(), Instant::now() + options.tick);
                            continue;
                        };
                        let blocked = service.token_status(id).is_some_and(|(s, _)| {
                            s == super::tokens::ConnectionStatus::NeedsReconnection
                        });
                        let mut wait = interval;
                        if !blocked {
                            match service.poll_connection(id) {
                                Ok(PollRound {
                                    rate_limited: Some(asked),
                                    ..
                                }) => wait = wait.max(asked),
                                Ok(_) => {}
                                Err(e) => {
                                    tracing::error!(connection = id.as_str(), "polling: {e:#}")
                                }
                            }
                        }
                        next.insert(id.clone(), Instant::now() + wait);
                    }
                    std::thread::sleep(options.tick);
                }
            })
            .expect("spawning the poller thread");
        Self {
            stop,
            handle: Some(handle),
        }
    }

    /// Stops the thread and waits for it (also done on drop).
    pub fn stop(self) {}
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
