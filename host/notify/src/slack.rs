//! Slack: an incoming webhook, Block Kit.
//!
//! Layout: a header, the pipeline's fields (project, pipeline, ref), then per failed job its
//! fields (job, step, category), the summary and the excerpt as a code block, and a button to
//! the pipeline. `text` is the notification fallback. Limits respected: header 150 characters,
//! section text 3000, field 2000, 10 fields per section, 50 blocks, button text 75, URL 3000.
//! All mrkdwn text is escaped (`&`, `<`, `>`), so log text cannot mention `@channel` or forge a
//! link, and runs of backticks in the excerpt are split so they cannot close the code block.
//!
//! A [`ConnectionAlert`] ([`render_alert`]): a header, the connection's fields (connection,
//! instance, since), the reason, what to do with the reconnect link, and a `Reconnect` button;
//! the same escaping and limits.

use super::alert::{self, Advice, ConnectionAlert};
use super::http::Http;
use super::message::{FailureMessage, JobMessage};
use super::text::{self, clip_escaped, excerpt_raw, fit, more_lines, mrkdwn, one_line, utf16_len};
use super::{Delivered, Notifier, NotifyError};
use serde_json::{Value, json};
use std::time::Duration;

pub const HEADER_MAX: usize = 150;
pub const SECTION_TEXT_MAX: usize = 3000;
pub const FIELD_MAX: usize = 2000;
pub const MAX_BLOCKS: usize = 50;
/// Jobs shown in one message (3 blocks each); the rest are counted in a note.
pub const MAX_JOBS: usize = 10;

pub struct SlackNotifier {
    webhook_url: String,
    http: Http,
}

impl SlackNotifier {
    /// `webhook_url` is a secret (whoever has it can post): it never appears in errors.
    pub fn new(name: &str, webhook_url: &str, timeout: Duration) -> Result<SlackNotifier, String> {
        let url = super::http::check_url(webhook_url, "webhook URL")?;
        let secrets = vec![webhook_url.to_owned(), url.path().to_owned()];
        Ok(SlackNotifier {
            webhook_url: webhook_url.to_owned(),
            http: Http::new(name, "slack", timeout, secrets)?,
        })
    }
}

impl Notifier for SlackNotifier {
    fn name(&self) -> &str {
        &self.http.notifier
    }

    fn kind(&self) -> &'static str {
        "slack"
    }

    fn send(&self, msg: &FailureMessage, _idempotency_key: &str) -> Result<Delivered, NotifyError> {
        self.post(&render(msg))
    }

    fn send_alert(
        &self,
        alert: &ConnectionAlert,
        _idempotency_key: &str,
    ) -> Result<Delivered, NotifyError> {
        self.post(&render_alert(alert))
    }
}

impl SlackNotifier {
    fn post(&self, payload: &Value) -> Result<Delivered, NotifyError> {
        let req = self.http.client().post(&self.webhook_url);
        let answer = self.http.exchange(req, payload)?;
        self.http.check(answer, None, None)?;
        Ok(Delivered {
            notifier: self.http.notifier.clone(),
            kind: "slack".into(),
            message_id: None,
        })
    }
}

/// `<url|label>` when the URL is http(s), cannot break out of the link syntax and is short
/// enough that no clip can cut the link in half; else the text. At most 800 + 5 × 150 units.
fn mrkdwn_link(url: Option<&str>, text: &str) -> String {
    let label = inline(&one_line(text, 150));
    match url
        .filter(|u| !u.contains(['|', '<', '>', '`']))
        .map(mrkdwn)
    {
        Some(u) if utf16_len(&u) <= 800 => format!("<{u}|{label}>"),
        _ => label,
    }
}

/// Text outside a code span: escaped, and backticks made quotes so none can open a code span
/// or fence that the rest of the message would fall into.
fn inline(s: &str) -> String {
    mrkdwn(s).replace('`', "'")
}

/// The alert's webhook payload: `{ "text": fallback, "blocks": [...] }`.
pub fn render_alert(a: &ConnectionAlert) -> Value {
    let code = |s: &str| format!("`{}`", mrkdwn(s));
    let fields = vec![
        field("Connection", &inline(&one_line(&a.connection, 200))),
        field(
            "Instance",
            &format!(
                "{} · {}",
                inline(&one_line(&a.provider, 50)),
                mrkdwn_link(a.instance_link(), &a.instance())
            ),
        ),
        field("Since", &mrkdwn(&a.since())),
    ];
    let mut todo = vec!["*What to do*".to_owned()];
    match (a.other_remedy(), a.advice(), &a.reconnect_url) {
        (Some(remedy), _, _) => todo.push(remedy(&code)),
        (None, Advice::ReplaceStaticToken, _) | (None, _, None) => {
            todo.push(alert::static_note(&code))
        }
        (None, advice, Some(url)) => {
            todo.push(format!("Reconnect: open {}", mrkdwn_link(a.link(), url)));
            if advice == Advice::ReconnectWithAdminToken {
                todo.push(alert::admin_note(&code));
            }
        }
    }
    todo.push((a.meanwhile())(&code));
    let mut blocks = vec![
        json!({
            "type": "header",
            "text": { "type": "plain_text", "text": clip_escaped(&format!("⚠️ {}", a.headline()), HEADER_MAX), "emoji": true }
        }),
        json!({ "type": "section", "fields": fields }),
        json!({ "type": "section", "text": { "type": "mrkdwn", "text": clip_escaped(&format!("*Reason*\n{}", inline(&a.reason_text())), SECTION_TEXT_MAX) } }),
        json!({ "type": "section", "text": { "type": "mrkdwn", "text": clip_escaped(&todo.join("\n"), SECTION_TEXT_MAX) } }),
    ];
    if let Some(url) = a.link().filter(|u| u.len() <= 3000) {
        blocks.push(json!({
            "type": "actions",
            "elements": [{ "type": "button", "text": { "type": "plain_text", "text": "Reconnect" }, "url": url }]
        }));
    }
    let fallback = inline(&one_line(
        &format!("⚠️ {}: {}", a.headline(), a.reason_text()),
        500,
    ));
    json!({ "text": fallback, "blocks": blocks })
}

/// The webhook payload: `{ "text": fallback, "blocks": [...] }`.
pub fn render(msg: &FailureMessage) -> Value {
    let mut blocks = vec![json!({
        "type": "header",
        "text": { "type": "plain_text", "text": clip_escaped(&one_line(&msg.headline(), 1000), HEADER_MAX), "emoji": true }
    })];
    let pipeline = match msg.link() {
        Some(url) if !url.contains(['|', '<', '>']) => format!(
            "<{}|{}>",
            mrkdwn(url),
            mrkdwn(&one_line(&msg.pipeline, 100))
        ),
        _ => mrkdwn(&one_line(&msg.pipeline, 100)),
    };
    let mut fields = vec![
        field("Project", &mrkdwn(&one_line(&msg.project, 300))),
        field("Pipeline", &pipeline),
    ];
    if let Some(r) = msg.ref_line() {
        fields.push(field("Ref", &mrkdwn(&one_line(&r, 300))));
    }
    blocks.push(json!({ "type": "section", "fields": fields }));
    if let Some(note) = &msg.note {
        blocks.push(json!({
            "type": "context",
            "elements": [{ "type": "mrkdwn", "text": clip_escaped(&format!(":warning: {}", mrkdwn(&one_line(note, 1000))), SECTION_TEXT_MAX) }]
        }));
    }
    for job in msg.jobs.iter().take(MAX_JOBS) {
        blocks.extend(job_blocks(job));
    }
    if msg.jobs.len() > MAX_JOBS {
        let rest = msg.jobs.len() - MAX_JOBS;
        blocks.push(json!({
            "type": "context",
            "elements": [{ "type": "mrkdwn", "text": format!("… and {rest} more failed job{}", if rest == 1 { "" } else { "s" }) }]
        }));
    }
    match msg.link() {
        Some(url) if url.len() <= 3000 => blocks.push(json!({
            "type": "actions",
            "elements": [{
                "type": "button",
                "text": { "type": "plain_text", "text": "Open pipeline" },
                "url": url,
            }]
        })),
        _ => blocks.push(json!({
            "type": "context",
            "elements": [{ "type": "mrkdwn", "text": clip_escaped(&mrkdwn(&one_line(&msg.deep_link, 1000)), SECTION_TEXT_MAX) }]
        })),
    }
    blocks.truncate(MAX_BLOCKS);
    json!({ "text": fallback(msg), "blocks": blocks })
}

/// The notification text (and what clients without Block Kit show).
fn fallback(msg: &FailureMessage) -> String {
    let mut t = msg.headline();
    if let Some(r) = msg.ref_line() {
        t.push_str(&format!(" ({r})"));
    }
    if let Some(job) = msg.jobs.first() {
        t.push_str(&format!(": {}", job.title()));
        if !job.summary.is_empty() {
            t.push_str(&format!(" — {}", job.summary));
        }
    } else if let Some(note) = &msg.note {
        t.push_str(&format!(": {note}"));
    }
    mrkdwn(&one_line(&t, 500))
}

fn field(label: &str, value: &str) -> Value {
    json!({ "type": "mrkdwn", "text": clip_escaped(&format!("*{label}*\n{value}"), FIELD_MAX) })
}

fn job_blocks(job: &JobMessage) -> Vec<Value> {
    let mut fields = vec![field("Job", &mrkdwn(&one_line(&job.title(), 300)))];
    if let Some(step) = &job.failing_step {
        fields.push(field(
            "Step",
            &format!("`{}`", mrkdwn(&one_line(step, 300)).replace('`', "'")),
        ));
    }
    fields.push(field("Category", &mrkdwn(&job.verdict())));
    let mut blocks = vec![json!({ "type": "section", "fields": fields })];
    let mut notes = Vec::new();
    if !job.summary.is_empty() {
        notes.push(mrkdwn(&one_line(&job.summary, 1000)));
    }
    if let Some(why) = &job.log_unavailable {
        notes.push(format!(
            ":warning: _Log unavailable:_ {}",
            mrkdwn(&one_line(why, 500))
        ));
    }
    if let Some(mode) = &job.comparison {
        notes.push(format!(":mag: {}", mrkdwn(&one_line(mode, 300))));
    }
    if !notes.is_empty() {
        blocks.push(json!({ "type": "section", "text": { "type": "mrkdwn", "text": clip_escaped(&notes.join("\n"), SECTION_TEXT_MAX) } }));
    }
    if !job.excerpt.is_empty() {
        blocks.push(json!({ "type": "section", "text": { "type": "mrkdwn", "text": excerpt_block(&job.excerpt, SECTION_TEXT_MAX) } }));
    }
    blocks
}

/// ```` ```lines``` ```` plus `_… N more lines_` when cut, at most `max` characters in all.
pub(crate) fn excerpt_block(lines: &[(u64, String)], max: usize) -> String {
    let raw = excerpt_raw(lines);
    let fences = "```\n".len() + "\n```".len();
    let note_cost = utf16_len(&format!("\n_{}_", more_lines(raw.len())));
    let fitted = fit(
        &raw,
        max.saturating_sub(fences),
        &code_line,
        &utf16_len,
        note_cost,
    );
    let mut out = format!("```\n{}\n```", fitted.lines.join("\n"));
    if fitted.more > 0 {
        out.push_str(&format!("\n_{}_", more_lines(fitted.more)));
    }
    out
}

/// A line inside a code block: escaped, and no two backticks in a row (a zero-width space
/// between them), so the text cannot end the block early.
fn code_line(s: &str) -> String {
    let escaped = mrkdwn(&text::clean(s));
    let mut out = String::with_capacity(escaped.len());
    let mut prev_tick = false;
    for c in escaped.chars() {
        if c == '`' && prev_tick {
            out.push('\u{200B}');
        }
        prev_tick = c == '`';
        out.push(c);
    }
    out
}
