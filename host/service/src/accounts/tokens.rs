//! OAuth tokens per connection, encrypted at rest, and the manager that hands out a valid
//! access token.
//!
//! - Ahead of expiry: a token with less than [`RefreshPolicy::refresh_before_ms`] left (default one
//!   day; GitFlic tokens live about 30 days), or a quarter of its lifetime when that is shorter
//!   (GitLab's live 2 hours), is refreshed before it is handed out. If that early
//!   refresh fails for a transient reason, the still-valid token is used.
//! - On a rejected call: [`TokenManager::refresh_after_rejection`] refreshes once, unless another
//!   caller already replaced the rejected token (then that newer token is returned).
//! - One refresh at a time per connection: a per-connection lock is held across the refresh;
//!   callers that wait on it re-read the stored row afterwards and use the result, so N
//!   concurrent callers cause one refresh request.
//! - One refresh at a time across processes too (`serve` beside `watch`/`projects` on the same
//!   database): the refresher first takes the connection's row in `token_refresh_leases` in an
//!   transaction under the connection's token lock ([`LeaseOptions`]). A caller that finds another holder's live lease
//!   polls the database until the lease is gone or the stored tokens no longer need a refresh,
//!   then uses them; a lease past its `lease_until` (its holder crashed) is taken over. The wait
//!   is bounded ([`LeaseOptions::max_wait_ms`]); past it an expired token is a transient
//!   [`TokenError::RefreshUnavailable`]. Leases use the wall clock, whatever `now` the caller
//!   passes for token expiry.
//! - A refresh result is written only over the tokens it started from (the refresh token's
//!   sealed bytes are compared): if a reconnect or another refresher replaced them meanwhile,
//!   a late success does not overwrite them and a late refusal does not flag the connection.
//! - The new access token, a rotated refresh token (when the provider sends one; otherwise the
//!   previous one is kept) and the expiry are written in one transaction.
//! - A refresh the provider refuses marks the connection `needs_reconnection` with the reason;
//!   no further refresh is tried until the user reconnects ([`TokenManager::save_tokens`]).

use super::crypto::{CryptoError, TokenCipher};
use crate::config::Config;
use crate::storage::Store;
use exlogare_runtime::http::Secret;
use exlogare_storage::{OptionalExtension, params};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// Tokens as the provider returned them (after a code exchange or a refresh).
#[derive(Debug, Clone)]
pub struct TokenSet {
    pub access_token: Secret,
    /// `None`: the provider sent none; the previous refresh token is kept.
    pub refresh_token: Option<Secret>,
    /// Milliseconds since the epoch; `None`: the provider did not say (the policy's default lifetime applies).
    pub expires_at: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionStatus {
    Connected,
    NeedsReconnection,
}

impl ConnectionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connected => "connected",
            Self::NeedsReconnection => "needs_reconnection",
        }
    }
}

/// What a connection's status page shows about its tokens (never the tokens).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenStatus {
    pub status: ConnectionStatus,
    pub last_error: Option<String>,
    pub expires_at: i64,
    pub has_refresh_token: bool,
    pub connected_at: i64,
    pub refreshed_at: Option<i64>,
}

/// Why a refresh did not produce tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshError {
    /// The provider refused the refresh token (or the client): the user must reconnect.
    Rejected(String),
    /// Network, 5xx, 429, a plugin fault: worth trying again later; the connection stays as it is.
    Unavailable(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("connection `{0}` is not connected yet: go through OAuth first")]
    NotConnected(String),
    #[error("connection `{connection}` needs reconnection: {reason}")]
    NeedsReconnection { connection: String, reason: String },
    #[error(
        "connection `{connection}`: its access token expired and could not be refreshed now: {reason}"
    )]
    RefreshUnavailable { connection: String, reason: String },
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("token storage: {0}")]
    Storage(String),
}

impl From<exlogare_storage::StorageError> for TokenError {
    fn from(e: exlogare_storage::StorageError) -> Self {
        TokenError::Storage(e.to_string())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshPolicy {
    /// Refresh when less than this is left before expiry.
    pub refresh_before_ms: i64,
    /// The lifetime assumed when the provider gives no expiry.
    pub default_lifetime_ms: i64,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        Self {
            refresh_before_ms: DAY_MS,
            default_lifetime_ms: 30 * DAY_MS,
        }
    }
}

/// The cross-process refresh lease (module docs). Times are wall-clock milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseOptions {
    /// How long a taken lease is valid: longer than any refresh takes (a plugin call is cut at
    /// 30 s), so only a crashed holder's lease ever runs out.
    pub ttl_ms: i64,
    /// How often a waiting caller reads the database again.
    pub poll_ms: u64,
    /// How long a caller waits for other holders in total before giving up.
    pub max_wait_ms: i64,
}

impl Default for LeaseOptions {
    fn default() -> Self {
        Self {
            ttl_ms: 60_000,
            poll_ms: 50,
            max_wait_ms: 90_000,
        }
    }
}

/// Stored tokens, decrypted.
struct Row {
    access: Secret,
    refresh: Option<Secret>,
    /// The refresh token as stored (sealed with a random nonce): what a refresh result may
    /// only be written over.
    refresh_sealed: Option<Vec<u8>>,
    expires_at: i64,
    /// When this access token was obtained (its refresh, else the connect).
    obtained_at: i64,
    status: ConnectionStatus,
    last_error: Option<String>,
}

/// What taking the lease found.
enum Lease {
    Taken,
    Held { holder: String, until: i64 },
}

/// Hands out access tokens and refreshes them; see the module docs. Methods take the
/// [`Store`] so the service keeps owning it; `now` is milliseconds since the epoch.
pub struct TokenManager {
    cipher: TokenCipher,
    policy: RefreshPolicy,
    locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    /// This manager's name in `token_refresh_leases`: process id and a random part.
    holder: String,
    lease: LeaseOptions,
}

impl std::fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenManager")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl TokenManager {
    pub fn new(cipher: TokenCipher, policy: RefreshPolicy) -> Self {
        let mut tag = [0u8; 6];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut tag);
        let holder = format!("pid {} #{}", std::process::id(), hex::encode(tag));
        Self {
            cipher,
            policy,
            locks: Mutex::new(HashMap::new()),
            holder,
            lease: LeaseOptions::default(),
        }
    }

    /// The same manager with other lease timings (tests use short ones).
    pub fn with_lease(mut self, lease: LeaseOptions) -> Self {
        self.lease = lease;
        self
    }

    /// This manager's name in the lease table.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    pub fn policy(&self) -> RefreshPolicy {
        self.policy
    }

    /// The cipher tokens are sealed with; stored connections seal their secrets with it too.
    pub fn cipher(&self) -> &TokenCipher {
        &self.cipher
    }

    fn lock_of(&self, connection: &str) -> Arc<Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(connection.to_string()).or_default().clone()
    }

    fn expiry(&self, t: &TokenSet, now: i64) -> i64 {
        t.expires_at
            .unwrap_or(now + self.policy.default_lifetime_ms)
    }

    /// Stores the tokens of a (re)connect: status `connected`, last error cleared.
    pub fn save_tokens(
        &self,
        store: &Store,
        connection: &str,
        tokens: &TokenSet,
        now: i64,
    ) -> Result<(), TokenError> {
        // A reconnect waits for a refresh already in flight and writes after it, so that
        // refresh can neither overwrite the new tokens nor flag the fresh connection.
        let lock = self.lock_of(connection);
        let _guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        let access = self
            .cipher
            .seal(connection, "access", tokens.access_token.expose());
        let refresh = tokens
            .refresh_token
            .as_ref()
            .map(|r| self.cipher.seal(connection, "refresh", r.expose()));
        store.db()?.execute(
            "INSERT INTO account_tokens (connection, access_token, refresh_token, expires_at, status, last_error, connected_at, refreshed_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, 'connected', NULL, ?5, NULL, ?5)
             ON CONFLICT (connection) DO UPDATE SET access_token = excluded.access_token, refresh_token = excluded.refresh_token,
                 expires_at = excluded.expires_at, status = 'connected', last_error = NULL, connected_at = excluded.connected_at,
                 refreshed_at = NULL, updated_at = excluded.updated_at",
            params![connection, access, refresh, self.expiry(tokens, now), now],
        )?;
        Ok(())
    }

    /// The connection's token status; `None` when it never connected.
    pub fn status(
        &self,
        store: &Store,
        connection: &str,
    ) -> Result<Option<TokenStatus>, TokenError> {
        let db = store.db()?;
        let row = db
            .query_row(
                "SELECT status, last_error, expires_at, refresh_token IS NOT NULL, connected_at, refreshed_at FROM account_tokens WHERE connection = ?1",
                [connection],
                |r| Ok((r.get::<String>(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
            )
            .optional()?;
        Ok(row.map(
            |(status, last_error, expires_at, has_refresh_token, connected_at, refreshed_at)| {
                TokenStatus {
                    status: parse_status(&status),
                    last_error,
                    expires_at,
                    has_refresh_token,
                    connected_at,
                    refreshed_at,
                }
            },
        ))
    }

    /// Forgets the connection's tokens (the connection was removed). True when there were some.
    pub fn remove(&self, store: &Store, connection: &str) -> Result<bool, TokenError> {
        let db = store.db()?;
        db.execute(
            "DELETE FROM token_refresh_leases WHERE connection = ?1",
            [connection],
        )?;
        Ok(db.execute(
            "DELETE FROM account_tokens WHERE connection = ?1",
            [connection],
        )? > 0)
    }

    /// Marks the connection as needing reconnection, with the reason (also used by callers
    /// that learn it some other way, e.g. a refreshed token rejected again).
    pub fn mark_needs_reconnection(
        &self,
        store: &Store,
        connection: &str,
        reason: &str,
        now: i64,
    ) -> Result<(), TokenError> {
        store.db()?.execute(
            "UPDATE account_tokens SET status = 'needs_reconnection', last_error = ?2, updated_at = ?3 WHERE connection = ?1",
            params![connection, reason, now],
        )?;
        Ok(())
    }

    fn load(&self, store: &Store, connection: &str) -> Result<Row, TokenError> {
        let raw = store
            .db()?
            .query_row(
                "SELECT access_token, refresh_token, expires_at, status, last_error, COALESCE(refreshed_at, connected_at) FROM account_tokens WHERE connection = ?1",
                [connection],
                |r| Ok((r.get::<Vec<u8>>(0)?, r.get::<Option<Vec<u8>>>(1)?, r.get(2)?, r.get::<String>(3)?, r.get(4)?, r.get::<i64>(5)?)),
            )
            .optional()?;
        let Some((access, refresh, expires_at, status, last_error, obtained_at)) = raw else {
            return Err(TokenError::NotConnected(connection.into()));
        };
        Ok(Row {
            access: Secret::new(self.cipher.open(connection, "access", &access)?),
            refresh: refresh
                .as_ref()
                .map(|r| self.cipher.open(connection, "refresh", r).map(Secret::new))
                .transpose()?,
            refresh_sealed: refresh,
            expires_at,
            obtained_at,
            status: parse_status(&status),
            last_error,
        })
    }

    fn usable(connection: &str, row: &Row) -> Result<(), TokenError> {
        if row.status == ConnectionStatus::NeedsReconnection {
            return Err(TokenError::NeedsReconnection {
                connection: connection.into(),
                reason: row
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "the provider rejected its tokens".into()),
            });
        }
        Ok(())
    }

    /// Fresh while more than `refresh_before_ms` is left, or a quarter of the token's own
    /// lifetime when that is shorter: a day is right for GitFlic's 30-day tokens, but GitLab's
    /// live 2 hours and would never count as fresh (every call would refresh first).
    fn fresh(&self, row: &Row, now: i64) -> bool {
        let lifetime = (row.expires_at - row.obtained_at).max(0);
        let margin = self.policy.refresh_before_ms.min(lifetime / 4);
        row.expires_at - now > margin
    }

    /// A valid access token, refreshed first when it is close to expiry. `refresh` is called
    /// with the stored refresh token, at most once, and only by one caller per connection at
    /// a time; callers waiting for it get its result.
    pub fn access_token<F>(
        &self,
        store: &Store,
        connection: &str,
        now: i64,
        refresh: F,
    ) -> Result<Secret, TokenError>
    where
        F: FnOnce(&Secret) -> Result<TokenSet, RefreshError>,
    {
        let row = self.load(store, connection)?;
        Self::usable(connection, &row)?;
        if self.fresh(&row, now) {
            return Ok(row.access);
        }
        let lock = self.lock_of(connection);
        let _guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        // Another caller may have refreshed (or failed to) while this one waited.
        let row = self.load(store, connection)?;
        Self::usable(connection, &row)?;
        if self.fresh(&row, now) {
            return Ok(row.access);
        }
        self.refresh_leased(store, connection, now, None, refresh)
    }

    /// After the provider rejected `rejected` (401/403): refreshes once and returns the new
    /// token, unless the stored token is no longer `rejected` (someone refreshed meanwhile),
    /// in which case the stored one is returned without a refresh.
    pub fn refresh_after_rejection<F>(
        &self,
        store: &Store,
        connection: &str,
        rejected: &Secret,
        now: i64,
        refresh: F,
    ) -> Result<Secret, TokenError>
    where
        F: FnOnce(&Secret) -> Result<TokenSet, RefreshError>,
    {
        let lock = self.lock_of(connection);
        let _guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        let row = self.load(store, connection)?;
        Self::usable(connection, &row)?;
        if row.access.expose() != rejected.expose() {
            return Ok(row.access);
        }
        self.refresh_leased(store, connection, now, Some(rejected), refresh)
    }

    /// Takes the connection's lease in the database (or finds another holder's live one).
    fn try_lease(&self, store: &Store, connection: &str) -> Result<Lease, TokenError> {
        let wall = crate::storage::now_ms();
        let db = store.db()?;
        let tx = db.transaction(&format!("tokens:{connection}"))?;
        let current: Option<(String, i64)> = tx
            .query_row(
                "SELECT holder, lease_until FROM token_refresh_leases WHERE connection = ?1",
                [connection],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((holder, until)) = current.clone()
            && holder != self.holder
            && until > wall
        {
            return Ok(Lease::Held { holder, until });
        }
        if let Some((holder, until)) = current.filter(|(h, _)| *h != self.holder) {
            tracing::warn!(
                connection,
                "taking over the token refresh lease of {holder}, which ran out {} ms ago",
                wall - until
            );
        }
        tx.execute(
            "INSERT INTO token_refresh_leases (connection, holder, taken_at, lease_until) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (connection) DO UPDATE SET holder = excluded.holder, taken_at = excluded.taken_at, lease_until = excluded.lease_until",
            params![connection, self.holder, wall, wall + self.lease.ttl_ms],
        )?;
        tx.commit()?;
        Ok(Lease::Taken)
    }

    fn release(&self, store: &Store, connection: &str) {
        if let Err(e) = store.db().and_then(|db| {
            db.execute(
                "DELETE FROM token_refresh_leases WHERE connection = ?1 AND holder = ?2",
                params![connection, self.holder],
            )
        }) {
            // It runs out by itself.
            tracing::warn!(connection, "releasing the token refresh lease: {e}");
        }
    }

    /// With the in-process lock held: refreshes under the database lease, or waits for the
    /// process holding it and uses what it stored. `rejected`: the refresh is for a token the
    /// provider rejected (settled once the stored token is another one); otherwise it is for an
    /// expiring token (settled once the stored one is fresh).
    fn refresh_leased<F>(
        &self,
        store: &Store,
        connection: &str,
        now: i64,
        rejected: Option<&Secret>,
        refresh: F,
    ) -> Result<Secret, TokenError>
    where
        F: FnOnce(&Secret) -> Result<TokenSet, RefreshError>,
    {
        let settled = |row: &Row| match rejected {
            Some(r) => row.access.expose() != r.expose(),
            None => self.fresh(row, now),
        };
        let started = Instant::now();
        loop {
            match self.try_lease(store, connection)? {
                Lease::Taken => {
                    let result = self.load(store, connection).and_then(|row| {
                        // Another process may have refreshed just before the lease became free.
                        Self::usable(connection, &row)?;
                        if settled(&row) {
                            return Ok(row.access);
                        }
                        // A rejected token is not worth keeping even if its expiry says otherwise.
                        let row = if rejected.is_some() {
                            Row {
                                expires_at: now,
                                ..row
                            }
                        } else {
                            row
                        };
                        self.refresh_locked(store, connection, row, now, refresh)
                    });
                    self.release(store, connection);
                    return result;
                }
                Lease::Held { holder, until } => {
                    let waited = started.elapsed().as_millis() as i64;
                    if waited >= self.lease.max_wait_ms {
                        let row = self.load(store, connection)?;
                        Self::usable(connection, &row)?;
                        if settled(&row) || (rejected.is_none() && row.expires_at > now) {
                            // Settled, or an early refresh that could not happen: the token still works.
                            return Ok(row.access);
                        }
                        return Err(TokenError::RefreshUnavailable {
                            connection: connection.into(),
                            reason: format!(
                                "another process ({holder}) is refreshing the token; waited {waited} ms, its lease runs until {until}"
                            ),
                        });
                    }
                    std::thread::sleep(Duration::from_millis(self.lease.poll_ms));
                    let row = self.load(store, connection)?;
                    Self::usable(connection, &row)?;
                    if settled(&row) {
                        return Ok(row.access);
                    }
                }
            }
        }
    }

    /// Runs `call` with a valid token; when the provider rejects it, refreshes once and runs
    /// `call` again with the new token. `call` returns `Err(Rejected)` for a rejected token.
    pub fn with_access_token<T, E, F, C>(
        &self,
        store: &Store,
        connection: &str,
        now: i64,
        refresh: F,
        mut call: C,
    ) -> Result<T, CallFailure<E>>
    where
        F: Fn(&Secret) -> Result<TokenSet, RefreshError>,
        C: FnMut(&Secret) -> Result<T, CallError<E>>,
    {
        let token = self
            .access_token(store, connection, now, &refresh)
            .map_err(CallFailure::Token)?;
        match call(&token) {
            Err(CallError::Rejected(_)) => {
                let token = self
                    .refresh_after_rejection(store, connection, &token, now, &refresh)
                    .map_err(CallFailure::Token)?;
                call(&token).map_err(|e| match e {
                    CallError::Rejected(e) | CallError::Other(e) => CallFailure::Call(e),
                })
            }
            Err(CallError::Other(e)) => Err(CallFailure::Call(e)),
            Ok(v) => Ok(v),
        }
    }

    fn refresh_locked<F>(
        &self,
        store: &Store,
        connection: &str,
        row: Row,
        now: i64,
        refresh: F,
    ) -> Result<Secret, TokenError>
    where
        F: FnOnce(&Secret) -> Result<TokenSet, RefreshError>,
    {
        let Some(refresh_token) = row.refresh.as_ref() else {
            let reason = "the access token expired or was rejected and no refresh token is stored"
                .to_string();
            self.mark_needs_reconnection(store, connection, &reason, now)?;
            return Err(TokenError::NeedsReconnection {
                connection: connection.into(),
                reason,
            });
        };
        match refresh(refresh_token) {
            Ok(new) => {
                let access = self
                    .cipher
                    .seal(connection, "access", new.access_token.expose());
                let rotated = new
                    .refresh_token
                    .as_ref()
                    .map(|r| self.cipher.seal(connection, "refresh", r.expose()));
                let db = store.db()?;
                let tx = db.transaction(&format!("tokens:{connection}"))?;
                // COALESCE keeps the previous refresh token when none was sent; the access
                // token, a rotated refresh token and the expiry land together or not at all,
                // and only over the tokens this refresh started from.
                let written = tx.execute(
                    "UPDATE account_tokens SET access_token = ?2, refresh_token = COALESCE(?3, refresh_token), expires_at = ?4,
                         status = 'connected', last_error = NULL, refreshed_at = ?5, updated_at = ?5
                     WHERE connection = ?1 AND refresh_token IS NOT DISTINCT FROM ?6",
                    params![connection, access, rotated, self.expiry(&new, now), now, row.refresh_sealed],
                )?;
                tx.commit()?;
                if written == 0 {
                    tracing::warn!(
                        connection,
                        "the tokens were replaced while they were being refreshed; the stored ones are kept"
                    );
                }
                Ok(new.access_token)
            }
            Err(RefreshError::Rejected(why)) => {
                // The plugin held both tokens for this call: neither may come back in its words.
                let why = crate::scrub::scrub(&why, &[refresh_token.expose(), row.access.expose()]);
                let reason = format!("the provider refused to refresh the token: {why}");
                let marked = store.db()?.execute(
                    "UPDATE account_tokens SET status = 'needs_reconnection', last_error = ?2, updated_at = ?3 WHERE connection = ?1 AND refresh_token IS NOT DISTINCT FROM ?4",
                    params![connection, reason, now, row.refresh_sealed],
                )?;
                if marked == 0 {
                    // Replaced meanwhile (a reconnect, or a refresher that took over a lease that
                    // ran out): the refused refresh token is no longer the stored one.
                    let current = self.load(store, connection)?;
                    if current.status == ConnectionStatus::Connected {
                        return Ok(current.access);
                    }
                }
                Err(TokenError::NeedsReconnection {
                    connection: connection.into(),
                    reason,
                })
            }
            Err(RefreshError::Unavailable(why)) => {
                let why = crate::scrub::scrub(&why, &[refresh_token.expose(), row.access.expose()]);
                store.db()?.execute(
                    "UPDATE account_tokens SET last_error = ?2, updated_at = ?3 WHERE connection = ?1",
                    params![connection, format!("refresh failed, will retry: {why}"), now],
                )?;
                if row.expires_at > now {
                    // An early refresh that could not happen: the current token still works.
                    Ok(row.access)
                } else {
                    Err(TokenError::RefreshUnavailable {
                        connection: connection.into(),
                        reason: why,
                    })
                }
            }
        }
    }
}

/// What a provider call passed to [`TokenManager::with_access_token`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError<E> {
    /// The provider rejected the credentials (401/403).
    Rejected(E),
    Other(E),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallFailure<E> {
    Token(TokenError),
    Call(E),
}

fn parse_status(s: &str) -> ConnectionStatus {
    if s == "connected" {
        ConnectionStatus::Connected
    } else {
        ConnectionStatus::NeedsReconnection
    }
}

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
        key: impl FnOnce() -> Result<TokenCipher, CryptoError>,
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
                Err(CryptoError::KeyMissing) => Ok(None),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const NOW: i64 = 1_700_000_000_000;

    fn manager() -> TokenManager {
        TokenManager::new(
            TokenCipher::from_key(TokenCipher::random_key()),
            RefreshPolicy::default(),
        )
    }

    fn set(access: &str, refresh: Option<&str>, expires_at: i64) -> TokenSet {
        TokenSet {
            access_token: Secret::new(access),
            refresh_token: refresh.map(Secret::new),
            expires_at: Some(expires_at),
        }
    }

    fn never(_: &Secret) -> Result<TokenSet, RefreshError> {
        panic!("no refresh expected")
    }

    #[test]
    fn a_fresh_token_is_handed_out_without_a_refresh_and_is_encrypted_at_rest() {
        crate::storage::each_backend(
            "a_fresh_token_is_handed_out_without_a_refresh_and_is_encrypted_at_rest",
            |s| {
                let m = manager();
                m.save_tokens(
                    &s,
                    "cloud",
                    &set("access-1", Some("refresh-1"), NOW + 20 * DAY_MS),
                    NOW,
                )
                .unwrap();
                assert_eq!(
                    m.access_token(&s, "cloud", NOW, never).unwrap().expose(),
                    "access-1"
                );
                let (a, r): (Vec<u8>, Vec<u8>) = s
                    .db()
                    .unwrap()
                    .query_row(
                        "SELECT access_token, refresh_token FROM account_tokens",
                        [],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .unwrap();
                assert!(
                    !String::from_utf8_lossy(&a).contains("access-1")
                        && !String::from_utf8_lossy(&r).contains("refresh-1")
                );
                let st = m.status(&s, "cloud").unwrap().unwrap();
                assert_eq!(
                    (st.status, st.has_refresh_token, st.last_error),
                    (ConnectionStatus::Connected, true, None)
                );
                assert_eq!(
                    m.access_token(&s, "other", NOW, never).unwrap_err(),
                    TokenError::NotConnected("other".into())
                );
            },
        );
    }

    #[test]
    fn a_short_lived_token_is_fresh_for_the_first_three_quarters_of_its_life() {
        // GitLab: 2-hour tokens. A day's margin would refresh before every call.
        let (s, m) = (Store::open_in_memory().unwrap(), manager());
        let hour = 3_600_000;
        m.save_tokens(&s, "lab", &set("a1", Some("r1"), NOW + 2 * hour), NOW)
            .unwrap();
        assert_eq!(
            m.access_token(&s, "lab", NOW + hour, never)
                .unwrap()
                .expose(),
            "a1"
        );
        // Past three quarters (90 of 120 minutes): refreshed before it is handed out.
        let t = m
            .access_token(&s, "lab", NOW + 2 * hour - hour / 4 - 1, |r| {
                assert_eq!(r.expose(), "r1");
                Ok(set("a2", Some("r2"), NOW + 4 * hour))
            })
            .unwrap();
        assert_eq!(t.expose(), "a2");
    }

    #[test]
    fn a_token_close_to_expiry_is_refreshed_and_a_rotated_refresh_token_is_kept() {
        crate::storage::each_backend(
            "a_token_close_to_expiry_is_refreshed_and_a_rotated_refresh_token_is_kept",
            |s| {
                let m = manager();
                m.save_tokens(
                    &s,
                    "cloud",
                    &set("a1", Some("r1"), NOW + DAY_MS / 2),
                    NOW - 29 * DAY_MS,
                )
                .unwrap();
                let t = m
                    .access_token(&s, "cloud", NOW, |r| {
                        assert_eq!(r.expose(), "r1");
                        Ok(set("a2", Some("r2"), NOW + 30 * DAY_MS))
                    })
                    .unwrap();
                assert_eq!(t.expose(), "a2");
                let st = m.status(&s, "cloud").unwrap().unwrap();
                assert_eq!(
                    (st.expires_at, st.refreshed_at),
                    (NOW + 30 * DAY_MS, Some(NOW))
                );
                // The next refresh must present the rotated token; a refresh without one keeps it.
                m.refresh_after_rejection(&s, "cloud", &Secret::new("a2"), NOW, |r| {
                    assert_eq!(r.expose(), "r2");
                    Ok(TokenSet {
                        access_token: Secret::new("a3"),
                        refresh_token: None,
                        expires_at: None,
                    })
                })
                .unwrap();
                let st = m.status(&s, "cloud").unwrap().unwrap();
                assert_eq!(
                    st.expires_at,
                    NOW + 30 * DAY_MS,
                    "no expiry given: the default lifetime"
                );
                m.refresh_after_rejection(&s, "cloud", &Secret::new("a3"), NOW, |r| {
                    assert_eq!(r.expose(), "r2");
                    Ok(set("a4", None, NOW + DAY_MS * 10))
                })
                .unwrap();
            },
        );
    }

    #[test]
    fn concurrent_callers_share_exactly_one_refresh() {
        crate::storage::each_backend("concurrent_callers_share_exactly_one_refresh", |s| {
            let s = Arc::new(s);
            let m = Arc::new(manager());
            m.save_tokens(
                &s,
                "cloud",
                &set("old", Some("r1"), NOW + 60_000),
                NOW - 29 * DAY_MS,
            )
            .unwrap();
            let refreshes = Arc::new(AtomicUsize::new(0));
            let threads = 16;
            let barrier = Arc::new(Barrier::new(threads));
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    let (s, m, refreshes, barrier) =
                        (s.clone(), m.clone(), refreshes.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        m.access_token(&s, "cloud", NOW, |r| {
                            assert_eq!(r.expose(), "r1");
                            refreshes.fetch_add(1, Ordering::SeqCst);
                            // Slow enough that every other thread arrives while it runs.
                            std::thread::sleep(std::time::Duration::from_millis(100));
                            Ok(set("new", Some("r2"), NOW + 30 * DAY_MS))
                        })
                        .unwrap()
                        .expose()
                        .to_string()
                    })
                })
                .collect();
            let tokens: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            assert_eq!(
                refreshes.load(Ordering::SeqCst),
                1,
                "exactly one refresh request"
            );
            assert!(tokens.iter().all(|t| t == "new"), "{tokens:?}");
        });
    }

    #[test]
    fn concurrent_rejections_of_the_same_token_share_one_refresh() {
        crate::storage::each_backend(
            "concurrent_rejections_of_the_same_token_share_one_refresh",
            |s| {
                let s = Arc::new(s);
                let m = Arc::new(manager());
                m.save_tokens(
                    &s,
                    "cloud",
                    &set("revoked", Some("r1"), NOW + 20 * DAY_MS),
                    NOW,
                )
                .unwrap();
                let refreshes = Arc::new(AtomicUsize::new(0));
                let barrier = Arc::new(Barrier::new(8));
                let handles: Vec<_> = (0..8)
                    .map(|_| {
                        let (s, m, refreshes, barrier) =
                            (s.clone(), m.clone(), refreshes.clone(), barrier.clone());
                        std::thread::spawn(move || {
                            let rejected = m.access_token(&s, "cloud", NOW, never).unwrap();
                            barrier.wait();
                            m.refresh_after_rejection(&s, "cloud", &rejected, NOW, |_| {
                                refreshes.fetch_add(1, Ordering::SeqCst);
                                std::thread::sleep(std::time::Duration::from_millis(50));
                                Ok(set("fresh", None, NOW + 30 * DAY_MS))
                            })
                            .unwrap()
                            .expose()
                            .to_string()
                        })
                    })
                    .collect();
                let tokens: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
                assert_eq!(refreshes.load(Ordering::SeqCst), 1);
                assert!(tokens.iter().all(|t| t == "fresh"));
            },
        );
    }

    #[test]
    fn a_reconnect_during_a_refresh_is_not_undone_by_it() {
        crate::storage::each_backend("a_reconnect_during_a_refresh_is_not_undone_by_it", |s| {
            let s = Arc::new(s);
            let m = Arc::new(manager());
            m.save_tokens(&s, "cloud", &set("old", Some("r-revoked"), NOW - 1), NOW)
                .unwrap();
            let (started_tx, started_rx) = std::sync::mpsc::channel();
            let refresher = {
                let (s, m) = (s.clone(), m.clone());
                std::thread::spawn(move || {
                    m.access_token(&s, "cloud", NOW, |_| {
                        started_tx.send(()).unwrap();
                        std::thread::sleep(std::time::Duration::from_millis(100));
                        Err(RefreshError::Rejected("400 invalid refresh token".into()))
                    })
                })
            };
            started_rx.recv().unwrap();
            // The user reconnects while the doomed refresh is still in flight.
            m.save_tokens(
                &s,
                "cloud",
                &set("new", Some("r-new"), NOW + 30 * DAY_MS),
                NOW,
            )
            .unwrap();
            assert!(
                refresher.join().unwrap().is_err(),
                "the refresh itself still fails"
            );
            let status = m.status(&s, "cloud").unwrap().unwrap();
            assert_eq!(
                status.status,
                ConnectionStatus::Connected,
                "the reconnect wins: {status:?}"
            );
            let token = m
                .access_token(&s, "cloud", NOW, |_| {
                    panic!("a fresh token needs no refresh")
                })
                .unwrap();
            assert_eq!(token.expose(), "new");
        });
    }

    #[test]
    fn a_refused_refresh_marks_the_connection_and_waiters_do_not_retry_it() {
        crate::storage::each_backend(
            "a_refused_refresh_marks_the_connection_and_waiters_do_not_retry_it",
            |s| {
                let s = Arc::new(s);
                let m = Arc::new(manager());
                m.save_tokens(&s, "cloud", &set("old", Some("r-revoked"), NOW - 1), NOW)
                    .unwrap();
                let refreshes = Arc::new(AtomicUsize::new(0));
                let barrier = Arc::new(Barrier::new(6));
                let handles: Vec<_> = (0..6)
                    .map(|_| {
                        let (s, m, refreshes, barrier) =
                            (s.clone(), m.clone(), refreshes.clone(), barrier.clone());
                        std::thread::spawn(move || {
                            barrier.wait();
                            m.access_token(&s, "cloud", NOW, |_| {
                                refreshes.fetch_add(1, Ordering::SeqCst);
                                std::thread::sleep(std::time::Duration::from_millis(50));
                                Err(RefreshError::Rejected("400 invalid refresh token".into()))
                            })
                        })
                    })
                    .collect();
                for h in handles {
                    let err = h.join().unwrap().unwrap_err();
                    assert!(
                        matches!(&err, TokenError::NeedsReconnection { reason, .. } if reason.contains("invalid refresh token")),
                        "{err}"
                    );
                }
                assert_eq!(refreshes.load(Ordering::SeqCst), 1);
                let st = m.status(&s, "cloud").unwrap().unwrap();
                assert_eq!(st.status, ConnectionStatus::NeedsReconnection);
                assert!(st.last_error.unwrap().contains("400 invalid refresh token"));
                // Reconnecting (a new code exchange) clears it.
                m.save_tokens(
                    &s,
                    "cloud",
                    &set("again", Some("r3"), NOW + 30 * DAY_MS),
                    NOW,
                )
                .unwrap();
                assert_eq!(
                    m.access_token(&s, "cloud", NOW, never).unwrap().expose(),
                    "again"
                );
                assert_eq!(m.status(&s, "cloud").unwrap().unwrap().last_error, None);
            },
        );
    }

    #[test]
    fn a_transient_refresh_failure_keeps_a_still_valid_token_and_reports_an_expired_one() {
        crate::storage::each_backend(
            "a_transient_refresh_failure_keeps_a_still_valid_token_and_reports_an_expired_one",
            |s| {
                let m = manager();
                m.save_tokens(
                    &s,
                    "cloud",
                    &set("a1", Some("r1"), NOW + 3_600_000),
                    NOW - 29 * DAY_MS,
                )
                .unwrap();
                let t = m
                    .access_token(&s, "cloud", NOW, |_| {
                        Err(RefreshError::Unavailable("503".into()))
                    })
                    .unwrap();
                assert_eq!(t.expose(), "a1");
                let st = m.status(&s, "cloud").unwrap().unwrap();
                assert_eq!(st.status, ConnectionStatus::Connected);
                assert!(st.last_error.unwrap().contains("503"));
                let later = NOW + 2 * 3_600_000;
                let err = m
                    .access_token(&s, "cloud", later, |_| {
                        Err(RefreshError::Unavailable("timeout".into()))
                    })
                    .unwrap_err();
                assert!(
                    matches!(err, TokenError::RefreshUnavailable { .. }),
                    "{err}"
                );
                assert_eq!(
                    m.status(&s, "cloud").unwrap().unwrap().status,
                    ConnectionStatus::Connected
                );
                // A success afterwards clears the error.
                m.access_token(&s, "cloud", later, |_| {
                    Ok(set("a2", None, later + 30 * DAY_MS))
                })
                .unwrap();
                assert_eq!(m.status(&s, "cloud").unwrap().unwrap().last_error, None);
            },
        );
    }

    #[test]
    fn without_a_refresh_token_an_expired_connection_needs_reconnection() {
        crate::storage::each_backend(
            "without_a_refresh_token_an_expired_connection_needs_reconnection",
            |s| {
                let m = manager();
                m.save_tokens(&s, "cloud", &set("a1", None, NOW - 1), NOW)
                    .unwrap();
                let err = m.access_token(&s, "cloud", NOW, never).unwrap_err();
                assert!(
                    matches!(&err, TokenError::NeedsReconnection { reason, .. } if reason.contains("no refresh token")),
                    "{err}"
                );
            },
        );
    }

    #[test]
    fn a_rejected_call_is_retried_once_with_a_refreshed_token() {
        crate::storage::each_backend(
            "a_rejected_call_is_retried_once_with_a_refreshed_token",
            |s| {
                let m = manager();
                m.save_tokens(
                    &s,
                    "cloud",
                    &set("stale", Some("r1"), NOW + 20 * DAY_MS),
                    NOW,
                )
                .unwrap();
                let refresh = |_: &Secret| Ok(set("good", None, NOW + 30 * DAY_MS));
                let mut seen = vec![];
                let out = m.with_access_token(&s, "cloud", NOW, refresh, |t| {
                    seen.push(t.expose().to_string());
                    if t.expose() == "good" {
                        Ok("user")
                    } else {
                        Err(CallError::Rejected("401"))
                    }
                });
                assert_eq!(out, Ok("user"));
                assert_eq!(seen, ["stale", "good"]);
                // Rejected again after the refresh: the second rejection is reported, not refreshed again.
                let refreshes = AtomicUsize::new(0);
                let mut calls = 0;
                let out: Result<(), _> = m.with_access_token(
                    &s,
                    "cloud",
                    NOW,
                    |_: &Secret| {
                        refreshes.fetch_add(1, Ordering::SeqCst);
                        Ok(set("newer", None, NOW + 30 * DAY_MS))
                    },
                    |_| {
                        calls += 1;
                        Err(CallError::Rejected(format!("403 #{calls}")))
                    },
                );
                assert_eq!(out, Err(CallFailure::Call("403 #2".to_string())));
                assert_eq!((refreshes.load(Ordering::SeqCst), calls), (1, 2));
            },
        );
    }

    /// One "process": its store handle and token manager.
    type Process = (Arc<Store>, Arc<TokenManager>);

    /// Two "processes" on one database file: each its own store handle and token manager
    /// (own in-process locks, own lease holder name), one key.
    fn two_processes(lease: LeaseOptions) -> (tempfile::TempDir, [Process; 2]) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shared.db");
        let key = TokenCipher::random_key();
        let proc = || {
            let m = TokenManager::new(TokenCipher::from_key(key), RefreshPolicy::default())
                .with_lease(lease);
            (Arc::new(Store::open(&path).unwrap()), Arc::new(m))
        };
        let procs = [proc(), proc()];
        assert_ne!(procs[0].1.holder(), procs[1].1.holder());
        (dir, procs)
    }

    fn wall() -> i64 {
        crate::storage::now_ms()
    }

    fn lease_row(s: &Store) -> Option<(String, i64)> {
        s.db()
            .unwrap()
            .query_row(
                "SELECT holder, lease_until FROM token_refresh_leases",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .unwrap()
    }

    #[test]
    fn two_processes_on_one_database_share_exactly_one_refresh() {
        let (_dir, procs) = two_processes(LeaseOptions::default());
        procs[0]
            .1
            .save_tokens(&procs[0].0, "cloud", &set("old", Some("r1"), NOW - 1), NOW)
            .unwrap();
        let refreshes = Arc::new(AtomicUsize::new(0));
        let threads = 12;
        let barrier = Arc::new(Barrier::new(threads));
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let (s, m) = procs[i % 2].clone();
                let (refreshes, barrier) = (refreshes.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    let token = if i % 3 == 0 {
                        // Some callers come through a rejected call instead.
                        m.refresh_after_rejection(&s, "cloud", &Secret::new("old"), NOW, |r| {
                            assert_eq!(
                                r.expose(),
                                "r1",
                                "a rotated-away refresh token is never presented"
                            );
                            refreshes.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(150));
                            Ok(set("new", Some("r2"), NOW + 30 * DAY_MS))
                        })
                    } else {
                        m.access_token(&s, "cloud", NOW, |r| {
                            assert_eq!(
                                r.expose(),
                                "r1",
                                "a rotated-away refresh token is never presented"
                            );
                            refreshes.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(150));
                            Ok(set("new", Some("r2"), NOW + 30 * DAY_MS))
                        })
                    };
                    token.unwrap().expose().to_string()
                })
            })
            .collect();
        let tokens: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(
            refreshes.load(Ordering::SeqCst),
            1,
            "exactly one refresh across both processes"
        );
        assert!(tokens.iter().all(|t| t == "new"), "{tokens:?}");
        for (s, m) in &procs {
            assert_eq!(
                m.status(s, "cloud").unwrap().unwrap().status,
                ConnectionStatus::Connected
            );
        }
        assert_eq!(lease_row(&procs[0].0), None, "the lease is released");
    }

    #[test]
    fn a_lease_left_by_a_crashed_process_is_taken_over() {
        let lease = LeaseOptions {
            ttl_ms: 5_000,
            poll_ms: 10,
            max_wait_ms: 5_000,
        };
        let (_dir, [(s, m), _]) = two_processes(lease);
        m.save_tokens(&s, "cloud", &set("old", Some("r1"), NOW - 1), NOW)
            .unwrap();
        // Ran out already: taken over at once.
        s.db()
            .unwrap()
            .execute(
                "INSERT INTO token_refresh_leases VALUES ('cloud', 'pid 1 #dead', ?1, ?2)",
                params![wall() - 70_000, wall() - 10_000],
            )
            .unwrap();
        let t = m
            .access_token(&s, "cloud", NOW, |_| Ok(set("a2", Some("r2"), NOW + 1)))
            .unwrap();
        assert_eq!(t.expose(), "a2");
        // Still live: the caller waits until it runs out (the holder never comes back), then refreshes.
        let until = wall() + 400;
        s.db()
            .unwrap()
            .execute(
                "INSERT INTO token_refresh_leases VALUES ('cloud', 'pid 1 #dead', ?1, ?2)",
                params![wall(), until],
            )
            .unwrap();
        let refreshes = AtomicUsize::new(0);
        let t = m
            .access_token(&s, "cloud", NOW + 2, |r| {
                assert_eq!(r.expose(), "r2");
                refreshes.fetch_add(1, Ordering::SeqCst);
                assert!(
                    wall() >= until,
                    "refreshed only after the crashed holder's lease ran out"
                );
                Ok(set("a3", Some("r3"), NOW + 30 * DAY_MS))
            })
            .unwrap();
        assert_eq!((t.expose(), refreshes.load(Ordering::SeqCst)), ("a3", 1));
        assert_eq!(lease_row(&s), None);
    }

    #[test]
    fn the_wait_for_another_process_is_bounded() {
        let lease = LeaseOptions {
            ttl_ms: 60_000,
            poll_ms: 10,
            max_wait_ms: 200,
        };
        let (_dir, [(s, m), _]) = two_processes(lease);
        m.save_tokens(
            &s,
            "cloud",
            &set("early", Some("r1"), NOW + DAY_MS / 2),
            NOW - 29 * DAY_MS,
        )
        .unwrap();
        s.db()
            .unwrap()
            .execute(
                "INSERT INTO token_refresh_leases VALUES ('cloud', 'pid 1 #stuck', ?1, ?2)",
                params![wall(), wall() + 600_000],
            )
            .unwrap();
        let started = std::time::Instant::now();
        // An early refresh that cannot happen: the still-valid token is used.
        assert_eq!(
            m.access_token(&s, "cloud", NOW, never).unwrap().expose(),
            "early"
        );
        assert!(started.elapsed() >= std::time::Duration::from_millis(200));
        // An expired one is a transient failure; the connection is not flagged.
        let err = m
            .access_token(&s, "cloud", NOW + DAY_MS, never)
            .unwrap_err();
        assert!(
            matches!(&err, TokenError::RefreshUnavailable { reason, .. } if reason.contains("pid 1 #stuck")),
            "{err}"
        );
        assert_eq!(
            m.status(&s, "cloud").unwrap().unwrap().status,
            ConnectionStatus::Connected
        );
    }

    #[test]
    fn a_refresh_finishing_after_another_process_replaced_the_tokens_does_not_undo_it() {
        let (_dir, [(s1, m1), (s2, m2)]) = two_processes(LeaseOptions::default());
        m1.save_tokens(&s1, "cloud", &set("old", Some("r-old"), NOW - 1), NOW)
            .unwrap();
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let refresher = {
            let (s1, m1) = (s1.clone(), m1.clone());
            std::thread::spawn(move || {
                m1.access_token(&s1, "cloud", NOW, |_| {
                    started_tx.send(()).unwrap();
                    std::thread::sleep(std::time::Duration::from_millis(150));
                    Err(RefreshError::Rejected("400 invalid refresh token".into()))
                })
            })
        };
        started_rx.recv().unwrap();
        // The user reconnects through the other process while the doomed refresh runs.
        m2.save_tokens(
            &s2,
            "cloud",
            &set("new", Some("r-new"), NOW + 30 * DAY_MS),
            NOW,
        )
        .unwrap();
        let got = refresher.join().unwrap().unwrap();
        assert_eq!(
            got.expose(),
            "new",
            "the refused refresh token was no longer the stored one"
        );
        let st = m2.status(&s2, "cloud").unwrap().unwrap();
        assert_eq!(
            (st.status, st.last_error),
            (ConnectionStatus::Connected, None)
        );
    }

    #[test]
    fn a_token_sealed_for_one_connection_does_not_open_as_another() {
        crate::storage::each_backend(
            "a_token_sealed_for_one_connection_does_not_open_as_another",
            |s| {
                let m = manager();
                m.save_tokens(
                    &s,
                    "cloud",
                    &set("cloud-token", Some("r"), NOW + 20 * DAY_MS),
                    NOW,
                )
                .unwrap();
                m.save_tokens(
                    &s,
                    "onprem",
                    &set("onprem-token", Some("r"), NOW + 20 * DAY_MS),
                    NOW,
                )
                .unwrap();
                s.db().unwrap()
            .execute("UPDATE account_tokens SET access_token = (SELECT access_token FROM account_tokens WHERE connection = 'cloud') WHERE connection = 'onprem'", [])
            .unwrap();
                assert!(matches!(
                    m.access_token(&s, "onprem", NOW, never),
                    Err(TokenError::Crypto(_))
                ));
                assert!(m.remove(&s, "onprem").unwrap());
                assert_eq!(m.status(&s, "onprem").unwrap(), None);
            },
        );
    }

    /// `Accounts`: what start-up requires of OAuth connections.
    mod accounts {
        use super::super::*;

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
            let missing = || Err(CryptoError::KeyMissing);
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
            // No scopes configured: the plugin asks for its provider's own default.
            assert!(c.connections[0].oauth.as_ref().unwrap().scopes.is_empty());
        }
    }
}
