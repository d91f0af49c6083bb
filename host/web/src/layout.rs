//! The frame of every page: the header with the sections, the language switch and sign-out,
//! and the style sheet (inline: the page loads nothing from anywhere else). Narrow screens get
//! one column and tables that scroll sideways; every control is a link, a button or a labelled
//! field, so the keyboard reaches all of them.

use crate::language;
use crate::visit::Visit;
use maud::{DOCTYPE, Markup, PreEscaped, html};

const STYLE: &str = r#"
:root { color-scheme: light dark; --accent: #2457c5; --bad: #b3261e; --good: #1b7f3b; --warn: #9a6700; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
a { color: var(--accent); }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 8px; top: 8px; background: Canvas; padding: 4px 8px; }
header { display: flex; flex-wrap: wrap; gap: 8px 20px; align-items: center; padding: 10px 16px; border-bottom: 1px solid #8884; }
header .brand { font-weight: 700; margin-right: auto; }
header nav { display: flex; gap: 16px; flex-wrap: wrap; }
header nav a[aria-current] { font-weight: 700; text-decoration: none; }
header form { margin: 0; }
main { max-width: 1100px; margin: 0 auto; padding: 16px; }
h1 { font-size: 1.5rem; margin: 8px 0 16px; }
h2 { font-size: 1.2rem; margin: 24px 0 8px; }
.card { border: 1px solid #8886; border-radius: 8px; padding: 12px 16px; margin: 12px 0; }
.row { display: flex; flex-wrap: wrap; gap: 8px 16px; align-items: center; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid #8884; vertical-align: top; }
label { display: block; font-weight: 600; margin-top: 12px; }
label.inline { display: flex; gap: 8px; align-items: center; font-weight: 400; }
input[type=text], input[type=password], input[type=url], input[type=search], textarea { width: 100%; max-width: 36rem; padding: 6px 8px; font: inherit; }
textarea { min-height: 6rem; font-family: ui-monospace, monospace; }
button, .button { font: inherit; padding: 6px 14px; border-radius: 6px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; text-decoration: none; display: inline-block; }
button.secondary, .button.secondary { background: transparent; color: var(--accent); }
.help { color: #888; font-size: .9rem; margin: 2px 0; }
.badge { border-radius: 999px; padding: 1px 10px; font-size: .85rem; border: 1px solid currentColor; white-space: nowrap; }
.badge.connected { color: var(--good); }
.badge.needs_reconnection, .badge.unusable { color: var(--bad); }
.badge.not_connected { color: var(--warn); }
.error { color: var(--bad); }
.ok { color: var(--good); }
pre { background: #8881; padding: 8px; overflow-x: auto; white-space: pre; font-size: .85rem; }
code.secret { word-break: break-all; }
@media (max-width: 600px) { main { padding: 10px; } th, td { padding: 4px; } header nav { gap: 10px; } }
"#;

/// A whole page: `title` in the tab and as the heading, `body` below it.
pub fn document(v: &Visit, title: &str, body: Markup) -> Markup {
    let w = v.w;
    let section = |path: &str| v.here.starts_with(path);
    let switch: String = url::form_urlencoded::byte_serialize(v.here.as_bytes()).collect();
    html! {
        (DOCTYPE)
        html lang=(v.lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Exlogare" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                a.skip href="#content" { (w.skip_to_content) }
                header {
                    span.brand { "Exlogare" }
                    @if v.signed_in {
                        nav aria-label=(w.integrations) {
                            a href="/integrations" aria-current=[section("/integrations").then_some("page")] { (w.integrations) }
                            a href="/failures" aria-current=[section("/failures").then_some("page")] { (w.failures) }
                        }
                    }
                    a id="language-switch" lang=(language::other(v.lang).code()) href={ "/language/" (language::other(v.lang).code()) "?next=" (switch) } { (w.switch_to) }
                    @if v.signed_in {
                        form method="post" action="/sign-out" {
                            input type="hidden" name="csrf" value=(v.csrf);
                            button.secondary id="sign-out" type="submit" { (w.sign_out) }
                        }
                    }
                }
                main id="content" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// The hidden CSRF field every form of a signed-in page carries.
pub fn csrf_field(v: &Visit) -> Markup {
    html! { input type="hidden" name="csrf" value=(v.csrf); }
}

/// A link target that is safe to put in `href`: only http(s) addresses (a provider-supplied
/// `javascript:` URL is shown as text, never as a link).
pub fn safe_href(url: &str) -> Option<&str> {
    let lower = url
        .trim_start()
        .get(..8)
        .unwrap_or(url)
        .to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://")).then_some(url)
}

/// Milliseconds since the epoch as a UTC time a person reads (GitFlic reports UTC too).
pub fn utc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "?".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_web_addresses_become_links() {
        assert_eq!(
            safe_href("https://gitflic.ru/project/a/b/cicd/pipeline/1"),
            Some("https://gitflic.ru/project/a/b/cicd/pipeline/1")
        );
        assert!(safe_href("HTTP://10.0.0.5/x").is_some());
        for bad in [
            "javascript:alert(1)",
            " javascript:alert(1)",
            "data:text/html,x",
            "//evil.example",
            "",
            "ht",
            "пайплайн",
            "aжжжжhttps://x",
            "ftp://пайплайн",
        ] {
            assert_eq!(safe_href(bad), None, "{bad}");
        }
    }

    #[test]
    fn times_are_shown_in_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(1_796_300_000_000), "2026-12-03 12:13 UTC");
        assert_eq!(utc(i64::MAX), "?");
    }
}
