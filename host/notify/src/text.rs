//! Text helpers shared by the renderers: escaping, measuring, cutting to a budget.

/// Longest excerpt line shown in a chat message (characters); longer lines end in `…`.
pub(crate) const MAX_LINE_CHARS: usize = 300;

/// Length as Telegram and JavaScript count it (UTF-16 code units); never less than the
/// number of characters, so it is a safe measure for platforms that count characters.
pub(crate) fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// HTML text and attribute escaping (Telegram, Matrix): `&`, `<`, `>`, `"`.
pub(crate) fn html(s: &str) -> String {
    escape(s, true)
}

/// Slack mrkdwn escaping: only `&`, `<`, `>` (so `<!channel>` or `<url|label>` cannot be injected).
pub(crate) fn mrkdwn(s: &str) -> String {
    escape(s, false)
}

fn escape(s: &str, quotes: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if quotes => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// Control characters (other than tab) shown as U+FFFD: they have no business in a chat message
/// and some APIs refuse them. Tabs become spaces so code blocks keep their columns roughly.
/// Bidirectional overrides and isolates are dropped: a plugin or a log could use them to make
/// a link or a file name read differently from what it is. A word joiner goes after every `@`
/// that starts a word, so `@room`, `@channel`, `@everyone` or `@user` in a log or a plugin's
/// text reads the same and pings nobody (Matrix clients without intentional mentions,
/// Telegram's mention entities).
pub(crate) fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\t' => out.push(' '),
            c if is_bidi_control(c) => {}
            c if c.is_control() => out.push('\u{FFFD}'),
            '@' => {
                out.push('@');
                if chars
                    .peek()
                    .is_some_and(|n| n.is_alphanumeric() || *n == '_')
                {
                    out.push('\u{2060}');
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// Embeddings, overrides, isolates and marks that reorder text (Unicode's bidi controls).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// One line of at most `max` characters (newlines become spaces), `…` when cut.
pub(crate) fn one_line(s: &str, max: usize) -> String {
    let flat: String = s
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    clip(&clean(flat.trim()), max)
}

/// At most `max` characters, the last one `…` when cut.
pub(crate) fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// At most `max` UTF-16 units of already-escaped text, the last one `…` when cut; never cuts
/// inside an entity (`&amp;`).
pub(crate) fn clip_escaped(s: &str, max: usize) -> String {
    if utf16_len(s) <= max {
        return s.to_owned();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = c.len_utf16();
        if used + w > max.saturating_sub(1) {
            break;
        }
        used += w;
        out.push(c);
    }
    if let Some(amp) = out.rfind('&')
        && !out[amp..].contains(';')
    {
        out.truncate(amp);
    }
    out.push('…');
    out
}

/// Excerpt lines as `193 | text`, numbers right-aligned, long lines clipped.
pub(crate) fn excerpt_raw(lines: &[(u64, String)]) -> Vec<String> {
    let width = lines
        .iter()
        .map(|(n, _)| n.to_string().len())
        .max()
        .unwrap_or(1);
    lines
        .iter()
        .map(|(n, t)| {
            format!(
                "{n:>width$} | {}",
                clip(&clean(t.trim_end()), MAX_LINE_CHARS)
            )
        })
        .collect()
}

/// What fits of an excerpt.
pub(crate) struct Fitted {
    /// Rendered (escaped) lines, in order.
    pub lines: Vec<String>,
    /// Lines left out at the end.
    pub more: usize,
}

/// Takes rendered lines from the top while they fit in `budget` (as measured by `cost`, one
/// unit per line for its newline). When not all fit, room is kept for the note (`note_cost`,
/// measured by the caller for the longest possible note) and a single first line that is too
/// long on its own is cut rather than dropped.
pub(crate) fn fit(
    raw: &[String],
    budget: usize,
    render: &dyn Fn(&str) -> String,
    cost: &dyn Fn(&str) -> usize,
    note_cost: usize,
) -> Fitted {
    let rendered: Vec<String> = raw.iter().map(|l| render(l)).collect();
    let total: usize = rendered.iter().map(|l| cost(l) + 1).sum();
    if total <= budget {
        return Fitted {
            lines: rendered,
            more: 0,
        };
    }
    let room = budget.saturating_sub(note_cost);
    let mut used = 0;
    let mut lines = Vec::new();
    for l in &rendered {
        let c = cost(l) + 1;
        if used + c > room {
            break;
        }
        used += c;
        lines.push(l.clone());
    }
    if lines.is_empty() && room >= 40 {
        // Longest prefix of the first line whose rendering fits (binary search on characters).
        let chars: Vec<char> = raw[0].chars().collect();
        let (mut lo, mut hi) = (0usize, chars.len());
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            let candidate = render(&(chars[..mid].iter().collect::<String>() + "…"));
            if cost(&candidate) < room {
                lo = mid
            } else {
                hi = mid - 1
            }
        }
        if lo > 0 {
            lines.push(render(&(chars[..lo].iter().collect::<String>() + "…")));
        }
    }
    let more = raw.len() - lines.len();
    Fitted { lines, more }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_drops_reordering_marks_keeps_text_and_defuses_mentions() {
        // "invoice\u{202E}fdp.exe" shows as "invoiceexe.pdf" where overrides work.
        assert_eq!(clean("invoice\u{202E}fdp.exe"), "invoicefdp.exe");
        assert_eq!(clean("a\u{2066}b\u{2069}c\u{200F}d"), "abcd");
        assert_eq!(clean("x\u{1b}[2Jy\u{7}"), "x\u{FFFD}[2Jy\u{FFFD}");
        assert_eq!(
            clean("@room hi @channel"),
            "@\u{2060}room hi @\u{2060}channel"
        );
        assert_eq!(
            clean("a @ b, me@example.com"),
            "a @ b, me@\u{2060}example.com"
        );
        assert_eq!(clean("Ошибка сборки\tok"), "Ошибка сборки ok");
    }

    #[test]
    fn fit_keeps_room_for_the_note_and_cuts_a_lone_long_line() {
        let raw: Vec<String> = (0..100)
            .map(|i| format!("line {i} {}", "x".repeat(20)))
            .collect();
        let id = |s: &str| s.to_owned();
        let f = fit(&raw, 200, &id, &utf16_len, 20);
        let used: usize = f.lines.iter().map(|l| utf16_len(l) + 1).sum();
        assert!(used + 20 <= 200, "{used}");
        assert_eq!(f.lines.len() + f.more, 100);
        let long = vec!["y".repeat(1000)];
        let f = fit(&long, 100, &id, &utf16_len, 20);
        assert_eq!(f.lines.len(), 1);
        assert!(utf16_len(&f.lines[0]) < 80 && f.lines[0].ends_with('…'));
        assert_eq!(f.more, 0);
    }

    #[test]
    fn escapes() {
        assert_eq!(
            html("<a href=\"x\">&</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;"
        );
        assert_eq!(mrkdwn("<!channel> & \"q\""), "&lt;!channel&gt; &amp; \"q\"");
        assert_eq!(utf16_len("😀a"), 3);
        assert_eq!(one_line("a\nb\u{7}", 10), "a b\u{FFFD}");
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip_escaped("ab&amp;cd", 5), "ab…");
        assert_eq!(clip_escaped("ab&amp;cd", 8), "ab&amp;…");
    }
}
