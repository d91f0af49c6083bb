//! Accounts: what the host keeps per connection so a user connects once with OAuth
//! and the host then acts for them — tokens encrypted at rest and refreshed one at a time,
//! single-use OAuth states, the per-connection request budget, and the polling fallback.
//!
//! Everything here is provider-neutral: provider calls (code exchange, refresh, listing
//! pipelines) are passed in as closures or values, so each part is tested without a plugin.
//!
//! - [`crypto`]: the AEAD cipher for tokens and the start-up key loading.
//! - [`tokens`]: the encrypted token store and [`tokens::TokenManager`] (single-flight refresh).
//! - [`oauth_state`]: single-use, expiring OAuth `state` values.
//! - [`budget`]: the sliding-window request budget and the poll interval it allows.
//! - [`stored_connections`]: the stored connections table and the roots a connection may have;
//!   [`connections`]: the running connections built on it, added and removed at run time (CLI,
//!   HTTP API); [`connection_view`]: what the API and the CLI show of each.
//! - [`poller`]: per-project watermarks and enqueueing polled failures (same idempotency key as webhooks).

pub mod alerts;
pub mod budget;
pub mod connection_view;
pub mod connections;
pub mod credentials;
pub mod crypto;
pub mod http;
pub mod oauth_state;
pub mod poller;
pub mod polling;
pub mod stored_connections;
pub mod tokens;
pub mod watch;
