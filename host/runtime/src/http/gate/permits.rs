//! How many HTTP requests one plugin may have open at once, across all its concurrent calls.
//!
//! Worker threads, webhook verification, the poller and CLI commands all call one
//! [`LoadedPlugin`](crate::plugin::LoadedPlugin); each call has its own gate, but every gate of
//! a plugin draws from the plugin's [`HttpPermits`]. A request takes a [`HttpPermit`] before it
//! is sent and holds it until its response is consumed: to the end of the buffered body for
//! `send`, and inside the body stream for `send-streaming` until the guest reads it to the end,
//! drops it, or its instance is torn down (a trap included): the permit is released by `Drop`,
//! so no path can leak one. A request that gets no permit within `http_wait_ms` (never past
//! the call's own deadline) is a guest-visible `http-error.timeout`.
//!
//! Plain code, no I/O: a counter under a `Mutex` and a `Condvar` (wasmCloud's `DEFAULT_HTTP_WAIT`
//! and Spin's `max_concurrent_connections` are the same idea, ../shared/reference/plugin-hosts.md §9.1).

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// A counting semaphore over one plugin's open HTTP requests. Clones share the count.
#[derive(Clone)]
pub struct HttpPermits {
    shared: Arc<Shared>,
}

struct Shared {
    limit: u32,
    open: Mutex<u32>,
    freed: Condvar,
}

/// One open request's slot; dropping it frees the slot and wakes one waiter.
pub struct HttpPermit {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for HttpPermit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HttpPermit(of {})", self.shared.limit)
    }
}

impl std::fmt::Debug for HttpPermits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "HttpPermits({} of {} open)",
            self.open(),
            self.shared.limit
        )
    }
}

impl HttpPermits {
    /// `limit` permits; a limit of 0 (refused by `SandboxLimits::validate`) is taken as 1, so
    /// a semaphore can never block forever by construction.
    pub fn new(limit: u32) -> Self {
        Self {
            shared: Arc::new(Shared {
                limit: limit.max(1),
                open: Mutex::new(0),
                freed: Condvar::new(),
            }),
        }
    }

    pub fn limit(&self) -> u32 {
        self.shared.limit
    }

    /// Permits held right now.
    pub fn open(&self) -> u32 {
        *self.shared.lock()
    }

    /// A permit if one is free now.
    pub fn try_acquire(&self) -> Option<HttpPermit> {
        let mut open = self.shared.lock();
        self.take(&mut open)
    }

    /// Waits until a permit is free or `until` passes; `None` when it passed first.
    pub fn acquire_until(&self, until: Instant) -> Option<HttpPermit> {
        let mut open = self.shared.lock();
        loop {
            // Free capacity wins over an expired wait: a waiter woken by a release just as its
            // time ran out takes the slot rather than leaving it for nobody.
            if let Some(permit) = self.take(&mut open) {
                return Some(permit);
            }
            let now = Instant::now();
            if now >= until {
                return None;
            }
            open = self
                .shared
                .freed
                .wait_timeout(open, until - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    fn take(&self, open: &mut u32) -> Option<HttpPermit> {
        if *open < self.shared.limit {
            *open += 1;
            Some(HttpPermit {
                shared: self.shared.clone(),
            })
        } else {
            None
        }
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, u32> {
        // The count stays consistent even if a holder panicked: it is only ever changed by
        // one statement under the lock.
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for HttpPermit {
    fn drop(&mut self) {
        let mut open = self.shared.lock();
        *open = open.saturating_sub(1);
        drop(open);
        self.shared.freed.notify_one();
    }
}

/// When a request stops waiting for a permit: after `wait`, but never past the call's own
/// (HTTP) deadline. The second value says which one it is (`true`: the call's deadline).
pub fn wait_until(now: Instant, wait: Duration, call_deadline: Instant) -> (Instant, bool) {
    match now.checked_add(wait) {
        Some(at) if at < call_deadline => (at, false),
        _ => (call_deadline, true),
    }
}

/// The host-side explanation of a request that got no permit (the guest sees `timeout`,
/// which carries no text; this goes to the call's transcript and the host log).
pub fn saturated_message(
    limit: u32,
    waited: Duration,
    wait: Duration,
    by_call_deadline: bool,
) -> String {
    let why = if by_call_deadline {
        "the call's deadline came first".to_string()
    } else {
        format!("sandbox limit `http_wait_ms` = {}", wait.as_millis())
    };
    format!(
        "no HTTP slot after waiting {} ms ({why}): the plugin already has {limit} requests open \
         (sandbox limit `http_concurrency` = {limit})",
        waited.as_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn soon(ms: u64) -> Instant {
        Instant::now() + Duration::from_millis(ms)
    }

    #[test]
    fn permits_are_taken_up_to_the_limit_and_come_back_on_drop() {
        let permits = HttpPermits::new(2);
        let a = permits.try_acquire().expect("first");
        let b = permits.try_acquire().expect("second");
        assert_eq!(permits.open(), 2);
        assert!(
            permits.try_acquire().is_none(),
            "a third permit past the limit of 2"
        );
        drop(a);
        assert_eq!(permits.open(), 1);
        let c = permits.try_acquire().expect("the released slot");
        drop((b, c));
        assert_eq!(permits.open(), 0);
    }

    #[test]
    fn clones_share_one_count() {
        let permits = HttpPermits::new(1);
        let other = permits.clone();
        let held = permits.try_acquire().unwrap();
        assert!(other.try_acquire().is_none());
        drop(held);
        assert!(other.try_acquire().is_some());
    }

    #[test]
    fn a_wait_with_no_release_times_out_and_takes_nothing() {
        let permits = HttpPermits::new(1);
        let _held = permits.try_acquire().unwrap();
        assert!(permits.acquire_until(soon(30)).is_none());
        assert!(
            permits
                .acquire_until(Instant::now() - Duration::from_millis(1))
                .is_none(),
            "a wait already over"
        );
        assert_eq!(permits.open(), 1, "a timed-out wait holds nothing");
    }

    #[test]
    fn a_waiter_gets_the_permit_another_thread_drops() {
        let permits = HttpPermits::new(1);
        let held = permits.try_acquire().unwrap();
        let waiter = {
            let permits = permits.clone();
            std::thread::spawn(move || permits.acquire_until(soon(10_000)).is_some())
        };
        // Let the waiter block (it also passes if it has not started yet: it then finds the
        // slot free), then release.
        std::thread::sleep(Duration::from_millis(20));
        drop(held);
        assert!(
            waiter.join().unwrap(),
            "the waiter got the released permit before its 10 s wait ran out"
        );
        assert_eq!(
            permits.open(),
            0,
            "the waiter's permit was dropped with its thread's result"
        );
    }

    #[test]
    fn many_threads_never_hold_more_than_the_limit() {
        let permits = HttpPermits::new(3);
        let peak = Arc::new(Mutex::new((0u32, 0u32))); // (now, max)
        let threads: Vec<_> = (0..12)
            .map(|_| {
                let (permits, peak) = (permits.clone(), peak.clone());
                std::thread::spawn(move || {
                    let _p = permits
                        .acquire_until(soon(10_000))
                        .expect("a permit within 10 s");
                    {
                        let mut p = peak.lock().unwrap();
                        p.0 += 1;
                        p.1 = p.1.max(p.0);
                    }
                    std::thread::sleep(Duration::from_millis(2));
                    peak.lock().unwrap().0 -= 1;
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let max = peak.lock().unwrap().1;
        assert!((1..=3).contains(&max), "held at once: {max}");
        assert_eq!(permits.open(), 0);
    }

    #[test]
    fn a_limit_of_zero_is_one() {
        let permits = HttpPermits::new(0);
        assert_eq!(permits.limit(), 1);
        assert!(permits.try_acquire().is_some());
    }

    #[test]
    fn the_wait_ends_at_the_call_deadline_when_that_comes_first() {
        let now = Instant::now();
        let deadline = now + Duration::from_secs(2);
        assert_eq!(
            wait_until(now, Duration::from_secs(5), deadline),
            (deadline, true)
        );
        assert_eq!(
            wait_until(now, Duration::from_secs(1), deadline),
            (now + Duration::from_secs(1), false)
        );
        assert_eq!(
            wait_until(now, Duration::MAX, deadline),
            (deadline, true),
            "no overflow"
        );
    }

    #[test]
    fn the_message_names_the_limits() {
        let m = saturated_message(
            4,
            Duration::from_millis(5000),
            Duration::from_millis(5000),
            false,
        );
        assert!(
            m.contains("`http_concurrency` = 4") && m.contains("`http_wait_ms` = 5000"),
            "{m}"
        );
        let m = saturated_message(
            2,
            Duration::from_millis(700),
            Duration::from_millis(5000),
            true,
        );
        assert!(
            m.contains("`http_concurrency` = 2") && m.contains("deadline"),
            "{m}"
        );
    }
}
