//! One plugin cannot take the engine's shared instance pool (issue 11, item 9): 70 concurrent
//! looping calls to the misbehave plugin fill only its own call slots, and the GitFlic plugin
//! loaded beside it is served meanwhile with its breaker closed. Alone in its test binary so
//! no other test's instances share the pool.
//!
//! Needs both components: cargo build -p exlogare-gitflic -p exlogare-test-misbehave --target wasm32-wasip2 --profile plugin

use exlogare_conformance_tests::{component, gitflic_component};
use exlogare_runtime::call_state::Clock;
use exlogare_runtime::contract::Connection;
use exlogare_runtime::egress::{EgressPolicy, Origin};
use exlogare_runtime::engine::{EngineOptions, HostEngine};
use exlogare_runtime::http::gate::Credentials;
use exlogare_runtime::limits::SandboxLimits;
use exlogare_runtime::plugin::{BreakerState, CallContext, PluginFault, PluginRuntime, PluginSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn offline() -> CallContext {
    let origin = Origin::parse("https://api.invalid").unwrap();
    CallContext {
        policy: EgressPolicy {
            api: origin.clone(),
            oauth: origin,
            extra: vec![],
            allow_private: false,
        },
        backend: Arc::new(exlogare_runtime::http::replay::Unreachable),
        credentials: Credentials::default(),
        clock: Clock::System,
        sink: None,
        redact: vec![],
    }
}

fn looping() -> Connection {
    Connection {
        web_base: "http://api.test".into(),
        api_base: "http://api.test".into(),
        oauth_base: "http://api.test".into(),
        options: vec![("mode".into(), "loop".into())],
    }
}

#[test]
fn seventy_looping_calls_to_one_plugin_leave_another_served_and_its_breaker_closed() {
    let engine = Arc::new(HostEngine::new(&EngineOptions::default()).unwrap());
    assert_eq!(engine.pool_instances(), Some(64));
    let runtime = PluginRuntime::new(engine, None).unwrap();
    let limits = SandboxLimits {
        call_timeout_ms: 3_000,
        call_slot_wait_ms: 200,
        concurrent_calls: 64,
        ..Default::default()
    };
    let (set, errors) = PluginSet::load(
        &runtime,
        None,
        &[gitflic_component(), component("exlogare-test-misbehave")],
        &limits,
    );
    assert!(errors.is_empty(), "{errors:?}");
    let hostile = set.get("misbehave").unwrap().clone();
    let gitflic = set.get("gitflic").unwrap().clone();
    // Asked for 64 each, they get half the pool each.
    assert_eq!(hostile.call_slots(), (32, 0));
    assert_eq!(gitflic.call_slots(), (32, 0));

    let outcomes = std::thread::scope(|scope| {
        let calls: Vec<_> = (0..70)
            .map(|_| {
                let hostile = hostile.clone();
                scope.spawn(move || hostile.current_user(offline(), &looping()).map(|_| ()))
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(30);
        while hostile.call_slots().1 < 32 {
            assert!(
                Instant::now() < deadline,
                "the looping calls never filled their slots: {:?}",
                hostile.call_slots()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        // Every slot of the hostile plugin spins now; GitFlic is served all the same.
        for i in 0..20 {
            let info = gitflic
                .describe()
                .unwrap_or_else(|f| panic!("GitFlic call {i} while the other plugin loops: {f}"));
            assert_eq!(info.id, "gitflic");
        }
        assert_eq!(
            hostile.call_slots().0,
            32,
            "the hostile plugin never had more than its share"
        );
        calls
            .into_iter()
            .map(|c| c.join().unwrap())
            .collect::<Vec<_>>()
    });
    assert_eq!(gitflic.breaker(), BreakerState::Closed { recent_faults: 0 });
    let busy = outcomes
        .iter()
        .filter(|r| matches!(r, Err(f) if f.is_host_capacity()))
        .count();
    let timeouts = outcomes
        .iter()
        .filter(|r| matches!(r, Err(PluginFault::Timeout(3_000))))
        .count();
    let disabled = outcomes
        .iter()
        .filter(|r| matches!(r, Err(PluginFault::Disabled(_))))
        .count();
    assert_eq!(busy + timeouts + disabled, 70, "{outcomes:?}");
    assert!(
        busy >= 70 - 32,
        "the calls past the plugin's slots were refused as busy: {busy}"
    );
    eprintln!(
        "70 looping calls: {timeouts} ran to their deadline, {busy} found no slot, {disabled} refused by the breaker"
    );
}
