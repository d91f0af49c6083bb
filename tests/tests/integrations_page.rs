//! The Integrations page in a real browser (headless Chromium through ChromeDriver), against
//! the service as `serve` runs it, a stateful fake GitFlic (its OAuth consent page included)
//! and a fake Slack, all on 127.0.0.1. An operator signs in, adds a GitFlic connection,
//! connects it through OAuth, syncs projects, watches two (the fake sees two hooks with the
//! right URL, secret and event) and unwatches one (its hook is gone); a failure posted to the
//! remaining hook shows on the Failures page with its deep link; the page switches to Russian;
//! a form without the session's CSRF token, or without a session, is refused. Screenshots at
//! desktop and phone widths go to `target/screenshots/`.
//!
//! The fake's project pages and failure traffic are the recorded `list-projects-search` and
//! `failed-job-trace` scenarios (fixtures/gitflic); its consent page is synthetic (one link
//! back to the redirect URL with GitFlic's documented `?code=&state=`).
//!
//! Needs Chromium and ChromeDriver (`./x test` installs them) and the GitFlic component.

#[path = "support/accounts_world.rs"]
mod accounts_world;
#[path = "support/browser.rs"]
mod browser;
#[path = "support/config_text.rs"]
mod config_text;
#[path = "support/fakes.rs"]
mod fakes;
#[path = "support/gitflic_oauth.rs"]
mod gitflic_oauth;
#[path = "support/running.rs"]
mod running;

use accounts_world::{key_and_cache, oauth_gitflic_for};
use config_text::*;
use running::RunningHost;
use serde_json::Value;

const CLIENT_ID: &str = "exlogare-page-test";
const CLIENT_SECRET: &str = "client-secret-page-3Rk7";
const ADMIN: &str = "admin-token-page-Vb62";

/// The recorded project pages asked without a search, too: the recording's server ignored the
/// search (`q`) and the plugin filters, so its answers are the same pages either way.
fn pages_without_search(gitflic: &gitflic_oauth::OAuthGitflic) {
    gitflic.with(|s| {
        let plain: Vec<fakes::Exchange> = s
            .inner
            .exchanges
            .iter()
            .filter(|e| e.query.iter().any(|q| q.starts_with("q=")))
            .map(|e| {
                let mut e = e.clone();
                e.query.retain(|q| !q.starts_with("q="));
                e
            })
            .collect();
        s.inner.exchanges.extend(plain);
    });
}

fn hooks(gitflic: &gitflic_oauth::OAuthGitflic) -> Vec<Value> {
    gitflic.with(|s| s.inner.hooks.clone())
}

#[test]
fn an_operator_connects_syncs_watches_and_reads_a_failure_in_a_browser() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let Some(b) = rt.block_on(browser::start("en-US,en")) else {
        return;
    };
    let shots = browser::screenshot_dir();

    let gitflic = oauth_gitflic_for(
        CLIENT_ID,
        CLIENT_SECRET,
        &["failed-job-trace", "list-projects-search"],
    );
    pages_without_search(&gitflic);
    let slack = fakes::slack_fake();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    write_secrets(
        &d,
        &[
            ("admin-token", ADMIN),
            ("slack-url", &format!("{}{}", slack.base, fakes::SLACK_PATH)),
        ],
    );
    let cache = key_and_cache();
    let host = RunningHost::start_at_base(
        |base| {
            let server = format!(
                "public_url = \"{base}\"\nadmin_token_file = {:?}",
                d.join("admin-token")
            );
            write_config(
                &d,
                &(head(&d, &server, &Worker::default(), &cache)
                    + &slack_notifier(&d)
                    + "\n[[routes]]\nnotifiers = [\"team-slack\"]\n"),
            )
        },
        true,
        false,
        |_| {},
    );
    let base = host.base.clone();
    let fake = gitflic.base.clone();

    rt.block_on(async {
        // Signed out, every page leads to sign-in, and back after it.
        b.client
            .goto(&format!("{base}/integrations"))
            .await
            .unwrap();
        assert_eq!(b.path().await, "/sign-in?next=%2Fintegrations");
        b.fill("#token", "not-the-token").await;
        b.click("#sign-in").await;
        assert_eq!(
            b.text("#sign-in-error").await,
            "That is not the admin token."
        );
        b.fill("#token", ADMIN).await;
        b.click("#sign-in").await;
        b.text("#provider-gitflic").await;
        assert_eq!(b.path().await, "/integrations");
        let body = b.body().await;
        assert!(
            body.contains("GitFlic") && body.contains("No connection yet."),
            "{body}"
        );

        // Add a connection: the base URL defaults to GitFlic's public service; a connection
        // without its client secret is refused with the service's words, what was typed kept.
        b.click("#add-gitflic").await;
        let base_url = b
            .client
            .find(fantoccini::Locator::Css("#base_url"))
            .await
            .unwrap();
        assert_eq!(
            base_url.attr("placeholder").await.unwrap().as_deref(),
            Some("https://gitflic.ru")
        );
        b.fill("#id", "team").await;
        b.fill("#base_url", "https://git.example.com").await;
        b.fill("#client_id", CLIENT_ID).await;
        b.click("details summary").await;
        b.fill("#api_base", &fake).await;
        b.fill("#oauth_base", &fake).await;
        b.click("#allow_private").await;
        // The fake serves each failure's traffic alone (green runs: green_run.rs).
        b.click("#compare_green_runs").await;
        b.click("#add").await;
        let refused = b.text("#add-error").await;
        assert!(refused.contains("client_secret"), "{refused}");
        let kept = b
            .client
            .find(fantoccini::Locator::Css("#id"))
            .await
            .unwrap();
        assert_eq!(kept.prop("value").await.unwrap().as_deref(), Some("team"));
        b.fill("#client_secret", CLIENT_SECRET).await;
        b.click("#add").await;
        b.text("#connection-team").await;
        assert_eq!(b.path().await, "/integrations/team");
        let state = b
            .client
            .find(fantoccini::Locator::Css("#connection-team .badge"))
            .await
            .unwrap();
        assert_eq!(
            state.attr("data-state").await.unwrap().as_deref(),
            Some("not_connected")
        );
    });

    // Connect: our page → GitFlic's consent page → back to the connection, connected.
    gitflic.with(|s| s.inner.code = Some("code-page-team".into()));
    rt.block_on(async {
        b.click("#connect-team").await;
        b.text("#allow").await;
        assert!(
            b.client
                .current_url()
                .await
                .unwrap()
                .as_str()
                .starts_with(&fake),
            "the browser is on the provider's page"
        );
        b.click("#allow").await;
        let notice = b.text("#connected-notice").await;
        assert_eq!(notice, "Connected. You can now sync its projects.");
        assert_eq!(b.path().await, "/integrations/team?connected=1");
    });
    assert_eq!(gitflic.with(|s| s.inner.exchange_calls), 1);

    // Sync: every project, a page at a time; then the search.
    rt.block_on(async {
        b.click("#sync-team").await;
        b.text("#apply").await;
        let rows = b
            .client
            .find_all(fantoccini::Locator::Css("tr[data-project]"))
            .await
            .unwrap();
        assert_eq!(rows.len(), 20, "the first page");
        b.click("#next-page").await;
        b.at("page=2").await;
        b.text("#apply").await;
        let rows = b
            .client
            .find_all(fantoccini::Locator::Css("tr[data-project]"))
            .await
            .unwrap();
        assert_eq!(rows.len(), 7, "27 projects in all: 20 + 7");
        b.fill("#search", "pay").await;
        b.click("form[role=search] button").await;
        b.at("search=pay").await;
        b.text("#apply").await;
    });
    let names: Vec<String> = rt.block_on(async {
        let mut names = vec![];
        for row in b
            .client
            .find_all(fantoccini::Locator::Css("tr[data-project]"))
            .await
            .unwrap()
        {
            names.push(row.attr("data-project").await.unwrap().unwrap());
        }
        names
    });
    assert_eq!(names.len(), 7, "{names:?}");
    assert!(
        names.contains(&"acme/payments-api".to_string()),
        "{names:?}"
    );
    let other = names
        .iter()
        .find(|n| *n != "acme/payments-api")
        .unwrap()
        .clone();

    // Watch two: one hook each at GitFlic, to our public URL, with the secret and the event.
    rt.block_on(async {
        b.click("input[value='acme/payments-api'][name=watch]")
            .await;
        b.click(&format!("input[value='{other}'][name=watch]"))
            .await;
        b.screenshot(&shots, "projects-desktop", 1280, 900).await;
        b.click("#apply").await;
        let results = b.text("#results").await;
        assert_eq!(
            results.matches("watched: hook created").count(),
            2,
            "{results}"
        );
    });
    let made = hooks(&gitflic);
    assert_eq!(made.len(), 2, "{made:?}");
    for (hook, project) in made.iter().zip(["acme/payments-api", other.as_str()]) {
        assert_eq!(hook["_project"].as_str(), Some(project), "{hook}");
        let secret = hook["secret"].as_str().unwrap();
        assert_eq!(secret.len(), 64, "{hook}");
        assert_eq!(
            hook["url"].as_str().unwrap(),
            format!("{base}/api/integrations/gitflic/webhook/team?secret={secret}")
        );
        assert_eq!(hook["events"]["PIPELINE_FAIL"], true, "{hook}");
    }
    let payments_secret = made[0]["secret"].as_str().unwrap().to_string();

    // Unwatch the other: its hook is removed at GitFlic, the first stays.
    rt.block_on(async {
        b.click(&format!("input[value='{other}'][name=watch]"))
            .await;
        b.click("#apply").await;
        let results = b.text_with("#results", "not watched: hook removed").await;
        assert!(
            results.contains(&other) && !results.contains("acme/payments-api"),
            "{results}"
        );
    });
    let left = hooks(&gitflic);
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0]["_project"].as_str(), Some("acme/payments-api"));

    // A failure on the watched project's hook: analysed, posted, and on the Failures page.
    let delivery = std::fs::read_to_string(
        exlogare_conformance_tests::gitflic_fixtures()
            .join("failed-job-trace/bodies/delivery.json"),
    )
    .unwrap();
    let resp = host
        .webhook("gitflic", "team", &payments_secret, delivery)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let queued: Value = resp.json().unwrap();
    host.wait_state(queued["delivery"].as_i64().unwrap(), "done");
    assert_eq!(slack.posted().len(), 1);
    rt.block_on(async {
        b.client.set_window_size(1280, 900).await.unwrap();
        b.click("nav a[href='/integrations']").await;
        let card = b.text("#connection-team").await;
        assert!(
            card.contains("acme/payments-api") && card.contains("connected"),
            "{card}"
        );
        b.screenshot(&shots, "integrations-desktop", 1280, 900)
            .await;
        b.click("nav a[href='/failures']").await;
        b.at("/failures").await;
        let card = b.text("article[data-delivery]").await;
        assert!(
            card.contains("acme/payments-api") && card.contains("1287"),
            "{card}"
        );
        let link = b
            .client
            .find(fantoccini::Locator::Css(
                "article[data-delivery] a.deep-link",
            ))
            .await
            .unwrap();
        assert_eq!(
            link.attr("href").await.unwrap().as_deref(),
            Some("https://git.example.com/project/acme/payments-api/ci-cd/pipeline/1287")
        );
        b.screenshot(&shots, "failures-desktop", 1280, 900).await;

        // Russian, by the switch: the page's own words change, the report's do not.
        b.click("#language-switch").await;
        assert_eq!(b.text("html[lang=ru] h1").await, "Сбои");
        let body = b.body().await;
        assert!(
            body.contains("Последние сбои") && body.contains("acme/payments-api"),
            "{body}"
        );
        b.screenshot(&shots, "failures-ru-phone", 390, 844).await;
        b.click("nav a[href='/integrations']").await;
        b.text_with("h1", "Интеграции").await;
        b.screenshot(&shots, "integrations-ru-phone", 390, 844)
            .await;
    });

    // Forms need the session's CSRF token: the same browser's cookie without it is refused,
    // and no cookie at all is refused too. Nothing changes at GitFlic.
    let cookie = rt.block_on(async {
        b.client
            .get_named_cookie("exlogare_session")
            .await
            .unwrap()
            .value()
            .to_string()
    });
    let post = |cookie: Option<&str>, body: String| {
        let mut r = host
            .client
            .post(format!("{base}/integrations/team/projects"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", &base)
            .body(body);
        if let Some(c) = cookie {
            r = r.header("cookie", format!("exlogare_session={c}"));
        }
        let resp = r.send().unwrap();
        (resp.status().as_u16(), resp.text().unwrap())
    };
    let unwatch_all = "shown=acme%2Fpayments-api".to_string();
    let (status, page) = post(Some(&cookie), unwatch_all.clone());
    assert_eq!(status, 403, "{page}");
    assert!(
        page.contains("This form was not sent by this page"),
        "{page}"
    );
    let (status, _) = post(
        Some(&cookie),
        format!("{unwatch_all}&csrf={}", "0".repeat(64)),
    );
    assert_eq!(status, 403, "a token of no session");
    let (status, page) = post(None, unwatch_all);
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("Sign in to use this page."), "{page}");
    assert_eq!(
        hooks(&gitflic).len(),
        1,
        "the refused forms changed nothing"
    );

    // Signing out ends the session: its cookie no longer opens a page.
    rt.block_on(async {
        b.click("#sign-out").await;
        b.at("/sign-in").await;
        b.text("#token").await;
    });
    let resp = host
        .client
        .get(format!("{base}/integrations"))
        .header("cookie", format!("exlogare_session={cookie}"))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303, "signed out");
    gitflic.assert_clean();
    slack.assert_clean();
    rt.block_on(b.close());
}

/// The CSRF token a page's forms carry.
fn csrf_of(page: &str) -> String {
    let at = page
        .find("name=\"csrf\" value=\"")
        .unwrap_or_else(|| panic!("no CSRF field in {page}"));
    page[at + 19..at + 19 + 64].to_string()
}

/// Without a browser: what the page answers to each kind of request a browser, another site
/// or a stale form can send, and that provider- and report-supplied text reaches the page
/// escaped. Runs with `EXLOGARE_TEST_BROWSER=skip` too.
#[test]
fn the_page_signs_in_once_refuses_other_sites_and_stale_forms_and_escapes_what_it_shows() {
    use exlogare_service::storage::{Enqueued, NewDelivery};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    write_secrets(&d, &[("admin-token", ADMIN)]);
    let cache = key_and_cache();
    let host = RunningHost::start_at_base(
        |base| {
            let server = format!(
                "public_url = \"{base}\"\nadmin_token_file = {:?}",
                d.join("admin-token")
            );
            write_config(&d, &head(&d, &server, &Worker::default(), &cache))
        },
        false,
        false,
        |_| {},
    );
    let base = host.base.clone();
    let get = |path: &str, headers: &[(&str, &str)]| {
        let mut r = host.client.get(format!("{base}{path}"));
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.send().unwrap()
    };
    let post = |path: &str, headers: &[(&str, &str)], form: &str| {
        let mut r = host
            .client
            .post(format!("{base}{path}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_string());
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.send().unwrap()
    };

    // Signed out: the sign-in page, which comes back to where the operator was going.
    let r = get("/failures", &[]);
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(r.headers()["location"], "/sign-in?next=%2Ffailures");
    let r = post("/sign-in", &[], "token=wrong&next=%2Ffailures");
    assert_eq!(r.status().as_u16(), 401);
    assert!(r.text().unwrap().contains("That is not the admin token."));
    let r = post(
        "/sign-in",
        &[],
        &format!("token={ADMIN}&next=%2F%2Fevil.example%2F"),
    );
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(
        r.headers()["location"],
        "/integrations",
        "a `next` off this site is not followed"
    );
    let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict") && !set.contains("Secure"),
        "{set}"
    );
    let session = set
        .strip_prefix("exlogare_session=")
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_string();
    let cookie = format!("exlogare_session={session}");

    // Signed in: the page, with headers that keep it from being framed or scripted.
    let r = get("/integrations", &[("cookie", &cookie)]);
    assert_eq!(r.status().as_u16(), 200);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    let page = r.text().unwrap();
    assert!(
        page.contains("<h1>Integrations</h1>") && page.contains("GitFlic"),
        "{page}"
    );
    let csrf = csrf_of(&page);

    // Another site: a rebound host name, or a form posted from elsewhere, even with the cookie.
    let r = get(
        "/integrations",
        &[("cookie", &cookie), ("host", "evil.example")],
    );
    assert_eq!(r.status().as_u16(), 421);
    let r = post(
        "/sign-out",
        &[("cookie", &cookie), ("origin", "https://evil.example")],
        &format!("csrf={csrf}"),
    );
    assert_eq!(r.status().as_u16(), 403);
    assert!(r.text().unwrap().contains("another site"));
    assert_eq!(
        get("/integrations", &[("cookie", &cookie)])
            .status()
            .as_u16(),
        200,
        "still signed in"
    );

    // Russian from the browser's languages, or by the switch; the switch stays on this site.
    let page = get(
        "/integrations",
        &[
            ("cookie", &cookie),
            ("accept-language", "ru-RU,ru;q=0.9,en;q=0.8"),
        ],
    )
    .text()
    .unwrap();
    assert!(
        page.contains("<html lang=\"ru\">") && page.contains("<h1>Интеграции</h1>"),
        "{page}"
    );
    let r = get("/language/ru?next=%2F%2Fevil.example", &[]);
    assert_eq!(r.headers()["location"], "/integrations");
    assert!(
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .starts_with("exlogare_lang=ru;")
    );
    let page = get(
        "/failures",
        &[("cookie", &format!("{cookie}; exlogare_lang=ru"))],
    )
    .text()
    .unwrap();
    assert!(page.contains("<h1>Сбои</h1>"), "{page}");

    // What a report or a provider said is shown escaped, and only web addresses become links.
    let store = &host.service.store;
    let delivery = |pipeline: &str| NewDelivery {
        provider: "gitflic".into(),
        connection: "team".into(),
        project: "acme/<b>payments</b>".into(),
        pipeline: pipeline.into(),
        also_known_as: vec![],
        event_json: "{}".into(),
        source: "webhook",
    };
    let Enqueued::Stored(reported) = store.enqueue(&delivery("1287"), 100).unwrap() else {
        panic!("stored")
    };
    let message = serde_json::json!({
        "provider": "gitflic", "connection": "team", "project": "acme/<b>payments</b>",
        "pipeline": "#1287", "deep_link": "javascript:alert(1)",
        "jobs": [{ "name": "test", "category": "test_failure",
                   "summary": "<script>alert(1)</script> упал тест «платежи»",
                   "excerpt": [[42, "ошибка: <img src=x onerror=alert(1)>"]] }]
    });
    store.save_report(reported, &message.to_string()).unwrap();
    let Enqueued::Stored(parked) = store.enqueue(&delivery("1288"), 100).unwrap() else {
        panic!("stored")
    };
    store
        .park(parked, "GitFlic answered 500 <i>five times</i>")
        .unwrap();
    let page = get("/failures", &[("cookie", &cookie)]).text().unwrap();
    for raw in [
        "<script>alert",
        "<img src=x",
        "<b>payments",
        "<i>five",
        "javascript:",
    ] {
        if raw == "javascript:" {
            assert!(!page.contains("href=\"javascript:"), "{page}");
        } else {
            assert!(
                !page.contains(raw),
                "{raw} reached the page unescaped: {page}"
            );
        }
    }
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt; упал тест «платежи»")
            && page.contains("42 │ ошибка: &lt;img src=x onerror=alert(1)&gt;"),
        "{page}"
    );

    // Retry a parked delivery: with the session's token only, and once.
    let r = post(
        &format!("/failures/{parked}/retry"),
        &[("cookie", &cookie)],
        "",
    );
    assert_eq!(r.status().as_u16(), 403, "no CSRF token");
    assert_eq!(store.delivery(parked).unwrap().unwrap().state, "parked");
    let r = post(
        &format!("/failures/{parked}/retry"),
        &[("cookie", &cookie)],
        &format!("csrf={csrf}"),
    );
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(
        r.headers()["location"],
        format!("/failures?retried={parked}").as_str()
    );
    assert_eq!(store.delivery(parked).unwrap().unwrap().state, "queued");
    let r = post(
        &format!("/failures/{parked}/retry"),
        &[("cookie", &cookie)],
        &format!("csrf={csrf}"),
    );
    assert_eq!(r.status().as_u16(), 409, "no longer parked");
    let r = post(
        "/failures/not-a-number/retry",
        &[("cookie", &cookie)],
        &format!("csrf={csrf}"),
    );
    assert_eq!(r.status().as_u16(), 404);

    // An unknown connection is a page that says so, not an error.
    let r = get("/integrations/nobody/projects", &[("cookie", &cookie)]);
    assert_eq!(r.status().as_u16(), 404);
    assert!(r.text().unwrap().contains("No such page or connection."));

    // Signed out: the cookie opens nothing any more, and its forms are refused.
    let r = post("/sign-out", &[("cookie", &cookie)], &format!("csrf={csrf}"));
    assert_eq!(r.status().as_u16(), 303);
    assert!(
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(
        get("/integrations", &[("cookie", &cookie)])
            .status()
            .as_u16(),
        303
    );
    let r = post(
        &format!("/failures/{reported}/retry"),
        &[("cookie", &cookie)],
        &format!("csrf={csrf}"),
    );
    assert_eq!(r.status().as_u16(), 403);
}
