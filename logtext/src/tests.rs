use super::*;

fn text(raw: &[u8]) -> String {
    normalize_line(raw).0
}

fn all_lines(input: &[u8], max: usize, chunk: usize) -> Vec<Line> {
    let mut n = Normalizer::new(max);
    let mut out = Vec::new();
    for c in input.chunks(chunk.max(1)) {
        n.push(c, &mut out);
    }
    n.finish(&mut out);
    assert_eq!(n.lines_seen(), out.len() as u64);
    out
}

fn start(name: &str) -> StepMarker {
    StepMarker {
        edge: Edge::Start,
        name: name.into(),
    }
}
fn end(name: &str) -> StepMarker {
    StepMarker {
        edge: Edge::End,
        name: name.into(),
    }
}

#[test]
fn plain_text_is_unchanged() {
    assert_eq!(text(b"hello world\tx"), "hello world\tx");
    assert_eq!(text("żółw — ok".as_bytes()), "żółw — ok");
}

#[test]
fn crlf_drops_the_carriage_return() {
    let lines = all_lines(b"a\r\nb\r\n", 100, 1000);
    assert_eq!(
        lines.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
}

#[test]
fn progress_bar_shows_final_state() {
    assert_eq!(text(b"10%\r50%\r100%"), "100%");
    // A shorter overwrite leaves the tail of the longer text, as on a terminal.
    assert_eq!(text(b"Downloading 12345\rDone"), "Doneloading 12345");
}

#[test]
fn erase_line_variants() {
    assert_eq!(text(b"Downloading 12345\r\x1b[KDone"), "Done");
    assert_eq!(text(b"Downloading 12345\r\x1b[0KDone"), "Done");
    assert_eq!(text(b"Downloading 12345\x1b[2K\rDone"), "Done");
    // ESC[1K blanks from the start up to the cursor, keeping what is right of it.
    assert_eq!(text(b"abcdef\r\x1b[2C\x1b[1K"), "   def");
    // Erasing to end of line from the middle keeps the head.
    assert_eq!(text(b"abcdef\r\x1b[3C\x1b[K"), "abc");
}

#[test]
fn cursor_moves() {
    assert_eq!(text(b"abc\x1b[2Dx"), "axc");
    assert_eq!(text(b"ab\x1b[3Cx"), "ab   x");
    assert_eq!(text(b"abcdef\x1b[2Gz"), "azcdef");
}

#[test]
fn ansi_escapes_are_removed() {
    assert_eq!(text(b"\x1b[31;1mred\x1b[0m plain"), "red plain");
    assert_eq!(text(b"\x1b[?25lhidden cursor\x1b[?25h"), "hidden cursor");
    assert_eq!(text(b"\x1b]0;window title\x07text"), "text");
    assert_eq!(text(b"\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\"), "link");
    assert_eq!(text(b"\x1b(Bcharset\x1b=keypad\x1b>"), "charsetkeypad");
    // An escape cut off at the end of the line leaves nothing behind.
    assert_eq!(text(b"tail\x1b[31"), "tail");
    assert_eq!(text(b"tail\x1b"), "tail");
    assert_eq!(text(b"tail\x1b]0;never ended"), "tail");
}

#[test]
fn controls_other_than_tab_are_dropped() {
    assert_eq!(text(b"a\x00b\x07c\x08d\x7fe\tf"), "abcde\tf");
}

#[test]
fn invalid_utf8_is_replaced() {
    assert_eq!(text(b"caf\xe9 ok"), "caf\u{fffd} ok");
    assert_eq!(text(b"\x1b[1mcaf\xe9\r\x1b[K\xffx"), "\u{fffd}x");
}

#[test]
fn gitlab_sections() {
    let (t, s) =
        normalize_line(b"\x1b[0Ksection_start:1560896352:build_script\r\x1b[0KRunning the build");
    assert_eq!(t, "Running the build");
    assert_eq!(s, [start("build_script")]);
    let (t, s) = normalize_line(
        b"section_start:1560896352:prepare[collapsed=true]\r\x1b[0K\x1b[0;1mPreparing\x1b[0m",
    );
    assert_eq!(t, "Preparing");
    assert_eq!(s, [start("prepare")]);
    // Several markers on one raw line, end before start.
    let (t, s) = normalize_line(
        b"\x1b[0Ksection_end:1560896353:step_script\r\x1b[0K\x1b[0Ksection_start:1560896353:after_script\r\x1b[0K",
    );
    assert_eq!(t, "");
    assert_eq!(s, [end("step_script"), start("after_script")]);
    // Without the \r the marker text is still cut from the output.
    let (t, s) = normalize_line(b"section_end:1:build.sh-1 trailing");
    assert_eq!(t, " trailing");
    assert_eq!(s, [end("build.sh-1")]);
}

#[test]
fn travis_folds() {
    let (t, s) = normalize_line(
        b"travis_fold:start:install.1\r\x1b[0Ktravis_time:start:0b2c\r\x1b[0K$ npm install",
    );
    assert_eq!(t, "$ npm install");
    assert_eq!(s, [start("install.1")]);
    let (t, s) = normalize_line(b"\rtravis_fold:end:install.1\r\x1b[0K");
    assert_eq!(t, "");
    assert_eq!(s, [end("install.1")]);
}

#[test]
fn github_groups() {
    let (t, s) = normalize_line(b"##[group]Run cargo test --locked");
    assert_eq!(
        (t.as_str(), s),
        ("", vec![start("Run cargo test --locked")])
    );
    let (t, s) = normalize_line(b"##[endgroup]");
    assert_eq!((t.as_str(), s), ("", vec![end("")]));
    let (t, s) = normalize_line(b"::group::Install deps");
    assert_eq!((t.as_str(), s), ("", vec![start("Install deps")]));
    let (t, s) = normalize_line(b"::endgroup::");
    assert_eq!((t.as_str(), s), ("", vec![end("")]));
    // Downloaded GitHub logs put a timestamp before every line.
    let (t, s) = normalize_line(b"2024-03-01T10:20:30.1234567Z ##[group]Run npm ci");
    assert_eq!(t, "2024-03-01T10:20:30.1234567Z ");
    assert_eq!(s, [start("Run npm ci")]);
    // Not at the start of the line: ordinary text.
    let (t, s) = normalize_line(b"echo ::group::x");
    assert_eq!((t.as_str(), s.len()), ("echo ::group::x", 0));
}

#[test]
fn near_misses_are_text() {
    for raw in [
        &b"section_start:abc:name"[..],
        b"section_start:12:",
        b"travis_fold:start:",
        b"my_section_foo",
        b"a::b",
    ] {
        let (t, s) = normalize_line(raw);
        assert!(s.is_empty(), "{raw:?}");
        assert_eq!(t.as_bytes(), raw);
    }
}

#[test]
fn one_line_per_newline_and_final_line() {
    let lines = all_lines(b"a\n\nb", 100, 1000);
    assert_eq!(
        lines
            .iter()
            .map(|l| (l.number, l.text.as_str()))
            .collect::<Vec<_>>(),
        [(1, "a"), (2, ""), (3, "b")]
    );
    assert_eq!(all_lines(b"a\n", 100, 1000).len(), 1);
    assert_eq!(all_lines(b"", 100, 1000).len(), 0);
    assert_eq!(all_lines(b"\n", 100, 1000).len(), 1);
    // A bare \r never splits a line: numbering follows \n only.
    let lines = all_lines(b"x\ry\rz\nw\n", 100, 1000);
    assert_eq!(
        lines
            .iter()
            .map(|l| (l.number, l.text.as_str()))
            .collect::<Vec<_>>(),
        [(1, "z"), (2, "w")]
    );
}

#[test]
fn long_lines_are_truncated_on_a_char_boundary() {
    let mut raw = "é".repeat(100).into_bytes();
    raw.push(b'\n');
    let lines = all_lines(&raw, 11, 1000);
    assert_eq!(lines[0].text, "é".repeat(5));
    let long = vec![b'x'; 100_000];
    let lines = all_lines(&long, 64, 7);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].text, "x".repeat(64));
}

#[test]
fn huge_progress_line_keeps_its_final_state() {
    // Megabytes of redraws with no \n: the buffer folds at each \r and stays bounded.
    let mut raw = Vec::new();
    for i in 0..200_000 {
        raw.extend_from_slice(format!("\r\x1b[KProgress {i}/200000").as_bytes());
    }
    raw.extend_from_slice(b"\r\x1b[Kdone\nnext\n");
    let mut n = Normalizer::new(256);
    let mut out = Vec::new();
    for c in raw.chunks(4093) {
        n.push(c, &mut out);
        assert!(n.buf.len() <= n.raw_cap);
    }
    n.finish(&mut out);
    assert_eq!(
        out.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(),
        ["done", "next"]
    );
}

#[test]
fn markers_survive_folding() {
    let mut raw = b"travis_fold:start:big\r".to_vec();
    for _ in 0..5000 {
        raw.extend_from_slice(b"....................\r");
    }
    raw.extend_from_slice(b"ok\n");
    let lines = all_lines(&raw, 32, 100);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].steps, [start("big")]);
    assert_eq!(lines[0].text, format!("ok{}", ".".repeat(18)));
}

/// A messy log exercising every feature; each chunking must give the same lines.
fn messy_log() -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(
        b"\x1b[0Ksection_start:1:build[collapsed=true]\r\x1b[0K\x1b[32;1mBuilding\x1b[0m\r\n",
    );
    v.extend_from_slice("caf\u{e9} \u{1F600} ok\r\n".as_bytes());
    v.extend_from_slice(b"bad \xe9\xff utf8\n");
    v.extend_from_slice(b"10%\r50%\r100%\r\n");
    v.extend_from_slice(b"travis_fold:start:x\r\x1b[0K$ make\n");
    v.extend_from_slice(b"\x1b]0;title\x07\x1b[?25lhello\x1b[?25h\n");
    v.extend_from_slice(b"2024-03-01T10:20:30.1234567Z ##[group]Run make\n");
    v.extend_from_slice(b"##[endgroup]\n");
    v.extend_from_slice("\u{4e2d}\u{6587}\r\u{00e9}".as_bytes());
    v.extend_from_slice(b"\n");
    v.extend_from_slice(&b"long ".repeat(300));
    v.extend_from_slice(b"\r\x1b[Kshort\n\x1b[0Ksection_end:2:build\r\x1b[0K");
    v
}

#[test]
fn any_chunking_gives_the_same_lines() {
    let input = messy_log();
    let reference = all_lines(&input, 128, input.len());
    assert_eq!(reference.len(), 11);
    assert_eq!(reference[0].text, "Building");
    assert_eq!(reference[0].steps, [start("build")]);
    assert_eq!(reference[1].text, "caf\u{e9} \u{1F600} ok");
    assert_eq!(reference[2].text, "bad \u{fffd}\u{fffd} utf8");
    assert_eq!(reference[3].text, "100%");
    assert_eq!(reference[8].text, "\u{e9}\u{6587}");
    assert_eq!(reference[9].text, "short");
    assert_eq!(reference[10].steps, [end("build")]);
    for chunk in 1..=40 {
        assert_eq!(
            all_lines(&input, 128, chunk),
            reference,
            "chunk size {chunk}"
        );
    }
    // Every split point into two chunks (covers splits inside escapes, UTF-8 and CRLF).
    for cut in 0..=input.len() {
        let mut n = Normalizer::new(128);
        let mut out = Vec::new();
        n.push(&input[..cut], &mut out);
        n.push(&input[cut..], &mut out);
        n.finish(&mut out);
        assert_eq!(out, reference, "cut at {cut}");
    }
}

#[test]
fn chunking_invariance_holds_with_folding() {
    // Lines far longer than the raw cap, with \r, so that folding happens mid-line.
    let mut input = Vec::new();
    for i in 0..3 {
        for j in 0..400 {
            input.extend_from_slice(
                format!("\x1b[1mstep {i} progress {j:04} \u{e9}\u{e9}\x1b[0m\r").as_bytes(),
            );
        }
        input.extend_from_slice(b"end\n");
    }
    let reference = all_lines(&input, 16, input.len());
    assert_eq!(reference.len(), 3);
    assert_eq!(reference[0].text, "endp 0 progress ");
    for chunk in [1, 2, 3, 5, 17, 1000, 4096] {
        assert_eq!(
            all_lines(&input, 16, chunk),
            reference,
            "chunk size {chunk}"
        );
    }
}

#[test]
fn find_byte_matches_a_plain_search() {
    let hay: Vec<u8> = (0..200u32).map(|i| (i * 7 % 251) as u8).collect();
    for needle in [0u8, 7, b'\n', 250, 255] {
        for start in 0..20 {
            let h = &hay[start..];
            assert_eq!(
                find_byte(h, needle),
                h.iter().position(|&b| b == needle),
                "needle {needle} start {start}"
            );
        }
    }
    assert_eq!(find_byte(b"", b'x'), None);
}

#[test]
fn all_plain_matches_the_byte_rule() {
    let mut cases: Vec<Vec<u8>> = vec![
        b"plain ascii text here".to_vec(),
        "żółw ünïcödé".as_bytes().to_vec(),
        b"tab\there".to_vec(),
    ];
    for bad in [0x00u8, 0x07, 0x0d, 0x1b, 0x1f, 0x7f] {
        for pos in 0..17 {
            let mut v = b"abcdefghijklmnopq".to_vec();
            v[pos] = bad;
            cases.push(v);
        }
    }
    for c in cases {
        assert_eq!(all_plain(&c), c.iter().all(|&b| is_plain(b)), "{c:?}");
    }
}

#[test]
fn push_with_lends_the_same_lines_as_push() {
    let input = messy_log();
    let reference = all_lines(&input, 128, 13);
    let mut n = Normalizer::new(128);
    let mut lent = Vec::new();
    for c in input.chunks(13) {
        n.push_with(c, &mut |l| lent.push(l.to_line()));
    }
    n.finish_with(&mut |l| lent.push(l.to_line()));
    assert_eq!(lent, reference);
}
