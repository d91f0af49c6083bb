//! The service running in-process for the end-to-end tests (service.rs, the accounts tests,
//! plugin_faults.rs): built from a TOML config, served by the real router on 127.0.0.1:0,
//! workers optional; and what it stored of a delivery. Each test file adds its own request
//! helpers in an `impl RunningHost` block.

#![allow(dead_code)]

use exlogare_runtime::contract;
use exlogare_service::config::Config;
use exlogare_service::service::Service;
use exlogare_service::storage::Delivery;
use exlogare_service::worker::Workers;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The longest any test waits for the workers; waits poll, nothing asserts on speed.
pub const WAIT: Duration = Duration::from_secs(20);

pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "gave up after {WAIT:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub struct RunningHost {
    pub service: Arc<Service>,
    pub base: String,
    pub client: reqwest::blocking::Client,
    rt: Option<tokio::runtime::Runtime>,
    workers: Option<Workers>,
}

impl RunningHost {
    /// Builds the service from `config_path` (on an existing database this is a restart),
    /// serves it and, when asked, starts the workers. `follow_redirects: false` lets a test
    /// read a 302's Location (OAuth start).
    pub fn start(config_path: &Path, start_workers: bool, follow_redirects: bool) -> RunningHost {
        Self::start_with(config_path, start_workers, follow_redirects, |_| {})
    }

    /// As [`RunningHost::start`], with `adjust` given the built service before it is shared
    /// (a test swaps in a notifier that misbehaves on purpose).
    pub fn start_with(
        config_path: &Path,
        start_workers: bool,
        follow_redirects: bool,
        adjust: impl FnOnce(&mut Service),
    ) -> RunningHost {
        Self::start_at_base(
            |_| config_path.to_path_buf(),
            start_workers,
            follow_redirects,
            adjust,
        )
    }

    /// As [`RunningHost::start_with`], the config written by `config_for` once the address
    /// is known (given as `http://127.0.0.1:port`): for a host whose `public_url` must be its
    /// real address, because a browser follows the links it gives (the page tests).
    pub fn start_at_base(
        config_for: impl FnOnce(&str) -> std::path::PathBuf,
        start_workers: bool,
        follow_redirects: bool,
        adjust: impl FnOnce(&mut Service),
    ) -> RunningHost {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let config_path = config_for(&base);
        let config = Config::load(&config_path).unwrap_or_else(|e| panic!("config: {e:#}"));
        let mut service =
            Service::build(config).unwrap_or_else(|e| panic!("Service::build: {e:#}"));
        adjust(&mut service);
        let service = Arc::new(service);
        // All that `serve` answers: the service's endpoints and the Integrations page.
        let app = exlogare_web::app(service.clone());
        // As `serve` does: the listener under the server's connection limits.
        let listener = exlogare_service::server::edge(listener, &service.config.server);
        rt.spawn(async move { axum::serve(listener, app).await });
        let workers = start_workers.then(|| Workers::start(service.clone()));
        let mut client = reqwest::blocking::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30));
        if !follow_redirects {
            client = client.redirect(reqwest::redirect::Policy::none());
        }
        RunningHost {
            service,
            base,
            client: client.build().unwrap(),
            rt: Some(rt),
            workers,
        }
    }

    /// A delivery to the webhook endpoint of `provider`'s `connection`, as GitFlic sends one:
    /// JSON, `secret` in the header and in the query.
    pub fn webhook(
        &self,
        provider: &str,
        connection: &str,
        secret: &str,
        body: impl Into<reqwest::blocking::Body>,
    ) -> reqwest::blocking::RequestBuilder {
        self.client
            .post(format!(
                "{}/api/integrations/{provider}/webhook/{connection}?secret={secret}",
                self.base
            ))
            .header("content-type", "application/json")
            .header("gitflic-webhook-secret", secret)
            .body(body)
    }

    /// What `/metrics` shows now.
    pub fn metrics_text(&self) -> String {
        let resp = self
            .client
            .get(format!("{}/metrics", self.base))
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "/metrics answers");
        resp.text().unwrap()
    }

    pub fn delivery(&self, id: i64) -> Delivery {
        self.service
            .store
            .delivery(id)
            .unwrap()
            .unwrap_or_else(|| panic!("delivery {id} is not stored"))
    }

    /// Waits until delivery `id` reaches `state` (`done`, `parked`) and returns it.
    pub fn wait_state(&self, id: i64, state: &str) -> Delivery {
        let deadline = Instant::now() + WAIT;
        while self.delivery(id).state != state {
            assert!(
                Instant::now() < deadline,
                "gave up after {WAIT:?} waiting for delivery {id} to be {state}: {:?}",
                self.delivery(id)
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        self.delivery(id)
    }

    pub fn start_workers(&mut self) {
        assert!(self.workers.is_none());
        self.workers = Some(Workers::start(self.service.clone()));
    }

    /// Stops the workers (each finishes its delivery) and the server.
    pub fn stop(&mut self) {
        if let Some(w) = self.workers.take() {
            w.stop();
        }
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

impl Drop for RunningHost {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A failed pipeline by number, as a webhook or the poller reports one, for tests that
/// enqueue a failure without a provider in front.
pub fn failed_pipeline(owner: &str, name: &str, number: u64) -> contract::FailureEvent {
    contract::FailureEvent {
        project: contract::ProjectRef {
            owner: owner.into(),
            name: name.into(),
            id: None,
        },
        pipeline: contract::PipelineRef {
            id: None,
            number: Some(number),
        },
        event: "PIPELINE_FAIL".into(),
        git_ref: None,
        commit_sha: None,
    }
}
