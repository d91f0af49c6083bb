//! A real browser for the page tests: Debian's headless Chromium driven through its
//! ChromeDriver (packages `chromium` and `chromium-driver`, which `./x test` installs), over
//! WebDriver with the fantoccini client. The driver runs on a free port of 127.0.0.1 and is
//! stopped with the test; the browser gets a fresh profile, so no cookie or cache carries over.
//!
//! Without the packages a test fails with what to install; `EXLOGARE_TEST_BROWSER=skip` leaves
//! the browser tests out on purpose (said on stderr, never silently).

#![allow(dead_code)]

use fantoccini::{Client, ClientBuilder, Locator};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

fn found(candidates: &[&str]) -> Option<PathBuf> {
    candidates.iter().map(PathBuf::from).find(|p| p.exists())
}

/// The browser and its driver, or why not; `None` when the tests were told to skip.
pub async fn start(accept_language: &str) -> Option<Browser> {
    if std::env::var("EXLOGARE_TEST_BROWSER").as_deref() == Ok("skip") {
        eprintln!("EXLOGARE_TEST_BROWSER=skip: the browser test is left out on purpose");
        return None;
    }
    let chromium = std::env::var_os("EXLOGARE_CHROMIUM")
        .map(PathBuf::from)
        .or_else(|| found(&["/usr/bin/chromium", "/usr/bin/chromium-browser"]));
    let driver_bin = std::env::var_os("EXLOGARE_CHROMEDRIVER")
        .map(PathBuf::from)
        .or_else(|| found(&["/usr/bin/chromedriver"]));
    let (Some(chromium), Some(driver_bin)) = (chromium, driver_bin) else {
        panic!(
            "the browser test needs Chromium and ChromeDriver: `apt-get install -y chromium chromium-driver` \
             (./x test installs them), or EXLOGARE_CHROMIUM / EXLOGARE_CHROMEDRIVER pointing at them; \
             EXLOGARE_TEST_BROWSER=skip leaves this test out"
        );
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let driver = Command::new(&driver_bin)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", driver_bin.display()));
    let profile = tempfile::tempdir().unwrap();
    let caps = serde_json::json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chromium.display().to_string(),
            "args": [
                "--headless=new",
                // As root (CI runs as root) Chromium refuses to start inside its sandbox.
                "--no-sandbox",
                "--disable-dev-shm-usage",
                "--disable-gpu",
                "--no-first-run",
                "--window-size=1280,900",
                format!("--user-data-dir={}", profile.path().display()),
            ],
            "prefs": { "intl.accept_languages": accept_language },
        }
    });
    let serde_json::Value::Object(caps) = caps else {
        unreachable!()
    };
    let url = format!("http://127.0.0.1:{port}");
    // fantoccini's client is built on rustls, which needs a crypto provider chosen once per
    // process; ring, as the rest of the tests use. (Already chosen: nothing to do.)
    let _ = rustls::crypto::ring::default_provider().install_default();
    let deadline = Instant::now() + Duration::from_secs(30);
    let client = loop {
        match ClientBuilder::rustls()
            .expect("a TLS client configuration for fantoccini")
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(c) => break c,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("ChromeDriver at {url} did not start a Chromium session: {e}"),
        }
    };
    Some(Browser {
        client,
        driver,
        _profile: profile,
    })
}

impl Browser {
    /// The text of the first element matching `css`, waiting for it to appear.
    pub async fn text(&self, css: &str) -> String {
        self.client
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no `{css}` on the page: {e}"))
            .text()
            .await
            .unwrap()
    }

    /// Waits until the first `css` element's text contains `needle` (a form just submitted
    /// draws the same elements again: the old page's answer must not be read as the new one's).
    pub async fn text_with(&self, css: &str, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = match self.client.find(Locator::Css(css)).await {
                Ok(e) => e.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if text.contains(needle) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "`{css}` never showed {needle:?}; last: {text:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the browser is at a path (with its query) containing `part`.
    pub async fn at(&self, part: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let path = self.path().await;
            if path.contains(part) {
                return path;
            }
            assert!(
                Instant::now() < deadline,
                "never reached {part:?}; at {path}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn click(&self, css: &str) {
        self.client
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no `{css}` to click: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking `{css}`: {e}"));
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let field = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no field `{css}`: {e}"));
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// The page's whole text as shown.
    pub async fn body(&self) -> String {
        self.text("body").await
    }

    pub async fn path(&self) -> String {
        let u = self.client.current_url().await.unwrap();
        match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_string(),
        }
    }

    /// Saves the page as seen at `width`×`height` to `dir/name.png`.
    pub async fn screenshot(&self, dir: &Path, name: &str, width: u32, height: u32) {
        self.client.set_window_size(width, height).await.unwrap();
        let png = self.client.screenshot().await.unwrap();
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}

/// Where the screenshots go: `target/screenshots` of the workspace.
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("screenshots")
}
