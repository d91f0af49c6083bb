//! The sandbox that runs CI-provider plugins: WASI components implementing
//! `exlogare:ci/ci-provider@0.1`, each call in a fresh instance under the limits of
//! [`limits::SandboxLimits`], every request the plugin makes passing the egress policy and the
//! gate. Embeddable: no HTTP server and no database (the service and the conformance kit bring
//! theirs).
//!
//! One reason to change per module:
//! - [`limits`]: the sandbox's numbers; [`egress`]: which requests may leave (pure policy);
//!   [`connection`]: a connection's roots and options as the contract and the policy see them.
//! - [`http`]: the gate that enforces both on every request, and the live / record / replay backends.
//! - [`engine`], [`cache`]: the shared wasmtime engine and the host-signed compile cache.
//! - [`contract`]: the provider contract in host types, what every caller above speaks;
//!   [`wit`]: contract lines, import surface, the generated bindings and their adapters (the
//!   only module that names them); [`call_state`]: what one call owns; [`log_sink`]: where an
//!   extracted log goes, in host types.
//! - [`plugin`]: loading, instantiating per call, trap handling, the circuit breaker;
//!   [`live_plugins`]: the served set, replaced while the host runs (reload);
//!   [`secret_text`]: secrets out of what a plugin logs or prints; [`secret_stand_in`]: what
//!   `verify-webhook` compares instead of the webhook secret (the service and the conformance
//!   kit both hand plugins the stand-in).

pub mod cache;
pub mod call_state;
pub mod connection;
pub mod contract;
pub mod egress;
pub mod engine;
pub mod http;
pub mod limits;
pub mod live_plugins;
pub mod log_sink;
pub mod plugin;
pub mod secret_stand_in;
pub mod secret_text;
pub mod wit;
