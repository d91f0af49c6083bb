use super::*;

/// A reader that hands out the input a few bytes at a time, as a network stream might.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

const LOG: &str = "travis_fold:start:install\r\x1b[0K$ npm ci\r\nadded 10 packages\r\ntravis_fold:end:install\r\x1b[0K\r\n$ npm test\r\n\r\n> jest\r\n\r\n FAIL  test/a.test.js\r\n  \u{25cf} adds numbers\r\n\r\n    expect(received).toBe(expected)\r\n    Expected: 3\r\n    Received: 4\r\n\r\nTests: 1 failed, 4 passed\r\nnpm ERR! Test failed.\r\nThe command \"npm test\" exited with 1.\r\n\r\nDone. Your build exited with 1.\r\n";

#[test]
fn report_does_not_depend_on_read_sizes() {
    let whole = analyze_reader(LOG.as_bytes(), JobMeta::default()).unwrap();
    assert_eq!(whole.decisive_line, Some(8));
    assert_eq!(whole.category, Category::TestFailure);
    for step in [1, 2, 3, 7, 64] {
        let r = analyze_reader(
            Trickle {
                data: LOG.as_bytes(),
                step,
            },
            JobMeta::default(),
        )
        .unwrap();
        assert_eq!(r.excerpt, whole.excerpt, "read size {step}");
        assert_eq!(r.signature, whole.signature, "read size {step}");
        assert_eq!(r.excerpt_lines, whole.excerpt_lines, "read size {step}");
    }
}

#[test]
fn memory_stays_bounded_whatever_the_log_size() {
    let mut an = Analyzer::new(JobMeta::default());
    let mut peak = 0;
    let mut n = 0u64;
    for block in 0..2_000u64 {
        n += 1;
        an.push_line(n, &format!("$ step {block}"));
        for i in 0..50u64 {
            n += 1;
            let line = match i % 10 {
                0 => format!("error: something failed in unit {i} of block {block}"),
                1 => format!("src/m{block}.c:{i}:1: error: expected ';'"),
                _ => format!("ordinary output line {i} of block {block}"),
            };
            an.push_line(n, &line);
        }
        if block % 3 == 0 {
            n += 1;
            an.push_line(n, &format!("The command \"step {block}\" exited with 1."));
        }
        peak = peak.max(an.retained_lines());
    }
    // 100 000 lines in; what is held is a small constant.
    let bound = 4
        * (TAIL_LINES
            + MAX_SEGMENTS * (HEAD_LINES + MAX_CANDIDATES * (PRE_LINES + 1 + AFTER_LINES + 1)))
        + PRE_LINES
        + 2;
    assert!(peak <= bound, "held {peak} lines, bound {bound}");
    let r = an.finish();
    assert!(r.located);
    assert_eq!(r.lines_seen, n);
}

#[test]
fn signature_ignores_volatile_parts_and_separates_failures() {
    let a = signature(
        Category::Compilation,
        &[
            "2024-03-01T10:00:00Z /home/runner/work/a/src/x.rs:42:18: error: mismatched types at 0x7ffd2b846a30",
        ],
    );
    let b = signature(
        Category::Compilation,
        &[
            "2025-11-30T23:59:59Z /builds/group/b/src/x.rs:97:3: error: mismatched types at 0x55f508ffe1c0",
        ],
    );
    let c = signature(
        Category::Compilation,
        &["/builds/group/b/src/x.rs:97:3: error: unresolved import"],
    );
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_ne!(
        a,
        signature(
            Category::TestFailure,
            &["/builds/group/b/src/x.rs:97:3: error: mismatched types at 0x1"]
        )
    );
    assert_eq!(a.len(), 16);
    assert!(a.chars().all(|ch| ch.is_ascii_hexdigit()));
}

#[test]
fn timestamps_and_clock_prefixes_do_not_hide_rules() {
    assert_eq!(
        strip_timestamp("2024-03-01T10:00:00.1234567Z error: x"),
        "error: x"
    );
    assert_eq!(
        strip_timestamp("2024-03-01T10:00:00.123456Z 00O+error: x"),
        "error: x"
    );
    assert_eq!(
        strip_clock("[12:34:56] E/launcher - Error: boom"),
        "E/launcher - Error: boom"
    );
    assert_eq!(strip_clock("12:34:56.789 ERROR x"), "ERROR x");
    assert_eq!(strip_clock("12 apples"), "12 apples");
    // Stack 2 prefixes a package's build lines with `pkg> ` (commercialhaskell/stack,
    // `Stack.Build.Execute`): the rules see GHC's own line.
    assert_eq!(
        message("my-pkg> src/A.hs:3:7: error:"),
        "src/A.hs:3:7: error:"
    );
    assert_eq!(message("my-pkg>"), "");
    assert_eq!(message("> Task :test"), "> Task :test");
    assert_eq!(message("a > b"), "a > b");
    assert_eq!(message("x>=1 error"), "x>=1 error");
}

/// The package prefix as a rule sees it: GHC's error behind `pkg> ` decides like the bare line.
#[test]
fn stack_package_prefix_does_not_hide_ghc_errors() {
    let log = "$ stack build\nproj> [1 of 3] Compiling A\nproj> /src/A.hs:3:7: error:\nproj>     Variable not in scope: x\nThe command \"stack build\" exited with 1.\n";
    let r = analyze_reader(log.as_bytes(), JobMeta::default()).unwrap();
    assert_eq!(r.decisive_line, Some(3));
    assert_eq!(r.category, Category::Compilation);
}

#[test]
fn cli_prints_one_json_object_per_file_and_a_readable_report() {
    let dir = std::env::temp_dir().join(format!("exlogare-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let a = dir.join("a.log");
    std::fs::write(&a, LOG).unwrap();
    let b = dir.join("b.log");
    std::fs::write(
        &b,
        "$ make\nmain.c:1:1: error: boom\nThe command \"make\" exited with 2.\n",
    )
    .unwrap();

    let mut out = Vec::new();
    cli::run(std::slice::from_ref(&a), true, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.lines().count(), 1);
    let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    for key in [
        "excerpt",
        "category",
        "summary",
        "signature",
        "failing_step",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert!(v["excerpt"][0]["start_line"].as_u64().unwrap() >= 1);

    let mut out = Vec::new();
    cli::run(&[a.clone(), b.clone()], true, &mut out).unwrap();
    assert_eq!(String::from_utf8(out).unwrap().lines().count(), 2);

    let mut out = Vec::new();
    cli::run(std::slice::from_ref(&b), false, &mut out).unwrap();
    let human = String::from_utf8(out).unwrap();
    assert!(human.contains("Compilation failed"), "{human}");
    assert!(human.contains("2 | main.c:1:1: error: boom"), "{human}");

    let missing = dir.join("missing.log");
    assert!(cli::run(&[missing], true, &mut Vec::new()).is_err());
    std::fs::remove_dir_all(&dir).ok();
}

/// The two lines that crashed `exlogare-host analyze` on real logs: a Russian message after an
/// `HH:MM:` prefix, and a GitHub Actions timestamp whose first 40 bytes end inside a
/// non-breaking space. Each is analysed, not panicked on.
#[test]
fn lines_that_used_to_panic_are_analysed() {
    for log in [
        "10:15: Ошибка сборки\n",
        "[10:15: Ошибка сборки\n",
        "2022-05-03T17:52:18.2295852Z \u{a0}\u{a0}\u{a0}\u{a0}\u{a0}\u{a0}[]map[string]\n",
        "2022-05-03T17:52:18.2295852Z\u{a0}\u{a0}\u{a0}\u{a0}\u{a0}\u{a0}\u{a0}error\n",
        "2022-05-03T17:52:18.2295852Z           []map[string]\u{a0}\u{a0}\n",
    ] {
        let r = analyze_reader(log.as_bytes(), JobMeta::default()).unwrap();
        assert_eq!(r.lines_seen, 1, "{log:?}");
        assert!(
            r.excerpt
                .iter()
                .all(|l| 1 <= l.start_line && l.end_line <= 1),
            "{log:?}"
        );
    }
}

/// Every prefix shape the clock and timestamp strippers look at, followed by text in many
/// scripts and spaces, at every cut: none may slice inside a character.
#[test]
fn prefix_strippers_never_cut_inside_a_character() {
    let tails = [
        "Ошибка сборки",
        "\u{a0}ошибка: нет файла",
        "\u{2003}\u{3000}错误: 找不到",
        "e\u{301}\u{301} combining",
        "🦀🔥 error",
        "\u{200b}zero width",
    ];
    let heads = [
        "10:15:",
        "10:15:3",
        "10:15:30",
        "[10:15:30.1",
        "[10:15:30]",
        "2024-03-01T10:15:30Z",
        "2024-03-01T10:15:30.123Z ",
        "2024-03-01T10:15:30.123456789Z 00O",
        "2024-03-01T10:15:30.123456789Z 01E+",
    ];
    for h in heads {
        for t in tails {
            let line = format!("{h}{t}");
            for cut in 0..=line.len() {
                let Some(s) = line.get(..cut) else { continue };
                let _ = strip_clock(strip_timestamp(s));
                let _ = strip_timestamp(strip_clock(s));
                let _ = message(s);
                let _ = message(&format!("pkg> {s}"));
            }
        }
    }
}
