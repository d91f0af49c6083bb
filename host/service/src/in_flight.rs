//! The deliveries this process's workers are processing right now: the ones whose leases the
//! lease keeper renews (worker.rs). A delivery this process claimed but no longer works on
//! (its worker died with the process, or a test left it claimed) is not renewed, so its lease
//! runs out and another worker or replica takes it over (storage.rs).

use std::collections::BTreeSet;
use std::sync::Mutex;

#[derive(Default)]
pub struct InFlight(Mutex<BTreeSet<i64>>);

impl InFlight {
    fn set(&self) -> std::sync::MutexGuard<'_, BTreeSet<i64>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts `id` as being processed until the returned guard is dropped (unwinding too).
    pub fn hold(&self, id: i64) -> Held<'_> {
        self.set().insert(id);
        Held { by: self, id }
    }

    pub fn ids(&self) -> Vec<i64> {
        self.set().iter().copied().collect()
    }
}

pub struct Held<'a> {
    by: &'a InFlight,
    id: i64,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.by.set().remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_counts_while_its_guard_lives_even_through_a_panic() {
        let f = InFlight::default();
        let a = f.hold(1);
        {
            let _b = f.hold(2);
            assert_eq!(f.ids(), [1, 2]);
        }
        assert_eq!(f.ids(), [1]);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _c = f.hold(3);
            panic!("processing failed");
        }));
        assert!(r.is_err());
        assert_eq!(f.ids(), [1]);
        drop(a);
        assert!(f.ids().is_empty());
    }
}
