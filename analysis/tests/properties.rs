//! Properties of the analysis over generated logs (issue 10, item 3): it never panics whatever
//! the bytes, its line numbers lie inside the log, and its report does not depend on how the
//! log was read. The generated logs mix what real Russian-team CI logs carry: Cyrillic UTF-8 and
//! CP1251, Unicode spaces, emoji, CJK, combining marks, invalid UTF-8, CR/CRLF, NUL, ANSI
//! escapes, CI step markers, failure lines, and GitFlic/GitHub timestamp prefixes.
//!
//! Case counts are modest so the file runs in a few seconds; `PROPTEST_CASES=5000 cargo test
//! -p exlogare-analysis --test properties` runs a longer search.

use exlogare_analysis::{
    Fingerprint, JobMeta, Report, analyze_reader, analyze_reader_with_baseline,
};
use proptest::prelude::*;
use proptest::test_runner::Config;
use std::io::Read;

fn config(cases: u32) -> Config {
    Config {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(cases),
        // Minimal failing inputs become named unit tests below, not files in the tree.
        failure_persistence: None,
        ..Config::default()
    }
}

/// Pieces of text a line is made of: each one a trap for byte-index slicing or line handling.
const PIECES: &[&[u8]] = &[
    "Ошибка сборки".as_bytes(),
    "ошибка: ".as_bytes(),
    "ОШИБКА:  отношение \"users\" не существует".as_bytes(),
    "make: *** [Makefile:12: all] Ошибка 1".as_bytes(),
    "error[E0308]: mismatched types".as_bytes(),
    b"src/main.rs:10:5: error: expected ';'",
    b"error: ",
    b"FAILED tests/test_a.py::test_x - AssertionError",
    b"npm ERR! Test failed.",
    b"The command \"make test\" exited with 1.",
    b"Process completed with exit code 2.",
    b"ERROR: Job failed: exit code 1",
    b"BUILD FAILURE",
    b"$ cargo build --locked",
    b"+ make -j2",
    b"panicked at src/lib.rs:3:9:",
    b"Killed",
    b"Traceback (most recent call last):",
    b"  File \"a.py\", line 1, in <module>",
    b"Could not resolve host: example.org",
    b"No space left on device",
    b"Timeout",
    b"warning: unused variable",
    b"ok",
    b" ",
    b"\t",
    b":",
    b"[",
    b"]",
    b"/tmp/x/",
    "\u{a0}".as_bytes(),
    "\u{2003}".as_bytes(),
    "\u{3000}".as_bytes(),
    "\u{200b}".as_bytes(),
    "🦀".as_bytes(),
    "❌ ✅".as_bytes(),
    "构建失败 错误".as_bytes(),
    "e\u{301}\u{308}".as_bytes(),
    "\u{fe0f}\u{20e3}".as_bytes(),
    // Invalid UTF-8: a lone continuation byte, a truncated sequence, an overlong form, 0xFF.
    b"\x80",
    b"\xd0",
    b"\xe2\x82",
    b"\xc0\xaf",
    b"\xff\xfe",
    // "Ошибка сборки" in CP1251, as a Windows runner writes it.
    b"\xce\xf8\xe8\xe1\xea\xe0 \xf1\xe1\xee\xf0\xea\xe8",
    b"\r",
    b"\r\n",
    b"\0",
    b"\x07",
    b"\x08",
    b"\x1b[31m",
    b"\x1b[0m",
    b"\x1b[0K",
    b"\x1b[2K",
    b"\x1b[1G",
    b"\x1b[3D",
    b"\x1b[",
    b"\x1b",
    b"\x1b]0;title\x07",
    b"section_start:1709288130:build_script\r\x1b[0K",
    b"section_end:1709288130:build_script\r\x1b[0K",
    b"travis_fold:start:install\r\x1b[0K",
    b"travis_fold:end:install\r\x1b[0K",
    b"##[group]Run cargo test",
    b"##[endgroup]",
    b"##[error]Process completed with exit code 1.",
    b"::group::build",
    b"::endgroup::",
];

/// Prefixes a CI system puts before every line.
const PREFIXES: &[&[u8]] = &[
    b"",
    b"2024-03-01T10:15:30.123Z ",
    b"2022-05-03T17:52:18.2295852Z ",
    b"10:15:30 ",
    b"[10:15:30] ",
    b"10:15: ",
    b"2024-03-01T10:15:30.123Z 00O ",
    b"2024-03-01T10:15:30Z\xc2\xa0",
];

/// How the log ends: newline, CRLF, or mid-line.
const ENDINGS: &[&[u8]] = &[b"\n", b"\r\n", b""];

fn piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => prop::sample::select(PIECES).prop_map(|p| p.to_vec()),
        1 => prop::collection::vec(any::<u8>(), 0..12),
        1 => any::<char>().prop_map(|c| c.to_string().into_bytes()),
    ]
}

/// A log: lines made of pieces, each line behind the same timestamp style (or a mix).
fn log() -> impl Strategy<Value = Vec<u8>> {
    let line = prop::collection::vec(piece(), 0..6);
    (
        prop::sample::select(PREFIXES),
        any::<bool>(),
        prop::collection::vec((line, prop::sample::select(PREFIXES)), 0..60),
        prop::sample::select(ENDINGS),
    )
        .prop_map(|(prefix, mixed, lines, last)| {
            let mut out = Vec::new();
            let n = lines.len();
            for (i, (pieces, own)) in lines.into_iter().enumerate() {
                out.extend_from_slice(if mixed { own } else { prefix });
                for p in pieces {
                    out.extend_from_slice(&p);
                }
                if i + 1 < n {
                    out.push(b'\n');
                } else {
                    out.extend_from_slice(last);
                }
            }
            out
        })
}

/// Hands out the input in the given chunk sizes, cycling; a zero size reads one byte.
struct Chunked<'a> {
    data: &'a [u8],
    sizes: Vec<usize>,
    at: usize,
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = self.sizes[self.at % self.sizes.len()].max(1);
        self.at += 1;
        let n = want.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// Lines in the raw log split on `\n`, as the analysis numbers them.
fn raw_lines(bytes: &[u8]) -> u64 {
    let newlines = bytes.iter().filter(|&&b| b == b'\n').count() as u64;
    newlines + u64::from(!bytes.is_empty() && !bytes.ends_with(b"\n"))
}

fn analyze(bytes: &[u8]) -> Report {
    analyze_reader(bytes, JobMeta::default()).expect("reading a slice cannot fail")
}

/// Every line number the report gives lies in the log, and the decisive line in the excerpt.
fn check_lines(bytes: &[u8], r: &Report) -> Result<(), TestCaseError> {
    let lines = raw_lines(bytes);
    prop_assert_eq!(r.lines_seen, lines, "lines_seen is the raw line count");
    for range in &r.excerpt {
        prop_assert!(
            1 <= range.start_line && range.start_line <= range.end_line && range.end_line <= lines,
            "excerpt range {:?} outside 1..={}",
            range,
            lines
        );
    }
    for (n, _) in &r.excerpt_lines {
        prop_assert!(
            (1..=lines).contains(n),
            "excerpt line {} outside 1..={}",
            n,
            lines
        );
        prop_assert!(
            r.excerpt
                .iter()
                .any(|x| (x.start_line..=x.end_line).contains(n)),
            "excerpt line {} is in no excerpt range {:?}",
            n,
            r.excerpt
        );
    }
    if let Some(d) = r.decisive_line {
        prop_assert!(
            r.excerpt
                .iter()
                .any(|x| (x.start_line..=x.end_line).contains(&d)),
            "decisive line {} outside the excerpt {:?}",
            d,
            r.excerpt
        );
    }
    Ok(())
}

fn check_same(a: &Report, b: &Report) -> Result<(), TestCaseError> {
    prop_assert_eq!(&a.excerpt, &b.excerpt);
    prop_assert_eq!(&a.excerpt_lines, &b.excerpt_lines);
    prop_assert_eq!(&a.signature, &b.signature);
    prop_assert_eq!(a.category, b.category);
    prop_assert_eq!(&a.category_rule, &b.category_rule);
    prop_assert_eq!(&a.summary, &b.summary);
    prop_assert_eq!(&a.failing_step, &b.failing_step);
    prop_assert_eq!(a.decisive_line, b.decisive_line);
    prop_assert_eq!(a.lines_seen, b.lines_seen);
    Ok(())
}

proptest! {
    #![proptest_config(config(96))]

    /// Arbitrary bytes: no panic, and line numbers inside the log.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..3000)) {
        let r = analyze(&bytes);
        check_lines(&bytes, &r)?;
    }

    /// Generated CI-like logs with Unicode traps and timestamps on every line.
    #[test]
    fn generated_logs_stay_inside_the_log(bytes in log()) {
        let r = analyze(&bytes);
        check_lines(&bytes, &r)?;
    }

    /// Compared with a generated green run (issue 12): no panic, line numbers inside the log,
    /// and the green run's bytes never leak into the failing log's excerpt numbering.
    #[test]
    fn comparison_with_a_green_run_stays_inside_the_log(green in log(), bytes in log()) {
        let fp = Fingerprint::from_reader(&green[..]).expect("reading a slice cannot fail");
        let fp = Fingerprint::from_bytes(&fp.to_bytes()).expect("round trip");
        let r = analyze_reader_with_baseline(&bytes[..], JobMeta::default(), fp)
            .expect("reading a slice cannot fail");
        check_lines(&bytes, &r)?;
        prop_assert!(r.comparison.is_some());
    }

    /// The same bytes read in random-size chunks give the same report.
    #[test]
    fn report_does_not_depend_on_read_sizes(
        bytes in log(),
        sizes in prop::collection::vec(0usize..64, 1..8),
    ) {
        let whole = analyze(&bytes);
        let chunked = analyze_reader(
            Chunked { data: &bytes, sizes, at: 0 },
            JobMeta::default(),
        )
        .expect("reading a slice cannot fail");
        check_same(&whole, &chunked)?;
    }
}

proptest! {
    #![proptest_config(config(8))]

    /// Long lines (past the normalizer's line cap) with Unicode at every offset, chunked.
    #[test]
    fn long_lines_do_not_depend_on_read_sizes(
        unit in prop::sample::select(PIECES),
        repeat in 500usize..9000,
        prefix in prop::sample::select(PREFIXES),
        sizes in prop::collection::vec(1usize..5000, 1..4),
    ) {
        let mut bytes = prefix.to_vec();
        bytes.extend(unit.iter().copied().cycle().take(repeat * unit.len().max(1)));
        bytes.extend_from_slice(b"\nerror: after the long line\n");
        let whole = analyze(&bytes);
        check_lines(&bytes, &whole)?;
        let chunked = analyze_reader(
            Chunked { data: &bytes, sizes, at: 0 },
            JobMeta::default(),
        )
        .expect("reading a slice cannot fail");
        check_same(&whole, &chunked)?;
    }
}
