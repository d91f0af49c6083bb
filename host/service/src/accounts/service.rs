//! Accounts inside the running service: OAuth-managed connections.
//!
//! A connection with an `[connections.oauth]` table takes its access token from the
//! [`TokenManager`] (encrypted at rest with the key from `EXLOGARE_TOKEN_KEY` /
//! `EXLOGARE_TOKEN_KEY_FILE`; [`Accounts::for_config`] stops the start-up with a clear message
//! when such a connection exists and the key does not). Its static `access_token_*` is refused.
//!
//! In the worker: the token is fetched (refreshed ahead of expiry, one refresh at a time per
//! connection); when the provider rejects it, the plugin's `refresh-token` runs once and the
//! analysis is retried once. A refresh the provider refuses marks the connection
//! `needs_reconnection` (stored, shown in its status) and parks the delivery with that reason.
//!
//! OAuth connect: [`Service::oauth_start`] issues a single-use state and asks the plugin for the
//! authorize URL; [`Service::oauth_callback`] takes the state, exchanges the code, stores the
//! tokens and confirms them with `current-user`. HTTP mapping: `accounts/http.rs`.

use super::crypto::TokenCipher;
use super::oauth_state;
use super::tokens::{
    ConnectionStatus, RefreshError, RefreshPolicy, TokenError, TokenManager, TokenSet,
};
use crate::config::Config;
use crate::outcome::Outcome;
use crate::service::{ConnectionRuntime, Service};
use crate::storage::now_ms;
use exlogare_runtime::call_state::LogSink;
use exlogare_runtime::http::Secret;
use exlogare_runtime::plugin::CallContext;
use exlogare_runtime::wit::v0_1::{provider, types};
use serde_json::{Value, json};

/// What the service keeps for OAuth-managed connections.
#[derive(Debug)]
pub struct Accounts {
    pub tokens: TokenManager,
}

impl Accounts {
    /// `None` when no connection uses OAuth. Fails (at start-up) when one does and the token
    /// key is missing or malformed, or its settings contradict each other.
    pub fn for_config(config: &Config) -> anyhow::Result<Option<Self>> {
        Self::for_config_with(config, TokenCipher::from_environment)
    }

    /// [`Accounts::for_config`] with the key source given (the environment, in production).
    pub fn for_config_with(
        config: &Config,
        key: impl FnOnce() -> Result<TokenCipher, super::crypto::CryptoError>,
    ) -> anyhow::Result<Option<Self>> {
        let managed: Vec<_> = config
            .connections
            .iter()
            .filter(|c| c.oauth.is_some())
            .collect();
        if managed.is_empty() {
            // Without OAuth in the config file the key is optional: with it, connections can be
            // added at run time (their secrets are sealed with it); a malformed one still stops the start.
            return match key() {
                Ok(cipher) => Ok(Some(Self::new(cipher))),
                Err(super::crypto::CryptoError::KeyMissing) => Ok(None),
                Err(e) => Err(anyhow::anyhow!("{e}")),
            };
        }
        for c in &managed {
            if c.client_id.as_deref().is_none_or(str::is_empty) {
                anyhow::bail!("connection `{}` uses OAuth but has no client_id", c.id);
            }
            if c.access_token_env.is_some() || c.access_token_file.is_some() {
                anyhow::bail!(
                    "connection `{}` uses OAuth, so its access token comes from the token store: remove access_token_env / access_token_file",
                    c.id
                );
            }
        }
        let ids: Vec<&str> = managed.iter().map(|c| c.id.as_str()).collect();
        let cipher = key().map_err(|e| {
            anyhow::anyhow!(
                "connection(s) {} use OAuth, whose tokens are stored encrypted: {e}",
                ids.join(", ")
            )
        })?;
        Ok(Some(Self::new(cipher)))
    }

    pub fn new(cipher: TokenCipher) -> Self {
        Self {
            tokens: TokenManager::new(cipher, RefreshPolicy::default()),
        }
    }
}

/// A refused OAuth step, as the HTTP layer answers it.
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthRefusal {
    pub status: u16,
    pub message: String,
}

fn refuse(status: u16, message: impl Into<String>) -> OAuthRefusal {
    OAuthRefusal {
        status,
        message: message.into(),
    }
}

pub(crate) fn describe(e: &types::ProviderError) -> String {
    match e {
        types::ProviderError::CredentialsRejected(m) => format!("credentials rejected: {m}"),
        types::ProviderError::RateLimited(rl) => format!("rate limited: {}", rl.message),
        types::ProviderError::Transient(m) => format!("temporarily unavailable: {m}"),
        types::ProviderError::NotFound(m) => format!("not found: {m}"),
        types::ProviderError::InvalidInput(i) => format!("invalid {}: {}", i.field, i.message),
        types::ProviderError::Denied(m) => format!("denied by the sandbox: {m}"),
    }
}

fn token_set(t: provider::TokenSet) -> TokenSet {
    TokenSet {
        access_token: Secret::new(t.access_token),
        refresh_token: t.refresh_token.map(Secret::new),
        expires_at: t.expires_at,
    }
}

impl Service {
    /// True when the connection takes its token from OAuth.
    pub fn is_token_managed(c: &ConnectionRuntime) -> bool {
        c.config.oauth.is_some()
    }

    pub fn accounts(&self) -> Result<&Accounts, TokenError> {
        self.accounts
            .as_ref()
            .ok_or_else(|| TokenError::Storage("no connection uses OAuth on this host".into()))
    }

    /// The OAuth client the plugin builds URLs and token requests for.
    pub fn oauth_client(&self, c: &ConnectionRuntime) -> provider::OauthClient {
        let o = c
            .config
            .oauth
            .clone()
            .unwrap_or_else(|| crate::config::OAuthConfig {
                redirect_url: None,
                scopes: vec![],
            });
        let redirect_url = o.redirect_url.unwrap_or_else(|| {
            format!(
                "{}/api/integrations/{}/oauth/callback",
                self.config.server.public_root(),
                c.config.provider
            )
        });
        provider::OauthClient {
            client_id: c.config.client_id.clone().unwrap_or_default(),
            redirect_url,
            scopes: o.scopes,
        }
    }

    /// A call context carrying `token` as the access token (the static one when `None`).
    pub fn ctx_with_token(
        &self,
        c: &ConnectionRuntime,
        sink: Option<Box<dyn LogSink>>,
        token: Option<&Secret>,
    ) -> CallContext {
        let mut ctx = self.ctx(c, sink);
        if let Some(t) = token {
            ctx.credentials.access_token = Some(t.clone());
        }
        ctx
    }

    /// The plugin's `refresh-token`, sorted into "the user must reconnect" and "try later".
    fn plugin_refresh(
        &self,
        c: &ConnectionRuntime,
        refresh: &Secret,
    ) -> Result<TokenSet, RefreshError> {
        let result = self.plugin_refresh_once(c, refresh);
        let outcome = match &result {
            Ok(_) => "refreshed",
            Err(RefreshError::Rejected(_)) => "refused",
            Err(RefreshError::Unavailable(_)) => "unavailable",
        };
        self.metrics.token_refresh(&c.config.id, outcome);
        result
    }

    fn plugin_refresh_once(
        &self,
        c: &ConnectionRuntime,
        refresh: &Secret,
    ) -> Result<TokenSet, RefreshError> {
        let Some(plugin) = self.plugins.get(&c.config.provider) else {
            return Err(RefreshError::Unavailable(format!(
                "provider plugin `{}` is not loaded",
                c.config.provider
            )));
        };
        let out = plugin
            .refresh_token(
                self.ctx(c, None),
                &c.conn,
                &self.oauth_client(c),
                refresh.expose(),
            )
            .map_err(|fault| RefreshError::Unavailable(format!("the plugin faulted: {fault}")))?;
        match out.value {
            Ok(t) => Ok(token_set(t)),
            Err(
                e @ (types::ProviderError::CredentialsRejected(_)
                | types::ProviderError::InvalidInput(_)),
            ) => Err(RefreshError::Rejected(format!(
                "the refresh was refused ({})",
                describe(&e)
            ))),
            Err(e) => Err(RefreshError::Unavailable(describe(&e))),
        }
    }

    /// A valid access token for an OAuth connection (refreshed first when close to expiry).
    pub fn connection_token(&self, c: &ConnectionRuntime) -> Result<Secret, TokenError> {
        self.accounts()?
            .tokens
            .access_token(&self.store, &c.config.id, now_ms(), |r| {
                self.plugin_refresh(c, r)
            })
    }

    /// After the provider rejected `rejected`: one refresh (shared with concurrent callers).
    pub fn refresh_rejected_token(
        &self,
        c: &ConnectionRuntime,
        rejected: &Secret,
    ) -> Result<Secret, TokenError> {
        self.accounts()?.tokens.refresh_after_rejection(
            &self.store,
            &c.config.id,
            rejected,
            now_ms(),
            |r| self.plugin_refresh(c, r),
        )
    }

    fn set_needs_reconnection(c: &ConnectionRuntime, reason: &str) {
        *c.needs_reconnection
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(reason.to_string());
    }

    /// The worker's token step: `Ok(None)` for a static-token connection, `Ok(Some(t))` to use
    /// `t`, or what becomes of the delivery when there is no usable token.
    pub(crate) fn delivery_token(
        &self,
        c: &ConnectionRuntime,
    ) -> anyhow::Result<Result<Option<Secret>, Outcome>> {
        if !Self::is_token_managed(c) {
            return Ok(Ok(None));
        }
        match self.connection_token(c) {
            Ok(t) => Ok(Ok(Some(t))),
            Err(e) => Ok(Err(self.token_failure(c, e)?)),
        }
    }

    /// The provider rejected `rejected` during an analysis: refresh once, or what becomes of
    /// the delivery (parked when the refresh is refused, retried when it is unavailable).
    pub(crate) fn refresh_after_rejected_call(
        &self,
        c: &ConnectionRuntime,
        rejected: &Secret,
        why: &str,
    ) -> anyhow::Result<Result<Secret, Outcome>> {
        match self.refresh_rejected_token(c, rejected) {
            Ok(t) => Ok(Ok(t)),
            Err(e) => {
                tracing::warn!(
                    connection = c.config.id.as_str(),
                    "the provider rejected the token ({why}) and the refresh failed: {e}"
                );
                Ok(Err(self.token_failure(c, e)?))
            }
        }
    }

    fn token_failure(&self, c: &ConnectionRuntime, e: TokenError) -> anyhow::Result<Outcome> {
        let needs_reconnection = |reason: &str| {
            Self::set_needs_reconnection(c, reason);
            self.alert_needs_reconnection(&c.config.id, reason);
            Outcome::park(format!(
                "connection `{}` needs reconnection: {reason}",
                c.config.id
            ))
        };
        Ok(match &e {
            TokenError::NeedsReconnection { reason, .. } => needs_reconnection(reason),
            TokenError::NotConnected(_) => {
                needs_reconnection("never connected: go through OAuth first")
            }
            TokenError::RefreshUnavailable { reason, .. } => {
                Outcome::retry(format!("token refresh unavailable: {reason}"))
            }
            TokenError::Crypto(_) => Outcome::park(e.to_string()),
            TokenError::Storage(m) => anyhow::bail!("token storage: {m}"),
        })
    }

    /// The provider rejected a freshly refreshed token too: the stored connection needs reconnection.
    pub(crate) fn note_credentials_rejected(&self, c: &ConnectionRuntime, why: &str) {
        if Self::is_token_managed(c)
            && let Ok(a) = self.accounts()
            && let Err(e) = a.tokens.mark_needs_reconnection(
                &self.store,
                &c.config.id,
                &format!("credentials rejected: {why}"),
                now_ms(),
            )
        {
            tracing::error!("{e}");
        }
        self.alert_needs_reconnection(&c.config.id, &format!("credentials rejected: {why}"));
    }

    fn oauth_connection(
        &self,
        provider_id: &str,
        connection_id: &str,
    ) -> Result<std::sync::Arc<ConnectionRuntime>, OAuthRefusal> {
        let c = self
            .connection(connection_id)
            .filter(|c| c.config.provider == provider_id)
            .ok_or_else(|| {
                refuse(
                    404,
                    format!("no {provider_id} connection `{connection_id}`"),
                )
            })?;
        if !Self::is_token_managed(&c) {
            return Err(refuse(
                400,
                format!(
                    "connection `{connection_id}` has no [connections.oauth] settings; it uses a static token"
                ),
            ));
        }
        Ok(c)
    }

    /// Issues a single-use state and returns the plugin-built authorize URL.
    pub fn oauth_start(
        &self,
        provider_id: &str,
        connection_id: &str,
    ) -> Result<String, OAuthRefusal> {
        let c = self.oauth_connection(provider_id, connection_id)?;
        let c = &*c;
        let plugin = self
            .plugins
            .get(provider_id)
            .ok_or_else(|| refuse(404, format!("no provider `{provider_id}` is installed")))?;
        let state = oauth_state::issue(&self.store, connection_id, now_ms())
            .map_err(|e| refuse(503, e.to_string()))?;
        let out = plugin
            .authorize_url(self.ctx(c, None), &c.conn, &self.oauth_client(c), &state)
            .map_err(|f| refuse(503, format!("the {provider_id} plugin faulted: {f}")))?;
        out.value.map_err(|e| {
            refuse(
                502,
                format!(
                    "the {provider_id} plugin could not build the authorize URL: {}",
                    describe(&e)
                ),
            )
        })
    }

    /// Takes the state, exchanges the code, stores the tokens (encrypted), confirms with
    /// `current-user`. The answer names the connection and the user.
    pub fn oauth_callback(
        &self,
        provider_id: &str,
        code: &str,
        state: &str,
    ) -> Result<Value, OAuthRefusal> {
        if code.trim().is_empty() {
            return Err(refuse(400, "the OAuth callback carries no `code`"));
        }
        let connection_id =
            oauth_state::take(&self.store, state, now_ms()).map_err(|e| match e {
                oauth_state::StateError::Storage(_) => refuse(503, e.to_string()),
                other => refuse(400, other.to_string()),
            })?;
        let c = self.oauth_connection(provider_id, &connection_id)?;
        let c = &*c;
        let plugin = self
            .plugins
            .get(provider_id)
            .ok_or_else(|| refuse(404, format!("no provider `{provider_id}` is installed")))?;
        let out = plugin
            .exchange_code(
                self.ctx(c, None),
                &c.conn,
                &self.oauth_client(c),
                code.trim(),
            )
            .map_err(|f| refuse(503, format!("the {provider_id} plugin faulted: {f}")))?;
        let tokens = match out.value {
            Ok(t) => token_set(t),
            Err(
                e @ (types::ProviderError::CredentialsRejected(_)
                | types::ProviderError::InvalidInput(_)),
            ) => {
                return Err(refuse(
                    400,
                    format!(
                        "{provider_id} refused the code: {}; start the connection again",
                        describe(&e)
                    ),
                ));
            }
            Err(e) => {
                return Err(refuse(
                    502,
                    format!(
                        "the code exchange with {provider_id} failed: {}",
                        describe(&e)
                    ),
                ));
            }
        };
        let accounts = self.accounts().map_err(|e| refuse(500, e.to_string()))?;
        accounts
            .tokens
            .save_tokens(&self.store, &connection_id, &tokens, now_ms())
            .map_err(|e| refuse(503, e.to_string()))?;
        // Removed while the user was at GitFlic: its tokens must not outlive it (a connection
        // added again under this id may point at another instance).
        if self.connection(&connection_id).is_none() {
            if let Err(e) = accounts.tokens.remove(&self.store, &connection_id) {
                tracing::error!(
                    connection = connection_id.as_str(),
                    "dropping the tokens of a removed connection: {e}"
                );
            }
            return Err(refuse(
                404,
                format!(
                    "connection `{connection_id}` was removed during the OAuth flow; add it again to connect"
                ),
            ));
        }
        *c.needs_reconnection
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = None;
        self.clear_reconnection_alert(&connection_id);
        // What was parked for the refused credentials can now go through.
        match self.store.resume_parked_for_reconnection(&connection_id) {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                connection = connection_id.as_str(),
                "{n} parked deliveries queued again after reconnecting"
            ),
            Err(e) => tracing::error!(
                connection = connection_id.as_str(),
                "could not queue the parked deliveries again: {e}"
            ),
        }
        let user = plugin
            .current_user(
                self.ctx_with_token(c, None, Some(&tokens.access_token)),
                &c.conn,
            )
            .map_err(|f| f.to_string())
            .and_then(|out| out.value.map_err(|e| describe(&e)));
        match user {
            Ok(u) => Ok(
                json!({ "status": "connected", "connection": connection_id, "user": u.username }),
            ),
            Err(why) => Err(refuse(
                502,
                format!("the tokens are stored, but current-user could not confirm them: {why}"),
            )),
        }
    }

    /// Whether an OAuth connection is usable, from the token store.
    pub fn token_status(&self, connection_id: &str) -> Option<(ConnectionStatus, Option<String>)> {
        let st = self
            .accounts
            .as_ref()?
            .tokens
            .status(&self.store, connection_id)
            .ok()??;
        Some((st.status, st.last_error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(oauth: bool, token_file: bool) -> Config {
        let text = format!(
            "[[connections]]\nid = \"cloud\"\nprovider = \"gitflic\"\nweb_base = \"https://gitflic.ru\"\napi_base = \"https://api.gitflic.ru\"\noauth_base = \"https://oauth.gitflic.ru\"\nclient_id = \"c\"\n{}{}",
            if token_file {
                "access_token_file = \"/x\"\n"
            } else {
                ""
            },
            if oauth {
                "[connections.oauth]\nredirect_url = \"https://exlogare.example/cb\"\n"
            } else {
                ""
            },
        );
        toml::from_str(&text).unwrap()
    }

    #[test]
    fn a_missing_key_stops_start_up_only_when_a_connection_uses_oauth() {
        let missing = || Err(super::super::crypto::CryptoError::KeyMissing);
        assert!(
            Accounts::for_config_with(&config(false, true), missing)
                .unwrap()
                .is_none()
        );
        let err = Accounts::for_config_with(&config(true, false), missing)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cloud")
                && err.contains("EXLOGARE_TOKEN_KEY")
                && err.contains("EXLOGARE_TOKEN_KEY_FILE"),
            "{err}"
        );
        let key = || Ok(TokenCipher::from_key(TokenCipher::random_key()));
        assert!(
            Accounts::for_config_with(&config(true, false), key)
                .unwrap()
                .is_some()
        );
        let err = Accounts::for_config_with(&config(true, true), key)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("remove access_token_env / access_token_file"),
            "{err}"
        );
        let c = config(true, false);
        assert_eq!(
            c.connections[0].oauth.as_ref().unwrap().scopes,
            ["PROJECT_READ", "PROJECT_WRITE", "USER_READ", "PROJECT_EDIT"]
        );
    }
}

/// Counts every provider request of a connection in its [`RequestBudget`] and refuses one that
/// would go past it (a transport error, so the caller retries later) — the budget is never
/// exceeded, whichever path (webhook analysis, OAuth, polling) spends it. Each wrapper spends
/// for one [`Purpose`]: the connection's own backend for the webhook path, the one
/// [`ConnectionRuntime::for_polling`] builds for a polling round, which also counts its calls.
pub struct BudgetedBackend {
    inner: std::sync::Arc<dyn exlogare_runtime::http::HttpBackend>,
    connection: String,
    budget: std::sync::Arc<std::sync::Mutex<RequestBudget>>,
    purpose: Purpose,
    spent: Option<std::sync::Arc<std::sync::atomic::AtomicU32>>,
}

impl BudgetedBackend {
    /// The webhook path's backend ([`Purpose::Other`]).
    pub fn wrap(
        inner: std::sync::Arc<dyn exlogare_runtime::http::HttpBackend>,
        connection: &str,
        budget: std::sync::Arc<std::sync::Mutex<RequestBudget>>,
    ) -> std::sync::Arc<dyn exlogare_runtime::http::HttpBackend> {
        Self::wrap_for(inner, connection, budget, Purpose::Other, None)
    }

    /// A backend spending for `purpose`, adding each spent call to `spent` when given.
    pub fn wrap_for(
        inner: std::sync::Arc<dyn exlogare_runtime::http::HttpBackend>,
        connection: &str,
        budget: std::sync::Arc<std::sync::Mutex<RequestBudget>>,
        purpose: Purpose,
        spent: Option<std::sync::Arc<std::sync::atomic::AtomicU32>>,
    ) -> std::sync::Arc<dyn exlogare_runtime::http::HttpBackend> {
        std::sync::Arc::new(Self {
            inner,
            connection: connection.into(),
            budget,
            purpose,
            spent,
        })
    }
}

impl exlogare_runtime::http::HttpBackend for BudgetedBackend {
    fn send(
        &self,
        req: &exlogare_runtime::http::OutboundRequest,
        deadline: std::time::Instant,
    ) -> Result<exlogare_runtime::http::BackendResponse, exlogare_runtime::http::BackendError> {
        let spent = self
            .budget
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .try_spend_for(self.purpose, 1, now_ms());
        if let Err(e) = spent {
            return Err(exlogare_runtime::http::BackendError::Transport(format!(
                "connection `{}`: {e}",
                self.connection
            )));
        }
        if let Some(counter) = &self.spent {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        self.inner.send(req, deadline)
    }
}

use super::budget::{Purpose, RequestBudget};

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
    let stored = super::connections::stored_settings(store);
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
            let used = super::budget::RequestBudget::durable(
                &config.storage.path,
                &c.id,
                c.calls_per_hour
                    .unwrap_or(super::budget::DEFAULT_CALLS_PER_HOUR),
            )
            .ok()
            .map(|mut b| b.used(now_ms()));
            let mut v = view(c, st.map(|s| (s.status, s.last_error)), None, used);
            v.origin = origin.into();
            v.watched = watched_in(store, &c.id);
            v
        })
        .collect()
}

fn watched_in(store: &crate::storage::Store, connection: &str) -> Vec<String> {
    let db = store.db();
    let Ok(mut st) =
        db.prepare("SELECT project FROM watched_projects WHERE connection = ?1 ORDER BY project")
    else {
        return vec![];
    };
    st.query_map([connection], |r| r.get::<_, String>(0))
        .map(|rows| rows.filter_map(Result::ok).collect())
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
            let settings = super::connections::stored_settings(&self.store)
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
