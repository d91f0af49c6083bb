//! Wakes idle workers when a delivery is stored, so a new failure is taken at once instead of
//! at the next look (`[worker] poll_interval_ms`, 250 ms by default), which stays as the
//! fallback for retries that come due and for deliveries another process stored.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// A counter of stores and the condition idle workers wait on. A worker notes the count
/// before it looks at the queue and waits only while it has not moved, so a store between
/// its look and its wait is never missed.
#[derive(Default)]
pub struct Wakeup {
    stored: Mutex<u64>,
    changed: Condvar,
}

impl Wakeup {
    /// The count to pass to [`Wakeup::wait_past`] after looking at the queue.
    pub fn seen(&self) -> u64 {
        *self.stored.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A delivery was stored: every waiting worker looks again.
    pub fn notify(&self) {
        let mut n = self.stored.lock().unwrap_or_else(|p| p.into_inner());
        *n = n.wrapping_add(1);
        self.changed.notify_all();
    }

    /// Waits until something was stored after `seen`, or `timeout` passed.
    pub fn wait_past(&self, seen: u64, timeout: Duration) {
        let guard = self.stored.lock().unwrap_or_else(|p| p.into_inner());
        let _ = self
            .changed
            .wait_timeout_while(guard, timeout, |n| *n == seen)
            .unwrap_or_else(|p| p.into_inner());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn a_store_after_the_look_ends_the_wait_at_once() {
        let w = Wakeup::default();
        let seen = w.seen();
        w.notify(); // between the worker's look and its wait
        let t = Instant::now();
        w.wait_past(seen, Duration::from_secs(30));
        assert!(t.elapsed() < Duration::from_secs(30));
    }

    #[test]
    fn a_waiting_worker_is_woken_by_a_store() {
        let w = Arc::new(Wakeup::default());
        let seen = w.seen();
        let waiter = {
            let w = w.clone();
            std::thread::spawn(move || w.wait_past(seen, Duration::from_secs(30)))
        };
        std::thread::sleep(Duration::from_millis(20));
        w.notify();
        waiter.join().unwrap();
        assert_ne!(w.seen(), seen);
    }

    #[test]
    fn without_a_store_the_wait_ends_at_its_timeout() {
        let w = Wakeup::default();
        let seen = w.seen();
        w.wait_past(seen, Duration::from_millis(5));
        assert_eq!(w.seen(), seen);
    }
}
