//! Fixture logs of several CI systems and tools (`tests/data/`), each with the excerpt a person
//! would point at, and one test per category of the taxonomy.

use exlogare_analysis::{Category, JobMeta, Report, analyze_reader};
use std::path::PathBuf;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn analyze_file(name: &str) -> Report {
    let f = std::fs::File::open(data(name)).expect("fixture exists");
    analyze_reader(f, JobMeta::default()).expect("analysis")
}

struct Expect {
    file: &'static str,
    category: Category,
    /// Lines the main excerpt must hold: the first lines that explain the failure.
    must_hold: (u64, u64),
    /// The decisive line.
    decisive: Option<u64>,
    step: Option<&'static str>,
    /// Words the summary must contain.
    summary_has: &'static [&'static str],
}

const CASES: &[Expect] = &[
    Expect {
        file: "github_actions_cargo.log",
        category: Category::Compilation,
        must_hold: (12, 16),
        decisive: Some(12),
        step: Some("cargo build --locked"),
        summary_has: &[
            "Compilation failed",
            "src/parse.rs:42:18",
            "mismatched types",
        ],
    },
    Expect {
        file: "gitlab_pytest.log",
        category: Category::TestFailure,
        must_hold: (15, 23),
        decisive: Some(15),
        step: Some("pytest -q tests/"),
        summary_has: &["Tests failed", "tests/test_parse.py:7"],
    },
    Expect {
        file: "jenkins_maven.log",
        category: Category::Compilation,
        must_hold: (14, 16),
        decisive: Some(14),
        step: None,
        summary_has: &["Compilation failed", "cannot find symbol"],
    },
    Expect {
        file: "go_test.log",
        category: Category::TestFailure,
        must_hold: (5, 6),
        decisive: Some(5),
        step: Some("go test ./..."),
        summary_has: &["test TestParseDuration"],
    },
    Expect {
        file: "npm_dependency.log",
        category: Category::DependencyResolution,
        must_hold: (3, 4),
        decisive: Some(3),
        step: Some("npm ci"),
        summary_has: &["ERESOLVE"],
    },
    Expect {
        file: "travis_network.log",
        category: Category::Network,
        must_hold: (3, 3),
        decisive: Some(3),
        step: Some("./scripts/fetch-fixtures.sh"),
        summary_has: &["Could not resolve host"],
    },
    Expect {
        file: "travis_timeout.log",
        category: Category::Timeout,
        must_hold: (7, 7),
        decisive: Some(7),
        step: Some("make integration"),
        summary_has: &["timed out", "No output has been received"],
    },
    Expect {
        file: "github_oom.log",
        category: Category::OutOfResources,
        must_hold: (8, 8),
        decisive: Some(8),
        step: Some("npm run build"),
        summary_has: &["heap out of memory"],
    },
    Expect {
        file: "github_cancelled.log",
        category: Category::Cancelled,
        must_hold: (6, 6),
        decisive: Some(6),
        step: Some("./scripts/e2e.sh"),
        summary_has: &["cancelled"],
    },
    Expect {
        file: "gitlab_infrastructure.log",
        category: Category::Infrastructure,
        must_hold: (5, 5),
        decisive: Some(5),
        step: Some("prepare_executor"),
        summary_has: &["system failure"],
    },
    Expect {
        file: "eslint_lint.log",
        category: Category::LintQuality,
        must_hold: (6, 12),
        decisive: Some(7),
        step: Some("npm run lint"),
        summary_has: &["lint", "no-unused-vars"],
    },
    Expect {
        file: "config_missing_script.log",
        category: Category::Configuration,
        must_hold: (3, 3),
        decisive: Some(3),
        step: Some("./scripts/deploy.sh --env staging"),
        summary_has: &["No such file or directory"],
    },
    Expect {
        file: "github_r_cmd_check.log",
        category: Category::TestFailure,
        must_hold: (9, 14),
        decisive: Some(9),
        step: Some("r-lib/actions/check-r-package@v2"),
        summary_has: &["Tests failed", "Running the tests in"],
    },
    Expect {
        file: "jenkins_sbt_scalatest.log",
        category: Category::TestFailure,
        must_hold: (15, 16),
        decisive: Some(15),
        step: None,
        summary_has: &["*** FAILED ***", "BalanceSpec.scala:31"],
    },
    Expect {
        // The same failure in every example of a script that goes on: the first one; the
        // script's own weak trailer does not count.
        file: "gitlab_script_repeats_failure.log",
        category: Category::Unknown,
        must_hold: (8, 13),
        decisive: Some(10),
        step: Some("node examples/todo/check.js"),
        summary_has: &["TypeError", "examples/todo/check.js:3:18"],
    },
    Expect {
        // Docker's pull notice ("Unable to find image ... locally") is not the failure.
        file: "github_docker_run_make.log",
        category: Category::Compilation,
        must_hold: (11, 13),
        decisive: Some(12),
        step: None,
        summary_has: &["openssl/ssl.h"],
    },
    Expect {
        // xcpretty's end-of-run report (class, test, message, file:line) over the inline mark.
        file: "github_xcpretty_summary.log",
        category: Category::TestFailure,
        must_hold: (15, 17),
        decisive: Some(17),
        step: None,
        summary_has: &["Tests failed", "ParserTests.swift:42"],
    },
    Expect {
        // Pester's failed-test mark outranks an exception printed by code under test before it.
        file: "github_pester.log",
        category: Category::TestFailure,
        must_hold: (11, 13),
        decisive: Some(11),
        step: Some("Invoke-Pester -Path ./tests -CI"),
        summary_has: &["Get-Widget.returns the default widget"],
    },
    Expect {
        // minitest's failure heading outranks a runtime warning's stack trace above it, and the
        // summary names the test's location, not the trace's.
        file: "gitlab_minitest.log",
        category: Category::TestFailure,
        must_hold: (15, 18),
        decisive: Some(15),
        step: Some("bundle exec rake test"),
        summary_has: &["test/invoice_test.rb:18"],
    },
    Expect {
        // A loop over packages' test suites goes on after a failure: the first failing
        // package's report, and its command as the step.
        file: "gitlab_monorepo_tests.log",
        category: Category::TestFailure,
        must_hold: (10, 17),
        decisive: Some(10),
        step: Some("pytest -q packages/io"),
        summary_has: &["packages/io/tests/test_io.py:9"],
    },
    // Russian-locale runners (`LANG=ru_RU.UTF-8`). The tool lines were printed by the real tools
    // under that locale (Debian 12: gcc 12.2, GNU make 4.3, binutils 2.40, apt 2.6.1, PostgreSQL
    // 15 psql and server) or, for .NET, put together from the tools' own resources: MSBuild
    // dotnet/msbuild src/Build/Resources/xlf/Strings.ru.xlf and src/MSBuild/Resources/xlf/
    // Strings.ru.xlf (BuildFinishedFailure, ErrorCount, WarningCount, TimeElapsed,
    // MSBuildVersionMessage), Roslyn dotnet/roslyn src/Compilers/CSharp/Portable/xlf/
    // CSharpResources.ru.xlf (ERR_NameNotInContext), NuGet NuGet/NuGet.Client
    // src/NuGet.Core/NuGet.Commands/xlf/Strings.ru.xlf (Log_AllProjectsUpToDate). The CI
    // runner's own lines stay English (GitLab runner, Jenkins).
    Expect {
        // GitLab shell runner, gcc + make: gcc's "ошибка:" is the compiler diagnostic; make's
        // "*** [...] Ошибка 1" only repeats it.
        file: "ru_gitlab_gcc_make.log",
        category: Category::Compilation,
        must_hold: (13, 19),
        decisive: Some(14),
        step: Some("make"),
        summary_has: &["Compilation failed", "src/parse.c:6:28", "ошибка"],
    },
    Expect {
        // Jenkins, recursive make, GNU ld through collect2: "неопределённая ссылка на".
        file: "ru_jenkins_make_ld.log",
        category: Category::Compilation,
        must_hold: (18, 19),
        decisive: Some(19),
        step: None,
        summary_has: &[
            "Compilation failed",
            "неопределённая ссылка на «codec_encode»",
        ],
    },
    Expect {
        // GitLab, `dotnet build` with MSBuild's console logger in Russian: "error CS0103" stays
        // English (MSBuild's EventArgsFormatting: "error" should not be localized); the
        // message and the "Ошибка сборки." summary are Russian.
        file: "ru_gitlab_dotnet_build.log",
        category: Category::Compilation,
        must_hold: (13, 13),
        decisive: Some(13),
        step: Some("dotnet build --no-restore -c Release"),
        summary_has: &[
            "Cart.cs(57,21)",
            "error CS0103",
            "не существует в текущем контексте",
        ],
    },
    Expect {
        // GitLab, psql with ON_ERROR_STOP: the server's "ОШИБКА:" with its "СТРОКА"/"ПОДСКАЗКА"
        // lines. No category: the English original gets none either.
        file: "ru_gitlab_psql_migration.log",
        category: Category::Unknown,
        must_hold: (12, 15),
        decisive: Some(12),
        step: Some("psql -h postgres -U app -d shop -v ON_ERROR_STOP=1 -f db/migrate.sql"),
        summary_has: &[
            "db/migrate.sql:4",
            "ОШИБКА:  столбец \"emial\" не существует",
        ],
    },
    Expect {
        // apt-get in a Debian image: "E: Невозможно найти пакет".
        file: "ru_gitlab_apt_missing_package.log",
        category: Category::DependencyResolution,
        must_hold: (14, 14),
        decisive: Some(14),
        step: Some("apt-get install -y --no-install-recommends libzstd-devel"),
        summary_has: &["Dependencies could not be resolved", "libzstd-devel"],
    },
    Expect {
        // GitFlic (since 4.4) puts a timestamp before every line of a job log; the trailer
        // lines of GitFlic's runner are not known, so the rest is GitLab-runner-like (see
        // shared/reference/gitflic-api.md). gcc's "фатальная ошибка: ...: Нет такого файла или
        // каталога" for a missing header.
        file: "ru_gitflic_timestamps.log",
        category: Category::Compilation,
        must_hold: (4, 5),
        decisive: Some(5),
        step: Some("make"),
        summary_has: &["src/net.h:3:10", "zstd.h"],
    },
    Expect {
        // A Windows runner whose console wrote CP1251 (and CRLF): the Cyrillic turns into
        // U+FFFD, and the diagnostic is still found by its ASCII parts, `(57,21): error CS0103`.
        file: "ru_windows_dotnet_cp1251.log",
        category: Category::Compilation,
        must_hold: (12, 12),
        decisive: Some(12),
        step: Some("dotnet build -c Release Shop.sln"),
        summary_has: &["Cart.cs(57,21)", "error CS0103"],
    },
    Expect {
        file: "unknown_no_evidence.log",
        category: Category::Unknown,
        must_hold: (2, 4),
        decisive: None,
        step: Some("./build.sh"),
        summary_has: &["Could not locate"],
    },
];

#[test]
fn fixtures_give_the_expected_excerpt_category_and_step() {
    for e in CASES {
        let r = analyze_file(e.file);
        let main = r
            .excerpt
            .first()
            .unwrap_or_else(|| panic!("{}: empty excerpt", e.file));
        assert!(
            main.start_line <= e.must_hold.0 && e.must_hold.1 <= main.end_line,
            "{}: main excerpt {:?} does not hold lines {:?}",
            e.file,
            main,
            e.must_hold
        );
        let total: u64 = r
            .excerpt
            .iter()
            .map(|x| x.end_line - x.start_line + 1)
            .sum();
        assert!(total <= 40, "{}: excerpt of {total} lines", e.file);
        assert_eq!(r.category, e.category, "{}: {}", e.file, r.category_rule);
        assert_eq!(r.decisive_line, e.decisive, "{}", e.file);
        assert_eq!(r.located, e.decisive.is_some(), "{}", e.file);
        if let Some(step) = e.step {
            assert_eq!(r.failing_step.as_deref(), Some(step), "{}", e.file);
        }
        for word in e.summary_has {
            assert!(
                r.summary.contains(word),
                "{}: summary {:?} lacks {word:?}",
                e.file,
                r.summary
            );
        }
        assert_eq!(r.signature.len(), 16, "{}", e.file);
        // The excerpt's text is there, line by line, for every line of every range.
        for x in &r.excerpt {
            for n in x.start_line..=x.end_line {
                assert!(
                    r.excerpt_lines.iter().any(|(m, _)| *m == n),
                    "{}: line {n} has no text",
                    e.file
                );
            }
        }
    }
}

#[test]
fn the_cp1251_fixture_is_really_cp1251() {
    // Guards the fixture itself: its Cyrillic must be single CP1251 bytes, not UTF-8.
    let bytes = std::fs::read(data("ru_windows_dotnet_cp1251.log")).expect("fixture exists");
    assert!(std::str::from_utf8(&bytes).is_err());
    // "Ошибка сборки." in CP1251.
    let build_failed = b"\xce\xf8\xe8\xe1\xea\xe0 \xf1\xe1\xee\xf0\xea\xe8.\r\n";
    assert!(bytes.windows(build_failed.len()).any(|w| w == build_failed));
}

#[test]
fn every_category_is_covered_by_a_fixture() {
    for c in Category::ALL {
        assert!(
            CASES.iter().any(|e| e.category == c),
            "no fixture for {}",
            c.as_str()
        );
    }
}

#[test]
fn the_travis_failed_command_is_the_one_reported_not_the_later_ones() {
    let log = "$ make lint\nlint ok\nThe command \"make lint\" exited with 0.\n$ make test\nFAIL: test_x\nexpected 1, got 2\nThe command \"make test\" exited with 1.\n$ make docs\nerror: docs tool missing\nThe command \"make docs\" exited with 2.\n";
    let r = analyze_reader(log.as_bytes(), JobMeta::default()).unwrap();
    assert_eq!(r.decisive_line, Some(5));
    assert_eq!(r.failing_step.as_deref(), Some("make test"));
    assert_eq!(r.exit_code, Some(1));
    assert_eq!(r.category, Category::TestFailure);
}

#[test]
fn after_script_output_is_not_the_cause() {
    // GitLab runs after_script after the failure; its errors must not be picked.
    let r = analyze_file("gitlab_pytest.log");
    assert!(r.excerpt[0].end_line < 29, "{:?}", r.excerpt);
}

#[test]
fn first_error_beats_its_cascade() {
    let log = "$ make\ncc -c a.c\na.c:3:1: error: unknown type name 'foo'\nmake: *** [a.o] Error 1\nmake: *** [all] Error 2\nThe command \"make\" exited with 2.\n";
    let r = analyze_reader(log.as_bytes(), JobMeta::default()).unwrap();
    assert_eq!(r.decisive_line, Some(3));
    assert!(
        r.excerpt[0].end_line <= 3,
        "cascade lines are not part of the block: {:?}",
        r.excerpt
    );
}

#[test]
fn a_summary_line_shows_the_block_above_it() {
    let log = "$ ./check.sh\n\n  size limit exceeded by 934 B\n  size: 103 KB\n\nerror Command failed with exit code 3.\nThe command \"./check.sh\" exited with 1.\n";
    let r = analyze_reader(log.as_bytes(), JobMeta::default()).unwrap();
    let main = r.excerpt[0];
    assert!(main.start_line <= 3 && main.end_line >= 6, "{main:?}");
}

#[test]
fn secrets_in_the_excerpt_are_redacted() {
    let log = "$ ./deploy.sh\ncurl https://deploy:hunter2@example.com/upload\nexport API_TOKEN=abcdef1234567890\nerror: upload failed with 401\nThe command \"./deploy.sh\" exited with 1.\n";
    let r = analyze_reader(log.as_bytes(), JobMeta::default()).unwrap();
    let text: String = r
        .excerpt_lines
        .iter()
        .map(|(_, t)| t.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(text.contains("error: upload failed"), "{text}");
    assert!(
        !text.contains("hunter2") && !text.contains("abcdef1234567890"),
        "{text}"
    );
    assert!(text.contains("[REDACTED]"));
    assert!(!r.summary.contains("hunter2"));
}

#[test]
fn empty_log_is_an_explicit_could_not_locate() {
    let r = analyze_reader(&b""[..], JobMeta::default()).unwrap();
    assert!(!r.located);
    assert_eq!(r.category, Category::Unknown);
    assert!(r.summary.contains("Could not locate"), "{}", r.summary);
}
