//! The analysis over arbitrary log bytes: it must not panic, and every line number it reports
//! must lie in the log (1..=lines, the decisive line inside the excerpt).
#![no_main]

use exlogare_analysis::{JobMeta, analyze_reader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let r = analyze_reader(data, JobMeta::default()).expect("reading a slice cannot fail");
    let lines = data.iter().filter(|&&b| b == b'\n').count() as u64
        + u64::from(!data.is_empty() && !data.ends_with(b"\n"));
    assert_eq!(r.lines_seen, lines);
    for x in &r.excerpt {
        assert!(1 <= x.start_line && x.start_line <= x.end_line && x.end_line <= lines, "{x:?} of {lines}");
    }
    for (n, _) in &r.excerpt_lines {
        assert!((1..=lines).contains(n), "excerpt line {n} of {lines}");
    }
    if let Some(d) = r.decisive_line {
        assert!(r.excerpt.iter().any(|x| (x.start_line..=x.end_line).contains(&d)), "decisive {d} outside {:?}", r.excerpt);
    }
});
