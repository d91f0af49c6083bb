//! The line rules: which log lines say why a job failed, how strongly, and what kind of failure
//! they point to. Every rule has a name (reported as the reason for a category, so a reader can
//! audit the decision) and an example line that the tests check it matches.
//!
//! Rules describe *output formats* (compilers, test runners, package managers, shells, CI
//! runners), never a particular project.

use aho_corasick::automaton::{Automaton, StateID};
use aho_corasick::{Anchored, MatchKind, StartKind, dfa::DFA};
use regex::{Regex, RegexSet, RegexSetBuilder};
use serde::Serialize;
use std::sync::OnceLock;

/// The failure taxonomy. Small on purpose: each category maps to a different first action for
/// the reader (fix code, fix a test, fix dependencies, retry, raise a limit...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// The code did not compile or link.
    Compilation,
    /// Tests ran and at least one failed.
    TestFailure,
    /// Packages or artifacts could not be resolved, downloaded or installed.
    DependencyResolution,
    /// A linter, formatter or other quality gate rejected the change.
    LintQuality,
    /// The job's own setup is wrong: missing file or command, bad option, bad CI config.
    Configuration,
    /// The CI runner or its services failed (docker daemon, runner system failure, VM).
    Infrastructure,
    /// A network operation failed (DNS, refused or reset connection, TLS, HTTP 5xx).
    Network,
    /// The job or a command ran too long or stalled.
    Timeout,
    /// Memory, disk or another resource ran out (OOM killer, exit 137, no space left).
    OutOfResources,
    /// The job was cancelled or aborted.
    Cancelled,
    /// None of the rules decided.
    Unknown,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Compilation => "compilation",
            Category::TestFailure => "test_failure",
            Category::DependencyResolution => "dependency_resolution",
            Category::LintQuality => "lint_quality",
            Category::Configuration => "configuration",
            Category::Infrastructure => "infrastructure",
            Category::Network => "network",
            Category::Timeout => "timeout",
            Category::OutOfResources => "out_of_resources",
            Category::Cancelled => "cancelled",
            Category::Unknown => "unknown",
        }
    }

    pub const ALL: [Category; 11] = [
        Category::Compilation,
        Category::TestFailure,
        Category::DependencyResolution,
        Category::LintQuality,
        Category::Configuration,
        Category::Infrastructure,
        Category::Network,
        Category::Timeout,
        Category::OutOfResources,
        Category::Cancelled,
        Category::Unknown,
    ];
}

/// What a matching line means for locating the failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The line states a failure (an error message, a failed test, a crash).
    Error,
    /// The line opens a block of failure details (a "Failures:" heading, a failed test's name).
    Header,
    /// The line repeats a failure already stated above it (make's `*** Error 2`, `npm ERR!`
    /// summaries, "exit code 1"): decisive only when nothing else is found.
    Cascade,
    /// The line looks like an error but is not one ("0 errors", warnings, deprecations).
    Ignore,
}

pub struct Rule {
    pub name: &'static str,
    pub pattern: &'static str,
    /// Strength, 1 (a hint) to 5 (unmistakable). Used to rank candidate lines.
    pub weight: u8,
    pub kind: Kind,
    pub category: Option<Category>,
    pub example: &'static str,
}

use Category as C;
use Kind as K;

macro_rules! rule {
    ($name:literal, $kind:expr, $w:literal, $cat:expr, $pat:expr, $ex:literal) => {
        Rule {
            name: $name,
            pattern: $pat,
            weight: $w,
            kind: $kind,
            category: $cat,
            example: $ex,
        }
    };
}

/// Order does not matter: every matching rule is considered, an Ignore rule wins, then the
/// heaviest.
pub static RULES: &[Rule] = &[
    // --- not failures, although they contain failure words
    rule!(
        "zero-count",
        K::Ignore,
        0,
        None,
        concat!(
            r"(?i)(\b0 (errors?|failures?|failed|failing)\b|\b(errors?|failures?|failed)[:=] ?0\b(?:[^.\d]|$)|\bno errors?\b|without errors?",
            // MSBuild ru "{0} Error(s)" → "Ошибок: {0}" (dotnet/msbuild
            // src/Build/Resources/xlf/Strings.ru.xlf, ErrorCount); "without errors".
            r"|\bошибок: ?0\b|\b0 ошибок\b|без ошибок)",
        ),
        "Tests run: 5, Failures: 0, Errors: 0"
    ),
    rule!(
        "warning",
        K::Ignore,
        0,
        None,
        // gcc ru "warning: " → "предупреждение: " (gcc-mirror/gcc gcc/po/ru.po). One `\W{0,3}`
        // for both languages: each copy of a Unicode class grows the set's automaton.
        r"(?i)^\W{0,3}(warn(ing)?\b|npm warn|deprecat|предупреждение\b)",
        "npm WARN deprecated request@2.88.0"
    ),
    rule!(
        "compiler-warning",
        K::Ignore,
        0,
        None,
        // A compiler's warning in the GNU form (gcc, clang, swiftc, GHC 8: `file:12:5: warning:
        // msg`): its words (`cannot`, `invalid`, `unable to`) are not the failure. Soft (see
        // `soft_ignore`); with -Werror the compiler says `error:` instead.
        // gometalinter's `file.go:12:1:warning:` (no space) counts its findings as failures.
        r"^\s*\S+:\d+(:\d+)?: warning:",
        "src/net.c:133:9: warning: cannot inline 'closesocket': function body not available"
    ),
    rule!(
        "deprecation",
        K::Ignore,
        0,
        None,
        // A deprecation notice inside a line. Soft (see `soft_ignore`): a compiler's own
        // diagnostic that mentions it (`x.c:3:5: error: 'f' is deprecated
        // [-Werror=deprecated-declarations]`) is still an error.
        r"(?i)\bdeprecat(ed|ion)\b|DeprecationWarning",
        "(node:1234) DeprecationWarning: Buffer() is deprecated due to security and usability issues."
    ),
    rule!(
        "info-log-line",
        K::Ignore,
        0,
        None,
        r"(?i)^\S*\s*\d\d:\d\d:\d\d\S*\s+\[?(info|debug|trace|notice|verbose)\b|^\s*\[(info|debug|trace)\][^*]*$",
        "08:18:51.584 [info] Cannot resume session: Previous session timed out"
    ),
    rule!(
        "docker-pull-notice",
        K::Ignore,
        0,
        None,
        r"^Unable to find image '[^']+' locally",
        "Unable to find image 'alpine:3.19' locally"
    ),
    rule!(
        "cmake-status",
        K::Ignore,
        0,
        None,
        r"^-- (Looking for|Could NOT find|Check|Performing Test|Found|Detecting|Checking)",
        "-- Looking for pthread_create - not found"
    ),
    rule!(
        "error-word-in-name",
        K::Ignore,
        0,
        None,
        r"(?i)(\berror[_./-]\w|\w[_.-]errors?\b|\w/errors?[./]|\berror(s|_handling)?\.(c|h|js|ts|go|rs|py|rb|java|o|cc|cpp)\b|\bon_?error|errorformat|ignore[_-]?errors|error_log)",
        "  CC src/error.c"
    ),
    rule!(
        "passed-test",
        K::Ignore,
        0,
        None,
        concat!(
            r"(?i)^\s*(ok\s+\d|ok\s+\S+\s+[\d.]+s|PASS(ED)?\b|✓|√)|(:|\.\.\.|\s)\s*(OK|ok|PASS(ED)?|passed|SKIP(PED)?|✓)\s*(\(\s*[\d.]+\s*m?s\s*\))?\s*$",
            // TAP (testanything.org, "Directives"): a `not ok` with `# TODO` or `# SKIP` is an
            // expected failure, not a failed test.
            r"|^\s*not ok\b.*#\s*(TODO|SKIP)\b",
        ),
        "ok  \tgithub.com/x/y\t0.1s"
    ),
    // --- compilers and interpreters
    rule!(
        "compiler-file-line-error",
        K::Error,
        6,
        Some(C::Compilation),
        concat!(
            r"^\s*[^\s:]+:\d+(:\d+)?:\s*((fatal )?error\b",
            // gcc ru (gcc-mirror/gcc gcc/po/ru.po): "error: " → "ошибка: ",
            // "fatal error: " → "фатальная ошибка: ".
            r"|(фатальная )?ошибка:)",
        ),
        "src/main.c:12:5: error: expected ';' before '}' token"
    ),
    rule!(
        "cmake-error",
        K::Error,
        5,
        Some(C::Configuration),
        r"^CMake Error\b",
        "CMake Error at CMakeLists.txt:46 (find_package):"
    ),
    rule!(
        "msbuild-tsc-error",
        K::Error,
        5,
        Some(C::Compilation),
        r"^\s*\S+\(\d+,\d+\):\s*(fatal )?error\b",
        "src/app.ts(3,7): error TS2322: Type 'string' is not assignable to type 'number'."
    ),
    rule!(
        "tsc-error-code",
        K::Error,
        5,
        Some(C::Compilation),
        r"\berror TS\d+:",
        "src/app.ts:3:7 - error TS2322: Type 'string' is not assignable."
    ),
    rule!(
        "rustc-error",
        K::Error,
        5,
        Some(C::Compilation),
        r"^error(\[E\d{4}\])?: ",
        "error[E0308]: mismatched types"
    ),
    rule!(
        "maven-compile-error",
        K::Error,
        5,
        Some(C::Compilation),
        r"^\[(ERROR|error)\] \S+\.(java|kt|scala|groovy):(\[\d+|\d+:)",
        "[ERROR] /src/main/java/App.java:[12,5] cannot find symbol"
    ),
    rule!(
        "kotlin-gradle-error",
        K::Error,
        5,
        Some(C::Compilation),
        r"^e: \S+\.(kt|kts)(:| \()",
        "e: /app/src/Main.kt: (12, 5): Unresolved reference: foo"
    ),
    rule!(
        "compilation-failed",
        K::Error,
        4,
        Some(C::Compilation),
        concat!(
            r"(?i)(compilation (failed|error)|COMPILATION ERROR|could not compile|build failed with \d+ errors?|failed to compile|\bcannot find symbol\b|undefined reference to|undefined symbols? for architecture|unresolved external symbol|\bSyntaxError\b|\bParseError\b|unexpected token|ld: (library|symbol)\(?s?\)? not found|cannot find -l\w",
            r"|multiple definition of [`'‘«]",
            // GNU ld ru (bminor/binutils-gdb ld/po/ru.po, bfd/po/ru.po): "undefined reference
            // to `%pT'" → "неопределённая ссылка на «%pT»" (the warning form spells it
            // "неопределенная"), "cannot find %s" → "невозможно найти %s", "multiple
            // definition of `%pT'" → "повторное определение «%pT»".
            r"|неопредел[её]нн[а-я]{2} ссылк[а-я] на|невозможно найти -l\w|повторное определение «",
            // MSBuild terminal logger ru (dotnet/msbuild src/Build/Resources/xlf/Strings.ru.xlf):
            // "Build {0} in {1}s" → "Сборка {0} через {1} с" with "failed with {0} error(s)" →
            // "сбой с ошибками ({0})".
            r"|сборка сбой с ошибками \(\d+\))",
        ),
        "undefined reference to `foo'"
    ),
    rule!(
        "warnings-as-errors",
        K::Error,
        4,
        Some(C::Compilation),
        concat!(
            r"(?i)failing due to -Werror|warnings? (being )?treated as errors?|-Werror.*\b(error|fail)",
            // gcc ru "%s: all warnings being treated as errors" → "%s: все предупреждения
            // считаются ошибками" (gcc-mirror/gcc gcc/po/ru.po; "some" → "некоторые").
            r"|предупреждения считаются ошибками",
        ),
        "Failing due to -Werror."
    ),
    rule!(
        "linker-cascade",
        K::Cascade,
        2,
        Some(C::Compilation),
        concat!(
            r"(collect2|ld)(\.exe)?: error: ld returned|clang: error: linker command failed|failed in phase `Linker'",
            // gcc ru (gcc-mirror/gcc gcc/po/ru.po): "ld returned %d exit status" → "выполнение ld
            // завершилось с кодом возврата %d", after "error: " → "ошибка: ".
            r"|(collect2|ld)(\.exe)?: ошибка: выполнение ld завершилось",
        ),
        "collect2: error: ld returned 1 exit status"
    ),
    rule!(
        "go-build-failed",
        K::Cascade,
        2,
        Some(C::Compilation),
        r"^FAIL\s+\S+\s+\[(build|setup) failed\]",
        "FAIL\tgithub.com/x/y [build failed]"
    ),
    rule!(
        "ghc-error",
        K::Error,
        6,
        Some(C::Compilation),
        // GHC 8+ says `error:`; GHC 7 prints an error's location alone (`file.hs:12:5:`) or
        // followed by the message (`file.hs:12:5: Not in scope: ‘x’`), and only warnings carry
        // a label (`Warning:`). Spans print as `file.hs:12:5-9:` or `file.hs:(12,5)-(14,9):`.
        r"^\S+\.(hs|lhs|hsc|chs):(\d+:\d+(-\d+)?|\(\d+,\d+\)-\(\d+,\d+\)):\s*(error|$|[A-Z][\w']* )",
        "src/Main.hs:12:5: error:"
    ),
    rule!(
        "go-compiler-error",
        K::Error,
        5,
        Some(C::Compilation),
        // The Go compiler's own errors (cmd/compile's messages: `undefined: x`, `cannot use`,
        // `declared and not used`, `syntax error`, ...) at `file.go:12:3:`, no `error` word.
        r"^(\.{1,2}/)?[\w.@+/-]*\w\.go:\d+(:\d+)?: (undefined: |cannot use |\S+ declared (and|but) not used|(\S+ )?imported (and|but) not used|syntax error|too (many|few) arguments|not enough arguments|missing return|invalid operation|assignment mismatch|no new variables|\S+ redeclared|cannot find package|.* has no field or method|can't load package|use of internal package|import cycle not allowed)",
        "store/db.go:41:9: undefined: sqlOpen"
    ),
    rule!(
        "go-diagnostic",
        K::Error,
        4,
        Some(C::Compilation),
        // Any other `file.go:12:3: msg` at the line's start: vet findings (before Go 1.10 without
        // a column), golint and gometalinter (`file.go:12:1:warning: ... (golint)`). Weaker than
        // a failed test: golint prints its hints and exits 0, so they often precede the failure.
        // A test's own `t.Log` lines are indented under `--- FAIL:`, so they do not match.
        r"^(\.{1,2}/)?[\w.@+/-]*\w\.go:\d+(:\d+)?: ?\S",
        "server/conn.go:112: possible formatting directive in Println call"
    ),
    rule!(
        "erlc-error",
        K::Error,
        6,
        Some(C::Compilation),
        // erlc and rebar (OTP compile module, `file:line: msg`, `file:line:col: msg` since
        // OTP 24): errors start lower case (`syntax error before`, `function f/1 undefined`),
        // dialyzer's findings with a word (`Function f/0 has no local return`); warnings say
        // `Warning:`, which this does not match.
        r"^\s*\S+\.(erl|hrl|xrl|yrl|escript):\d+(:\d+)?: ([a-z]|[A-Z][a-z]+ )",
        "src/parse.erl:57: function parse_number/1 undefined"
    ),
    rule!(
        "tex-error",
        K::Error,
        5,
        Some(C::Compilation),
        // TeX prints every error as a line that starts with `! ` (The TeXbook, ch. 6: `!
        // Undefined control sequence.`, `! Missing $ inserted.`, LaTeX's `! LaTeX Error:`,
        // `! Package x Error:`), followed by `l.12 ...`; with -file-line-error it prints
        // `file.tex:12: ` instead. The prefilter passes lines that start with `! `.
        // LaTeX3 packages raise theirs as `! fontspec error: "font-not-found"`.
        r"^! ((LaTeX|Package \S+|Class \S+) Error|[A-Z][^!]{2,120}\.\s*$|Emergency stop|[\w-]+ error: )|^\S+\.(tex|sty|cls|ltx|dtx|bib):\d+: [A-Z]",
        "! Undefined control sequence."
    ),
    rule!(
        "latexmk-summary",
        K::Cascade,
        2,
        Some(C::Compilation),
        // latexmk's closing lines repeat the TeX errors above them.
        r"^Latexmk: Errors, so I did not complete|^Collected error summary",
        "Latexmk: Errors, so I did not complete making targets"
    ),
    rule!(
        "msbuild-error-code",
        K::Error,
        5,
        Some(C::Compilation),
        // Roslyn, F# and VB compilers through MSBuild or alone: `error CS1002:` after a tool
        // name (`CSC : error CS5001:`) or a location; the `file(12,5): error` form is
        // msbuild-tsc-error.
        r"(^|[\s:])error (CS|FS|BC|VBC)\d{4}\s*:",
        "CSC : error CS5001: Program does not contain a static 'Main' method suitable for an entry point"
    ),
    rule!(
        "msbuild-error",
        K::Error,
        4,
        Some(C::Compilation),
        // MSBuild's own errors without a source location: `MSBUILD : error MSB1009: Project file
        // does not exist.`, `x.csproj : error MSB4057: The target "y" does not exist` (MSB codes,
        // dotnet/msbuild Strings.resx); with a location, `msbuild-tsc-error` decides.
        r"(^|[\s:])error MSB\d{4}\s*:",
        "MSBUILD : error MSB1009: Project file does not exist."
    ),
    rule!(
        "msbuild-exec-exited",
        K::Cascade,
        1,
        None,
        // MSB3073: an Exec task's command `exited with code 1`; its own output above says why
        // (see `overrides`).
        r"error MSB3073:",
        "/src/x.csproj(12,5): error MSB3073: The command \"make\" exited with code 2."
    ),
    rule!(
        "cargo-summary",
        K::Cascade,
        2,
        Some(C::Compilation),
        // cargo's closing lines after rustc's diagnostics or a failed test binary; they repeat
        // the failure above, so they override rustc-error's `error: ` (see `overrides`).
        r"^error: (aborting due to|[Cc]ould not compile|test failed, to rerun|build failed|\d+ targets? failed)",
        "error: Could not compile `project`."
    ),
    rule!(
        "swift-xcode-error",
        K::Error,
        5,
        Some(C::Compilation),
        r"^\S+\.(swift|m|mm|h):\d+:\d+: error:|❌\s",
        "❌  /Users/x/App.swift:10:5: use of unresolved identifier 'foo'"
    ),
    rule!(
        "xcpretty-failure-location",
        K::Header,
        5,
        Some(C::TestFailure),
        r"^\s+\S+\.(swift|m|mm):\d+\s*$",
        "  /Users/ci/App/Tests/ParserTests.swift:55"
    ),
    rule!(
        "xcodebuild-failed",
        K::Cascade,
        2,
        Some(C::Compilation),
        r"\*\* (BUILD|TEST|ARCHIVE) FAILED \*\*|The following build commands failed:",
        "** BUILD FAILED **"
    ),
    // --- exceptions and crashes
    rule!(
        "python-traceback",
        K::Header,
        4,
        None,
        r"^\s*Traceback \(most recent call last\):",
        "Traceback (most recent call last):"
    ),
    rule!(
        "exception-line",
        K::Error,
        4,
        None,
        r"^\s*(\w+(\.|::))*\w*(Error|Exception|Failure)(\s*:|$)|^Exception in thread|^\s*Caused by: |^\s*Uncaught \w+|^\s*\*\* \(\w+(\.\w+)*Error\)|^(\S+: )?(\*\* )?exception (error|exit|throw): ",
        "ValueError: invalid literal for int() with base 10: 'x'"
    ),
    rule!(
        "named-error",
        K::Error,
        4,
        None,
        r"(?i)\b(lisp|runtime|fatal|syntax|parse|type|reference|internal|unhandled|uncaught|build|compile|linker) error\b\s*[:(]",
        "Debugger entered--Lisp error: (error \"Package is unavailable\")"
    ),
    rule!(
        "rust-panic",
        K::Error,
        5,
        None,
        r"panicked at |^fatal runtime error",
        "thread 'main' panicked at src/main.rs:3:5:"
    ),
    rule!(
        "go-panic",
        K::Error,
        5,
        None,
        r"^panic: |^fatal error: ",
        "panic: runtime error: index out of range [3] with length 3"
    ),
    rule!(
        "crash-signal",
        K::Error,
        5,
        None,
        concat!(
            r"(?i)(segmentation fault|core dumped|(signal|caught|received|killed by|terminated by)\W{1,3}SIG(SEGV|ABRT|BUS|ILL)\b|\(SIG(SEGV|ABRT)\)|abort trap|illegal instruction|stack overflow|AddressSanitizer|ERROR: \w*Sanitizer|^Crash dump is being written to|init terminating in do_boot|Kernel pid terminated",
            // glibc's malloc checks and stack protector abort with `*** Error in `./x':
            // double free or corruption` / `*** stack smashing detected ***` (malloc.c,
            // debug/fortify_fail.c).
            r"|^\*\*\* Error in `|double free or corruption|stack smashing detected|malloc\(\): (memory corruption|corrupted)|free\(\): invalid (pointer|size)",
            // ru: "Segmentation fault" → "Ошибка сегментирования" (glibc po/ru.po, strsignal)
            // and "Ошибка сегментации" (bminor/bash po/ru.po); bash " (core dumped)" →
            // " (образ памяти сброшен на диск)".
            r"|ошибка сегмент(ирования|ации)|образ памяти сброшен на диск)",
        ),
        "Segmentation fault (core dumped)"
    ),
    rule!(
        "node-module-missing",
        K::Error,
        5,
        Some(C::Configuration),
        r"Error: Cannot find module|Module not found: Error|ModuleNotFoundError|ImportError: |LoadError: cannot load|cannot load such file",
        "Error: Cannot find module './db.json'"
    ),
    // --- test runners
    rule!(
        "test-failures-heading",
        K::Header,
        5,
        Some(C::TestFailure),
        r"(?i)^\s*(=+ FAILURES =+|=+ ERRORS =+|Failures:\s*$|Failed tests:|Tests in error:|There (was|were) \d+ (failures?|errors?):|FAILURES!|Summary of all failing tests|Errors and Failures:|Errors, Failures and Warnings\s*$|Offenses:\s*$|\d+ failing\s*$|Failed examples:|failures:\s*$|^(\s*\d+\) )?(Failure|Error):$)",
        "=================================== FAILURES ==================================="
    ),
    rule!(
        "r-check-error",
        K::Error,
        5,
        Some(C::TestFailure),
        r"^Running the tests in .+ failed\.|^\* checking .+ \.\.\. ERROR\s*$",
        "Running the tests in ‘tests/testthat.R’ failed."
    ),
    rule!(
        "pester-fail",
        K::Error,
        5,
        Some(C::TestFailure),
        r"^\s*\[-\] \S",
        "[-] Get-Widget returns the default widget 12ms"
    ),
    rule!(
        "valgrind-error",
        K::Error,
        5,
        None,
        // Valgrind memcheck (its manual, "Explanation of error messages from Memcheck"): every
        // line starts with `==PID==`; the first line of each error names its kind.
        r"^==\d+== (Invalid (read|write|free)|Conditional jump or move depends|Use of uninitialised value|Syscall param|Mismatched free|Source and destination overlap|\d[\d,]* bytes in [\d,]+ blocks are definitely lost)",
        "==4312== Invalid read of size 4"
    ),
    rule!(
        "data-race",
        K::Error,
        5,
        Some(C::TestFailure),
        // The Go race detector and ThreadSanitizer open each report with `WARNING: DATA RACE`
        // / `WARNING: ThreadSanitizer: data race` (Go's "Data Race Detector" article, the TSan
        // wiki); it fails the test run, so it overrides the warning rule (see `overrides`).
        r"^(==\d+==)?WARNING: (DATA RACE|ThreadSanitizer: )",
        "WARNING: DATA RACE"
    ),
    rule!(
        "unity-fail",
        K::Error,
        5,
        Some(C::TestFailure),
        // Unity (ThrowTheSwitch, C): `file:line:test_name:FAIL: message` (unity.c,
        // UnityTestResultsFailBegin).
        r"^\S+:\d+:\w+:FAIL\b",
        "test/test_list.c:41:test_list_get:FAIL: Expected 3 Was 2"
    ),
    rule!(
        "build-configuration-error",
        K::Error,
        5,
        Some(C::Configuration),
        concat!(
            // autoconf's AC_MSG_ERROR prints `configure: error: MSG` (autoconf manual).
            r"^configure: error: ",
            // Meson: `meson.build:12:0: ERROR: msg` (its mlog); qmake: `Project ERROR: msg`.
            r"|^\S+:\d+:\d+: ERROR: |^Project ERROR: ",
        ),
        "configure: error: C compiler cannot create executables"
    ),
    rule!(
        "c-test-framework-failure",
        K::Error,
        5,
        Some(C::TestFailure),
        concat!(
            // Check (libcheck): `tests/check_x.c:12:F:core:test_x:0: Assertion 'x' failed`
            // (F failure, E error; its srunner text output).
            r"^\S+:\d+:[FE]:[^:\s]+:[^:\s]+:\d+: ",
            // CUnit's basic interface: `Suite x, Test y had failures:`.
            r"|^\s*Suite [^,]+, Test .+ had failures:",
            // doctest: `test.cpp:12: ERROR: CHECK( x == 1 ) is NOT correct!`.
            r"|^\S+(:\d+:|\(\d+\):) (FATAL )?ERROR: (CHECK|REQUIRE)",
            // Qt Test: `FAIL!  : TestClass::method() Compared values are not the same`.
            r"|^FAIL!\s+: ",
        ),
        "tests/check_list.c:41:F:core:test_list_get:0: Assertion 'n == 3' failed"
    ),
    rule!(
        "hlint-hint",
        K::Error,
        4,
        Some(C::LintQuality),
        // HLint: `src/X.hs:12:5-20: Error: Redundant do`, then `Found:`/`Perhaps:`; it ends with
        // `3 hints` and fails when there is any. GHC itself never says `Error:`.
        r"^\S+\.l?hs:\d+:\d+(-\d+)?: Error: \S",
        "src/Project/Eval.hs:57:22-30: Error: Redundant do"
    ),
    rule!(
        "hlint-summary",
        K::Cascade,
        2,
        Some(C::LintQuality),
        r"^[1-9]\d* hints?\s*$",
        "3 hints"
    ),
    rule!(
        "cargo-test-output",
        K::Header,
        5,
        Some(C::TestFailure),
        // libtest prints the captured output of each failed test under this heading.
        // rustc's compiletest names its tests with the mode and a path: `---- [ui] ui/x.rs stdout ----`.
        r"^---- .+ stdout ----\s*$",
        "---- tests::parse_number stdout ----"
    ),
    rule!(
        "cxx-test-failure",
        K::Error,
        5,
        Some(C::TestFailure),
        concat!(
            // googletest: `file:27: Failure` (gtest.cc, FormatFileLocation; MSVC `file(27):`).
            r"^\S+(:\d+:|\(\d+\):) (error: )?Failure\s*$",
            // Catch2: `file:20: FAILED:` (console reporter).
            r"|^\S+(:\d+|\(\d+\)): FAILED:\s*$",
            // Boost.Test: `file(20): error: in "suite/case": check x == 2 has failed`.
            r"|^\S+(\(\d+\)|:\d+): (fatal )?error:? in [`']?\x22",
            // CTest: `2/3 Test #2: name ....***Failed  0.02 sec` (also Exception, Timeout).
            r"|^\s*\d+/\d+ Test\s+#\d+: .*\*\*\*(Failed|Exception|Timeout)",
        ),
        "/src/test/parser_test.cc:27: Failure"
    ),
    rule!(
        "vstest-failed",
        K::Error,
        5,
        Some(C::TestFailure),
        // `dotnet test` / vstest.console: `Failed   Ns.Class.Method` (later `  Failed
        // Ns.Class.Method [12 ms]`); a dotted test name, so prose like "Failed to ..." does not
        // match.
        r"^\s*Failed\s+[\w`<>+-]+(\.[\w`<>+-]+)+(\(.*\))?\s*(\[[^\]]*\])?\s*$",
        "Failed   Project.Tests.ParserTests.ParsesNumber"
    ),
    rule!(
        "xunit-fail",
        K::Error,
        5,
        Some(C::TestFailure),
        // xUnit.net's console and VSTest adapters: `    Ns.Class.Method [FAIL]`, the message and
        // stack trace indented below (xunit/xunit, DefaultRunnerReporterMessageHandler), the
        // adapter's lines prefixed with `[xUnit.net 00:00:01.09]`.
        r"^(\[xUnit\.net [\d:.]+\])?\s+[\w`<>+.,-]+(\(.*\))? \[FAIL\]\s*$",
        "    Project.Tests.ParserFacts.Parses_negative_numbers [FAIL]"
    ),
    rule!(
        "gradle-test-failed",
        K::Error,
        5,
        Some(C::TestFailure),
        // Gradle's test logging: `com.x.FooTest > parses lists FAILED`, the exception indented
        // below (TestEventLogger); a test's own `STANDARD_ERROR` output above it is not a failure.
        r"^\S+ > .+ FAILED\s*$",
        "io.example.ParserTest > parsesNestedLists FAILED"
    ),
    rule!(
        "gradle-task-failed",
        K::Cascade,
        2,
        None,
        // Gradle's task header with the task's outcome (`> Task :compileJava FAILED`; before
        // Gradle 4, `:compileJava FAILED`): the task's own output says why (see `overrides`).
        r"^(> Task )?:[\w:.-]*\w FAILED\s*$",
        "> Task :compileJava FAILED"
    ),
    rule!(
        "gradle-build-failed",
        K::Cascade,
        2,
        None,
        // Gradle's closing `FAILURE: Build failed with an exception.` (then `* What went
        // wrong:`) repeats the failed task; `fail-line` would take its `FAILURE:` for a test's.
        r"^FAILURE: Build failed with an exception",
        "FAILURE: Build failed with an exception."
    ),
    rule!(
        "powershell-error-record",
        K::Cascade,
        2,
        None,
        // PowerShell's error view: the message, `At file:12 char:5`, the code with `~~~`, then
        // `    + CategoryInfo          : ...` and `+ FullyQualifiedErrorId`; the block above says
        // what failed.
        r"^\s*\+ CategoryInfo\s*: ",
        "    + CategoryInfo          : ObjectNotFound: (x:String) [], CommandNotFoundException"
    ),
    rule!(
        "vim-error",
        K::Error,
        5,
        None,
        // Vim reports an error in a script as `Error detected while processing function
        // x[12]..y:` then `line   12:` and `E121: Undefined variable: z` (`:help
        // error-messages`).
        r"^Error detected while processing ",
        "Error detected while processing function example#parse[3]..<SNR>12_lex:"
    ),
    rule!(
        "xctest-failed",
        K::Error,
        5,
        Some(C::TestFailure),
        // XCTest (xcodebuild test, swift test): `Test Case '-[Class test]' failed (0.004
        // seconds).`, after the assertion's `file:line: error:` line.
        r"^Test Case '.+' failed \(",
        "Test Case '-[EXRequestTests testParsesError]' failed (0.004 seconds)."
    ),
    rule!(
        "checkstyle-error",
        K::Error,
        5,
        Some(C::LintQuality),
        // Checkstyle through Ant or Gradle: `[ant:checkstyle] [ERROR] File.java:41:5: msg [Check]`.
        r"^\[ant:checkstyle\] \[ERROR\] \S",
        "[ant:checkstyle] [ERROR] /src/main/java/io/example/Parser.java:41:5: 'if' is not followed by whitespace. [WhitespaceAround]"
    ),
    rule!(
        "cocoapods-validation-error",
        K::Error,
        5,
        None,
        // `pod lib lint` / `pod spec lint` results: `    - ERROR | [iOS] xcodebuild: msg` (WARN
        // and NOTE lines alike; CocoaPods Pod::Validator).
        r"^\s*- ERROR \| ",
        "    - ERROR | [iOS] xcodebuild:  Example/EXRequest.m:57:14: error: use of undeclared identifier 'sesion'"
    ),
    rule!(
        "rebar3-summary",
        K::Cascade,
        2,
        None,
        // rebar3's closing lines after the tests' or dialyzer's own report (`===> ` is its
        // message prefix).
        r"^===> (Warnings occur+ed running dialyzer|Error running tests|Failures occur+ed running tests|Some tests failed)",
        "===> Warnings occured running dialyzer: 1"
    ),
    rule!(
        "surefire-failure",
        K::Error,
        5,
        Some(C::TestFailure),
        // Maven surefire/failsafe mark a failed class and each failed test with `<<< FAILURE!`
        // or `<<< ERROR!`, on a line that also says `Errors: 0` (see `overrides`).
        r"<<< (FAILURE|ERROR)!",
        "Tests run: 3, Failures: 1, Errors: 0, Skipped: 0, Time elapsed: 0.05 sec <<< FAILURE!"
    ),
    rule!(
        "vim-test-failure",
        K::Error,
        5,
        Some(C::TestFailure),
        concat!(
            // vader.vim: `(2/3) [EXECUTE] (X) message` (autoload/vader.vim, s:append), and a
            // vader-level `Vader error:`.
            r"^\s*\(\s*\d+/\s*\d+\) \[\s*[A-Z]+\] \(X\) |^Vader error: ",
            // vim-themis spec reporter: `[✖] title` (autoload/themis/reporter/spec.vim).
            r"|^\s*\[✖\] \S",
        ),
        "    (3/3) [EXECUTE] (X) Assertion failure"
    ),
    rule!(
        "eunit-failure",
        K::Error,
        5,
        Some(C::TestFailure),
        // EUnit: `mod: name_test...*failed*`, then `**error:{assertEqual,...}` (older
        // `::error:`).
        r"\.\.\.\s*\*failed\*|^\s*\*\*(error|exit|throw):|^::(error|exit|throw):",
        "project_parse_tests: number_test...*failed*"
    ),
    rule!(
        "go-test-fail",
        K::Error,
        5,
        Some(C::TestFailure),
        r"^\s*--- FAIL: ",
        "--- FAIL: TestParse (0.00s)"
    ),
    rule!(
        "jest-fail",
        K::Error,
        5,
        Some(C::TestFailure),
        r"^\s*FAIL\s+\S+\.(js|jsx|ts|tsx|mjs|cjs|vue|coffee)\b|^\s*● ",
        " FAIL  test/parse.test.js (1.2s)"
    ),
    rule!(
        "fail-line",
        K::Error,
        4,
        Some(C::TestFailure),
        r"^\s*FAIL(ED)?(:|\s|$)|\S\s{2,}(FAIL(ED)?|ERROR)\s*$|:\s+FAIL(ED)?\s*(\([\d.]+m?s\))?\s*$|\bfailed on line \d+|\bDubious, test returned|^Failed \d+/\d+ subtests|\*\*\* FAILED test case|\[\s*FAIL(ED)?\s*\]|\[ +ERROR +\]|\b(FAILED|ERROR)\s+\[\s*\d+%\]|#\s+Failed test\b|\*\*\* FAILED \*\*\*|^\s*(── )?\d+\. (Failure|Error)( \(|: )|\bFAILED\s*$|^\s*[✗✘]|^\s*✖|^\s*×\s|^\s*not ok\b|FAILED \[\d+\]\s*$|^\s*\d+\) \S|\(FAILED - \d+\)|^\s*FAILURE:",
        "not ok 3 - parses empty input"
    ),
    rule!(
        "test-assertion",
        K::Error,
        4,
        Some(C::TestFailure),
        r"(?i)(assertion ?(error|failed)|\bassert(ion)?\w* failed|expected:? .{1,80}\b(but (was|got)|got|received|to (be|equal))\b|Failed asserting|^\s*Failure/Error:|^E\s{2,}\S|AssertionError|\bXCTAssert\w* failed|\bXCTFail\b)",
        "Failed asserting that two strings are equal."
    ),
    rule!(
        "failing-tests-list",
        K::Cascade,
        3,
        Some(C::TestFailure),
        r"^\s*Failing tests:\s*$",
        "Failing tests:"
    ),
    rule!(
        "test-summary-failed",
        K::Cascade,
        2,
        Some(C::TestFailure),
        r"(?i)(tests? run:.*(failures|errors): [1-9]|\b[1-9]\d* (tests? )?(failed|failures?|failing)\b|test result: FAILED|^FAIL$|^FAIL\s+\S+\s+[\d.]+s$|tests? failed|some tests failed)",
        "test result: FAILED. 3 passed; 1 failed; 0 ignored"
    ),
    rule!(
        "maven-test-failure",
        K::Cascade,
        2,
        Some(C::TestFailure),
        r"There are test failures|maven-surefire-plugin.*(failed|There are test failures)",
        "[ERROR] There are test failures."
    ),
    // --- dependency resolution
    rule!(
        "dependency-resolution",
        K::Error,
        5,
        Some(C::DependencyResolution),
        concat!(
            r"(?i)(could not (find|resolve|transfer) (artifact|dependenc|all dependencies)|could not resolve dependencies|requirements could not be resolved|no matching (distribution|version|package)|unable to (resolve|find) (a )?(dependency|package|version)|version solving failed|\bERESOLVE\b|\bE404\b|npm ERR! 404|npm ERR! notarget|couldn't find (any versions|package)|could not find gem|could not find a version that satisfies|unsatisfiable|conflicting (dependencies|requirements)|failed to (download|fetch|load) (package|dependenc|artifact|crate)|failed to select a version|cannot satisfy|unmet dependencies|has no installation candidate|Unable to locate package|gem::(missingspec|conflict)|Bundler could not find|pod install.*(error|fail)|Could not find module|no such package|was not found in the pkg-config search path|No package '[^']+' found",
            // The go command (`go get`, `go build`): `cannot find package "x" in any of:`,
            // `package x: unrecognized import path "x"`, modules' `unknown revision` and
            // `verifying x: checksum mismatch`; CocoaPods' `could not find compatible versions for pod`.
            r"|cannot find package \x22|unrecognized import path|can't load package|unknown revision v?\d|verifying \S+: checksum mismatch|error loading module requirements|could not find compatible versions for pod",
            // dep (`Solving failure: No versions of x met constraints:`) and TeX Live's
            // tlmgr (`tlmgr install: package x not present in repository.`).
            r"|^Solving failure:|package \S+ not present in repository",
            // rebar3 (`===> Package not found in registry: x`, `===> Failed to fetch and copy
            // dep: x`) and Stack (`While constructing the build plan, the following exceptions
            // were encountered:`).
            r"|Package not found in registry|Failed to fetch and copy dep|while constructing the build plan",
            // ru: apt "Unable to locate package %s" → "Невозможно найти пакет %s" and "The
            // following packages have unmet dependencies:" → "Следующие пакеты имеют
            // неудовлетворённые зависимости:" (Debian apt po/ru.po); NuGet NU1101/NU1102
            // "Unable to find package {0}..." → "Не удалось найти пакет {0}..." (NuGet/NuGet.Client
            // src/NuGet.Core/NuGet.Commands/xlf/Strings.ru.xlf, Error_NoPackageVersionsExist*).
            r"|невозможно найти пакет|неудовлетвор[её]нные зависимости|не удалось найти (стабильный )?пакет \S)",
        ),
        "Could not find artifact com.example:lib:jar:1.2 in central"
    ),
    rule!(
        "install-failed",
        K::Error,
        3,
        Some(C::DependencyResolution),
        r"(?i)(an error occur+ed while installing|failed to install|installation (failed|error)|failed building wheel|error installing|gem::installerror|command errored out|could not install packages)",
        "An error occurred while installing nokogiri (1.10.4), and Bundler cannot continue."
    ),
    // --- network
    rule!(
        "network",
        K::Error,
        4,
        Some(C::Network),
        concat!(
            r"(?i)(could not resolve host|temporary failure in name resolution|name or service not known|connection (refused|reset|timed out)|\bECONNRESET\b|\bECONNREFUSED\b|\bETIMEDOUT\b|\bEAI_AGAIN\b|\bENOTFOUND\b|network is unreachable|failed to connect to|unable to connect|ssl(v3)? (routines|handshake)|tls handshake|certificate verify failed|received fatal alert|remote end hung up|\b(502|503|504) (bad gateway|service unavailable|gateway time-?out)|could not create connection|could(n't| not) establish (an? )?(\w+ )?connection|download failed|failed to fetch|unable to access 'http|\bHTTP error \d{3}|too many requests|rate limit",
            // ru errno texts (glibc po/ru.po): "Temporary failure in name resolution" →
            // "Временный сбой в разрешении имен", "Name or service not known" → "Неизвестное имя
            // или служба", "Connection refused" → "В соединении отказано", "Connection reset by
            // peer" → "Соединение разорвано другой стороной", "Connection timed out" → "Время
            // ожидания соединения истекло", "Network is unreachable" → "Сеть недоступна".
            r"|временный сбой в разрешении имен|неизвестное имя или служба|в соединении отказано|соединение разорвано другой стороной|время ожидания соединения истекло|сеть недоступна",
            // apt (Debian apt po/ru.po): "Failed to fetch %s  %s" → "Не удалось получить %s  %s",
            // "Temporary failure resolving '%s'" → "Временная ошибка при разрешении «%s»".
            r"|temporary failure resolving|не удалось получить (https?|ftp)://|временная ошибка при разрешении «)",
        ),
        "curl: (6) Could not resolve host: example.org"
    ),
    // --- timeouts, resources, cancellation, infrastructure
    rule!(
        "timeout",
        K::Error,
        5,
        Some(C::Timeout),
        r"(?i)(no output has been received in the last|exceeded the maximum (execution )?time|(job|build|step|command|action) (has )?timed out|execution expired|has exceeded the maximum execution time|Build timed out|timed out after \d+ ?(m|min|minutes|h|hours)\b)",
        "No output has been received in the last 10m0s, this potentially indicates a stalled build or something wrong with the build itself."
    ),
    rule!(
        "timeout-generic",
        K::Error,
        3,
        Some(C::Timeout),
        r"(?i)(\btimeout of \d+\s*ms exceeded|timeout (exceeded|expired)|\btimed out\b|deadline exceeded|timetrap_timeout)",
        "Error: timeout of 2000ms exceeded. Ensure the done() callback is being called in this test."
    ),
    rule!(
        "out-of-resources",
        K::Error,
        5,
        Some(C::OutOfResources),
        concat!(
            // gcc's driver when the kernel killed the compiler (`c++: internal compiler error:
            // Killed (program cc1plus)`; gcc 7+: `fatal error: Killed signal terminated program`).
            r"(?i)(internal compiler error: Killed|Killed signal terminated program|out of memory|cannot allocate memory|\boom[- ]?kill|java\.lang\.OutOfMemoryError|heap out of memory|memory exhausted|std::bad_alloc|no space left on device|disk quota exceeded|exit code 137\b|\bkilled\s*$|^Killed\b|resource temporarily unavailable|too many open files",
            // ru errno texts (glibc po/ru.po): "Cannot allocate memory" → "Невозможно выделить
            // память", "No space left on device" → "На устройстве не осталось свободного места",
            // "Disk quota exceeded" → "Превышена дисковая квота", "Too many open files" →
            // "Слишком много открытых файлов", "Killed" → "Убито" (bash: "Убит").
            r"|невозможно выделить память|на устройстве не осталось свободного места|превышена дисковая квота|слишком много открытых файлов|^Убито?\b)",
        ),
        "FATAL ERROR: Ineffective mark-compacts near heap limit Allocation failed - JavaScript heap out of memory"
    ),
    rule!(
        "compiler-crash",
        K::Error,
        5,
        Some(C::Compilation),
        // A compiler that crashed (gcc's `internal compiler error: Segmentation fault`, clang's
        // `error: unable to execute command`); when the kernel killed it, `out-of-resources`
        // (listed first) decides.
        r"internal compiler error|unable to execute command: ",
        "src/scene.cpp:41:1: internal compiler error: Segmentation fault"
    ),
    rule!(
        "cancelled",
        K::Error,
        5,
        Some(C::Cancelled),
        r"(?i)(the (operation|job|build|run) was (cancell?ed|aborted)|job (was )?cancell?ed|build (was )?aborted|Finished: ABORTED|received (a )?(cancel|shutdown) (signal|request)|Terminated by user|\bterminated\b.*\bsignal)",
        "##[error]The operation was canceled."
    ),
    rule!(
        "infrastructure",
        K::Error,
        5,
        Some(C::Infrastructure),
        r"(?i)(runner system failure|error response from daemon|cannot connect to the docker daemon|is the docker daemon running|there was an error connecting to|an error occurred while (starting|preparing)|preparation failed|job failed \(system failure\)|unable to (create|start) (container|vm)|agent (went offline|disconnected)|lost connection to the (agent|runner)|the hosted runner|no space on the runner|runner has received a shutdown)",
        "ERROR: Job failed (system failure): Error response from daemon: no such image"
    ),
    rule!(
        "terminated",
        K::Cascade,
        2,
        None,
        r"(?i)^(the (build|job) has been terminated|your build has been stopped)",
        "The build has been terminated"
    ),
    // --- configuration / environment
    rule!(
        "missing-command-or-file",
        K::Error,
        4,
        Some(C::Configuration),
        concat!(
            r"(?i)(command not found|no such file or directory|not recognized as an internal or external command|is not recognized as the name of|cannot (find|open) (file|the file)|\bENOENT\b|permission denied|\bEACCES\b|executable file not found|not found in \$PATH|unknown (option|flag|command|argument)|unrecognized (option|argument|arguments|command)|flag provided but not defined|invalid (option|argument|configuration|yaml|syntax)|task .* not found|task never defined|no rule to make target|missing (required )?(argument|environment variable|config)|is not defined|undefined variable|not a git repository|pathspec .* did not match|yaml(: |\s)?(syntax|parse)?\s?error|unable to find (a )?(suitable|valid)",
            r"|missing separator",
            // ru: bash "%s: command not found" → "%s: команда не найдена" (bminor/bash
            // po/ru.po); "No such file or directory" → "Нет такого файла или каталога",
            // "Permission denied" → "Отказано в доступе" (glibc po/ru.po); make "No rule to make
            // target '%s'" → "Нет правила для сборки цели «%s»", "missing separator" →
            // "пропущен разделитель" (GNU make po/ru.po); git "not a git repository" → "не найден
            // git репозиторий", "pathspec '%s' did not match any files" → "спецификатор пути «%s»
            // не соответствует ни одному файлу" (git/git po/ru.po).
            r"|команда не найдена|нет такого файла или каталога|отказано в доступе|нет правила для сборки цели|пропущен разделитель|не найден git репозиторий|спецификатор пути .* не соответствует)",
        ),
        "bash: line 1: ./install.sh: No such file or directory"
    ),
    // --- lint and quality gates
    rule!(
        "lint",
        K::Error,
        4,
        Some(C::LintQuality),
        r"(?i)(\blint(er|ing)? (failed|errors?)|^\S+:\d+:\d+: [CWEFR]: |would (be )?reformat|code style issues|\bnot formatted\b|formatting (check )?failed|Diff in .* at line|^\S+:\d+(:\d+)?: [A-Z]{1,4}\d{2,4}\b|^\s*\S+:\d+:\d+: \w+ \S+|\(Severity: \d\)|^\s*\d+:\d+\s+(error|warning)\s|✖ \d+ problems?|please (run|rebuild|commit)|files? (were|was) (modified|changed)|has uncommitted changes|working tree is not clean|changed when|check failed|broken links?|^\s*\^-*\^? SC\d{4}\b|^\[\S+:\d+\]: \((error|warning|style|performance|portability)\) )",
        "src/app.js:3:7: E501 line too long (82 > 79 characters)"
    ),
    rule!(
        "lint-rule-id",
        K::Error,
        4,
        Some(C::LintQuality),
        // Linters that end a finding with its rule id in parentheses: ESLint's unix-like and
        // standard's formatters, `file:line[:col][:] message (plugin/rule-id)`; the id holds a
        // `-` or `/` (`no-unused-vars`, `prettier/prettier`).
        r"^\s*\S+\.\w+:\d+(:\d+)?:? .+ \([\w@]+[/-][\w@/-]*\)\s*$",
        "src/grammar-registry.js:1 Replace `\"grim\"` with `'grim'` (prettier/prettier)"
    ),
    rule!(
        "libxml2-error",
        K::Error,
        5,
        Some(C::LintQuality),
        // libxml2's messages (xmllint, xsltproc and every tool on the library):
        // `file:line: [element x: ]<domain> error : msg` (libxml2 error.c,
        // xmlReportError), the failing document line and a caret follow.
        r"^\S+:\d+: (element \S+: )?(parser|validity|namespace|Schemas parser|Schemas validity|XInclude|I/O) error : ",
        "../xml/erl_parse.xml:72: element name: validity error : Element marker is not declared"
    ),
    rule!(
        "awesome-bot-issues",
        K::Header,
        5,
        Some(C::LintQuality),
        // awesome_bot (the link checker of many awesome-* lists) lists the links that failed
        // under `Issues :-(`, then `> Links` and `> Dupes` (dkhamsing/awesome_bot,
        // lib/awesome_bot/cli.rb); links it accepts are listed above, some with errors.
        r"^Issues :-\(\s*$",
        "Issues :-("
    ),
    rule!(
        "lint-summary",
        K::Cascade,
        3,
        Some(C::LintQuality),
        r"(?i)(\b[1-9]\d* (problems?|offen[cs]es?|violations?|style errors?)\b|\b[1-9]\d* offen[cs]es? detected)",
        "129 files inspected, 3 offenses detected"
    ),
    // --- generic failure words, weaker than the formats above
    rule!(
        "tool-error",
        K::Error,
        4,
        None,
        // A tool that names itself before its error: `tidy error: x.rs:12: line longer than 100
        // chars`, `xcodebuild: error: Unable to find a destination`, `gcc: error: x.c: No such
        // file or directory`. The linker's summary (`clang: error: linker command failed`,
        // `collect2: error: ld returned 1`) stays a cascade (see `overrides`).
        r"^[a-z][\w+-]* (fatal )?error: \S|^[A-Za-z][\w.+-]*: (fatal )?error: \S",
        "tidy error: /checkout/src/lib.rs:1203: line longer than 100 chars"
    ),
    rule!(
        "error-level-prefix",
        K::Error,
        4,
        None,
        concat!(
            // PostgreSQL severities (postgres/postgres src/backend/po/ru.po): "ERROR" →
            // "ОШИБКА", "FATAL" → "ВАЖНО", "PANIC" → "ПАНИКА".
            r"^\W{0,4}((ERROR|FATAL|CRITICAL|ОШИБКА|ПАНИКА)\b[^.]|ВАЖНО:\s)",
            // psql prefixes a script's messages with `psql:FILE:LINE: `.
            r"|^psql:\S+:\d+: (ERROR|FATAL|PANIC|ОШИБКА|ВАЖНО|ПАНИКА):\s",
        ),
        "ERROR 2019/08/01 15:12:45 [en] REF_NOT_FOUND: Ref \"/docs/x\""
    ),
    rule!(
        "error-line-start",
        K::Error,
        3,
        None,
        // "error: " → "ошибка: " (gcc, psql po/ru.po), "fatal error: " → "фатальная ошибка: "
        // (gcc).
        r"(?i)^\W{0,4}(error|fatal|err!?|failure|failed|critical|exception|(фатальная )?ошибка)\b\s*[:!\]-]|^\s*(error|fatal):|^\[?ERROR\]?[: ]|^\s*E/|^E\d{4}\b|^E\d{2,4}: [A-Z]",
        "Error: something went wrong"
    ),
    rule!(
        "error-word",
        K::Error,
        2,
        None,
        concat!(
            r"\b(ERROR|FATAL|FAILURE|FAILED|Error|Fatal|Failed|failed|error|fatal|Could not|could not|Cannot|cannot|Unable to|unable to|not found|Not found|refused|aborted|Aborted|invalid|Invalid",
            // The same words as Russian tools print them (gcc, make, psql, MSBuild, apt po/xlf
            // files): "ошибка"/"Ошибка 1"/"ОШИБКА", "сбой" (failed), "не удалось"/"невозможно"
            // (could not/cannot), "не найден(а)" (not found), "отказано" (refused/denied).
            r"|ОШИБКА|Ошибка|ошибка|Ошибки|ошибки|ошибкой|СБОЙ|Сбой|сбой|Не удалось|не удалось|Невозможно|невозможно|Не найден[аоы]?|не найден[аоы]?|отказано)\b",
        ),
        "build step failed for target x"
    ),
    // --- cascades: summaries of a failure stated earlier
    rule!(
        "make-error",
        K::Cascade,
        2,
        None,
        r"^g?make(\[\d+\])?: \*\*\* |^\*\*\* Failed|^\s*ninja: build stopped",
        "make: *** [all] Error 2"
    ),
    rule!(
        "npm-err",
        K::Cascade,
        1,
        None,
        r"^npm ERR!|^error Command failed with exit code|^info Visit https://yarnpkg|^ERR_PNPM|^\s*ELIFECYCLE|^npm error\b",
        "npm ERR! code ELIFECYCLE"
    ),
    rule!(
        "maven-gradle-summary",
        K::Cascade,
        2,
        None,
        r"^\[ERROR\] (Failed to execute goal|BUILD FAILURE|-> \[Help|Re-run Maven|For more information|To see the full stack|After correcting|\[Help \d\]|$)|^BUILD FAILURE|^FAILURE: Build failed with an exception|^BUILD FAILED|^\* What went wrong:|^Execution failed for task",
        "[ERROR] Failed to execute goal org.apache.maven.plugins:maven-compiler-plugin:3.8.1:compile"
    ),
    rule!(
        "exit-status",
        K::Cascade,
        1,
        None,
        r"(?i)(exit(ed)? (with )?(status|code)[: ]+[1-9]\d*|returned (a )?non-zero (exit status|code)|returned exit code [1-9]|Process completed with exit code [1-9]|exited with [1-9]\d*\.?\s*$|non-zero exit code|command failed with exit code|script returned exit code)",
        "Error: Process completed with exit code 1."
    ),
];

/// Words that every non-Ignore rule's matches contain at least one of, so a line with none of
/// them skips the regex set. Most log lines have none, which is what makes the scan fast.
static KEYWORDS: &[&str] = &[
    "error",
    "err!",
    "fail",
    "fatal",
    "exception",
    "panic",
    "traceback",
    "assert",
    "expect",
    "not found",
    "no such",
    "cannot",
    "can't",
    "could not",
    "couldn't",
    "unable",
    "denied",
    "refused",
    "reset",
    "timed out",
    "timeout",
    "time-out",
    "exceeded",
    "killed",
    "memory",
    "no space",
    "abort",
    "cancel",
    "terminated",
    "signal",
    "segmentation",
    "crash dump",
    "init terminating",
    "dumped",
    "sigsegv",
    "invalid",
    "unknown",
    "unrecognized",
    "undefined",
    "unresolved",
    "missing",
    "not ok",
    "✗",
    "✘",
    "✖",
    "×",
    "❌",
    "●",
    "[-]",
    "*** ",
    "exit",
    "status",
    "returned",
    "unsatisf",
    "conflict",
    "no matching",
    "not available",
    "not defined",
    "connection",
    "resolve",
    "handshake",
    "ssl",
    "tls",
    "certificate",
    "alert",
    "econn",
    "etimedout",
    "eai_again",
    "enotfound",
    "enoent",
    "eacces",
    "e404",
    "eresolve",
    "problem",
    "offen",
    "violation",
    "reformat",
    "formatted",
    "severity",
    "please",
    "changed",
    "modified",
    "uncommitted",
    "not clean",
    "broken",
    "diff in",
    "lint",
    "ld returned",
    "linker",
    "syntax",
    "unexpected",
    "critical",
    "caused by",
    "uncaught",
    "heap",
    "oom",
    "bad_alloc",
    "quota",
    "overflow",
    "sanitizer",
    "illegal",
    "not recognized",
    "no rule",
    "not a git",
    "did not match",
    "pathspec",
    "yaml",
    "daemon",
    "runner",
    "agent",
    "unavailable",
    "gateway",
    "rate limit",
    "too many",
    "hung up",
    "name resolution",
    "service not known",
    "unreachable",
    "what went wrong",
    "build failure",
    "elifecycle",
    "pnpm",
    "yarnpkg",
    "wrong",
    "** build",
    "** test",
    "build commands",
    "severity",
    "flag provided",
    "never defined",
    "mismatch",
    "stalled",
    "expired",
    "e: /",
    "e: file",
    "ninja:",
    "multiple definition",
    // formats without a failure word (vader's `(X)`, libtest's heading, shellcheck's codes)
    "] (x) ",
    " stdout ----",
    "- sc",
    "^ sc",
    "<<< ",
    "issues :-(",
    "data race",
    "threadsanitizer",
    "pkg-config",
    "no package",
    "invalid read",
    "invalid write",
    "invalid free",
    "conditional jump",
    "uninitialised",
    "syscall param",
    "definitely lost",
    "dialyzer",
    "not present",
    "smashing",
    "corruption",
    "invalid pointer",
    "invalid size",
    "registry",
    "build plan",
    "had failures",
    "categoryinfo",
    " hint",
];

/// The Russian words of the rules above (stems, lower case), as tools print them on `ru_RU`
/// runners. The prefilter folds ASCII case only, so [`rules`] adds each one lower case,
/// capitalised and upper case: `ошибка:` (gcc), `Ошибка 1` (make), `ОШИБКА:` (psql).
static KEYWORDS_RU: &[&str] = &[
    "ошиб",
    "сбой",
    "неопредел",
    "не удалось",
    "невозможно",
    "нет такого",
    "не найден",
    "нет правила",
    "отказано",
    "важно:",
    "паника",
    "повторное определение",
    "свободного места",
    "дисковая квота",
    "слишком много",
    "убит",
    "истекло",
    "недоступн",
    "неизвестное имя",
    "неудовлетвор",
    "пропущен разделитель",
    "спецификатор пути",
    "образ памяти",
];

/// `word` lower case, capitalised and upper case.
fn case_variants(word: &str) -> [String; 3] {
    let mut chars = word.chars();
    let capitalised = chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default();
    [word.to_owned(), capitalised, word.to_uppercase()]
}

/// The prefilter's words: [`KEYWORDS`], and [`KEYWORDS_RU`] in each case.
fn keywords() -> impl Iterator<Item = String> {
    KEYWORDS
        .iter()
        .map(|k| (*k).to_owned())
        .chain(KEYWORDS_RU.iter().flat_map(|k| case_variants(k)))
}

/// The prefilter: a DFA over keywords, folding ASCII case.
struct Words {
    dfa: DFA,
    /// The unanchored start state.
    start: StateID,
}

impl Words {
    fn new(words: impl IntoIterator<Item = String>) -> Self {
        let dfa = DFA::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .start_kind(StartKind::Unanchored)
            .prefilter(false)
            .build(words)
            .expect("keywords compile");
        let start = dfa
            .start_state(Anchored::No)
            .expect("the keyword DFA is built for unanchored searches");
        Words { dfa, start }
    }
}

pub struct RuleSet {
    /// All keywords, for lines with non-ASCII bytes.
    words: Words,
    /// The ASCII keywords, for ASCII lines (most lines): the DFA's table is a quarter of the
    /// other's (fewer states, and no classes for the UTF-8 bytes of the Russian words and the
    /// test runners' marks), so the states that ordinary text visits stay in the CPU's cache.
    ascii_words: Words,
    set: RegexSet,
    pub regexes: Vec<Regex>,
}

/// The outcome for one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub kind: Kind,
    pub weight: u8,
    pub category: Option<Category>,
    pub rule: usize,
}

pub fn rules() -> &'static RuleSet {
    static SET: OnceLock<RuleSet> = OnceLock::new();
    SET.get_or_init(|| {
        let words = Words::new(keywords());
        let ascii_words = Words::new(keywords().filter(|k| k.is_ascii()));
        // The lazy DFA's cache: at the default 2 MiB the set (English and Russian words, Unicode
        // classes) kept clearing it and fell back to the slow engine on ordinary lines; 16 MiB
        // halved the classify time over the LogChunks dev logs.
        let set = RegexSetBuilder::new(RULES.iter().map(|r| r.pattern))
            .dfa_size_limit(16 << 20)
            .build()
            .expect("rules compile");
        let regexes = RULES
            .iter()
            .map(|r| Regex::new(r.pattern).expect("rule compiles"))
            .collect();
        RuleSet {
            words,
            ascii_words,
            set,
            regexes,
        }
    })
}

impl RuleSet {
    /// Classifies one normalized line; `None` for an ordinary line.
    /// Whether the line has any keyword at all (most lines do not).
    fn has_keyword(&self, line: &str) -> bool {
        // TeX errors start with `! ` and often carry no failure word (`! Missing $ inserted.`).
        self.has_word(line.as_bytes()) || has_location(line) || line.starts_with("! ")
    }

    fn has_word(&self, line: &[u8]) -> bool {
        // A word with a non-ASCII byte cannot be in an ASCII line.
        let words = if line.is_ascii() {
            &self.ascii_words
        } else {
            &self.words
        };
        has_word(words, line)
    }

    pub fn classify(&self, line: &str) -> Option<Verdict> {
        if line.len() < 2 || !self.has_keyword(line) {
            return None;
        }
        // Long lines (minified code, base64, dumped JSON) are never the decisive message and
        // would cost the regex engine time in proportion to their length.
        let line = if line.len() > 600 {
            let mut cut = 600;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            &line[..cut]
        } else {
            line
        };
        let mut best: Option<Verdict> = None;
        let matches = self.set.matches(line);
        // The generic failure-word rules only speak when no rule that knows the format does:
        // `error Command failed with exit code 1` is a cascade line, not an error message.
        let specific = matches.iter().any(|i| !is_generic(i));
        let diagnostic = matches.iter().any(is_diagnostic);
        if let Some(i) = matches.iter().find(|&i| overrides(i)) {
            let r = &RULES[i];
            return Some(Verdict {
                kind: r.kind,
                weight: r.weight,
                category: r.category,
                rule: i,
            });
        }
        for i in matches.iter() {
            if (specific && is_generic(i)) || (diagnostic && soft_ignore(i)) {
                continue;
            }
            let r = &RULES[i];
            let v = Verdict {
                kind: r.kind,
                weight: r.weight,
                category: r.category,
                rule: i,
            };
            if r.kind == Kind::Ignore {
                return Some(v);
            }
            let better = match best {
                None => true,
                Some(b) => {
                    (v.weight, kind_rank(v.kind), v.category.is_some())
                        > (b.weight, kind_rank(b.kind), b.category.is_some())
                }
            };
            if better {
                best = Some(v);
            }
        }
        best
    }

    /// Categories that any rule assigns to this line, with the rule's weight and name.
    pub fn categories(&self, line: &str) -> Vec<(Category, u8, &'static str)> {
        if !self.has_keyword(line) {
            return Vec::new();
        }
        let m = self.set.matches(line);
        let diagnostic = m.iter().any(is_diagnostic);
        if m.iter()
            .any(|i| RULES[i].kind == Kind::Ignore && !(diagnostic && soft_ignore(i)))
            && !m.iter().any(overrides)
        {
            return Vec::new();
        }
        m.iter()
            .filter_map(|i| {
                RULES[i]
                    .category
                    .map(|c| (c, RULES[i].weight, RULES[i].name))
            })
            .collect()
    }
}

/// Whether `hay` holds a keyword: the keyword DFA run over it, stopping at the first match.
///
/// Each step of one run waits for the previous step's table load, so a single run costs a
/// memory latency per byte whatever else the CPU could do. A line is therefore run as two
/// independent halves in lockstep, which the CPU overlaps. A keyword across the middle is found
/// by running the first half's state on into the second half until it reaches the state that
/// the second half's own run had at the same byte: from there both runs are the same, and the
/// second one found nothing. That takes at most a keyword's length, usually a byte or two.
fn has_word(words: &Words, hay: &[u8]) -> bool {
    let (dfa, start) = (&words.dfa, words.start);
    /// Below this, splitting saves less than it costs.
    const SPLIT_FROM: usize = 16;
    /// The second half's first states, kept for the meeting. Past them (a prefix of one of the
    /// longest keywords across the middle) the first run goes on to the end.
    const TRAIL: usize = 32;
    if hay.len() < SPLIT_FROM {
        return walk(dfa, start, hay).is_none();
    }
    // `back` is as long as `front` or one byte longer.
    let (front, back) = hay.split_at(hay.len() / 2);
    let found = |sid| dfa.is_special(sid) && dfa.is_match(sid);
    let (mut a, mut b) = (start, start);
    let mut trail = [start; TRAIL];
    let mut steps = front.iter().zip(back);
    // Special states (matches) are rare: one test for both runs keeps the loop short.
    for (t, (&x, &y)) in trail.iter_mut().zip(steps.by_ref()) {
        a = dfa.next_state(Anchored::No, a, x);
        b = dfa.next_state(Anchored::No, b, y);
        *t = b;
        if (dfa.is_special(a) | dfa.is_special(b)) && (found(a) || found(b)) {
            return true;
        }
    }
    for (&x, &y) in steps {
        a = dfa.next_state(Anchored::No, a, x);
        b = dfa.next_state(Anchored::No, b, y);
        if (dfa.is_special(a) | dfa.is_special(b)) && (found(a) || found(b)) {
            return true;
        }
    }
    if let Some(&odd) = back.get(front.len()) {
        b = dfa.next_state(Anchored::No, b, odd);
        if found(b) {
            return true;
        }
        if let Some(t) = trail.get_mut(front.len()) {
            *t = b;
        }
    }
    for (i, &x) in back.iter().enumerate() {
        a = dfa.next_state(Anchored::No, a, x);
        if found(a) {
            return true;
        }
        if trail.get(i) == Some(&a) {
            return false;
        }
    }
    false
}

/// Runs the keyword DFA from `sid` over `hay`: `None` when it matched, else the state reached.
fn walk(dfa: &DFA, mut sid: StateID, hay: &[u8]) -> Option<StateID> {
    for &x in hay {
        sid = dfa.next_state(Anchored::No, sid, x);
        if dfa.is_special(sid) && dfa.is_match(sid) {
            return None;
        }
    }
    Some(sid)
}

/// `file:12:` at the start of a line — a diagnostic's location; linters print codes, not words (`E501`, `C:`), so
/// such lines must reach the rules without a keyword.
fn has_location(line: &str) -> bool {
    // Linters print the location first: only the first word (up to 200 bytes) is looked at, in
    // one pass that stops at its end.
    let t = line.trim_start().as_bytes();
    let head = &t[..t.len().min(200)];
    for i in 1..head.len() {
        match head[i] {
            b' ' | b'\t' => return false,
            // A clock time (`12:34:56`) has a digit before its colon; a path does not.
            b':' if !head[i - 1].is_ascii_digit()
                && (head.get(i + 1).is_some_and(u8::is_ascii_digit)
                    // GHC's multi-line spans: `file.hs:(12,5)-(14,9):`
                    || (head.get(i + 1) == Some(&b'(')
                        && head.get(i + 2).is_some_and(u8::is_ascii_digit))) =>
            {
                return true;
            }
            _ => {}
        }
    }
    false
}

/// Rules whose match decides the line even when an Ignore or a heavier rule also matches:
/// surefire's `<<< FAILURE!` on a line that says `Errors: 0`, cargo's `error: could not
/// compile` summary that rustc-error would take for a diagnostic.
fn overrides(i: usize) -> bool {
    matches!(
        RULES[i].name,
        "surefire-failure"
            | "cargo-summary"
            | "data-race"
            | "gradle-task-failed"
            | "gradle-build-failed"
            | "msbuild-exec-exited"
            | "linker-cascade"
    )
}

/// Ignore rules about words inside a line (an identifier such as `error.c` or `error_code`, a
/// deprecation notice): they keep the generic failure words off such lines, but a line that a
/// tool's own diagnostic format decides (`src/error.c:12:5: error: ...`, `x.m:48: error: ...
/// (error.code) ...`) stays a failure.
fn soft_ignore(i: usize) -> bool {
    matches!(
        RULES[i].name,
        "error-word-in-name" | "deprecation" | "compiler-warning"
    )
}

/// A rule that knows a tool's failure format (a diagnostic, a failed test's heading) well enough
/// to outweigh a soft ignore.
fn is_diagnostic(i: usize) -> bool {
    let r = &RULES[i];
    matches!(r.kind, Kind::Error | Kind::Header) && r.weight >= 5 && !is_generic(i)
}

fn is_generic(i: usize) -> bool {
    matches!(RULES[i].name, "error-line-start" | "error-word")
}

fn kind_rank(k: Kind) -> u8 {
    match k {
        Kind::Error => 3,
        Kind::Header => 2,
        Kind::Cascade => 1,
        Kind::Ignore => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_matches_its_example_through_the_prefilter() {
        let rs = rules();
        for (i, r) in RULES.iter().enumerate() {
            assert!(
                rs.regexes[i].is_match(r.example),
                "rule {} does not match its example",
                r.name
            );
            let v = rs.classify(r.example);
            if r.kind == Kind::Ignore {
                // An ignore rule matters only where a failure word got past the prefilter.
                assert!(v.is_none_or(|v| v.kind == Kind::Ignore), "rule {}", r.name);
            } else {
                let v = v.unwrap_or_else(|| {
                    panic!("rule {}: example not classified (prefilter?)", r.name)
                });
                assert!(
                    v.weight >= r.weight,
                    "rule {}: example won by weaker {}",
                    r.name,
                    RULES[v.rule].name
                );
            }
        }
    }

    /// The prefilter's split run finds exactly what one run over the line finds (the
    /// aho-corasick searcher on the same words), wherever a word sits against the middle.
    #[test]
    fn split_prefilter_finds_what_one_run_finds() {
        let rs = rules();
        let reference = aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(keywords())
            .expect("keywords compile");
        let check = |line: &[u8]| {
            assert_eq!(
                rs.has_word(line),
                reference.is_match(line),
                "{:?}",
                String::from_utf8_lossy(line)
            );
        };
        let fillers: [&[u8]; 2] = [b"x", "ы ".as_bytes()];
        for word in keywords() {
            let forms = [word.clone(), word.to_ascii_uppercase()];
            for w in forms.iter().map(String::as_bytes) {
                // Every placement in lines short and long (odd and even, around the split's
                // threshold, long enough for the trail to run out), and the word cut short by a
                // byte at either end (a near miss that must not match unless another word does).
                for cut in [w, &w[1..], &w[..w.len() - 1]] {
                    let lens = [15, 16, 17, 40, 41, 66, 67, 121];
                    for len in lens.into_iter().chain([cut.len(), cut.len() + 1]) {
                        for at in 0..=len.saturating_sub(cut.len()) {
                            for f in fillers {
                                let mut line: Vec<u8> =
                                    f.iter().copied().cycle().take(at).collect();
                                line.extend_from_slice(cut);
                                let rest = len.saturating_sub(at + cut.len());
                                line.extend(f.iter().copied().cycle().take(rest));
                                check(&line);
                            }
                        }
                    }
                }
            }
        }
        // Two halves that each hold a keyword's prefix, the longest words straddling the
        // middle, and lines made only of the keywords' first bytes.
        let words: Vec<String> = keywords().collect();
        for a in &words {
            for b in words.iter().step_by(7) {
                let (a, b) = (a.as_bytes(), b.as_bytes());
                let mut line = a[..a.len() / 2].to_vec();
                line.extend_from_slice(&b[..b.len() / 2]);
                line.extend_from_slice(&a[a.len() / 2..]);
                check(&line);
                check(&[&a[1..], b].concat());
            }
        }
        let firsts: Vec<u8> = words.iter().map(|w| w.as_bytes()[0]).collect();
        for n in 0..firsts.len() {
            check(&firsts[n..]);
            check(&firsts[..n]);
        }
    }

    #[test]
    fn ordinary_lines_are_not_classified() {
        let rs = rules();
        for l in [
            "Compiling foo v0.1.0 (/src/foo)",
            "$ npm install",
            "Downloading https://repo1.maven.org/maven2/x.jar",
            "added 1204 packages in 25s",
            "Running tests...",
        ] {
            assert_eq!(rs.classify(l), None, "{l}");
        }
    }

    /// Failure lines of widely used tools, each with the rule that must decide it.
    #[test]
    fn tool_formats_are_recognised() {
        let rs = rules();
        for (line, rule) in [
            // Exception names that merely contain "on" + "Error" are failures, not handler names.
            ("E       AssertionError: assert 1 == 2", "test-assertion"),
            (
                "java.lang.AssertionError: expected:<1> but was:<2>",
                "test-assertion",
            ),
            (
                "     AssertionError: expected 1 to equal 2",
                "test-assertion",
            ),
            ("ValidationError: name is required", "exception-line"),
            (
                "Gem::Ext::BuildError: ERROR: Failed to build gem native extension.",
                "exception-line",
            ),
            // RSpec, pytest -v, TAP (Test::More / prove), ScalaTest, GoogleTest-style runners
            (
                "     Failure/Error: expect(total).to eq(3)",
                "test-assertion",
            ),
            (
                "tests/test_io.py::test_read FAILED                                  [ 50%]",
                "fail-line",
            ),
            (
                "t/parse.t .. 1/3 #   Failed test 'parses dates'",
                "fail-line",
            ),
            (
                "[info] - should reject a negative balance *** FAILED ***",
                "fail-line",
            ),
            ("[  ERROR   ] 9 errors, listed below:", "fail-line"),
            ("  ✘ renders the header", "fail-line"),
            // xcpretty's end-of-run failure report: the test's file:line on its own line
            (
                "  /Users/ci/App/Tests/ParserTests.swift:42",
                "xcpretty-failure-location",
            ),
            // minitest's per-failure heading
            ("  1) Failure:", "test-failures-heading"),
            ("Error:", "test-failures-heading"),
            // R CMD check and testthat
            (
                "Running the tests in 'tests/testthat.R' failed.",
                "r-check-error",
            ),
            ("* checking examples ... ERROR", "r-check-error"),
            (
                "  ── 1. Failure: parses dates (@test-parse.R#12)",
                "fail-line",
            ),
            // sbt/scalac
            (
                "[error] /src/main/scala/Ledger.scala:12:5: not found: value balance",
                "maven-compile-error",
            ),
            // Linters that indent their file:line:col lines (standard, xo)
            (
                "  /src/lib/app.js:12:5: Unnecessary return statement.",
                "lint",
            ),
            ("Oh no! 1 file would be reformatted.", "lint"),
            // Erlang VM crash, cabal/HTTP clients
            (
                "Crash dump is being written to: erl_crash.dump...done",
                "crash-signal",
            ),
            (
                "{\"init terminating in do_boot\",{undef,[{rebar3,main,[]}]}}",
                "crash-signal",
            ),
            (
                "cabal: Couldn't establish HTTP connection. Possible cause: HTTP proxy",
                "network",
            ),
            // docker build's summary repeats the failed RUN step
            (
                "The command '/bin/sh -c make' returned a non-zero code: 2",
                "exit-status",
            ),
            // Formats of projects the dev set lacks (issue 12); whole logs in tests/formats.rs.
            ("store/db.go:41:9: undefined: sqlOpen", "go-compiler-error"),
            (
                "server/conn.go:112: possible formatting directive in Println call",
                "go-diagnostic",
            ),
            (
                "./x.go:12:1:warning: exported function Serve should have comment (golint)",
                "go-diagnostic",
            ),
            (
                "server/handler.go:12:1: exported function ServeStatus should have comment or be unexported",
                "go-diagnostic",
            ),
            (
                "./main.go:9:2: \"os\" imported and not used",
                "go-compiler-error",
            ),
            (
                "api/client.go:57:14: c.Do undefined (type *Client has no field or method Do)",
                "go-compiler-error",
            ),
            ("src/Parse.hs:42:15:", "ghc-error"),
            (
                "src/Parse.hs:42:15: Not in scope: ‘parseNumbr’",
                "ghc-error",
            ),
            ("src/Parse.hs:(42,1)-(44,9):", "ghc-error"),
            ("src/parse.erl:42: syntax error before: ')'", "erlc-error"),
            (
                "src/parse.erl:57:5: function parse_number/1 undefined",
                "erlc-error",
            ),
            (
                "src/parse.erl:9: Function main/0 has no local return",
                "erlc-error",
            ),
            ("! Undefined control sequence.", "tex-error"),
            ("! LaTeX Error: File `minted.sty' not found.", "tex-error"),
            ("! Missing $ inserted.", "tex-error"),
            ("./main.tex:12: Undefined control sequence.", "tex-error"),
            (
                "Latexmk: Errors, so I did not complete making targets",
                "latexmk-summary",
            ),
            (
                "CSC : error CS5001: Program does not contain a static 'Main' method",
                "msbuild-error-code",
            ),
            ("error: Could not compile `project`.", "cargo-summary"),
            ("error: aborting due to 2 previous errors", "cargo-summary"),
            ("---- tests::parse_number stdout ----", "cargo-test-output"),
            ("/src/test/parser_test.cc:27: Failure", "cxx-test-failure"),
            ("/src/test/vector.cpp:20: FAILED:", "cxx-test-failure"),
            (
                "test.cpp(20): error: in \"suite/number\": check n == 12 has failed [13 != 12]",
                "cxx-test-failure",
            ),
            (
                "2/3 Test #2: test_parse .......................***Failed    0.02 sec",
                "cxx-test-failure",
            ),
            ("==4312== Invalid read of size 4", "valgrind-error"),
            (
                "  Failed Project.Tests.ParserTests.ParsesNumber [12 ms]",
                "vstest-failed",
            ),
            (
                "parsesNumber(com.example.ParserTest)  Time elapsed: 0.01 sec  <<< ERROR!",
                "surefire-failure",
            ),
            (
                "    (3/3) [EXECUTE] (X) Assertion failure",
                "vim-test-failure",
            ),
            (
                "    (1/2) [ EXPECT] (X) Unexpected result",
                "vim-test-failure",
            ),
            ("  [✖] parses a string", "vim-test-failure"),
            (
                "**error:{assertEqual,[{module,parse_tests},",
                "eunit-failure",
            ),
            ("    not ok 2 - subtest fails", "fail-line"),
            ("    rejects letters FAILED [1]", "fail-line"),
            (
                "   ^-- SC2086: Double quote to prevent globbing and word splitting.",
                "lint",
            ),
            ("[src/list.c:41]: (error) Memory leak: p", "lint"),
            ("WARNING: DATA RACE", "data-race"),
            (
                "==4312==WARNING: ThreadSanitizer: data race (pid=4312)",
                "data-race",
            ),
            (
                "test/test_list.c:41:test_list_get:FAIL: Expected 3 Was 2",
                "unity-fail",
            ),
            (
                "configure: error: Package requirements (glib-2.0 >= 2.40) were not met:",
                "build-configuration-error",
            ),
            (
                "meson.build:12:0: ERROR: Dependency \"glib-2.0\" not found",
                "build-configuration-error",
            ),
            (
                "Project ERROR: Unknown module(s) in QT: webkitwidgets",
                "build-configuration-error",
            ),
            (
                "Package libxml-2.0 was not found in the pkg-config search path.",
                "dependency-resolution",
            ),
            ("No package 'gtk+-3.0' found", "dependency-resolution"),
            ("Errors, Failures and Warnings", "test-failures-heading"),
            (
                "doc.xml:3: parser error : Opening and ending tag mismatch: a line 1 and b",
                "libxml2-error",
            ),
            (
                "  /src/app.js:12:5: 'x' is assigned a value but never used. (no-unused-vars)",
                "lint-rule-id",
            ),
            // xUnit.net console and its VSTest adapter (xunit/xunit reporters)
            (
                "    Project.Tests.ParserFacts.Parses_negative_numbers [FAIL]",
                "xunit-fail",
            ),
            (
                "[xUnit.net 00:00:01.0912340]     Project.Tests.RouteTests.Matches(path: \"/a/\") [FAIL]",
                "xunit-fail",
            ),
            // Gradle test logging and Checkstyle through Gradle
            (
                "io.example.ParserTest > parses nested lists FAILED",
                "gradle-test-failed",
            ),
            (
                "[ant:checkstyle] [ERROR] /src/Parser.java:88: Line is longer than 120 characters (found 131). [LineLength]",
                "checkstyle-error",
            ),
            // XCTest on Linux names the test without brackets
            (
                "Test Case 'ParserTests.testNumber' failed (0.001 seconds)",
                "xctest-failed",
            ),
            // CocoaPods' validator and its resolver
            (
                "    - ERROR | [iOS] xcodebuild: Returned an unsuccessful exit code.",
                "cocoapods-validation-error",
            ),
            (
                "[!] CocoaPods could not find compatible versions for pod \"AFNetworking\":",
                "dependency-resolution",
            ),
            // libtest names: compiletest's `[mode] path`
            (
                "---- [ui] ui/borrowck/borrowck-move-error.rs stdout ----",
                "cargo-test-output",
            ),
            // the go command's and dep's dependency errors, tlmgr's missing package
            (
                "package golang.org/x/sys/unix: unrecognized import path \"golang.org/x/sys/unix\" (https fetch: Get https://golang.org/x/sys/unix?go-get=1: dial tcp: i/o timeout)",
                "dependency-resolution",
            ),
            (
                "go: github.com/example/lib@v1.4.2: unknown revision v1.4.2",
                "dependency-resolution",
            ),
            (
                "Solving failure: No versions of github.com/pkg/errors met constraints:",
                "dependency-resolution",
            ),
            (
                "tlmgr install: package moderncvx not present in repository.",
                "dependency-resolution",
            ),
            // LaTeX3 packages' errors
            ("! fontspec error: \"font-not-found\"", "tex-error"),
            // a tool that names itself before `error:`
            (
                "tidy error: /checkout/src/librustc/ty/context.rs:1203: line longer than 100 chars",
                "tool-error",
            ),
            // gcc crashed, or was killed for memory
            (
                "src/scene.cpp:41:1: internal compiler error: Segmentation fault",
                "compiler-crash",
            ),
            (
                "c++: internal compiler error: Killed (program cc1plus)",
                "out-of-resources",
            ),
            (
                "g++: fatal error: Killed signal terminated program cc1plus",
                "out-of-resources",
            ),
            // a diagnostic that mentions an identifier with `error` in it, or a deprecation,
            // is still the diagnostic (the soft ignores give way)
            (
                "/Users/ci/Tests/EXRequestTests.m:48: error: -[EXRequestTests testParsesError] : ((error.code) equal to (404)) failed",
                "compiler-file-line-error",
            ),
            (
                "src/error.c:12:5: error: 'len' undeclared",
                "compiler-file-line-error",
            ),
            (
                "src/tls.c:40:3: error: 'SSL_library_init' is deprecated [-Werror=deprecated-declarations]",
                "compiler-file-line-error",
            ),
            // C and C++ test frameworks: Check, CUnit, doctest, Qt Test
            (
                "check_list.c:41:F:core:test_list_get:0: Assertion 'n == 3' failed",
                "c-test-framework-failure",
            ),
            (
                "Suite list_suite, Test test_append had failures:",
                "c-test-framework-failure",
            ),
            (
                "tests/vector.cpp:37: ERROR: CHECK( v.size() == 4 ) is NOT correct!",
                "c-test-framework-failure",
            ),
            (
                "FAIL!  : TestParser::parseNumber() Compared values are not the same",
                "c-test-framework-failure",
            ),
            // glibc's abort messages
            (
                "*** Error in `./build/run_tests': double free or corruption (fasttop): 0x0000000001c3e030 ***",
                "crash-signal",
            ),
            (
                "*** stack smashing detected ***: ./app terminated",
                "crash-signal",
            ),
            // Erlang's uncaught exceptions (escript, the shell)
            (
                "escript: exception error: undefined function rebar3:main/1",
                "exception-line",
            ),
            (
                "** exception error: no match of right hand side value {error,closed}",
                "exception-line",
            ),
            // rebar3 and Stack dependency errors
            (
                "===> Package not found in registry: cowlibx-2.6.0.",
                "dependency-resolution",
            ),
            (
                "Error: While constructing the build plan, the following exceptions were encountered:",
                "dependency-resolution",
            ),
            // HLint
            (
                "src/Project/Eval.hs:57:22-30: Error: Redundant do",
                "hlint-hint",
            ),
            ("2 hints", "hlint-summary"),
            // a tool that names itself with a colon
            (
                "xcodebuild: error: Unable to find a destination matching the provided destination specifier:",
                "tool-error",
            ),
            // the linker's summary stays a cascade although it says `tool: error:`
            (
                "clang: error: linker command failed with exit code 1 (use -v to see invocation)",
                "linker-cascade",
            ),
            (
                "collect2: error: ld returned 1 exit status",
                "linker-cascade",
            ),
            // MSBuild without a location; its Exec task's exit code is a cascade
            (
                "MSBUILD : error MSB1009: Project file does not exist.",
                "msbuild-error",
            ),
            (
                "/src/x.csproj(12,5): error MSB3073: The command \"make\" exited with code 2.",
                "msbuild-exec-exited",
            ),
            // Gradle's closing line is a cascade, not a failed test; PowerShell's error record
            (
                "FAILURE: Build failed with an exception.",
                "gradle-build-failed",
            ),
            (
                "    + CategoryInfo          : ObjectNotFound: (x:String) [], CommandNotFoundException",
                "powershell-error-record",
            ),
            // Vim's own error report
            (
                "Error detected while processing function example#parse[3]..<SNR>12_lex:",
                "vim-error",
            ),
            // Maven's goal failure that alone says which dependency is missing
            (
                "[ERROR] Failed to execute goal on project core: Could not resolve dependencies for project a:core:jar:1.0: Could not find artifact a:parser:jar:1.0 -> [Help 1]",
                "dependency-resolution",
            ),
        ] {
            let v = rs
                .classify(line)
                .unwrap_or_else(|| panic!("not classified: {line}"));
            assert_eq!(RULES[v.rule].name, rule, "{line}");
        }
    }

    /// Lines of the same tools that are not the failure: warnings, a test's own log lines,
    /// expected failures.
    #[test]
    fn tool_format_rules_leave_their_non_failures_alone() {
        let rs = rules();
        for line in [
            // erlc and GHC 7 label warnings, and only warnings
            "src/parse.erl:12: Warning: variable 'X' is unused",
            "src/Parse.hs:94:10: Warning:",
            // a Go test's log lines are indented under its `--- FAIL:`/`--- PASS:`
            "    decode_test.go:42: got 3, want 4",
            // TAP TODO and SKIP directives
            "not ok 4 - unicode names # TODO not implemented",
            // a compiler warning with a CS code
            "Parser.cs(41,17): warning CS0168: The variable 'e' is declared but never used",
            // a file named after errors and a deprecation notice, with only a failure word
            "  CC       src/error.c",
            "npm notice: the request module is deprecated, install failed handlers are ignored",
            // xUnit's skipped test; Gradle's passing test and a test's own stderr
            "    Project.Tests.ErrorFacts.Reports_error_position [SKIP]",
            "io.example.ParserTest > parsesLists PASSED",
            "io.example.ObservableTest > testZipErrorHandling STANDARD_ERROR",
            // Qt Test's passing line, a GHC 7 warning with its text (not HLint's `Error:`)
            "PASS   : TestParser::parseEmpty()",
            "src/Parse.hs:94:10: Warning: Defined but not used: `x'",
            // compilers' warnings with failure words in them
            "src/io.cpp:41:22: warning: invalid conversion from 'const char*' to 'char*' [-fpermissive]",
            "Sources/App.swift:12:9: warning: unable to infer closure type; cannot convert",
            // CocoaPods' warnings and notes
            "    - WARN  | xcodebuild:  Example/EXRequest.m:22:9: warning: 'UIAlertView' is deprecated",
        ] {
            let v = rs.classify(line);
            assert!(
                v.is_none_or(|v| v.kind == Kind::Ignore),
                "{line}: {:?}",
                v.map(|v| RULES[v.rule].name)
            );
        }
    }

    /// Russian-locale lines (`ru_RU` runners), each with its English original: the same rule
    /// kind, strength and category. Every Russian text is a msgstr of the tool's own catalog
    /// (see the comments in `RULES`); most lines were printed by the real tools under
    /// `LANG=ru_RU.UTF-8` (gcc 12, GNU make 4.3, binutils 2.40, bash 5.2, psql 15).
    #[test]
    fn russian_tool_output_ranks_like_english() {
        let rs = rules();
        for (ru, en, rule) in [
            // gcc / g++
            (
                "main.c:6:28: ошибка: expected «;» before «return»",
                "main.c:6:28: error: expected ';' before 'return'",
                "compiler-file-line-error",
            ),
            (
                "<stdin>:2:40: ошибка: «class std::vector<int>» не содержит элемента с именем «sizee»; имелось в виду «size»?",
                "<stdin>:2:40: error: 'class std::vector<int>' has no member named 'sizee'; did you mean 'size'?",
                "compiler-file-line-error",
            ),
            (
                "src/net.c:1:10: фатальная ошибка: openssl/ssl.h: Нет такого файла или каталога",
                "src/net.c:1:10: fatal error: openssl/ssl.h: No such file or directory",
                "compiler-file-line-error",
            ),
            (
                "cc1: все предупреждения считаются ошибками",
                "cc1: all warnings being treated as errors",
                "warnings-as-errors",
            ),
            // GNU ld through collect2
            (
                "link.c:(.text+0xa): неопределённая ссылка на «helper»",
                "link.c:(.text+0xa): undefined reference to `helper'",
                "compilation-failed",
            ),
            (
                "/usr/bin/ld: невозможно найти -lnosuchlib: Нет такого файла или каталога",
                "/usr/bin/ld: cannot find -lnosuchlib: No such file or directory",
                "compilation-failed",
            ),
            (
                "h.c:(.text+0x0): повторное определение «helper»; /tmp/cc8cOUDF.o:h.c:(.text+0x0): здесь первое определение",
                "h.c:(.text+0x0): multiple definition of `helper'; /tmp/cc8cOUDF.o:h.c:(.text+0x0): first defined here",
                "compilation-failed",
            ),
            (
                "collect2: ошибка: выполнение ld завершилось с кодом возврата 1",
                "collect2: error: ld returned 1 exit status",
                "linker-cascade",
            ),
            // GNU make
            (
                "make: *** [Makefile:5: main.o] Ошибка 1",
                "make: *** [Makefile:5: main.o] Error 1",
                "make-error",
            ),
            (
                "make: *** Нет правила для сборки цели «nosuch».  Останов.",
                "make: *** No rule to make target 'nosuch'.  Stop.",
                "missing-command-or-file",
            ),
            (
                "Makefile:3: *** пропущен разделитель.  Останов.",
                "Makefile:3: *** missing separator.  Stop.",
                "missing-command-or-file",
            ),
            // MSBuild / Roslyn / NuGet: the `error CODE` stays English, the message is Russian
            (
                "Program.cs(12,17): error CS0103: Имя \"totl\" не существует в текущем контексте. [/src/App/App.csproj]",
                "Program.cs(12,17): error CS0103: The name 'totl' does not exist in the current context [/src/App/App.csproj]",
                "msbuild-tsc-error",
            ),
            (
                "Сборка сбой с ошибками (1) через 3,4 с",
                "Build failed with 1 error(s) in 3.4s",
                "compilation-failed",
            ),
            (
                "/src/App/App.csproj : error NU1101: Не удалось найти пакет Newtonsoft.Jsonn. Пакеты с таким идентификатором отсутствуют в следующих источниках пакетов: nuget.org",
                "/src/App/App.csproj : error NU1101: Unable to find package Newtonsoft.Jsonn. No packages exist with this id in source(s): nuget.org",
                "dependency-resolution",
            ),
            ("Ошибка сборки.", "Build FAILED.", "error-word"),
            // PostgreSQL: psql, the server, libpq
            (
                "psql:migrate.sql:3: ОШИБКА:  повторяющееся значение ключа нарушает ограничение уникальности \"users_email_key\"",
                "psql:migrate.sql:3: ERROR:  duplicate key value violates unique constraint \"users_email_key\"",
                "error-level-prefix",
            ),
            (
                "ОШИБКА:  отношение \"orders\" не существует",
                "ERROR:  relation \"orders\" does not exist",
                "error-level-prefix",
            ),
            (
                "ВАЖНО:  роль \"app\" не существует",
                "FATAL:  role \"app\" does not exist",
                "error-level-prefix",
            ),
            (
                "psql: ошибка: подключиться к серверу \"127.0.0.1\", порту 5432 не удалось: В соединении отказано",
                "psql: error: connection to server at \"127.0.0.1\", port 5432 failed: Connection refused",
                "network",
            ),
            // bash, coreutils, glibc errno texts, apt
            (
                "bash: строка 1: ./deploy.sh: Нет такого файла или каталога",
                "bash: line 1: ./deploy.sh: No such file or directory",
                "missing-command-or-file",
            ),
            (
                "bash: строка 1: yarn: команда не найдена",
                "bash: line 1: yarn: command not found",
                "missing-command-or-file",
            ),
            (
                "mkdir: невозможно создать каталог «/opt/app»: Отказано в доступе",
                "mkdir: cannot create directory '/opt/app': Permission denied",
                "missing-command-or-file",
            ),
            (
                "cp: ошибка записи «dist/app.tar»: На устройстве не осталось свободного места",
                "cp: error writing 'dist/app.tar': No space left on device",
                "out-of-resources",
            ),
            (
                "Подключение к 10.0.0.5:443... ошибка: В соединении отказано.",
                "Connecting to 10.0.0.5:443... failed: Connection refused.",
                "network",
            ),
            (
                "./run-tests.sh: строка 12:  4242 Ошибка сегментирования (образ памяти сброшен на диск) ./build/tests",
                "./run-tests.sh: line 12:  4242 Segmentation fault      (core dumped) ./build/tests",
                "crash-signal",
            ),
            (
                "E: Невозможно найти пакет libfoo-dev",
                "E: Unable to locate package libfoo-dev",
                "dependency-resolution",
            ),
            (
                "E: Не удалось получить http://deb.debian.org/debian/pool/main/c/curl/curl_7.88.1-10_amd64.deb  404  Not Found",
                "E: Failed to fetch http://deb.debian.org/debian/pool/main/c/curl/curl_7.88.1-10_amd64.deb  404  Not Found",
                "network",
            ),
        ] {
            let r = rs
                .classify(ru)
                .unwrap_or_else(|| panic!("not classified: {ru}"));
            let e = rs
                .classify(en)
                .unwrap_or_else(|| panic!("not classified: {en}"));
            assert_eq!(RULES[r.rule].name, rule, "{ru}");
            assert_eq!(
                (r.kind, r.weight, r.category),
                (e.kind, e.weight, e.category),
                "{ru} ranks unlike {en} ({})",
                RULES[e.rule].name
            );
        }
    }

    /// Russian words are found whatever their case (the prefilter folds ASCII only).
    #[test]
    fn russian_keywords_match_in_every_case() {
        let rs = rules();
        for l in [
            "ошибка: x",
            "Ошибка: x",
            "ОШИБКА: x",
            "не удалось x",
            "Не удалось x",
        ] {
            assert!(rs.classify(l).is_some(), "{l}");
        }
        assert_eq!(
            case_variants("не удалось"),
            ["не удалось", "Не удалось", "НЕ УДАЛОСЬ"].map(String::from)
        );
    }

    #[test]
    fn russian_non_failures_are_not_failures() {
        let rs = rules();
        for l in [
            "Сборка успешно завершена.",
            "    Предупреждений: 0",
            "make[1]: выход из каталога «/src/lib»",
            "Восстановление завершено (0,6 с)",
        ] {
            assert_eq!(rs.classify(l), None, "{l}");
        }
        for l in ["    Ошибок: 0", "Проверка завершена без ошибок"]
        {
            assert_eq!(rs.classify(l).map(|v| v.kind), Some(Kind::Ignore), "{l}");
        }
        // gcc's warning prefix: an Ignore rule, whatever failure word follows.
        let l = "предупреждение: не удалось открыть «/etc/ld.so.conf.d»";
        assert_eq!(rs.classify(l).map(|v| v.kind), Some(Kind::Ignore), "{l}");
    }

    #[test]
    fn ignore_wins_over_failure_words() {
        let rs = rules();
        for l in [
            "Tests run: 12, Failures: 0, Errors: 0, Skipped: 1",
            "npm WARN deprecated x@1: failed",
            "  CC src/error.o",
            "  window.onError = report;",
            "lib/errors/index.js",
            "Unable to find image 'node:20' locally",
            "[info] Cannot resume session: Previous session failed",
        ] {
            assert_eq!(rs.classify(l).map(|v| v.kind), Some(Kind::Ignore), "{l}");
        }
    }
}
