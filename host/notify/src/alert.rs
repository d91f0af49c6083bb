//! The second kind of message: a connection needs reconnection.
//!
//! `accounts/alerts.rs` builds a [`ConnectionAlert`] when a connection's credentials stop
//! working (a refused refresh, OAuth never completed, credentials rejected) and every notifier
//! posts it ([`super::Notifier::send_alert`]) with the same escaping and limits as a failure
//! report. It says which connection, on which instance, since when and why, and what to do:
//! open the reconnect link (an admin endpoint, so it needs the admin token), or, for a
//! connection with a static token, replace the token.
//!
//! The reason is our own error text. It is still shown on one line, cut to
//! [`MAX_REASON_CHARS`], and anything shaped like a credential (`Bearer …`, `token …`,
//! `access_token=…`, `"refreshToken":"…"`) is masked, so a provider that echoes a token in an
//! error body cannot get it into a chat.

use super::message::safe_url;
use super::text::one_line;
use super::words::{self, Language};
use serde::{Deserialize, Serialize};

/// Longest reason shown (characters, after masking and flattening to one line).
pub const MAX_REASON_CHARS: usize = 500;

/// One connection that needs reconnection, ready to post.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionAlert {
    /// Provider id (`gitflic`).
    pub provider: String,
    /// The connection's id.
    pub connection: String,
    /// The provider's web root (`https://gitflic.ru`): which instance.
    pub web_base: String,
    /// Why, as our error text says it; rendered through [`ConnectionAlert::reason_text`].
    pub reason: String,
    /// `{public root}/api/integrations/{provider}/oauth/start/{connection}`; `None` for a
    /// connection with a static token (there is nothing to open: the token must be replaced).
    pub reconnect_url: Option<String>,
    /// The reconnect link is an admin endpoint guarded by `[server] admin_token_*`.
    pub admin_token_required: bool,
    /// When the connection was found to need reconnection (milliseconds since the epoch).
    pub at: i64,
    /// What is wrong with the connection; alerts stored before there were kinds are about
    /// reconnection.
    #[serde(default)]
    pub problem: AlertProblem,
}

/// What a connection alert is about: each has its own headline, remedy and meanwhile note.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertProblem {
    /// Its credentials stopped working.
    #[default]
    NeedsReconnection,
    /// This host's egress policy refuses its requests (a private address without
    /// `allow_private`, a scheme or port the policy does not allow).
    EgressRefused,
    /// Its provider does not answer: connections refused, DNS failing, timeouts.
    Unreachable,
}

impl AlertProblem {
    /// The name used in storage and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertProblem::NeedsReconnection => "needs_reconnection",
            AlertProblem::EgressRefused => "egress_refused",
            AlertProblem::Unreachable => "unreachable",
        }
    }
}

impl ConnectionAlert {
    /// `Connection cloud (gitflic) needs reconnection` (unescaped, one line), our words in `l`.
    pub fn headline(&self, l: Language) -> String {
        let w = l.words();
        let what = match self.problem {
            AlertProblem::NeedsReconnection => w.needs_reconnection,
            AlertProblem::EgressRefused => w.egress_refused,
            AlertProblem::Unreachable => w.unreachable,
        };
        words::connection_headline(
            l,
            &one_line(&self.connection, 100),
            &one_line(&self.provider, 50),
            what,
        )
    }

    /// The remedy when it is not a reconnection (those name their link or token instead).
    pub(crate) fn other_remedy(&self) -> Option<Sentence> {
        match self.problem {
            AlertProblem::NeedsReconnection => None,
            AlertProblem::EgressRefused => Some(words::egress_note),
            AlertProblem::Unreachable => Some(words::unreachable_note),
        }
    }

    /// What happens to the connection's failures until it is fixed.
    pub(crate) fn meanwhile(&self) -> Sentence {
        match self.problem {
            AlertProblem::NeedsReconnection => words::meanwhile_note,
            AlertProblem::EgressRefused | AlertProblem::Unreachable => words::retried_note,
        }
    }

    /// The reason: credentials masked, one line, at most [`MAX_REASON_CHARS`] characters; our
    /// words in `l` only when there is none.
    pub fn reason_text(&self, l: Language) -> String {
        let r = one_line(&mask_credentials(&self.reason), MAX_REASON_CHARS);
        if r.is_empty() {
            l.words().no_reason.to_owned()
        } else {
            r
        }
    }

    /// `2025-11-26 06:53 UTC`.
    pub fn since(&self, l: Language) -> String {
        chrono::DateTime::from_timestamp_millis(self.at).map_or_else(
            || l.words().unknown_time.to_owned(),
            |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
        )
    }

    /// The instance, on one line.
    pub fn instance(&self) -> String {
        one_line(&self.web_base, 300)
    }

    /// The instance when it is an http(s) URL (anything else is shown as text, never linked).
    pub fn instance_link(&self) -> Option<&str> {
        safe_url(&self.web_base)
    }

    /// The reconnect link when it is an http(s) URL.
    pub fn link(&self) -> Option<&str> {
        self.reconnect_url.as_deref().and_then(safe_url)
    }

    /// What to do, as plain sentences (the renderers add their own markup around the same words).
    pub fn advice(&self) -> Advice {
        match (&self.reconnect_url, self.admin_token_required) {
            (Some(_), true) => Advice::ReconnectWithAdminToken,
            (Some(_), false) => Advice::Reconnect,
            (None, _) => Advice::ReplaceStaticToken,
        }
    }
}

/// The remedy an alert names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Advice {
    /// Open the reconnect link (OAuth again).
    Reconnect,
    /// Open the reconnect link with the admin token.
    ReconnectWithAdminToken,
    /// A static-token connection: replace the token.
    ReplaceStaticToken,
}

/// One of the fixed sentences in [`words`], in a language, given how the platform marks up a
/// literal (`code`, which escapes it too).
pub(crate) type Sentence = fn(Language, &dyn Fn(&str) -> String) -> String;

/// The alert as plain text (console, Matrix `body`), our words in `l`, bounded by construction
/// (well under 2 KiB).
pub fn render_plain(a: &ConnectionAlert, l: Language) -> String {
    let w = l.words();
    let plain = |s: &str| s.to_owned();
    let mut out = format!(
        "⚠️ {}\n{}: {}\n{} {}\n{}: {}\n",
        a.headline(l),
        one_line(&a.provider, 50),
        a.instance(),
        w.since,
        a.since(l),
        w.reason,
        a.reason_text(l)
    );
    match (a.other_remedy(), a.advice(), &a.reconnect_url) {
        (Some(remedy), _, _) => out.push_str(&remedy(l, &plain)),
        (None, Advice::ReplaceStaticToken, _) | (None, _, None) => {
            out.push_str(&words::static_note(l, &plain))
        }
        (None, advice, Some(url)) => {
            out.push_str(&format!("{} {}", w.reconnect_open, one_line(url, 1000)));
            if advice == Advice::ReconnectWithAdminToken {
                out.push_str(&format!("\n{}", words::admin_note(l, &plain)));
            }
        }
    }
    out.push_str(&format!("\n{}", (a.meanwhile())(l, &plain)));
    out
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '~' | '+' | '/' | '=' | '-')
}

/// Authorization schemes: `Bearer <t>`, `Basic <t>`, GitFlic's `token <t>`.
const SCHEMES: [&str; 3] = ["bearer", "basic", "token"];
/// A key naming a secret: `access_token=…`, `"refreshToken": "…"`, `client_secret: …`.
const SECRET_KEYS: [&str; 6] = ["token", "secret", "password", "passwd", "apikey", "api_key"];

/// Masks values that look like credentials with `***`: a run of 12 or more token characters
/// after an authorization scheme, and a value of 8 or more characters after a key that names a
/// secret followed by `:` or `=` (quotes allowed, as in JSON). Ordinary prose (`the token: the
/// refresh was refused`, `Refresh token is invalid`) is left alone.
pub fn mask_credentials(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < n {
        if !is_key_char(chars[i]) || (i > 0 && is_key_char(chars[i - 1])) {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let mut end = i;
        while end < n && is_key_char(chars[end]) {
            end += 1;
        }
        out.extend(&chars[i..end]);
        let word = chars[i..end]
            .iter()
            .collect::<String>()
            .to_ascii_lowercase();
        if SCHEMES.contains(&word.as_str()) {
            let mut v = end;
            while v < n && chars[v] == ' ' {
                v += 1;
            }
            let mut e = v;
            while e < n && is_token_char(chars[e]) {
                e += 1;
            }
            if v > end && e - v >= 12 {
                out.extend(&chars[end..v]);
                out.push_str("***");
                i = e;
                continue;
            }
        }
        if SECRET_KEYS.iter().any(|k| word.contains(k)) {
            let mut v = end;
            if v < n && matches!(chars[v], '"' | '\'') {
                v += 1;
            }
            while v < n && chars[v] == ' ' {
                v += 1;
            }
            if v < n && matches!(chars[v], ':' | '=') {
                v += 1;
                while v < n && chars[v] == ' ' {
                    v += 1;
                }
                if v < n && matches!(chars[v], '"' | '\'') {
                    v += 1;
                }
                let mut e = v;
                while e < n
                    && !chars[e].is_whitespace()
                    && !matches!(chars[e], '"' | '\'' | ',' | ';' | '&' | '}')
                {
                    e += 1;
                }
                if e - v >= 8 {
                    out.extend(&chars[end..v]);
                    out.push_str("***");
                    i = e;
                    continue;
                }
            }
        }
        i = end;
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// 2025-11-26 06:53:20 UTC.
    pub const AT: i64 = 1_764_140_000_000;

    pub fn sample() -> ConnectionAlert {
        ConnectionAlert {
            provider: "gitflic".into(),
            connection: "cloud".into(),
            web_base: "https://gitflic.ru".into(),
            reason: "the provider refused to refresh the token: the refresh was refused (credentials rejected: Refresh token is invalid or expired)".into(),
            reconnect_url: Some("https://exlogare.example/api/integrations/gitflic/oauth/start/cloud".into()),
            admin_token_required: true,
            at: AT,
            problem: AlertProblem::NeedsReconnection,
        }
    }

    pub const SCRIPT: &str = "<script>alert('x')</script>";

    /// Markup, mentions, entities, a fake link, control characters and a token in every text field.
    pub fn hostile() -> ConnectionAlert {
        ConnectionAlert {
            provider: "git<b>flic</b>".into(),
            connection: "cl&oud<!channel>".into(),
            web_base: "https://gitflic.example/\"><img src=x>|<https://evil.example|x>".into(),
            reason: format!(
                "{SCRIPT} & <!channel> <https://evil.example|click> ```\n</pre></code><b>x</b> &amp; \u{7} Authorization: Bearer gf_at_SECRETSECRET123456 {{\"refreshToken\":\"gf-rt-SECRET-77\"}} ?access_token=SECRETSECRET"
            ),
            reconnect_url: Some(
                "https://exlogare.example/api/integrations/gitflic/oauth/start/cloud?x=1&y=\"2\""
                    .into(),
            ),
            admin_token_required: true,
            at: AT,
            problem: AlertProblem::NeedsReconnection,
        }
    }

    /// Every field far over any limit.
    pub fn huge() -> ConnectionAlert {
        ConnectionAlert {
            provider: "😀".repeat(5000),
            connection: "c".repeat(10_000),
            web_base: format!("https://{}.example", "w".repeat(10_000)),
            reason: "r😀 <&> ".repeat(20_000),
            reconnect_url: Some(format!("https://exlogare.example/{}", "u".repeat(10_000))),
            admin_token_required: true,
            at: AT,
            problem: AlertProblem::NeedsReconnection,
        }
    }

    #[test]
    fn credentials_in_a_reason_are_masked_and_prose_is_not() {
        for (input, expected) in [
            (
                "Authorization: Bearer gf_at_SECRETSECRET123456 x",
                "Authorization: Bearer *** x",
            ),
            ("header token gf-at-0123456789abcdef", "header token ***"),
            (
                r#"{"refreshToken":"gf-rt-SECRET-77","x":1}"#,
                r#"{"refreshToken":"***","x":1}"#,
            ),
            (
                "GET /api?access_token=SECRETSECRET&page=0",
                "GET /api?access_token=***&page=0",
            ),
            ("client_secret: hunter2hunter2", "client_secret: ***"),
            (
                "the provider refused to refresh the token: the refresh was refused",
                "the provider refused to refresh the token: the refresh was refused",
            ),
            (
                "Refresh token is invalid or expired",
                "Refresh token is invalid or expired",
            ),
            (
                "never connected: go through OAuth first",
                "never connected: go through OAuth first",
            ),
        ] {
            assert_eq!(mask_credentials(input), expected, "{input}");
        }
    }

    #[test]
    fn the_reason_is_bounded_flat_and_masked() {
        let h = hostile();
        let r = h.reason_text(Language::En);
        assert!(
            !r.contains("SECRET") && !r.contains('\n') && !r.contains('\u{7}'),
            "{r}"
        );
        assert!(huge().reason_text(Language::En).chars().count() <= MAX_REASON_CHARS);
        assert_eq!(
            ConnectionAlert {
                reason: " \n".into(),
                ..sample()
            }
            .reason_text(Language::En),
            "no reason was given"
        );
    }

    #[test]
    fn plain_text_says_what_when_why_and_what_to_do() {
        let text = render_plain(&sample(), Language::En);
        for needle in [
            "⚠️ Connection cloud (gitflic) needs reconnection",
            "gitflic: https://gitflic.ru",
            "Since 2025-11-26 06:53 UTC",
            "Reason: the provider refused to refresh the token",
            "Reconnect: open https://exlogare.example/api/integrations/gitflic/oauth/start/cloud",
            "?admin_token=<admin token>",
            "exlogare-host parked",
        ] {
            assert!(text.contains(needle), "{needle} missing:\n{text}");
        }
        let open = render_plain(
            &ConnectionAlert {
                admin_token_required: false,
                ..sample()
            },
            Language::En,
        );
        assert!(!open.contains("admin_token"), "{open}");
        let fixed = render_plain(
            &ConnectionAlert {
                reconnect_url: None,
                ..sample()
            },
            Language::En,
        );
        assert!(
            fixed.contains("static access token") && !fixed.contains("Reconnect:"),
            "{fixed}"
        );
        let big = render_plain(&huge(), Language::En);
        assert!(big.len() < 8 * 1024, "{}", big.len());
        assert!(!render_plain(&hostile(), Language::En).contains("SECRET"));
    }

    // ---- Each platform's rendering: escaping and limits ----------------------------------

    /// The visible text of platform HTML (tags from `allowed`, `void` ones unclosed, `<a href>`
    /// with an http(s) URL, entities `&lt; &gt; &amp; &quot;`), or why the platform would refuse it.
    pub(crate) fn visible_html(s: &str, allowed: &[&str], void: &[&str]) -> Result<String, String> {
        let (mut out, mut stack, mut rest) = (String::new(), Vec::<String>::new(), s);
        while let Some(c) = rest.chars().next() {
            match c {
                '<' => {
                    let end = rest.find('>').ok_or("unterminated tag")?;
                    let tag = &rest[1..end];
                    if let Some(name) = tag.strip_prefix('/') {
                        if stack.pop().as_deref() != Some(name) {
                            return Err(format!("unbalanced </{name}>"));
                        }
                    } else {
                        let name = tag.split(' ').next().unwrap_or("");
                        if !allowed.contains(&name) {
                            return Err(format!("tag <{name}>"));
                        }
                        if name == "a" {
                            let href = tag
                                .strip_prefix("a href=\"")
                                .and_then(|h| h.strip_suffix('"'))
                                .ok_or("bad <a>")?;
                            if href.contains(['<', '>', '"']) || !href.starts_with("http") {
                                return Err(format!("href {href}"));
                            }
                        } else if tag != name {
                            return Err(format!("attributes in <{tag}>"));
                        }
                        if !void.contains(&name) {
                            stack.push(name.to_owned());
                        }
                    }
                    rest = &rest[end + 1..];
                }
                '>' => return Err("bare >".into()),
                '&' => {
                    let (e, ch) = [
                        ("&lt;", '<'),
                        ("&gt;", '>'),
                        ("&amp;", '&'),
                        ("&quot;", '"'),
                    ]
                    .into_iter()
                    .find(|(e, _)| rest.starts_with(e))
                    .ok_or_else(|| {
                        format!("bare & at {}", rest.chars().take(10).collect::<String>())
                    })?;
                    out.push(ch);
                    rest = &rest[e.len()..];
                }
                c => {
                    out.push(c);
                    rest = &rest[c.len_utf8()..];
                }
            }
        }
        match stack.pop() {
            Some(open) => Err(format!("<{open}> never closed")),
            None => Ok(out),
        }
    }

    /// Slack mrkdwn as shown, or why Slack would read it as something else (a `<` that is not
    /// our http link, a bare `&`, an unpaired backtick).
    pub(crate) fn visible_mrkdwn(s: &str) -> Result<String, String> {
        if !s.matches('`').count().is_multiple_of(2) {
            return Err(format!("an unpaired backtick opens a code span: {s}"));
        }
        let (mut out, mut rest) = (String::new(), s);
        while let Some(c) = rest.chars().next() {
            match c {
                '<' => {
                    let end = rest.find('>').ok_or("unterminated <")?;
                    let inner = &rest[1..end];
                    if !inner.starts_with("http") || inner.contains('<') {
                        return Err(format!("<{inner}> is not our link"));
                    }
                    out.push_str(inner.split_once('|').map_or(inner, |(_, l)| l));
                    rest = &rest[end + 1..];
                }
                '>' => return Err("bare >".into()),
                '&' => {
                    let (e, ch) = [("&lt;", '<'), ("&gt;", '>'), ("&amp;", '&')]
                        .into_iter()
                        .find(|(e, _)| rest.starts_with(e))
                        .ok_or("bare &")?;
                    out.push(ch);
                    rest = &rest[e.len()..];
                }
                c => {
                    out.push(c);
                    rest = &rest[c.len_utf8()..];
                }
            }
        }
        Ok(out)
    }

    pub(crate) fn u16(s: &str) -> usize {
        s.encode_utf16().count()
    }

    /// Every mrkdwn text of a Slack payload within its limit and well-formed; the shown texts.
    pub(crate) fn slack_checked(v: &serde_json::Value) -> Vec<String> {
        let mut shown = vec![];
        let blocks = v["blocks"].as_array().unwrap();
        assert!(!blocks.is_empty() && blocks.len() <= super::super::slack::MAX_BLOCKS);
        shown.push(visible_mrkdwn(v["text"].as_str().unwrap()).unwrap());
        for b in blocks {
            match b["type"].as_str().unwrap() {
                "header" => {
                    let t = b["text"]["text"].as_str().unwrap();
                    assert!(u16(t) <= super::super::slack::HEADER_MAX, "{t}");
                    shown.push(t.to_owned());
                }
                "section" => {
                    if let Some(t) = b.get("text") {
                        let t = t["text"].as_str().unwrap();
                        assert!(u16(t) <= super::super::slack::SECTION_TEXT_MAX);
                        shown.push(visible_mrkdwn(t).unwrap_or_else(|e| panic!("{e}: {t}")));
                    }
                    for f in b
                        .get("fields")
                        .and_then(|f| f.as_array())
                        .into_iter()
                        .flatten()
                    {
                        let t = f["text"].as_str().unwrap();
                        assert!(u16(t) <= super::super::slack::FIELD_MAX);
                        shown.push(visible_mrkdwn(t).unwrap_or_else(|e| panic!("{e}: {t}")));
                    }
                }
                "actions" => {
                    let url = b["elements"][0]["url"].as_str().unwrap();
                    assert!(url.starts_with("https://") && url.len() <= 3000, "{url}");
                    shown.push(url.to_owned());
                }
                other => panic!("block {other}"),
            }
        }
        shown
    }

    pub(crate) const TG_TAGS: &[&str] = &["b", "i", "code", "pre", "a"];
    pub(crate) const MX_TAGS: &[&str] = &["p", "strong", "em", "br", "code", "pre", "a"];

    #[test]
    fn slack_alert_is_block_kit_with_the_reason_the_link_and_the_admin_note() {
        let v = super::super::slack::render_alert(&sample(), Language::En);
        let shown = slack_checked(&v).join("\n");
        for needle in [
            "⚠️ Connection cloud (gitflic) needs reconnection",
            "Refresh token is invalid or expired",
            "*Since*\n2025-11-26 06:53 UTC",
            "https://gitflic.ru",
            "Reconnect: open https://exlogare.example/api/integrations/gitflic/oauth/start/cloud",
            "`?admin_token=<admin token>`",
        ] {
            assert!(shown.contains(needle), "{needle} missing:\n{shown}");
        }
        assert_eq!(
            v["blocks"].as_array().unwrap().last().unwrap()["elements"][0]["url"],
            "https://exlogare.example/api/integrations/gitflic/oauth/start/cloud"
        );
    }

    #[test]
    fn a_hostile_alert_is_escaped_on_every_platform_and_shows_no_token() {
        let a = hostile();
        // Slack: no `<` but our own links, no bare `&`; the text reads as it was written.
        let v = super::super::slack::render_alert(&a, Language::En);
        let raw = v.to_string();
        assert!(!raw.contains("SECRET"), "{raw}");
        let shown = slack_checked(&v).join("\n");
        assert!(
            shown.contains(&format!(
                "{SCRIPT} & <!channel> <https://evil.example|click>"
            )),
            "{shown}"
        );
        assert!(
            shown.contains("cl&oud<!channel>") && shown.contains("git<b>flic</b>"),
            "{shown}"
        );
        // The hostile instance URL and the reconnect URL with `"` are never a link; the button
        // only takes an http(s) URL as is (Slack sends it, it renders nothing from it).
        assert!(!raw.contains("<https://evil.example|x>"), "{raw}");

        // Telegram: well-formed HTML with its tags only; the visible text is the original.
        let html = super::super::telegram::render_alert(&a, Language::En);
        assert!(
            !html.contains("SECRET") && !html.contains("<script>"),
            "{html}"
        );
        let visible = visible_html(&html, TG_TAGS, &[]).unwrap_or_else(|e| panic!("{e}: {html}"));
        assert!(
            visible.contains(SCRIPT)
                && visible.contains("</pre></code><b>x</b> &amp;")
                && visible.contains("cl&oud<!channel>"),
            "{visible}"
        );

        // Matrix: formatted_body well-formed, body plain; no token in either.
        let (body, formatted) = super::super::matrix::render_alert(&a, Language::En);
        assert!(!body.contains("SECRET") && !formatted.contains("SECRET"));
        let visible = visible_html(&formatted, MX_TAGS, &["br"])
            .unwrap_or_else(|e| panic!("{e}: {formatted}"));
        assert!(
            visible.contains(SCRIPT) && visible.contains("git<b>flic</b>"),
            "{visible}"
        );
        assert!(body.contains(SCRIPT));
    }

    #[test]
    fn a_huge_alert_stays_within_every_platform_limit() {
        let a = huge();
        slack_checked(&super::super::slack::render_alert(&a, Language::En));
        let html = super::super::telegram::render_alert(&a, Language::En);
        let visible = visible_html(&html, TG_TAGS, &[]).unwrap();
        assert!(
            u16(&visible) <= super::super::telegram::TEXT_BUDGET,
            "{}",
            u16(&visible)
        );
        let (body, formatted) = super::super::matrix::render_alert(&a, Language::En);
        assert!(
            body.len() <= super::super::matrix::BODY_BUDGET
                && formatted.len() <= super::super::matrix::FORMATTED_BUDGET
        );
        visible_html(&formatted, MX_TAGS, &["br"]).unwrap();
        // An ordinary alert is short.
        let normal = super::super::telegram::render_alert(&sample(), Language::En);
        assert!(u16(&visible_html(&normal, TG_TAGS, &[]).unwrap()) < 1000);
    }

    #[test]
    fn egress_and_unreachable_alerts_name_their_own_problem_and_remedy() {
        for (problem, headline, remedy) in [
            (
                AlertProblem::EgressRefused,
                "Connection cloud (gitflic) is refused by this host's egress policy",
                "allow_private = true",
            ),
            (
                AlertProblem::Unreachable,
                "Connection cloud (gitflic) cannot reach its provider",
                "reachable from this host",
            ),
        ] {
            let a = ConnectionAlert {
                problem,
                reason: "GET https://gitflic.corp.local/rest-api/project: connection refused"
                    .into(),
                ..sample()
            };
            let plain = render_plain(&a, Language::En);
            let slack =
                slack_checked(&super::super::slack::render_alert(&a, Language::En)).join("\n");
            let tg = visible_html(
                &super::super::telegram::render_alert(&a, Language::En),
                TG_TAGS,
                &[],
            )
            .unwrap();
            let (body, html) = super::super::matrix::render_alert(&a, Language::En);
            let mx = visible_html(&html, MX_TAGS, &["br"]).unwrap();
            for (platform, shown) in [
                ("plain", &plain),
                ("slack", &slack),
                ("telegram", &tg),
                ("matrix", &mx),
                ("matrix body", &body),
            ] {
                for needle in [
                    headline,
                    remedy,
                    "retried with backoff",
                    "connection refused",
                ] {
                    assert!(
                        shown.contains(needle),
                        "{platform}: {needle} missing:\n{shown}"
                    );
                }
                assert!(
                    !shown.contains("Reconnect") && !shown.contains("admin_token"),
                    "{platform}: a reachability problem is not fixed by reconnecting:\n{shown}"
                );
            }
        }
        // Stored before there were kinds: a reconnection alert.
        let old: ConnectionAlert = serde_json::from_value(serde_json::json!({
            "provider": "gitflic", "connection": "cloud", "web_base": "https://gitflic.ru",
            "reason": "r", "reconnect_url": null, "admin_token_required": false, "at": AT
        }))
        .unwrap();
        assert_eq!(old.problem, AlertProblem::NeedsReconnection);
    }

    #[test]
    fn a_static_token_connection_is_told_to_replace_the_token() {
        let a = ConnectionAlert {
            reconnect_url: None,
            ..sample()
        };
        let shown = slack_checked(&super::super::slack::render_alert(&a, Language::En)).join("\n");
        assert!(
            shown.contains("static access token") && !shown.contains("Reconnect"),
            "{shown}"
        );
        let tg = visible_html(
            &super::super::telegram::render_alert(&a, Language::En),
            TG_TAGS,
            &[],
        )
        .unwrap();
        assert!(
            tg.contains("replace the token (access_token_env / access_token_file)"),
            "{tg}"
        );
        let (_, mx) = super::super::matrix::render_alert(&a, Language::En);
        assert!(
            visible_html(&mx, MX_TAGS, &["br"])
                .unwrap()
                .contains("static access token")
        );
    }
}
