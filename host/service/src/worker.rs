//! Worker threads: each claims due deliveries and processes them until told to stop.
//!
//! Plugin calls and notifier HTTP are blocking (wasmtime sync, reqwest blocking), so workers
//! are plain threads, not async tasks.
//!
//! A worker never stays dead: a panic while processing one delivery parks that delivery
//! (`Service::process_next`), and a panic anywhere else in the loop (the database, parking
//! itself) ends the thread, which [`Supervised`] notices and starts again. Without that, two
//! crashed workers left a service that answered 202 and processed nothing.

use crate::metrics::Metrics;
use crate::service::{Service, panic_text};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub struct Workers {
    threads: Supervised,
    /// Renews the leases of the deliveries the workers hold (storage.rs), so another
    /// replica on the same database takes one over only when this process stopped.
    leases: Supervised,
}

impl Workers {
    pub fn start(service: Arc<Service>) -> Self {
        let idle = Duration::from_millis(service.config.worker.poll_interval_ms);
        let count = service.config.worker.threads;
        let metrics = service.metrics.clone();
        let on_restart = {
            let metrics = metrics.clone();
            move |name: &str, why: &str| {
                tracing::error!("{name} died ({why}); starting it again");
                metrics.worker_restart();
            }
        };
        let keeping = service.clone();
        let keeper = move |stop: &AtomicBool| {
            let store = &keeping.store;
            let every = Duration::from_millis((store.lease_ms() / 4).max(100) as u64);
            let mut renewed: Option<Instant> = None;
            while !stop.load(Ordering::Relaxed) {
                if renewed.is_none_or(|at| at.elapsed() >= every) {
                    if let Err(e) = store.renew_leases(&keeping.in_flight.ids()) {
                        tracing::error!("renewing the leases of running deliveries: {e}");
                    }
                    renewed = Some(Instant::now());
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        };
        let leases = Supervised::start(
            "lease-keeper",
            1,
            Duration::from_secs(1),
            keeper,
            |name: &str, why: &str| tracing::error!("{name} died ({why}); starting it again"),
        );
        let body = move |stop: &AtomicBool| {
            let _alive = Alive::new(&metrics);
            while !stop.load(Ordering::Relaxed) {
                let seen = service.wakeup.seen();
                match service.process_next() {
                    Ok(true) => {}
                    // Woken by the next store (wakeup.rs), or after `idle` for retries due.
                    Ok(false) => service.wakeup.wait_past(seen, idle),
                    Err(e) => {
                        tracing::error!("worker: {e:#}");
                        std::thread::sleep(idle);
                    }
                }
            }
        };
        Self {
            threads: Supervised::start(
                "worker",
                count,
                idle.max(Duration::from_millis(20)),
                body,
                on_restart,
            ),
            leases,
        }
    }

    /// Lets each worker finish the delivery it is on, then returns.
    pub fn stop(self) {
        self.threads.stop();
        // Only now: a worker finishing its delivery keeps its lease until it is done.
        self.leases.stop();
    }
}

/// Counts a running worker in `exlogare_workers_alive` for as long as it lives, unwinding included.
struct Alive(Arc<Metrics>);

impl Alive {
    fn new(metrics: &Arc<Metrics>) -> Self {
        metrics.workers_alive_add(1);
        Alive(metrics.clone())
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.workers_alive_add(-1);
    }
}

/// `count` threads running `body` until `stop`; one that ends before that (a panic) is started
/// again by a supervising thread, which reports it through `on_restart(name, why)`.
pub struct Supervised {
    stop: Arc<AtomicBool>,
    supervisor: JoinHandle<()>,
}

impl Supervised {
    pub fn start<B, R>(
        name: &str,
        count: usize,
        check_every: Duration,
        body: B,
        on_restart: R,
    ) -> Self
    where
        B: Fn(&AtomicBool) + Send + Sync + 'static,
        R: Fn(&str, &str) + Send + 'static,
    {
        let stop = Arc::new(AtomicBool::new(false));
        let body = Arc::new(body);
        let spawn = {
            let (stop, body) = (stop.clone(), body.clone());
            move |name: &str| {
                let (stop, body) = (stop.clone(), body.clone());
                std::thread::Builder::new()
                    .name(name.to_owned())
                    .spawn(move || body(&stop))
            }
        };
        let names: Vec<String> = (0..count).map(|i| format!("{name}-{i}")).collect();
        let mut handles: Vec<Option<JoinHandle<()>>> = names
            .iter()
            .map(|n| {
                spawn(n)
                    .map_err(|e| tracing::error!("could not start {n}: {e}"))
                    .ok()
            })
            .collect();
        let supervisor = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name(format!("{name}-supervisor"))
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(check_every);
                        for (slot, n) in handles.iter_mut().zip(&names) {
                            if stop.load(Ordering::Relaxed) {
                                break;
                            }
                            let ended = slot.as_ref().is_none_or(JoinHandle::is_finished);
                            if !ended {
                                continue;
                            }
                            let why = match slot.take().map(JoinHandle::join) {
                                Some(Err(payload)) => {
                                    format!("panic: {}", panic_text(payload.as_ref()))
                                }
                                Some(Ok(())) => "it returned".to_owned(),
                                None => "it could not be started".to_owned(),
                            };
                            on_restart(n, &why);
                            *slot = spawn(n)
                                .map_err(|e| tracing::error!("could not start {n}: {e}"))
                                .ok();
                        }
                    }
                    for h in handles.into_iter().flatten() {
                        let _ = h.join();
                    }
                })
                .expect("spawning the supervisor thread")
        };
        Self { stop, supervisor }
    }

    /// Tells every thread to stop and waits for them.
    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.supervisor.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn a_thread_that_panics_is_started_again_and_stop_ends_them_all() {
        let runs = Arc::new(AtomicUsize::new(0));
        let restarts = Arc::new(Mutex::new(Vec::new()));
        let body = {
            let runs = runs.clone();
            move |stop: &AtomicBool| {
                // The first run of any thread dies; every later one works until told to stop.
                if runs.fetch_add(1, Ordering::SeqCst) == 0 {
                    panic!("disk on fire at line 7");
                }
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        };
        let seen = restarts.clone();
        let threads = Supervised::start(
            "t",
            2,
            Duration::from_millis(5),
            body,
            move |n: &str, why: &str| {
                seen.lock().unwrap().push(format!("{n}: {why}"));
            },
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while runs.load(Ordering::SeqCst) < 3 {
            assert!(
                std::time::Instant::now() < deadline,
                "the dead thread was not started again"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        threads.stop();
        let restarts = restarts.lock().unwrap();
        assert_eq!(restarts.len(), 1, "{restarts:?}");
        assert!(
            restarts[0].ends_with("panic: disk on fire at line 7"),
            "{restarts:?}"
        );
        assert_eq!(
            runs.load(Ordering::SeqCst),
            3,
            "two threads, one of them twice"
        );
    }
}
