//! What no input may do to the service: stop its workers. Through the real router, worker
//! threads, the GitFlic plugin and a fake GitFlic on 127.0.0.1, with fake Slack, Telegram and
//! Matrix rooms that check every request.
//!
//! The failures are the `failed-job-trace` recording (fixtures/gitflic), replayed once per
//! project: each project's exchanges are the recording's with the project's name swapped in,
//! so eleven distinct failures need no eleven recordings. The Russian log is synthetic: a
//! gcc/make build failure as a `ru_RU` runner prints it, with the time prefix GitFlic puts on
//! job log lines since 4.4.
//!
//! Needs the GitFlic component: cargo build -p exlogare-gitflic --target wasm32-wasip2 --profile plugin

#[path = "support/config_text.rs"]
mod config_text;
#[path = "support/fakes.rs"]
mod fakes;
#[path = "support/running.rs"]
mod running;

use config_text::*;
use exlogare_conformance_tests::gitflic_fixtures;
use exlogare_notify::{
    ConnectionAlert, Delivered, FailureMessage, Language, Notifier, NotifyError,
};
use exlogare_service::storage::now_ms;
use fakes::*;
use running::{RunningHost as Host, base64_encode};

const WEBHOOK_SECRET: &str = "wh-5Kq9vT2mXa7LpR3d";
const ACCESS_TOKEN: &str = "gf-access-test-4b8e";
const RECORDED_PROJECT: &str = "payments-api";

fn recording(file: &str) -> Vec<u8> {
    std::fs::read(
        gitflic_fixtures()
            .join("failed-job-trace/bodies")
            .join(file),
    )
    .unwrap()
}

/// The recording's exchanges for project `acme/{name}`, its job log replaced by `log` if given.
fn exchanges_for(name: &str, log: Option<&[u8]>) -> Vec<Exchange> {
    load_exchanges(&gitflic_fixtures(), &["failed-job-trace"])
        .into_iter()
        .map(|mut e| {
            e.path = e.path.replace(RECORDED_PROJECT, name);
            e.reply.body = match (log, e.path.ends_with("/download")) {
                (Some(log), true) => log.to_vec(),
                _ => String::from_utf8(e.reply.body)
                    .unwrap()
                    .replace(RECORDED_PROJECT, name)
                    .into_bytes(),
            };
            e.origin = format!("failed-job-trace as acme/{name}");
            e
        })
        .collect()
}

fn delivery_for(name: &str) -> Vec<u8> {
    String::from_utf8(recording("delivery.json"))
        .unwrap()
        .replace(RECORDED_PROJECT, name)
        .into_bytes()
}

struct World {
    dir: tempfile::TempDir,
    gitflic: FakeGitflic,
    rooms: [ChatFake; 3],
}

impl World {
    fn new(exchanges: Vec<Exchange>) -> World {
        let gitflic = gitflic_fake(ACCESS_TOKEN, &base64_encode(b"unused:unused"), exchanges);
        let rooms = [slack_fake(), telegram_fake(), matrix_fake()];
        let dir = tempfile::tempdir().unwrap();
        let slack_url = format!("{}{SLACK_PATH}", rooms[0].base);
        write_secrets(
            dir.path(),
            &[
                ("webhook-secret", WEBHOOK_SECRET),
                ("access-token", ACCESS_TOKEN),
                ("slack-url", &slack_url),
                ("telegram-token", TG_TOKEN),
                ("matrix-token", MX_TOKEN),
            ],
        );
        World {
            dir,
            gitflic,
            rooms,
        }
    }

    fn config(&self) -> std::path::PathBuf {
        let d = self.dir.path();
        let worker = Worker {
            threads: 2,
            max_attempts: 3,
            backoff_base_ms: 50,
            backoff_max_ms: 200,
        };
        let cloud = format!(
            "options = {{ analyze_warnings = \"false\" }}\nwebhook_secret_file = {:?}\naccess_token_file = {:?}\n",
            d.join("webhook-secret"),
            d.join("access-token")
        );
        let text = head(d, "", &worker, &compile_cache())
            + &gitflic_connection("cloud", &self.gitflic.base, &cloud)
            + &slack_notifier(d)
            + &telegram_notifier(d, &self.rooms[1].base)
            + &matrix_notifier(d, &self.rooms[2].base)
            + "\n[[routes]]\nconnection = \"cloud\"\nproject = \"acme/*\"\nnotifiers = [\"team-slack\", \"ops-telegram\", \"ci-room\"]\n";
        write_config(d, &text)
    }

    fn posted(&self) -> Vec<Vec<String>> {
        self.rooms
            .iter()
            .map(|r| r.posted().iter().map(all_text).collect())
            .collect()
    }
}

fn deliver(host: &Host, body: Vec<u8>) -> i64 {
    let resp = host
        .webhook("gitflic", "cloud", WEBHOOK_SECRET, body)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let json: serde_json::Value = resp.json().unwrap();
    json["delivery"]
        .as_i64()
        .unwrap_or_else(|| panic!("no delivery id: {json}"))
}

fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// Wraps the first room's notifier: a message about `acme/poison` panics (standing in for any
/// bug a delivery's input can reach), every other message goes through untouched.
struct PanicsOnPoison(Box<dyn Notifier>);

impl Notifier for PanicsOnPoison {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn kind(&self) -> &'static str {
        self.0.kind()
    }
    fn send_in(
        &self,
        msg: &FailureMessage,
        language: Language,
        key: &str,
    ) -> Result<Delivered, NotifyError> {
        if msg.project == "acme/poison" {
            let line = "10:15: Ошибка сборки";
            // The very slice that used to take the worker down, now on purpose.
            let _ = &line[..8];
        }
        self.0.send_in(msg, language, key)
    }
    fn send_alert_in(
        &self,
        alert: &ConnectionAlert,
        language: Language,
        key: &str,
    ) -> Result<Delivered, NotifyError> {
        self.0.send_alert_in(alert, language, key)
    }
}

#[test]
fn a_poison_delivery_is_parked_with_its_reason_and_the_workers_go_on() {
    let names: Vec<String> = (1..=10).map(|k| format!("svc-{k}")).collect();
    let mut exchanges = exchanges_for("poison", None);
    for n in &names {
        exchanges.extend(exchanges_for(n, None));
    }
    let world = World::new(exchanges);
    let host = Host::start_with(&world.config(), true, true, |service| {
        let slack = service
            .notifiers
            .remove("team-slack")
            .expect("the team-slack notifier");
        service
            .notifiers
            .insert("team-slack".into(), Box::new(PanicsOnPoison(slack)));
    });

    // The poison first, with both workers idle: it must not take one of them with it.
    let poison = deliver(&host, delivery_for("poison"));
    let parked = host.wait_state(poison, "parked");
    let reason = parked.last_error.clone().unwrap_or_default();
    assert!(
        reason.starts_with("the service crashed while processing this delivery ("),
        "{reason}"
    );
    assert!(
        reason.contains("byte index 8 is not a char boundary"),
        "the panic's own words: {reason}"
    );
    assert!(!reason.contains('\n'), "one line: {reason}");

    let good: Vec<i64> = names
        .iter()
        .map(|n| deliver(&host, delivery_for(n)))
        .collect();
    for id in &good {
        host.wait_state(*id, "done");
    }
    for (room, texts) in ["slack", "telegram", "matrix"].iter().zip(world.posted()) {
        assert_eq!(
            texts.len(),
            10,
            "{room}: one message per good failure: {texts:?}"
        );
        for n in &names {
            let project = format!("acme/{n}\n");
            assert_eq!(
                texts
                    .iter()
                    .filter(|t| t.contains(&project) || t.contains(&format!("acme/{n} ")))
                    .count(),
                1,
                "{room}: {n}"
            );
        }
        assert!(
            !texts.iter().any(|t| t.contains("acme/poison")),
            "{room}: nothing about the poison"
        );
    }
    assert_eq!(host.delivery(poison).state, "parked", "parked stays parked");
    assert_eq!(
        host.service
            .store
            .deliveries_in("parked", 100)
            .unwrap()
            .len(),
        1
    );

    // The operator sees why, and can send it through again (here it hits the same bug again).
    let parked_list: serde_json::Value = host
        .client
        .get(format!("{}/api/deliveries/parked", host.base))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(parked_list["parked"][0]["id"], poison, "{parked_list}");
    assert_eq!(
        parked_list["parked"][0]["reason"].as_str(),
        Some(reason.as_str()),
        "{parked_list}"
    );
    let post = |path: String| {
        let r = host
            .client
            .post(format!("{}{path}", host.base))
            .send()
            .unwrap();
        (r.status().as_u16(), r.json::<serde_json::Value>().unwrap())
    };
    assert_eq!(
        post(format!("/api/deliveries/{poison}/retry")),
        (
            200,
            serde_json::json!({"status": "queued", "delivery": poison})
        )
    );
    let again = host.wait_state(poison, "parked");
    assert_eq!(again.attempts, 1, "fresh attempts: {again:?}");
    assert!(
        again
            .last_error
            .unwrap_or_default()
            .starts_with("the service crashed while processing this delivery")
    );
    let (status, body) = post(format!("/api/deliveries/{}/retry", good[0]));
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        body["error"],
        format!(
            "delivery {} is done, not parked; only parked deliveries are retried",
            good[0]
        )
    );
    assert_eq!(post("/api/deliveries/987654/retry".into()).0, 404);

    let m = host
        .client
        .get(format!("{}/metrics", host.base))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(metric(&m, "exlogare_worker_panics_total"), Some(2.0), "{m}");
    assert_eq!(metric(&m, "exlogare_workers_alive"), Some(2.0), "{m}");
    assert_eq!(
        metric(&m, "exlogare_worker_restarts_total"),
        Some(0.0),
        "the panic was caught, no thread died: {m}"
    );
    world.gitflic.assert_clean();
    for r in &world.rooms {
        r.assert_clean();
    }
}

/// A delivery whose processing took the whole process down (here: claimed and never finished,
/// as an abort or an OOM kill leaves it) more often than `max_attempts` is parked when it is
/// claimed again, so it cannot take each new process down with it.
#[test]
fn a_delivery_claimed_more_than_max_attempts_times_is_parked_at_claim() {
    let world = World::new(exchanges_for("svc-1", None));
    let mut host = Host::start(&world.config(), false, true);
    let id = deliver(&host, delivery_for("svc-1"));
    let store = host.service.store.clone();
    for _ in 0..3 {
        // Claimed, then the process "dies": on one host a restart puts what was running back
        // in the queue; with replicas (PostgreSQL) its lease runs out, unrenewed.
        let d = store.claim_due(now_ms()).unwrap().expect("claimable");
        assert_eq!(d.id, id);
        if store.shared_by_replicas() {
            std::thread::sleep(std::time::Duration::from_millis(
                store.lease_ms() as u64 + 50,
            ));
        } else {
            store.requeue_in_flight().unwrap();
        }
    }
    host.start_workers();
    let parked = host.wait_state(id, "parked");
    let reason = parked.last_error.unwrap_or_default();
    assert!(
        reason.starts_with("claimed 4 times without finishing"),
        "{reason}"
    );
    assert!(
        world.gitflic.requests().is_empty(),
        "the poison is not processed again"
    );
    assert!(world.posted().iter().all(Vec::is_empty));
}

/// Synthetic: a C project built with gcc and make on a `ru_RU.UTF-8` runner. The `В функции`,
/// `ошибка:` and `Ошибка 1` forms are gcc's and make's Russian translations of `In function`,
/// `error:` and `Error 1`; the diagnostic's own wording is illustrative. Every line carries a
/// time prefix as GitFlic's job logs do since 4.4; the paths are Cyrillic and a non-breaking
/// space sits in the progress line.
const RUSSIAN_LOG: &str = "\
2026-11-20T12:51:07.015Z $ make -j2\n\
2026-11-20T12:51:07.101Z gcc -O2 -Wall -c -o сборка/main.o src/главный.c\n\
2026-11-20T12:51:07.455Z Прогресс:\u{a0}50\u{a0}%\n\
2026-11-20T12:51:08.201Z src/главный.c: В функции «main»:\n\
2026-11-20T12:51:08.202Z src/главный.c:12:5: ошибка: «счётчик» не описан в этой области видимости\n\
2026-11-20T12:51:08.203Z    12 |     счётчик++;\n\
2026-11-20T12:51:08.204Z       |     ^~~~~~~\n\
2026-11-20T12:51:08.310Z make: *** [Makefile:7: сборка/main.o] Ошибка 1\n\
2026-11-20T12:51:08.420Z ERROR: Job failed: exit code 2\n";

#[test]
fn a_russian_log_goes_end_to_end_to_one_message_per_room() {
    let world = World::new(exchanges_for("svc-ru", Some(RUSSIAN_LOG.as_bytes())));
    let host = Host::start(&world.config(), true, true);
    let id = deliver(&host, delivery_for("svc-ru"));
    host.wait_state(id, "done");
    let report: serde_json::Value =
        serde_json::from_str(&host.service.store.report(id).unwrap().unwrap()).unwrap();
    assert_eq!(report["jobs"][0]["category"], "compilation", "{report}");
    for (room, texts) in ["slack", "telegram", "matrix"].iter().zip(world.posted()) {
        assert_eq!(texts.len(), 1, "{room}");
        assert!(
            texts[0].contains("ошибка: «счётчик» не описан в этой области видимости"),
            "{room}: {}",
            texts[0]
        );
        assert!(
            texts[0].contains("https://gitflic.ru/project/acme/svc-ru/ci-cd/pipeline/1287"),
            "{room}: {}",
            texts[0]
        );
    }
    world.gitflic.assert_clean();
}

/// The recording for `acme/{name}` with the log download answering `failures` times with
/// GitFlic's 500 (a NullPointerException page, as fixtures/gitflic/gitflic-500 recorded it)
/// before the recorded log; every other exchange answers as often as the attempts need.
fn flaky_download(name: &str, failures: u32, attempts: u32) -> Vec<Exchange> {
    let npe = std::fs::read(gitflic_fixtures().join("gitflic-500/bodies/npe.txt")).unwrap();
    let mut out = Vec::new();
    for mut e in exchanges_for(name, None) {
        e.times = attempts;
        if e.path.ends_with("/download") {
            let mut failing = e.clone();
            failing.reply =
                reply(500, npe.clone()).header("content-type", "text/plain;charset=UTF-8");
            failing.times = failures;
            failing.origin = format!("{name}: the download failing");
            out.push(failing);
        }
        out.push(e);
    }
    out
}

#[test]
fn a_log_download_that_fails_twice_is_retried_and_the_analysis_posted() {
    let world = World::new(flaky_download("svc-flaky", 2, 3));
    let host = Host::start(&world.config(), true, true);
    let id = deliver(&host, delivery_for("svc-flaky"));
    let d = host.wait_state(id, "done");
    assert_eq!(d.attempts, 3, "two failed downloads, then the log: {d:?}");
    for (room, texts) in ["slack", "telegram", "matrix"].iter().zip(world.posted()) {
        assert_eq!(texts.len(), 1, "{room}: one message");
        assert!(
            texts[0].contains("error[E0308]: mismatched types"),
            "{room}: the analysis, not an unavailable log: {}",
            texts[0]
        );
        assert!(
            !texts[0].to_lowercase().contains("unavailable"),
            "{room}: {}",
            texts[0]
        );
    }
    world.gitflic.assert_clean();
}

#[test]
fn a_log_download_failing_on_every_attempt_ends_in_a_message_that_says_so_in_words() {
    let world = World::new(flaky_download("svc-down", 3, 3));
    let host = Host::start(&world.config(), true, true);
    let id = deliver(&host, delivery_for("svc-down"));
    let d = host.wait_state(id, "done");
    assert_eq!(d.attempts, 3, "{d:?}");
    for (room, texts) in ["slack", "telegram", "matrix"].iter().zip(world.posted()) {
        assert_eq!(texts.len(), 1, "{room}");
        let t = &texts[0];
        assert!(t.contains("GitFlic kept failing for"), "{room}: {t}");
        assert!(
            t.contains("while the log was read (HTTP 500)"),
            "{room}: {t}"
        );
        assert!(
            t.contains("https://gitflic.ru/project/acme/svc-down/ci-cd/pipeline/1287"),
            "{room}: {t}"
        );
        for banned in [
            "ProviderError",
            "Transient(",
            "NullPointerException",
            "java.",
            "\\\"",
        ] {
            assert!(!t.contains(banned), "{room}: {banned:?} in {t}");
        }
    }
    world.gitflic.assert_clean();
}
