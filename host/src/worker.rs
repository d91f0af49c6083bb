//! Worker threads: each claims due deliveries and processes them until told to stop.
//!
//! Plugin calls and notifier HTTP are blocking (wasmtime sync, reqwest blocking), so workers
//! are plain threads, not async tasks.

use crate::service::Service;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

pub struct Workers {
    stop: Arc<AtomicBool>,
    handles: Vec<JoinHandle<()>>,
}

impl Workers {
    pub fn start(service: Arc<Service>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let idle = Duration::from_millis(service.config.worker.poll_interval_ms);
        let handles = (0..service.config.worker.threads)
            .map(|i| {
                let service = service.clone();
                let stop = stop.clone();
                std::thread::Builder::new()
                    .name(format!("worker-{i}"))
                    .spawn(move || {
                        while !stop.load(Ordering::Relaxed) {
                            match service.process_next() {
                                Ok(true) => {}
                                Ok(false) => std::thread::sleep(idle),
                                Err(e) => {
                                    tracing::error!("worker: {e:#}");
                                    std::thread::sleep(idle);
                                }
                            }
                        }
                    })
                    .expect("spawning a worker thread")
            })
            .collect();
        Self { stop, handles }
    }

    /// Lets each worker finish the delivery it is on, then returns.
    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for h in self.handles {
            let _ = h.join();
        }
    }
}
