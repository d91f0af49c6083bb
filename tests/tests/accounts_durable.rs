//! Accounts state that must hold across processes and restarts, end to end on
//! 127.0.0.1: a serving host (`Service::build` + router + workers) and, beside it on the same
//! SQLite file, a second `Service` as the CLI builds it (`watch`, `projects`), both running the
//! real GitFlic plugin against the stateful fake GitFlic of `support/gitflic_oauth.rs`.
//!
//! - one token refresh across both processes (GitFlic rotates refresh tokens);
//! - the request budget survives a restart and is shared with the CLI;
//! - a 429 while polling: the poller waits at least Retry-After, the 429 is counted, nothing lost;
//! - the poll interval follows what the webhook path spent;
//! - webhook secret rotation: both secrets accepted while the registration is in flight, then
//!   only the new one; a failed registration keeps the old one.
//!
//! Needs the GitFlic component: cargo build -p exlogare-gitflic --target wasm32-wasip2 --profile plugin

#[path = "support/accounts_world.rs"]
mod accounts_world;
#[path = "support/config_text.rs"]
mod config_text;
#[path = "support/fakes.rs"]
mod fakes;
#[path = "support/gitflic_oauth.rs"]
mod gitflic_oauth;
#[path = "support/running.rs"]
mod running;

use accounts_world::*;
use exlogare_conformance_tests::gitflic_fixtures;
use exlogare_service::accounts::budget::Purpose;
use exlogare_service::accounts::poller;
use exlogare_service::accounts::polling::{Poller, PollerOptions};
use exlogare_service::accounts::tokens::ConnectionStatus;
use exlogare_service::config::Config;
use exlogare_service::service::Service;
use exlogare_service::storage::now_ms;
use fakes::*;
use gitflic_oauth::*;
use running::{RunningHost as Host, wait_until};
use serde_json::Value;
use std::sync::{Arc, Barrier};
use std::time::Duration;

const PIPELINES: &str = "/project/acme/payments-api/cicd/pipeline";

impl World {
    /// `serve`: built, served, workers running; `extra` joins the connection's table.
    fn host(&self, extra: &str) -> Host {
        Host::start(&self.config(extra, ""), true, false)
    }

    /// A CLI command's service (`watch`, `projects`) on the same database, beside the host.
    fn cli(&self, extra: &str) -> Arc<Service> {
        let config = Config::load(&self.config(extra, "")).unwrap();
        Arc::new(Service::build_without_resuming(config).unwrap_or_else(|e| panic!("{e:#}")))
    }
}

impl Host {
    /// The failed-job-trace delivery for acme/payments-api with `secret` in the header and the query.
    fn deliver(&self, secret: &str) -> (u16, Value) {
        let text = std::fs::read_to_string(
            gitflic_fixtures().join("failed-job-trace/bodies/delivery.json"),
        )
        .unwrap();
        let resp = self
            .webhook("gitflic", "cloud", secret, text)
            .send()
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

fn calls_used(s: &Service) -> u64 {
    s.connection_view("cloud")
        .expect("cloud")
        .calls_used_this_hour
        .expect("a running service counts") as u64
}

#[test]
fn serve_and_a_cli_command_on_one_database_refresh_the_token_once() {
    let world = World::new();
    let host = world.host("");
    let cli = world.cli("");
    // Valid for a minute: inside the one-day refresh margin, so every caller wants a refresh.
    seed_tokens(&host.service, "gf-at-0", "gf-rt-0", now_ms() + 60_000);
    world
        .gitflic
        .with(|s| s.inner.refresh_delay = Duration::from_millis(300));
    let threads = 10;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let service = if i % 2 == 0 {
                host.service.clone()
            } else {
                cli.clone()
            };
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let c = service.connection("cloud").unwrap();
                barrier.wait();
                service
                    .connection_token(&c)
                    .map(|t| t.expose().to_string())
                    .map_err(|e| e.to_string())
            })
        })
        .collect();
    let tokens: Vec<Result<String, String>> =
        handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(
        tokens.iter().all(|t| t.as_deref() == Ok("gf-at-1")),
        "{tokens:?}"
    );
    assert_eq!(
        world.gitflic.with(|s| s.inner.refresh_calls),
        1,
        "one refresh request across both processes"
    );
    for s in [&host.service, &cli] {
        assert_eq!(
            s.token_status("cloud"),
            Some((ConnectionStatus::Connected, None))
        );
    }
    world.gitflic.assert_clean();
}

#[test]
fn the_request_budget_survives_a_restart_and_is_shared_with_the_cli() {
    let world = World::new();
    let budget = "calls_per_hour = 6";
    let mut host = world.host(budget);
    seed_tokens(&host.service, "gf-at-0", "gf-rt-0", now_ms() + 20 * DAY_MS);
    let (status, body) = host.deliver(WEBHOOK_SECRET);
    assert_eq!(status, 202, "{body}");
    host.wait_state(body["delivery"].as_i64().unwrap(), "done");
    assert_eq!(
        (world.gitflic.requests().len(), calls_used(&host.service)),
        (4, 4),
        "the analysis' four requests"
    );
    host.stop();
    drop(host);

    // A restart: the hour's calls are still counted.
    let host = world.host(budget);
    assert_eq!(
        calls_used(&host.service),
        4,
        "spent calls survive a restart"
    );
    // A CLI command beside it draws from the same budget: list hooks + create = the last two.
    let cli = world.cli(budget);
    assert_eq!(calls_used(&cli), 4);
    let w = cli
        .watch(
            "cloud",
            "acme/payments-api",
            Some("https://exlogare.example"),
            false,
        )
        .unwrap();
    assert_eq!(w.registration, "created");
    assert_eq!(
        (calls_used(&host.service), calls_used(&cli)),
        (6, 6),
        "both see the CLI's calls"
    );
    // Spent: the serving host's next request is refused before it is sent.
    let err = host
        .service
        .watch(
            "cloud",
            "acme/payments-api",
            Some("https://exlogare.example"),
            false,
        )
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("request budget of 6 calls per hour"),
        "{err:#}"
    );
    assert_eq!(
        world.gitflic.requests().len(),
        6,
        "never more than the budget, across restarts and processes"
    );
    // The failed rotation kept the CLI's secret.
    let (status, body) = host.deliver(w.secret.expose());
    assert_eq!(
        (status, body["status"].as_str()),
        (202, Some("duplicate")),
        "{body}"
    );
    world.gitflic.assert_clean();
}

#[test]
fn a_429_while_polling_makes_the_poller_wait_and_loses_nothing() {
    let world = World::new();
    world.gitflic.with(|s| s.inner.pipelines_upto = Some(1286));
    let host = world.host("calls_per_hour = 36000");
    seed_tokens(&host.service, "gf-at-0", "gf-rt-0", now_ms() + 20 * DAY_MS);
    let s = host.service.clone();
    s.watch(
        "cloud",
        "acme/payments-api",
        Some("https://exlogare.example"),
        false,
    )
    .unwrap();
    // 36000/hour, a fifth kept for webhooks: one project every 125 ms.
    assert_eq!(
        s.poll_interval_of("cloud", Duration::ZERO),
        Some(Duration::from_millis(125))
    );
    let poller = Poller::start_with(
        s.clone(),
        PollerOptions {
            min_interval: Duration::ZERO,
            tick: Duration::from_millis(10),
        },
    );
    wait_until("the first poll", || {
        poller::watermark(&s.store, "cloud", "acme/payments-api").unwrap() == Some(1286)
    });

    // Pipeline 1287 fails, its webhook is lost, and GitFlic answers the next list with 429.
    world.gitflic.with(|st| {
        st.inner.retry_after = "2".into();
        st.inner.pipelines_429 = 1;
        st.inner.pipelines_upto = Some(1288);
    });
    wait_until("the polled failure to be analysed and reported", || {
        s.store.deliveries_in("done", 10).unwrap().len() == 1
    });
    poller.stop();
    let lists: Vec<Req> = world
        .gitflic
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path() == PIPELINES)
        .collect();
    let limited = world.gitflic.with(|st| st.inner.served_429.clone());
    assert_eq!(limited.len(), 1, "one 429 served");
    let after = lists
        .iter()
        .find(|r| r.at > limited[0])
        .expect("polled again after the 429");
    assert!(
        after.at - limited[0] >= Duration::from_secs(2),
        "the next poll came {:?} after the 429 (Retry-After: 2)",
        after.at - limited[0]
    );
    // Before the 429, polls (each starts with page 0; a poll may read a second page) came at
    // the interval; after it, nothing was asked for Retry-After (the analysis' own list of the
    // pipeline comes after the poll that found the failure).
    let polls: Vec<&Req> = lists
        .iter()
        .filter(|r| r.at <= limited[0] && r.query().split('&').any(|p| p == "page=0"))
        .collect();
    let gaps: Vec<Duration> = polls.windows(2).map(|w| w[1].at - w[0].at).collect();
    assert!(
        polls.len() >= 2 && gaps.iter().all(|g| *g >= Duration::from_millis(100)),
        "never more often than the interval: {gaps:?}"
    );
    let done = s.store.deliveries_in("done", 10).unwrap();
    assert_eq!(
        (done[0].pipeline.as_str(), done[0].source.as_str()),
        ("1287", "poll"),
        "caught by the poll after the pause"
    );
    assert_eq!(world.slack.posted().len(), 1);
    assert_eq!(
        calls_used(&s),
        world.gitflic.requests().len() as u64,
        "every request is counted, the 429 too"
    );
    let polled = s
        .connection("cloud")
        .unwrap()
        .budget
        .lock()
        .unwrap()
        .used_by(Purpose::Poll, now_ms());
    let before = lists.iter().filter(|r| r.at <= limited[0]).count();
    assert!(
        polled as usize > before && (polled as usize) < lists.len(),
        "the polls, the 429 included, counted as polling: {polled} of {} lists",
        lists.len()
    );
    world.gitflic.assert_clean();
    world.slack.assert_clean();
}

#[test]
fn the_poll_interval_follows_what_the_webhook_path_spent() {
    let world = World::new();
    let host = world.host("calls_per_hour = 3600");
    seed_tokens(&host.service, "gf-at-0", "gf-rt-0", now_ms() + 20 * DAY_MS);
    let s = &host.service;
    assert_eq!(
        s.poll_interval_of("cloud", Duration::ZERO),
        None,
        "nothing watched"
    );
    s.watch("cloud", "acme/payments-api", None, false).unwrap();
    // Quiet webhooks: the floor of a fifth (720) is kept, polling gets 2880 calls an hour.
    assert_eq!(
        s.poll_interval_of("cloud", Duration::ZERO),
        Some(Duration::from_millis(1250))
    );
    let c = s.connection("cloud").unwrap();
    // Polling's own calls do not shrink its share.
    c.budget
        .lock()
        .unwrap()
        .try_spend_for(Purpose::Poll, 1000, now_ms())
        .unwrap();
    assert_eq!(
        s.poll_interval_of("cloud", Duration::ZERO),
        Some(Duration::from_millis(1250))
    );
    // A busy webhook path (1000 + the watch's 2 calls, plus a quarter: 1252) stretches it.
    c.budget.lock().unwrap().record(1000, now_ms());
    assert_eq!(
        s.poll_interval_of("cloud", Duration::ZERO),
        Some(Duration::from_millis(3_600_000u64.div_ceil(3600 - 1252)))
    );
    // And so does a second project.
    s.watch("cloud", "acme/tools", None, true).unwrap();
    assert_eq!(
        s.poll_interval_of("cloud", Duration::ZERO),
        Some(Duration::from_millis(
            (2 * 3_600_000u64).div_ceil(3600 - 1252)
        ))
    );
    assert_eq!(
        s.poll_interval_of("cloud", Duration::from_secs(60)),
        Some(Duration::from_secs(60)),
        "the floor interval"
    );
    world.gitflic.assert_clean();
}

#[test]
fn a_rotated_webhook_secret_works_from_before_the_registration_and_the_old_one_until_it_succeeded()
{
    let world = World::new();
    let host = world.host("");
    seed_tokens(&host.service, "gf-at-0", "gf-rt-0", now_ms() + 20 * DAY_MS);
    let s = host.service.clone();
    let old = s
        .watch(
            "cloud",
            "acme/payments-api",
            Some("https://exlogare.example"),
            false,
        )
        .unwrap();

    // Rotate; GitFlic holds the create in flight (it already has the new secret).
    let gate = Arc::new(HookGate::default());
    world
        .gitflic
        .with(|st| st.inner.hook_gate = Some(gate.clone()));
    let rotation = {
        let s = s.clone();
        std::thread::spawn(move || {
            s.watch(
                "cloud",
                "acme/payments-api",
                Some("https://exlogare.example"),
                false,
            )
        })
    };
    let sent = gate.arrived();
    let new_secret = sent["secret"].as_str().unwrap().to_string();
    assert_ne!(new_secret, old.secret.expose());
    // In flight: GitFlic may deliver with either secret; both are accepted.
    let (status, body) = host.deliver(old.secret.expose());
    assert_eq!(
        (status, body["status"].as_str()),
        (202, Some("queued")),
        "the old secret during the rotation: {body}"
    );
    let first = body["delivery"].as_i64().unwrap();
    let (status, body) = host.deliver(&new_secret);
    assert_eq!(
        (status, body["status"].as_str()),
        (202, Some("duplicate")),
        "the new secret before GitFlic answered: {body}"
    );
    gate.open();
    let new = rotation.join().unwrap().unwrap();
    assert_eq!(
        (new.secret.expose(), new.registration.as_str()),
        (new_secret.as_str(), "repaired")
    );
    host.wait_state(first, "done");

    // After the registration succeeded: the old secret is refused, the new one accepted.
    let (status, body) = host.deliver(old.secret.expose());
    assert_eq!(status, 401, "the rotated-away secret: {body}");
    let (status, body) = host.deliver(&new_secret);
    assert_eq!(
        (status, body["status"].as_str()),
        (202, Some("duplicate")),
        "{body}"
    );
    assert_eq!(world.gitflic.with(|st| st.inner.hooks.len()), 1);
    assert_eq!(world.slack.posted().len(), 1);
    world.gitflic.assert_clean();
    world.slack.assert_clean();
}

#[test]
fn a_failed_rotation_keeps_the_old_webhook_secret_and_drops_the_new_one() {
    let world = World::new();
    let host = world.host("");
    seed_tokens(&host.service, "gf-at-0", "gf-rt-0", now_ms() + 20 * DAY_MS);
    let s = &host.service;
    let attempted = || {
        let req = world
            .gitflic
            .requests()
            .into_iter()
            .rev()
            .find(|r| r.method == "POST" && r.path().ends_with("/setting/webhook"))
            .unwrap();
        req.json().unwrap()["secret"].as_str().unwrap().to_string()
    };
    // A first watch whose registration fails leaves nothing watched; its secret is refused.
    world
        .gitflic
        .with(|st| st.inner.hook_create_status = Some(422));
    let err = s
        .watch(
            "cloud",
            "acme/payments-api",
            Some("https://exlogare.example"),
            false,
        )
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("registering the webhook on acme/payments-api failed"),
        "{err:#}"
    );
    assert!(s.watched_projects("cloud").unwrap().is_empty());
    let (status, body) = host.deliver(&attempted());
    assert_eq!(status, 401, "{body}");

    world.gitflic.with(|st| st.inner.hook_create_status = None);
    let old = s
        .watch(
            "cloud",
            "acme/payments-api",
            Some("https://exlogare.example"),
            false,
        )
        .unwrap();
    // A rotation whose registration fails: the old secret stays, the new one is dropped.
    world
        .gitflic
        .with(|st| st.inner.hook_create_status = Some(422));
    let err = s
        .watch(
            "cloud",
            "acme/payments-api",
            Some("https://exlogare.example"),
            false,
        )
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("registering the webhook on acme/payments-api failed"),
        "{err:#}"
    );
    let dropped = attempted();
    assert_ne!(dropped, old.secret.expose());
    let (status, body) = host.deliver(&dropped);
    assert_eq!(status, 401, "a secret whose registration failed: {body}");
    let (status, body) = host.deliver(old.secret.expose());
    assert_eq!(
        (status, body["status"].as_str()),
        (202, Some("queued")),
        "the old one still works: {body}"
    );
    assert_eq!(s.watched_projects("cloud").unwrap(), ["acme/payments-api"]);

    // A 500 may come after GitFlic applied the secret: both stay accepted until the next watch.
    world
        .gitflic
        .with(|st| st.inner.hook_create_status = Some(500));
    let err = s
        .watch(
            "cloud",
            "acme/payments-api",
            Some("https://exlogare.example"),
            false,
        )
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("watch acme/payments-api again"),
        "{err:#}"
    );
    let maybe = attempted();
    let (status, body) = host.deliver(&maybe);
    assert_eq!(
        (status, body["status"].as_str()),
        (202, Some("duplicate")),
        "the maybe-applied secret is accepted: {body}"
    );
    let (status, _) = host.deliver(old.secret.expose());
    assert_eq!(status, 202, "and so is the old one");
    // Watching again finishes the rotation: only its secret works after.
    world.gitflic.with(|st| st.inner.hook_create_status = None);
    let fresh = s
        .watch(
            "cloud",
            "acme/payments-api",
            Some("https://exlogare.example"),
            false,
        )
        .unwrap();
    for stale in [maybe.as_str(), old.secret.expose()] {
        let (status, body) = host.deliver(stale);
        assert_eq!(status, 401, "{body}");
    }
    let (status, _) = host.deliver(fresh.secret.expose());
    assert_eq!(status, 202);
    world.gitflic.assert_clean();
}
