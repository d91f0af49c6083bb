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
//!
//! The second half of the list holds busier logs of the same languages (the tool's progress
//! lines, warnings, passing tests that log error words above the failure; summaries and
//! cascades below it), written the same way.

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
    ), // The second set (issue 12, item 1): the same languages in busier logs, as their tools print
    // them on a CI runner: warnings, passing tests that log error words and earlier noise above
    // the failure, the tool's summaries and cascades below it; and formats the first set lacked.
    // Go, in a busier log
    c(
        "go_dep_solving.log",
        (15, 17),
        (15, 15),
        "dep ensure: `Solving failure: No versions of x met constraints:` and one line per version (golang/dep)",
    ),
    c(
        "go_get_missing.log",
        (17, 19),
        (17, 17),
        "go get/build: `file.go:9:2: cannot find package \"x\" in any of:` and the GOROOT/GOPATH candidates (cmd/go, GOPATH mode)",
    ),
    c(
        "go_mod_unknown_revision.log",
        (16, 17),
        (16, 16),
        "go modules: `go: x@v1.4.2: unknown revision v1.4.2`, `go: error loading module requirements` (Go 1.11)",
    ),
    c(
        "go_test_timeout.log",
        (16, 20),
        (16, 16),
        "go test: `panic: test timed out after 10m0s` and the goroutine dump (testing.(*M).startAlarm)",
    ),
    c(
        "go_testify_quiet.log",
        (19, 25),
        (19, 19),
        "go test -race ./... with testify: `--- FAIL:` then tab-indented `Error Trace:`/`Error:` (stretchr/testify assert.Fail), passing packages' log lines with `[ERROR]` above",
    ),
    c(
        "go_unrecognized_import.log",
        (17, 17),
        (17, 17),
        "go get: `package x: unrecognized import path \"x\" (https fetch: ...)` (cmd/go, vcs.go)",
    ),
    c(
        "go_verbose_subtest.log",
        (26, 30),
        (26, 26),
        "go test -v: the parent's `--- FAIL:` above its subtests' `    --- FAIL: T/case` (testing package, t.Run), passing tests' logs with error words above",
    ),
    // C, in a busier log
    c(
        "c_automake_check.log",
        (20, 20),
        (20, 20),
        "automake parallel test harness: `FAIL: name`, the `Testsuite summary` with `# FAIL:  1` (automake manual, 15.2.3)",
    ),
    c(
        "c_clang_error.log",
        (22, 25),
        (22, 22),
        "clang through CMake's Makefiles: `[ 30%] Building C object`, `file.c:210:3: error:`, `1 error generated.`",
    ),
    c(
        "c_fatal_include.log",
        (17, 20),
        (17, 17),
        "gcc: `file.c:12:10: fatal error: x.h: No such file or directory`, `compilation terminated.` (automake silent rules `  CC  x.o`)",
    ),
    c(
        "c_gcc_warnings_then_error.log",
        (22, 25),
        (23, 23),
        "gcc through recursive make: warnings with carets before the first `error:`, make's `recipe for target` and `*** [x] Error 1` cascade",
    ),
    c(
        "c_ld_newstyle.log",
        (17, 20),
        (18, 18),
        "GNU ld 2.30+: `/usr/bin/ld: x.o: in function `main':` (lower case `in`), make 4.2's `*** [Makefile:12: app] Error 1`",
    ),
    c(
        "c_ld_undefined.log",
        (18, 21),
        (19, 19),
        "GNU ld before 2.30: `x.o: In function `main':`, `undefined reference to`, collect2's `ld returned 1 exit status` closing the message",
    ),
    // C++, in a busier log
    c(
        "cpp_gtest_ctest.log",
        (19, 29),
        (19, 19),
        "ctest --output-on-failure: `2/3 Test #2: name ...***Failed` followed by the googletest output of that test",
    ),
    c(
        "cpp_gtest_direct.log",
        (21, 24),
        (21, 21),
        "googletest run directly: `file.cc:88: Failure`, `Value of:`/`Actual:`/`Expected:` then `[  FAILED  ] Suite.Name`",
    ),
    c(
        "cpp_ice_killed.log",
        (18, 21),
        (18, 18),
        "g++ killed by the kernel: `c++: internal compiler error: Killed (program cc1plus)`, gcc's bug-report lines, make's cascade",
    ),
    // Rust, in a busier log
    c(
        "rust_cargo_build_warnings.log",
        (27, 34),
        (27, 27),
        "cargo build: rustc warnings with ` --> file:line:col` before `error[E0308]: mismatched types`, then cargo's `aborting`/`Could not compile` cascade",
    ),
    c(
        "rust_cargo_test_panic.log",
        (29, 33),
        (27, 30),
        "cargo test: `test x ... FAILED`, `failures:`, `---- name stdout ----`, `panicked at 'assertion failed: `(left == right)`'` (libtest)",
    ),
    c(
        "rust_clippy.log",
        (16, 25),
        (16, 16),
        "cargo clippy -- -D warnings: a lint as `error: msg`, ` --> file`, `= note: -D clippy::x implied by -D warnings`",
    ),
    c(
        "rust_compiletest_ui.log",
        (25, 34),
        (23, 25),
        "compiletest (rustc's test suite runner on libtest): `---- [ui] ui/x.rs stdout ----` with a space in the test name, the stderr diff",
    ),
    c(
        "rust_rustfmt_check.log",
        (15, 20),
        (15, 15),
        "cargo fmt -- --check: `Diff in /path/x.rs at line 12:` and the diff (rustfmt's check mode)",
    ),
    c(
        "rust_tidy.log",
        (18, 19),
        (18, 18),
        "a tool that names itself before `error:` (`tidy error: file:line: msg`), then a build driver's `expected success, got: exit code: 1`",
    ),
    // C#, in a busier log
    c(
        "cs_dotnet_test.log",
        (26, 31),
        (26, 26),
        "dotnet test with the xUnit adapter: `[xUnit.net 00:00:01.09]     Ns.Class.Method [FAIL]` before vstest's `Failed   Ns.Class.Method` repeat",
    ),
    c(
        "cs_msbuild_mono.log",
        (26, 26),
        (26, 26),
        "msbuild on Mono: `File.cs(118,42): error CS1002: ; expected [proj]` in CoreCompile, then `Build FAILED.` repeating warnings and errors",
    ),
    c(
        "cs_nuget_restore.log",
        (16, 16),
        (16, 16),
        "dotnet restore: `proj.csproj : error NU1101: Unable to find package X.` (NuGet error codes)",
    ),
    c(
        "cs_nunit3.log",
        (27, 30),
        (25, 27),
        "nunit3-console: `Errors, Failures and Warnings`, `1) Failed : Ns.Class.Method`, `Expected:`/`But was:`",
    ),
    c(
        "cs_xunit_console.log",
        (19, 24),
        (19, 19),
        "xunit.console: `    Ns.Class.Method [FAIL]`, `Assert.Equal() Failure`, `Expected:`/`Actual:`, `Stack Trace:`",
    ),
    // Haskell, in a busier log
    c(
        "hs_hspec.log",
        (27, 30),
        (25, 28),
        "hspec through cabal test: `Failures:`, `  test/X.hs:21:`, `  1) Module item`, `expected:`/`but got:`, `Test suite spec: FAIL`",
    ),
    c(
        "hs_stack2_prefixed.log",
        (21, 27),
        (22, 22),
        "stack 2: every line of a package's build prefixed with `pkg> `, GHC's `file.hs:33:7: error:` behind it",
    ),
    c(
        "hs_stack_build.log",
        (31, 37),
        (31, 31),
        "stack build (GHC 8.2): warnings with source spans, `/abs/path/File.hs:57:22: error:` with `•` bullets, stack's `--  While building package` epilogue",
    ),
    // Erlang, in a busier log
    c(
        "erl_dialyzer.log",
        (25, 26),
        (25, 27),
        "rebar3 dialyzer: the file name, `  32: The call ...` under it, `===> Warnings occured running dialyzer: 1` closing (rebar_prv_dialyzer)",
    ),
    c(
        "erl_erlangmk_ct.log",
        (29, 30),
        (29, 29),
        "erlang.mk's ct_run: `SUITE:case failed on line 57`, `Reason: {badmatch,...}` between `- - -` rules, `*** FAILED test case 3 of 5 ***`",
    ),
    c(
        "erl_rebar3_compile.log",
        (19, 20),
        (19, 19),
        "rebar3 compile: erlc's `src/x.erl:44: variable 'Reqq' is unbound` after `===> Compiling x`",
    ),
    c(
        "erl_rebar3_ct.log",
        (20, 26),
        (20, 20),
        "rebar3 ct: `%%% SUITE ==> case: FAILED` and the reason term, `Failed 1 tests. Passed 3 tests.`",
    ),
    c(
        "erl_rebar3_eunit.log",
        (21, 25),
        (19, 21),
        "rebar3 eunit: `Failures:`, `  1) mod:test/0: module 'x'`, `Failure/Error: ?assertEqual(...)`, `expected:`/`got:`",
    ),
    // TeX, in a busier log
    c(
        "tex_fontspec.log",
        (29, 38),
        (29, 29),
        "xelatex with fontspec (LaTeX3 msg module): `! fontspec error: \"font-not-found\"`, the `! ` continuation lines, `l.12`",
    ),
    c(
        "tex_make_multiple.log",
        (32, 37),
        (32, 32),
        "pdflatex through make: `! Missing $ inserted.`, `<inserted text>`, `l.17`, the same error again at `! Emergency stop.`",
    ),
    c(
        "tex_missing_sty.log",
        (27, 31),
        (27, 27),
        "xelatex: `! LaTeX Error: File `x.sty' not found.`, `Enter file name:`, `! Emergency stop.`, `==> Fatal error occurred`",
    ),
    c(
        "tex_tlmgr.log",
        (17, 18),
        (17, 17),
        "tlmgr install: `tlmgr install: package x not present in repository.` (TeX Live's tlmgr)",
    ),
    c(
        "tex_undefined_cs.log",
        (49, 52),
        (49, 49),
        "latexmk + pdfTeX: file-open parentheses, `Overfull \\hbox`, `LaTeX Warning:` before `! Undefined control sequence.` and `l.42`, latexmk's error summary",
    ),
    // VimL, in a busier log
    c(
        "vim_flake8.log",
        (16, 17),
        (16, 16),
        "flake8 over a plugin's Python side: `file.py:41:80: E501 line too long`",
    ),
    c(
        "vim_python_nose.log",
        (21, 30),
        (20, 21),
        "a plugin's Python tests under nose: `FAIL: ycm.tests.x_test.Name_test` under `=====`, the traceback and a PyHamcrest `Expected:`",
    ),
    c(
        "vim_themis.log",
        (17, 23),
        (17, 17),
        "vim-themis spec reporter: `[✖] title`, the function and line, `The equal values were expected`",
    ),
    c(
        "vim_vader.log",
        (24, 27),
        (24, 24),
        "vader.vim over three suites: `(3/20) [EXECUTE] (X) Expected:` with `Got:`, `Success/Total: 19/20`",
    ),
    c(
        "vim_vint.log",
        (15, 17),
        (15, 15),
        "vint: `file.vim:41:5: Undefined variable: l:count (see :help E121)` (vint's default formatter)",
    ),
    c(
        "vim_vspec.log",
        (26, 27),
        (26, 26),
        "vim-vspec through vim-flavor and prove: TAP `not ok 2 - x`, `# Expected ... but got`, prove's summary, rake's `Command failed`",
    ),
    // Java, in a busier log
    c(
        "java_checkstyle.log",
        (17, 18),
        (17, 17),
        "Gradle's checkstyle plugin: `[ant:checkstyle] [ERROR] File.java:41:5: msg [Check]`, `Checkstyle rule violations were found`",
    ),
    c(
        "java_gradle_compile.log",
        (18, 23),
        (18, 18),
        "Gradle 4: javac's `File.java:57: error: cannot find symbol` under `> Task :compileJava`, then `> Task :compileJava FAILED` and `* What went wrong:`",
    ),
    c(
        "java_gradle_test.log",
        (25, 30),
        (25, 25),
        "Gradle test logging: `Class > test FAILED` and the exception, a passing test's `STANDARD_ERROR` exception above it",
    ),
    c(
        "java_maven_surefire.log",
        (29, 33),
        (29, 29),
        "Maven surefire 2.20: `[ERROR] Tests run: ... <<< FAILURE! - in Class`, the test's `<<< FAILURE!`, the assertion, `[ERROR] Failures:` summary",
    ),
    // Objective-C, in a busier log
    c(
        "objc_pod_install.log",
        (17, 22),
        (17, 17),
        "pod install: `[!] CocoaPods could not find compatible versions for pod \"X\":` and the requirement tree (Molinillo)",
    ),
    c(
        "objc_pod_lint.log",
        (17, 18),
        (17, 17),
        "pod lib lint: `    - ERROR | [iOS] xcodebuild: ...`, `[!] X did not pass validation, due to 1 error.` (CocoaPods validator)",
    ),
    c(
        "objc_xcodebuild_raw_test.log",
        (21, 22),
        (21, 21),
        "raw xcodebuild test: `file.m:48: error: -[Class test] : ((error.code) equal to (404)) failed`, `Test Case '-[Class test]' failed (0.004 seconds).`",
    ),
    c(
        "objc_xcpretty_compile.log",
        (24, 26),
        (24, 24),
        "xcodebuild | xcpretty: `⚠️` warnings, `❌  file.m:57:14: msg`, `** BUILD FAILED **`, `The following build commands failed:`",
    ),
    // C, C++, Erlang, Haskell and Objective-C formats the first two sets lacked
    c(
        "c_check_framework.log",
        (22, 22),
        (22, 22),
        "Check (libcheck) under automake: `75%: Checks: 4, Failures: 1`, `file.c:41:F:suite:test:0: Assertion ... failed` (srunner output)",
    ),
    c(
        "c_glibc_double_free.log",
        (18, 22),
        (18, 18),
        "glibc's malloc check: `*** Error in `./x': double free or corruption (fasttop): 0x... ***` and its backtrace (malloc.c), make's `Aborted (core dumped)`",
    ),
    c(
        "cpp_doctest.log",
        (18, 23),
        (21, 21),
        "doctest: the test case's file:line and `TEST CASE:`, `file.cpp:37: ERROR: CHECK( ... ) is NOT correct!`, `values:`",
    ),
    c(
        "cpp_qtest.log",
        (20, 23),
        (20, 20),
        "Qt Test: `FAIL!  : Class::method() Compared values are not the same`, `Actual`/`Expected`, `Loc: [file(57)]`",
    ),
    c(
        "erl_escript_exception.log",
        (16, 20),
        (16, 16),
        "escript: `escript: exception error: undefined function m:f/1` and its `in function`/`in call from` lines",
    ),
    c(
        "erl_rebar3_registry.log",
        (17, 17),
        (17, 17),
        "rebar3: `===> Package not found in registry: x-2.6.0.` (rebar_app_utils)",
    ),
    c(
        "hs_hlint.log",
        (15, 20),
        (15, 15),
        "HLint: `file.hs:57:22-30: Error: Redundant do`, `Found:`/`Perhaps:`, `2 hints` (hlint's default output)",
    ),
    c(
        "hs_stack_build_plan.log",
        (16, 22),
        (16, 16),
        "stack: `Error: While constructing the build plan, the following exceptions were encountered:` and the version conflict",
    ),
    c(
        "objc_xcodebuild_destination.log",
        (17, 20),
        (17, 17),
        "xcodebuild: `xcodebuild: error: Unable to find a destination matching the provided destination specifier:` and the specifier",
    ),
    c(
        "go_make_golint_then_test.log",
        (21, 22),
        (21, 21),
        "make running golint (its hints, exit status 0: `file.go:12:1: exported function X should have comment`) before go test's `--- FAIL:`",
    ),
    c(
        "cs_powershell_error.log",
        (17, 20),
        (17, 21),
        "PowerShell's error view: `Cmd : The term 'x' is not recognized ...`, `At file:42 char:5`, the `~~~` marker, `+ CategoryInfo`",
    ),
    c(
        "java_maven_dependency.log",
        (26, 26),
        (26, 26),
        "Maven: `[ERROR] Failed to execute goal on project x: Could not resolve dependencies ... Could not find artifact` after `BUILD FAILURE`, the only line that says it",
    ),
    c(
        "vim_error_detected.log",
        (19, 22),
        (19, 19),
        "Vim's own error report in a test run: `Error detected while processing function x[3]..y:`, `line    7:`, `E121: Undefined variable:` (:help error-messages)",
    ),
    c(
        "cs_msbuild_exec.log",
        (25, 27),
        (25, 26),
        "dotnet build running npm through an Exec task: webpack's `ERROR in` and `Module not found`, then MSBuild's `error MSB3073: The command ... exited with code 2.` (a cascade)",
    ),
    c(
        "cs_msbuild_missing_project.log",
        (18, 19),
        (18, 18),
        "msbuild: `MSBUILD : error MSB1009: Project file does not exist.` and `Switch:` (MSBuild's command-line errors)",
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

/// A compiler's warnings (`file:12:5: warning: invalid conversion ...`, `warning: unable to
/// honour ...`) hold failure words, but they are not why a job failed: when the failure itself
/// matches no rule (here a test script's diff, the last lines of the command), the warnings
/// must not stand in for it; the end of the command is shown and the report says it could not
/// locate the failure. (gcc's diagnostic format: `file:line:column: warning: message`.)
#[test]
fn compiler_warnings_do_not_stand_in_for_an_unknown_failure() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/formats");
    let bytes = std::fs::read(dir.join("cpp_warnings_then_diff.log")).expect("fixture exists");
    let r = analyze_reader(&bytes[..], JobMeta::default()).expect("analysis");
    assert_eq!(r.decisive_line, None, "{:?}", r.category_rule);
    assert!(!r.located);
    let held: Vec<u64> = r
        .excerpt
        .iter()
        .flat_map(|x| x.start_line..=x.end_line)
        .collect();
    assert!((45..=51).all(|i| held.contains(&i)), "{:?}", r.excerpt);
}
