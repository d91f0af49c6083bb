//! Telegram: Bot API `sendMessage`, `parse_mode: HTML`.
//!
//! Telegram's limit is 4096 characters of message text *after entity parsing*, counted in
//! UTF-16 code units: tags do not count, `&lt;` counts as one. The renderer tracks exactly that
//! visible length as it builds the HTML and stays under [`TEXT_BUDGET`], a margin below the limit.
//! Only `&`, `<`, `>` (and `"` in attributes) need escaping in Telegram HTML; the excerpt goes
//! in `<pre>`, the pipeline link in `<a href>`.
//!
//! A [`ConnectionAlert`] ([`render_alert`]) is bounded by construction (every part is cut) and
//! checked against the same budget.
//!
//! Our words are in the route's [`Language`]; they are counted like any other visible text, so
//! the budget holds in either language.

use super::alert::{self, Advice, ConnectionAlert};
use super::http::Http;
use super::message::{FailureMessage, JobMessage};
use super::text::{excerpt_raw, fit, html, one_line, utf16_len};
use super::words::{self, Language};
use super::{Delivered, Notifier, NotifyError};
use serde_json::{Value, json};
use std::time::Duration;

pub const DEFAULT_API_BASE: &str = "https://api.telegram.org";
/// Telegram's limit on a message's text (UTF-16 code units after entity parsing).
pub const TEXT_LIMIT: usize = 4096;
/// What the renderer allows itself: a margin for any difference in how Telegram counts.
pub const TEXT_BUDGET: usize = 4000;
/// Jobs shown in one message; the rest are counted in a note.
pub const MAX_JOBS: usize = 5;

pub struct TelegramNotifier {
    send_url: String,
    chat_id: Value,
    http: Http,
}

impl TelegramNotifier {
    /// `chat_id`: a number, or `@channelusername` as a string. The token never appears in errors.
    pub fn new(
        name: &str,
        api_base: &str,
        bot_token: &str,
        chat_id: Value,
        timeout: Duration,
    ) -> Result<TelegramNotifier, String> {
        super::http::check_url(api_base, "api_base")?;
        if bot_token.is_empty() || bot_token.contains(['/', '?', '#', ' ']) {
            return Err("the bot token is not a Telegram token (empty, or contains `/`, `?`, `#` or a space)".into());
        }
        match &chat_id {
            Value::Number(n) if n.is_i64() => {}
            Value::String(s) if !s.is_empty() => {}
            _ => {
                return Err(
                    "chat_id must be a number or a non-empty string (`@channelusername`)".into(),
                );
            }
        }
        let send_url = format!(
            "{}/bot{bot_token}/sendMessage",
            api_base.trim_end_matches('/')
        );
        let http = Http::new(
            name,
            "telegram",
            timeout,
            vec![bot_token.to_owned(), send_url.clone()],
        )?;
        Ok(TelegramNotifier {
            send_url,
            chat_id,
            http,
        })
    }
}

impl Notifier for TelegramNotifier {
    fn name(&self) -> &str {
        &self.http.notifier
    }

    fn kind(&self) -> &'static str {
        "telegram"
    }

    fn send_in(
        &self,
        msg: &FailureMessage,
        language: Language,
        _idempotency_key: &str,
    ) -> Result<Delivered, NotifyError> {
        self.post(render(msg, language))
    }

    fn send_alert_in(
        &self,
        alert: &ConnectionAlert,
        language: Language,
        _idempotency_key: &str,
    ) -> Result<Delivered, NotifyError> {
        self.post(render_alert(alert, language))
    }
}

impl TelegramNotifier {
    fn post(&self, text: String) -> Result<Delivered, NotifyError> {
        let body = json!({
            "chat_id": self.chat_id,
            "text": text,
            "parse_mode": "HTML",
            "disable_web_page_preview": true,
        });
        let answer = self
            .http
            .exchange(self.http.client().post(&self.send_url), &body)?;
        // {"ok":false,"error_code":429,"description":"Too Many Requests: retry after 5","parameters":{"retry_after":5}}
        let parsed: Option<Value> = serde_json::from_slice(&answer.body).ok();
        let detail = parsed
            .as_ref()
            .and_then(|v| v["description"].as_str())
            .map(|d| one_line(d, 300));
        let wait = parsed
            .as_ref()
            .and_then(|v| v["parameters"]["retry_after"].as_u64())
            .map(Duration::from_secs);
        let migrated = parsed
            .as_ref()
            .and_then(|v| v["parameters"]["migrate_to_chat_id"].as_i64());
        let answer = match self.http.check(answer, detail.clone(), wait) {
            Err(NotifyError::Permanent {
                status, message, ..
            }) if migrated.is_some() => {
                let to = migrated.unwrap_or_default();
                return Err(self.http.permanent(
                    status,
                    format!("{message}; the group became a supergroup: set chat_id = {to}"),
                ));
            }
            other => other?,
        };
        let parsed = parsed
            .filter(|v| v["ok"] == Value::Bool(true))
            .ok_or_else(|| {
                self.http.permanent(
                    Some(answer.status),
                    format!(
                        "the answer is not `ok`: {}",
                        detail.unwrap_or_else(|| super::http::snippet(&answer.body))
                    ),
                )
            })?;
        let id = parsed["result"]["message_id"]
            .as_i64()
            .map(|n| n.to_string());
        Ok(Delivered {
            notifier: self.http.notifier.clone(),
            kind: "telegram".into(),
            message_id: id,
        })
    }
}

/// The alert's text (HTML), our words in `l`: at most [`TEXT_BUDGET`] visible units, far
/// less in practice.
pub fn render_alert(a: &ConnectionAlert, l: Language) -> String {
    let w = l.words();
    let mut o = Out::default();
    o.tag("<b>")
        .text(&format!("⚠️ {}", a.headline(l)))
        .tag("</b>");
    o.text(&format!("\n{}: ", one_line(&a.provider, 50)))
        .text(&a.instance());
    o.text(&format!("\n{} {}", w.since, a.since(l)));
    o.text("\n")
        .tag("<i>")
        .text(&format!("{}:", w.reason))
        .tag("</i>")
        .text(" ")
        .text(&a.reason_text(l));
    o.text("\n\n");
    // The notes' literal parts in <code>; what counts is their text without the tags.
    let note = |o: &mut Out, sentence: alert::Sentence| {
        o.html
            .push_str(&sentence(l, &|s| format!("<code>{}</code>", html(s))));
        o.visible += utf16_len(&sentence(l, &|s| s.to_owned()));
    };
    match (a.other_remedy(), a.advice(), &a.reconnect_url) {
        (Some(remedy), _, _) => note(&mut o, remedy),
        (None, Advice::ReplaceStaticToken, _) | (None, _, None) => note(&mut o, words::static_note),
        (None, advice, Some(url)) => {
            o.text(&format!("{} ", w.reconnect));
            match a.link().filter(|u| u.len() <= 2000) {
                Some(u) => o
                    .tag(&format!("<a href=\"{}\">", html(u)))
                    .text(&one_line(u, 300))
                    .tag("</a>"),
                None => o.text(&one_line(url, 300)),
            };
            if advice == Advice::ReconnectWithAdminToken {
                o.text("\n");
                note(&mut o, words::admin_note);
            }
        }
    }
    o.text("\n");
    note(&mut o, a.meanwhile());
    debug_assert!(o.visible <= TEXT_BUDGET);
    o.html
}

/// HTML with its visible length (what Telegram counts) tracked as it grows.
#[derive(Default, Clone)]
struct Out {
    html: String,
    visible: usize,
}

impl Out {
    fn text(&mut self, s: &str) -> &mut Self {
        self.html.push_str(&html(s));
        self.visible += utf16_len(s);
        self
    }
    fn tag(&mut self, t: &str) -> &mut Self {
        self.html.push_str(t);
        self
    }
    fn append(&mut self, o: &Out) {
        self.html.push_str(&o.html);
        self.visible += o.visible;
    }
}

/// The message text (HTML), our words in `l`, at most [`TEXT_BUDGET`] visible UTF-16 units.
pub fn render(msg: &FailureMessage, l: Language) -> String {
    render_within(msg, l, TEXT_BUDGET)
}

pub(crate) fn render_within(msg: &FailureMessage, l: Language, budget: usize) -> String {
    let mut head = Out::default();
    head.tag("<b>")
        .text(&format!("❌ {}", one_line(&msg.headline(l), 400)))
        .tag("</b>");
    if let Some(r) = msg.ref_line() {
        head.text("\n").text(&one_line(&r, 300));
    }
    head.text("\n");
    match msg.link() {
        Some(url) => head
            .tag(&format!("<a href=\"{}\">", html(url)))
            .text(l.words().open_pipeline)
            .tag("</a>"),
        None => head.text(&one_line(&msg.deep_link, 300)),
    };
    if let Some(note) = &msg.note {
        head.text("\n⚠ ")
            .tag("<i>")
            .text(&one_line(note, 500))
            .tag("</i>");
    }
    // As many jobs as fit without their excerpts, then the excerpts share what is left.
    let fixed: Vec<Out> = msg
        .jobs
        .iter()
        .take(MAX_JOBS)
        .map(|j| job_fixed(j, l))
        .collect();
    let mut shown = fixed.len();
    let rest_note = |shown: usize| {
        let rest = msg.jobs.len() - shown;
        (rest > 0).then(|| format!("\n\n{}", words::more_jobs(l, rest)))
    };
    let fixed_cost = |shown: usize| {
        head.visible
            + fixed[..shown].iter().map(|f| f.visible + 2).sum::<usize>()
            + rest_note(shown).map_or(0, |n| utf16_len(&n))
    };
    while shown > 1 && fixed_cost(shown) > budget {
        shown -= 1;
    }
    let mut out = head.clone();
    let mut left = budget.saturating_sub(fixed_cost(shown));
    let mut with_excerpt = msg.jobs[..shown]
        .iter()
        .filter(|j| !j.excerpt.is_empty())
        .count();
    for (job, f) in msg.jobs[..shown].iter().zip(&fixed) {
        out.text("\n\n");
        out.append(f);
        if job.excerpt.is_empty() {
            continue;
        }
        let share = left / with_excerpt.max(1);
        with_excerpt -= 1;
        let ex = excerpt(&job.excerpt, share, l);
        left = left.saturating_sub(ex.visible);
        out.append(&ex);
    }
    if let Some(n) = rest_note(shown) {
        out.text(&n);
    }
    out.html
}

fn job_fixed(job: &JobMessage, l: Language) -> Out {
    let w = l.words();
    let mut o = Out::default();
    o.tag("<b>")
        .text(&one_line(&job.title(), 200))
        .tag("</b>")
        .text(" — ")
        .text(&job.verdict(l));
    if let Some(step) = &job.failing_step {
        o.text(&format!("\n{}: ", w.step))
            .tag("<code>")
            .text(&one_line(step, 200))
            .tag("</code>");
    }
    if !job.summary.is_empty() {
        o.text("\n").text(&one_line(&job.summary, 600));
    }
    if let Some(why) = &job.log_unavailable {
        o.text("\n⚠️ ")
            .tag("<i>")
            .text(w.log_unavailable)
            .tag("</i>")
            .text(" ")
            .text(&one_line(why, 300));
    }
    if let Some(mode) = job.comparison_line(l) {
        o.text("\n")
            .tag("<i>")
            .text(&one_line(&mode, 200))
            .tag("</i>");
    }
    o
}

/// `\n<pre>lines</pre>` and `\n<i>… N more lines</i>` when cut, within `budget` visible units.
fn excerpt(lines: &[(u64, String)], budget: usize, l: Language) -> Out {
    let raw = excerpt_raw(lines);
    let note_cost = 1 + utf16_len(&words::longest_more_lines(l, raw.len()));
    let id = |s: &str| s.to_owned();
    let fitted = fit(&raw, budget.saturating_sub(1), &id, &utf16_len, note_cost);
    let mut o = Out::default();
    if fitted.lines.is_empty() && budget < note_cost {
        return o;
    }
    if !fitted.lines.is_empty() {
        o.text("\n")
            .tag("<pre>")
            .text(&fitted.lines.join("\n"))
            .tag("</pre>");
    }
    if fitted.more > 0 {
        o.text("\n")
            .tag("<i>")
            .text(&words::more_lines(l, fitted.more))
            .tag("</i>");
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::tests::{TG_TAGS, sample, u16, visible_html};
    use crate::words::tests::{
        assert_cut_whole_in_russian, assert_russian_with_the_report_intact, cyrillic_huge,
        cyrillic_message,
    };

    #[test]
    fn a_russian_route_gets_our_words_in_russian_and_the_report_as_it_was() {
        let html = render(&cyrillic_message(), Language::Ru);
        let shown = visible_html(&html, TG_TAGS, &[]).unwrap_or_else(|e| panic!("{e}: {html}"));
        assert_russian_with_the_report_intact("telegram", &shown);
        assert!(shown.contains("Открыть пайплайн"), "{shown}");
        assert!(
            html.contains("&lt;script&gt;&amp;amp;&lt;/script&gt;") && !html.contains("<script>"),
            "{html}"
        );
    }

    #[test]
    fn a_russian_excerpt_is_cut_within_telegrams_limit_at_whole_characters() {
        for lines in [30, 400] {
            let huge = cyrillic_huge(lines);
            let html = render(&huge, Language::Ru);
            let shown = visible_html(&html, TG_TAGS, &[]).unwrap();
            assert!(u16(&shown) <= TEXT_BUDGET, "{}", u16(&shown));
            assert_cut_whole_in_russian("telegram", &shown, &huge);
        }
        // The room kept for the note holds whichever note the cut writes.
        for lines in 1..80 {
            let huge = cyrillic_huge(lines);
            for budget in [600, 1234, 2000] {
                let shown = visible_html(&render_within(&huge, Language::Ru, budget), TG_TAGS, &[])
                    .unwrap();
                assert!(
                    u16(&shown) <= budget,
                    "{lines} lines, {budget}: {}",
                    u16(&shown)
                );
            }
        }
    }

    #[test]
    fn many_jobs_are_counted_in_russian() {
        let mut m = cyrillic_message();
        m.jobs = (0..MAX_JOBS + 2).map(|_| m.jobs[0].clone()).collect();
        let shown = visible_html(&render(&m, Language::Ru), TG_TAGS, &[]).unwrap();
        assert!(shown.ends_with("… и ещё 2 упавшие задачи"), "{shown}");
    }

    #[test]
    fn a_russian_alert_says_what_to_do_in_russian() {
        let html = render_alert(&sample(), Language::Ru);
        let shown = visible_html(&html, TG_TAGS, &[]).unwrap_or_else(|e| panic!("{e}: {html}"));
        for needle in [
            "⚠️ Подключение cloud (gitflic) требует переподключения",
            "Начиная с 2025-11-26 06:53 UTC",
            "Причина: the provider refused to refresh the token",
            "Переподключить: https://exlogare.example/api/integrations/gitflic/oauth/start/cloud",
            "Ссылка ведёт на админский эндпоинт: добавьте к ней ?admin_token=<admin token>",
            "До тех пор падения его пайплайнов не анализируются",
        ] {
            assert!(shown.contains(needle), "{needle} missing:\n{shown}");
        }
        for english in ["Connection", "Since", "Reason", "Reconnect", "Until then"] {
            assert!(!shown.contains(english), "{english} in:\n{shown}");
        }
    }
}
