//! Provider-agnostic root-cause analysis of one CI job log.
//!
//! The input is a job log of any CI system (GitLab, GitHub Actions, Jenkins, Travis, GitFlic),
//! one rendered line at a time (see `exlogare-logtext`), plus the CI step boundaries when the
//! provider knows them. The output is a [`Report`]: the decisive excerpt (the first lines that
//! explain the failure, as line ranges into the original log), a category from a small
//! taxonomy, a summary, a signature for grouping recurring failures, and a confidence.
//!
//! # How the failure is located
//! Build logs share a structure, and the analysis follows it rather than any project's wording:
//! 1. **Commands.** A log is a sequence of commands: `$ cmd` echoes (Travis, GitLab), GitHub
//!    `Run …` groups, Jenkins `[workspace] $ …` and Maven/Gradle task headers. The command that
//!    failed is named by the CI system (Travis `The command "…" exited with 1.`, GitHub
//!    `##[error]Process completed with exit code 1.`, Jenkins `script returned exit code`,
//!    GitLab `ERROR: Job failed`), or else is the last command before the failure trailer.
//!    Everything after it (after_script, cache upload, cleanup) is boilerplate.
//! 2. **First cause, not the cascade.** Inside that command, each line is classified by
//!    [`rules`] (compiler diagnostics, test-runner failures, exceptions, package-manager,
//!    network, timeout, resource errors...). Summaries that repeat an earlier failure (`make:
//!    *** Error 2`, `npm ERR!`, `[ERROR] Failed to execute goal`, exit-code lines) rank below
//!    the message they repeat, and the earliest line of the strongest kind wins.
//! 3. **A readable window.** The excerpt starts a few lines before that line (test name,
//!    command) and runs to the end of its block (blank lines, the next command, a cascade
//!    line), at most [`MAX_EXCERPT_LINES`] lines.
//!    When nothing matches, the last lines of the failed command are shown, and the report says
//!    it could not locate the failure.
//!
//! # Bounded memory
//! Nothing holds the whole log. Per command the analyzer keeps: the first [`HEAD_LINES`] lines,
//! a ring of the last [`TAIL_LINES`], and at most [`MAX_CANDIDATES`] candidate windows of at
//! most `PRE_LINES + 1 + AFTER_LINES` lines (each line truncated to [`MAX_LINE_BYTES`]), and the
//! last three sub-commands of a command. Memory is thus a constant times the line cap,
//! whatever the log size.

pub mod baseline;
pub mod cli;
pub mod model;
pub mod redact;
pub mod rules;

pub use baseline::Fingerprint;
pub use redact::redact;
pub use rules::Category;

use exlogare_logtext::{Edge, Normalizer};
use regex::Regex;
use rules::{Kind, RULES, RuleSet, Verdict};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use std::io::Read;
use std::sync::OnceLock;

/// Longest line kept (bytes); longer lines are cut, which bounds memory.
pub const MAX_LINE_BYTES: usize = 2048;
/// Largest excerpt returned. Readers (and models) want the first lines that explain, not pages.
pub const MAX_EXCERPT_LINES: usize = 25;
pub const HEAD_LINES: usize = 30;
pub const TAIL_LINES: usize = 30;
pub const MAX_CANDIDATES: usize = 8;
pub const MAX_SEGMENTS: usize = 6;
const PRE_LINES: usize = 16;
/// Lines shown above a summary line.
const BACK_LINES: usize = 16;
const AFTER_LINES: usize = 30;
/// Lines shown before the decisive line: a failed test's name, the file:line of a stack trace
/// or the command usually sits right above the message, possibly across a blank line.
const LEAD_LINES: usize = 6;
/// Lines given to other failure evidence besides the main excerpt (two lines each).
const SECONDARY_LINES: usize = 6;
/// A run of this many blank lines ends the decisive block.
const BLANK_STOP: usize = 3;
/// Weight of a rule that knows a tool's format (a diagnostic, a failed test, a crash), as
/// opposed to generic failure words.
const STRONG: u8 = 4;
/// Lines kept of the first run of lines new against the green run, per command.
const NEW_BLOCK_LINES: usize = 15;

/// What the CI system knows about the job.
#[derive(Debug, Clone, Default)]
pub struct JobMeta {
    pub job_name: Option<String>,
    pub stage: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LineRange {
    pub start_line: u64,
    pub end_line: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Line ranges (1-based, inclusive, the raw log split on `\n`).
    pub excerpt: Vec<LineRange>,
    /// The excerpt's lines, redacted.
    pub excerpt_lines: Vec<(u64, String)>,
    pub category: Category,
    /// Which rule decided the category, for auditing.
    pub category_rule: String,
    pub summary: String,
    /// 16 hex chars: hash of the decisive lines with volatile parts masked.
    pub signature: String,
    pub failing_step: Option<String>,
    /// Exit code the CI system reported for the failing command, when it did.
    pub exit_code: Option<i32>,
    /// 0.0 to 1.0: how sure the analysis is that the excerpt shows the cause.
    pub confidence: f32,
    /// False when no failure evidence was found; the excerpt is then the log's tail.
    pub located: bool,
    /// The line that decided the excerpt, if one did.
    pub decisive_line: Option<u64>,
    pub lines_seen: u64,
    pub job_name: Option<String>,
    pub stage: Option<String>,
    /// The optional model step's explanation (see [`model`]); absent unless configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_explanation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Why the configured model step gave nothing; the deterministic report stands.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_error: Option<String>,
    /// How the log was compared with the job's last green run; absent when there was none
    /// (the analysis then works on the failing log alone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comparison: Option<Comparison>,
}

/// What the comparison with the last green run did (see [`baseline`]).
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// Non-blank lines of the green log that were fingerprinted.
    pub green_lines: u64,
    /// Failure-looking lines of this log that the green run also printed, and so were not
    /// taken as the cause.
    pub demoted: u64,
    /// Lines of this log that the green run did not print.
    pub new_lines: u64,
    /// What the comparison decided: `new_failure_line` (the decisive line is one the green run
    /// did not print), `first_new_lines` (no new line matched a rule; the excerpt is the failed
    /// command's first new lines), or `nothing_new` (the failed command printed nothing the
    /// green run did not, so the comparison cannot tell and the log was analysed alone).
    pub outcome: &'static str,
}

type NumLine = (u64, String);

/// Fixed-capacity ring of lines that reuses its strings (one allocation per slot, not per line).
#[derive(Debug)]
struct Ring {
    lines: VecDeque<NumLine>,
    /// The strings of cleared slots, reused before any new one is allocated: the ring of lines
    /// before a failure is cleared at every command.
    spare: Vec<String>,
    cap: usize,
}

/// A new slot's capacity: most log lines fit, so a slot is rarely grown later.
const SLOT_BYTES: usize = 128;

impl Ring {
    fn new(cap: usize) -> Self {
        Ring {
            lines: VecDeque::with_capacity(cap),
            spare: Vec::new(),
            cap,
        }
    }
    fn push(&mut self, n: u64, text: &str) {
        let mut slot = if self.lines.len() == self.cap {
            self.lines.pop_front().expect("ring is full").1
        } else {
            self.spare
                .pop()
                .unwrap_or_else(|| String::with_capacity(SLOT_BYTES))
        };
        slot.clear();
        slot.push_str(text);
        self.lines.push_back((n, slot));
    }
    fn clear(&mut self) {
        self.spare.extend(self.lines.drain(..).map(|(_, s)| s));
    }
}

#[derive(Debug, Clone)]
struct Candidate {
    verdict: Verdict,
    anchor: u64,
    /// Consecutive lines: up to PRE_LINES before the anchor, the anchor, then what follows.
    lines: Vec<NumLine>,
    anchor_idx: usize,
    open: bool,
    /// Printed inside a CI setup section (worker and system info, package setup, checkout):
    /// such lines explain a failure only when the job failed right there.
    setup: bool,
}

/// A stretch of one command's output that starts with a (sub-)command line.
#[derive(Debug, Default)]
struct Segment {
    start_line: u64,
    name: Option<String>,
    head: Vec<NumLine>,
    n_lines: u64,
    last_line: u64,
    candidates: Vec<Candidate>,
}

impl Segment {
    fn new(start_line: u64, name: Option<String>) -> Self {
        Segment {
            start_line,
            name,
            last_line: start_line.saturating_sub(1),
            ..Default::default()
        }
    }
    fn best_weight(&self) -> u8 {
        self.candidates
            .iter()
            .filter(|c| c.verdict.kind != Kind::Cascade)
            .map(|c| c.verdict.weight)
            .max()
            .unwrap_or(0)
    }
}

/// One command (or CI step) and its output.
#[derive(Debug)]
struct Command {
    /// The last few sub-commands; older ones are dropped (bounded memory).
    segments: VecDeque<Segment>,
    /// The most recent sub-command dropped from `segments` that held failure lines.
    evicted: Option<Segment>,
    /// The first sub-command dropped from `segments` that held the strongest failure lines so
    /// far: when a script goes on after a failure and the same failure repeats, the first one
    /// is the cause.
    first_evicted: Option<Segment>,
    tail: Ring,
    exit_code: Option<i32>,
    /// Name given by the CI system when the command ended (Travis `The command "…"`).
    exit_name: Option<String>,
    /// Innermost CI section/group open while the command ran.
    section: Option<String>,
    /// Commands of after-failure/cleanup sections cannot be the failed one.
    post: bool,
    end_line: u64,
    /// The first lines new against the green run (at most NEW_BLOCK_LINES), shown when no
    /// rule finds the failure.
    new_block: Vec<NumLine>,
}

impl Command {
    fn new(start_line: u64, name: Option<String>, section: Option<String>, post: bool) -> Self {
        let mut segments = VecDeque::new();
        segments.push_back(Segment::new(start_line, name));
        Command {
            segments,
            evicted: None,
            first_evicted: None,
            tail: Ring::new(TAIL_LINES),
            exit_code: None,
            exit_name: None,
            section,
            post,
            end_line: 0,
            new_block: Vec::new(),
        }
    }
    fn new_segment(&mut self, start_line: u64, name: Option<String>) {
        if self.segments.len() == MAX_SEGMENTS {
            let old = self.segments.pop_front().expect("segments are full");
            // Keep the latest dropped segment that showed a failure: a long script may print
            // many sub-commands after the one that failed.
            if old.best_weight() > 0 {
                // The earliest of the strongest: a weak line (a word in a version check) must
                // not hold the slot that the first real failure needs.
                if self
                    .first_evicted
                    .as_ref()
                    .is_none_or(|f| f.best_weight() < old.best_weight())
                {
                    self.first_evicted = Some(old);
                } else {
                    self.evicted = Some(old);
                }
            }
        }
        self.segments.push_back(Segment::new(start_line, name));
    }
    fn has_content(&self) -> bool {
        self.segments.iter().any(|s| s.n_lines > 0)
    }
    fn has_evidence(&self) -> bool {
        self.evicted.is_some()
            || self.first_evicted.is_some()
            || self.segments.iter().any(|s| !s.candidates.is_empty())
    }
    fn name(&self) -> Option<String> {
        self.exit_name
            .clone()
            .or_else(|| self.segments.iter().rev().find_map(|s| s.name.clone()))
    }
}

struct Patterns {
    travis_exit: Regex,
    command_echo: Regex,
    post_section: Regex,
    after_failure: Regex,
    setup_section: Regex,
    job_failed: Regex,
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| Patterns {
        travis_exit: Regex::new(r#"^(?:The command "(.*))?" (?:failed and )?exited with (-?\d+)"#).expect("regex"),
        // Shell echo of a command: Travis/GitLab `$ cmd`, Jenkins `[ws] $ cmd`, GitHub
        // `Run cmd` (when groups were lost), Maven plugin and Gradle task headers.
        command_echo: Regex::new(
            r"^(?:\$ (\S.*)|\[[\w.@ -]+\] \$ (\S.*)|\[INFO\] --- (\S+ .*) ---\s*$|> Task (:\S+)|\[Pipeline\] (sh|bat|powershell)\s*$)",
        )
        .expect("regex"),
        post_section: Regex::new(
            r"(?i)^(?:after_(script|failure)|upload_artifacts|archive_cache|cleanup|post |post-|complete job|cache\.|cache$|store build cache|deploy|notifications?)",
        )
        .expect("regex"),
        // Sections in which CI systems describe the machine and prepare the job.
        setup_section: Regex::new(
            r"(?i)^(worker_info|system_info|docker_mtu|resolvconf|services|apt|hosts\.\w+|git\.(checkout|submodule)|set up job|prepare_executor|prepare_script|resolve_secrets|get_sources|restore_cache|download_artifacts)$",
        )
        .expect("regex"),
        after_failure: Regex::new(r"(?i)^(after_failure|on_failure|fail|failures?|upload_artifacts_on_failure)$").expect("regex"),
        job_failed: Regex::new(
            r"^(?:##\[error\]Process completed with exit code (\d+)|ERROR: Job failed(?:: exit code (\d+))?|ERROR: script returned exit code (\d+)|Build step '.*' marked build as failure|Finished: (?:FAILURE|ABORTED)|Error: Process completed with exit code (\d+))",
        )
        .expect("regex"),
    })
}

/// Whether a line can be a command echo (`Patterns::command_echo`), by the literal text each of
/// its forms needs: task runners' `[12:34:56] msg` lines start with `[` as Jenkins' `[ws] $ cmd`
/// does, and are too common for the regex (and its captures) to run on each.
fn may_echo_command(t: &str) -> bool {
    let b = t.as_bytes();
    match b.first() {
        Some(b'$') => true,
        Some(b'>') => t.starts_with("> Task "),
        // `[ws] $ cmd`: the workspace name holds no `]`, so the first `]` closes it.
        Some(b'[') => {
            t.starts_with("[INFO] --- ")
                || t.starts_with("[Pipeline] ")
                || memchr::memchr(b']', b).is_some_and(|i| b[i + 1..].starts_with(b" $ "))
        }
        _ => false,
    }
}

/// Removes a clock-time prefix (`[12:34:56]`, `12:34:56.789`) that task runners and loggers put
/// before their messages, so that rules anchored at the start of a message still apply.
fn strip_clock(t: &str) -> &str {
    let b = t.as_bytes();
    let off = usize::from(b.first() == Some(&b'['));
    // `HH:MM:SS` in full: a looser test took `10:15: Ошибка` for a clock and cut inside `О`.
    let digits = |at: &[usize]| {
        at.iter()
            .all(|&i| b.get(off + i).is_some_and(u8::is_ascii_digit))
    };
    let clock = digits(&[0, 1, 3, 4, 6, 7])
        && b.get(off + 2) == Some(&b':')
        && b.get(off + 5) == Some(&b':');
    if !clock {
        return t;
    }
    let mut i = off + 8;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.' || b[i] == b',') {
        i += 1;
    }
    if off == 1 {
        if b.get(i) != Some(&b']') {
            return t;
        }
        i += 1;
    }
    // Everything skipped is ASCII, so `i` is a char boundary; `get` keeps that a fact, not a hope.
    t.get(i..).map_or(t, str::trim_start)
}

/// The message of a line for the rules: without a clock-time prefix, nor the package prefix
/// that Stack (2.x) puts before each line of a package's build (`mypkg> src/A.hs:3:7: error:`).
fn message(t: &str) -> &str {
    let t = strip_clock(t);
    let b = t.as_bytes();
    // The prefix ends with `>` within its first 80 bytes; most lines have none there.
    if b.first().is_some_and(u8::is_ascii_alphabetic)
        && memchr::memchr(b'>', &b[..b.len().min(80)]).is_some()
    {
        let n = b
            .iter()
            .take(80)
            .position(|&c| !(c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.'));
        if let Some(n) = n
            && b[n] == b'>'
            && matches!(b.get(n + 1), Some(b' ') | None)
        {
            // ASCII up to `n + 1`, so a char boundary.
            return t.get(n + 1..).map_or(t, str::trim_start);
        }
    }
    t
}

/// Removes the timestamp that GitHub (and GitLab with timestamps on) put before every line.
fn strip_timestamp(t: &str) -> &str {
    let b = t.as_bytes();
    // The timestamp is ASCII up to its `Z`; the first space within 40 bytes ends it. Searching
    // bytes (not a `&str` cut at 40) keeps a non-breaking space or Cyrillic there harmless.
    if b.len() > 20
        && b[0].is_ascii_digit()
        && b[4] == b'-'
        && b[10] == b'T'
        && let Some(sp) = b[..b.len().min(40)].iter().position(|&c| c == b' ')
        && sp > 0
        && b[sp - 1] == b'Z'
    {
        let rest = &t[sp + 1..];
        // GitLab's stream marker after the timestamp: `00O ` / `01E+`.
        let rb = rest.as_bytes();
        if rb.len() >= 4
            && rb[0].is_ascii_digit()
            && rb[1].is_ascii_digit()
            && matches!(rb[2], b'O' | b'E')
        {
            let skip = if rb[3] == b'+' { 4 } else { 3 };
            return rest[skip..].strip_prefix(' ').unwrap_or(&rest[skip..]);
        }
        return rest;
    }
    t
}

/// Lines that belong to the CI system's own bookkeeping, never to the failure.
fn is_boilerplate(t: &str) -> bool {
    t.starts_with("travis_")
        || t.starts_with("Done. Your build exited with")
        || t.starts_with("The command \"")
        || t.starts_with("##[")
        || t.starts_with("section_")
        || t.starts_with("Cleaning up project directory")
        || t.starts_with("Uploading artifacts")
        || t.starts_with("ERROR: Job failed")
        || t.starts_with("[Pipeline] ")
        || t.starts_with("Finished: ")
}

fn is_blank(t: &str) -> bool {
    t.trim().is_empty()
}

pub struct Analyzer {
    meta: JobMeta,
    rules: &'static RuleSet,
    cur: Command,
    /// The first command that the CI system reported as failed, or that held the failure
    /// trailer.
    failed: Option<Command>,
    /// The last finished command of unknown status that showed failure evidence; the failed
    /// command when the CI system says only that the job failed (GitLab).
    last_suspect: Option<Command>,
    /// The next command reported as failed after `failed` (its failure may be the one that
    /// matters when the first was allowed to fail).
    failed_later: Option<Command>,
    /// The last strong failure line of the whole log, with its context.
    last_strong: Option<Candidate>,
    pre: Ring,
    sections: Vec<String>,
    /// Whether the innermost open section is CI setup (see [`Candidate::setup`]): known when
    /// a section opens or closes, not matched again for every line.
    setup: bool,
    post_depth: usize,
    after_failure: bool,
    /// Strong verdicts from anywhere (timeouts, cancellations, OOM kills are often printed by
    /// the CI system outside any command); the last few.
    global: VecDeque<(u64, Verdict)>,
    lines: u64,
    job_failed: bool,
    /// The job's last green run, when the caller has one.
    baseline: Option<Fingerprint>,
    demoted: u64,
    new_lines: u64,
    /// With a baseline, the same analysis without it, fed the same lines: its report stands
    /// when nothing new looks like a failure.
    plain: Option<Box<Analyzer>>,
}

impl Analyzer {
    pub fn new(meta: JobMeta) -> Self {
        Analyzer {
            meta,
            rules: rules::rules(),
            cur: Command::new(1, None, None, false),
            failed: None,
            last_suspect: None,
            failed_later: None,
            last_strong: None,
            pre: Ring::new(PRE_LINES),
            sections: Vec::new(),
            setup: false,
            post_depth: 0,
            after_failure: false,
            global: VecDeque::new(),
            lines: 0,
            job_failed: false,
            baseline: None,
            demoted: 0,
            new_lines: 0,
            plain: None,
        }
    }

    /// Compares with the job's last green run: a failure line that the green run also printed
    /// is not taken as the cause, and when no rule matches, the excerpt is the failed
    /// command's first lines that the green run did not print.
    /// When the failed command printed nothing new, the comparison cannot tell what failed:
    /// the report is then the one of the log alone (`outcome` says so).
    pub fn with_baseline(meta: JobMeta, green: Fingerprint) -> Self {
        let mut a = Analyzer::new(meta.clone());
        a.baseline = Some(green);
        a.plain = Some(Box::new(Analyzer::new(meta)));
        a
    }

    /// One normalized line (from logtext) with its 1-based number in the original log.
    pub fn push_line(&mut self, source_line: u64, text: &str) {
        // With a baseline, the analysis without it sees the same line: the rules classify it
        // once for both.
        let mut classified = None;
        if let Some(p) = self.plain.as_mut() {
            p.push_classified(source_line, text, &mut classified);
        }
        self.push_classified(source_line, text, &mut classified);
    }

    /// [`Analyzer::push_line`] without the analysis alone; `classified` holds the rules'
    /// verdict on the line's message once one of the two analyses has asked for it.
    fn push_classified(
        &mut self,
        source_line: u64,
        text: &str,
        classified: &mut Option<Option<Verdict>>,
    ) {
        self.lines = self.lines.max(source_line);
        let text = cut(text, MAX_LINE_BYTES);
        let t = strip_timestamp(text);
        let p = patterns();

        let first = t.as_bytes().first().copied().unwrap_or(0);
        // Cheap first-byte checks keep the structural regexes off ordinary lines.
        if let Some(c) = (matches!(first, b'T' | b'"') && t.contains("exited with"))
            .then(|| p.travis_exit.captures(t))
            .flatten()
        {
            let code: i32 = c[2].parse().unwrap_or(1);
            self.cur.exit_code = Some(code);
            if let Some(name) = c.get(1) {
                self.cur.exit_name = Some(name.as_str().to_owned());
            }
            self.end_command(source_line);
            self.pre.push(source_line, text);
            return;
        }
        if let Some(c) = matches!(first, b'#' | b'E' | b'B' | b'F')
            .then(|| p.job_failed.captures(t))
            .flatten()
        {
            let code = (1..=4)
                .find_map(|i| c.get(i))
                .and_then(|m| m.as_str().parse().ok());
            // The trailer itself may be the cause (`ERROR: Job failed (system failure): …`): a
            // job-level category makes it evidence of the command it closes.
            if let Some(v) = self
                .rules
                .classify(t)
                .filter(|v| v.category.is_some_and(is_job_level))
            {
                self.push_global(source_line, v);
                self.add_line(source_line, text, Some(v));
            }
            if !self.job_failed {
                self.job_failed = true;
                // The trailer closes the command running when it was printed, unless that is
                // an after-failure command, in which case the last suspect is the failed one.
                if self.failed.is_none() {
                    if !self.cur.post && (self.cur.has_evidence() || self.last_suspect.is_none()) {
                        self.cur.exit_code = code.or(Some(1));
                        self.end_command(source_line);
                    } else if let Some(mut s) = self.last_suspect.take() {
                        s.exit_code = code;
                        self.failed = Some(s);
                    }
                }
            }
            self.pre.push(source_line, text);
            return;
        }
        // Gradle's `> Task :x FAILED` closes the task whose output is above it (Gradle 4 prints
        // the header again with the outcome): not a new sub-command.
        let task_outcome = first == b'>' && t.trim_end().ends_with(" FAILED");
        if let Some(c) = (may_echo_command(t) && !task_outcome)
            .then(|| p.command_echo.captures(t))
            .flatten()
        {
            let name = (1..=5)
                .find_map(|i| c.get(i))
                .map(|m| m.as_str().trim().to_owned());
            let post = self.post_depth > 0 || self.after_failure;
            if self.cur.exit_code.is_some() || !self.cur.has_content() || self.cur.post != post {
                let fresh = Command::new(source_line, name, self.sections.last().cloned(), post);
                self.replace_current(fresh);
            } else {
                // A command inside a running one (yarn echoing `$ jest`, the next install
                // command of a phase that reports no exit codes): a new segment.
                self.cur.new_segment(source_line, name);
            }
        }

        let mut verdict = classified
            .get_or_insert_with(|| self.rules.classify(message(t)))
            .filter(|v| v.kind != Kind::Ignore);
        if let Some(green) = &self.baseline {
            match green.contains(t) {
                Some(true) if verdict.is_some() => {
                    // The green run printed it too, and passed: not the cause.
                    self.demoted += 1;
                    verdict = None;
                }
                Some(false) => {
                    self.new_lines += 1;
                    let block = &mut self.cur.new_block;
                    if !self.cur.post
                        && block.len() < NEW_BLOCK_LINES
                        && (!block.is_empty() || !is_boilerplate(t))
                    {
                        block.push((source_line, text.to_owned()));
                    }
                }
                _ => {
                    // A run of new lines goes on across old lines in between, up to the cap.
                    let block = &mut self.cur.new_block;
                    if !block.is_empty() && block.len() < NEW_BLOCK_LINES && !self.cur.post {
                        block.push((source_line, text.to_owned()));
                    }
                }
            }
        }
        if let Some(ls) = self.last_strong.as_mut().filter(|c| c.open) {
            ls.lines.push((source_line, text.to_owned()));
            ls.open = false;
        }
        if let Some(v) =
            verdict.filter(|v| v.kind != Kind::Cascade && v.weight >= 4 && !self.cur.post)
        {
            let mut lines = Vec::with_capacity(2);
            if let Some(prev) = self.pre.lines.back() {
                lines.push(prev.clone());
            }
            let anchor_idx = lines.len();
            lines.push((source_line, text.to_owned()));
            if !self.in_setup() {
                self.last_strong = Some(Candidate {
                    verdict: v,
                    anchor: source_line,
                    lines,
                    anchor_idx,
                    open: true,
                    setup: false,
                });
            }
        }
        self.add_line(source_line, text, verdict);
        if let Some(v) = verdict
            && v.weight >= 5
            && v.category.is_some()
        {
            self.push_global(source_line, v);
        }
        self.pre.push(source_line, text);
    }

    /// Lines currently held in memory (rings, heads, candidate windows): bounded by constants,
    /// whatever the log's size. For tests and metrics.
    pub fn retained_lines(&self) -> usize {
        let cmd_lines = |c: &Command| {
            c.tail.lines.len()
                + c.new_block.len()
                + c.segments
                    .iter()
                    .chain(c.evicted.as_ref())
                    .chain(c.first_evicted.as_ref())
                    .map(|s| {
                        s.head.len() + s.candidates.iter().map(|c| c.lines.len()).sum::<usize>()
                    })
                    .sum::<usize>()
        };
        [
            Some(&self.cur),
            self.failed.as_ref(),
            self.last_suspect.as_ref(),
            self.failed_later.as_ref(),
        ]
        .into_iter()
        .flatten()
        .map(cmd_lines)
        .sum::<usize>()
            + self.pre.lines.len()
            + self.last_strong.as_ref().map_or(0, |c| c.lines.len())
            + self.plain.as_ref().map_or(0, |p| p.retained_lines())
    }

    /// A CI step (GitLab section, Travis fold, GitHub group) starts or ends.
    pub fn step(&mut self, edge: Edge, name: &str, source_line: u64) {
        if let Some(p) = self.plain.as_mut() {
            p.step(edge, name, source_line);
        }
        let p = patterns();
        match edge {
            Edge::Start => {
                // Sections that only run once the job has failed mean the failed command is
                // behind us: everything after them is post-failure output.
                if p.after_failure.is_match(name) {
                    self.after_failure = true;
                }
                let post = p.post_section.is_match(name) || self.after_failure;
                if post {
                    self.post_depth += 1;
                }
                if self.sections.len() < 32 {
                    self.sections.push(name.to_owned());
                }
                // A GitHub step is a command; its output follows the group.
                // A step is a command; a GitHub step's output follows its group, whose name is
                // the command.
                // A section opened inside a running command (a script's own folds) is a part
                // of it.
                let post = post || self.post_depth > 0;
                let cmd = name.strip_prefix("Run ").map(str::to_owned);
                if cmd.is_none()
                    && self.cur.exit_code.is_none()
                    && self.cur.has_content()
                    && self.cur.post == post
                {
                    self.cur.new_segment(source_line, Some(name.to_owned()));
                } else {
                    let fresh = Command::new(source_line, cmd, Some(name.to_owned()), post);
                    self.replace_current(fresh);
                }
            }
            Edge::End => {
                let popped = if name.is_empty() {
                    self.sections.pop()
                } else if let Some(i) = self.sections.iter().rposition(|s| s == name) {
                    Some(self.sections.remove(i))
                } else {
                    None
                };
                if let Some(s) = popped
                    && p.post_section.is_match(&s)
                {
                    self.post_depth = self.post_depth.saturating_sub(1);
                }
            }
        }
        self.setup = self
            .sections
            .last()
            .is_some_and(|s| p.setup_section.is_match(s));
    }

    fn push_global(&mut self, line: u64, v: Verdict) {
        if self.global.len() == 8 {
            self.global.pop_front();
        }
        self.global.push_back((line, v));
    }

    fn replace_current(&mut self, fresh: Command) {
        let old = std::mem::replace(&mut self.cur, fresh);
        // A command that ended without a reported status may still be the failed one (GitLab
        // reports only that the job failed, at the very end).
        if old.exit_code.is_none() && !old.post && old.has_content() && self.failed.is_none() {
            let keep =
                old.has_evidence() || self.last_suspect.as_ref().is_none_or(|s| !s.has_evidence());
            if keep {
                self.last_suspect = Some(old);
            }
        }
        self.pre.clear();
    }

    fn end_command(&mut self, line: u64) {
        self.cur.end_line = line;
        let failed = self.cur.exit_code.is_some_and(|c| c != 0);
        let fresh = Command::new(
            line + 1,
            None,
            self.sections.last().cloned(),
            self.post_depth > 0 || self.after_failure,
        );
        let old = std::mem::replace(&mut self.cur, fresh);
        if failed {
            if self.failed.is_none() {
                self.failed = Some(old);
            } else if self.failed_later.is_none() {
                self.failed_later = Some(old);
            }
        }
        self.pre.clear();
    }

    /// Whether the innermost open section is CI setup (see [`Candidate::setup`]).
    fn in_setup(&self) -> bool {
        self.setup
    }

    fn add_line(&mut self, n: u64, text: &str, verdict: Option<Verdict>) {
        let setup = self.in_setup();
        let cmd = &mut self.cur;
        cmd.tail.push(n, text);
        let seg = cmd.segments.back_mut().expect("segment");
        seg.n_lines += 1;
        seg.last_line = n;
        if seg.head.len() < HEAD_LINES {
            seg.head.push((n, text.to_owned()));
        }
        // Feed the open candidate windows.
        for c in seg.candidates.iter_mut().filter(|c| c.open) {
            c.lines.push((n, text.to_owned()));
            if c.lines.len() - c.anchor_idx > AFTER_LINES {
                c.open = false;
            }
        }
        let Some(v) = verdict else { return };
        // A failure line right after another one belongs to the same block.
        if let Some(last) = seg.candidates.last()
            && last.open
            && n <= last.anchor + 3
            && v.weight <= last.verdict.weight
        {
            return;
        }
        if seg.candidates.len() >= MAX_CANDIDATES {
            // Keep the earliest ones, but let a stronger line replace the weakest later one.
            let weakest = seg
                .candidates
                .iter()
                .enumerate()
                .skip(1)
                .min_by_key(|(_, c)| (c.verdict.weight, std::cmp::Reverse(c.anchor)))
                .map(|(i, c)| (i, c.verdict.weight));
            match weakest {
                Some((i, w)) if w < v.weight => {
                    seg.candidates.remove(i);
                }
                _ => return,
            }
        }
        let mut lines: Vec<NumLine> = self.pre.lines.iter().cloned().collect();
        let anchor_idx = lines.len();
        lines.push((n, text.to_owned()));
        seg.candidates.push(Candidate {
            verdict: v,
            anchor: n,
            lines,
            anchor_idx,
            open: true,
            setup,
        });
    }

    pub fn finish(mut self) -> Report {
        let plain = self.plain.take();
        let compared = self.finish_one();
        let Some(plain) = plain else { return compared };
        // A new failure line decided, or no rule matched a new line but the failed command
        // printed new lines: the green run says where to look.
        if compared.located {
            return compared;
        }
        // The failed command printed nothing new: the comparison cannot tell, the log alone
        // says more.
        let alone = plain.finish_one();
        Report {
            comparison: compared.comparison.map(|c| Comparison {
                outcome: "nothing_new",
                ..c
            }),
            ..alone
        }
    }

    fn finish_one(mut self) -> Report {
        let at_end = std::mem::replace(&mut self.cur, Command::new(0, None, None, false));
        let failed = self
            .failed
            .take()
            .or_else(|| {
                // No command reported a failure: the one running at the end, unless it is
                // post-failure boilerplate or shows nothing while an earlier one does.
                if !at_end.post && at_end.has_evidence() {
                    Some(at_end)
                } else {
                    self.last_suspect.take().or(Some(at_end))
                }
            })
            .expect("some command");
        self.build_report(failed)
    }

    fn build_report(&self, cmd: Command) -> Report {
        let chosen = choose(&cmd);
        // No rule matched, but the green run says which lines are new: show those.
        let new_range = chosen
            .is_none()
            .then(|| {
                let b = &cmd.new_block;
                let last = b.iter().rposition(|(_, t)| !is_blank(t))?;
                Some((b.first()?.0, b[last].0))
            })
            .flatten();
        let (range, decisive, located) = match &chosen {
            Some((seg, cand)) => {
                let (s, e) = window(cand, seg);
                (Some((s, e)), Some(*cand), true)
            }
            None if new_range.is_some() => (new_range, None, true),
            None => (tail_range(&cmd), None, false),
        };
        let mut ranges: Vec<(u64, u64)> = range.into_iter().collect();
        let others = self.other_evidence(&cmd, chosen.map(|(_, c)| c));
        let mut budget = SECONDARY_LINES;
        for c in &others {
            let (s, e) = (c.anchor, c.anchor + 1);
            let e = e.min(c.lines.last().map_or(c.anchor, |l| l.0));
            let len = (e - s + 1) as usize;
            if len > budget || ranges.iter().any(|&(a, b)| s <= b + 1 && a <= e + 1) {
                continue;
            }
            budget -= len;
            ranges.push((s, e));
        }
        let mut excerpt_lines: Vec<NumLine> = Vec::new();
        if !ranges.is_empty() {
            let sources = chosen
                .as_ref()
                .map(|(_, c)| c.lines.iter())
                .into_iter()
                .flatten()
                .chain(others.iter().flat_map(|c| c.lines.iter()))
                .chain(cmd.segments.iter().flat_map(|s| s.head.iter()))
                .chain(cmd.new_block.iter())
                .chain(cmd.tail.lines.iter());
            let mut seen = std::collections::BTreeMap::new();
            for (n, t) in sources {
                if ranges.iter().any(|&(s, e)| (s..=e).contains(n)) {
                    seen.entry(*n).or_insert_with(|| redact(t));
                }
            }
            excerpt_lines = seen.into_iter().collect();
        }
        let excerpt = ranges
            .iter()
            .map(|&(s, e)| LineRange {
                start_line: s,
                end_line: e,
            })
            .collect();

        let (category, category_rule) = if new_range.is_some() {
            let hint = cmd.name().and_then(|n| category_from_command(&n));
            (
                hint.map_or(Category::Unknown, |(c, _)| c),
                format!(
                    "no failure line found; the excerpt is the first lines new against the green run{}",
                    hint.map(|(c, why)| format!(
                        "; the command looks like a {why}: {}",
                        c.as_str()
                    ))
                    .unwrap_or_default()
                ),
            )
        } else {
            self.categorize(&cmd, decisive, &excerpt_lines)
        };
        // The CI system's name for the failed command; else the sub-command that holds the
        // decisive line (not merely the last one that ran).
        let failing_step = cmd
            .exit_name
            .clone()
            .or_else(|| chosen.and_then(|(seg, _)| seg.name.clone()))
            .or_else(|| cmd.name())
            .or_else(|| cmd.section.clone())
            .map(|s| redact(&s));
        let decisive_text = decisive
            .map(|c| redact(strip_timestamp(&c.lines[c.anchor_idx].1).trim()))
            .or_else(|| {
                new_range.and_then(|(s, _)| {
                    cmd.new_block
                        .iter()
                        .find(|(n, t)| *n >= s && !is_blank(t))
                        .map(|(_, t)| redact(strip_timestamp(t).trim()))
                })
            });
        // The subject (file:line, test, package) is looked for from the decisive line on: the
        // lead lines above it may hold an unrelated location.
        let from = decisive.map_or(0, |c| c.anchor);
        let (before, after): (Vec<NumLine>, Vec<NumLine>) =
            excerpt_lines.iter().cloned().partition(|(n, _)| *n < from);
        let ordered: Vec<NumLine> = after.into_iter().chain(before).collect();
        let summary = summarize(
            category,
            failing_step.as_deref(),
            decisive_text.as_deref(),
            located,
            &ordered,
        );
        let sig_lines: Vec<&str> = match decisive {
            Some(c) => c.lines[c.anchor_idx..]
                .iter()
                .take(3)
                .map(|(_, t)| t.as_str())
                .collect(),
            None => excerpt_lines
                .iter()
                .rev()
                .take(3)
                .map(|(_, t)| t.as_str())
                .collect(),
        };
        let signature = signature(category, &sig_lines);
        let confidence = match decisive {
            None if new_range.is_some() => 0.4,
            None => 0.1,
            Some(c) => {
                let base: f32 = match c.verdict.weight {
                    5.. => 0.8,
                    4 => 0.7,
                    3 => 0.55,
                    _ => 0.4,
                };
                let bonus = if cmd.exit_code.is_some_and(|c| c != 0) {
                    0.1
                } else {
                    0.0
                };
                let penalty = if c.verdict.kind == Kind::Cascade {
                    0.15
                } else {
                    0.0
                };
                (base + bonus - penalty).clamp(0.05, 0.95)
            }
        };
        Report {
            excerpt,
            excerpt_lines,
            category,
            category_rule,
            summary,
            signature,
            failing_step,
            exit_code: cmd.exit_code,
            confidence,
            located,
            decisive_line: decisive.map(|c| c.anchor),
            lines_seen: self.lines,
            job_name: self.meta.job_name.clone(),
            stage: self.meta.stage.clone(),
            model_explanation: None,
            model: None,
            model_error: None,
            comparison: self.baseline.as_ref().map(|g| Comparison {
                green_lines: g.lines,
                demoted: self.demoted,
                new_lines: self.new_lines,
                outcome: if new_range.is_some() {
                    "first_new_lines"
                } else {
                    "new_failure_line"
                },
            }),
        }
    }

    /// Other places that show a failure, for a reader who doubts the main excerpt: the first
    /// failure line of the chosen sub-command when the excerpt starts later, the failure lines of
    /// the command's other sub-commands, and those of the next command that failed.
    fn other_evidence<'a>(
        &'a self,
        cmd: &'a Command,
        primary: Option<&'a Candidate>,
    ) -> Vec<&'a Candidate> {
        let mut out: Vec<&Candidate> = Vec::new();
        let segs = failed_segments(cmd);
        if let Some(p) = primary
            && let Some(seg) = segs
                .iter()
                .find(|s| s.candidates.iter().any(|c| std::ptr::eq(c, p)))
        {
            let real = || {
                seg.candidates
                    .iter()
                    .filter(|c| c.verdict.kind != Kind::Cascade)
            };
            // The first failure line of the sub-command, when the excerpt starts later.
            if let Some(first) = real().next().filter(|f| f.anchor < p.anchor) {
                out.push(first);
            }
            // A failure of another kind (a failed test after an exception message).
            if let Some(other) = real()
                .find(|c| c.verdict.category.is_some() && c.verdict.category != p.verdict.category)
            {
                out.push(other);
            }
        }
        // The job's last strong failure line, wherever it is (a failure after an allowed one).
        if let Some(last) = &self.last_strong {
            out.push(last);
        }
        for other in [self.failed_later.as_ref()].into_iter().flatten() {
            if let Some((_, c)) = choose(other) {
                out.push(c);
            }
        }
        // The strongest failure line of each other sub-command of the failed command.
        let mut by_seg: Vec<&Candidate> = cmd
            .segments
            .iter()
            .chain(cmd.evicted.as_ref())
            .chain(cmd.first_evicted.as_ref())
            .filter_map(pick)
            .filter(|c| c.verdict.kind != Kind::Cascade)
            .collect();
        by_seg.sort_by_key(|c| {
            (
                std::cmp::Reverse(c.verdict.weight),
                std::cmp::Reverse(c.anchor),
            )
        });
        out.extend(by_seg);
        let mut seen: Vec<u64> = primary.map(|p| p.anchor).into_iter().collect();
        out.retain(|c| {
            let new = !c.setup && !seen.contains(&c.anchor);
            seen.push(c.anchor);
            new
        });
        out
    }

    fn categorize(
        &self,
        cmd: &Command,
        decisive: Option<&Candidate>,
        excerpt: &[NumLine],
    ) -> (Category, String) {
        // 1. What the CI system itself said about the end of the job (stall, cancel, OOM
        //    kill) overrides the excerpt: those lines are unambiguous.
        //    When several appear, the more specific cause wins: a timeout or an OOM kill is why
        //    a runner then reports the job as terminated.
        let job_level = self
            .global
            .iter()
            .filter_map(|(n, v)| {
                v.category
                    .filter(|c| is_job_level(*c))
                    .map(|c| (c, *n, v.rule))
            })
            .min_by_key(|(c, n, _)| (job_level_rank(*c), std::cmp::Reverse(*n)));
        if let Some((c, n, rule)) = job_level {
            return (
                c,
                format!("rule {} on line {n} (job-level)", RULES[rule].name),
            );
        }
        if decisive.is_none() {
            let hint = cmd
                .name()
                .and_then(|n| category_from_command(&n))
                .map(|(c, why)| format!("; the command looks like a {why}: {}", c.as_str()));
            return (
                Category::Unknown,
                format!("no failure line found{}", hint.unwrap_or_default()),
            );
        }
        // 2. The decisive line's own rule, then the strongest rule over the excerpt.
        if let Some(c) = decisive
            && let Some(cat) = c.verdict.category
            && c.verdict.kind != Kind::Cascade
        {
            return (
                cat,
                format!("rule {} on line {}", RULES[c.verdict.rule].name, c.anchor),
            );
        }
        let mut best: Option<(u8, Category, &'static str, u64)> = None;
        for (n, t) in excerpt {
            // A line the green run printed too did not fail it: it says nothing of the category.
            if self
                .baseline
                .as_ref()
                .is_some_and(|g| g.contains(t) == Some(true))
            {
                continue;
            }
            for (cat, w, name) in self.rules.categories(strip_timestamp(t)) {
                if best.is_none_or(|b| w > b.0) {
                    best = Some((w, cat, name, *n));
                }
            }
        }
        if let Some((_, cat, name, n)) = best {
            return (cat, format!("rule {name} on line {n}"));
        }
        // 3. The failed command's name says what it was doing.
        if let Some(name) = cmd.name()
            && let Some((cat, why)) = category_from_command(&name)
        {
            return (cat, format!("command name ({why})"));
        }
        (Category::Unknown, "no rule matched".to_owned())
    }
}

/// Categories that describe the job as a whole rather than the code: the CI system reports
/// them, often outside any command.
fn is_job_level(c: Category) -> bool {
    matches!(
        c,
        Category::Timeout
            | Category::Cancelled
            | Category::Infrastructure
            | Category::OutOfResources
    )
}

fn job_level_rank(c: Category) -> u8 {
    match c {
        Category::Timeout => 0,
        Category::OutOfResources => 1,
        Category::Cancelled => 2,
        _ => 3,
    }
}

/// The command's purpose, from common tool names; a weak hint used only when no line rule
/// decided.
fn category_from_command(name: &str) -> Option<(Category, &'static str)> {
    static R: OnceLock<Vec<(Regex, Category, &'static str)>> = OnceLock::new();
    let r = R.get_or_init(|| {
        [
            (r"(?i)\b(lint|eslint|tslint|stylelint|rubocop|flake8|pylint|ruff|clippy|golangci|gofmt|rustfmt|prettier|black|checkstyle|shellcheck|perlcritic|markdownlint|codespell|mypy|vet|fmt|format)\b", Category::LintQuality, "linter"),
            (r"(?i)\b(test|tests|spec|pytest|jest|mocha|karma|rspec|phpunit|ctest|prove|tox|check)\b", Category::TestFailure, "test runner"),
            (r"(?i)\b(install|restore|bundle|ci|deps|dependencies|fetch|download|resolve|update|get|pip|composer|npm|yarn|pnpm|cabal|stack|mix|rebar3|pod|carthage)\b", Category::DependencyResolution, "package manager"),
            (r"(?i)\b(build|make|compile|cmake|msbuild|gradle|mvn|cargo|go build|tsc|xcodebuild|swift)\b", Category::Compilation, "build tool"),
        ]
        .into_iter()
        .map(|(p, c, w)| (Regex::new(p).expect("regex"), c, w))
        .collect()
    });
    r.iter()
        .find(|(re, _, _)| re.is_match(name))
        .map(|(_, c, w)| (*c, *w))
}

/// Picks the decisive candidate of a command: the latest sub-command that holds a real failure
/// line (later sub-commands run after earlier ones succeeded), and in it the earliest line of
/// the strongest kind. Cascade lines only when nothing else exists.
fn choose(cmd: &Command) -> Option<(&Segment, &Candidate)> {
    // Sub-commands in the order they ran (dropped ones first).
    let all = failed_segments(cmd);
    // The latest sub-command that shows any failure: later ones ran because earlier ones
    // succeeded, so an earlier sub-command's error lines were not fatal.
    // But a later sub-command that shows only generic failure words (a script's own "suite
    // failed" trailer) repeats an earlier real diagnostic rather than causing the failure.
    let latest = |min: u8| {
        all.iter()
            .rposition(|s| !s.candidates.is_empty() && s.best_weight() >= min)
    };
    let k = latest(STRONG).or_else(|| latest(0))?;
    let cand = pick(all[k])?;
    // A script that goes on after a failure (a loop over packages' test suites or examples,
    // `|| true`, no `set -e`) repeats it: the same kind of failure in an earlier sub-command is
    // where it first happened. "The same kind" is a test runner's same failure format (another
    // package's "There were 2 failures:"), otherwise the same message: other rules (a missing
    // command, a refused connection) fire on harmless lines too often to generalise over.
    if cand.verdict.kind != Kind::Cascade {
        let key = message_key(&cand.lines[cand.anchor_idx].1);
        let specific =
            cand.verdict.weight >= STRONG && cand.verdict.category == Some(Category::TestFailure);
        for s in &all[..k] {
            if let Some(c) = pick(s)
                && c.verdict.rule == cand.verdict.rule
                && (specific || message_key(&c.lines[c.anchor_idx].1) == key)
            {
                return Some((s, c));
            }
        }
    }
    Some((all[k], cand))
}

/// A failure message without what varies between two occurrences of it (clock, numbers).
fn message_key(t: &str) -> String {
    strip_clock(strip_timestamp(t))
        .trim()
        .chars()
        .filter(|c| !c.is_ascii_digit())
        .collect()
}

/// In one sub-command: the earliest line of the strongest kind; cascade lines only when nothing
/// else exists.
fn pick(seg: &Segment) -> Option<&Candidate> {
    let best = seg.best_weight();
    if best > 0 {
        seg.candidates
            .iter()
            .find(|c| c.verdict.kind != Kind::Cascade && c.verdict.weight >= best)
    } else {
        let w = seg
            .candidates
            .iter()
            .map(|c| c.verdict.weight)
            .max()
            .unwrap_or(0);
        seg.candidates.iter().find(|c| c.verdict.weight >= w)
    }
}

/// The sub-commands that can hold the failure, in the order they ran. When the CI system named
/// the failed command (Travis `The command "X" exited with 1.`), it is the sub-command echoed as
/// `$ X` and what it ran; otherwise any of them, the dropped ones included.
fn failed_segments(cmd: &Command) -> Vec<&Segment> {
    if let Some(name) = cmd.exit_name.as_deref() {
        let name = name.trim();
        let same = |s: &&Segment| {
            s.name.as_deref().is_some_and(|n| {
                let n = n.trim();
                !n.is_empty() && (n == name || name.starts_with(n) || n.starts_with(name))
            })
        };
        if let Some(k) = cmd.segments.iter().rposition(|s| same(&s)) {
            return cmd.segments.iter().skip(k).collect();
        }
    }
    cmd.first_evicted
        .iter()
        .chain(cmd.evicted.iter())
        .chain(cmd.segments.iter())
        .collect()
}

/// The excerpt around a candidate: a few lead lines, then the anchor's block.
fn window(c: &Candidate, seg: &Segment) -> (u64, u64) {
    let lines = &c.lines;
    // A summary line ("3 offenses detected", `make: *** Error 1`, "** BUILD FAILED **") closes
    // the output that explains it: show the block above it.
    if c.verdict.kind == Kind::Cascade {
        let mut start = c.anchor_idx;
        while start > 0 && c.anchor_idx - start + 1 < BACK_LINES {
            let (n, t) = &lines[start - 1];
            if *n < seg.start_line || is_boilerplate(strip_timestamp(t)) {
                break;
            }
            start -= 1;
        }
        while start < c.anchor_idx && is_blank(&lines[start].1) {
            start += 1;
        }
        return (lines[start].0, c.anchor);
    }
    let mut start = c.anchor_idx;
    // Lead: up to LEAD_LINES non-blank lines right above, not crossing the command start.
    // "Warnings treated as errors" points at the warnings printed just before it, so there the
    // lead covers the previous block as well.
    let lead = if RULES[c.verdict.rule].name == "warnings-as-errors" {
        PRE_LINES
    } else {
        LEAD_LINES
    };
    let blanks_allowed = 2;
    let mut blanks_seen = 0;
    while start > 0 && c.anchor_idx - start < lead {
        let (n, t) = &lines[start - 1];
        if is_boilerplate(strip_timestamp(t)) || *n < seg.start_line {
            break;
        }
        if *n == seg.start_line {
            start -= 1;
            break;
        }
        if is_blank(t) {
            blanks_seen += 1;
            if blanks_seen > blanks_allowed {
                break;
            }
        }
        start -= 1;
    }
    while start < c.anchor_idx && is_blank(&lines[start].1) {
        start += 1;
    }
    let mut end = c.anchor_idx;
    let mut blanks = 0;
    let rs = rules::rules();
    for (i, (_, t)) in lines.iter().enumerate().skip(c.anchor_idx + 1) {
        let ts = strip_timestamp(t);
        if is_boilerplate(ts) || patterns().command_echo.is_match(ts) {
            break;
        }
        if is_blank(t) {
            blanks += 1;
            if blanks >= BLANK_STOP {
                break;
            }
            continue;
        }
        blanks = 0;
        if let Some(v) = rs.classify(message(ts)).filter(|v| ends_block(*v))
            && c.verdict.kind != Kind::Cascade
        {
            // The linker's closing line (`collect2: error: ld returned 1 exit status`) ends
            // its own message: it is shown, make's and npm's epilogues are not.
            if RULES[v.rule].name == "linker-cascade" && i - start < MAX_EXCERPT_LINES {
                end = i;
            }
            break;
        }
        if i - start + 1 > MAX_EXCERPT_LINES {
            break;
        }
        end = i;
    }
    (lines[start].0, lines[end].0)
}

/// Build-tool epilogues (make, npm, Maven, exit codes) close the block that explains a failure.
fn ends_block(v: Verdict) -> bool {
    v.kind == Kind::Cascade
        && matches!(
            RULES[v.rule].name,
            "make-error"
                | "npm-err"
                | "maven-gradle-summary"
                | "exit-status"
                | "linker-cascade"
                | "xcodebuild-failed"
        )
}

/// When nothing was found: the last lines of the command's output, without CI bookkeeping.
fn tail_range(cmd: &Command) -> Option<(u64, u64)> {
    let from = failed_segments(cmd)
        .into_iter()
        .find(|s| cmd.segments.iter().any(|x| std::ptr::eq(x, *s)))
        .map(|s| s.start_line)
        .unwrap_or(0);
    let lines: Vec<&NumLine> = cmd
        .tail
        .lines
        .iter()
        .filter(|(n, t)| *n >= from && !is_blank(t) && !is_boilerplate(strip_timestamp(t)))
        .collect();
    let last = lines.last()?.0;
    let first = lines.iter().rev().take(15).next_back()?.0;
    Some((first, last))
}

fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut c = max;
    while !s.is_char_boundary(c) {
        c -= 1;
    }
    &s[..c]
}

fn summarize(
    category: Category,
    step: Option<&str>,
    decisive: Option<&str>,
    located: bool,
    excerpt: &[NumLine],
) -> String {
    let what = match category {
        Category::Compilation => "Compilation failed",
        Category::TestFailure => "Tests failed",
        Category::DependencyResolution => "Dependencies could not be resolved",
        Category::LintQuality => "A lint or quality check failed",
        Category::Configuration => "The job's configuration or environment is wrong",
        Category::Infrastructure => "The CI infrastructure failed",
        Category::Network => "A network operation failed",
        Category::Timeout => "The job timed out",
        Category::OutOfResources => "The job ran out of resources",
        Category::Cancelled => "The job was cancelled",
        Category::Unknown => "The job failed",
    };
    let mut s = what.to_owned();
    if let Some(step) = step {
        s.push_str(&format!(" in `{}`", cut(step, 120)));
    }
    if !located {
        s.push_str(". Could not locate the failure in the log; the excerpt is the end of the failed command's output");
        return s;
    }
    let detail = excerpt.iter().find_map(|(_, t)| detail(t));
    if let Some(d) = detail {
        s.push_str(&format!(" ({d})"));
    }
    if let Some(d) = decisive {
        s.push_str(": ");
        s.push_str(cut(d, 200));
    }
    s
}

/// A location or subject a reader looks for first: file:line, a failed test, a package.
fn detail(line: &str) -> Option<String> {
    static R: OnceLock<Vec<(Regex, &'static str)>> = OnceLock::new();
    let r = R.get_or_init(|| {
        [
            (r"--- FAIL: (\S+)", "test"),
            (r"^\s*(?:FAIL|✗|not ok \d+ -?)\s*(\S.{0,80})", "test"),
            (r"(?:Could not find artifact|Could not resolve dependencies for project|No matching distribution found for|Cannot find module|Could not find gem) '?([^'\s]+)", "dependency"),
            (r"([\w./\\-]+\.[A-Za-z]{1,5}[:(]\d+(?:[:,]\d+)?)", "at"),
        ]
        .into_iter()
        .map(|(p, w)| (Regex::new(p).expect("regex"), w))
        .collect()
    });
    let t = strip_timestamp(line);
    r.iter().find_map(|(re, what)| {
        re.captures(t)
            .map(|c| format!("{what} {}", cut(c[1].trim(), 100)))
    })
}

/// Decisive lines with volatile parts masked, hashed: the same failure in another run (other
/// timestamps, temp paths, line numbers, object addresses) gets the same signature.
pub fn signature(category: Category, lines: &[&str]) -> String {
    static MASKS: OnceLock<Vec<(Regex, &'static str)>> = OnceLock::new();
    let masks = MASKS.get_or_init(|| {
        [
            (
                r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?",
                "<ts>",
            ),
            (r"\b\d\d:\d\d:\d\d(?:\.\d+)?\b", "<time>"),
            (r"(?i)\b(?:0x)?[0-9a-f]{7,}\b", "<hex>"),
            (
                r"(?i)\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b",
                "<uuid>",
            ),
            // Keep the file name, drop the directories (checkout and temp dirs vary).
            (r"(?:[A-Za-z]:)?(?:[\\/][\w.@+~-]+)+[\\/]", "<path>/"),
            (r"\d+(?:\.\d+)*", "<n>"),
        ]
        .into_iter()
        .map(|(p, r)| (Regex::new(p).expect("regex"), r))
        .collect()
    });
    let mut h = Sha256::new();
    h.update(category.as_str().as_bytes());
    for l in lines {
        let mut s = strip_timestamp(l).trim().to_owned();
        for (re, rep) in masks {
            s = re.replace_all(&s, *rep).into_owned();
        }
        h.update(b"\n");
        h.update(s.as_bytes());
    }
    let d = h.finalize();
    d.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Raw log bytes of any CI system -> report (uses logtext::Normalizer internally).
pub fn analyze_reader(r: impl Read, meta: JobMeta) -> std::io::Result<Report> {
    analyze_with(r, Analyzer::new(meta))
}

/// [`analyze_reader`] against the job's last green run (see [`baseline`]).
pub fn analyze_reader_with_baseline(
    r: impl Read,
    meta: JobMeta,
    green: Fingerprint,
) -> std::io::Result<Report> {
    analyze_with(r, Analyzer::with_baseline(meta, green))
}

fn analyze_with(mut r: impl Read, mut an: Analyzer) -> std::io::Result<Report> {
    let mut norm = Normalizer::new(MAX_LINE_BYTES);
    let mut buf = vec![0u8; 256 * 1024];
    // Lines are lent, not collected: a plain line is analysed straight from the read buffer.
    let mut feed = |l: exlogare_logtext::LineRef<'_>| {
        for s in l.steps {
            an.step(s.edge, &s.name, l.number);
        }
        an.push_line(l.number, l.text);
    };
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        norm.push_with(&buf[..n], &mut feed);
    }
    norm.finish_with(&mut feed);
    Ok(an.finish())
}

#[cfg(test)]
mod tests;
