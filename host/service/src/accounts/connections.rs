//! Connections added at run time: `exlogare-host connections add` and
//! `POST /api/connections`, beside the config file's `[[connections]]`.
//!
//! A stored connection is a [`ConnectionConfig`] kept as JSON in the `connections` table with
//! its secrets (OAuth client secret, or a static access token) sealed by the token cipher, so
//! adding one needs the token key (`EXLOGARE_TOKEN_KEY` / `_FILE`). The REST and OAuth roots
//! are asked from the provider plugin (the optional `endpoints` interface, exlogare:ci 0.1.1):
//! GitFlic's cloud-vs-self-hosted rule lives in the GitFlic plugin, not here. Either root can
//! be overridden.
//!
//! A serving host notices additions and removals made by another process (the CLI) on the same
//! database: [`Service::connection`] checks the row's `updated_at` on every lookup of a stored
//! connection (one indexed read) and rebuilds or drops its runtime accordingly.

use super::stored_connections::{
    ConnectionRefusal, NewConnection, StoredRow, StoredSecrets, refuse, resolve_roots, stored_ids,
    stored_row, stored_version,
};
use crate::config::{ConnectionConfig, OAuthConfig, check_connection_id};
use crate::service::{ConnectionRuntime, Service};
use crate::storage::now_ms;
use exlogare_runtime::http::Secret;
use exlogare_runtime::http::gate::Credentials;
use exlogare_storage::params;
use std::sync::Arc;

impl Service {
    /// The connection called `id`, from the config file or the database.
    pub fn connection(&self, id: &str) -> Option<Arc<ConnectionRuntime>> {
        let cached = self
            .connections
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned();
        if cached.as_ref().is_some_and(|c| c.stored_version.is_none()) {
            return cached;
        }
        let version = match stored_version(&self.store, id) {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(connection = id, "reading the stored connection: {e}");
                return cached;
            }
        };
        match (cached, version) {
            (Some(c), Some(v)) if c.stored_version == Some(v) => Some(c),
            (_, None) => {
                self.connections
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(id);
                self.unusable
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(id);
                None
            }
            (_, Some(_)) => self.load_and_cache(id),
        }
    }

    fn load_and_cache(&self, id: &str) -> Option<Arc<ConnectionRuntime>> {
        match self.load_stored(id) {
            Ok(Some(c)) => {
                let c = Arc::new(c);
                self.connections
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(id.to_string(), c.clone());
                self.unusable
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(id);
                Some(c)
            }
            Ok(None) => None,
            Err(e) => {
                let why = format!("{e:#}");
                let mut unusable = self.unusable.write().unwrap_or_else(|p| p.into_inner());
                if unusable.get(id) != Some(&why) {
                    tracing::error!(
                        connection = id,
                        "the stored connection cannot be used: {why}"
                    );
                }
                unusable.insert(id.to_string(), why);
                self.connections
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(id);
                None
            }
        }
    }

    /// Why a stored connection whose row exists cannot be used now; `None` when it can, or
    /// when there is no such connection.
    pub fn unusable_reason(&self, id: &str) -> Option<String> {
        self.unusable
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    /// Every connection id: the config file's, then the stored ones.
    pub fn connection_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .config
            .connections
            .iter()
            .map(|c| c.id.clone())
            .collect();
        for id in stored_ids(&self.store).unwrap_or_default() {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids
    }

    /// Loads every stored connection at start-up. One that cannot be used (the token key
    /// changed, its plugin is gone) is logged with why and kept as unusable — its webhooks
    /// answer 503 and its deliveries wait — so the others still serve and `connections remove`
    /// still works. An id in both the config file and the database stops the start: which
    /// one is meant cannot be guessed.
    pub(crate) fn load_stored_connections(&self) -> anyhow::Result<()> {
        for id in stored_ids(&self.store)? {
            if self.config.connections.iter().any(|c| c.id == id) {
                anyhow::bail!(
                    "connection `{id}` is both in the config file and stored (added through the API); rename or drop the config file's [[connections]] entry `{id}`, then remove the stored one if it is not wanted"
                );
            }
            self.load_and_cache(&id);
        }
        Ok(())
    }

    fn load_stored(&self, id: &str) -> anyhow::Result<Option<ConnectionRuntime>> {
        let Some(row) = stored_row(&self.store, id)? else {
            return Ok(None);
        };
        let config: ConnectionConfig = serde_json::from_str(&row.settings)
            .map_err(|e| anyhow::anyhow!("connection `{id}`: stored settings unreadable: {e}"))?;
        if self.plugins.get(&config.provider).is_none() {
            anyhow::bail!(
                "connection `{id}` uses provider `{}`, but no such plugin is loaded",
                config.provider
            );
        }
        let secrets = self.open_secrets(id, &row)?;
        let credentials = Credentials {
            access_token: secrets.access_token,
            client_id: config.client_id.clone(),
            client_secret: secrets.client_secret,
        };
        Ok(Some(Service::runtime_from(
            &config,
            &self.metrics,
            credentials,
            None,
            Some(row.updated_at),
            Some(&self.store),
        )?))
    }

    fn open_secrets(&self, id: &str, row: &StoredRow) -> anyhow::Result<StoredSecrets> {
        if row.client_secret.is_none() && row.access_token.is_none() {
            return Ok(StoredSecrets {
                client_secret: None,
                access_token: None,
            });
        }
        let accounts = self.accounts.as_ref().ok_or_else(|| {
            anyhow::anyhow!("connection `{id}` is stored with encrypted secrets: set EXLOGARE_TOKEN_KEY or EXLOGARE_TOKEN_KEY_FILE to the key it was added with")
        })?;
        let cipher = accounts.tokens.cipher();
        let open = |field: &str, sealed: &Option<Vec<u8>>| -> anyhow::Result<Option<Secret>> {
            sealed
                .as_ref()
                .map(|s| cipher.open(id, field, s).map(Secret::new).map_err(|e| anyhow::anyhow!("connection `{id}`: its {field} cannot be decrypted ({e}); was the token key changed?")))
                .transpose()
        };
        Ok(StoredSecrets {
            client_secret: open("client_secret", &row.client_secret)?,
            access_token: open("access_token", &row.access_token)?,
        })
    }

    fn derive_endpoints(
        &self,
        n: &NewConnection,
    ) -> Result<(String, String, String), ConnectionRefusal> {
        resolve_roots(
            &self.plugins.snapshot(),
            &n.provider,
            &n.web_base,
            n.api_base.as_deref(),
            n.oauth_base.as_deref(),
        )
    }

    /// Adds a stored connection after checking everything a first call would need: the
    /// provider, the roots and the egress policy they make, the CA, the secrets. Nothing is
    /// stored when any of that is wrong.
    pub fn add_connection(
        &self,
        n: &NewConnection,
    ) -> Result<super::connection_view::ConnectionView, ConnectionRefusal> {
        check_connection_id(&n.id).map_err(|e| refuse(400, e.to_string()))?;
        if self.config.connections.iter().any(|c| c.id == n.id) {
            return Err(refuse(
                409,
                format!(
                    "connection `{}` is defined in the config file; pick another id",
                    n.id
                ),
            ));
        }
        if stored_version(&self.store, &n.id)
            .map_err(|e| refuse(503, e.to_string()))?
            .is_some()
        {
            return Err(refuse(
                409,
                format!("connection `{}` exists; remove it first to change it", n.id),
            ));
        }
        let nonempty = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
        };
        let (client_id, client_secret, access_token) = (
            nonempty(&n.client_id),
            nonempty(&n.client_secret),
            nonempty(&n.access_token),
        );
        let oauth = match (&client_id, &client_secret, &access_token) {
            (Some(_), Some(_), None) => true,
            (None, None, Some(_)) => false,
            (Some(_), None, _) | (None, Some(_), _) => {
                return Err(refuse(400, "OAuth needs both client_id and client_secret"));
            }
            (Some(_), Some(_), Some(_)) => {
                return Err(refuse(
                    400,
                    "give an OAuth client (client_id + client_secret) or an access_token, not both",
                ));
            }
            (None, None, None) => {
                return Err(refuse(
                    400,
                    "give an OAuth client (client_id + client_secret) or a personal access_token",
                ));
            }
        };
        let accounts = self
            .accounts
            .as_ref()
            .ok_or_else(|| refuse(503, "this host has no token key, so it cannot store secrets: set EXLOGARE_TOKEN_KEY or EXLOGARE_TOKEN_KEY_FILE and restart"))?;
        let (web_base, api_base, oauth_base) = self.derive_endpoints(n)?;
        if let Some(scopes) = &n.scopes
            && (scopes.is_empty()
                || scopes
                    .iter()
                    .any(|s| s.trim().is_empty() || s.contains(',')))
        {
            return Err(refuse(
                400,
                "scopes must be a non-empty list of names (no commas inside a name)",
            ));
        }
        let config = ConnectionConfig {
            id: n.id.clone(),
            provider: n.provider.clone(),
            web_base,
            api_base,
            oauth_base,
            options: n.options.clone(),
            allow_private: n.allow_private,
            extra_origins: vec![],
            ca_file: None,
            ca_pem: n.ca_pem.clone().filter(|p| !p.trim().is_empty()),
            webhook_secret_env: None,
            webhook_secret_file: None,
            access_token_env: None,
            access_token_file: None,
            client_id: client_id.clone(),
            client_secret_env: None,
            client_secret_file: None,
            oauth: oauth.then(|| OAuthConfig {
                redirect_url: n.redirect_url.clone().filter(|u| !u.trim().is_empty()),
                scopes: n.scopes.clone().unwrap_or_default(),
            }),
            calls_per_hour: n.calls_per_hour,
            compare_green_runs: n.compare_green_runs.unwrap_or(true),
        };
        if config.calls_per_hour == Some(0) {
            return Err(refuse(400, "calls_per_hour must be at least 1"));
        }
        // Builds the runtime once to prove the policy and the CA are usable, before storing.
        let credentials = Credentials {
            access_token: access_token.clone().map(Secret::new),
            client_id: client_id.clone(),
            client_secret: client_secret.clone().map(Secret::new),
        };
        Service::runtime_from(&config, &self.metrics, credentials, None, Some(0), None)
            .map_err(|e| refuse(400, format!("{e:#}")))?;
        let cipher = accounts.tokens.cipher();
        let now = now_ms();
        let settings = serde_json::to_string(&config).map_err(|e| refuse(500, e.to_string()))?;
        let inserted = self.store.db().and_then(|db| db.execute(
            "INSERT INTO connections (id, provider, settings, client_secret, access_token, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
             ON CONFLICT (id) DO NOTHING",
            params![
                n.id,
                n.provider,
                settings,
                client_secret.map(|s| cipher.seal(&n.id, "client_secret", &s)),
                access_token.map(|s| cipher.seal(&n.id, "access_token", &s)),
                now
            ],
        ));
        match inserted {
            Ok(1) => {}
            Ok(_) => {
                return Err(refuse(
                    409,
                    format!("connection `{}` was added by someone else just now", n.id),
                ));
            }
            Err(e) => return Err(refuse(503, format!("storing the connection failed: {e}"))),
        }
        tracing::info!(
            connection = n.id.as_str(),
            provider = n.provider.as_str(),
            "connection added"
        );
        self.connection_view(&n.id).ok_or_else(|| {
            refuse(
                500,
                format!(
                    "connection `{}` was stored but cannot be loaded; see the host log",
                    n.id
                ),
            )
        })
    }

    /// Removes a stored connection: its webhooks at the provider first (each watched
    /// project), then its tokens, watches, watermarks and the row. With `force`, a hook the
    /// provider would not remove is reported and forgotten instead of stopping the removal.
    pub fn remove_connection(
        &self,
        id: &str,
        force: bool,
    ) -> Result<RemovedConnection, ConnectionRefusal> {
        if self.config.connections.iter().any(|c| c.id == id) {
            return Err(refuse(
                409,
                format!(
                    "connection `{id}` is defined in the config file; remove it there and restart"
                ),
            ));
        }
        let usable = self.connection(id).is_some();
        let unusable = if usable {
            None
        } else {
            self.unusable_reason(id)
        };
        if !usable && unusable.is_none() {
            return Err(refuse(404, format!("no connection `{id}`")));
        }
        let mut removed = RemovedConnection {
            connection: id.to_string(),
            unwatched: vec![],
            hooks_left: vec![],
        };
        for project in self
            .watched_projects(id)
            .map_err(|e| refuse(503, e.to_string()))?
        {
            if let Some(why) = &unusable {
                // No plugin call can run for it: its hooks stay at the provider, listed.
                removed
                    .hooks_left
                    .push(format!("{project}: the connection cannot be used ({why})"));
                continue;
            }
            match self.unwatch(id, &project) {
                Ok(_) => removed.unwatched.push(project),
                Err(e) if force => removed.hooks_left.push(format!("{project}: {e:#}")),
                Err(e) => {
                    let done = if removed.unwatched.is_empty() {
                        String::new()
                    } else {
                        format!(" (already unwatched: {})", removed.unwatched.join(", "))
                    };
                    // A connection that must be reconnected cannot remove hooks until it is: 409, not "retry".
                    let (status, advice) = match e.downcast_ref::<super::tokens::TokenError>() {
                        Some(
                            super::tokens::TokenError::NeedsReconnection { .. }
                            | super::tokens::TokenError::NotConnected(_),
                        ) => (
                            409,
                            "reconnect it first, or remove with force to leave the hooks behind",
                        ),
                        _ => (502, "retry, or remove with force to leave that hook behind"),
                    };
                    return Err(refuse(
                        status,
                        format!(
                            "could not remove the webhook of {project} ({e:#}); the connection is kept{done}: {advice}"
                        ),
                    ));
                }
            }
        }
        let db = self.store.db().map_err(|e| refuse(503, e.to_string()))?;
        // The request budget stays: GitFlic's own limit is per account, and a connection added
        // again under this id may be the same account; its rows leave the window within the hour.
        let cleanup = [
            "DELETE FROM watched_projects WHERE connection = ?1",
            "DELETE FROM poll_watermarks WHERE connection = ?1",
            "DELETE FROM poll_claims WHERE connection = ?1",
            "DELETE FROM green_fingerprints WHERE connection = ?1",
            "DELETE FROM oauth_states WHERE connection = ?1",
            "DELETE FROM account_tokens WHERE connection = ?1",
            "DELETE FROM token_refresh_leases WHERE connection = ?1",
            "DELETE FROM connection_alert_sends WHERE alert_id IN (SELECT id FROM connection_alerts WHERE connection = ?1)",
            "DELETE FROM connection_alerts WHERE connection = ?1",
            "DELETE FROM connections WHERE id = ?1",
        ];
        let tx = db
            .transaction(&format!("connection:{id}"))
            .map_err(|e| refuse(503, e.to_string()))?;
        for sql in cleanup {
            tx.execute(sql, [id])
                .map_err(|e| refuse(503, e.to_string()))?;
        }
        tx.commit().map_err(|e| refuse(503, e.to_string()))?;
        drop(db);
        self.connections
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        self.unusable
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        tracing::info!(connection = id, "connection removed");
        Ok(removed)
    }
}

/// What removing a connection did.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct RemovedConnection {
    pub connection: String,
    /// Projects whose webhook was removed at the provider.
    pub unwatched: Vec<String>,
    /// Hooks left at the provider (removal with force), with why.
    pub hooks_left: Vec<String>,
}
