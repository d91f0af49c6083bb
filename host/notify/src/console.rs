//! The console notifier: the message as plain text, for the `replay` demo and for debugging.
//! The same plain rendering is Matrix's `body` (for an alert: [`super::alert::render_plain`]).

use super::alert::ConnectionAlert;
use super::message::{FailureMessage, JobMessage};
use super::text::{excerpt_raw, fit, more_lines, one_line};
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

    fn send(&self, msg: &FailureMessage, idempotency_key: &str) -> Result<Delivered, NotifyError> {
        self.write(&render_plain(msg, usize::MAX), idempotency_key)
    }

    fn send_alert(
        &self,
        alert: &ConnectionAlert,
        idempotency_key: &str,
    ) -> Result<Delivered, NotifyError> {
        self.write(&super::alert::render_plain(alert), idempotency_key)
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

/// The message as plain text, at most `budget` bytes (excerpts are cut, with a note, to fit).
pub fn render_plain(msg: &FailureMessage, budget: usize) -> String {
    let mut head = format!("❌ {}", one_line(&msg.headline(), 400));
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
    let fixed: Vec<String> = jobs.iter().map(job_fixed).collect();
    let rest = msg.jobs.len() - jobs.len();
    let tail = if rest > 0 {
        format!(
            "\n\n… and {rest} more failed job{}",
            if rest == 1 { "" } else { "s" }
        )
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
        let note = |n: usize| format!("\n  {}", more_lines(n));
        let fitted = fit(&raw, share, &indent, &str::len, note(raw.len()).len());
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

fn job_fixed(job: &JobMessage) -> String {
    let mut o = format!("{} — {}", one_line(&job.title(), 200), job.verdict());
    if let Some(step) = &job.failing_step {
        o.push_str(&format!("\nStep: {}", one_line(step, 200)));
    }
    if !job.summary.is_empty() {
        o.push_str(&format!("\n{}", one_line(&job.summary, 600)));
    }
    if let Some(why) = &job.log_unavailable {
        o.push_str(&format!("\n⚠ Log unavailable: {}", one_line(why, 300)));
    }
    if let Some(mode) = &job.comparison {
        o.push_str(&format!("\n{}", one_line(mode, 200)));
    }
    o
}
