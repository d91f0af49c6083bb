//! The console notifier: the message as plain text, for the `replay` demo and for debugging.
//! The same plain rendering is Matrix's `body` (for an alert: [`super::alert::render_plain`]).
//! Our words are in the route's [`Language`]; the frame line above each message is for whoever
//! reads the console (an operator), so it stays as it is.

use super::alert::ConnectionAlert;
use super::message::{FailureMessage, JobMessage};
use super::text::{excerpt_raw, fit, one_line};
use super::words::{self, Language};
use super::{Delivered, Notifier, NotifyError};
use std::io::Write;
use std::sync::Mutex;

/// Jobs shown in a plain rendering with a budget (Matrix's `body`); the rest are counted.
pub const MAX_JOBS: usize = 10;

pub struct ConsoleNotifier {
    name: String,
    out: Mutex<Box<dyn Write + Send>>,
}

impl ConsoleNotifier {
    pub fn new(name: &str, out: Box<dyn Write + Send>) -> ConsoleNotifier {
        ConsoleNotifier {
            name: name.to_owned(),
            out: Mutex::new(out),
        }
    }

    pub fn stdout(name: &str) -> ConsoleNotifier {
        ConsoleNotifier::new(name, Box::new(std::io::stdout()))
    }
}

impl Notifier for ConsoleNotifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "console"
    }

    fn send_in(
        &self,
        msg: &FailureMessage,
        language: Language,
        idempotency_key: &str,
    ) -> Result<Delivered, NotifyError> {
        self.write(&render_plain_in(msg, language, usize::MAX), idempotency_key)
    }

    fn send_alert_in(
        &self,
        alert: &ConnectionAlert,
        language: Language,
        idempotency_key: &str,
    ) -> Result<Delivered, NotifyError> {
        self.write(
            &super::alert::render_plain(alert, language),
            idempotency_key,
        )
    }
}

impl ConsoleNotifier {
    fn write(&self, rendered: &str, idempotency_key: &str) -> Result<Delivered, NotifyError> {
        let text = format!(
            "── {} (console) ─ key {} ──\n{rendered}\n",
            self.name,
            one_line(idempotency_key, 80)
        );
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        out.write_all(text.as_bytes())
            .and_then(|_| out.flush())
            .map_err(|e| NotifyError::Transient {
                notifier: self.name.clone(),
                kind: "console",
                status: None,
                message: format!("could not write: {e}"),
            })?;
        Ok(Delivered {
            notifier: self.name.clone(),
            kind: "console".into(),
            message_id: None,
        })
    }
}

/// The message as plain text in English, at most `budget` bytes, as `replay` and `reports`
/// print it.
pub fn render_plain(msg: &FailureMessage, budget: usize) -> String {
    render_plain_in(msg, Language::En, budget)
}

/// The message as plain text, our words in `l`, at most `budget` bytes (excerpts are cut, with
/// a note, to fit).
pub fn render_plain_in(msg: &FailureMessage, l: Language, budget: usize) -> String {
    let mut head = format!("❌ {}", one_line(&msg.headline(l), 400));
    if let Some(r) = msg.ref_line() {
        head.push_str(&format!("\n{}", one_line(&r, 300)));
    }
    head.push_str(&format!("\n{}", one_line(&msg.deep_link, 1000)));
    if let Some(note) = &msg.note {
        head.push_str(&format!("\n⚠ {}", one_line(note, 500)));
    }
    let max_jobs = if budget == usize::MAX {
        msg.jobs.len()
    } else {
        MAX_JOBS
    };
    let jobs = &msg.jobs[..msg.jobs.len().min(max_jobs)];
    let fixed: Vec<String> = jobs.iter().map(|j| job_fixed(j, l)).collect();
    let rest = msg.jobs.len() - jobs.len();
    let tail = if rest > 0 {
        format!("\n\n{}", words::more_jobs(l, rest))
    } else {
        String::new()
    };
    let fixed_len = head.len() + fixed.iter().map(|f| f.len() + 2).sum::<usize>() + tail.len();
    let with_excerpt = jobs.iter().filter(|j| !j.excerpt.is_empty()).count().max(1);
    let share = budget.saturating_sub(fixed_len) / with_excerpt;
    let mut out = head;
    for (job, f) in jobs.iter().zip(fixed) {
        out.push_str("\n\n");
        out.push_str(&f);
        if job.excerpt.is_empty() {
            continue;
        }
        let raw = excerpt_raw(&job.excerpt);
        let indent = |s: &str| format!("  {s}");
        let note = |n: usize| format!("\n  {}", words::more_lines(l, n));
        let note_cost = format!("\n  {}", words::longest_more_lines(l, raw.len())).len();
        let fitted = fit(&raw, share, &indent, &str::len, note_cost);
        for l in &fitted.lines {
            out.push('\n');
            out.push_str(l);
        }
        if fitted.more > 0 {
            out.push_str(&note(fitted.more));
        }
    }
    out.push_str(&tail);
    out
}

fn job_fixed(job: &JobMessage, l: Language) -> String {
    let w = l.words();
    let mut o = format!("{} — {}", one_line(&job.title(), 200), job.verdict(l));
    if let Some(step) = &job.failing_step {
        o.push_str(&format!("\n{}: {}", w.step, one_line(step, 200)));
    }
    if !job.summary.is_empty() {
        o.push_str(&format!("\n{}", one_line(&job.summary, 600)));
    }
    if let Some(why) = &job.log_unavailable {
        o.push_str(&format!("\n⚠ {} {}", w.log_unavailable, one_line(why, 300)));
    }
    if let Some(mode) = job.comparison_line(l) {
        o.push_str(&format!("\n{}", one_line(&mode, 200)));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::tests::sample;
    use crate::words::tests::{
        assert_cut_whole_in_russian, assert_russian_with_the_report_intact, cyrillic_huge,
        cyrillic_message,
    };
    use std::sync::Arc;

    /// A writer the test reads back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_russian_route_prints_our_words_in_russian_and_the_report_as_it_was() {
        let out = Shared::default();
        let n = ConsoleNotifier::new("console", Box::new(out.clone()));
        n.send_in(&cyrillic_message(), Language::Ru, "delivery-1#console")
            .unwrap();
        n.send_alert_in(&sample(), Language::Ru, "connection-alert-1#console")
            .unwrap();
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_russian_with_the_report_intact("console", &text);
        for needle in [
            "Шаг: cargo build --locked",
            "⚠️ Подключение cloud (gitflic) требует переподключения",
            "Начиная с 2025-11-26 06:53 UTC",
            "Чтобы переподключить, откройте https://exlogare.example/",
        ] {
            assert!(text.contains(needle), "{needle} missing:\n{text}");
        }
        for english in ["Since", "Reason", "Reconnect", "Until then"] {
            assert!(!text.contains(english), "{english} in:\n{text}");
        }
        // English stays what `replay` and `reports` print.
        let english = render_plain(&cyrillic_message(), usize::MAX);
        assert!(
            english.starts_with("❌ CI failed: команда/платежи #1291")
                && english.contains("compilation, 90% confidence")
                && english.contains("compared with the last green run #1290 on main"),
            "{english}"
        );
    }

    #[test]
    fn a_russian_excerpt_is_cut_to_the_byte_budget_at_whole_characters() {
        let huge = cyrillic_huge(400);
        let text = render_plain_in(&huge, Language::Ru, 8 * 1024);
        assert!(text.len() <= 8 * 1024, "{}", text.len());
        assert_cut_whole_in_russian("console", &text, &huge);
        for lines in 1..80 {
            let huge = cyrillic_huge(lines);
            for budget in [1500, 2500, 4000] {
                let text = render_plain_in(&huge, Language::Ru, budget);
                assert!(
                    text.len() <= budget,
                    "{lines} lines, {budget}: {}",
                    text.len()
                );
            }
        }
    }
}
