//! The Exlogare provider host: loads CI-provider plugins (WASI components implementing
//! `exlogare:ci/ci-provider@0.1`) and runs them in a sandbox.
//!
//! Layout, one reason to change per module:
//! - [`limits`]: the sandbox's numbers; [`egress`]: which requests may leave (pure policy).
//! - [`http`]: the gate that enforces both on every request, and the live / record / replay backends.
//! - [`engine`], [`cache`]: the shared wasmtime engine and the host-signed compile cache.
//! - [`wit`]: contract lines, import surface, bindings; [`store`]: per-call state.
//! - [`plugin`]: loading, instantiating per call, trap handling.
//! - [`notify`]: failure messages rendered for Slack, Telegram, Matrix or the console, and sent.

pub mod accounts;
pub mod cache;
pub mod conformance;
pub mod config;
pub mod egress;
pub mod engine;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod notify;
pub mod pipeline;
pub mod plugin;
pub mod recording;
pub mod replay;
pub mod server;
pub mod service;
pub mod storage;
pub mod store;
pub mod wit;
pub mod worker;
