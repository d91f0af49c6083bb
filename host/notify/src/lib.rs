//! Notifications: a failure report, or a connection alert, rendered for a chat platform and
//! delivered once.
//!
//! - [`message`]: [`FailureMessage`], the platform-neutral message the worker stores (JSON)
//!   and rebuilds on retries (the service builds it from a pipeline's analysis).
//! - [`alert`]: [`ConnectionAlert`], "connection X needs reconnection": since when, why (bounded,
//!   credentials masked) and the reconnect link (`accounts/alerts.rs` decides when to send it).
//! - [`slack`], [`telegram`], [`matrix`], [`console`]: one [`Notifier`] each. Rendering is a pure
//!   function per platform (tested without a network); `send` adds only the HTTP call.
//! - [`config`]: [`NotifierConfig`] (the service's TOML), secrets from the environment or files,
//!   and [`RouteConfig`] (which notifiers get which connection's and project's failures, and in
//!   which [`Language`]; [`route_connection`]: which get a connection's alerts).
//! - [`words`]: every word our messages add, in English and Russian ([`Language`]); what the
//!   message carries (excerpt, summary, names, the provider's words) is never translated.
//!
//! Errors say whether a retry can help ([`NotifyError::is_transient`], with the platform's
//! `Retry-After` when it gave one) and never contain a token or a secret URL.
//!
//! Idempotency: Matrix dedupes by transaction id, which is derived from the idempotency key, so
//! a retried send cannot post twice. Slack incoming webhooks and Telegram `sendMessage` have no
//! such key: the caller must record a successful [`Delivered`] before anything else can fail,
//! and not call `send` again for that key.
//!
//! All HTTP is reqwest blocking (no redirects, 10 s timeout by default): call `send` from a
//! worker thread, not from inside an async task, and build notifiers outside an async context.

pub mod alert;
pub mod config;
pub mod console;
mod http;
pub mod matrix;
pub mod message;
pub mod slack;
pub mod telegram;
mod text;
pub mod words;

pub use alert::{AlertProblem, ConnectionAlert};
pub use config::{
    ChatId, ConfigError, NotifierConfig, NotifierKind, RouteConfig, Routed, build_all,
    check_routes, route, route_connection,
};
pub use message::{Comparison, FailureMessage, JobMessage};
pub use words::Language;

/// HTML text escaping, for the host's own pages (the OAuth callback's answer to a browser).
pub fn text_html(s: &str) -> String {
    text::html(s)
}

use std::time::Duration;

/// A platform that can post a [`FailureMessage`].
pub trait Notifier: Send + Sync {
    /// The configured name (`team-slack`), for logs and metrics labels.
    fn name(&self) -> &str;
    /// The platform: `slack`, `telegram`, `matrix` or `console`.
    fn kind(&self) -> &'static str;
    /// Posts the message with our words (headings, labels, notes) in `language`; the report's
    /// own text is posted as it is. `idempotency_key` identifies this message to this notifier:
    /// the same key on a retry means "the same message" (Matrix uses it as the transaction id).
    /// Required, so a notifier (a wrapper included) always passes the route's language on.
    fn send_in(
        &self,
        msg: &FailureMessage,
        language: Language,
        idempotency_key: &str,
    ) -> Result<Delivered, NotifyError>;
    /// Posts a connection alert in `language`, with the same escaping, limits and error classes
    /// as `send_in`. `idempotency_key` identifies the alert to this notifier, as for `send_in`.
    fn send_alert_in(
        &self,
        alert: &ConnectionAlert,
        language: Language,
        idempotency_key: &str,
    ) -> Result<Delivered, NotifyError>;
    /// [`send_in`](Self::send_in) in English, the language of a route that names none.
    fn send(&self, msg: &FailureMessage, idempotency_key: &str) -> Result<Delivered, NotifyError> {
        self.send_in(msg, Language::En, idempotency_key)
    }
    /// [`send_alert_in`](Self::send_alert_in) in English.
    fn send_alert(
        &self,
        alert: &ConnectionAlert,
        idempotency_key: &str,
    ) -> Result<Delivered, NotifyError> {
        self.send_alert_in(alert, Language::En, idempotency_key)
    }
}

/// A message the platform accepted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Delivered {
    pub notifier: String,
    pub kind: String,
    /// The platform's id of the posted message, when it returns one (Telegram `message_id`,
    /// Matrix `event_id`; Slack webhooks return none).
    pub message_id: Option<String>,
}

/// Why a send failed, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    /// 5xx, a network failure or a timeout: retry with backoff.
    #[error("{notifier} ({kind}): {message} (transient, retry)")]
    Transient {
        notifier: String,
        kind: &'static str,
        status: Option<u16>,
        message: String,
    },
    /// 429: retry after `retry_after` when the platform said, else with backoff.
    #[error("{notifier} ({kind}): rate limited{}: {message}", retry_after.map(|d| format!(", retry after {} s", d.as_secs_f64().ceil() as u64)).unwrap_or_default())]
    RateLimited {
        notifier: String,
        kind: &'static str,
        retry_after: Option<Duration>,
        message: String,
    },
    /// A 4xx other than 429, a redirect, an answer we cannot read, or a configuration the
    /// platform refuses (wrong token, unknown room): retrying the same request cannot help.
    #[error("{notifier} ({kind}): {message} (permanent, not retried)")]
    Permanent {
        notifier: String,
        kind: &'static str,
        status: Option<u16>,
        message: String,
    },
}

impl NotifyError {
    pub fn is_transient(&self) -> bool {
        !matches!(self, NotifyError::Permanent { .. })
    }

    /// The wait the platform asked for (429 `Retry-After` or its body's equivalent).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            NotifyError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The HTTP status, when the platform answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            NotifyError::Transient { status, .. } | NotifyError::Permanent { status, .. } => {
                *status
            }
            NotifyError::RateLimited { .. } => Some(429),
        }
    }

    /// A metrics label: `transient`, `rate_limited` or `permanent`.
    pub fn outcome(&self) -> &'static str {
        match self {
            NotifyError::Transient { .. } => "transient",
            NotifyError::RateLimited { .. } => "rate_limited",
            NotifyError::Permanent { .. } => "permanent",
        }
    }

    /// The configured name of the notifier that failed.
    pub fn notifier(&self) -> &str {
        match self {
            NotifyError::Transient { notifier, .. }
            | NotifyError::RateLimited { notifier, .. }
            | NotifyError::Permanent { notifier, .. } => notifier,
        }
    }
}

/// Default per-request timeout (connect and whole exchange).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
