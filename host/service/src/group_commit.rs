//! Group commit: many callers' writes in one transaction, each caller answered only after it.
//!
//! Every webhook delivery is stored durably before its 2xx, and with `synchronous = FULL`
//! each transaction costs an fsync; one transaction per delivery made the disk the ceiling of
//! ingest (BENCHMARKS.md). Here the first caller to arrive leads: it takes every request
//! waiting, runs them as one batch, hands each its own answer and wakes the others; callers
//! that came during the batch form the next one. A lone caller pays nothing extra (no thread,
//! no timer), and nobody is answered before the batch holding their write is committed.
//!
//! Plain and unit-tested: what a batch does is the caller's closure (`Store::enqueue` in
//! storage.rs).

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard};

/// The most requests one batch takes, so one transaction (and the wait of its first caller)
/// stays short under a flood.
pub const MAX_BATCH: usize = 256;

pub struct GroupCommit<Req, Res> {
    state: Mutex<Group<Req, Res>>,
    answered: Condvar,
}

struct Group<Req, Res> {
    next_ticket: u64,
    waiting: Vec<(u64, Req)>,
    answers: HashMap<u64, Res>,
    leading: bool,
}

impl<Req, Res> Default for GroupCommit<Req, Res> {
    fn default() -> Self {
        Self {
            state: Mutex::new(Group {
                next_ticket: 0,
                waiting: Vec::new(),
                answers: HashMap::new(),
                leading: false,
            }),
            answered: Condvar::new(),
        }
    }
}

impl<Req, Res> GroupCommit<Req, Res> {
    fn lock(&self) -> MutexGuard<'_, Group<Req, Res>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `req` in a batch with whatever other requests are waiting and returns its answer.
    /// `run` gets the batch in arrival order and must answer each request, in that order.
    /// A batch whose `run` panics answers each of its requests with `lost()`; later batches
    /// run as usual.
    pub fn submit(
        &self,
        req: Req,
        run: impl Fn(Vec<Req>) -> Vec<Res>,
        lost: impl Fn() -> Res,
    ) -> Res {
        let mut group = self.lock();
        let ticket = group.next_ticket;
        group.next_ticket += 1;
        group.waiting.push((ticket, req));
        loop {
            if let Some(answer) = group.answers.remove(&ticket) {
                return answer;
            }
            if group.leading {
                group = self.answered.wait(group).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            // Lead one batch: the oldest waiting requests, this caller's among them unless
            // more than a batch arrived before it (then it leads again, or follows).
            group.leading = true;
            let take = group.waiting.len().min(MAX_BATCH);
            let (tickets, reqs): (Vec<u64>, Vec<Req>) = group.waiting.drain(..take).unzip();
            drop(group);
            let answers = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(reqs)))
                .ok()
                .filter(|a| a.len() == tickets.len());
            group = self.lock();
            match answers {
                Some(answers) => group.answers.extend(tickets.into_iter().zip(answers)),
                None => {
                    for t in tickets {
                        group.answers.insert(t, lost());
                    }
                }
            }
            group.leading = false;
            self.answered.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// 32 callers at once, each answered with its own request, in fewer batches than callers:
    /// while one batch runs, the others gather into the next.
    #[test]
    fn concurrent_callers_share_batches_and_each_gets_its_own_answer() {
        let group = Arc::new(GroupCommit::<u32, u32>::default());
        let batches = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..32u32)
            .map(|i| {
                let (group, batches) = (group.clone(), batches.clone());
                std::thread::spawn(move || {
                    group.submit(
                        i,
                        |reqs| {
                            batches.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(20));
                            reqs.into_iter().map(|r| r * 10).collect()
                        },
                        || u32::MAX,
                    )
                })
            })
            .collect();
        for (i, t) in threads.into_iter().enumerate() {
            assert_eq!(t.join().unwrap(), i as u32 * 10);
        }
        let n = batches.load(Ordering::SeqCst);
        assert!(n < 32, "{n} batches for 32 callers: nothing was grouped");
    }

    #[test]
    fn a_lone_caller_runs_its_own_batch() {
        let group = GroupCommit::<&str, usize>::default();
        assert_eq!(group.submit("one", |r| vec![r.len()], || 0), 1);
        assert_eq!(group.submit("three", |r| vec![r[0].len()], || 0), 5);
    }

    /// A batch that panics, or answers the wrong number of requests, answers each of its
    /// callers with `lost()` instead of leaving them waiting; the next batch runs.
    #[test]
    fn a_failed_batch_answers_lost_and_the_next_one_runs() {
        let group = GroupCommit::<u32, Result<u32, &str>>::default();
        let lost = || Err("lost");
        assert_eq!(
            group.submit(1, |_| panic!("disk on fire"), lost),
            Err("lost")
        );
        assert_eq!(group.submit(2, |_| vec![], lost), Err("lost"));
        assert_eq!(group.submit(3, |r| vec![Ok(r[0])], lost), Ok(3));
    }
}
