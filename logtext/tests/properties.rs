//! Properties of the normalizer over generated input (issue 10, item 3): it never panics, it
//! is idempotent on its own output, and its output does not depend on how the input is chunked.
//!
//! Case counts are modest so the file runs in a few seconds; `PROPTEST_CASES=5000 cargo test
//! -p exlogare-logtext --test properties` runs a longer search.

use exlogare_logtext::{Line, Normalizer, normalize_line};
use proptest::prelude::*;
use proptest::test_runner::Config;

fn config(cases: u32) -> Config {
    Config {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(cases),
        // Minimal failing inputs become named unit tests, not files in the tree.
        failure_persistence: None,
        ..Config::default()
    }
}

/// Pieces that exercise the terminal model, the marker parser and UTF-8 handling.
const PIECES: &[&[u8]] = &[
    "Ошибка сборки".as_bytes(),
    "ошибка: ".as_bytes(),
    b"error: x",
    b"abc",
    b"0123456789",
    b" ",
    b"\t",
    "\u{a0}".as_bytes(),
    "\u{2003}".as_bytes(),
    "\u{3000}".as_bytes(),
    "🦀".as_bytes(),
    "构建失败".as_bytes(),
    "e\u{301}\u{308}".as_bytes(),
    "\u{9b}".as_bytes(),
    b"\x80",
    b"\xd0",
    b"\xe2\x82",
    b"\xff",
    b"\xce\xf8\xe8\xe1\xea\xe0",
    b"\r",
    b"\r\n",
    b"\n",
    b"\0",
    b"\x07",
    b"\x08",
    b"\x7f",
    b"\x1b[31;1m",
    b"\x1b[0m",
    b"\x1b[K",
    b"\x1b[1K",
    b"\x1b[2K",
    b"\x1b[3G",
    b"\x1b[2D",
    b"\x1b[4C",
    b"\x1b[?25l",
    b"\x1b[",
    b"\x1b",
    b"\x1b(B",
    b"\x1b]0;title\x07",
    b"\x1b]8;;http://x\x1b\\",
    b"section_start:1709288130:build_script",
    b"section_end:1709288130:build_script",
    b"[collapsed=true]",
    b"travis_fold:start:install",
    b"travis_fold:end:install",
    b"##[group]Run cargo test",
    b"##[endgroup]",
    b"::group::build",
    b"::endgroup::",
    b"2024-03-01T10:15:30.123Z ",
    b"2022-05-03T17:52:18.2295852Z\xc2\xa0",
    b"10:15:30 ",
    b"section",
    b"travis",
    b"_",
    b":",
];

fn input() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        8 => prop::sample::select(PIECES).prop_map(|p| p.to_vec()),
        1 => prop::collection::vec(any::<u8>(), 0..16),
        1 => any::<char>().prop_map(|c| c.to_string().into_bytes()),
    ];
    prop::collection::vec(piece, 0..120).prop_map(|ps| ps.concat())
}

/// Line caps from tiny (truncation and folding everywhere) to the analysis' own.
fn max_line() -> impl Strategy<Value = usize> {
    prop_oneof![1usize..8, 8usize..200, Just(4096), Just(64 * 1024)]
}

fn run(max: usize, chunks: &[&[u8]]) -> Vec<Line> {
    let mut n = Normalizer::new(max);
    let mut out = Vec::new();
    for c in chunks {
        n.push(c, &mut out);
    }
    n.finish(&mut out);
    assert_eq!(
        n.lines_seen(),
        out.len() as u64,
        "lines_seen counts the lines"
    );
    out
}

/// The borrowed-line API gives what the owned one does.
fn run_with(max: usize, chunks: &[&[u8]]) -> Vec<Line> {
    let mut n = Normalizer::new(max);
    let mut out = Vec::new();
    for c in chunks {
        n.push_with(c, &mut |l| out.push(l.to_line()));
    }
    n.finish_with(&mut |l| out.push(l.to_line()));
    out
}

/// Cuts `bytes` at the given sizes (cycling), so chunks may end inside an escape, a UTF-8
/// character or a CRLF.
fn split<'a>(bytes: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = bytes;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].clamp(1, rest.len());
        out.push(&rest[..n]);
        rest = &rest[n..];
        i += 1;
    }
    out
}

fn raw_lines(bytes: &[u8]) -> u64 {
    let newlines = bytes.iter().filter(|&&b| b == b'\n').count() as u64;
    newlines + u64::from(!bytes.is_empty() && !bytes.ends_with(b"\n"))
}

/// The output as a log again: its lines joined with `\n`.
fn as_log(lines: &[Line]) -> Vec<u8> {
    let mut out = Vec::new();
    for l in lines {
        out.extend_from_slice(l.text.as_bytes());
        out.push(b'\n');
    }
    out
}

fn check_shape(bytes: &[u8], max: usize, lines: &[Line]) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        lines.len() as u64,
        raw_lines(bytes),
        "one line per raw line"
    );
    for (i, l) in lines.iter().enumerate() {
        prop_assert_eq!(l.number, i as u64 + 1);
        prop_assert!(
            l.text.len() <= max.max(1),
            "line {} longer than the cap {}",
            l.number,
            max
        );
        prop_assert!(
            !l.text
                .chars()
                .any(|c| c == '\n' || c == '\r' || c == '\x1b'),
            "line {} keeps a control: {:?}",
            l.number,
            l.text
        );
    }
    Ok(())
}

/// Feeds `once` (the normalizer's output) to it again: every line comes back unchanged, and
/// the one-line API agrees.
///
/// The one thing a second pass may do is find a step marker that rendering produced: markers
/// are read from the raw line (GitLab's marker is erased by its own `\r\e[0K` when rendered), so
/// text that only reads as a marker once rendered (`\0##[group]x` shows `##[group]x`;
/// `section_\e[0mstart:1:x` shows `section_start:1:x`) was not one the first time and is one
/// the second. Such a line must then carry that marker and be the first pass's text with the
/// marker's text cut out, nothing else changed.
fn check_idempotent(max: usize, once: &[Line]) -> Result<(), TestCaseError> {
    let twice = run(max, &[&as_log(once)]);
    prop_assert_eq!(twice.len(), once.len());
    for (a, b) in once.iter().zip(&twice) {
        let (single, single_steps) = normalize_line(a.text.as_bytes());
        prop_assert_eq!(&single_steps, &b.steps, "line {}", a.number);
        if b.steps.is_empty() {
            prop_assert_eq!(&b.text, &a.text, "line {}", a.number);
            prop_assert_eq!(&single, &a.text, "line {}", a.number);
        } else {
            prop_assert!(
                is_cut_from(&b.text, &a.text),
                "line {}: second pass {:?} is not {:?} with a marker cut out",
                a.number,
                b.text,
                a.text
            );
        }
    }
    Ok(())
}

/// Whether `short` is `long` with some spans removed (a subsequence of whole chars).
fn is_cut_from(short: &str, long: &str) -> bool {
    let mut rest = long.chars();
    short.chars().all(|c| rest.any(|l| l == c))
}

proptest! {
    #![proptest_config(config(256))]

    /// Arbitrary bytes in arbitrary chunks: no panic, one line per raw line, within the cap.
    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..3000),
        max in max_line(),
        sizes in prop::collection::vec(0usize..300, 1..6),
    ) {
        let lines = run(max, &split(&bytes, &sizes));
        check_shape(&bytes, max, &lines)?;
    }

    /// Generated CI-like input: output shape as above.
    #[test]
    fn generated_input_keeps_its_shape(bytes in input(), max in max_line()) {
        let lines = run(max, &[&bytes]);
        check_shape(&bytes, max, &lines)?;
    }

    /// Any chunking, either API: the same lines, numbers and step markers.
    #[test]
    fn output_does_not_depend_on_chunking(
        bytes in input(),
        max in max_line(),
        sizes in prop::collection::vec(0usize..40, 1..6),
    ) {
        let whole = run(max, &[&bytes]);
        let chunks = split(&bytes, &sizes);
        prop_assert_eq!(&run(max, &chunks), &whole);
        prop_assert_eq!(&run_with(max, &chunks), &whole);
        let single: Vec<&[u8]> = bytes.chunks(1).collect();
        prop_assert_eq!(&run(max, &single), &whole);
    }

    /// The normalizer's output fed to it again comes back unchanged, line for line (see
    /// [`check_idempotent`] for the one thing a second pass may do).
    #[test]
    fn idempotent_on_its_own_output(bytes in input(), max in max_line()) {
        let once = run(max, &[&bytes]);
        check_idempotent(max, &once)?;
    }
}

proptest! {
    #![proptest_config(config(24))]

    /// Lines far past the raw buffer (folded as they stream in), cut anywhere.
    #[test]
    fn long_lines_do_not_depend_on_chunking(
        unit in prop::collection::vec(prop::sample::select(PIECES), 1..6),
        repeat in 50usize..3000,
        max in prop_oneof![1usize..300, Just(4096)],
        sizes in prop::collection::vec(1usize..3000, 1..5),
    ) {
        let unit: Vec<u8> = unit.concat();
        let bytes: Vec<u8> = unit.iter().copied().cycle().take(repeat * unit.len()).collect();
        let whole = run(max, &[&bytes]);
        check_shape(&bytes, max, &whole)?;
        prop_assert_eq!(&run(max, &split(&bytes, &sizes)), &whole);
        check_idempotent(max, &whole)?;
    }
}
