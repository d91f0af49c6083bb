//! The Exlogare service around the sandbox: the webhook endpoint, the durable delivery queue
//! and its workers, the accounts a connection needs (tokens, OAuth, watches, budget, polling,
//! alerts), and metrics.
//!
//! - [`config`]: the service's TOML; [`storage`]: the SQLite queue, reports and receipts.
//! - [`service`]: what a webhook delivery gets and what a worker does with a stored one;
//!   [`pipeline`]: from a failure event to reports and the message to post; [`green_run`]: the
//!   job's last green run to compare with, kept by [`green_store`].
//! - [`server`]: HTTP onto the service ([`parked_http`]: parked deliveries, retried); [`worker`]: the supervised worker threads;
//!   [`metrics`]: what `/metrics` shows.
//! - [`accounts`]: per-connection state; [`recording`]: a real failure recorded as a fixture.
//! - [`web_sessions`]: the Integrations page's sign-in sessions (the page itself: host/web).

pub mod accounts;
pub mod config;
pub mod green_run;
pub mod green_store;
pub mod group_commit;
pub mod in_flight;
pub mod metrics;
pub mod outcome;
pub mod parked_http;
pub mod pipeline;
pub mod plugin_reload;
pub mod plugins_http;
pub mod provider_words;
pub mod reachability;
pub mod recording;
pub mod scrub;
pub mod secret_hex;
pub mod server;
pub mod service;
pub mod storage;
pub mod wakeup;
pub mod web_sessions;
pub mod worker;
