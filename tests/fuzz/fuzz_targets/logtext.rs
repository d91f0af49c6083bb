//! The normalizer over arbitrary bytes in arbitrary chunks. The first bytes choose the line cap
//! and the chunk sizes; the rest is the log. It must not panic, must give one line per raw
//! line, within the cap, and the same lines however the input was cut.
#![no_main]

use exlogare_logtext::{Line, Normalizer};
use libfuzzer_sys::fuzz_target;

fn run(max: usize, chunks: &[&[u8]]) -> Vec<Line> {
    let mut n = Normalizer::new(max);
    let mut out = Vec::new();
    for c in chunks {
        n.push(c, &mut out);
    }
    n.finish(&mut out);
    assert_eq!(n.lines_seen(), out.len() as u64);
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&[cap, a, b], log)) = data.split_first_chunk::<3>() else { return };
    // Caps from 1 byte (truncation and folding everywhere) to the analysis' 4 KiB.
    let max = match cap % 4 {
        0 => usize::from(cap / 4) + 1,
        1 => 4096,
        2 => usize::from(cap) * 16,
        _ => 80,
    };
    let sizes = [usize::from(a) + 1, usize::from(b) % 7 + 1];
    let whole = run(max, &[log]);
    let lines = log.iter().filter(|&&c| c == b'\n').count() as u64
        + u64::from(!log.is_empty() && !log.ends_with(b"\n"));
    assert_eq!(whole.len() as u64, lines);
    for l in &whole {
        assert!(l.text.len() <= max, "line {} is {} bytes, cap {max}", l.number, l.text.len());
    }
    let mut chunks = Vec::new();
    let mut rest = log;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % 2].min(rest.len());
        chunks.push(&rest[..n]);
        rest = &rest[n..];
        i += 1;
    }
    assert_eq!(run(max, &chunks), whole, "chunk sizes {sizes:?}");
});
