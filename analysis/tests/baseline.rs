//! Comparison with the job's last green run (issue 12, item 2): a failure-looking line that the
//! green run printed too is not the cause; when no rule matches, the first new lines are shown;
//! when nothing new looks like a failure, the log is analysed alone and the report says so.

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
fn when_every_failure_line_was_in_the_green_run_the_log_is_analysed_alone() {
    // The green log is the red one: nothing is new, so the comparison cannot tell.
    let r =
        analyze_reader_with_baseline(RED_CARGO.as_bytes(), JobMeta::default(), green(RED_CARGO))
            .unwrap();
    let alone = analyze_reader(RED_CARGO.as_bytes(), JobMeta::default()).unwrap();
    assert_eq!(r.decisive_line, alone.decisive_line);
    assert_eq!(r.excerpt, alone.excerpt);
    assert_eq!(r.comparison.unwrap().outcome, "no_new_failure_line");
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
