//! Failure formats of tools, one small Travis-style log each (`tests/data/formats/`), for the
//! projects the dev set does not have (issue 12: `go test`, compilers, LaTeX, Vim test runners,
//! TAP, JUnit/surefire...). The logs are synthetic: written after each tool's documented or
//! source-defined output (named per case), not taken from any project. After the failure the
//! command prints 36 neutral lines, so the end of the failed command does not show it: a rule
//! must find it.
//!
//! Each case names the lines a reader would point at (the "chunk"): the decisive line must be
//! one of them (or the runner's failure heading right above them), and the excerpt must hold
//! the chunk's first lines (up to 10 non-blank, as the LogChunks M1 metric counts them), within
//! the 25-line excerpt.

use exlogare_analysis::{JobMeta, analyze_reader};
use std::path::PathBuf;

struct Case {
    file: &'static str,
    /// The labelled chunk, 1-based inclusive.
    chunk: (u64, u64),
    /// Where the decisive line must be: in the chunk, or a failure heading just above it.
    decisive: (u64, u64),
    /// Where the format comes from.
    source: &'static str,
}

const fn c(
    file: &'static str,
    chunk: (u64, u64),
    decisive: (u64, u64),
    source: &'static str,
) -> Case {
    Case {
        file,
        chunk,
        decisive,
        source,
    }
}

const CASES: &[Case] = &[
    // Go
    c(
        "go_test_verbose.log",
        (18, 20),
        (18, 18),
        "go test -v: `--- FAIL: Name (d)` then the test's indented log (testing package, tRunner/flushToParent)",
    ),
    c(
        "go_test_quiet.log",
        (17, 19),
        (17, 17),
        "go test: subtests nest `--- FAIL: A/b` under their parent",
    ),
    c(
        "go_test_panic.log",
        (16, 23),
        (16, 17),
        "a panic in a test: `--- FAIL:` then `panic: ... [recovered]` and the goroutine trace (runtime/panic.go)",
    ),
    c(
        "go_build_error.log",
        (15, 17),
        (15, 17),
        "go build errors: `# pkg` then `file.go:line:col: msg`, no `error` word (cmd/compile)",
    ),
    c(
        "go_vet.log",
        (15, 16),
        (15, 16),
        "go vet: `# pkg` then `file.go:line:col: msg` (cmd/vet)",
    ),
    c(
        "go_vet_old.log",
        (17, 17),
        (17, 17),
        "go vet before Go 1.10: `file.go:line: msg`, no column",
    ),
    c(
        "gometalinter.log",
        (15, 16),
        (15, 16),
        "gometalinter: `file.go:line:col:severity: msg (linter)` (its README)",
    ),
    c(
        "go_race.log",
        (16, 24),
        (16, 17),
        "go test -race: `WARNING: DATA RACE` and both stacks, before the test's `--- FAIL:` (Go's Data Race Detector article)",
    ),
    // C and C++
    c(
        "gcc_linker.log",
        (16, 17),
        (17, 17),
        "GNU ld through gcc: `obj: In function`, `undefined reference to`, then collect2's summary",
    ),
    c(
        "autoconf.log",
        (20, 22),
        (20, 20),
        "autoconf: `configure: error: MSG` (AC_MSG_ERROR, autoconf manual)",
    ),
    c(
        "unity.log",
        (18, 18),
        (18, 18),
        "Unity: `file:line:test:FAIL: msg` (unity.c, UnityTestResultsFailBegin)",
    ),
    c(
        "gcc_make.log",
        (17, 20),
        (17, 18),
        "gcc: `file:line:col: error: msg` (GCC manual, -fdiagnostics-format=text)",
    ),
    c(
        "clang_include.log",
        (16, 20),
        (16, 17),
        "clang: `In file included from`, `fatal error:`, caret lines, `N error generated.`",
    ),
    c(
        "automake_check.log",
        (18, 18),
        (18, 18),
        "automake parallel test harness: `FAIL: test` lines, testsuite summary (automake manual, Simple Tests)",
    ),
    c(
        "ctest.log",
        (19, 20),
        (19, 20),
        "CTest: `n/N Test #n: name ...***Failed` (ctest --output-on-failure)",
    ),
    c(
        "gtest.log",
        (20, 25),
        (20, 20),
        "googletest: `file:line: Failure`, `[  FAILED  ] Suite.Name` (gtest.cc)",
    ),
    c(
        "catch2.log",
        (21, 24),
        (21, 21),
        "Catch2 console reporter: `file:line: FAILED:`, the expression, `with expansion:`",
    ),
    c(
        "valgrind.log",
        (20, 23),
        (20, 20),
        "Valgrind memcheck: `==pid== Invalid read of size 4` and its stack (Valgrind manual, 4.2)",
    ),
    // Rust
    c(
        "rustc_error.log",
        (17, 25),
        (17, 17),
        "rustc: `error[E0308]: msg` then ` --> file:line:col` (rustc dev guide, diagnostics)",
    ),
    c(
        "cargo_test.log",
        (26, 29),
        (24, 28),
        "libtest: `failures:`, `---- name stdout ----`, the panic message",
    ),
    // .NET
    c(
        "csc_msbuild.log",
        (19, 19),
        (19, 19),
        "MSBuild/csc: `file(line,col): error CS0103: msg [project]` (MSBuild canonical error format)",
    ),
    c(
        "dotnet_test_xunit.log",
        (22, 27),
        (22, 23),
        "dotnet test + xUnit: `[xUnit.net ...] Name [FAIL]`, vstest `Failed   Name`",
    ),
    c(
        "nunit.log",
        (23, 26),
        (21, 23),
        "NUnit 3 console: `1) Failed : Name`, `Expected:` / `But was:`",
    ),
    // Haskell
    c(
        "ghc_old.log",
        (20, 22),
        (20, 20),
        "GHC 7: an error is its location alone `file.hs:l:c:` and an indented message",
    ),
    c(
        "ghc_new.log",
        (20, 26),
        (20, 20),
        "GHC 8+: `file.hs:l:c: error:` and bullets",
    ),
    c(
        "hspec.log",
        (20, 27),
        (20, 22),
        "hspec: `name FAILED [1]`, `Failures:`, `1) Describe it`",
    ),
    // Erlang
    c(
        "erlc_rebar.log",
        (17, 18),
        (17, 17),
        "erlc via rebar3: `file.erl:line: msg`, warnings say `Warning:` (compile module)",
    ),
    c("erlc_make.log", (17, 17), (17, 17), "erlc from make"),
    c(
        "common_test.log",
        (23, 26),
        (23, 23),
        "Common Test: `%%% SUITE ==> case: FAILED` (ct_run console output)",
    ),
    c(
        "eunit.log",
        (17, 23),
        (17, 17),
        "EUnit: `mod: name_test...*failed*`, `**error:{assertEqual,...}`",
    ),
    // TeX
    c(
        "latex_undefined.log",
        (24, 28),
        (24, 24),
        "TeX: `! Undefined control sequence.` then `l.12 ...` (The TeXbook, ch. 6)",
    ),
    c(
        "latex_missing_sty.log",
        (29, 39),
        (29, 29),
        "LaTeX: `! LaTeX Error: File `x.sty' not found.`, `! Emergency stop.`; latexmk summary",
    ),
    // Vim
    c(
        "vader.log",
        (20, 24),
        (20, 20),
        "vader.vim: `(3/3) [EXECUTE] (X) msg` (autoload/vader.vim, s:append)",
    ),
    c(
        "themis.log",
        (17, 22),
        (17, 17),
        "vim-themis spec reporter: `[✖] title` (autoload/themis/reporter/spec.vim)",
    ),
    c(
        "themis_tap.log",
        (17, 22),
        (17, 17),
        "vim-themis TAP reporter: `not ok N - title`",
    ),
    c(
        "vspec.log",
        (21, 22),
        (21, 21),
        "vim-vspec through vim-flavor and prove: TAP `not ok N - ...`",
    ),
    // JVM
    c(
        "maven_surefire.log",
        (21, 24),
        (21, 22),
        "Maven surefire 2.20+: `[ERROR] Tests run: ... <<< FAILURE! - in Class`",
    ),
    c(
        "maven_surefire_old.log",
        (19, 23),
        (19, 20),
        "Maven surefire 2.12: `Tests run: ..., Errors: 0 ... <<< FAILURE!`, `name(Class)  Time elapsed: ... <<< FAILURE!`",
    ),
    c(
        "gradle_test.log",
        (22, 23),
        (22, 22),
        "Gradle: `Class > name FAILED` and the exception",
    ),
    c(
        "javac_maven.log",
        (18, 22),
        (18, 20),
        "maven-compiler-plugin: `[ERROR] COMPILATION ERROR :`, `[ERROR] file:[l,c] msg`",
    ),
    // TAP and friends
    c(
        "tap_prove.log",
        (16, 20),
        (16, 17),
        "Test::More through prove: `#   Failed test 'name'` (Test::Builder)",
    ),
    c(
        "tap_node.log",
        (21, 27),
        (21, 21),
        "tape: TAP 13 `not ok N name` and its YAML block (testanything.org)",
    ),
    c(
        "bats.log",
        (17, 19),
        (17, 17),
        "bats: TAP `not ok N name`, `# (in test file ..., line N)`",
    ),
    // Others seen across projects
    c(
        "python_pytest_unittest.log",
        (16, 22),
        (16, 17),
        "unittest: `FAIL: name (module.Class)` under a `=====` rule, traceback",
    ),
    c(
        "swift_build.log",
        (16, 18),
        (16, 16),
        "swift build: `file.swift:l:c: error: msg`",
    ),
    c(
        "elixir_mix.log",
        (19, 26),
        (19, 26),
        "ExUnit: `1) test name (Module)`, `Assertion with == failed`",
    ),
    c(
        "ocaml.log",
        (16, 17),
        (16, 17),
        "OCaml: `File \"x.ml\", line 12, characters 4-9:` then `Error: msg` (the OCaml manual)",
    ),
    c(
        "shellcheck.log",
        (15, 19),
        (15, 18),
        "shellcheck tty format: `In file line N:`, the line, `^-- SC2086: msg`",
    ),
    c(
        "php_phpunit.log",
        (23, 26),
        (21, 23),
        "PHPUnit: `There was 1 failure:`, `1) Class::method`",
    ),
];

#[test]
fn tool_formats_are_located_by_their_rules() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/formats");
    let mut failures = Vec::new();
    for case in CASES {
        let bytes = std::fs::read(dir.join(case.file)).expect("fixture exists");
        let lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
        let r = analyze_reader(&bytes[..], JobMeta::default()).expect("analysis");
        let held: Vec<u64> = r
            .excerpt
            .iter()
            .flat_map(|x| x.start_line..=x.end_line)
            .collect();
        let head: Vec<u64> = (case.chunk.0..=case.chunk.1)
            .filter(|&i| {
                lines
                    .get(i as usize - 1)
                    .is_some_and(|l| l.iter().any(|b| !b.is_ascii_whitespace()))
            })
            .take(10)
            .collect();
        let decisive_ok = r
            .decisive_line
            .is_some_and(|d| (case.decisive.0..=case.decisive.1).contains(&d));
        let head_ok = head.iter().all(|i| held.contains(i));
        if !decisive_ok || !head_ok || held.len() > 25 || !r.located {
            failures.push(format!(
                "{} ({}): decisive {:?} (want {:?}), excerpt {:?} (must hold {:?}), rule {}",
                case.file,
                case.source,
                r.decisive_line,
                case.decisive,
                r.excerpt
                    .iter()
                    .map(|x| (x.start_line, x.end_line))
                    .collect::<Vec<_>>(),
                head,
                r.category_rule
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
