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
//!
//! Our words (labels, headings, button texts, notes) are in the route's [`Language`]; the
//! limits count what is posted, so they hold whichever language it is.

use super::alert::{Advice, ConnectionAlert};
use super::http::Http;
use super::message::{FailureMessage, JobMessage};
use super::text::{self, clip_escaped, excerpt_raw, fit, mrkdwn, one_line, utf16_len};
use super::words::{self, Language};
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

    fn send_in(
        &self,
        msg: &FailureMessage,
        language: Language,
        _idempotency_key: &str,
    ) -> Result<Delivered, NotifyError> {
        self.post(&render(msg, language))
    }

    fn send_alert_in(
        &self,
        alert: &ConnectionAlert,
        language: Language,
        _idempotency_key: &str,
    ) -> Result<Delivered, NotifyError> {
        self.post(&render_alert(alert, language))
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

/// The alert's webhook payload: `{ "text": fallback, "blocks": [...] }`, our words in `l`.
pub fn render_alert(a: &ConnectionAlert, l: Language) -> Value {
    let w = l.words();
    let code = |s: &str| format!("`{}`", mrkdwn(s));
    let fields = vec![
        field(w.connection, &inline(&one_line(&a.connection, 200))),
        field(
            w.instance,
            &format!(
                "{} · {}",
                inline(&one_line(&a.provider, 50)),
                mrkdwn_link(a.instance_link(), &a.instance())
            ),
        ),
        field(w.since_label, &mrkdwn(&a.since(l))),
    ];
    let mut todo = vec![format!("*{}*", w.what_to_do)];
    match (a.other_remedy(), a.advice(), &a.reconnect_url) {
        (Some(remedy), _, _) => todo.push(remedy(l, &code)),
        (None, Advice::ReplaceStaticToken, _) | (None, _, None) => {
            todo.push(words::static_note(l, &code))
        }
        (None, advice, Some(url)) => {
            todo.push(format!(
                "{} {}",
                w.reconnect_open,
                mrkdwn_link(a.link(), url)
            ));
            if advice == Advice::ReconnectWithAdminToken {
                todo.push(words::admin_note(l, &code));
            }
        }
    }
    todo.push((a.meanwhile())(l, &code));
    let mut blocks = vec![
        json!({
            "type": "header",
            "text": { "type": "plain_text", "text": clip_escaped(&format!("⚠️ {}", a.headline(l)), HEADER_MAX), "emoji": true }
        }),
        json!({ "type": "section", "fields": fields }),
        json!({ "type": "section", "text": { "type": "mrkdwn", "text": clip_escaped(&format!("*{}*\n{}", w.reason, inline(&a.reason_text(l))), SECTION_TEXT_MAX) } }),
        json!({ "type": "section", "text": { "type": "mrkdwn", "text": clip_escaped(&todo.join("\n"), SECTION_TEXT_MAX) } }),
    ];
    if let Some(url) = a.link().filter(|u| u.len() <= 3000) {
        blocks.push(json!({
            "type": "actions",
            "elements": [{ "type": "button", "text": { "type": "plain_text", "text": w.reconnect_button }, "url": url }]
        }));
    }
    let fallback = inline(&one_line(
        &format!("⚠️ {}: {}", a.headline(l), a.reason_text(l)),
        500,
    ));
    json!({ "text": fallback, "blocks": blocks })
}

/// The webhook payload: `{ "text": fallback, "blocks": [...] }`, our words in `l`.
pub fn render(msg: &FailureMessage, l: Language) -> Value {
    let w = l.words();
    let mut blocks = vec![json!({
        "type": "header",
        "text": { "type": "plain_text", "text": clip_escaped(&one_line(&msg.headline(l), 1000), HEADER_MAX), "emoji": true }
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
        field(w.project, &mrkdwn(&one_line(&msg.project, 300))),
        field(w.pipeline, &pipeline),
    ];
    if let Some(r) = msg.ref_line() {
        fields.push(field(w.git_ref, &mrkdwn(&one_line(&r, 300))));
    }
    blocks.push(json!({ "type": "section", "fields": fields }));
    if let Some(note) = &msg.note {
        blocks.push(json!({
            "type": "context",
            "elements": [{ "type": "mrkdwn", "text": clip_escaped(&format!(":warning: {}", mrkdwn(&one_line(note, 1000))), SECTION_TEXT_MAX) }]
        }));
    }
    for job in msg.jobs.iter().take(MAX_JOBS) {
        blocks.extend(job_blocks(job, l));
    }
    if msg.jobs.len() > MAX_JOBS {
        let rest = msg.jobs.len() - MAX_JOBS;
        blocks.push(json!({
            "type": "context",
            "elements": [{ "type": "mrkdwn", "text": words::more_jobs(l, rest) }]
        }));
    }
    match msg.link() {
        Some(url) if url.len() <= 3000 => blocks.push(json!({
            "type": "actions",
            "elements": [{
                "type": "button",
                "text": { "type": "plain_text", "text": w.open_pipeline },
                "url": url,
            }]
        })),
        _ => blocks.push(json!({
            "type": "context",
            "elements": [{ "type": "mrkdwn", "text": clip_escaped(&mrkdwn(&one_line(&msg.deep_link, 1000)), SECTION_TEXT_MAX) }]
        })),
    }
    blocks.truncate(MAX_BLOCKS);
    json!({ "text": fallback(msg, l), "blocks": blocks })
}

/// The notification text (and what clients without Block Kit show).
fn fallback(msg: &FailureMessage, l: Language) -> String {
    let mut t = msg.headline(l);
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

fn job_blocks(job: &JobMessage, l: Language) -> Vec<Value> {
    let w = l.words();
    let mut fields = vec![field(w.job, &mrkdwn(&one_line(&job.title(), 300)))];
    if let Some(step) = &job.failing_step {
        fields.push(field(
            w.step,
            &format!("`{}`", mrkdwn(&one_line(step, 300)).replace('`', "'")),
        ));
    }
    fields.push(field(w.category, &mrkdwn(&job.verdict(l))));
    let mut blocks = vec![json!({ "type": "section", "fields": fields })];
    let mut notes = Vec::new();
    if !job.summary.is_empty() {
        notes.push(mrkdwn(&one_line(&job.summary, 1000)));
    }
    if let Some(why) = &job.log_unavailable {
        notes.push(format!(
            ":warning: _{}_ {}",
            w.log_unavailable,
            mrkdwn(&one_line(why, 500))
        ));
    }
    if let Some(mode) = job.comparison_line(l) {
        notes.push(format!(":mag: {}", mrkdwn(&one_line(&mode, 300))));
    }
    if !notes.is_empty() {
        blocks.push(json!({ "type": "section", "text": { "type": "mrkdwn", "text": clip_escaped(&notes.join("\n"), SECTION_TEXT_MAX) } }));
    }
    if !job.excerpt.is_empty() {
        blocks.push(json!({ "type": "section", "text": { "type": "mrkdwn", "text": excerpt_block(&job.excerpt, SECTION_TEXT_MAX, l) } }));
    }
    blocks
}

/// ```` ```lines``` ```` plus `_… N more lines_` when cut, at most `max` characters in all.
pub(crate) fn excerpt_block(lines: &[(u64, String)], max: usize, l: Language) -> String {
    let raw = excerpt_raw(lines);
    let fences = "```\n".len() + "\n```".len();
    let note_cost = utf16_len(&format!("\n_{}_", words::longest_more_lines(l, raw.len())));
    let fitted = fit(
        &raw,
        max.saturating_sub(fences),
        &code_line,
        &utf16_len,
        note_cost,
    );
    let mut out = format!("```\n{}\n```", fitted.lines.join("\n"));
    if fitted.more > 0 {
        out.push_str(&format!("\n_{}_", words::more_lines(l, fitted.more)));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::tests::{sample, slack_checked, u16, visible_mrkdwn};
    use crate::words::tests::{
        EXCERPT, assert_cut_whole_in_russian, assert_russian_with_the_report_intact, cyrillic_huge,
        cyrillic_message,
    };

    #[test]
    fn a_russian_route_gets_our_words_in_russian_and_the_report_as_it_was() {
        let v = render(&cyrillic_message(), Language::Ru);
        let shown = slack_checked(&v).join("\n");
        assert_russian_with_the_report_intact("slack", &shown);
        for needle in ["*Проект*", "*Задача*", "*Категория*", "*Ветка*"] {
            assert!(shown.contains(needle), "{needle} missing:\n{shown}");
        }
        let blocks = v["blocks"].as_array().unwrap();
        assert_eq!(
            blocks.last().unwrap()["elements"][0]["text"]["text"],
            "Открыть пайплайн"
        );
        let fallback = visible_mrkdwn(v["text"].as_str().unwrap()).unwrap();
        assert!(
            fallback.starts_with("Пайплайн упал: команда/платежи #1291 (main @ bd7315127a): сборка [build] — Сборка упала"),
            "{fallback}"
        );
        // Escaped as ever: the log's markup is text, not Slack syntax.
        let raw = v.to_string();
        assert!(
            raw.contains("&lt;script&gt;&amp;amp;&lt;/script&gt;"),
            "{raw}"
        );
        assert!(!raw.contains(EXCERPT[0]));
    }

    #[test]
    fn a_russian_excerpt_is_cut_within_slacks_limits_at_whole_characters() {
        for lines in [30, 400] {
            let huge = cyrillic_huge(lines);
            let v = render(&huge, Language::Ru);
            let shown = slack_checked(&v).join("\n");
            assert_cut_whole_in_russian("slack", &shown, &huge);
        }
        // Whatever the count, the note fits in the room kept for it (a smaller count can take
        // a longer Russian word: `22 строки` against `25 строк`).
        for lines in 1..80 {
            let huge = cyrillic_huge(lines);
            for max in [400, 999, 1500] {
                let block = excerpt_block(&huge.jobs[0].excerpt, max, Language::Ru);
                assert!(u16(&block) <= max, "{lines} lines, {max}: {}", u16(&block));
            }
        }
    }

    #[test]
    fn a_russian_alert_says_what_to_do_in_russian() {
        let a = ConnectionAlert {
            reason: "провайдер отказался обновить токен <&>: Refresh token is invalid".into(),
            ..sample()
        };
        let v = render_alert(&a, Language::Ru);
        let shown = slack_checked(&v).join("\n");
        for needle in [
            "⚠️ Подключение cloud (gitflic) требует переподключения",
            "*Начиная с*\n2025-11-26 06:53 UTC",
            "*Причина*\nпровайдер отказался обновить токен <&>: Refresh token is invalid",
            "*Что делать*",
            "Чтобы переподключить, откройте https://exlogare.example/api/integrations/gitflic/oauth/start/cloud",
            "`?admin_token=<admin token>`",
            "`exlogare-host parked`",
        ] {
            assert!(shown.contains(needle), "{needle} missing:\n{shown}");
        }
        for english in [
            "Connection",
            "Since",
            "Reason",
            "Reconnect",
            "What to do",
            "Until then",
        ] {
            assert!(!shown.contains(english), "{english} in:\n{shown}");
        }
        let blocks = v["blocks"].as_array().unwrap();
        assert_eq!(
            blocks.last().unwrap()["elements"][0]["text"]["text"],
            "Переподключить"
        );
    }
}
