//! The one wasmtime `Engine` all plugins share, and the epoch ticker that bounds guest CPU.
//!
//! Epochs, not fuel: fuel costs 7-34 % per call (../shared/reference/wasmtime-notes.md) while an epoch
//! check is a load and a compare. The ticker advances the epoch every [`EPOCH_TICK`]; a call's
//! deadline is expressed in ticks, so a runaway loop traps within two ticks of its budget.
//!
//! Fuel is opt-in ([`EngineOptions::consume_fuel`]) for test engines only: the CI instruction
//! budget (tests/tests/fuel.rs) counts what each call of the golden fixtures burns. Production
//! engines leave it off, and a call on them pays nothing for it.

use crate::limits::MAX_MEMORY_BYTES;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// What one plugin instance may hold of the pooling allocator's slots (see `config`).
pub const CORE_INSTANCES_PER_COMPONENT: u32 = 8;
pub const MEMORIES_PER_COMPONENT: u32 = 2;
pub const TABLES_PER_COMPONENT: u32 = 4;

#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Pre-reserve instance slots: instantiation drops from ~20 µs to ~8 µs.
    pub pooling: bool,
    /// Concurrent plugin instances the pool holds (one per in-flight call).
    pub pool_instances: u32,
    /// Meter guest instructions with wasmtime fuel (`Config::consume_fuel`). For test engines
    /// only: it costs 7-34 % per call. Each call then gets [`EngineOptions::fuel_per_call`] and
    /// reports what it consumed in `CallOutput::fuel_consumed`.
    pub consume_fuel: bool,
    /// The fuel a call starts with on a fuel engine; running out is a fault naming this cap.
    /// The default is effectively unbounded (the epoch deadline still applies).
    pub fuel_per_call: u64,
}

/// Fuel per call unless a test sets a cap: no call comes near it, so only the epoch
/// deadline stops a guest.
pub const UNBOUNDED_FUEL: u64 = u64::MAX / 2;

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            pooling: true,
            pool_instances: 64,
            consume_fuel: false,
            fuel_per_call: UNBOUNDED_FUEL,
        }
    }
}

/// Which allocator the engine ended up with (pooling can be refused by the OS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allocator {
    Pooling,
    OnDemand,
}

pub struct HostEngine {
    pub engine: Engine,
    pub allocator: Allocator,
    /// Component instances the pool holds (`None` on the on-demand allocator, which has no
    /// fixed number): what a plugin set shares out as call slots.
    pool_instances: Option<u32>,
    /// `Some(fuel each call starts with)` on a fuel engine.
    fuel_per_call: Option<u64>,
    stop: Arc<AtomicBool>,
}

impl HostEngine {
    pub fn new(options: &EngineOptions) -> anyhow::Result<Self> {
        if options.consume_fuel && options.fuel_per_call == 0 {
            anyhow::bail!(
                "fuel_per_call must be above 0 on a fuel engine: every call would trap at once"
            );
        }
        let fuel = options.consume_fuel;
        let (engine, allocator) = if options.pooling {
            match Engine::new(&config(Some(options.pool_instances), fuel)) {
                Ok(engine) => (engine, Allocator::Pooling),
                Err(e) => {
                    tracing::warn!(
                        "pooling allocator unavailable ({e:#}); using on-demand allocation"
                    );
                    (
                        Engine::new(&config(None, fuel)).map_err(anyhow::Error::from)?,
                        Allocator::OnDemand,
                    )
                }
            }
        } else {
            (
                Engine::new(&config(None, fuel)).map_err(anyhow::Error::from)?,
                Allocator::OnDemand,
            )
        };
        let fuel_per_call = fuel.then_some(options.fuel_per_call);
        let pool_instances = (allocator == Allocator::Pooling).then_some(options.pool_instances);
        let stop = Arc::new(AtomicBool::new(false));
        let ticker_engine = engine.clone();
        let ticker_stop = stop.clone();
        std::thread::Builder::new()
            .name("wasm-epoch".into())
            .spawn(move || {
                while !ticker_stop.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    ticker_engine.increment_epoch();
                }
            })?;
        Ok(Self {
            engine,
            allocator,
            pool_instances,
            fuel_per_call,
            stop,
        })
    }

    /// The fuel each call starts with, when this engine meters fuel.
    pub fn fuel_per_call(&self) -> Option<u64> {
        self.fuel_per_call
    }

    /// How many plugin instances can exist at once on this engine, when it pools them.
    pub fn pool_instances(&self) -> Option<u32> {
        self.pool_instances
    }

    /// Ticks for a wall-clock budget, rounded up so a budget is never cut short.
    pub fn ticks_for(budget: Duration) -> u64 {
        let tick = EPOCH_TICK.as_nanos();
        (budget.as_nanos().div_ceil(tick) as u64).max(1)
    }
}

impl Drop for HostEngine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Bytes of each pooled linear memory kept mapped between instances (see `config`): a Rust
/// guest's stack, data and first heap pages for a webhook or an API call fit.
pub const KEEP_RESIDENT: usize = 2 << 20;

/// The same for each pooled table.
const TABLE_KEEP_RESIDENT: usize = 64 << 10;

fn config(pool_instances: Option<u32>, consume_fuel: bool) -> Config {
    let mut c = Config::new();
    c.wasm_component_model(true);
    c.epoch_interruption(true);
    // Changes the generated code, so it is part of the engine's compatibility hash and a
    // fuel engine never loads a cached artifact compiled without fuel (or the reverse).
    c.consume_fuel(consume_fuel);
    // Threads, GC and component-model async are attack surface our guests do not need: the
    // workspace builds wasmtime without those Cargo features, so they cannot be switched on.
    if let Some(n) = pool_instances {
        let mut pool = PoolingAllocationConfig::default();
        // A Rust guest with its WASI adapter is a handful of core instances, memories and tables.
        // Capping each component at its share of the totals means n component instances can
        // never run out of memories, tables or core instances: the only way to fill the pool is
        // to hold n instances, and a plugin set hands those out as per-plugin call slots
        // (plugin.rs), so one plugin cannot starve the others. A component over these caps
        // fails to instantiate (a fault of that plugin, refused at load).
        pool.total_component_instances(n)
            .total_core_instances(n * CORE_INSTANCES_PER_COMPONENT)
            .total_memories(n * MEMORIES_PER_COMPONENT)
            .total_tables(n * TABLES_PER_COMPONENT)
            .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
            .max_memories_per_component(MEMORIES_PER_COMPONENT)
            .max_tables_per_component(TABLES_PER_COMPONENT)
            .max_memory_size(MAX_MEMORY_BYTES as usize)
            // A fresh instance per call used to find its slot's memory handed back to the
            // kernel (madvise) and fault every page in again: most of a small call's cost.
            // The first KEEP_RESIDENT bytes of each memory now stay mapped, and with
            // PAGEMAP_SCAN (Linux 6.7+; `Auto` falls back to memset elsewhere) only the pages the
            // last call dirtied are reset. Each call still starts from zeroed memory. The price:
            // up to KEEP_RESIDENT per pooled memory stays resident once used.
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(TABLE_KEEP_RESIDENT)
            .pagemap_scan(wasmtime::Enabled::Auto);
        c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_round_up() {
        assert_eq!(HostEngine::ticks_for(Duration::from_millis(1)), 1);
        assert_eq!(HostEngine::ticks_for(Duration::from_millis(10)), 1);
        assert_eq!(HostEngine::ticks_for(Duration::from_millis(11)), 2);
        assert_eq!(HostEngine::ticks_for(Duration::from_secs(30)), 3000);
    }

    #[test]
    fn fuel_is_off_unless_asked_for() {
        let plain = HostEngine::new(&EngineOptions {
            pooling: false,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(plain.fuel_per_call(), None);
        let metered = HostEngine::new(&EngineOptions {
            pooling: false,
            consume_fuel: true,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(metered.fuel_per_call(), Some(UNBOUNDED_FUEL));
        let zero = HostEngine::new(&EngineOptions {
            pooling: false,
            consume_fuel: true,
            fuel_per_call: 0,
            ..Default::default()
        });
        assert!(zero.is_err(), "a zero fuel cap is refused");
    }
}
