//! The per-connection request budget: at most `calls_per_hour` provider calls in any sliding
//! hour (default 250, half of GitFlic cloud's 500/hour), counting the webhook path's calls
//! too, and the poll interval that keeps polling inside what is left.
//!
//! Pure: the caller passes `now` (ms); the window lives in memory (it starts empty after a
//! restart).

use std::collections::VecDeque;
use std::time::Duration;

pub const DEFAULT_CALLS_PER_HOUR: u32 = 250;
const HOUR_MS: i64 = 3_600_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the request budget of {limit} calls per hour is spent ({used} used); the next call fits in {retry_after_ms} ms")]
pub struct BudgetExceeded {
    pub limit: u32,
    pub used: u32,
    pub retry_after_ms: i64,
}

/// A sliding one-hour window of spent calls.
#[derive(Debug, Clone)]
pub struct RequestBudget {
    limit: u32,
    window_ms: i64,
    /// (time, calls), oldest first.
    spent: VecDeque<(i64, u32)>,
}

impl Default for RequestBudget {
    fn default() -> Self {
        Self::new(DEFAULT_CALLS_PER_HOUR)
    }
}

impl RequestBudget {
    pub fn new(calls_per_hour: u32) -> Self {
        Self::with_window(calls_per_hour, HOUR_MS)
    }

    pub fn with_window(limit: u32, window_ms: i64) -> Self {
        Self { limit, window_ms: window_ms.max(1), spent: VecDeque::new() }
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    fn expire(&mut self, now: i64) {
        while self.spent.front().is_some_and(|&(t, _)| t <= now - self.window_ms) {
            self.spent.pop_front();
        }
    }

    /// Calls spent in the window ending at `now` (the status page's "calls used this hour").
    pub fn used(&mut self, now: i64) -> u32 {
        self.expire(now);
        self.spent.iter().map(|&(_, n)| n).sum()
    }

    pub fn remaining(&mut self, now: i64) -> u32 {
        self.limit.saturating_sub(self.used(now))
    }

    /// Spends `n` calls if they fit; otherwise spends nothing and says when they would fit.
    pub fn try_spend(&mut self, n: u32, now: i64) -> Result<(), BudgetExceeded> {
        let used = self.used(now);
        if used.saturating_add(n) <= self.limit {
            if n > 0 {
                self.spent.push_back((now, n));
            }
            return Ok(());
        }
        // The earliest time enough old calls leave the window (never, if n alone is too many).
        let mut freed = 0u32;
        let mut retry_after_ms = self.window_ms;
        if n <= self.limit {
            for &(t, k) in &self.spent {
                freed += k;
                if used - freed + n <= self.limit {
                    retry_after_ms = (t + self.window_ms - now).max(1);
                    break;
                }
            }
        }
        Err(BudgetExceeded { limit: self.limit, used, retry_after_ms })
    }

    /// Records calls that happened regardless (e.g. answering a webhook), even over the limit,
    /// so the poller backs off afterwards.
    pub fn record(&mut self, n: u32, now: i64) {
        if n > 0 {
            self.spent.push_back((now, n));
        }
    }
}

/// What the poll interval depends on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PollPlan {
    pub calls_per_hour: u32,
    /// Calls per hour kept for the webhook path (analyses, webhook management), e.g. the
    /// observed rate with some headroom.
    pub reserved_per_hour: u32,
    pub projects: u32,
    /// Calls one poll of one project costs (a `list-pipelines` is usually 1).
    pub calls_per_poll: u32,
    /// Never poll a project more often than this.
    pub min_interval: Duration,
}

impl PollPlan {
    pub fn new(calls_per_hour: u32, reserved_per_hour: u32, projects: u32) -> Self {
        Self { calls_per_hour, reserved_per_hour, projects, calls_per_poll: 1, min_interval: Duration::from_secs(60) }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_slides_and_refuses_what_does_not_fit() {
        let mut b = RequestBudget::new(250);
        assert!(b.try_spend(200, 0).is_ok());
        assert!(b.try_spend(50, 1_000).is_ok());
        let e = b.try_spend(1, 2_000).unwrap_err();
        assert_eq!((e.limit, e.used), (250, 250));
        assert_eq!(e.retry_after_ms, HOUR_MS - 2_000, "the first 200 leave the window at one hour");
        assert_eq!(b.used(2_000), 250, "a refused spend spends nothing");
        assert!(b.try_spend(1, HOUR_MS).is_ok());
        assert_eq!(b.used(HOUR_MS), 51);
        assert_eq!(b.remaining(HOUR_MS + 1_000), 249, "only the call at one hour is left");
        assert!(b.try_spend(251, HOUR_MS + 1_000).is_err(), "more than the limit never fits");
    }

    #[test]
    fn webhook_path_calls_count_against_the_same_budget() {
        let mut b = RequestBudget::new(10);
        b.record(12, 0);
        assert_eq!(b.remaining(1), 0);
        assert!(b.try_spend(1, 1).is_err());
        assert!(b.try_spend(1, HOUR_MS).is_ok());
    }

    #[test]
    fn a_randomised_workload_never_exceeds_the_budget_in_any_hour() {
        use rand::Rng;
        let mut rng = rand::rng();
        let mut b = RequestBudget::new(250);
        let mut accepted: Vec<(i64, u32)> = vec![];
        let mut now = 0i64;
        for _ in 0..5_000 {
            now += rng.random_range(0..20_000);
            let n = rng.random_range(1..4);
            if b.try_spend(n, now).is_ok() {
                accepted.push((now, n));
            }
        }
        for (i, &(t, _)) in accepted.iter().enumerate() {
            let in_hour: u32 = accepted[i..].iter().take_while(|&&(u, _)| u < t + HOUR_MS).map(|&(_, n)| n).sum();
            assert!(in_hour <= 250, "{in_hour} calls in the hour from {t}");
        }
    }

    #[test]
    fn the_poll_interval_stretches_with_projects_and_keeps_polling_within_its_share() {
        // 250/hour, 50 reserved for webhooks: 200 for polling.
        let one = poll_interval(&PollPlan::new(250, 50, 1)).unwrap();
        assert_eq!(one, Duration::from_secs(60), "a single project is polled at the floor");
        let mut last = Duration::ZERO;
        for projects in 1..=500 {
            let plan = PollPlan::new(250, 50, projects);
            let every = poll_interval(&plan).unwrap();
            assert!(every >= last, "never shorter with more projects");
            last = every;
            let polls_per_hour = 3_600_000.0 / every.as_millis() as f64 * projects as f64;
            assert!(polls_per_hour <= 200.0 + 1e-9, "{projects} projects: {polls_per_hour} calls/hour");
        }
        assert_eq!(poll_interval(&PollPlan::new(250, 50, 400)).unwrap(), Duration::from_secs(7_200));
        let costly = PollPlan { calls_per_poll: 3, ..PollPlan::new(250, 50, 100) };
        assert_eq!(poll_interval(&costly).unwrap(), Duration::from_secs(5_400));
    }

    #[test]
    fn no_share_left_means_no_polling() {
        assert_eq!(poll_interval(&PollPlan::new(250, 250, 3)), None);
        assert_eq!(poll_interval(&PollPlan::new(250, 300, 3)), None);
        assert_eq!(poll_interval(&PollPlan::new(250, 0, 0)), None);
    }
}
