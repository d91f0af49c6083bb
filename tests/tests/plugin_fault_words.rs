//! Faults that explain themselves, host capacity that is never a plugin's fault, the per-call
//! copy limit, and plugin ids that no component can take from another (issue 11).
//!
//! Each fault the misbehave plugin provokes must say what stopped it in words a person reads:
//! the limit and its setting, or the guest's own panic message; the disabled text says when
//! the plugin comes back. A call refused for lack of a slot is `busy`, and no number of them
//! opens the breaker.
//!
//! Needs the misbehave component: cargo build -p exlogare-test-misbehave --target wasm32-wasip2 --profile plugin

mod support;

use exlogare_conformance_tests::{component, gitflic_component};
use exlogare_runtime::limits::SandboxLimits;
use exlogare_runtime::plugin::{BreakerState, PluginFault, PluginSet};
use std::time::Duration;
use support::*;

fn fault_of(plugin: &exlogare_runtime::plugin::LoadedPlugin, mode: &str) -> PluginFault {
    fault_with(plugin, mode, &[])
}

fn fault_with(
    plugin: &exlogare_runtime::plugin::LoadedPlugin,
    mode: &str,
    extra: &[(&str, &str)],
) -> PluginFault {
    match plugin.current_user(offline(), &connection(mode, extra)) {
        Err(fault) => fault,
        Ok(out) => panic!("mode {mode}: expected a fault, got {:?}", out.value),
    }
}

#[test]
fn a_panic_says_its_message() {
    let fault = fault_of(&misbehave(SandboxLimits::default()), "trap");
    let text = fault.to_string();
    assert!(
        matches!(fault, PluginFault::Trap(_))
            && text.contains("panicked: misbehave: asked to trap"),
        "{text}"
    );
    assert!(
        !text.contains("wasm backtrace"),
        "no wasmtime debug text: {text}"
    );
}

#[test]
fn stack_exhaustion_is_named() {
    let fault = fault_of(&misbehave(SandboxLimits::default()), "recurse");
    let text = fault.to_string();
    assert!(text.contains("ran out of stack"), "{text}");
}

#[test]
fn out_of_memory_and_the_deadline_name_their_limits() {
    let memory = fault_of(
        &misbehave(SandboxLimits {
            memory_bytes: 32 << 20,
            ..Default::default()
        }),
        "alloc",
    );
    assert_eq!(memory, PluginFault::MemoryLimit(32 << 20));
    let text = memory.to_string();
    assert!(
        text.contains("ran out of memory")
            && text.contains("33554432")
            && text.contains("memory_bytes"),
        "{text}"
    );

    let timeout = fault_of(
        &misbehave(SandboxLimits {
            call_timeout_ms: 250,
            ..Default::default()
        }),
        "loop",
    );
    // The limit, not the time the call happened to run.
    assert_eq!(timeout, PluginFault::Timeout(250));
    let text = timeout.to_string();
    assert!(
        text.contains("250 ms deadline") && text.contains("call_timeout_ms"),
        "{text}"
    );
}

#[test]
fn the_disabled_text_says_the_plugin_comes_back_by_itself() {
    let plugin = misbehave(SandboxLimits {
        max_consecutive_traps: 2,
        trap_window_secs: 120,
        ..Default::default()
    });
    fault_of(&plugin, "trap");
    fault_of(&plugin, "trap");
    let BreakerState::Open {
        reenables_in_secs, ..
    } = plugin.breaker()
    else {
        panic!(
            "two traps in a row open the breaker: {:?}",
            plugin.breaker()
        )
    };
    assert!(
        (1..=120).contains(&reenables_in_secs),
        "{reenables_in_secs}"
    );
    let disabled = fault_of(&plugin, "ok");
    let text = disabled.to_string();
    assert!(
        matches!(disabled, PluginFault::Disabled(_))
            && text.contains("re-enables itself")
            && text.contains(" s ")
            && text.contains("trap_window_secs")
            && !text.contains("reload"),
        "{text}"
    );
    plugin.reset_breaker();
    assert_eq!(plugin.breaker(), BreakerState::Closed { recent_faults: 0 });
    assert!(
        plugin
            .current_user(offline(), &connection("ok", &[]))
            .is_ok()
    );
}

#[test]
fn calls_refused_for_lack_of_a_slot_are_busy_and_never_open_the_breaker() {
    let plugin = misbehave(SandboxLimits {
        concurrent_calls: 1,
        call_slot_wait_ms: 0,
        max_consecutive_traps: 2,
        ..Default::default()
    });
    assert_eq!(plugin.call_slots(), (1, 0));
    std::thread::scope(|scope| {
        let holder = scope.spawn(|| {
            plugin
                .current_user(offline(), &connection("sleep", &[("ms", "1500")]))
                .map(|o| o.value.is_ok())
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while plugin.call_slots().1 == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the slot was never taken"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        for _ in 0..10 {
            let fault = fault_of(&plugin, "ok");
            assert!(fault.is_host_capacity(), "{fault:?}");
            assert_eq!(fault.kind(), "busy");
            let text = fault.to_string();
            assert!(
                text.contains("concurrent_calls") && text.contains("not run"),
                "{text}"
            );
        }
        assert_eq!(
            plugin.breaker(),
            BreakerState::Closed { recent_faults: 0 },
            "ten refusals for host capacity count nothing against the plugin"
        );
        assert_eq!(holder.join().unwrap(), Ok(true));
    });
    assert_eq!(plugin.call_slots(), (1, 0), "the slot is given back");
}

#[test]
fn a_request_whose_strings_alias_one_buffer_is_stopped_at_the_copy_limit() {
    // 100 header values point into one 1 MiB guest buffer: 100 MiB for the host to copy,
    // under wasmtime's 128 MiB default but far over the 4 MiB `host_copy_bytes`.
    let plugin = misbehave(SandboxLimits::default());
    let fault = fault_with(&plugin, "amplify", &[("count", "100")]);
    let text = fault.to_string();
    assert!(
        matches!(fault, PluginFault::Trap(_))
            && text.contains("host_copy_bytes")
            && text.contains(&(4u64 << 20).to_string()),
        "{text}"
    );
}

#[test]
fn two_components_claiming_one_id_are_both_refused_and_one_file_named_twice_loads_once() {
    let dir = tempfile::tempdir().unwrap();
    let original = component("exlogare-test-misbehave");
    let a = dir.path().join("a.wasm");
    let b = dir.path().join("b.wasm");
    std::fs::copy(&original, &a).unwrap();
    std::fs::copy(&original, &b).unwrap();
    let limits = SandboxLimits::default();
    // `a` sorts first: with first-come it would have won.
    let (set, errors) =
        PluginSet::load(runtime(), Some(dir.path()), &[gitflic_component()], &limits);
    assert!(set.get("gitflic").is_some(), "the other plugin still loads");
    assert!(set.get("misbehave").is_none(), "neither claimant is loaded");
    assert_eq!(errors.len(), 2, "{errors:?}");
    for e in &errors {
        let text = e.to_string();
        assert!(
            text.contains("a.wasm") && text.contains("b.wasm") && text.contains("`misbehave`"),
            "each refusal names both files: {text}"
        );
    }

    let (set, errors) = PluginSet::load(runtime(), None, &[original.clone(), original], &limits);
    assert!(errors.is_empty(), "{errors:?}");
    assert!(set.get("misbehave").is_some());
}

/// Counts what reaches the sink.
struct CountingSink(u64);

impl exlogare_runtime::log_sink::LogSink for CountingSink {
    fn emit(&mut self, chunk: exlogare_runtime::log_sink::LogChunk) -> Result<(), String> {
        self.0 += chunk.text_bytes();
        Ok(())
    }
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any> {
        self
    }
}

#[test]
fn a_plugin_making_up_log_text_is_stopped_at_the_per_job_cap() {
    // The plugin reads nothing and emits chunks of four 64 KiB lines until the sink refuses.
    // Each chunk counts 256 KiB and 4 line breaks: four fit under this cap, the fifth not.
    let limits = SandboxLimits {
        log_text_bytes: (1 << 20) + 16,
        ..SandboxLimits::default()
    };
    let plugin = misbehave(limits);
    let mut ctx = offline();
    ctx.sink = Some(Box::new(CountingSink(0)));
    let job = exlogare_runtime::contract::Job {
        id: "1".into(),
        name: "unit".into(),
        stage: None,
        status: exlogare_runtime::contract::RunStatus::Failed,
        allow_failure: false,
        started_at: None,
        finished_at: None,
        web_url: None,
    };
    let project = exlogare_runtime::contract::ProjectRef {
        owner: "acme".into(),
        name: "app".into(),
        id: None,
    };
    let out = plugin
        .extract_job_log(ctx, &connection("emit-flood", &[]), &project, &job)
        .expect("a refusal the plugin sees, not a fault");
    assert!(out.log_text_cut, "the call says the log was cut");
    let taken = out
        .sink
        .and_then(|s| s.into_any().downcast::<CountingSink>().ok())
        .map(|s| s.0)
        .unwrap();
    assert_eq!(
        taken,
        (1 << 20) + 16,
        "four chunks (256 KiB of text and 4 line breaks each), then nothing"
    );
    let said = format!("{:?}", out.value.unwrap_err());
    assert!(
        said.contains("after 4 chunks") && said.contains("log_text_bytes"),
        "the plugin was told why: {said}"
    );
}
