//! Comparison with the job's last green run (issue 12, item 2): a failure-looking line that the
//! green run printed too is not the cause; when no new line matches a rule, the first new lines
//! are shown; when nothing is new, the log is analysed alone and the report says so.

use exlogare_analysis::{Fingerprint, JobMeta, analyze_reader, analyze_reader_with_baseline};

fn green(text: &str) -> Fingerprint {
    Fingerprint::from_reader(text.as_bytes()).expect("fingerprint")
}

/// A `#[should_panic]` test prints its (expected) panic on every run, before the real failure.
const GREEN_CARGO: &str = "\
$ cargo test --locked
   Compiling app v0.1.0 (/home/travis/build/acme/app)
    Finished test [unoptimized + debuginfo] target(s) in 41.22s
     Running unittests src/lib.rs (target/debug/deps/app-3f9c2b1d0e4a5c6d)

running 3 tests
thread 'net::tests::refuses_bad_port' panicked at src/net.rs:88:9:
port 0 is not allowed
test net::tests::refuses_bad_port - should panic ... ok
test parse::tests::empty ... ok
test parse::tests::number ... ok

test result: ok. 3 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.02s

The command \"cargo test --locked\" exited with 0.

Done. Your build exited with 0.
";

const RED_CARGO: &str = "\
$ cargo test --locked
   Compiling app v0.1.0 (/home/travis/build/acme/app)
    Finished test [unoptimized + debuginfo] target(s) in 38.90s
     Running unittests src/lib.rs (target/debug/deps/app-9be41f07aa12cd34)

running 3 tests
thread 'net::tests::refuses_bad_port' panicked at src/net.rs:88:9:
port 0 is not allowed
test net::tests::refuses_bad_port - should panic ... ok
test parse::tests::empty ... ok
test parse::tests::number ... FAILED

failures:

---- parse::tests::number stdout ----
thread 'parse::tests::number' panicked at src/parse.rs:40:9:
assertion `left == right` failed
  left: 13
 right: 12

failures:
    parse::tests::number

test result: FAILED. 2 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.03s

error: test failed, to rerun pass `--lib`

The command \"cargo test --locked\" exited with 101.

Done. Your build exited with 1.
";

#[test]
fn a_failure_line_the_green_run_also_printed_is_not_the_cause() {
    let alone = analyze_reader(RED_CARGO.as_bytes(), JobMeta::default()).unwrap();
    // Alone, the expected panic of the should_panic test comes first and is as strong.
    assert_eq!(alone.decisive_line, Some(7), "{alone:?}");
    assert!(alone.comparison.is_none());

    let r =
        analyze_reader_with_baseline(RED_CARGO.as_bytes(), JobMeta::default(), green(GREEN_CARGO))
            .unwrap();
    let d = r.decisive_line.expect("decisive");
    assert!((13..=16).contains(&d), "decisive {d}: {r:?}");
    let c = r.comparison.as_ref().expect("comparison");
    assert_eq!(c.outcome, "new_failure_line");
    assert!(c.demoted >= 1, "{c:?}");
    assert!(
        r.excerpt[0].start_line <= 14 && r.excerpt[0].end_line >= 16,
        "{:?}",
        r.excerpt
    );
    assert!(r.summary.contains("parse"), "{}", r.summary);
}

#[test]
fn with_no_rule_matching_the_excerpt_is_the_first_new_lines() {
    let green_log = "\
$ ./scripts/check-dist.sh
comparing dist/app.js with a fresh build
comparing dist/app.css with a fresh build
all 2 files match
The command \"./scripts/check-dist.sh\" exited with 0.
";
    let red_log = "\
$ ./scripts/check-dist.sh
comparing dist/app.js with a fresh build
dist/app.js differs from the fresh build at byte 1022
  run make dist and commit the result
comparing dist/app.css with a fresh build
The command \"./scripts/check-dist.sh\" exited with 1.
";
    let alone = analyze_reader(red_log.as_bytes(), JobMeta::default()).unwrap();
    assert!(!alone.located);
    let r = analyze_reader_with_baseline(red_log.as_bytes(), JobMeta::default(), green(green_log))
        .unwrap();
    assert!(r.located);
    assert_eq!(r.comparison.as_ref().unwrap().outcome, "first_new_lines");
    assert_eq!(r.excerpt[0].start_line, 3, "{:?}", r.excerpt);
    assert!(r.excerpt[0].end_line >= 4, "{:?}", r.excerpt);
    assert!(
        r.summary.contains("differs from the fresh build"),
        "{}",
        r.summary
    );
}

#[test]
fn when_nothing_is_new_the_log_is_analysed_alone() {
    // The green log is the red one: nothing is new, so the comparison cannot tell.
    let r =
        analyze_reader_with_baseline(RED_CARGO.as_bytes(), JobMeta::default(), green(RED_CARGO))
            .unwrap();
    let alone = analyze_reader(RED_CARGO.as_bytes(), JobMeta::default()).unwrap();
    assert_eq!(r.decisive_line, alone.decisive_line);
    assert_eq!(r.excerpt, alone.excerpt);
    assert_eq!(r.comparison.unwrap().outcome, "nothing_new");
}

#[test]
fn an_empty_or_foreign_green_run_changes_nothing_but_the_note() {
    let alone = analyze_reader(RED_CARGO.as_bytes(), JobMeta::default()).unwrap();
    let r =
        analyze_reader_with_baseline(RED_CARGO.as_bytes(), JobMeta::default(), green("")).unwrap();
    // Every line is new: the rules decide as without a green run.
    assert_eq!(r.decisive_line, alone.decisive_line);
    assert_eq!(r.excerpt, alone.excerpt);
    let c = r.comparison.unwrap();
    assert_eq!((c.green_lines, c.demoted), (0, 0));
}

/// Pairs of real tool output produced on the development machine by
/// `tests/data/pairs/make_pairs.sh NAME green|red` (gcc through make, Python unittest with a
/// logged and recovered error, a node script that reports a missing optional file, cargo test
/// with a should_panic test and a passing test that prints `error:`): (name, what the decisive
/// line says alone, what the line the comparison shows says, outcome). Texts, not line
/// numbers: libtest's threads print in any order.
const PAIRS: &[(&str, &str, &str, &str)] = &[
    // The compiler error is new and already decisive alone: the comparison changes nothing.
    (
        "c_build",
        "error: expected",
        "error: expected",
        "new_failure_line",
    ),
    // Alone, the recovered `ERROR: connection refused` of a passing test comes first.
    (
        "py_unittest",
        "connection refused",
        "test_parse",
        "new_failure_line",
    ),
    // Alone, the missing optional file; the real failure matches no rule.
    (
        "node_script",
        "ENOENT",
        "checksum mismatch",
        "first_new_lines",
    ),
    // Alone, the passing test's `error:` line; with the green run, the failing test's panic.
    (
        "cargo_test",
        "simulated warning",
        "'tests::number'",
        "new_failure_line",
    ),
];

fn line(log: &[u8], n: u64) -> String {
    let l = log
        .split(|&b| b == b'\n')
        .nth(n as usize - 1)
        .unwrap_or_default();
    String::from_utf8_lossy(l).into_owned()
}

#[test]
fn real_tool_pairs_point_at_the_new_failure() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/pairs");
    for &(name, alone_says, green_says, outcome) in PAIRS {
        let red = std::fs::read(dir.join(format!("{name}.red.log"))).unwrap();
        let green_log = std::fs::read(dir.join(format!("{name}.green.log"))).unwrap();
        let alone = analyze_reader(&red[..], JobMeta::default()).unwrap();
        let d = alone.decisive_line.expect("decisive alone");
        assert!(
            line(&red, d).contains(alone_says),
            "{name} alone: {}",
            line(&red, d)
        );
        let fp = Fingerprint::from_reader(&green_log[..]).unwrap();
        let r = analyze_reader_with_baseline(&red[..], JobMeta::default(), fp).unwrap();
        let c = r.comparison.as_ref().expect("comparison");
        assert_eq!(c.outcome, outcome, "{name}: {c:?}");
        let shown = r.decisive_line.unwrap_or(r.excerpt[0].start_line);
        assert!(
            line(&red, shown).contains(green_says),
            "{name}: {}",
            line(&red, shown)
        );
    }
}
