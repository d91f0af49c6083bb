//! The polling fallback's loop (issue 5): a thread that, for each watched project, calls the
//! plugin's `list-pipelines(above = watermark)` and feeds [`poller::poll_project`], so a
//! failure whose webhook never arrived is still analysed (once: same idempotency key).
//!
//! Pace: per connection, every watched project is polled once per
//! [`budget::poll_interval`] of a [`budget::PollPlan`] with half the connection's
//! `calls_per_hour` reserved for the webhook path; the interval stretches as projects are added.
//! A poll is skipped while the connection's [`RequestBudget`](super::budget::RequestBudget)
//! has nothing left (the budgeted backend refuses past it anyway), and while an OAuth
//! connection needs reconnection.

use super::budget::{self, PollPlan};
use super::poller::{self, PollOutcome, PollTarget};
use super::watch::WATCH_EVENT;
use crate::service::Service;
use crate::storage::now_ms;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Pipelines asked for per poll.
pub const POLL_LIMIT: u32 = 20;

#[derive(Debug, Clone, Copy)]
pub struct PollerOptions {
    /// Never poll a connection's projects more often than this.
    pub min_interval: Duration,
    /// How often the loop wakes to look for due connections (and for the stop flag).
    pub tick: Duration,
}

impl Default for PollerOptions {
    fn default() -> Self {
        Self { min_interval: Duration::from_secs(60), tick: Duration::from_secs(1) }
    }
}

impl Service {
    /// How often `connection`'s watched projects are polled; `None`: nothing to poll.
    pub fn poll_interval_of(&self, connection: &str, min_interval: Duration) -> Option<Duration> {
        let c = self.connection(connection)?;
        let c = &*c;
        let projects = self.watched_projects(connection).ok()?.len() as u32;
        let limit = c.budget.lock().unwrap_or_else(|p| p.into_inner()).limit();
        let mut plan = PollPlan::new(limit, limit / 2, projects);
        plan.min_interval = min_interval;
        budget::poll_interval(&plan)
    }

    /// Polls every watched project of `connection` once. Errors of one project are returned
    /// in its slot and do not stop the others.
    pub fn poll_connection(&self, connection: &str) -> anyhow::Result<Vec<(String, Result<PollOutcome, String>)>> {
        let c = self.connection(connection).ok_or_else(|| anyhow::anyhow!("no connection `{connection}`"))?;
        let c = &*c;
        let plugin = self.plugins.get(&c.config.provider).ok_or_else(|| anyhow::anyhow!("provider plugin `{}` is not loaded", c.config.provider))?;
        let mut out = Vec::new();
        for project in self.watched_projects(connection)? {
            if c.budget.lock().unwrap_or_else(|p| p.into_inner()).remaining(now_ms()) == 0 {
                out.push((project, Err("the request budget is spent; polled again later".to_string())));
                continue;
            }
            let Some((owner, name)) = project.split_once('/') else { continue };
            let target = PollTarget {
                provider: c.config.provider.clone(),
                connection: connection.to_string(),
                project: crate::wit::v0_1::types::ProjectRef { owner: owner.into(), name: name.into(), id: None },
                event_name: WATCH_EVENT.to_string(),
            };
            let above = poller::watermark(&self.store, connection, &project)?;
            let listed = self
                .provider_call(c, |ctx| plugin.list_pipelines(ctx, &c.conn, &target.project, above, POLL_LIMIT))
                .map_err(|e| format!("{e:#}"))
                .and_then(|r| r.map_err(|e| format!("{e:?}")));
            let result = match listed {
                Ok(pipelines) => poller::poll_project(&self.store, &target, &pipelines, self.config.server.max_queued, now_ms()).map_err(|e| e.to_string()),
                Err(e) => Err(e),
            };
            if let Err(e) = &result {
                tracing::warn!(connection, project = project.as_str(), "poll failed: {e}");
            }
            out.push((project, result));
        }
        Ok(out)
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
                        let Some(interval) = service.poll_interval_of(id, options.min_interval) else {
                            next.insert(id.clone(), Instant::now() + options.tick);
                            continue;
                        };
                        let blocked = service.token_status(id).is_some_and(|(s, _)| s == super::tokens::ConnectionStatus::NeedsReconnection);
                        if !blocked && let Err(e) = service.poll_connection(id) {
                            tracing::error!(connection = id.as_str(), "polling: {e:#}");
                        }
                        next.insert(id.clone(), Instant::now() + interval);
                    }
                    std::thread::sleep(options.tick);
                }
            })
            .expect("spawning the poller thread");
        Self { stop, handle: Some(handle) }
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
