//! What `GET /api/connections` and `exlogare-host connections` show of a connection: its
//! status, budget use and watched projects, from the running host or, with no host running,
//! from storage alone.

use super::crypto::TokenCipher;
use super::tokens::{ConnectionStatus, RefreshPolicy, TokenManager};
use crate::config::Config;
use crate::service::Service;
use crate::storage::now_ms;

/// One line of `GET /api/connections` / `exlogare-host connections`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct ConnectionView {
    pub id: String,
    pub provider: String,
    /// `config` (the config file) or `stored` (added through the CLI or the API).
    #[serde(default)]
    pub origin: String,
    #[serde(default)]
    pub web_base: String,
    pub api_base: String,
    #[serde(default)]
    pub oauth_base: String,
    /// `oauth` or `static-token`.
    pub auth: String,
    /// `connected`, `needs_reconnection`, `not_connected` (OAuth never completed) or `unusable`
    /// (stored, but it cannot be loaded now; `last_error` says why).
    pub status: String,
    pub last_error: Option<String>,
    pub calls_used_this_hour: Option<u32>,
    pub calls_per_hour: u32,
    /// Watched projects (owner/name).
    #[serde(default)]
    pub watched: Vec<String>,
}

impl ConnectionView {
    pub fn line(&self) -> String {
        let calls = self
            .calls_used_this_hour
            .map_or_else(|| "?".to_string(), |n| n.to_string());
        format!(
            "{} ({} {}, {}): {}; calls this hour {}/{}; watching [{}]{}",
            self.id,
            self.provider,
            self.api_base,
            self.auth,
            self.status,
            calls,
            self.calls_per_hour,
            self.watched.join(", "),
            self.last_error
                .as_deref()
                .map(|e| format!("; last error: {e}"))
                .unwrap_or_default()
        )
    }
}

/// The status of each connection (config file and stored) read from storage only, for when no
/// host is running. Token rows hold no readable secret in their status
/// columns, so no key is needed.
pub fn offline_views(config: &Config, store: &crate::storage::Store) -> Vec<ConnectionView> {
    let reader = TokenManager::new(TokenCipher::from_key([0; 32]), RefreshPolicy::default());
    let stored = super::stored_connections::stored_settings(store);
    config
        .connections
        .iter()
        .map(|c| (c, "config"))
        .chain(stored.iter().map(|c| (c, "stored")))
        .map(|(c, origin)| {
            let st = if c.oauth.is_some() {
                reader.status(store, &c.id).ok().flatten()
            } else {
                None
            };
            // The budget is kept in the same database, so the count is known without the host.
            let used = Some(
                super::budget::RequestBudget::durable(
                    store,
                    &c.id,
                    c.calls_per_hour
                        .unwrap_or(super::budget::DEFAULT_CALLS_PER_HOUR),
                )
                .used(now_ms()),
            );
            let mut v = view(c, st.map(|s| (s.status, s.last_error)), None, used);
            v.origin = origin.into();
            v.watched = watched_in(store, &c.id);
            v
        })
        .collect()
}

fn watched_in(store: &crate::storage::Store, connection: &str) -> Vec<String> {
    store
        .db()
        .and_then(|db| {
            db.query_map(
                "SELECT project FROM watched_projects WHERE connection = ?1 ORDER BY project",
                [connection],
                |r| r.get::<String>(0),
            )
        })
        .unwrap_or_default()
}

fn view(
    c: &crate::config::ConnectionConfig,
    token: Option<(ConnectionStatus, Option<String>)>,
    flagged: Option<String>,
    used: Option<u32>,
) -> ConnectionView {
    let (status, last_error) = match (c.oauth.is_some(), token, flagged) {
        (true, Some((ConnectionStatus::NeedsReconnection, e)), _) => ("needs_reconnection", e),
        (true, Some((ConnectionStatus::Connected, e)), _) => ("connected", e),
        (true, None, _) => (
            "not_connected",
            Some(
                "go through OAuth: /api/integrations/{provider}/oauth/start/{connection}"
                    .replace("{provider}", &c.provider)
                    .replace("{connection}", &c.id),
            ),
        ),
        (false, _, Some(m)) => (
            "needs_reconnection",
            Some(format!("credentials rejected: {m}")),
        ),
        (false, _, None) => ("connected", None),
    };
    ConnectionView {
        id: c.id.clone(),
        provider: c.provider.clone(),
        origin: String::new(),
        web_base: c.web_base.clone(),
        api_base: c.api_base.clone(),
        oauth_base: c.oauth_base.clone(),
        auth: if c.oauth.is_some() {
            "oauth"
        } else {
            "static-token"
        }
        .into(),
        status: status.into(),
        last_error,
        calls_used_this_hour: used,
        calls_per_hour: c
            .calls_per_hour
            .unwrap_or(super::budget::DEFAULT_CALLS_PER_HOUR),
        watched: vec![],
    }
}

impl Service {
    /// Every connection's status as this running host sees it.
    pub fn connection_views(&self) -> Vec<ConnectionView> {
        self.connection_ids()
            .iter()
            .filter_map(|id| self.connection_view(id))
            .collect()
    }

    /// One connection's status; `None` when there is no such connection. A stored one that
    /// cannot be used now is shown as `unusable` with why.
    pub fn connection_view(&self, id: &str) -> Option<ConnectionView> {
        let Some(c) = self.connection(id) else {
            let why = self.unusable_reason(id)?;
            let settings = super::stored_connections::stored_settings(&self.store)
                .into_iter()
                .find(|c| c.id == id)?;
            let mut v = view(&settings, None, None, None);
            (v.origin, v.status, v.last_error) = ("stored".into(), "unusable".into(), Some(why));
            v.watched = watched_in(&self.store, id);
            return Some(v);
        };
        let flagged = c
            .needs_reconnection
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let used = c
            .budget
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .used(now_ms());
        let mut v = view(
            &c.config,
            self.token_status(&c.config.id),
            flagged,
            Some(used),
        );
        v.origin = if c.stored_version.is_some() {
            "stored"
        } else {
            "config"
        }
        .into();
        v.watched = watched_in(&self.store, &c.config.id);
        Some(v)
    }
}
