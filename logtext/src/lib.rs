//! Raw CI log bytes to the lines a person saw in the terminal.
//!
//! CI systems store job logs as the raw byte stream the job wrote: colour escapes, progress bars
//! redrawn with a bare `\r`, CRLF from Windows tools, invalid UTF-8 from compilers that print
//! Latin-1, and the CI system's own step markers (GitLab `section_start:…`, Travis
//! `travis_fold:…`, GitHub Actions `##[group]`). Anything that matches patterns against a log, or
//! shows a log excerpt to a person, wants the text as the terminal rendered it, and the step
//! structure separately. This crate does that and nothing more.
//!
//! Design constraints, and why:
//! - **One output line per `\n`-separated raw line.** Excerpts are reported as line ranges into
//!   the original file, so line numbers must map 1:1 to the raw file, whatever the content. A
//!   `\r` never starts a new line here; it moves the cursor to column 0, as a terminal does.
//! - **Bounded memory, any chunking.** The GitFlic plugin runs in a 64 MiB wasm sandbox and feeds
//!   the log as it streams in. [`Normalizer`] keeps at most a few times `max_line_bytes` of one
//!   line; a progress bar that redraws itself for megabytes without a `\n` is folded as it goes
//!   (rendered up to its last `\r`), so its final state survives. The result never depends on
//!   how the input was split into chunks (a chunk may end inside an escape, a UTF-8 character or
//!   a CRLF).
//! - **Markers from the raw line.** GitLab writes `section_start:1560896352:build_script\r\e[0K`
//!   and then the visible text on the same raw line; after terminal rendering the marker is gone,
//!   so markers are found before rendering, and their text is removed from the output.
//! - **Zero dependencies, no unsafe**, so it builds for `wasm32-wasip2` and stays small.
#![forbid(unsafe_code)]

use std::borrow::Cow;

/// One rendered line of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// 1-based number of the line in the raw input split on `b'\n'`.
    pub number: u64,
    /// The line as a terminal shows it: escapes removed, `\r` overwrites resolved, lossy UTF-8.
    pub text: String,
    /// Step markers found on the raw line, in order.
    pub steps: Vec<StepMarker>,
}

/// A line lent to the callback of [`Normalizer::push_with`]: valid for the call only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineRef<'a> {
    pub number: u64,
    pub text: &'a str,
    pub steps: &'a [StepMarker],
}

impl LineRef<'_> {
    pub fn to_line(&self) -> Line {
        Line {
            number: self.number,
            text: self.text.to_owned(),
            steps: self.steps.to_vec(),
        }
    }
}

/// A CI step (section, fold, group) starting or ending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepMarker {
    pub edge: Edge,
    /// The step name. Empty for GitHub `##[endgroup]` / `::endgroup::`, which name nothing:
    /// such an end closes the innermost open group.
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    Start,
    End,
}

/// Streaming splitter and renderer. Feed bytes with [`Normalizer::push`], end with
/// [`Normalizer::finish`].
#[derive(Debug, Clone)]
pub struct Normalizer {
    max_line_bytes: usize,
    /// Most raw bytes of one line held at once. Raw lines are longer than what they render to
    /// (escapes, overwritten text), so this is a multiple of `max_line_bytes`.
    raw_cap: usize,
    buf: Vec<u8>,
    /// Terminal state of the part of the current line already folded out of `buf`.
    screen: Option<Screen>,
    /// Markers of that part.
    carried_steps: Vec<StepMarker>,
    /// Bytes of the current line could not be kept; the rest of the line is ignored.
    overflowed: bool,
    /// Some byte of the current (unterminated) line has been seen.
    in_line: bool,
    lines_seen: u64,
}

impl Normalizer {
    /// `max_line_bytes`: longer lines are truncated (bounded memory whatever the input).
    pub fn new(max_line_bytes: usize) -> Self {
        let max_line_bytes = max_line_bytes.max(1);
        // Folding keeps the rendered cells (up to 4 bytes per cell) plus room for the tail, so
        // the cap must leave space beyond 4 * max_line_bytes for folding to make progress.
        let raw_cap = max_line_bytes.saturating_mul(8).max(1024);
        Normalizer {
            max_line_bytes,
            raw_cap,
            buf: Vec::new(),
            screen: None,
            carried_steps: Vec::new(),
            overflowed: false,
            in_line: false,
            lines_seen: 0,
        }
    }

    /// Feed raw bytes in any chunking; every complete line (ended by b'\n') is appended to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<Line>) {
        self.push_with(bytes, &mut |l| out.push(l.to_line()));
    }

    /// Like [`Normalizer::push`], but hands each line to `f` borrowed: a plain line that lies
    /// whole inside `bytes` is passed without being copied, which is what a scan over a large
    /// log wants.
    pub fn push_with(&mut self, bytes: &[u8], f: &mut dyn FnMut(LineRef<'_>)) {
        let out = f;
        let mut rest = bytes;
        while let Some(pos) = find_byte(rest, b'\n') {
            let head = &rest[..pos];
            if !self.in_line && head.len() <= self.raw_cap {
                // Common case: the whole line is inside this chunk; render it without copying.
                self.emit_raw(head, out);
            } else {
                self.append(head);
                let buf = std::mem::take(&mut self.buf);
                self.emit_raw(&buf, out);
                self.buf = buf;
                self.buf.clear();
            }
            rest = &rest[pos + 1..];
        }
        if !rest.is_empty() {
            self.append(rest);
        }
    }

    /// End of input: emits the final line if it had no trailing '\n' (nothing if the input ended with '\n').
    pub fn finish(&mut self, out: &mut Vec<Line>) {
        self.finish_with(&mut |l| out.push(l.to_line()));
    }

    /// Like [`Normalizer::finish`], with the borrowed line of [`Normalizer::push_with`].
    pub fn finish_with(&mut self, f: &mut dyn FnMut(LineRef<'_>)) {
        let out = f;
        if self.in_line {
            let buf = std::mem::take(&mut self.buf);
            self.emit_raw(&buf, out);
            self.buf = buf;
            self.buf.clear();
        }
    }

    /// Lines emitted so far (the number of the last one).
    pub fn lines_seen(&self) -> u64 {
        self.lines_seen
    }

    fn emit_raw(&mut self, raw: &[u8], out: &mut dyn FnMut(LineRef<'_>)) {
        let (text, steps) = match self.screen.take() {
            None => normalize_bounded(raw, self.max_line_bytes),
            Some(mut screen) => {
                let steps = render_into(&mut screen, strip_cr(raw), false);
                (Cow::Owned(screen.cells.into_iter().collect()), steps)
            }
        };
        let text = truncate_cow(text, self.max_line_bytes);
        let steps = if self.carried_steps.is_empty() {
            steps
        } else {
            let mut all = std::mem::take(&mut self.carried_steps);
            all.extend(steps);
            all
        };
        self.lines_seen += 1;
        out(LineRef {
            number: self.lines_seen,
            text: &text,
            steps: &steps,
        });
        self.overflowed = false;
        self.in_line = false;
        self.screen = None;
    }

    /// Adds bytes of the current line to `buf`, folding it when it would exceed `raw_cap`.
    fn append(&mut self, mut bytes: &[u8]) {
        self.in_line = true;
        while !bytes.is_empty() && !self.overflowed {
            let room = self.raw_cap - self.buf.len();
            if bytes.len() <= room {
                self.buf.extend_from_slice(bytes);
                return;
            }
            self.buf.extend_from_slice(&bytes[..room]);
            bytes = &bytes[room..];
            self.fold();
        }
    }

    /// Renders a safe prefix of `buf` into the line's screen and keeps only the rest, so that
    /// the raw buffer stays bounded while the screen (bounded by `max_line_bytes` cells) keeps
    /// the exact terminal state, cursor included.
    fn fold(&mut self) {
        // Cut before an ESC, or after a `\r` or a space: none of these can be inside a UTF-8
        // character, and an escape sequence never starts before such a cut and ends after it
        // (ignoring OSC titles that contain spaces, whose only effect is on invisible text).
        let cut = self
            .buf
            .iter()
            .rposition(|&b| b == 0x1b)
            .filter(|&p| p > 0)
            .or_else(|| {
                self.buf
                    .iter()
                    .rposition(|&b| b == b'\r' || b == b' ')
                    .map(|p| p + 1)
            });
        if let Some(cut) = cut {
            let at_line_start = self.screen.is_none();
            let screen = self
                .screen
                .get_or_insert_with(|| Screen::new(self.max_line_bytes));
            let steps = render_into(screen, &self.buf[..cut], at_line_start);
            self.carried_steps.extend(steps);
            self.buf.drain(..cut);
        }
        // Folding must free at least half the buffer, or a pathological line would make every
        // appended byte re-render the buffer; past that the rest of the line is dropped.
        if self.buf.len() > self.raw_cap / 2 {
            self.overflowed = true;
        }
    }
}

/// One raw line (no '\n') -> normalized text and the step markers it carried.
pub fn normalize_line(raw: &[u8]) -> (String, Vec<StepMarker>) {
    let (text, steps) = normalize_bounded(raw, usize::MAX);
    (text.into_owned(), steps)
}

fn truncate_cow(text: Cow<'_, str>, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return text;
    }
    Cow::Owned(truncate_bytes(text.into_owned(), max))
}

fn truncate_bytes(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

/// Whether every byte renders as itself, a word at a time (this runs on every line).
fn all_plain(raw: &[u8]) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const DEL: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let mut chunks = raw.chunks_exact(8);
    for chunk in &mut chunks {
        let w = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        // A byte below 0x20 (bytes >= 0x80 have their top bit set in `w`, so `!w` masks them),
        // or a DEL byte (zero after xor).
        let low = w.wrapping_sub(LO * 0x20) & !w & HI;
        let del = (w ^ DEL).wrapping_sub(LO) & !(w ^ DEL) & HI;
        if (low | del) != 0 && !chunk.iter().all(|&b| is_plain(b)) {
            return false;
        }
    }
    chunks.remainder().iter().all(|&b| is_plain(b))
}

/// Bytes that render as themselves; anything else needs the terminal model.
#[inline]
fn is_plain(b: u8) -> bool {
    (b >= 0x20 && b != 0x7f) || b == b'\t'
}

/// A CRLF's `\r` moves the cursor home with nothing after it: no visible effect.
fn strip_cr(raw: &[u8]) -> &[u8] {
    raw.strip_suffix(b"\r").unwrap_or(raw)
}

fn normalize_bounded(raw: &[u8], max_cells: usize) -> (Cow<'_, str>, Vec<StepMarker>) {
    let raw = strip_cr(raw);
    let marker = may_have_marker(raw);
    if !marker && all_plain(raw) {
        let text = String::from_utf8_lossy(raw);
        if text.len() <= max_cells || text.chars().count() <= max_cells {
            return (text, Vec::new());
        }
        return (
            Cow::Owned(text.chars().take(max_cells).collect()),
            Vec::new(),
        );
    }
    if !marker
        && !raw.contains(&b'\r')
        && let Some(text) = strip_escapes(raw)
    {
        let text = String::from_utf8(text)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        if text.len() <= max_cells || text.chars().count() <= max_cells {
            return (Cow::Owned(text), Vec::new());
        }
        return (
            Cow::Owned(text.chars().take(max_cells).collect()),
            Vec::new(),
        );
    }
    let (cells, steps) = render_cells(raw, max_cells);
    (Cow::Owned(cells.into_iter().collect()), steps)
}

/// Most coloured lines only need their escapes and controls removed: without `\r` and without
/// cursor movement or erasure, the screen is the text in order. `None` when the line needs the
/// terminal model.
fn strip_escapes(raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len());
    let mut scratch = Screen::new(0);
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b == 0x1b {
            if raw.get(i + 1) == Some(&b'[') {
                // Find the final byte; movement and erase need the screen model.
                let mut j = i + 2;
                while j < raw.len() && (0x20..=0x3f).contains(&raw[j]) {
                    j += 1;
                }
                if j < raw.len() && matches!(raw[j], b'K' | b'C' | b'D' | b'G') {
                    return None;
                }
            }
            i = scratch.escape(raw, i);
        } else if is_plain(b) {
            let start = i;
            while i < raw.len() && is_plain(raw[i]) {
                i += 1;
            }
            out.extend_from_slice(&raw[start..i]);
        } else {
            i += 1;
        }
    }
    Some(out)
}

/// Cheap pre-check so that ordinary lines skip the marker parser: an underscore preceded by
/// `section` or `travis`, or a GitHub group at the start of the line.
fn may_have_marker(raw: &[u8]) -> bool {
    let mut from = 0;
    while let Some(off) = find_byte(&raw[from..], b'_') {
        let u = from + off;
        if raw[..u].ends_with(b"section") || raw[..u].ends_with(b"travis") {
            return true;
        }
        from = u + 1;
    }
    github_marker(raw).is_some()
}

/// Position of `needle`, a word at a time: this runs over every byte of the log, and the crate
/// has no dependencies (no `memchr`).
fn find_byte(hay: &[u8], needle: u8) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let pattern = LO.wrapping_mul(u64::from(needle));
    let mut chunks = hay.chunks_exact(8);
    let mut base = 0;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes")) ^ pattern;
        if word.wrapping_sub(LO) & !word & HI != 0 {
            return chunk.iter().position(|&b| b == needle).map(|p| base + p);
        }
        base += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == needle)
        .map(|p| base + p)
}

fn render_cells(raw: &[u8], max_cells: usize) -> (Vec<char>, Vec<StepMarker>) {
    let mut screen = Screen::new(max_cells);
    let steps = render_into(&mut screen, raw, true);
    (screen.cells, steps)
}

/// Renders `raw` onto `screen`, cutting out and returning its step markers. GitHub groups are
/// only recognised `at_line_start`.
fn render_into(screen: &mut Screen, raw: &[u8], at_line_start: bool) -> Vec<StepMarker> {
    let (steps, cuts) = find_markers(raw, at_line_start);
    if cuts.is_empty() {
        screen.feed(raw);
    } else {
        let mut at = 0;
        for (s, e) in cuts {
            screen.feed(&raw[at..s]);
            at = e;
        }
        screen.feed(&raw[at..]);
    }
    steps
}

/// One terminal row: the cells written so far and the cursor column.
#[derive(Debug, Clone)]
struct Screen {
    cells: Vec<char>,
    cursor: usize,
    max_cells: usize,
}

impl Screen {
    fn new(max_cells: usize) -> Self {
        Screen {
            cells: Vec::new(),
            cursor: 0,
            max_cells,
        }
    }

    fn put(&mut self, c: char) {
        if self.cursor < self.cells.len() {
            self.cells[self.cursor] = c;
        } else if self.cursor < self.max_cells {
            while self.cells.len() < self.cursor {
                self.cells.push(' ');
            }
            self.cells.push(c);
        }
        self.cursor = self.cursor.saturating_add(1);
    }

    fn feed(&mut self, raw: &[u8]) {
        let mut i = 0;
        while i < raw.len() {
            let b = raw[i];
            if b == 0x1b {
                i = self.escape(raw, i);
            } else if b == b'\r' {
                self.cursor = 0;
                i += 1;
            } else if b == b'\t' {
                self.put('\t');
                i += 1;
            } else if b < 0x20 || b == 0x7f {
                // Other C0 controls (BEL, backspace, NUL...) carry no text worth keeping.
                i += 1;
            } else {
                let start = i;
                while i < raw.len() && raw[i] >= 0x20 && raw[i] != 0x7f {
                    i += 1;
                }
                for c in String::from_utf8_lossy(&raw[start..i]).chars() {
                    self.put(c);
                }
            }
        }
    }

    /// Consumes the escape sequence starting at `raw[i] == ESC`; returns the index after it.
    /// An unterminated sequence at the end of the line is dropped.
    fn escape(&mut self, raw: &[u8], i: usize) -> usize {
        let Some(&kind) = raw.get(i + 1) else {
            return raw.len();
        };
        match kind {
            b'[' => self.csi(raw, i + 2),
            // OSC, DCS, SOS, PM, APC: a string ended by BEL or ST (ESC \).
            b']' | b'P' | b'X' | b'^' | b'_' => {
                let mut j = i + 2;
                while j < raw.len() {
                    if raw[j] == 0x07 {
                        return j + 1;
                    }
                    if raw[j] == 0x1b && raw.get(j + 1) == Some(&b'\\') {
                        return j + 2;
                    }
                    j += 1;
                }
                raw.len()
            }
            // nF sequences such as `ESC ( B` (charset): intermediates then one final byte.
            0x20..=0x2f => {
                let mut j = i + 1;
                while j < raw.len() && (0x20..=0x2f).contains(&raw[j]) {
                    j += 1;
                }
                if j < raw.len() && (0x30..=0x7e).contains(&raw[j]) {
                    j + 1
                } else {
                    j
                }
            }
            // Two-byte sequences (ESC 7, ESC =, ESC M...). A control byte is not one of them.
            0x30..=0x7e => i + 2,
            _ => i + 1,
        }
    }

    /// Control Sequence Introducer: parameters, intermediates, one final byte.
    fn csi(&mut self, raw: &[u8], start: usize) -> usize {
        let mut j = start;
        while j < raw.len() && (0x30..=0x3f).contains(&raw[j]) {
            j += 1;
        }
        let params = &raw[start..j];
        while j < raw.len() && (0x20..=0x2f).contains(&raw[j]) {
            j += 1;
        }
        let Some(&fin) = raw.get(j) else {
            return raw.len();
        };
        if !(0x40..=0x7e).contains(&fin) {
            // Malformed: drop the introducer and what we parsed, render the rest as text.
            return j;
        }
        let private = params
            .first()
            .is_some_and(|b| matches!(b, b'<' | b'=' | b'>' | b'?'));
        if !private {
            let n = first_param(params);
            match fin {
                b'K' => match n.unwrap_or(0) {
                    0 => self.cells.truncate(self.cursor),
                    1 => {
                        let end = self.cursor.saturating_add(1).min(self.cells.len());
                        self.cells[..end].fill(' ');
                    }
                    2 => self.cells.clear(),
                    _ => {}
                },
                b'C' => self.cursor = self.cursor.saturating_add(n.unwrap_or(1).max(1)),
                b'D' => self.cursor = self.cursor.saturating_sub(n.unwrap_or(1).max(1)),
                b'G' => self.cursor = n.unwrap_or(1).max(1) - 1,
                _ => {}
            }
        }
        j + 1
    }
}

fn first_param(params: &[u8]) -> Option<usize> {
    let digits = params.split(|&b| b == b';').next()?;
    if digits.is_empty() {
        return None;
    }
    let mut n: usize = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n.saturating_mul(10).saturating_add(usize::from(d - b'0'));
    }
    Some(n)
}

/// Finds the CI step markers of a raw line: the markers, and the byte ranges to cut from the
/// rendered text.
fn find_markers(raw: &[u8], at_line_start: bool) -> (Vec<StepMarker>, Vec<(usize, usize)>) {
    let mut steps = Vec::new();
    let mut cuts = Vec::new();
    if !may_have_marker(raw) {
        return (steps, cuts);
    }
    if let Some(m) = github_marker(raw).filter(|_| at_line_start) {
        steps.push(m.0);
        cuts.push((m.1, raw.len()));
        return (steps, cuts);
    }
    // GitLab and Travis markers are `<word>_<...>`: look only where an underscore is.
    let mut i = 0;
    while let Some(off) = find_byte(&raw[i..], b'_') {
        let u = i + off;
        i = u + 1;
        if u >= 7 && &raw[u - 7..u] == b"section" {
            let after = &raw[u + 1..];
            let (edge, body) = if let Some(b) = after.strip_prefix(b"start:") {
                (Edge::Start, b)
            } else if let Some(b) = after.strip_prefix(b"end:") {
                (Edge::End, b)
            } else {
                continue;
            };
            let ts = body.iter().take_while(|b| b.is_ascii_digit()).count();
            if ts == 0 || body.get(ts) != Some(&b':') {
                continue;
            }
            let name_len = name_len(&body[ts + 1..]);
            if name_len == 0 {
                continue;
            }
            let name_start = raw.len() - body.len() + ts + 1;
            let mut end = name_start + name_len;
            // Section options: `section_start:123:name[collapsed=true]`.
            if edge == Edge::Start
                && raw.get(end) == Some(&b'[')
                && let Some(close) = raw[end..].iter().position(|&b| b == b']' || b < 0x20)
                && raw[end + close] == b']'
            {
                end += close + 1;
            }
            steps.push(StepMarker {
                edge,
                name: lossy(&raw[name_start..name_start + name_len]),
            });
            cuts.push((u - 7, end));
            i = end;
        } else if u >= 6 && &raw[u - 6..u] == b"travis" {
            let after = &raw[u + 1..];
            let (edge, body) = if let Some(b) = after.strip_prefix(b"fold:start:") {
                (Edge::Start, b)
            } else if let Some(b) = after.strip_prefix(b"fold:end:") {
                (Edge::End, b)
            } else {
                continue;
            };
            let name_len = name_len(body);
            if name_len == 0 {
                continue;
            }
            let name_start = raw.len() - body.len();
            let end = name_start + name_len;
            steps.push(StepMarker {
                edge,
                name: lossy(&raw[name_start..end]),
            });
            cuts.push((u - 6, end));
            i = end;
        }
    }
    (steps, cuts)
}

/// Length of a section/fold name: GitLab allows `[A-Za-z0-9_.-]`, Travis the same in practice.
fn name_len(s: &[u8]) -> usize {
    s.iter()
        .take_while(|&&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        .count()
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// GitHub Actions groups: `##[group]name`, `##[endgroup]`, and the workflow-command spelling
/// `::group::name` / `::endgroup::`. They start the line, possibly after leading escapes and
/// the ISO timestamp that downloaded GitHub logs put before every line. Returns the marker and
/// where its text starts (the rest of the line is the marker).
fn github_marker(raw: &[u8]) -> Option<(StepMarker, usize)> {
    let mut s = 0;
    // Leading escapes (a colour reset before the marker).
    while raw.get(s) == Some(&0x1b) {
        let mut scratch = Screen::new(0);
        s = scratch.escape(raw, s);
    }
    // `2024-01-31T12:34:56.1234567Z ` prefix.
    let ts = &raw[s..];
    if ts.len() > 20
        && ts[..4].iter().all(u8::is_ascii_digit)
        && ts[4] == b'-'
        && ts[10] == b'T'
        && let Some(sp) = ts.iter().take(40).position(|&b| b == b' ')
        && ts[sp - 1] == b'Z'
    {
        s += sp + 1;
    }
    let rest = &raw[s..];
    let (edge, name) = if let Some(n) = rest.strip_prefix(b"##[group]") {
        (Edge::Start, n)
    } else if let Some(n) = rest.strip_prefix(b"::group::") {
        (Edge::Start, n)
    } else if rest.starts_with(b"##[endgroup]") || rest.starts_with(b"::endgroup::") {
        (Edge::End, &b""[..])
    } else {
        return None;
    };
    let name = if name.is_empty() {
        String::new()
    } else {
        let (cells, _) = render_cells_plain(name);
        cells.trim().to_owned()
    };
    Some((StepMarker { edge, name }, s))
}

/// Renders without marker detection (a group name is text, not more markers).
fn render_cells_plain(raw: &[u8]) -> (String, ()) {
    let mut screen = Screen::new(4096);
    screen.feed(raw);
    (screen.cells.into_iter().collect(), ())
}

#[cfg(test)]
mod tests;
