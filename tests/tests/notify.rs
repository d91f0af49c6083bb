//! Notifiers against fake Slack, Telegram and Matrix servers on 127.0.0.1.
//!
//! Each fake checks every request it receives the way the platform would (method, path, auth,
//! JSON shape, escaping, length limits) and answers 400 with the reason when one is wrong; every
//! test ends by asserting that no fake saw a bad request. Fakes can be told to answer an error
//! first (500, 429 with a wait, 400, a redirect), and the Matrix fake dedupes by transaction id
//! as a homeserver does. No internet.
//!
//! The fakes live in `support/fakes.rs`, shared with `service.rs`.

#[path = "support/fakes.rs"]
mod fakes;

use exlogare_notify::{
    AlertProblem, ConfigError, ConnectionAlert, FailureMessage, JobMessage, Notifier,
    NotifierConfig, NotifierKind, NotifyError, RouteConfig, Routed, console::ConsoleNotifier,
    matrix, route, route_connection,
};
use exlogare_service::green_run::Mode;
use fakes::{
    ChatFake, MX_ROOM, MX_TOKEN, Reply, SLACK_PATH, TG_TOKEN, matrix_fake, parse_html,
    parse_mrkdwn, reply, slack_fake, telegram_fake, u16len,
};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::Write;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

// ---- Notifiers and messages ---------------------------------------------------------------

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

fn slack(fake: &ChatFake) -> Box<dyn Notifier> {
    let mut c = NotifierConfig::new("team-slack", NotifierKind::Slack);
    c.webhook_url_env = Some("T_SLACK_URL".into());
    c.build_with_env(&env_of(&[(
        "T_SLACK_URL",
        &format!("{}{SLACK_PATH}", fake.base),
    )]))
    .unwrap()
}

fn telegram(fake: &ChatFake) -> Box<dyn Notifier> {
    let cfg: NotifierConfig = toml::from_str(&format!(
        "name = \"ops-telegram\"\nkind = \"telegram\"\nchat_id = -1001234567890\napi_base = \"{}\"\nbot_token_env = \"T_TG_TOKEN\"",
        fake.base
    ))
    .unwrap();
    cfg.build_with_env(&env_of(&[("T_TG_TOKEN", TG_TOKEN)]))
        .unwrap()
}

fn matrix_notifier(fake: &ChatFake) -> Box<dyn Notifier> {
    let mut c = NotifierConfig::new("ci-room", NotifierKind::Matrix);
    c.homeserver = Some(format!("{}/", fake.base));
    c.room_id = Some(MX_ROOM.into());
    c.access_token_env = Some("T_MX_TOKEN".into());
    c.build_with_env(&env_of(&[("T_MX_TOKEN", MX_TOKEN)]))
        .unwrap()
}

fn job(name: &str, excerpt: Vec<(u64, String)>) -> JobMessage {
    JobMessage {
        name: name.into(),
        stage: Some("compile".into()),
        failing_step: Some("cargo build --locked --all-targets".into()),
        category: "compilation".into(),
        summary: "Compilation failed in `cargo build --locked --all-targets` (at src/refund.rs:87:35): mismatched types".into(),
        confidence: 0.9,
        signature: "0123456789abcdef".into(),
        located: true,
        excerpt,
        log_unavailable: None,
        web_url: None,
        comparison: Some("compared with the last green run #1286 on main".into()),
        compared: None,
    }
}

fn sample() -> FailureMessage {
    FailureMessage {
        provider: "gitflic".into(),
        connection: "gitflic-main".into(),
        project: "acme/payments-api".into(),
        pipeline: "#1287".into(),
        status: "failed".into(),
        git_ref: Some("main".into()),
        commit_sha: Some("bd7315127a0c1e7c0f1f8d8c1d2e3f4a5b6c7d8e".into()),
        deep_link: "https://gitflic.ru/project/acme/payments-api/ci-cd/pipeline/1287".into(),
        jobs: vec![job(
            "build",
            vec![
                (193, "error[E0308]: mismatched types".into()),
                (
                    194,
                    "  --> crates/payments-api/src/handlers/refund.rs:87:35".into(),
                ),
                (195, "   |".into()),
                (196, "87 |     let amount: u64 = req.amount;".into()),
            ],
        )],
        note: None,
    }
}

const SCRIPT: &str = "<script>alert('x')</script>";

fn hostile() -> FailureMessage {
    let mut m = sample();
    m.project = "acme/<b>pay&ments</b>".into();
    m.git_ref = Some("feature/<x>&y".into());
    m.jobs[0].name = "build <img src=x> & test".into();
    m.jobs[0].summary = format!("{SCRIPT} & `rm -rf` <!channel> <https://evil.example|click>");
    m.jobs[0].failing_step = Some("echo `date` && make".into());
    m.jobs[0].comparison = Some(format!(
        "compared with the last green run #1 on feature/<x>&y {SCRIPT}"
    ));
    m.jobs[0].excerpt = vec![
        (10, SCRIPT.into()),
        (11, "a && b; x < y > z".into()),
        (12, "```".into()),
        (13, "inline ``code`` ends here ```".into()),
        (14, "</pre><b>bold</b></code></pre>".into()),
        (15, "<!channel> @here &amp; &lt;".into()),
    ];
    m
}

fn huge() -> FailureMessage {
    let mut m = sample();
    let line = |i: u64| (i, format!("{i} 😀 error: {} <&> ", "x".repeat(180)));
    m.jobs = (0..3)
        .map(|j| job(&format!("job-{j}"), (1..=2000).map(line).collect()))
        .collect();
    m
}

// ---- Happy paths ------------------------------------------------------------------------------

#[test]
fn slack_posts_block_kit_with_fields_excerpt_button_and_fallback() {
    let fake = slack_fake();
    let n = slack(&fake);
    assert_eq!((n.name(), n.kind()), ("team-slack", "slack"));
    let d = n.send(&sample(), "k1").unwrap();
    assert_eq!(d.notifier, "team-slack");
    fake.assert_clean();
    let posted = fake.posted();
    assert_eq!(posted.len(), 1);
    let p = &posted[0];
    assert!(
        p["text"]
            .as_str()
            .unwrap()
            .contains("CI failed: acme/payments-api #1287")
    );
    let all = p["blocks"].to_string();
    assert_eq!(p["blocks"][0]["type"], "header");
    for needle in [
        "*Project*",
        "acme/payments-api",
        "*Pipeline*",
        "*Ref*",
        "main @ bd7315127a",
        "*Job*",
        "build [compile]",
        "*Step*",
        "cargo build --locked",
        "*Category*",
        "compilation, 90% confidence",
        "Compilation failed",
        ":mag: compared with the last green run #1286 on main",
        "193 | error[E0308]: mismatched types",
        "```",
    ] {
        assert!(all.contains(needle), "{needle} missing from {all}");
    }
    let button = p["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "actions")
        .expect("a button");
    assert_eq!(button["elements"][0]["url"], sample().deep_link);
}

#[test]
fn telegram_sends_html_with_pre_excerpt_and_link() {
    let fake = telegram_fake();
    let n = telegram(&fake);
    let d = n.send(&sample(), "k1").unwrap();
    assert_eq!(d.message_id.as_deref(), Some("1"));
    fake.assert_clean();
    let text = fake.posted()[0]["text"].as_str().unwrap().to_owned();
    assert!(
        text.contains(
            "<a href=\"https://gitflic.ru/project/acme/payments-api/ci-cd/pipeline/1287\">"
        ),
        "{text}"
    );
    assert!(
        text.contains("<pre>193 | error[E0308]: mismatched types\n194 |   --&gt; crates/"),
        "{text}"
    );
    assert!(
        text.contains("<b>build [compile]</b> — compilation, 90% confidence"),
        "{text}"
    );
    assert!(
        text.contains("Step: <code>cargo build --locked --all-targets</code>"),
        "{text}"
    );
    assert!(
        text.contains("<i>compared with the last green run #1286 on main</i>"),
        "{text}"
    );
}

#[test]
fn matrix_puts_m_room_message_with_bearer_and_formatted_body() {
    let fake = matrix_fake();
    let n = matrix_notifier(&fake);
    let d = n.send(&sample(), "delivery-7/ci-room").unwrap();
    assert_eq!(d.message_id.as_deref(), Some("$event1"));
    fake.assert_clean();
    let req = &fake.requests()[0];
    assert!(
        req.target
            .ends_with(&matrix::txn_id(MX_ROOM, "delivery-7/ci-room")),
        "{}",
        req.target
    );
    let p = &fake.posted()[0];
    assert_eq!(
        p["m.mentions"],
        json!({}),
        "intentional mentions, none: the message pings nobody"
    );
    let body = p["body"].as_str().unwrap();
    let html = p["formatted_body"].as_str().unwrap();
    assert!(
        body.contains("CI failed: acme/payments-api #1287") && body.contains("193 | error[E0308]"),
        "{body}"
    );
    assert!(body.contains(&sample().deep_link));
    assert!(
        html.contains("<pre><code>193 | error[E0308]: mismatched types\n194 |   --&gt; crates/"),
        "{html}"
    );
    assert!(html.contains("<a href=\"https://gitflic.ru/project/acme/payments-api/ci-cd/pipeline/1287\">Open pipeline</a>"), "{html}");
    assert!(
        html.contains("<br><em>compared with the last green run #1286 on main</em>"),
        "{html}"
    );
    assert!(body.contains("compared with the last green run #1286 on main"));
}

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn console_prints_the_message_as_it_would_appear() {
    let out = Shared::default();
    let n = ConsoleNotifier::new("console", Box::new(out.clone()));
    let mut msg = sample();
    let mut gone = job("deploy", vec![]);
    gone.category = "unknown".into();
    gone.summary.clear();
    gone.failing_step = None;
    gone.log_unavailable = Some("not found: the artifact expired".into());
    msg.jobs.push(gone);
    n.send(&msg, "k1").unwrap();
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    for needle in [
        "❌ CI failed: acme/payments-api #1287",
        "main @ bd7315127a",
        "https://gitflic.ru/project/acme/payments-api/ci-cd/pipeline/1287",
        "build [compile] — compilation, 90% confidence",
        "Step: cargo build --locked --all-targets",
        "  193 | error[E0308]: mismatched types",
        "deploy [compile] — not analysed",
        "⚠ Log unavailable: not found: the artifact expired",
        "\ncompared with the last green run #1286 on main",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
}

// ---- Escaping and limits -------------------------------------------------------------------

#[test]
fn hostile_text_is_escaped_on_every_platform() {
    let msg = hostile();
    // Slack: the fake refuses any `<` that is not our link and any bare `&`; the shown text
    // still reads as the log did, and no ``` inside the excerpt closes the block.
    let fake = slack_fake();
    slack(&fake).send(&msg, "k").unwrap();
    fake.assert_clean();
    let blocks = fake.posted()[0]["blocks"].as_array().unwrap().clone();
    let shown: Vec<String> = blocks
        .iter()
        .filter(|b| b["type"] != "header") // plain_text, shown as is
        .flat_map(|b| {
            let mut t: Vec<String> = b
                .get("text")
                .and_then(|t| t["text"].as_str())
                .map(|s| s.to_owned())
                .into_iter()
                .collect();
            t.extend(
                b.get("fields")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|f| f["text"].as_str().map(str::to_owned)),
            );
            t
        })
        .collect();
    let code = shown
        .iter()
        .find(|t| t.starts_with("```"))
        .expect("an excerpt block");
    assert_eq!(code.matches("```").count(), 2, "{code}");
    let code_shown = parse_mrkdwn(code).unwrap();
    assert!(
        code_shown.contains(SCRIPT)
            && code_shown.contains("a && b; x < y > z")
            // A word joiner after `@` (invisible): the text reads the same and pings nobody.
            && code_shown.contains("<!channel> @\u{2060}here &amp; &lt;"),
        "{code_shown}"
    );
    let all: String = shown
        .iter()
        .map(|t| parse_mrkdwn(t).unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        all.contains(&format!("{SCRIPT} & `rm -rf` <!channel>")),
        "{all}"
    );
    assert!(all.contains("acme/<b>pay&ments</b>"), "{all}");

    // Telegram: the fake parses the HTML as Telegram does; the visible text is the log's.
    let fake = telegram_fake();
    telegram(&fake).send(&msg, "k").unwrap();
    fake.assert_clean();
    let text = fake.posted()[0]["text"].as_str().unwrap().to_owned();
    let visible = parse_html(&text, &["b", "i", "code", "pre", "a"], &[]).unwrap();
    for needle in [
        SCRIPT,
        "a && b; x < y > z",
        "```",
        "</pre><b>bold</b></code></pre>",
        "acme/<b>pay&ments</b>",
        "build <img src=x> & test",
    ] {
        assert!(visible.contains(needle), "{needle} not shown:\n{visible}");
    }
    assert!(!text.contains("<script>") && text.contains("&lt;script&gt;"));

    // Matrix: formatted_body is well-formed with only our tags; body is the plain text.
    let fake = matrix_fake();
    matrix_notifier(&fake).send(&msg, "k").unwrap();
    fake.assert_clean();
    let p = &fake.posted()[0];
    let html = p["formatted_body"].as_str().unwrap();
    let visible = parse_html(
        html,
        &["p", "strong", "em", "br", "code", "pre", "a"],
        &["br"],
    )
    .unwrap();
    assert!(
        visible.contains(SCRIPT) && visible.contains("</pre><b>bold</b></code></pre>"),
        "{visible}"
    );
    assert!(p["body"].as_str().unwrap().contains(SCRIPT));
}

#[test]
fn huge_excerpts_are_cut_under_each_platform_limit_with_a_note() {
    let msg = huge();
    let fake = slack_fake();
    slack(&fake).send(&msg, "k").unwrap();
    fake.assert_clean(); // every section <= 3000, header <= 150, fields <= 2000
    let blocks = fake.posted()[0]["blocks"].as_array().unwrap().clone();
    let excerpts: Vec<&str> = blocks
        .iter()
        .filter_map(|b| b["text"]["text"].as_str())
        .filter(|t| t.starts_with("```"))
        .collect();
    assert_eq!(excerpts.len(), 3);
    for e in &excerpts {
        assert!(u16len(e) <= 3000 && u16len(e) > 2500, "{} units", u16len(e));
        assert!(e.ends_with("more lines_"), "{}", &e[e.len() - 60..]);
        let shown = e.lines().filter(|l| l.contains(" | ")).count();
        assert!(
            e.contains(&format!("… {} more lines", 2000 - shown)),
            "{shown} lines shown"
        );
    }

    let fake = telegram_fake();
    telegram(&fake).send(&msg, "k").unwrap();
    fake.assert_clean(); // visible text <= 4096 UTF-16 units
    let text = fake.posted()[0]["text"].as_str().unwrap().to_owned();
    let visible = parse_html(&text, &["b", "i", "code", "pre", "a"], &[]).unwrap();
    assert!(
        u16len(&visible) > 3500,
        "the budget is used: {}",
        u16len(&visible)
    );
    assert_eq!(text.matches("<pre>").count(), 3, "each job gets a share");
    assert_eq!(text.matches("more lines</i>").count(), 3);

    let fake = matrix_fake();
    matrix_notifier(&fake).send(&msg, "k").unwrap();
    fake.assert_clean(); // event <= 64 KiB
    let p = &fake.posted()[0];
    assert!(
        p["formatted_body"]
            .as_str()
            .unwrap()
            .matches("more lines</em>")
            .count()
            == 3
    );
    assert!(p["body"].as_str().unwrap().len() <= matrix::BODY_BUDGET);
    assert!(p["formatted_body"].as_str().unwrap().len() <= matrix::FORMATTED_BUDGET);

    // One line longer than the whole budget is cut, not dropped.
    let mut one = sample();
    one.jobs[0].excerpt = vec![(1, "y".repeat(5000))];
    let fake = telegram_fake();
    telegram(&fake).send(&one, "k").unwrap();
    fake.assert_clean();
    assert!(
        fake.posted()[0]["text"]
            .as_str()
            .unwrap()
            .contains("<pre>1 | yyyy")
    );
}

#[test]
fn many_jobs_are_counted_when_they_do_not_fit() {
    let mut msg = sample();
    msg.jobs = (0..14)
        .map(|i| job(&format!("job-{i}"), vec![(1, "error".into())]))
        .collect();
    for (fake, n, note) in [
        (slack_fake(), None, "… and 4 more failed jobs"),
        (telegram_fake(), Some("tg"), "… and 9 more failed jobs"),
        (matrix_fake(), Some("mx"), "… and 4 more failed jobs"),
    ] {
        let notifier = match n {
            None => slack(&fake),
            Some("tg") => telegram(&fake),
            _ => matrix_notifier(&fake),
        };
        notifier.send(&msg, "k").unwrap();
        fake.assert_clean();
        assert!(fake.posted()[0].to_string().contains(note), "{note}");
    }
}

// ---- Errors -------------------------------------------------------------------------------------

fn assert_no_secret(e: &NotifyError) {
    let text = format!("{e} {e:?}");
    for s in [TG_TOKEN, MX_TOKEN, SLACK_PATH, "XyZwebhookSecretPath"] {
        assert!(!text.contains(s), "a secret leaked: {text}");
    }
}

#[test]
fn server_errors_are_transient_and_the_next_try_succeeds() {
    type Make = fn(&ChatFake) -> Box<dyn Notifier>;
    let cases: Vec<(ChatFake, Make)> = vec![
        (slack_fake(), slack),
        (telegram_fake(), telegram),
        (matrix_fake(), matrix_notifier),
    ];
    for (fake, make) in cases {
        let n = make(&fake);
        fake.then(reply(500, "rollup_error")).then(reply(
            503,
            json!({"ok": false, "error_code": 503, "description": "busy"}).to_string(),
        ));
        let e = n.send(&sample(), "k").unwrap_err();
        assert!(
            e.is_transient() && e.status() == Some(500) && e.outcome() == "transient",
            "{e:?}"
        );
        assert!(e.to_string().contains("HTTP 500"), "{e}");
        let e = n.send(&sample(), "k").unwrap_err();
        assert!(e.is_transient() && e.status() == Some(503), "{e:?}");
        assert_no_secret(&e);
        n.send(&sample(), "k").unwrap();
        assert_eq!(fake.posted().len(), 1);
        fake.assert_clean();
    }
}

#[test]
fn rate_limits_are_transient_with_the_platforms_wait() {
    let fake = slack_fake();
    fake.then(reply(429, "rate_limited").header("Retry-After", "7"));
    let e = slack(&fake).send(&sample(), "k").unwrap_err();
    assert_eq!(
        (e.outcome(), e.retry_after(), e.is_transient()),
        ("rate_limited", Some(Duration::from_secs(7)), true),
        "{e:?}"
    );
    assert_no_secret(&e);
    fake.assert_clean();

    let fake = telegram_fake();
    let body = json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 5", "parameters": {"retry_after": 5}});
    fake.then(reply(429, body.to_string()));
    let e = telegram(&fake).send(&sample(), "k").unwrap_err();
    assert_eq!(e.retry_after(), Some(Duration::from_secs(5)), "{e:?}");
    assert!(e.to_string().contains("Too Many Requests"), "{e}");
    assert_no_secret(&e);
    fake.assert_clean();

    let fake = matrix_fake();
    fake.then(reply(429, json!({"errcode": "M_LIMIT_EXCEEDED", "error": "Too many requests", "retry_after_ms": 2500}).to_string()));
    let e = matrix_notifier(&fake).send(&sample(), "k").unwrap_err();
    assert_eq!(e.retry_after(), Some(Duration::from_millis(2500)), "{e:?}");
    assert!(e.to_string().contains("M_LIMIT_EXCEEDED"), "{e}");
    // A Retry-After header wins over the body.
    fake.then(
        reply(
            429,
            json!({"errcode": "M_LIMIT_EXCEEDED", "retry_after_ms": 2500}).to_string(),
        )
        .header("Retry-After", "3"),
    );
    let e = matrix_notifier(&fake).send(&sample(), "k").unwrap_err();
    assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
    fake.assert_clean();
}

#[test]
fn client_errors_are_permanent() {
    let fake = slack_fake();
    fake.then(reply(400, "invalid_payload"))
        .then(reply(404, "no_service"));
    let n = slack(&fake);
    let e = n.send(&sample(), "k").unwrap_err();
    assert!(
        !e.is_transient() && e.status() == Some(400) && e.to_string().contains("invalid_payload"),
        "{e}"
    );
    let e = n.send(&sample(), "k").unwrap_err();
    assert!(
        !e.is_transient() && e.to_string().contains("no_service"),
        "{e}"
    );
    assert_no_secret(&e);
    fake.assert_clean();

    let fake = telegram_fake();
    fake.then(reply(
        400,
        json!({"ok": false, "error_code": 400, "description": "Bad Request: chat not found"})
            .to_string(),
    ));
    fake.then(reply(
        401,
        json!({"ok": false, "error_code": 401, "description": "Unauthorized"}).to_string(),
    ));
    let n = telegram(&fake);
    let e = n.send(&sample(), "k").unwrap_err();
    assert!(
        matches!(
            e,
            NotifyError::Permanent {
                status: Some(400),
                ..
            }
        ) && e.to_string().contains("chat not found"),
        "{e}"
    );
    let e = n.send(&sample(), "k").unwrap_err();
    assert!(
        matches!(
            e,
            NotifyError::Permanent {
                status: Some(401),
                ..
            }
        ),
        "{e}"
    );
    assert_no_secret(&e);
    fake.assert_clean();

    let fake = matrix_fake();
    fake.then(reply(
        403,
        json!({"errcode": "M_FORBIDDEN", "error": "not in room"}).to_string(),
    ));
    let e = matrix_notifier(&fake).send(&sample(), "k").unwrap_err();
    assert!(
        matches!(
            e,
            NotifyError::Permanent {
                status: Some(403),
                ..
            }
        ) && e.to_string().contains("M_FORBIDDEN: not in room"),
        "{e}"
    );
    assert_no_secret(&e);
    fake.assert_clean();
}

#[test]
fn redirects_are_not_followed() {
    let fake = slack_fake();
    fake.then(reply(302, "").header("Location", &format!("{}/elsewhere", fake.base)));
    let e = slack(&fake).send(&sample(), "k").unwrap_err();
    assert!(
        !e.is_transient() && e.to_string().contains("redirect"),
        "{e}"
    );
    assert_eq!(fake.requests().len(), 1, "the redirect was followed");
    fake.assert_clean();
}

#[test]
fn matrix_retry_with_the_same_key_reuses_the_txn_id_and_posts_once() {
    let fake = matrix_fake();
    let n = matrix_notifier(&fake);
    // The homeserver stores the event, then the answer is lost (a 502 from a proxy).
    fake.then(Reply {
        commit_first: true,
        ..reply(502, "bad gateway")
    });
    let e = n.send(&sample(), "delivery-42/ci-room").unwrap_err();
    assert!(e.is_transient(), "{e:?}");
    // A retry (here from a fresh notifier, as after a restart) reuses the transaction id.
    let again = matrix_notifier(&fake)
        .send(&sample(), "delivery-42/ci-room")
        .unwrap();
    assert_eq!(again.message_id.as_deref(), Some("$event1"));
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].target, reqs[1].target);
    assert_eq!(fake.posted().len(), 1, "one message in the room");
    // Another key is another message.
    n.send(&sample(), "delivery-43/ci-room").unwrap();
    assert_eq!(fake.posted().len(), 2);
    assert_ne!(fake.requests()[2].target, reqs[0].target);
    fake.assert_clean();
}

#[test]
fn network_failures_and_timeouts_are_transient_and_never_show_the_token() {
    // Nothing listens on this port any more.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut c = NotifierConfig::new("tg", NotifierKind::Telegram);
    c.api_base = Some(format!("http://127.0.0.1:{port}"));
    c.chat_id = Some(exlogare_notify::ChatId::Id(-1001234567890));
    c.bot_token_env = Some("TOKEN".into());
    let e = c
        .build_with_env(&env_of(&[("TOKEN", TG_TOKEN)]))
        .unwrap()
        .send(&sample(), "k")
        .unwrap_err();
    assert!(e.is_transient() && e.status().is_none(), "{e:?}");
    assert!(e.to_string().contains("could not connect"), "{e}");
    assert_no_secret(&e);

    // A server that accepts and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    thread::spawn(move || {
        let held: Vec<_> = silent.incoming().take(2).collect();
        thread::sleep(Duration::from_secs(5));
        drop(held);
    });
    let mut c = NotifierConfig::new("slow-slack", NotifierKind::Slack);
    c.webhook_url_env = Some("URL".into());
    c.timeout_ms = Some(300);
    let n = c
        .build_with_env(&env_of(&[("URL", &format!("http://{addr}{SLACK_PATH}"))]))
        .unwrap();
    let started = Instant::now();
    let e = n.send(&sample(), "k").unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(
        e.is_transient() && e.to_string().contains("timed out"),
        "{e}"
    );
    assert_no_secret(&e);
}

// ---- Configuration ------------------------------------------------------------------------------

#[test]
fn secrets_come_from_env_or_files_and_their_absence_is_a_clear_error() {
    let config = r#"
        [[notifiers]]
        name = "team-slack"
        kind = "slack"
        webhook_url_env = "EXLOGARE_TEST_SLACK_URL_UNSET"

        [[notifiers]]
        name = "ops-telegram"
        kind = "telegram"
        chat_id = "@ops"
        bot_token_file = "/nonexistent/telegram-token"

        [[notifiers]]
        name = "ci-room"
        kind = "matrix"
        homeserver = "https://matrix.example.org"
        room_id = "!room:example.org"
        access_token_env = "MX"

        [[routes]]
        project = "acme/*"
        notifiers = ["team-slack", "ci-room"]

        [[routes]]
        connection = "gitflic-main"
        project = "acme/payments-api"
        notifiers = ["ops-telegram", "team-slack"]
    "#;
    struct File {
        notifiers: Vec<NotifierConfig>,
        routes: Vec<RouteConfig>,
    }
    let t: toml::Table = toml::from_str(config).unwrap();
    let f = File {
        notifiers: t["notifiers"].clone().try_into().unwrap(),
        routes: t["routes"].clone().try_into().unwrap(),
    };
    exlogare_notify::check_routes(&f.routes, &f.notifiers).unwrap();
    assert_eq!(
        names(route(&f.routes, "gitflic-main", "acme/payments-api")),
        ["team-slack", "ci-room", "ops-telegram"]
    );
    assert_eq!(
        names(route(&f.routes, "other", "ACME/web")),
        ["team-slack", "ci-room"]
    );
    assert!(route(&f.routes, "gitflic-main", "umbrella/x").is_empty());

    let none = |_: &str| None;
    let e = f.notifiers[0].build_with_env(&none).err().unwrap();
    assert!(
        matches!(&e, ConfigError::MissingEnv { var, .. } if var == "EXLOGARE_TEST_SLACK_URL_UNSET")
    );
    assert_eq!(
        e.to_string(),
        "notifier `team-slack`: environment variable `EXLOGARE_TEST_SLACK_URL_UNSET` (named by `webhook_url_env`) is not set or is empty"
    );
    // The process environment is what `build` reads.
    assert!(matches!(
        f.notifiers[0].build(),
        Err(ConfigError::MissingEnv { .. })
    ));
    let e = f.notifiers[0]
        .build_with_env(&env_of(&[("EXLOGARE_TEST_SLACK_URL_UNSET", " ")]))
        .err()
        .unwrap();
    assert!(
        matches!(e, ConfigError::MissingEnv { .. }),
        "blank counts as missing"
    );

    let e = f.notifiers[1].build_with_env(&none).err().unwrap();
    assert!(
        matches!(&e, ConfigError::SecretFile { .. })
            && e.to_string().contains("/nonexistent/telegram-token"),
        "{e}"
    );
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TG_TOKEN}\n")).unwrap();
    let mut tg = f.notifiers[1].clone();
    tg.bot_token_file = Some(token_file);
    assert_eq!(tg.build_with_env(&none).unwrap().kind(), "telegram");

    let e = f.notifiers[2].build_with_env(&none).err().unwrap();
    assert!(e.to_string().contains("`MX`"), "{e}");
    assert_eq!(
        f.notifiers[2]
            .build_with_env(&env_of(&[("MX", MX_TOKEN)]))
            .unwrap()
            .name(),
        "ci-room"
    );
}

#[test]
fn inline_secrets_and_misplaced_fields_are_refused_without_echoing_the_secret() {
    let c: NotifierConfig = toml::from_str(
        "name = \"tg\"\nkind = \"telegram\"\nchat_id = 1\nbot_token = \"123:SUPERSECRET\"",
    )
    .unwrap();
    assert!(!format!("{c:?}").contains("SUPERSECRET"));
    assert!(!toml::to_string(&c).unwrap().contains("SUPERSECRET"));
    let e = c.build_with_env(&|_| None).err().unwrap();
    assert!(
        e.to_string()
            .contains("`bot_token` must not be written in the config file")
            && !e.to_string().contains("SUPERSECRET"),
        "{e}"
    );

    let c: NotifierConfig = toml::from_str(
        "name = \"s\"\nkind = \"slack\"\nwebhook_url_env = \"X\"\nroom_id = \"!r:x\"",
    )
    .unwrap();
    assert!(
        c.build_with_env(&|_| Some("https://hooks.slack.com/services/a".into()))
            .err()
            .unwrap()
            .to_string()
            .contains("`room_id` belongs to kind `matrix`")
    );

    let mut c = NotifierConfig::new("mx", NotifierKind::Matrix);
    c.homeserver = Some("http://matrix.example.org".into());
    c.room_id = Some("!r:example.org".into());
    c.access_token_env = Some("T".into());
    let e = c.build_with_env(&|_| Some("tok".into())).err().unwrap();
    assert!(e.to_string().contains("must use https"), "{e}");
    c.homeserver = Some("https://matrix.example.org".into());
    c.room_id = Some("#alias:example.org".into());
    assert!(
        c.build_with_env(&|_| Some("tok".into()))
            .err()
            .unwrap()
            .to_string()
            .contains("not a room id")
    );

    let e = toml::from_str::<NotifierConfig>("name = \"x\"\nkind = \"email\"")
        .err()
        .unwrap();
    assert!(e.to_string().contains("email"));
    let two = [
        NotifierConfig::new("c", NotifierKind::Console),
        NotifierConfig::new("c", NotifierKind::Console),
    ];
    assert!(
        exlogare_notify::build_all(&two)
            .err()
            .unwrap()
            .to_string()
            .contains("two notifiers")
    );
}

// ---- The message ---------------------------------------------------------------------------------

#[test]
fn message_is_built_from_an_analysis_and_round_trips_as_json() {
    use exlogare_runtime::contract;
    use exlogare_service::pipeline::{FailureAnalysis, JobAnalysis};
    let project = contract::ProjectRef {
        owner: "acme".into(),
        name: "payments-api".into(),
        id: None,
    };
    let job = |id: &str, name: &str| contract::Job {
        id: id.into(),
        name: name.into(),
        stage: Some("test".into()),
        status: contract::RunStatus::Failed,
        allow_failure: false,
        started_at: None,
        finished_at: None,
        web_url: Some(format!("https://gitflic.ru/job/{id}")),
    };
    // A real report (built by the analyzer, so new Report fields need no change here).
    let mut analyzer = exlogare_analysis::Analyzer::new(exlogare_analysis::JobMeta {
        job_name: Some("unit".into()),
        stage: Some("test".into()),
    });
    let log = [
        "$ cargo test",
        "running 2 tests",
        "test refund::accepts ... ok",
        "test refund::rejects_negative ... FAILED",
        "",
        "failures:",
        "---- refund::rejects_negative stdout ----",
        "thread 'refund::rejects_negative' panicked at src/refund.rs:12:5:",
        "assertion failed: amount > 0",
        "",
        "test result: FAILED. 1 passed; 1 failed",
        "error: test failed, to rerun pass `--lib`",
    ];
    for (i, line) in log.iter().enumerate() {
        analyzer.push_line(i as u64 + 1, line);
    }
    let report = analyzer.finish();
    let expected = report.clone();
    let analysis = FailureAnalysis {
        details: contract::FailureDetails {
            pipeline: contract::Pipeline {
                project: project.clone(),
                reference: contract::PipelineRef { id: Some("uuid".into()), number: Some(1287) },
                status: contract::RunStatus::Failed,
                git_ref: Some("main".into()),
                commit_sha: Some("bd7315127a".into()),
                source: None,
                created_at: None,
                finished_at: None,
                web_url: "https://gitflic.ru/p".into(),
            },
            failed_jobs: vec![job("1", "unit"), job("2", "e2e")],
            deep_link: "https://gitflic.ru/project/acme/payments-api/ci-cd/pipeline/1287".into(),
        },
        jobs: vec![
            JobAnalysis {
                job: job("1", "unit"),
                source: Ok(contract::LogSource { name: "job.log".into(), url: "u".into(), bytes: 1, lines: 40 }),
                report: Some(report),
                text_cut_at: None,
                over_budget: None,
                elapsed: Duration::ZERO,
                peak_memory_bytes: 0,
                comparison: Some(Mode::NoGreenRun(
                    "no passing run of `unit` on `main` among the 40 newest pipelines".into(),
                )),
                green_cost: Default::default(),
                analysis_time: Duration::ZERO,
            },
            JobAnalysis {
                job: job("2", "e2e"),
                source: Err(exlogare_service::pipeline::LogProblem::Provider(contract::ProviderError::NotFound(
                    "GET https://api.gitflic.ru/project/acme/payments-api/cicd/job/2/artifact/a/download answered 404: the job's log artifact expired".into(),
                ))),
                report: None,
                text_cut_at: None,
                over_budget: None,
                elapsed: Duration::ZERO,
                peak_memory_bytes: 0,
                comparison: Some(Mode::Compared {
                    label: "#1286".into(),
                    git_ref: Some("main".into()),
                }),
                green_cost: Default::default(),
                analysis_time: Duration::ZERO,
            },
        ],
        requests: 3,
        jobs_not_analysed: 0,
        details_time: Duration::ZERO,
    };
    let msg = exlogare_service::pipeline::failure_message(
        "gitflic",
        "gitflic-main",
        &analysis,
        &exlogare_service::pipeline::LogWords {
            provider_name: "GitFlic".into(),
            ..Default::default()
        },
    );
    assert_eq!(
        (
            msg.project.as_str(),
            msg.pipeline.as_str(),
            msg.git_ref.as_deref()
        ),
        ("acme/payments-api", "#1287", Some("main"))
    );
    assert_eq!(
        msg.deep_link,
        "https://gitflic.ru/project/acme/payments-api/ci-cd/pipeline/1287"
    );
    let unit = &msg.jobs[0];
    assert_eq!(unit.category, expected.category.as_str());
    assert_eq!(
        unit.comparison.as_deref(),
        Some(
            "no green run to compare with (no passing run of `unit` on `main` among the 40 newest pipelines)"
        )
    );
    // A job without a report says why its log is missing, not what it was compared with.
    assert_eq!(msg.jobs[1].comparison, None);
    assert_eq!(
        (&unit.summary, &unit.signature, &unit.failing_step),
        (
            &expected.summary,
            &expected.signature,
            &expected.failing_step
        )
    );
    assert_eq!(
        (unit.confidence, unit.located),
        (expected.confidence, expected.located)
    );
    assert_eq!(unit.excerpt, expected.excerpt_lines);
    assert!(!unit.excerpt.is_empty());
    assert_eq!(unit.log_unavailable, None);
    assert_eq!(unit.web_url.as_deref(), Some("https://gitflic.ru/job/1"));
    let e2e = &msg.jobs[1];
    assert_eq!(
        e2e.log_unavailable.as_deref(),
        Some(
            "the job's log is no longer on GitFlic: it expired or was deleted (HTTP 404: the job's log artifact expired)"
        )
    );
    assert_eq!((e2e.category.as_str(), e2e.excerpt.len()), ("unknown", 0));

    let stored = serde_json::to_string(&msg).unwrap();
    let back: FailureMessage = serde_json::from_str(&stored).unwrap();
    assert_eq!(back, msg);
    // Older stored messages without the optional fields still load.
    let minimal = json!({"provider": "gitflic", "connection": "c", "project": "a/b", "pipeline": "#1", "deep_link": "https://x",
        "jobs": [{"name": "j", "category": "unknown"}]});
    let m: FailureMessage = serde_json::from_value(minimal).unwrap();
    assert_eq!((m.status.as_str(), m.jobs[0].located), ("failed", true));

    // A plugin's links must be pages of the connection's instance; more failed jobs than one
    // analysis reads are counted in a note.
    let mut hostile = analysis;
    hostile.details.deep_link = "https://gitflic.ru@evil.example/phish".into();
    hostile.jobs[0].job.web_url = Some("https://evil.example/job/1".into());
    hostile.jobs_not_analysed = 9_980;
    let words = exlogare_service::pipeline::LogWords {
        provider_name: "GitFlic".into(),
        web_base: Some("https://gitflic.ru".into()),
        ..Default::default()
    };
    let msg = exlogare_service::pipeline::failure_message("gitflic", "c", &hostile, &words);
    assert_eq!(
        msg.deep_link, "https://gitflic.ru",
        "the instance, not the phishing page"
    );
    assert_eq!(msg.jobs[0].web_url, None);
    assert_eq!(
        msg.jobs[1].web_url.as_deref(),
        Some("https://gitflic.ru/job/2")
    );
    let note = msg.note.unwrap();
    assert!(
        note.contains("pointed outside https://gitflic.ru")
            && note.contains("9980 more failed jobs were not analysed"),
        "{note}"
    );

    // A log whose text passed the per-job cap says so in the host's words, whatever the
    // plugin answered after the refused chunk.
    let mut cut = hostile;
    cut.jobs[0].text_cut_at = Some(256 << 20);
    cut.jobs[0].source = Err(exlogare_service::pipeline::LogProblem::Provider(
        contract::ProviderError::Transient("emit refused".into()),
    ));
    let msg = exlogare_service::pipeline::failure_message("gitflic", "c", &cut, &words);
    assert_eq!(
        msg.jobs[0].log_unavailable.as_deref(),
        Some(
            "the log was read only in part: its text passed this host's cap of 256 MiB per job (sandbox `log_text_bytes`), and what came after was not analysed"
        )
    );
    assert!(!msg.jobs[0].excerpt.is_empty(), "what was read is analysed");
    assert!(
        cut.transient_log_problem().is_none(),
        "a cut log is not read again: another attempt would stop at the same cap"
    );

    // Cut before anything was analysed, under a cap that is no whole MiB: still the host's
    // words, with the cap as set.
    cut.jobs[0].report = None;
    cut.jobs[0].text_cut_at = Some(300 << 10);
    let msg = exlogare_service::pipeline::failure_message("gitflic", "c", &cut, &words);
    assert!(
        msg.jobs[0]
            .log_unavailable
            .as_deref()
            .unwrap()
            .contains("cap of 300 KiB per job"),
        "{:?}",
        msg.jobs[0].log_unavailable
    );
}

// ---- Connection alerts ("needs reconnection") ------------------------------------------------

fn alert() -> ConnectionAlert {
    ConnectionAlert {
        provider: "gitflic".into(),
        connection: "cloud".into(),
        web_base: "https://gitflic.ru".into(),
        reason: "the provider refused to refresh the token: the refresh was refused (credentials rejected: Refresh token is invalid or expired)".into(),
        reconnect_url: Some("https://exlogare.example/api/integrations/gitflic/oauth/start/cloud".into()),
        admin_token_required: true,
        at: 1_764_140_000_000,
        problem: AlertProblem::NeedsReconnection,
    }
}

/// Markup, mentions, a fake link, a code fence and credentials in the reason; a long one.
fn hostile_alert() -> ConnectionAlert {
    let mut a = alert();
    a.connection = "cl&oud<b>".into();
    a.reason = format!(
        "{SCRIPT} & <!channel> <https://evil.example|click> ``` </pre></code> Bearer gf_at_LEAKLEAKLEAK0001 {{\"refreshToken\":\"gf-rt-LEAK-0002\"}} {}",
        "😀<&>".repeat(5000)
    );
    a
}

#[test]
fn alerts_pass_each_platforms_checks_escaped_bounded_and_without_credentials() {
    for a in [alert(), hostile_alert()] {
        let slack_fake = slack_fake();
        slack(&slack_fake)
            .send_alert(&a, "connection-alert-1#team-slack")
            .unwrap();
        let tg_fake = telegram_fake();
        let sent = telegram(&tg_fake)
            .send_alert(&a, "connection-alert-1#ops-telegram")
            .unwrap();
        assert_eq!(sent.message_id.as_deref(), Some("1"));
        let mx_fake = matrix_fake();
        matrix_notifier(&mx_fake)
            .send_alert(&a, "connection-alert-1#ci-room")
            .unwrap();
        for fake in [&slack_fake, &tg_fake, &mx_fake] {
            // The fakes check the platform's rules: Block Kit limits, Telegram HTML and its
            // 4096 visible units, Matrix formatted_body tags.
            fake.assert_clean();
            let text = fakes::all_text(&fake.posted()[0]);
            assert!(!text.contains("LEAK"), "a credential was posted:\n{text}");
            assert!(
                text.contains(
                    "https://exlogare.example/api/integrations/gitflic/oauth/start/cloud"
                ) && text.contains("admin_token"),
                "{text}"
            );
        }
        let tg = tg_fake.posted()[0]["text"].as_str().unwrap().to_owned();
        let visible = parse_html(&tg, &["b", "i", "code", "pre", "a"], &[]).unwrap();
        assert!(u16len(&visible) <= 4000, "{}", u16len(&visible));
        if a.connection.contains('<') {
            assert!(
                visible.contains(&format!("{SCRIPT} & <!channel>"))
                    && visible.contains("cl&oud<b>"),
                "{visible}"
            );
            let shown: Vec<String> = slack_fake.posted()[0]["blocks"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|b| {
                    b.get("text")
                        .and_then(|t| t["text"].as_str())
                        .filter(|_| b["type"] == "section")
                        .map(|t| parse_mrkdwn(t).unwrap())
                })
                .collect();
            assert!(
                shown.iter().any(|t| t.contains(&format!(
                    "{SCRIPT} & <!channel> <https://evil.example|click>"
                ))),
                "{shown:?}"
            );
        }
    }
}

#[test]
fn an_alert_retried_with_the_same_key_is_one_matrix_message() {
    let fake = matrix_fake();
    fake.then(Reply {
        commit_first: true,
        ..reply(502, "bad gateway")
    });
    let e = matrix_notifier(&fake)
        .send_alert(&alert(), "connection-alert-7#ci-room")
        .unwrap_err();
    assert!(e.is_transient(), "{e:?}");
    matrix_notifier(&fake)
        .send_alert(&alert(), "connection-alert-7#ci-room")
        .unwrap();
    assert_eq!(fake.posted().len(), 1);
    let reqs = fake.requests();
    assert_eq!(reqs[0].target, reqs[1].target);
    // A failure message never shares a transaction id with an alert.
    matrix_notifier(&fake)
        .send(&sample(), "delivery-7#ci-room")
        .unwrap();
    assert_eq!(fake.posted().len(), 2);
    fake.assert_clean();
}

#[test]
fn the_console_prints_an_alert_and_a_static_token_connection_is_told_what_to_replace() {
    let out = Shared::default();
    let n = ConsoleNotifier::new("console", Box::new(out.clone()));
    n.send_alert(&alert(), "connection-alert-1#console")
        .unwrap();
    n.send_alert(
        &ConnectionAlert {
            reconnect_url: None,
            ..alert()
        },
        "connection-alert-2#console",
    )
    .unwrap();
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    for needle in [
        "key connection-alert-1#console",
        "⚠️ Connection cloud (gitflic) needs reconnection",
        "Since 2025-11-26 06:53 UTC",
        "Reason: the provider refused to refresh the token",
        "Reconnect: open https://exlogare.example/api/integrations/gitflic/oauth/start/cloud",
        "replace the token (access_token_env / access_token_file)",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
}

#[test]
fn alerts_go_to_routes_of_the_connection_or_of_any_connection_whatever_the_project() {
    let routes: Vec<RouteConfig> = toml::from_str::<toml::Table>(
        r#"
        [[routes]]
        connection = "cloud"
        notifiers = ["a"]
        [[routes]]
        project = "acme/*"
        notifiers = ["b", "a"]
        [[routes]]
        connection = "other"
        notifiers = ["c"]
        "#,
    )
    .unwrap()["routes"]
        .clone()
        .try_into()
        .unwrap();
    assert_eq!(names(route_connection(&routes, "cloud")), ["a", "b"]);
    assert_eq!(names(route_connection(&routes, "other")), ["b", "a", "c"]);
    assert_eq!(names(route_connection(&routes, "third")), ["b", "a"]);
}

/// The notifiers a route gives, by name.
fn names(routed: Vec<Routed<'_>>) -> Vec<&str> {
    routed.into_iter().map(|t| t.notifier).collect()
}
