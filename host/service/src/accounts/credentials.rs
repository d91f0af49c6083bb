//! A connection's credentials inside the running service: OAuth-managed connections.
//!
//! A connection with an `[connections.oauth]` table takes its access token from the
//! [`TokenManager`] (encrypted at rest with the key from `EXLOGARE_TOKEN_KEY` /
//! `EXLOGARE_TOKEN_KEY_FILE`; `Accounts::for_config` in `accounts/tokens.rs` stops the start-up with a clear message
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

use super::oauth_state;
use super::tokens::{Accounts, ConnectionStatus, RefreshError, TokenError, TokenSet};
use crate::outcome::Outcome;
use crate::provider_words::describe;
use crate::service::{ConnectionRuntime, Service};
use crate::storage::now_ms;
use exlogare_runtime::contract;
use exlogare_runtime::http::Secret;
use exlogare_runtime::log_sink::LogSink;
use exlogare_runtime::plugin::CallContext;
use serde_json::{Value, json};

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

fn token_set(t: contract::TokenSet) -> TokenSet {
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
    pub fn oauth_client(&self, c: &ConnectionRuntime) -> contract::OauthClient {
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
        contract::OauthClient {
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
        // The refresh token is the plugin's to send, not to log.
        let mut ctx = self.ctx(c, None);
        ctx.redact.push(refresh.clone());
        let out = plugin
            .refresh_token(ctx, &c.conn, &self.oauth_client(c), refresh.expose())
            .map_err(|fault| RefreshError::Unavailable(format!("the plugin faulted: {fault}")))?;
        match out.value {
            Ok(t) => Ok(token_set(t)),
            Err(
                e @ (contract::ProviderError::CredentialsRejected(_)
                | contract::ProviderError::InvalidInput(_)),
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
                e @ (contract::ProviderError::CredentialsRejected(_)
                | contract::ProviderError::InvalidInput(_)),
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
