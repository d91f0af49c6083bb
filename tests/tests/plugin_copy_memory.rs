//! Host memory under hostile copies (issue 11, item 8): 16 concurrent calls, each handing the
//! host a request whose 100 header values alias one 1 MiB guest buffer (100 MiB to copy per
//! call, under wasmtime's 128 MiB default). With `host_copy_bytes` (4 MiB) each call stops
//! before the host copies more than that, so the process's peak resident memory grows by far
//! less than the 1.6 GiB the copies would take. Alone in its test binary: the peak is
//! process-wide.
//!
//! Needs the misbehave component: cargo build -p exlogare-test-misbehave --target wasm32-wasip2 --profile plugin

mod support;

use exlogare_runtime::limits::SandboxLimits;
use exlogare_runtime::plugin::PluginFault;
use support::*;

/// The process's peak resident set (`VmHWM`), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status");
    kib * 1024
}

#[test]
fn sixteen_amplifying_calls_stay_far_below_what_their_copies_would_take() {
    // Every call faults on purpose: the breaker must not refuse the later ones.
    let plugin = misbehave(SandboxLimits {
        max_consecutive_traps: 100,
        ..Default::default()
    });
    // A first call outside the measurement: the component's instance and the thread pool's
    // first allocations are not what is measured.
    let warm = plugin.current_user(offline(), &connection("ok", &[]));
    assert!(warm.is_ok());
    let before = peak_rss();
    let faults: Vec<Result<(), PluginFault>> = std::thread::scope(|scope| {
        let calls: Vec<_> = (0..16)
            .map(|_| {
                scope.spawn(|| {
                    plugin
                        .current_user(offline(), &connection("amplify", &[("count", "100")]))
                        .map(|_| ())
                })
            })
            .collect();
        calls.into_iter().map(|c| c.join().unwrap()).collect()
    });
    let grown = peak_rss().saturating_sub(before);
    eprintln!("16 amplifying calls: peak RSS grew by {} MiB", grown >> 20);
    for f in &faults {
        assert!(
            matches!(f, Err(PluginFault::Trap(t)) if t.contains("host_copy_bytes")),
            "{f:?}"
        );
    }
    // 16 calls × (4 MiB of copies + a few MiB of guest memory) at most; the copies alone
    // would be 16 × 100 MiB.
    let bound = 256u64 << 20;
    assert!(
        grown < bound,
        "peak RSS grew by {} MiB for 16 amplifying calls; the bound is {} MiB",
        grown >> 20,
        bound >> 20
    );
}
