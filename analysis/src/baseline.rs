//! The last green run of the same job, as a bounded fingerprint of its normalized lines (issue
//! 12, item 2). A line of the failing log that the green run also printed did not fail that
//! run, so it is not the cause; a line that is new is where to look (the CiDiff line of
//! research: the lines new against the job's last passing log locate failures well).
//!
//! Lines are compared after masking what differs between two runs of the same job: timestamps
//! and clock times (stripped as the analysis strips them), every word that holds a digit
//! (durations, counters, ports, PIDs, hashes, ids, versions of temporary files), temporary
//! paths, and runs of blanks. What is kept is a 64-bit hash per distinct line, at most
//! [`MAX_HASHES`] of them: past that, only hashes whose low bits are zero are kept (one in two,
//! then one in four...), and a line whose hash falls outside the kept share is "unknown",
//! neither old nor new. So a fingerprint's size is bounded whatever the green log's size, and
//! it can be stored per job ([`Fingerprint::to_bytes`]).

use exlogare_logtext::Normalizer;
use std::collections::HashSet;
use std::io::Read;

/// Most hashes kept: 65 536 × 8 bytes stored, about 1 MiB in memory.
pub const MAX_HASHES: usize = 1 << 16;
const MAGIC: &[u8; 4] = b"EXF1";

#[derive(Debug, Clone, Default)]
pub struct Fingerprint {
    hashes: HashSet<u64>,
    /// Only hashes with this many low zero bits are kept.
    level: u32,
    /// Non-blank lines read from the green log.
    pub lines: u64,
}

impl Fingerprint {
    pub fn new() -> Self {
        Self::default()
    }

    /// The fingerprint of a whole (passing) log, read through the same terminal rendering as
    /// the analysis.
    pub fn from_reader(mut r: impl Read) -> std::io::Result<Self> {
        let mut fp = Fingerprint::new();
        let mut norm = Normalizer::new(crate::MAX_LINE_BYTES);
        let mut buf = vec![0u8; 256 * 1024];
        let mut feed = |l: exlogare_logtext::LineRef<'_>| fp.add_line(l.text);
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
        Ok(fp)
    }

    pub fn add_line(&mut self, text: &str) {
        let Some(h) = line_hash(text) else { return };
        self.lines += 1;
        if !self.keeps(h) {
            return;
        }
        self.hashes.insert(h);
        while self.hashes.len() > MAX_HASHES {
            self.level += 1;
            let level = self.level;
            self.hashes.retain(|&h| kept_at(h, level));
        }
    }

    /// `Some(true)`: the green run printed this line (masked); `Some(false)`: it did not;
    /// `None`: a blank line, or one the sampled fingerprint cannot tell.
    pub fn contains(&self, text: &str) -> Option<bool> {
        let h = line_hash(text)?;
        self.keeps(h).then(|| self.hashes.contains(&h))
    }

    fn keeps(&self, h: u64) -> bool {
        kept_at(h, self.level)
    }

    /// Distinct hashes kept.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// For storage: magic, level, line count, then the sorted hashes, little-endian.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v: Vec<u64> = self.hashes.iter().copied().collect();
        v.sort_unstable();
        let mut out = Vec::with_capacity(16 + 8 * v.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.level.to_le_bytes());
        out.extend_from_slice(&self.lines.to_le_bytes());
        for h in v {
            out.extend_from_slice(&h.to_le_bytes());
        }
        out
    }

    /// The inverse of [`to_bytes`](Self::to_bytes); `None` for anything else (a stored
    /// fingerprint of another version is then ignored, not trusted).
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        let rest = b.strip_prefix(MAGIC)?;
        if rest.len() < 12 || (rest.len() - 12) % 8 != 0 || (rest.len() - 12) / 8 > MAX_HASHES {
            return None;
        }
        let level = u32::from_le_bytes(rest[..4].try_into().ok()?);
        let lines = u64::from_le_bytes(rest[4..12].try_into().ok()?);
        if level > 63 {
            return None;
        }
        let hashes = rest[12..]
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .filter(|&h| kept_at(h, level))
            .collect();
        Some(Fingerprint {
            hashes,
            level,
            lines,
        })
    }
}

fn kept_at(h: u64, level: u32) -> bool {
    level == 0 || h.trailing_zeros() >= level
}

/// FNV-1a over the masked line; `None` for a blank line. Works on bytes, so no text is cut.
pub fn line_hash(text: &str) -> Option<u64> {
    let t = crate::strip_clock(crate::strip_timestamp(text));
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    let mut any = false;
    for word in t.split_ascii_whitespace() {
        if any {
            eat(b" ");
        }
        any = true;
        // Each temporary path holds `/t`, `/v` or `\T`; most words hold none (a source path
        // neither), and the substring searches cost more than the word's hash.
        let maybe_tmp = word
            .as_bytes()
            .windows(2)
            .any(|w| matches!(w, [b'/', b't' | b'v'] | [b'\\', b'T']));
        if maybe_tmp
            && (word.contains("/tmp/")
                || word.contains("/var/folders/")
                || word.contains("\\Temp\\")
                || word.starts_with("/tmp"))
        {
            eat(b"<tmp>");
            continue;
        }
        // Tokens are runs of letters, digits, `_` and non-ASCII bytes; one that holds a digit
        // (a count, a duration, a port, a hash, an id) is masked whole.
        let b = word.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let tok = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80;
            if tok(b[i]) {
                let start = i;
                while i < b.len() && tok(b[i]) {
                    i += 1;
                }
                if b[start..i].iter().any(u8::is_ascii_digit) {
                    eat(b"0");
                } else {
                    eat(&b[start..i]);
                }
            } else {
                eat(&b[i..=i]);
                i += 1;
            }
        }
    }
    any.then_some(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volatile_parts_are_masked() {
        let pairs = [
            ("ok  \tgithub.com/x/y\t0.112s", "ok github.com/x/y 1.204s"),
            (
                "2024-05-01T10:00:00.1234567Z Listening on 127.0.0.1:41234",
                "2024-05-02T11:12:13.7654321Z Listening on 127.0.0.1:39001",
            ),
            (
                "[12:00:01] wrote /tmp/tmp.7muyWDlizz/out.json",
                "[13:14:15] wrote /tmp/tmp.qBeGnnVmPh/out.json",
            ),
            ("commit 3f2a9c1d built", "commit 9be41f07 built"),
            ("Ran 412 tests in 3.210s", "Ran 413 tests in 2.998s"),
        ];
        for (a, b) in pairs {
            assert_eq!(line_hash(a), line_hash(b), "{a} / {b}");
        }
        assert_ne!(
            line_hash("--- FAIL: TestParse (0.00s)"),
            line_hash("--- PASS: TestParse (0.00s)")
        );
        assert_eq!(line_hash("   \t "), None);
    }

    #[test]
    fn a_fingerprint_stays_bounded_and_still_answers() {
        let mut fp = Fingerprint::new();
        for i in 0..(3 * MAX_HASHES) {
            fp.add_line(&format!("line {} of the green run", to_words(i)));
        }
        assert!(fp.len() <= MAX_HASHES);
        assert!(fp.level >= 1);
        let known = (0..1000)
            .filter(|&i| {
                fp.contains(&format!("line {} of the green run", to_words(i))) == Some(true)
            })
            .count();
        let unknown = (0..1000)
            .filter(|&i| {
                fp.contains(&format!("line {} of the green run", to_words(i)))
                    .is_none()
            })
            .count();
        // every line answers "seen" or "cannot tell", never "new"
        assert_eq!(known + unknown, 1000);
        assert!(known > 100, "{known}");
        let back = Fingerprint::from_bytes(&fp.to_bytes()).expect("round trip");
        assert_eq!(back.len(), fp.len());
        assert_eq!(back.level, fp.level);
        assert_eq!(back.lines, fp.lines);
        assert!(Fingerprint::from_bytes(b"EXF1\0\0").is_none());
        assert!(Fingerprint::from_bytes(b"something else").is_none());
    }

    /// Distinct lines without digits (a digit would be masked and make them all equal).
    fn to_words(mut i: usize) -> String {
        let mut s = String::new();
        loop {
            s.push((b'a' + (i % 26) as u8) as char);
            i /= 26;
            if i == 0 {
                return s;
            }
        }
    }
}
