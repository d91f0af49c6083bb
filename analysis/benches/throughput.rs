//! End-to-end throughput of `analyze_reader` (normalization + analysis) over a generated 100 MB
//! build log, next to `grep -c -i error` on the same file.
//!
//! Run: `CARGO_TARGET_DIR=/tmp/t-analysis cargo bench -p exlogare-analysis --bench throughput`
//! (set `EXLOGARE_BENCH_MB` to change the size). Besides criterion's report it prints one
//! summary line with both rates and their ratio, each the best of three timed runs, and one
//! line for the comparison with a green run (issue 12): fingerprinting a passing log of the same
//! job (the same generated steps without the failing test run), then the analysis against it.

use criterion::{Criterion, Throughput, criterion_group};
use exlogare_analysis::{Fingerprint, JobMeta, analyze_reader, analyze_reader_with_baseline};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn size_mb() -> usize {
    std::env::var("EXLOGARE_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
}

/// A Travis-style log: folds, `$ cmd` echoes, compiler and test output with colours, progress
/// bars redrawn with `\r`, warnings and harmless lines that mention "error", and a failing test
/// run at the end. Deterministic (a small LCG), so runs compare.
fn generate(path: &Path, target_bytes: usize, failing: bool) -> std::io::Result<()> {
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let mut rnd = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    let mut written = 0usize;
    let mut step = 0usize;
    while written < target_bytes {
        step += 1;
        let mut chunk = String::with_capacity(64 * 1024);
        chunk.push_str(&format!("travis_fold:start:step.{step}\r\x1b[0Ktravis_time:start:{step:08x}\r\x1b[0K$ make -j2 target{step}\r\n"));
        for i in 0..400 {
            let r = rnd() % 100;
            let line = match r {
                0..=39 => format!(
                    "\x1b[32m  CC\x1b[0m src/module{}/file{}.c -o build/obj/file{}.o -Wall -O2\n",
                    i % 37,
                    rnd() % 1000,
                    i
                ),
                40..=59 => format!(
                    "[{:02}:{:02}:{:02}] Finished 'task-{}' after {} ms\n",
                    rnd() % 24,
                    rnd() % 60,
                    rnd() % 60,
                    i,
                    rnd() % 900
                ),
                60..=69 => format!("test module{}::case_{} ... ok\n", i % 50, rnd() % 10_000),
                70..=74 => format!(
                    "Downloading dependency-{} {}%\r{}%\r100%\n",
                    rnd() % 500,
                    rnd() % 50,
                    50 + rnd() % 50
                ),
                75..=79 => format!(
                    "warning: unused variable `x{}` in src/lib{}.rs:{}:{}\n",
                    i,
                    i % 9,
                    rnd() % 400,
                    rnd() % 80
                ),
                80..=81 => format!(
                    "  handles error_code {} in retry path ... ok\n",
                    rnd() % 600
                ),
                82..=83 => format!(
                    "npm WARN deprecated package-{}@1.{}.0: use something else\n",
                    rnd() % 300,
                    i % 10
                ),
                84..=85 => format!("{}\n", "=".repeat(78)),
                86 => "\n".to_owned(),
                _ => format!(
                    "Running build step {} of {}: compiling dependency graph node {} with {} inputs\n",
                    i,
                    400,
                    rnd() % 10_000,
                    rnd() % 64
                ),
            };
            chunk.push_str(&line);
        }
        chunk.push_str(&format!("travis_time:end:{step:08x}:start=1,finish=2,duration=1\r\x1b[0KThe command \"make -j2 target{step}\" exited with 0.\n"));
        chunk.push_str(&format!("travis_fold:end:step.{step}\r\x1b[0K\n"));
        written += chunk.len();
        w.write_all(chunk.as_bytes())?;
    }
    if !failing {
        w.write_all(b"$ cargo test --all\n   Compiling app v0.1.0\nrunning 12 tests\ntest result: ok. 12 passed; 0 failed; 0 ignored\n\nThe command \"cargo test --all\" exited with 0.\n\nDone. Your build exited with 0.\n")?;
        return w.flush();
    }
    w.write_all(
        b"$ cargo test --all\n   Compiling app v0.1.0\nrunning 12 tests\ntest parse::empty ... FAILED\n\nfailures:\n\n---- parse::empty stdout ----\nthread 'parse::empty' panicked at src/parse.rs:42:9:\nassertion failed: out.is_ok()\n\nfailures:\n    parse::empty\n\ntest result: FAILED. 11 passed; 1 failed; 0 ignored\n\nThe command \"cargo test --all\" exited with 101.\n\nDone. Your build exited with 1.\n",
    )?;
    w.flush()
}

fn log_path(failing: bool) -> PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let green = if failing { "" } else { "-green" };
    dir.join(format!("exlogare-bench-{}mb{green}.log", size_mb()))
}

fn ensure_log() -> PathBuf {
    ensure(true)
}

fn ensure(failing: bool) -> PathBuf {
    let path = log_path(failing);
    let want = size_mb() * 1_000_000;
    if std::fs::metadata(&path)
        .map(|m| (m.len() as usize) < want)
        .unwrap_or(true)
    {
        generate(&path, want, failing).expect("generating the benchmark log");
    }
    path
}

fn analyze(path: &Path) -> u64 {
    let f = std::fs::File::open(path).expect("open log");
    let report = analyze_reader(f, JobMeta::default()).expect("analyze");
    assert!(report.located, "the generated failure must be found");
    report.lines_seen
}

fn grep(path: &Path) -> u64 {
    let out = Command::new("grep")
        .args(["-c", "-i", "error"])
        .arg(path)
        .output()
        .expect("running grep");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

fn best_of_3(f: impl Fn()) -> Duration {
    (0..3)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .expect("three runs")
}

fn bench(c: &mut Criterion) {
    let path = ensure_log();
    let bytes = std::fs::metadata(&path).expect("log exists").len();
    let mut g = c.benchmark_group("100MB-log");
    g.throughput(Throughput::Bytes(bytes));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(15));
    g.bench_function("analyze_reader", |b| b.iter(|| analyze(&path)));
    g.bench_function("grep -c -i error", |b| b.iter(|| grep(&path)));
    g.finish();
}

fn summary() {
    let path = ensure_log();
    let bytes = std::fs::metadata(&path).expect("log exists").len() as f64;
    let ours = best_of_3(|| {
        analyze(&path);
    });
    let theirs = best_of_3(|| {
        grep(&path);
    });
    let mbps = |d: Duration| bytes / 1e6 / d.as_secs_f64();
    println!(
        "summary: {:.0} MB log: analyze_reader {:.0} MB/s ({:.2} s), grep -c -i error {:.0} MB/s ({:.2} s), analyze/grep time ratio {:.2}",
        bytes / 1e6,
        mbps(ours),
        ours.as_secs_f64(),
        mbps(theirs),
        theirs.as_secs_f64(),
        ours.as_secs_f64() / theirs.as_secs_f64()
    );
    let green = ensure(false);
    let fingerprint =
        || Fingerprint::from_reader(std::fs::File::open(&green).expect("open green log")).unwrap();
    let fp = fingerprint();
    let fp_time = best_of_3(|| {
        fingerprint();
    });
    let with = best_of_3(|| {
        let f = std::fs::File::open(&path).expect("open log");
        let r = analyze_reader_with_baseline(f, JobMeta::default(), fp.clone()).expect("analyze");
        assert!(r.located, "the generated failure must be found");
    });
    println!(
        "summary: with a green run: fingerprint {:.0} MB/s ({:.2} s, {} hashes), analyze_reader_with_baseline {:.0} MB/s ({:.2} s)",
        mbps(fp_time),
        fp_time.as_secs_f64(),
        fp.len(),
        mbps(with),
        with.as_secs_f64()
    );
}

criterion_group!(benches, bench);

fn main() {
    benches();
    summary();
    Criterion::default().configure_from_args().final_summary();
}
