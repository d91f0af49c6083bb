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

use crate::config::{ConnectionConfig, OAuthConfig, check_connection_id};
use crate::service::{ConnectionRuntime, Service};
use crate::storage::{Store, now_ms};
use exlogare_runtime::http::Secret;
use exlogare_runtime::http::gate::Credentials;
use rusqlite::{OptionalExtension, params};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// What a caller gives to add a connection. Secrets arrive in the request; only their
/// ciphertexts are stored.
/// No `Debug`: it holds secrets in clear.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewConnection {
    pub id: String,
    /// The provider plugin's id (`gitflic`).
    pub provider: String,
    /// Web UI root; empty asks the plugin for its provider's public cloud.
    #[serde(default)]
    pub web_base: String,
    /// Overrides the plugin-derived REST root.
    pub api_base: Option<String>,
    /// Overrides the plugin-derived OAuth root.
    pub oauth_base: Option<String>,
    /// OAuth client; with it the connection is completed through OAuth start.
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// Default: the provider scopes of `[connections.oauth]` (`PROJECT_READ, PROJECT_WRITE, USER_READ, PROJECT_EDIT`).
    pub scopes: Option<Vec<String>>,
    pub redirect_url: Option<String>,
    /// Instead of OAuth: a personal access token.
    pub access_token: Option<String>,
    /// PEM text of an extra CA for a self-hosted instance.
    pub ca_pem: Option<String>,
    #[serde(default)]
    pub allow_private: bool,
    pub calls_per_hour: Option<u32>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

/// Why a connection change was refused, with the HTTP status it maps to.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ConnectionRefusal {
    pub status: u16,
    pub message: String,
}

fn refuse(status: u16, message: impl Into<String>) -> ConnectionRefusal {
    ConnectionRefusal {
        status,
        message: message.into(),
    }
}

/// The secrets of a stored connection, decrypted.
struct StoredSecrets {
    client_secret: Option<Secret>,
    access_token: Option<Secret>,
}

/// A stored connection's row as read.
struct StoredRow {
    settings: String,
    client_secret: Option<Vec<u8>>,
    access_token: Option<Vec<u8>>,
    updated_at: i64,
}

fn stored_version(store: &Store, id: &str) -> rusqlite::Result<Option<i64>> {
    store
        .db()
        .query_row(
            "SELECT updated_at FROM connections WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .optional()
}

fn stored_row(store: &Store, id: &str) -> rusqlite::Result<Option<StoredRow>> {
    store
        .db()
        .query_row("SELECT settings, client_secret, access_token, updated_at FROM connections WHERE id = ?1", [id], |r| {
            Ok(StoredRow { settings: r.get(0)?, client_secret: r.get(1)?, access_token: r.get(2)?, updated_at: r.get(3)? })
        })
        .optional()
}

/// Ids of the stored connections.
pub fn stored_ids(store: &Store) -> rusqlite::Result<Vec<String>> {
    let db = store.db();
    let mut st = db.prepare("SELECT id FROM connections ORDER BY id")?;

    st.query_map([], |r| r.get::<_, String>(0))?.collect()
}

/// A stored connection's settings, without secrets (for offline status views).
pub fn stored_settings(store: &Store) -> Vec<ConnectionConfig> {
    stored_ids(store)
        .unwrap_or_default()
        .iter()
        .filter_map(|id| stored_row(store, id).ok().flatten())
        .filter_map(|row| serde_json::from_str(&row.settings).ok())
        .collect()
}

/// A connection's (web, REST, OAuth) roots: the provider plugin's for `web_base` (its
/// `endpoints` interface), each replaced by an override when one is given. The web base comes
/// back in the plugin's normal form.
pub fn resolve_roots(
    plugins: &exlogare_runtime::plugin::PluginSet,
    provider: &str,
    web_base: &str,
    api_override: Option<&str>,
    oauth_override: Option<&str>,
) -> Result<(String, String, String), ConnectionRefusal> {
    let plugin = plugins.get(provider).ok_or_else(|| {
        let loaded: Vec<&str> = plugins.plugins.keys().map(String::as_str).collect();
        refuse(
            400,
            format!(
                "no provider plugin `{provider}` is loaded (loaded: {})",
                loaded.join(", ")
            ),
        )
    })?;
    let derived = plugin
        .connection_defaults(exlogare_runtime::plugin::CallContext::offline(), web_base)
        .map_err(|fault| {
            refuse(
                503,
                format!("the {provider} plugin faulted while deriving its endpoints: {fault}"),
            )
        })?
        .map(|out| out.value);
    let trimmed = |s: &str| s.trim().trim_end_matches('/').to_string();
    for (field, value) in [("api_base", api_override), ("oauth_base", oauth_override)] {
        if let Some(v) = value {
            check_root(field, v)?;
        }
    }
    let (web, api, oauth) = match derived {
        Some(Ok(conn)) => (conn.web_base, conn.api_base, conn.oauth_base),
        // The plugin's words only: the typed value may carry credentials, and errors are logged.
        Some(Err(e)) => {
            return Err(refuse(
                400,
                format!("web_base: {}", super::service::describe(&e)),
            ));
        }
        None if !web_base.trim().is_empty()
            && api_override.is_some()
            && oauth_override.is_some() =>
        {
            (trimmed(web_base), String::new(), String::new())
        }
        None => {
            return Err(refuse(
                400,
                format!(
                    "the {provider} plugin does not derive its endpoints (it predates exlogare:ci 0.1.1): give web_base, api_base and oauth_base"
                ),
            ));
        }
    };
    // A plugin derives roots from the address the user typed; one that names another site
    // would send the connection's token and client secret there. Overrides are the admin's.
    let typed = if web_base.trim().is_empty() {
        web.as_str()
    } else {
        web_base
    };
    for (field, value, overridden) in [
        ("web_base", web.as_str(), false),
        ("api_base", api.as_str(), api_override.is_some()),
        ("oauth_base", oauth.as_str(), oauth_override.is_some()),
    ] {
        if !overridden && !value.is_empty() && !same_site(value, typed) {
            return Err(refuse(
                400,
                format!(
                    "the {provider} plugin derived {field} {value}, which is not on the site of {typed}; if that is really where it is, give {field} explicitly"
                ),
            ));
        }
    }
    Ok((
        web,
        api_override.map(trimmed).unwrap_or(api),
        oauth_override.map(trimmed).unwrap_or(oauth),
    ))
}

/// Whether two URLs are on one site: the same registrable domain by the public-suffix list
/// (`api.gitflic.ru` and `gitflic.ru`; not `gitflic.ru.evil.example`, nor two customers of
/// one hosting suffix), or the same host when it has none (an IP address, `localhost`).
pub fn same_site(a: &str, b: &str) -> bool {
    let host = |u: &str| {
        url::Url::parse(u.trim()).ok().and_then(|u| {
            u.host_str()
                .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
        })
    };
    let (Some(a), Some(b)) = (host(a), host(b)) else {
        return false;
    };
    if a.parse::<std::net::IpAddr>().is_ok()
        || a.trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok()
    {
        return a == b;
    }
    let site = |h: &str| {
        psl::domain(h.as_bytes())
            .and_then(|d| std::str::from_utf8(d.as_bytes()).ok().map(str::to_string))
            .unwrap_or_else(|| h.to_string())
    };
    a == b || site(&a) == site(&b)
}

/// An override root must be a plain http(s) origin with an optional path: credentials would be
/// stored and shown in clear (the host adds credentials itself), a query or fragment would be
/// mangled by every path the plugin appends.
fn check_root(field: &str, value: &str) -> Result<(), ConnectionRefusal> {
    let url = url::Url::parse(value.trim())
        .map_err(|e| refuse(400, format!("{field}: not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(refuse(
            400,
            format!("{field}: must be an http or https URL with a host"),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse(
            400,
            format!("{field}: leave credentials out of the URL; the host adds them itself"),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(refuse(
            400,
            format!("{field}: a root takes no query or fragment"),
        ));
    }
    Ok(())
}

/// Fills the roots a config-file connection leaves out (`web_base` empty: the provider's
/// public service; `api_base` / `oauth_base` absent: derived by the plugin).
pub(crate) fn complete_config_roots(
    plugins: &exlogare_runtime::plugin::PluginSet,
    c: &mut ConnectionConfig,
) -> anyhow::Result<()> {
    if !c.api_base.is_empty() && !c.oauth_base.is_empty() && !c.web_base.is_empty() {
        return Ok(());
    }
    let given = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let (api, oauth) = (given(&c.api_base), given(&c.oauth_base));
    let (web, api, oauth) = resolve_roots(
        plugins,
        &c.provider,
        &c.web_base,
        api.as_deref(),
        oauth.as_deref(),
    )
    .map_err(|r| anyhow::anyhow!("connection `{}`: {}", c.id, r.message))?;
    (c.web_base, c.api_base, c.oauth_base) = (web, api, oauth);
    Ok(())
}

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
            Some(&self.config.storage.path),
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
            &self.plugins,
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
    ) -> Result<super::service::ConnectionView, ConnectionRefusal> {
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
                scopes: n
                    .scopes
                    .clone()
                    .unwrap_or_else(crate::config::default_scopes),
            }),
            calls_per_hour: n.calls_per_hour,
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
        let inserted = self.store.db().execute(
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
        );
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
        let db = self.store.db();
        // The request budget stays: GitFlic's own limit is per account, and a connection added
        // again under this id may be the same account; its rows leave the window within the hour.
        let cleanup = [
            "DELETE FROM watched_projects WHERE connection = ?1",
            "DELETE FROM poll_watermarks WHERE connection = ?1",
            "DELETE FROM oauth_states WHERE connection = ?1",
            "DELETE FROM account_tokens WHERE connection = ?1",
            "DELETE FROM token_refresh_leases WHERE connection = ?1",
            "DELETE FROM connection_alert_sends WHERE alert_id IN (SELECT id FROM connection_alerts WHERE connection = ?1)",
            "DELETE FROM connection_alerts WHERE connection = ?1",
            "DELETE FROM connections WHERE id = ?1",
        ];
        let tx = db
            .unchecked_transaction()
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

#[cfg(test)]
mod tests {
    use super::same_site;

    #[test]
    fn a_site_is_a_registrable_domain_or_an_exact_address() {
        for (a, b) in [
            ("https://api.gitflic.ru", "https://gitflic.ru"),
            ("https://oauth.gitflic.ru/", "https://GitFlic.ru/"),
            (
                "https://git.example.com/gitflic/rest-api",
                "https://git.example.com/gitflic",
            ),
            (
                "https://sso.corp.example.co.uk",
                "https://git.corp.example.co.uk",
            ),
            ("http://127.0.0.1:8080/rest-api", "http://127.0.0.1:8080"),
            ("http://localhost:3000/api", "http://localhost:3000"),
        ] {
            assert!(same_site(a, b), "{a} and {b}");
        }
        for (a, b) in [
            ("https://evil.example", "https://gitflic.ru"),
            ("https://gitflic.ru.evil.example", "https://gitflic.ru"),
            ("https://other.co.uk", "https://gitflic.co.uk"),
            ("https://attacker.github.io", "https://victim.github.io"),
            ("http://10.0.0.1", "http://127.0.0.1"),
            ("not a url", "https://gitflic.ru"),
        ] {
            assert!(!same_site(a, b), "{a} and {b}");
        }
    }
}
