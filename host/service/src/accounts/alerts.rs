//! The chat alert "connection X needs reconnection".
//!
//! When a worker finds that a connection's credentials stopped working (a refused refresh,
//! OAuth never completed, the provider rejecting a freshly refreshed token), it calls
//! [`Service::alert_needs_reconnection`] on the same thread and then parks the delivery as
//! before (so once a delivery shows `parked`, its alert was tried). That posts a
//! [`ConnectionAlert`] to the notifiers routed for the connection
//! ([`notify::route_connection`]: routes whose `connection` is this one or unset, whatever their
//! `project`, since a connection-level problem stops the reports of all its projects).
//!
//! Once per transition, durably (migration 0005):
//! - an *episode* row is opened at the first trigger and stays open while the connection needs
//!   reconnection; later triggers (the next parked delivery, another worker, a restart) find it
//!   and post nothing new. Its `generation` names the credentials it is about (OAuth: the
//!   `connected_at` of the stored tokens; static token: a hash of the token), so a connection
//!   that was reconnected, or whose token was replaced, gets a new episode even if the
//!   explicit clear ([`Service::clear_reconnection_alert`], called by the OAuth callback) was
//!   missed.
//! - per episode and notifier, a send is claimed before it is made (`sending`), then recorded
//!   `sent`, `pending` (transient: 5xx, 429, network; sent again at the next trigger, under the
//!   same idempotency key, so Matrix's transaction id still dedupes) or `failed` (refused for
//!   good: not retried, logged as an error). A claim left by a process that died mid-send
//!   lapses after [`CLAIM_LEASE_MS`].
//!
//! The same machinery carries the alerts about reaching the provider
//! ([`Service::alert_connection_problem`]): its requests refused by this host's egress policy, or
//! no answer from it (`reachability.rs`). Each kind has its own episode (migration 0009), opened
//! at the first delivery that meets the problem and closed when a delivery of the connection
//! is analysed again.
//!
//! Nothing here changes what happens to the delivery: errors (storage, notifiers) are logged.

use super::tokens::ConnectionStatus;
use crate::service::{ConnectionRuntime, Service};
use crate::storage::now_ms;
use exlogare_notify::{self as notify, AlertProblem, ConnectionAlert};
use exlogare_storage::{OptionalExtension, params};
use sha2::{Digest, Sha256};

/// A `sending` claim older than this is taken as abandoned and may be sent again.
pub const CLAIM_LEASE_MS: i64 = 5 * 60 * 1000;

/// One episode and what each notifier did with it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AlertRecord {
    pub id: i64,
    pub connection: String,
    /// `needs_reconnection`, `egress_refused` or `unreachable`.
    pub kind: String,
    pub reason: String,
    pub opened_at: i64,
    pub cleared_at: Option<i64>,
    /// By notifier name.
    pub sends: Vec<AlertSend>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AlertSend {
    pub notifier: String,
    /// `sending`, `sent`, `pending` or `failed`.
    pub state: String,
    pub attempts: u32,
    pub last_error: Option<String>,
}

impl Service {
    /// Posts "connection needs reconnection" to the connection's routed notifiers, once per
    /// transition (see the module docs). Logs, never fails: the caller's delivery is unaffected.
    pub fn alert_needs_reconnection(&self, connection: &str, reason: &str) {
        if let Err(e) = self.try_alert_needs_reconnection(connection, reason) {
            tracing::error!(
                connection,
                "the needs-reconnection alert could not be handled: {e:#}"
            );
        }
    }

    /// Posts "connection refused by the egress policy" or "cannot reach its provider", once per
    /// episode; logs, never fails.
    pub fn alert_connection_problem(&self, connection: &str, problem: AlertProblem, reason: &str) {
        let Some(c) = self.connection(connection) else {
            return;
        };
        // One episode per kind until a delivery gets through again.
        let generation = problem.as_str().to_string();
        if let Err(e) = self.post_alert(&c, problem, &generation, reason) {
            tracing::error!(
                connection,
                "the {} alert could not be handled: {e:#}",
                problem.as_str()
            );
        }
    }

    /// The connection is connected again: its open episode is closed, so the next failure
    /// alerts again.
    pub fn clear_reconnection_alert(&self, connection: &str) {
        self.clear_connection_alert(connection, AlertProblem::NeedsReconnection);
    }

    /// The problem is over (connected again, or a delivery got through): the open episode of
    /// that kind is closed, so the next occurrence alerts again.
    pub fn clear_connection_alert(&self, connection: &str, problem: AlertProblem) {
        let cleared = self.store.db().and_then(|db| db.execute(
            "UPDATE connection_alerts SET cleared_at = ?2 WHERE connection = ?1 AND kind = ?3 AND cleared_at IS NULL",
            params![connection, now_ms(), problem.as_str()],
        ));
        match cleared {
            Ok(0) => {}
            Ok(_) => tracing::info!(
                connection,
                kind = problem.as_str(),
                "the connection's problem is over: a new occurrence will alert again"
            ),
            Err(e) => tracing::error!(
                connection,
                "could not close the {} alert: {e}",
                problem.as_str()
            ),
        }
    }

    /// The connection's episodes, newest first, with each notifier's state.
    pub fn reconnection_alerts(&self, connection: &str) -> anyhow::Result<Vec<AlertRecord>> {
        let db = self.store.db()?;
        let episodes: Vec<(i64, String, i64, Option<i64>, String)> = db.query_map(
            "SELECT id, reason, opened_at, cleared_at, kind FROM connection_alerts WHERE connection = ?1 ORDER BY id DESC",
            [connection],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )?;
        let mut out = Vec::new();
        for (id, reason, opened_at, cleared_at, kind) in episodes {
            let s = db.query_map(
                "SELECT notifier, state, attempts, last_error FROM connection_alert_sends WHERE alert_id = ?1 ORDER BY notifier",
                [id],
                |r| {
                    Ok(AlertSend {
                        notifier: r.get(0)?,
                        state: r.get(1)?,
                        attempts: r.get(2)?,
                        last_error: r.get(3)?,
                    })
                },
            )?;
            out.push(AlertRecord {
                id,
                connection: connection.to_string(),
                kind,
                reason,
                opened_at,
                cleared_at,
                sends: s,
            });
        }
        Ok(out)
    }

    fn try_alert_needs_reconnection(&self, connection: &str, reason: &str) -> anyhow::Result<()> {
        let Some(c) = self.connection(connection) else {
            return Ok(());
        };
        let managed = Self::is_token_managed(&c);
        let generation = if managed {
            let status = match self.accounts() {
                Ok(a) => a
                    .tokens
                    .status(&self.store, connection)
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
                Err(_) => None,
            };
            match status {
                // Reconnected while this worker was finding the old problem: nothing to say.
                Some(st) if st.status == ConnectionStatus::Connected => return Ok(()),
                Some(st) => format!("oauth:{}", st.connected_at),
                None => "oauth:never".to_string(),
            }
        } else {
            static_generation(
                connection,
                c.credentials.access_token.as_ref().map(|t| t.expose()),
            )
        };
        self.post_alert(&c, AlertProblem::NeedsReconnection, &generation, reason)
    }

    /// Opens (or finds) the episode of `problem` and posts it to every routed notifier that has
    /// not had it yet.
    fn post_alert(
        &self,
        c: &ConnectionRuntime,
        problem: AlertProblem,
        generation: &str,
        reason: &str,
    ) -> anyhow::Result<()> {
        let connection = c.config.id.as_str();
        let managed = Self::is_token_managed(c);
        let (alert_id, reason, opened_at) =
            self.open_episode(connection, problem, generation, &stored_reason(c, reason))?;
        let alert = ConnectionAlert {
            provider: c.config.provider.clone(),
            connection: connection.to_string(),
            web_base: c.conn.web_base.clone(),
            reason,
            // Only a reconnection is fixed by reconnecting.
            reconnect_url: (managed && problem == AlertProblem::NeedsReconnection).then(|| {
                format!(
                    "{}/api/integrations/{}/oauth/start/{connection}",
                    self.config.server.public_root(),
                    c.config.provider
                )
            }),
            admin_token_required: self.admin_token.is_some(),
            at: opened_at,
            problem,
        };
        // Each room in the language of the first route that names it (`notify::route_connection`).
        for routed in notify::route_connection(&self.config.routes, connection) {
            let target = routed.notifier;
            let Some(notifier) = self.notifiers.get(target) else {
                continue;
            };
            if !self.claim_alert_send(alert_id, target)? {
                continue; // sent, refused for good, or being sent by another worker
            }
            // Stable for this episode and notifier: a retry reuses Matrix's transaction id.
            let key = format!("connection-alert-{alert_id}#{target}");
            let (state, error) = match notifier.send_alert_in(&alert, routed.language, &key) {
                Ok(_) => {
                    tracing::info!(
                        connection,
                        notifier = target,
                        kind = problem.as_str(),
                        "posted the connection alert"
                    );
                    self.metrics.notification(target, "sent");
                    ("sent", None)
                }
                Err(e) if e.is_transient() => {
                    tracing::warn!(
                        connection,
                        notifier = target,
                        "the connection alert failed; sent again at the next trigger: {e}"
                    );
                    self.metrics.notification(target, e.outcome());
                    ("pending", Some(e.to_string()))
                }
                Err(e) => {
                    tracing::error!(
                        connection,
                        notifier = target,
                        "the connection alert was refused, not retried: {e}"
                    );
                    self.metrics.notification(target, e.outcome());
                    ("failed", Some(e.to_string()))
                }
            };
            self.store.db()?.execute(
                "UPDATE connection_alert_sends SET state = ?3, last_error = ?4, updated_at = ?5 WHERE alert_id = ?1 AND notifier = ?2",
                params![alert_id, target, state, error, now_ms()],
            )?;
        }
        Ok(())
    }

    /// The open episode for these credentials, or a new one (closing one about older
    /// credentials): `(id, reason, opened_at)`.
    fn open_episode(
        &self,
        connection: &str,
        problem: AlertProblem,
        generation: &str,
        reason: &str,
    ) -> exlogare_storage::Result<(i64, String, i64)> {
        let now = now_ms();
        let db = self.store.db()?;
        let tx = db.transaction(&format!("alerts:{connection}"))?;
        let open: Option<(i64, String, String, i64)> = tx
            .query_row(
                "SELECT id, generation, reason, opened_at FROM connection_alerts WHERE connection = ?1 AND kind = ?2 AND cleared_at IS NULL",
                params![connection, problem.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let episode = match open {
            Some((id, g, r, at)) if g == generation => (id, r, at),
            stale => {
                if stale.is_some() {
                    tx.execute("UPDATE connection_alerts SET cleared_at = ?2 WHERE connection = ?1 AND kind = ?3 AND cleared_at IS NULL", params![connection, now, problem.as_str()])?;
                }
                let id = tx.query_row(
                    "INSERT INTO connection_alerts (connection, generation, reason, opened_at, kind) VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
                    params![connection, generation, reason, now, problem.as_str()],
                    |r| r.get(0),
                )?;
                (id, reason.to_string(), now)
            }
        };
        tx.commit()?;
        Ok(episode)
    }

    /// Takes the send of `alert_id` to `notifier` unless it was sent, refused for good, or is
    /// being sent (a claim younger than the lease).
    fn claim_alert_send(&self, alert_id: i64, notifier: &str) -> exlogare_storage::Result<bool> {
        let now = now_ms();
        let changed = self.store.db()?.execute(
            "INSERT INTO connection_alert_sends (alert_id, notifier, state, attempts, updated_at) VALUES (?1, ?2, 'sending', 1, ?3)
             ON CONFLICT (alert_id, notifier) DO UPDATE SET state = 'sending', attempts = connection_alert_sends.attempts + 1, updated_at = excluded.updated_at
             WHERE connection_alert_sends.state = 'pending'
                OR (connection_alert_sends.state = 'sending' AND connection_alert_sends.updated_at < ?4)",
            params![alert_id, notifier, now, now - CLAIM_LEASE_MS],
        )?;
        Ok(changed == 1)
    }
}

/// The reason as stored: this connection's own secrets and anything credential-shaped masked,
/// bounded (scrub.rs, the same treatment every plugin text gets).
fn stored_reason(c: &ConnectionRuntime, reason: &str) -> String {
    crate::scrub::scrub(reason, &c.secrets())
}

/// `static:` and 16 hex digits of SHA-256(connection, token): changes when the token does,
/// reveals nothing of it.
fn static_generation(connection: &str, token: Option<&str>) -> String {
    let mut h = Sha256::new();
    h.update(b"exlogare connection alert\0");
    h.update(connection.as_bytes());
    h.update([0]);
    h.update(token.unwrap_or("").as_bytes());
    format!("static:{}", &hex::encode(h.finalize())[..16])
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_static_generation_follows_the_token_and_does_not_show_it() {
        let a = super::static_generation("cloud", Some("tok-1"));
        assert_eq!(a, super::static_generation("cloud", Some("tok-1")));
        assert_ne!(a, super::static_generation("cloud", Some("tok-2")));
        assert_ne!(a, super::static_generation("other", Some("tok-1")));
        assert!(
            a.starts_with("static:") && !a.contains("tok") && a.len() == 23,
            "{a}"
        );
    }
}
