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

use super::alert::{self, Advice, ConnectionAlert};
use super::console::{MAX_JOBS, render_plain};
use super::http::Http;
use super::message::{FailureMessage, JobMessage};
use super::text::{excerpt_raw, fit, html, more_lines, one_line};
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

    fn send(&self, msg: &FailureMessage, idempotency_key: &str) -> Result<Delivered, NotifyError> {
        let (body, formatted) = render(msg);
        self.put(body, formatted, idempotency_key)
    }

    fn send_alert(
        &self,
        alert: &ConnectionAlert,
        idempotency_key: &str,
    ) -> Result<Delivered, NotifyError> {
        let (body, formatted) = render_alert(alert);
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

/// `(body, formatted_body)`.
pub fn render(msg: &FailureMessage) -> (String, String) {
    (
        render_plain(msg, BODY_BUDGET),
        render_html(msg, FORMATTED_BUDGET),
    )
}

/// The alert's `(body, formatted_body)`: a few KiB at most, whatever its fields hold.
pub fn render_alert(a: &ConnectionAlert) -> (String, String) {
    let code = |s: &str| format!("<code>{}</code>", html(s));
    let mut o = format!("<p><strong>⚠️ {}</strong>", html(&a.headline()));
    let instance = match a.instance_link().filter(|u| u.len() <= 2000) {
        Some(u) => format!("<a href=\"{}\">{}</a>", html(u), html(&a.instance())),
        None => html(&a.instance()),
    };
    o.push_str(&format!(
        "<br>{}: {instance}<br>Since {}</p>",
        html(&one_line(&a.provider, 50)),
        html(&a.since())
    ));
    o.push_str(&format!(
        "<p><em>Reason:</em> {}</p><p>",
        html(&a.reason_text())
    ));
    match (a.other_remedy(), a.advice(), &a.reconnect_url) {
        (Some(remedy), _, _) => o.push_str(&remedy(&code)),
        (None, Advice::ReplaceStaticToken, _) | (None, _, None) => {
            o.push_str(&alert::static_note(&code))
        }
        (None, advice, Some(url)) => {
            match a.link().filter(|u| u.len() <= 2000) {
                Some(u) => o.push_str(&format!(
                    "Reconnect: <a href=\"{}\">{}</a>",
                    html(u),
                    html(&one_line(u, 300))
                )),
                None => o.push_str(&format!("Reconnect: {}", html(&one_line(url, 300)))),
            }
            if advice == Advice::ReconnectWithAdminToken {
                o.push_str(&format!("<br>{}", alert::admin_note(&code)));
            }
        }
    }
    o.push_str(&format!("<br>{}</p>", (a.meanwhile())(&code)));
    (alert::render_plain(a), o)
}

fn render_html(msg: &FailureMessage, budget: usize) -> String {
    let mut head = format!(
        "<p><strong>❌ {}</strong>",
        html(&one_line(&msg.headline(), 400))
    );
    if let Some(r) = msg.ref_line() {
        head.push_str(&format!("<br>{}", html(&one_line(&r, 300))));
    }
    match msg.link() {
        Some(url) => head.push_str(&format!(
            "<br><a href=\"{}\">Open pipeline</a></p>",
            html(url)
        )),
        None => head.push_str(&format!("<br>{}</p>", html(&one_line(&msg.deep_link, 300)))),
    }
    if let Some(note) = &msg.note {
        head.push_str(&format!("<p>⚠ <em>{}</em></p>", html(&one_line(note, 500))));
    }
    let jobs = &msg.jobs[..msg.jobs.len().min(MAX_JOBS)];
    let fixed: Vec<String> = jobs.iter().map(job_fixed).collect();
    let rest = msg.jobs.len() - jobs.len();
    let tail = if rest > 0 {
        format!(
            "<p><em>… and {rest} more failed job{}</em></p>",
            if rest == 1 { "" } else { "s" }
        )
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
            out.push_str(&excerpt(&job.excerpt, share));
        }
    }
    out.push_str(&tail);
    out
}

fn job_fixed(job: &JobMessage) -> String {
    let mut o = format!(
        "<p><strong>{}</strong> — {}",
        html(&one_line(&job.title(), 200)),
        html(&job.verdict())
    );
    if let Some(step) = &job.failing_step {
        o.push_str(&format!(
            "<br>Step: <code>{}</code>",
            html(&one_line(step, 200))
        ));
    }
    if !job.summary.is_empty() {
        o.push_str(&format!("<br>{}", html(&one_line(&job.summary, 600))));
    }
    if let Some(why) = &job.log_unavailable {
        o.push_str(&format!(
            "<br>⚠️ <em>Log unavailable:</em> {}",
            html(&one_line(why, 300))
        ));
    }
    if let Some(mode) = &job.comparison {
        o.push_str(&format!("<br><em>{}</em>", html(&one_line(mode, 200))));
    }
    o.push_str("</p>");
    o
}

fn excerpt(lines: &[(u64, String)], budget: usize) -> String {
    const PRE: &str = "<pre><code>";
    const END: &str = "</code></pre>";
    let raw = excerpt_raw(lines);
    let note = |n: usize| format!("<p><em>{}</em></p>", more_lines(n));
    let esc = |s: &str| html(s);
    let fitted = fit(
        &raw,
        budget.saturating_sub(PRE.len() + END.len()),
        &esc,
        &str::len,
        note(raw.len()).len(),
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
