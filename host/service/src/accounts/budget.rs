//! The per-connection request budget: at most `calls_per_hour` provider calls in any sliding
//! hour (default 250, half of GitFlic cloud's 500/hour), counting every path's calls, and the
//! poll interval that keeps polling inside what the webhook path leaves.
//!
//! Durable and shared: spends are rows of `request_budget` (migration 0006) in the service's
//! SQLite file, one per connection, minute and [`Purpose`]. A spend is checked and recorded in
//! one `IMMEDIATE` transaction, so `serve` and CLI commands on the same file draw from one
//! budget, and a restart starts from what the last hour really spent, not from zero.
//!
//! The window slides by the minute: a minute's calls count until the *last* millisecond of that
//! minute is an hour old. A call is therefore counted for up to one minute longer than an
//! hour, never shorter, so the budget is never exceeded in any exact sliding hour.
//!
//! `now` (ms since the epoch) is passed in by the caller; the window lives in the database.

use crate::storage::{Store, now_ms};
use exlogare_storage::params;
use std::time::Duration;

pub const DEFAULT_CALLS_PER_HOUR: u32 = 250;
const HOUR_MS: i64 = 3_600_000;
/// Buckets per window: minutes of an hour.
const BUCKETS: i64 = 60;

/// What a provider call was for. The poll interval gives the polling fallback what the rest
/// (the "webhook path") did not use in the last hour; see [`webhook_reserve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The polling fallback's calls (including a token refresh it triggers).
    Poll,
    /// Everything else: webhook analyses, webhook registration, OAuth, project sync.
    Other,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Poll => "poll",
            Purpose::Other => "other",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the request budget of {limit} calls per hour is spent ({used} used); the next call fits in {retry_after_ms} ms"
)]
pub struct BudgetExceeded {
    pub limit: u32,
    pub used: u32,
    pub retry_after_ms: i64,
}

/// Why a spend was refused (nothing was spent, the request must not be sent).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BudgetError {
    #[error(transparent)]
    Exceeded(#[from] BudgetExceeded),
    /// The budget could not be read or written: refused rather than risk going past it.
    #[error("the request budget could not be checked ({0}); the request was not sent")]
    Storage(String),
}

impl From<exlogare_storage::StorageError> for BudgetError {
    fn from(e: exlogare_storage::StorageError) -> Self {
        BudgetError::Storage(e.to_string())
    }
}

/// One connection's sliding window of spent calls, kept in SQLite (see the module docs).
pub struct RequestBudget {
    limit: u32,
    window_ms: i64,
    bucket_ms: i64,
    connection: String,
    store: Store,
    /// The last count read, shown if the database cannot be read for a status view.
    last_used: u32,
    /// Measured by the poller (in this process); see [`RequestBudget::calls_per_poll`].
    calls_per_poll: u32,
}

impl std::fmt::Debug for RequestBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestBudget")
            .field("connection", &self.connection)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl Default for RequestBudget {
    fn default() -> Self {
        Self::new(DEFAULT_CALLS_PER_HOUR)
    }
}

impl RequestBudget {
    /// A budget private to this value (an in-memory database): for tests and for runtimes
    /// built only to validate settings.
    pub fn new(calls_per_hour: u32) -> Self {
        Self::with_window(calls_per_hour, HOUR_MS)
    }

    pub fn with_window(limit: u32, window_ms: i64) -> Self {
        let store = Store::open_in_memory().expect("an in-memory SQLite database opens");
        Self::in_store(store, "", limit, window_ms)
    }

    /// `connection`'s budget in the service's database: shared with every process (and
    /// replica) using it.
    pub fn durable(store: &Store, connection: &str, calls_per_hour: u32) -> Self {
        Self::in_store(store.clone(), connection, calls_per_hour, HOUR_MS)
    }

    /// `connection`'s budget kept in `store` with a window of `window_ms`.
    pub fn in_store(store: Store, connection: &str, limit: u32, window_ms: i64) -> Self {
        let window_ms = window_ms.max(BUCKETS);
        Self {
            limit,
            window_ms,
            bucket_ms: window_ms / BUCKETS,
            connection: connection.into(),
            store,
            last_used: 0,
            calls_per_poll: 1,
        }
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// The oldest bucket still inside the window ending at `now`.
    fn first_bucket(&self, now: i64) -> i64 {
        (now - self.window_ms).div_euclid(self.bucket_ms)
    }

    fn count(
        &self,
        db: &exlogare_storage::Conn<'_>,
        purpose: Option<Purpose>,
        now: i64,
    ) -> exlogare_storage::Result<u32> {
        let n: i64 = db.query_row(
            "SELECT CAST(COALESCE(SUM(calls), 0) AS BIGINT) FROM request_budget WHERE connection = ?1 AND bucket >= ?2 AND purpose = COALESCE(?3, purpose)",
            params![self.connection, self.first_bucket(now), purpose.map(Purpose::as_str)],
            |r| r.get(0),
        )?;
        Ok(n.clamp(0, u32::MAX as i64) as u32)
    }

    /// Calls spent in the window ending at `now` (the status page's "calls used this hour").
    pub fn used(&mut self, now: i64) -> u32 {
        match self.store.db().and_then(|db| self.count(&db, None, now)) {
            Ok(n) => {
                self.last_used = n;
                n
            }
            Err(e) => {
                tracing::warn!(
                    connection = self.connection.as_str(),
                    "reading the request budget: {e}"
                );
                self.last_used
            }
        }
    }

    /// Calls spent for `purpose` in the window ending at `now` (0 when it cannot be read).
    pub fn used_by(&mut self, purpose: Purpose, now: i64) -> u32 {
        self.store
            .db()
            .and_then(|db| self.count(&db, Some(purpose), now))
            .unwrap_or_else(|e| {
                tracing::warn!(
                    connection = self.connection.as_str(),
                    "reading the request budget: {e}"
                );
                0
            })
    }

    pub fn remaining(&mut self, now: i64) -> u32 {
        self.limit.saturating_sub(self.used(now))
    }

    fn add(
        &self,
        db: &exlogare_storage::Conn<'_>,
        purpose: Purpose,
        n: u32,
        now: i64,
    ) -> exlogare_storage::Result<()> {
        db.execute(
            "INSERT INTO request_budget (connection, bucket, purpose, calls) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (connection, bucket, purpose) DO UPDATE SET calls = request_budget.calls + excluded.calls",
            params![self.connection, now.div_euclid(self.bucket_ms), purpose.as_str(), n],
        )?;
        Ok(())
    }

    /// Calls per minute bucket from `first` on, oldest first.
    fn buckets(
        &self,
        db: &exlogare_storage::Conn<'_>,
        first: i64,
    ) -> exlogare_storage::Result<Vec<(i64, u32)>> {
        db.query_map(
            "SELECT bucket, CAST(SUM(calls) AS BIGINT) FROM request_budget WHERE connection = ?1 AND bucket >= ?2 GROUP BY bucket ORDER BY bucket",
            params![self.connection, first],
            |r| Ok((r.get::<i64>(0)?, r.get::<u32>(1)?)),
        )
    }

    /// [`RequestBudget::try_spend_for`] the webhook path (everything but polling).
    pub fn try_spend(&mut self, n: u32, now: i64) -> Result<(), BudgetError> {
        self.try_spend_for(Purpose::Other, n, now)
    }

    /// Spends `n` calls counted as `purpose` if they fit; otherwise spends nothing and says when
    /// they would fit. Check and spend are one transaction under the connection's budget lock: two
    /// processes (or replicas) can never both take the last call.
    pub fn try_spend_for(&mut self, purpose: Purpose, n: u32, now: i64) -> Result<(), BudgetError> {
        let db = self.store.db()?;
        // Named per connection: replicas spending one connection's budget take turns, so
        // together they never pass `calls_per_hour`.
        let tx = db.transaction(&format!("budget:{}", self.connection))?;
        let first = self.first_bucket(now);
        tx.execute(
            "DELETE FROM request_budget WHERE connection = ?1 AND bucket < ?2",
            params![self.connection, first],
        )?;
        let buckets = self.buckets(&tx, first)?;
        let used: u32 = buckets.iter().map(|&(_, k)| k).sum();
        if used.saturating_add(n) <= self.limit {
            if n > 0 {
                self.add(&tx, purpose, n, now)?;
            }
            tx.commit()?;
            self.last_used = used + n;
            return Ok(());
        }
        let retry_after_ms = self.retry_after_ms(&buckets, n, now);
        Err(BudgetExceeded {
            limit: self.limit,
            used,
            retry_after_ms,
        }
        .into())
    }

    /// The earliest time enough old buckets leave the window for `n` more calls (a whole window,
    /// if `n` alone is too many): bucket b leaves once now - window >= (b + 1) × bucket.
    fn retry_after_ms(&self, buckets: &[(i64, u32)], n: u32, now: i64) -> i64 {
        let used: u32 = buckets.iter().map(|&(_, k)| k).sum();
        let mut freed = 0u32;
        if n <= self.limit {
            for &(b, k) in buckets {
                freed += k;
                if used - freed + n <= self.limit {
                    return ((b + 1) * self.bucket_ms + self.window_ms - now).max(1);
                }
            }
        }
        self.window_ms
    }

    /// `None` while one more call fits; otherwise how long until one does. Spends nothing:
    /// the worker asks before an analysis so a spent budget defers work instead of failing it.
    pub fn wait_for_room(&mut self, now: i64) -> Option<i64> {
        match self
            .store
            .db()
            .and_then(|db| self.buckets(&db, self.first_bucket(now)))
        {
            Ok(buckets) if buckets.iter().map(|&(_, k)| k).sum::<u32>() < self.limit => None,
            Ok(buckets) => Some(self.retry_after_ms(&buckets, 1, now)),
            // Unreadable: the spend itself will refuse and say why; do not guess here.
            Err(_) => None,
        }
    }

    /// Records calls that happened regardless, even over the limit, so the others back off.
    pub fn record(&mut self, n: u32, now: i64) {
        if n > 0
            && let Err(e) = self
                .store
                .db()
                .and_then(|db| self.add(&db, Purpose::Other, n, now))
        {
            tracing::warn!(
                connection = self.connection.as_str(),
                "recording in the request budget: {e}"
            );
        }
    }

    /// Calls one poll of one project cost in the last complete polling round (1 before any):
    /// what [`PollPlan::calls_per_poll`] is planned with. GitFlic may need more than one page.
    pub fn calls_per_poll(&self) -> u32 {
        self.calls_per_poll
    }

    /// Notes a complete polling round: `calls` spent polling `projects` projects.
    pub fn note_poll_round(&mut self, calls: u32, projects: u32) {
        if projects > 0 {
            self.calls_per_poll = calls.div_ceil(projects).max(1);
        }
    }
}

/// What the poll interval depends on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PollPlan {
    pub calls_per_hour: u32,
    /// Calls per hour kept for the webhook path (analyses, webhook management); see
    /// [`webhook_reserve`].
    pub reserved_per_hour: u32,
    pub projects: u32,
    /// Calls one poll of one project costs (a `list-pipelines` is usually 1).
    pub calls_per_poll: u32,
    /// Never poll a project more often than this.
    pub min_interval: Duration,
}

impl PollPlan {
    pub fn new(calls_per_hour: u32, reserved_per_hour: u32, projects: u32) -> Self {
        Self {
            calls_per_hour,
            reserved_per_hour,
            projects,
            calls_per_poll: 1,
            min_interval: Duration::from_secs(60),
        }
    }

    /// The plan for a connection whose webhook path spent `webhook_spent_last_hour` calls (every
    /// purpose but polling) in the last hour: see [`webhook_reserve`].
    pub fn from_usage(calls_per_hour: u32, webhook_spent_last_hour: u32, projects: u32) -> Self {
        Self::new(
            calls_per_hour,
            webhook_reserve(calls_per_hour, webhook_spent_last_hour),
            projects,
        )
    }
}

/// The webhook path always keeps at least this share of the budget (1/5: 50 of 250 calls an
/// hour, a dozen analyses), so a burst of failures after a quiet hour still finds room.
pub const WEBHOOK_FLOOR_DIVISOR: u32 = 5;

/// Calls per hour kept for the webhook path: what it actually spent in the last hour plus a
/// quarter of headroom, but never less than a fifth of the budget ([`WEBHOOK_FLOOR_DIVISOR`])
/// and never more than all of it. Polling gets the rest, so its interval shortens while
/// webhooks are quiet and stretches when they are busy, and (through [`poll_interval`]) as
/// projects are added.
pub fn webhook_reserve(calls_per_hour: u32, webhook_spent_last_hour: u32) -> u32 {
    let floor = calls_per_hour / WEBHOOK_FLOOR_DIVISOR;
    let observed = webhook_spent_last_hour.saturating_add(webhook_spent_last_hour / 4);
    observed.max(floor).min(calls_per_hour)
}

/// How often each project may be polled so that all projects together stay within the share
/// of the budget left after the reserve: `projects × calls_per_poll` calls per interval. The
/// interval grows linearly with the number of projects. `None`: no budget is left for
/// polling (or nothing to poll).
pub fn poll_interval(plan: &PollPlan) -> Option<Duration> {
    let share = plan.calls_per_hour.saturating_sub(plan.reserved_per_hour) as u64;
    let per_round = plan.projects as u64 * plan.calls_per_poll.max(1) as u64;
    if share == 0 || per_round == 0 {
        return None;
    }
    // Rounds per hour = share / per_round, so interval = hour × per_round / share (rounded up).
    let ms = (HOUR_MS as u64 * per_round).div_ceil(share);
    Some(Duration::from_millis(ms).max(plan.min_interval))
}

/// Counts every provider request of a connection in its [`RequestBudget`] and refuses one that
/// would go past it (a transport error, so the caller retries later) — the budget is never
/// exceeded, whichever path (webhook analysis, OAuth, polling) spends it. Each wrapper spends
/// for one [`Purpose`]: the connection's own backend for the webhook path, the one
/// `ConnectionRuntime::for_polling` (service.rs) builds for a polling round, which also counts its calls.
pub struct BudgetedBackend {
    inner: std::sync::Arc<dyn exlogare_runtime::http::HttpBackend>,
    connection: String,
    budget: std::sync::Arc<std::sync::Mutex<RequestBudget>>,
    purpose: Purpose,
    spent: Option<std::sync::Arc<std::sync::atomic::AtomicU32>>,
}

impl BudgetedBackend {
    /// The webhook path's backend ([`Purpose::Other`]).
    pub fn wrap(
        inner: std::sync::Arc<dyn exlogare_runtime::http::HttpBackend>,
        connection: &str,
        budget: std::sync::Arc<std::sync::Mutex<RequestBudget>>,
    ) -> std::sync::Arc<dyn exlogare_runtime::http::HttpBackend> {
        Self::wrap_for(inner, connection, budget, Purpose::Other, None)
    }

    /// A backend spending for `purpose`, adding each spent call to `spent` when given.
    pub fn wrap_for(
        inner: std::sync::Arc<dyn exlogare_runtime::http::HttpBackend>,
        connection: &str,
        budget: std::sync::Arc<std::sync::Mutex<RequestBudget>>,
        purpose: Purpose,
        spent: Option<std::sync::Arc<std::sync::atomic::AtomicU32>>,
    ) -> std::sync::Arc<dyn exlogare_runtime::http::HttpBackend> {
        std::sync::Arc::new(Self {
            inner,
            connection: connection.into(),
            budget,
            purpose,
            spent,
        })
    }
}

impl exlogare_runtime::http::HttpBackend for BudgetedBackend {
    fn send(
        &self,
        req: &exlogare_runtime::http::OutboundRequest,
        deadline: std::time::Instant,
    ) -> Result<exlogare_runtime::http::BackendResponse, exlogare_runtime::http::BackendError> {
        let spent = self
            .budget
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .try_spend_for(self.purpose, 1, now_ms());
        match spent {
            Ok(()) => {}
            // Typed, so the delivery flow learns it from the call's output (`over_budget`).
            Err(BudgetError::Exceeded(e)) => {
                return Err(exlogare_runtime::http::BackendError::OverBudget {
                    message: format!("connection `{}`: {e}", self.connection),
                    retry_after_ms: e.retry_after_ms.max(0) as u64,
                });
            }
            // Unknown room is no room we can wait for: a transport error, retried like one.
            Err(e @ BudgetError::Storage(_)) => {
                return Err(exlogare_runtime::http::BackendError::Transport(format!(
                    "connection `{}`: {e}",
                    self.connection
                )));
            }
        }
        if let Some(counter) = &self.spent {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        self.inner.send(req, deadline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn the_window_slides_by_the_minute_and_refuses_what_does_not_fit() {
        let mut b = RequestBudget::new(250);
        assert!(b.try_spend(200, 0).is_ok());
        assert!(b.try_spend(50, 61_000).is_ok(), "minute 1");
        let e = b.try_spend(1, 62_000).unwrap_err();
        let BudgetError::Exceeded(e) = e else {
            panic!("{e}")
        };
        assert_eq!((e.limit, e.used), (250, 250));
        assert_eq!(
            e.retry_after_ms,
            MIN + HOUR_MS - 62_000,
            "minute 0 leaves once its last ms is an hour old"
        );
        assert_eq!(b.used(62_000), 250, "a refused spend spends nothing");
        assert_eq!(
            b.used(HOUR_MS + MIN - 1),
            250,
            "minute 0 still counts one ms before it is an hour old"
        );
        assert_eq!(b.used(HOUR_MS + MIN), 50);
        assert!(b.try_spend(1, HOUR_MS + MIN).is_ok());
        assert_eq!(
            b.remaining(HOUR_MS + 2 * MIN),
            249,
            "only the call at hour + 1 min is left"
        );
        let BudgetError::Exceeded(e) = b.try_spend(251, HOUR_MS + 2 * MIN).unwrap_err() else {
            panic!()
        };
        assert_eq!(e.retry_after_ms, HOUR_MS, "more than the limit never fits");
    }

    #[test]
    fn webhook_path_calls_count_against_the_same_budget() {
        let mut b = RequestBudget::new(10);
        b.record(12, 0);
        assert_eq!(b.remaining(1), 0);
        assert!(b.try_spend(1, 1).is_err());
        assert!(b.try_spend(1, HOUR_MS + MIN).is_ok());
    }

    #[test]
    fn spends_are_counted_by_purpose() {
        let mut b = RequestBudget::new(100);
        b.try_spend(3, 0).unwrap();
        b.try_spend_for(Purpose::Poll, 5, 1_000).unwrap();
        b.try_spend(1, 2_000).unwrap();
        assert_eq!(
            (
                b.used(3_000),
                b.used_by(Purpose::Poll, 3_000),
                b.used_by(Purpose::Other, 3_000)
            ),
            (9, 5, 4)
        );
    }

    #[test]
    fn a_randomised_workload_never_exceeds_the_budget_in_any_hour() {
        use rand::Rng;
        let mut rng = rand::rng();
        let mut b = RequestBudget::new(250);
        let mut accepted: Vec<(i64, u32)> = vec![];
        let mut now = 0i64;
        for _ in 0..3_000 {
            now += rng.random_range(0..20_000);
            let n = rng.random_range(1..4);
            if b.try_spend(n, now).is_ok() {
                accepted.push((now, n));
            }
        }
        for (i, &(t, _)) in accepted.iter().enumerate() {
            let in_hour: u32 = accepted[i..]
                .iter()
                .take_while(|&&(u, _)| u < t + HOUR_MS)
                .map(|&(_, n)| n)
                .sum();
            assert!(in_hour <= 250, "{in_hour} calls in the hour from {t}");
        }
        assert!(
            accepted.iter().map(|&(_, n)| n).sum::<u32>() > 250 * (now / HOUR_MS) as u32 / 2,
            "the budget is used, not starved"
        );
    }

    #[test]
    fn two_budgets_on_one_file_share_the_window_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.db");
        two_handles_share_one_window(|| Store::open(&path).unwrap());
    }

    #[test]
    fn replicas_on_one_postgres_never_spend_past_the_limit_together() {
        if let Some(at) = exlogare_storage::testing::fresh_postgres("budget across replicas") {
            // Each handle its own pool of connections: a replica.
            two_handles_share_one_window(|| Store::open_at(&at).unwrap());
        }
    }

    /// Two processes' handles on one database, four threads each, spending one call at a
    /// time until refused: exactly the limit is spent, whatever the interleaving.
    fn two_handles_share_one_window(open: impl Fn() -> Store) {
        let now = crate::storage::now_ms();
        let mut a = RequestBudget::durable(&open(), "cloud", 40);
        a.try_spend(10, now).unwrap();
        drop(a);
        // A restart: the new handle sees the 10 calls.
        let a = RequestBudget::durable(&open(), "cloud", 40);
        let b = RequestBudget::durable(&open(), "cloud", 40);
        let mut other = RequestBudget::durable(&open(), "onprem", 40);
        assert_eq!(other.used(now), 0, "per connection");
        let (a, b) = (
            std::sync::Arc::new(std::sync::Mutex::new(a)),
            std::sync::Arc::new(std::sync::Mutex::new(b)),
        );
        assert_eq!(a.lock().unwrap().used(now), 10);
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let budget = if i % 2 == 0 { a.clone() } else { b.clone() };
                std::thread::spawn(move || {
                    let mut ok = 0;
                    while budget.lock().unwrap().try_spend(1, now).is_ok() {
                        ok += 1;
                    }
                    ok
                })
            })
            .collect();
        let spent: u32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(spent, 30, "exactly what was left, across both handles");
        assert_eq!(
            (a.lock().unwrap().used(now), b.lock().unwrap().used(now)),
            (40, 40)
        );
    }

    #[test]
    fn the_webhook_reserve_follows_what_the_webhook_path_spent_with_a_floor() {
        assert_eq!(
            webhook_reserve(250, 0),
            50,
            "a fifth when webhooks are quiet"
        );
        assert_eq!(webhook_reserve(250, 40), 50, "the floor");
        assert_eq!(
            webhook_reserve(250, 80),
            100,
            "what was spent plus a quarter"
        );
        assert_eq!(webhook_reserve(250, 240), 250, "never more than the budget");
        // Quiet webhooks leave polling more than the old fixed half (125 calls/hour).
        let quiet = poll_interval(&PollPlan {
            min_interval: Duration::ZERO,
            ..PollPlan::from_usage(250, 0, 10)
        })
        .unwrap();
        assert_eq!(
            quiet,
            Duration::from_secs(180),
            "200 calls/hour for 10 projects: each every 3 minutes"
        );
        // Busy webhooks stretch it.
        let busy = poll_interval(&PollPlan {
            min_interval: Duration::ZERO,
            ..PollPlan::from_usage(250, 160, 10)
        })
        .unwrap();
        assert_eq!(
            busy,
            Duration::from_secs(720),
            "250 - 200 = 50 calls/hour for 10 projects"
        );
        assert_eq!(
            poll_interval(&PollPlan::from_usage(250, 200, 10)),
            None,
            "nothing left for polling"
        );
        // Monotone: more webhook spending never shortens the interval.
        let mut last = Duration::ZERO;
        for spent in 0..200 {
            let every = poll_interval(&PollPlan {
                min_interval: Duration::ZERO,
                ..PollPlan::from_usage(250, spent, 7)
            })
            .unwrap();
            assert!(every >= last, "{spent}");
            last = every;
        }
    }

    #[test]
    fn the_poll_interval_stretches_with_projects_and_keeps_polling_within_its_share() {
        // 250/hour, 50 reserved for webhooks: 200 for polling.
        let one = poll_interval(&PollPlan::new(250, 50, 1)).unwrap();
        assert_eq!(
            one,
            Duration::from_secs(60),
            "a single project is polled at the floor"
        );
        let mut last = Duration::ZERO;
        for projects in 1..=500 {
            let plan = PollPlan::new(250, 50, projects);
            let every = poll_interval(&plan).unwrap();
            assert!(every >= last, "never shorter with more projects");
            last = every;
            let polls_per_hour = 3_600_000.0 / every.as_millis() as f64 * projects as f64;
            assert!(
                polls_per_hour <= 200.0 + 1e-9,
                "{projects} projects: {polls_per_hour} calls/hour"
            );
        }
        assert_eq!(
            poll_interval(&PollPlan::new(250, 50, 400)).unwrap(),
            Duration::from_secs(7_200)
        );
        let costly = PollPlan {
            calls_per_poll: 3,
            ..PollPlan::new(250, 50, 100)
        };
        assert_eq!(poll_interval(&costly).unwrap(), Duration::from_secs(5_400));
    }

    #[test]
    fn no_share_left_means_no_polling() {
        assert_eq!(poll_interval(&PollPlan::new(250, 250, 3)), None);
        assert_eq!(poll_interval(&PollPlan::new(250, 300, 3)), None);
        assert_eq!(poll_interval(&PollPlan::new(250, 0, 0)), None);
    }

    #[test]
    fn wait_for_room_says_when_a_spent_budget_frees_a_call_without_spending() {
        let mut b = RequestBudget::with_window(2, 60_000);
        assert_eq!(b.wait_for_room(0), None);
        b.try_spend(1, 0).unwrap();
        b.try_spend(1, 30_000).unwrap();
        let wait = b.wait_for_room(31_000).expect("the budget is spent");
        assert!(
            wait > 0 && wait <= 30_000,
            "the first call leaves the window within a minute of it: {wait}"
        );
        assert_eq!(b.used(31_000), 2, "asking spent nothing");
        assert_eq!(
            b.wait_for_room(31_000 + wait),
            None,
            "room again once it said"
        );
    }
}
