//! Matrix: client-server API, `PUT /_matrix/client/v3/rooms/{roomId}/send/m.room.message/{txnId}`.
//!
//! The transaction id is derived from the room and the idempotency key, so a retry of the same
//! message (after a timeout, a 5xx, a restart) reuses it and the homeserver returns the first
//! event instead of posting again (Matrix dedupes by transaction id per access token).
//! `body` is the plain-text rendering, `formatted_body` escaped HTML with the excerpt in
//! `<pre><code>`. Both are kept well below the 64 KiB event limit.
//!
//! A [`ConnectionAlert`] goes the same way ([`render_alert`]); its idempotency key names the
//! alert and the notifier (`accounts/alerts.rs`), so a retried alert reuses its transaction id.
//!
//! Our words are in the route's [`Language`], in both `body` and `formatted_body`.

use super::alert::{self, Advice, ConnectionAlert};
use super::console::{MAX_JOBS, render_plain_in};
use super::http::Http;
use super::message::{FailureMessage, JobMessage};
use super::text::{excerpt_raw, fit, html, one_line};
use super::words::{self, Language};
use super::{Delivered, Notifier, NotifyError};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// Bytes allowed for `body` and for `formatted_body` (the whole event may be 65536 bytes).
pub const BODY_BUDGET: usize = 16 * 1024;
pub const FORMATTED_BUDGET: usize = 32 * 1024;

pub struct MatrixNotifier {
    homeserver: String,
    room_id: String,
    access_token: String,
    http: Http,
}

impl MatrixNotifier {
    /// `room_id` is a room id (`!opaque:server`), not an alias.
    pub fn new(
        name: &str,
        homeserver: &str,
        room_id: &str,
        access_token: &str,
        timeout: Duration,
    ) -> Result<MatrixNotifier, String> {
        super::http::check_url(homeserver, "homeserver")?;
        if !room_id.starts_with('!') || !room_id.contains(':') {
            return Err(format!(
                "room_id `{room_id}` is not a room id (`!opaque:server.name`; aliases like `#room:server` are not accepted)"
            ));
        }
        if access_token.is_empty() || access_token.contains(char::is_whitespace) {
            return Err("the access token is empty or contains whitespace".into());
        }
        Ok(MatrixNotifier {
            homeserver: homeserver.trim_end_matches('/').to_owned(),
            room_id: room_id.to_owned(),
            access_token: access_token.to_owned(),
            http: Http::new(name, "matrix", timeout, vec![access_token.to_owned()])?,
        })
    }

    /// The URL a message with this idempotency key is PUT to.
    pub fn send_url(&self, idempotency_key: &str) -> String {
        format!(
            "{}/_matrix/client/v3/rooms/{}/send/m.room.message/{}",
            self.homeserver,
            encode_segment(&self.room_id),
            txn_id(&self.room_id, idempotency_key)
        )
    }
}

impl Notifier for MatrixNotifier {
    fn name(&self) -> &str {
        &self.http.notifier
    }

    fn kind(&self) -> &'static str {
        "matrix"
    }

    fn send_in(
        &self,
        msg: &FailureMessage,
        language: Language,
        idempotency_key: &str,
    ) -> Result<Delivered, NotifyError> {
        let (body, formatted) = render(msg, language);
        self.put(body, formatted, idempotency_key)
    }

    fn send_alert_in(
        &self,
        alert: &ConnectionAlert,
        language: Language,
        idempotency_key: &str,
    ) -> Result<Delivered, NotifyError> {
        let (body, formatted) = render_alert(alert, language);
        self.put(body, formatted, idempotency_key)
    }
}

impl MatrixNotifier {
    fn put(
        &self,
        body: String,
        formatted: String,
        idempotency_key: &str,
    ) -> Result<Delivered, NotifyError> {
        let content = json!({
            "msgtype": "m.text",
            "body": body,
            "format": "org.matrix.custom.html",
            "formatted_body": formatted,
            // Intentional mentions, none: whatever the text says, the message pings nobody.
            "m.mentions": {},
        });
        let req = self
            .http
            .client()
            .put(self.send_url(idempotency_key))
            .bearer_auth(&self.access_token);
        let answer = self.http.exchange(req, &content)?;
        // {"errcode":"M_LIMIT_EXCEEDED","error":"Too many requests","retry_after_ms":2000}
        let parsed: Option<Value> = serde_json::from_slice(&answer.body).ok();
        let detail = parsed.as_ref().and_then(|v| {
            let code = v["errcode"].as_str()?;
            Some(match v["error"].as_str() {
                Some(e) => format!("{code}: {}", one_line(e, 300)),
                None => code.to_owned(),
            })
        });
        let wait = parsed
            .as_ref()
            .and_then(|v| v["retry_after_ms"].as_u64())
            .map(Duration::from_millis);
        let answer = self.http.check(answer, detail, wait)?;
        let event_id = parsed
            .as_ref()
            .and_then(|v| v["event_id"].as_str())
            .map(str::to_owned)
            .ok_or_else(|| {
                self.http.permanent(
                    Some(answer.status),
                    format!(
                        "the answer has no event_id: {}",
                        super::http::snippet(&answer.body)
                    ),
                )
            })?;
        Ok(Delivered {
            notifier: self.http.notifier.clone(),
            kind: "matrix".into(),
            message_id: Some(event_id),
        })
    }
}

/// `exl-` and 32 hex digits of SHA-256(room id, key): the same key in the same room gives the
/// same transaction id, in this process or after a restart.
pub fn txn_id(room_id: &str, idempotency_key: &str) -> String {
    let mut h = Sha256::new();
    h.update(room_id.as_bytes());
    h.update([0]);
    h.update(idempotency_key.as_bytes());
    format!("exl-{}", &hex::encode(h.finalize())[..32])
}

/// Percent-encodes everything but RFC 3986 unreserved characters (`!` and `:` included).
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `(body, formatted_body)`, our words in `l`.
pub fn render(msg: &FailureMessage, l: Language) -> (String, String) {
    (
        render_plain_in(msg, l, BODY_BUDGET),
        render_html(msg, l, FORMATTED_BUDGET),
    )
}

/// The alert's `(body, formatted_body)`, our words in `l`: a few KiB at most, whatever its
/// fields hold.
pub fn render_alert(a: &ConnectionAlert, l: Language) -> (String, String) {
    let w = l.words();
    let code = |s: &str| format!("<code>{}</code>", html(s));
    let mut o = format!("<p><strong>⚠️ {}</strong>", html(&a.headline(l)));
    let instance = match a.instance_link().filter(|u| u.len() <= 2000) {
        Some(u) => format!("<a href=\"{}\">{}</a>", html(u), html(&a.instance())),
        None => html(&a.instance()),
    };
    o.push_str(&format!(
        "<br>{}: {instance}<br>{} {}</p>",
        html(&one_line(&a.provider, 50)),
        w.since,
        html(&a.since(l))
    ));
    o.push_str(&format!(
        "<p><em>{}:</em> {}</p><p>",
        w.reason,
        html(&a.reason_text(l))
    ));
    match (a.other_remedy(), a.advice(), &a.reconnect_url) {
        (Some(remedy), _, _) => o.push_str(&remedy(l, &code)),
        (None, Advice::ReplaceStaticToken, _) | (None, _, None) => {
            o.push_str(&words::static_note(l, &code))
        }
        (None, advice, Some(url)) => {
            match a.link().filter(|u| u.len() <= 2000) {
                Some(u) => o.push_str(&format!(
                    "{} <a href=\"{}\">{}</a>",
                    w.reconnect,
                    html(u),
                    html(&one_line(u, 300))
                )),
                None => o.push_str(&format!("{} {}", w.reconnect, html(&one_line(url, 300)))),
            }
            if advice == Advice::ReconnectWithAdminToken {
                o.push_str(&format!("<br>{}", words::admin_note(l, &code)));
            }
        }
    }
    o.push_str(&format!("<br>{}</p>", (a.meanwhile())(l, &code)));
    (alert::render_plain(a, l), o)
}

fn render_html(msg: &FailureMessage, l: Language, budget: usize) -> String {
    let w = l.words();
    let mut head = format!(
        "<p><strong>❌ {}</strong>",
        html(&one_line(&msg.headline(l), 400))
    );
    if let Some(r) = msg.ref_line() {
        head.push_str(&format!("<br>{}", html(&one_line(&r, 300))));
    }
    match msg.link() {
        Some(url) => head.push_str(&format!(
            "<br><a href=\"{}\">{}</a></p>",
            html(url),
            w.open_pipeline
        )),
        None => head.push_str(&format!("<br>{}</p>", html(&one_line(&msg.deep_link, 300)))),
    }
    if let Some(note) = &msg.note {
        head.push_str(&format!("<p>⚠ <em>{}</em></p>", html(&one_line(note, 500))));
    }
    let jobs = &msg.jobs[..msg.jobs.len().min(MAX_JOBS)];
    let fixed: Vec<String> = jobs.iter().map(|j| job_fixed(j, l)).collect();
    let rest = msg.jobs.len() - jobs.len();
    let tail = if rest > 0 {
        format!("<p><em>{}</em></p>", words::more_jobs(l, rest))
    } else {
        String::new()
    };
    let fixed_len = head.len() + fixed.iter().map(String::len).sum::<usize>() + tail.len();
    let with_excerpt = jobs.iter().filter(|j| !j.excerpt.is_empty()).count().max(1);
    let share = budget.saturating_sub(fixed_len) / with_excerpt;
    let mut out = head;
    for (job, f) in jobs.iter().zip(fixed) {
        out.push_str(&f);
        if !job.excerpt.is_empty() {
            out.push_str(&excerpt(&job.excerpt, share, l));
        }
    }
    out.push_str(&tail);
    out
}

fn job_fixed(job: &JobMessage, l: Language) -> String {
    let w = l.words();
    let mut o = format!(
        "<p><strong>{}</strong> — {}",
        html(&one_line(&job.title(), 200)),
        html(&job.verdict(l))
    );
    if let Some(step) = &job.failing_step {
        o.push_str(&format!(
            "<br>{}: <code>{}</code>",
            w.step,
            html(&one_line(step, 200))
        ));
    }
    if !job.summary.is_empty() {
        o.push_str(&format!("<br>{}", html(&one_line(&job.summary, 600))));
    }
    if let Some(why) = &job.log_unavailable {
        o.push_str(&format!(
            "<br>⚠️ <em>{}</em> {}",
            w.log_unavailable,
            html(&one_line(why, 300))
        ));
    }
    if let Some(mode) = job.comparison_line(l) {
        o.push_str(&format!("<br><em>{}</em>", html(&one_line(&mode, 200))));
    }
    o.push_str("</p>");
    o
}

fn excerpt(lines: &[(u64, String)], budget: usize, l: Language) -> String {
    const PRE: &str = "<pre><code>";
    const END: &str = "</code></pre>";
    let raw = excerpt_raw(lines);
    let note = |n: usize| format!("<p><em>{}</em></p>", words::more_lines(l, n));
    let note_cost = format!(
        "<p><em>{}</em></p>",
        words::longest_more_lines(l, raw.len())
    )
    .len();
    let esc = |s: &str| html(s);
    let fitted = fit(
        &raw,
        budget.saturating_sub(PRE.len() + END.len()),
        &esc,
        &str::len,
        note_cost,
    );
    let mut o = String::new();
    if !fitted.lines.is_empty() {
        o = format!("{PRE}{}\n{END}", fitted.lines.join("\n"));
    }
    if fitted.more > 0 && o.len() + note(fitted.more).len() <= budget {
        o.push_str(&note(fitted.more));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::tests::{MX_TAGS, sample, visible_html};
    use crate::words::tests::{
        assert_cut_whole_in_russian, assert_russian_with_the_report_intact, cyrillic_huge,
        cyrillic_message,
    };

    #[test]
    fn a_russian_route_gets_our_words_in_russian_in_both_bodies() {
        let (body, formatted) = render(&cyrillic_message(), Language::Ru);
        let shown = visible_html(&formatted, MX_TAGS, &["br"])
            .unwrap_or_else(|e| panic!("{e}: {formatted}"));
        assert_russian_with_the_report_intact("matrix formatted_body", &shown);
        assert!(shown.contains("Открыть пайплайн"), "{shown}");
        assert!(
            formatted.contains("&lt;script&gt;&amp;amp;&lt;/script&gt;"),
            "{formatted}"
        );
        assert_russian_with_the_report_intact("matrix body", &body);
    }

    #[test]
    fn a_russian_excerpt_is_cut_within_the_event_budgets_at_whole_characters() {
        for lines in [30, 400] {
            let huge = cyrillic_huge(lines);
            let (body, formatted) = render(&huge, Language::Ru);
            assert!(body.len() <= BODY_BUDGET, "{}", body.len());
            assert!(formatted.len() <= FORMATTED_BUDGET, "{}", formatted.len());
            let shown = visible_html(&formatted, MX_TAGS, &["br"]).unwrap();
            assert_cut_whole_in_russian("matrix formatted_body", &shown, &huge);
            assert_cut_whole_in_russian("matrix body", &body, &huge);
        }
        for lines in 1..80 {
            let huge = cyrillic_huge(lines);
            for budget in [700, 1500, 3000] {
                let ex = excerpt(&huge.jobs[0].excerpt, budget, Language::Ru);
                assert!(ex.len() <= budget, "{lines} lines, {budget}: {}", ex.len());
            }
        }
    }

    #[test]
    fn a_russian_alert_says_what_to_do_in_russian() {
        let (body, formatted) = render_alert(&sample(), Language::Ru);
        let shown = visible_html(&formatted, MX_TAGS, &["br"]).unwrap();
        for text in [&shown, &body] {
            for needle in [
                "⚠️ Подключение cloud (gitflic) требует переподключения",
                "Начиная с 2025-11-26 06:53 UTC",
                "Причина: the provider refused to refresh the token",
                "https://exlogare.example/api/integrations/gitflic/oauth/start/cloud",
                "Authorization: Bearer <admin token>",
            ] {
                assert!(text.contains(needle), "{needle} missing:\n{text}");
            }
            for english in ["Connection", "Since", "Reason", "Reconnect", "Until then"] {
                assert!(!text.contains(english), "{english} in:\n{text}");
            }
        }
    }
}
