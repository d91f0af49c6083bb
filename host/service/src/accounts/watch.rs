//! Watching a project: a `PIPELINE_FAIL` webhook pointing at this host, registered
//! idempotently through the plugin (an existing hook of ours is reused or repaired, never
//! duplicated), or printed for wiring by hand; [`Service::unwatch`] removes it.
//!
//! Secret: each watch gets a **fresh random per-project secret** (256 bits, hex), put both in
//! the hook's `secret` field and in the URL's `?secret=`. Only its SHA-256 is stored
//! (`watched_projects`). On a delivery, [`Service::watch_secret_for`] recognises the `?secret=`
//! of a watch of that connection and the service verifies the delivery against it (header and
//! query must both match where present — the plugin's rule) and accepts it only for that
//! watch's project. A delivery without a watch secret falls back to the connection's
//! configured `webhook_secret_*`. Watching again rotates the secret (the hook is repaired).
//!
//! Rotation order, so no delivery is refused and no hook is left with a secret we do not know:
//! 1. the new secret's hash is stored as `pending_secret_hash` beside the current one (a new
//!    watch gets its row now, with the new secret as its only one);
//! 2. the hook is registered at the provider; deliveries carrying the current *or* the pending
//!    secret are accepted meanwhile (the provider may start sending the new one before it
//!    answers us);
//! 3. on success the pending hash replaces the current one (the old secret stops working); on
//!    a refusal the pending one is dropped and the old one kept (a new watch's row is removed);
//!    on a failure that may have come after the provider applied it (a timeout, a 5xx, a plugin
//!    fault) both stay accepted until the next watch finishes the rotation.
//!
//! A crash between 1 and 3 leaves both hashes stored, so whatever the hook ended up with is
//! still accepted; watching again finishes the rotation.

use crate::service::{ConnectionRuntime, Service};
use crate::storage::now_ms;
use exlogare_runtime::contract;
use exlogare_runtime::http::Secret;
use exlogare_runtime::plugin::{CallContext, CallOutput, PluginFault};
use exlogare_storage::{OptionalExtension, params};

/// The event a watch subscribes to.
pub const WATCH_EVENT: &str = "PIPELINE_FAIL";

/// What `watch` did, with everything needed to wire the hook by hand.
#[derive(Debug, Clone)]
pub struct Watch {
    pub connection: String,
    pub project: String,
    /// The exact URL the hook posts to (it carries `?secret=`).
    pub url: String,
    pub secret: Secret,
    pub event: &'static str,
    /// `created`, `reused`, `repaired`, or `manual` (printed only).
    pub registration: String,
    pub webhook_id: Option<String>,
}

fn secret_hash(secret: &str) -> String {
    crate::secret_hex::sha256_hex(secret)
}

/// How long a retired secret is remembered to explain a refusal: long past any provider's
/// redelivery window, short enough that the table stays small.
const RETIRED_SECRETS_KEPT_MS: i64 = 180 * 24 * 3600 * 1000;

/// Remembers the secrets of `project`'s watch (current and in flight, except `keep`) as
/// retired for `reason` (`rotated` or `unwatched`), so a delivery still carrying one is told
/// what happened to it.
fn retire_secrets(
    db: &exlogare_storage::Conn<'_>,
    connection: &str,
    project: &str,
    reason: &str,
    keep: Option<&str>,
) -> exlogare_storage::Result<()> {
    let now = now_ms();
    db.execute(
        "INSERT INTO retired_webhook_secrets (connection, project, secret_hash, reason, retired_at)
         SELECT ?1, ?2, h, CAST(?3 AS TEXT), CAST(?4 AS BIGINT) FROM (
             SELECT secret_hash AS h FROM watched_projects WHERE connection = ?1 AND project = ?2
             UNION ALL
             SELECT pending_secret_hash FROM watched_projects
              WHERE connection = ?1 AND project = ?2 AND pending_secret_hash IS NOT NULL) AS held
         WHERE h != COALESCE(?5, '')
         ON CONFLICT (connection, secret_hash) DO UPDATE SET
             project = excluded.project, reason = excluded.reason, retired_at = excluded.retired_at",
        params![connection, project, reason, now, keep],
    )?;
    db.execute(
        "DELETE FROM retired_webhook_secrets WHERE retired_at < ?1",
        [now - RETIRED_SECRETS_KEPT_MS],
    )?;
    Ok(())
}

/// `owner/name` as the provider's project reference.
pub(crate) fn project_ref(project: &str) -> anyhow::Result<contract::ProjectRef> {
    match project.split_once('/') {
        Some((o, n)) if !o.is_empty() && !n.is_empty() && !n.contains('/') => {
            Ok(contract::ProjectRef {
                owner: o.into(),
                name: n.into(),
                id: None,
            })
        }
        _ => anyhow::bail!("project `{project}` must be written owner/name"),
    }
}

impl Service {
    /// Runs a provider call with the connection's token; an OAuth token the provider rejects is
    /// refreshed once and the call retried once.
    pub fn provider_call<T>(
        &self,
        c: &ConnectionRuntime,
        call: impl Fn(
            CallContext,
        ) -> Result<CallOutput<Result<T, contract::ProviderError>>, PluginFault>,
    ) -> anyhow::Result<Result<T, contract::ProviderError>> {
        if !Self::is_token_managed(c) {
            return Ok(call(self.ctx(c, None))?.value);
        }
        let token = self.connection_token(c)?;
        match call(self.ctx_with_token(c, None, Some(&token)))?.value {
            Err(contract::ProviderError::CredentialsRejected(_)) => {
                let fresh = self.refresh_rejected_token(c, &token)?;
                Ok(call(self.ctx_with_token(c, None, Some(&fresh)))?.value)
            }
            other => Ok(other),
        }
    }

    /// Watches `project` (owner/name) on `connection`: a fresh secret, the hook registered via
    /// the plugin (or, with `print_only`, only stored and returned for wiring by hand).
    /// `public_url` is how the provider reaches this host (default `http://{server.listen}`).
    pub fn watch(
        &self,
        connection: &str,
        project: &str,
        public_url: Option<&str>,
        print_only: bool,
    ) -> anyhow::Result<Watch> {
        let c = self
            .connection(connection)
            .ok_or_else(|| anyhow::anyhow!("no connection `{connection}` is configured"))?;
        let c = &*c;
        let project = &self.watch_key(connection, project)?;
        let pref = project_ref(project)?;
        let secret = Secret::new(crate::secret_hex::random_256_hex());
        let base = public_url
            .map(|u| u.trim_end_matches('/').to_string())
            .unwrap_or_else(|| self.config.server.public_root());
        let url = format!(
            "{base}/api/integrations/{}/webhook/{connection}?secret={}",
            c.config.provider,
            secret.expose()
        );
        let hash = secret_hash(secret.expose());
        let hook_url = format!(
            "{base}/api/integrations/{}/webhook/{connection}",
            c.config.provider
        );
        if print_only {
            // Wired by hand: there is no registration to wait for.
            retire_secrets(&self.store.db()?, connection, project, "rotated", None)?;
            self.store.db()?.execute(
                "INSERT INTO watched_projects (connection, project, secret_hash, hook_url, webhook_id, mode, created_at) VALUES (?1, ?2, ?3, ?4, NULL, 'manual', ?5)
                 ON CONFLICT (connection, project) DO UPDATE SET secret_hash = excluded.secret_hash, hook_url = excluded.hook_url,
                     webhook_id = NULL, mode = 'manual', pending_secret_hash = NULL, pending_since = NULL",
                params![connection, project, hash, hook_url, now_ms()],
            )?;
            return Ok(Watch {
                connection: connection.into(),
                project: project.into(),
                url,
                secret,
                event: WATCH_EVENT,
                registration: "manual".into(),
                webhook_id: None,
            });
        }
        let plugin = self.plugins.get(&c.config.provider).ok_or_else(|| {
            anyhow::anyhow!("provider plugin `{}` is not loaded", c.config.provider)
        })?;
        // 1. The new secret is known before the provider can use it.
        let is_new = {
            let db = self.store.db()?;
            let tx = db.transaction(&format!("watch:{connection}:{project}"))?;
            let exists = tx
                .query_row(
                    "SELECT 1 FROM watched_projects WHERE connection = ?1 AND project = ?2",
                    params![connection, project],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if exists {
                tx.execute(
                    "UPDATE watched_projects SET pending_secret_hash = ?3, pending_since = ?4 WHERE connection = ?1 AND project = ?2",
                    params![connection, project, hash, now_ms()],
                )?;
            } else {
                tx.execute(
                    "INSERT INTO watched_projects (connection, project, secret_hash, hook_url, webhook_id, mode, created_at) VALUES (?1, ?2, ?3, ?4, NULL, 'registering', ?5)",
                    params![connection, project, hash, hook_url, now_ms()],
                )?;
            }
            tx.commit()?;
            !exists
        };
        // 2. Registration; deliveries with either secret are accepted meanwhile.
        let spec = contract::WebhookSpec {
            url: url.clone(),
            secret: secret.expose().to_string(),
            events: vec![WATCH_EVENT.to_string()],
        };
        // The watch's secret is the plugin's to register, not to log.
        let attempt = self.provider_call(c, |mut ctx| {
            ctx.redact.push(secret.clone());
            plugin.register_webhook(ctx, &c.conn, &pref, &spec)
        });
        // A timeout, a 5xx or a plugin fault may come after the provider applied the new secret:
        // then both secrets stay accepted (the hook has one of them) until the next watch.
        let may_have_landed = match &attempt {
            Ok(Err(contract::ProviderError::Transient(_))) => true,
            Ok(_) => false,
            Err(e) => e.downcast_ref::<PluginFault>().is_some(),
        };
        let registered = attempt.and_then(|r| {
            r.map_err(|e| {
                anyhow::anyhow!(
                    "registering the webhook on {project} failed: {}",
                    crate::pipeline::provider_error_words(&e)
                )
            })
        });
        let reg = match registered {
            Ok(reg) => reg,
            Err(e) if may_have_landed => {
                tracing::warn!(
                    connection,
                    project,
                    "the registration may have reached the provider: both secrets stay accepted until the next watch"
                );
                return Err(e.context(format!(
                    "the provider may have applied the new secret anyway, so deliveries with the old or the new secret are accepted; watch {project} again to finish"
                )));
            }
            Err(e) => {
                // 3b. The old secret stays; the pending one (or the new row) goes.
                let db = self.store.db()?;
                let undone = if is_new {
                    db.execute(
                        "DELETE FROM watched_projects WHERE connection = ?1 AND project = ?2 AND mode = 'registering' AND secret_hash = ?3",
                        params![connection, project, hash],
                    )
                } else {
                    db.execute(
                        "UPDATE watched_projects SET pending_secret_hash = NULL, pending_since = NULL WHERE connection = ?1 AND project = ?2 AND pending_secret_hash = ?3",
                        params![connection, project, hash],
                    )
                };
                if let Err(undo) = undone {
                    tracing::error!(
                        connection,
                        project,
                        "forgetting the secret of a failed registration: {undo}"
                    );
                }
                return Err(e);
            }
        };
        let (registration, webhook_id) = match reg {
            contract::Registration::Created(h) => ("created".to_string(), Some(h.id)),
            contract::Registration::Reused(h) => ("reused".to_string(), Some(h.id)),
            contract::Registration::Repaired(h) => ("repaired".to_string(), Some(h.id)),
        };
        // 3a. The new secret replaces the old one — unless a later watch of the same project
        // has put its own secret in flight meanwhile (it finishes the rotation).
        let promoted = {
            let db = self.store.db()?;
            let tx = db.transaction(&format!("watch:{connection}:{project}"))?;
            let ours = tx
                .query_row(
                    "SELECT 1 FROM watched_projects WHERE connection = ?1 AND project = ?2 AND (pending_secret_hash = ?3 OR (pending_secret_hash IS NULL AND secret_hash = ?3))",
                    params![connection, project, hash],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if ours {
                retire_secrets(&tx, connection, project, "rotated", Some(&hash))?;
            }
            let promoted = tx.execute(
                "UPDATE watched_projects SET secret_hash = ?3, pending_secret_hash = NULL, pending_since = NULL, hook_url = ?4, webhook_id = ?5, mode = 'registered'
                 WHERE connection = ?1 AND project = ?2 AND (pending_secret_hash = ?3 OR (pending_secret_hash IS NULL AND secret_hash = ?3))",
                params![connection, project, hash, hook_url, webhook_id],
            )?;
            tx.commit()?;
            promoted
        };
        if promoted == 0 {
            tracing::warn!(
                connection,
                project,
                "another watch of this project changed its secret during this registration; it keeps its own"
            );
        }
        Ok(Watch {
            connection: connection.into(),
            project: project.into(),
            url,
            secret,
            event: WATCH_EVENT,
            registration,
            webhook_id,
        })
    }

    /// The key a watch of `project` is stored under: an existing watch's own spelling when one
    /// matches case-insensitively (GitFlic aliases are; `Acme/API` and `acme/api` are one
    /// project with one hook), else `project` as typed.
    fn watch_key(&self, connection: &str, project: &str) -> anyhow::Result<String> {
        let existing: Option<String> = self
            .store
            .db()?
            .query_row(
                "SELECT project FROM watched_projects WHERE connection = ?1 AND LOWER(project) = LOWER(?2) ORDER BY project = ?2 DESC LIMIT 1",
                params![connection, project],
                |r| r.get(0),
            )
            .optional()?;
        Ok(existing.unwrap_or_else(|| project.to_string()))
    }

    /// Stops watching: removes our hook through the plugin (when it was registered), forgets
    /// the secret and the polling watermark. False when the project was not watched.
    pub fn unwatch(&self, connection: &str, project: &str) -> anyhow::Result<bool> {
        let c = self
            .connection(connection)
            .ok_or_else(|| anyhow::anyhow!("no connection `{connection}` is configured"))?;
        let c = &*c;
        let project = &self.watch_key(connection, project)?;
        let row: Option<(Option<String>, String)> = self
            .store
            .db()?
            .query_row("SELECT webhook_id, mode FROM watched_projects WHERE connection = ?1 AND project = ?2", params![connection, project], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        let Some((webhook_id, mode)) = row else {
            return Ok(false);
        };
        if let (Some(id), "registered") = (webhook_id, mode.as_str()) {
            let plugin = self.plugins.get(&c.config.provider).ok_or_else(|| {
                anyhow::anyhow!("provider plugin `{}` is not loaded", c.config.provider)
            })?;
            let pref = project_ref(project)?;
            match self.provider_call(c, |ctx| plugin.remove_webhook(ctx, &c.conn, &pref, &id))? {
                Ok(()) | Err(contract::ProviderError::NotFound(_)) => {}
                Err(e) => anyhow::bail!(
                    "removing the webhook from {project} failed: {}",
                    crate::pipeline::provider_error_words(&e)
                ),
            }
        }
        {
            let db = self.store.db()?;
            let tx = db.transaction(&format!("watch:{connection}:{project}"))?;
            retire_secrets(&tx, connection, project, "unwatched", None)?;
            tx.execute(
                "DELETE FROM watched_projects WHERE connection = ?1 AND project = ?2",
                params![connection, project],
            )?;
            tx.commit()?;
        }
        super::poller::forget(&self.store, connection, project)?;
        Ok(true)
    }

    /// The projects watched on `connection`.
    pub fn watched_projects(&self, connection: &str) -> anyhow::Result<Vec<String>> {
        Ok(self.store.db()?.query_map(
            "SELECT project FROM watched_projects WHERE connection = ?1 ORDER BY project",
            [connection],
            |r| r.get::<String>(0),
        )?)
    }

    /// A delivery's `?secret=` that belongs to a watch of `connection` (its current secret, or
    /// one whose registration is in flight): the secret and the watched project (the only one
    /// it may report on).
    pub fn watch_secret_for(
        &self,
        connection: &str,
        raw_query: Option<&str>,
    ) -> Option<(Secret, String)> {
        let given = url::form_urlencoded::parse(raw_query?.as_bytes())
            .find(|(k, _)| k == "secret")
            .map(|(_, v)| v.into_owned())?;
        let project: Option<String> = self
            .store
            .db()
            .ok()?
            .query_row(
                "SELECT project FROM watched_projects WHERE connection = ?1 AND (secret_hash = ?2 OR pending_secret_hash = ?2)",
                params![connection, secret_hash(&given)],
                |r| r.get(0),
            )
            .optional()
            .ok()
            .flatten();
        project.map(|p| (Secret::new(given), p))
    }

    /// Why a delivery's `?secret=` is not (or no longer) a watch secret of `connection`, when
    /// this host knows: it belonged to a watch that was rotated or removed, or it is another
    /// connection's. `None` when the URL has no secret or it is unknown here.
    pub fn refused_secret_reason(
        &self,
        connection: &str,
        raw_query: Option<&str>,
    ) -> Option<String> {
        let given = url::form_urlencoded::parse(raw_query?.as_bytes())
            .find(|(k, _)| k == "secret")
            .map(|(_, v)| v.into_owned())?;
        let hash = secret_hash(&given);
        let db = self.store.db().ok()?;
        let retired: Option<(String, String, i64)> = db
            .query_row(
                "SELECT project, reason, retired_at FROM retired_webhook_secrets WHERE connection = ?1 AND secret_hash = ?2",
                params![connection, hash],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .ok()
            .flatten();
        if let Some((project, reason, at)) = retired {
            let when = ago(now_ms() - at);
            return Some(if reason == "unwatched" {
                format!(
                    "the secret in this hook's URL is that of {project}'s watch, which was removed {when} (unwatched); delete this hook from {project}'s webhook settings, or watch {project} again"
                )
            } else {
                format!(
                    "the secret in this hook's URL is an old one of {project}'s watch, replaced {when} when {project} was watched again; the provider still sends with the old secret from a stale hook or a redelivery: watch {project} again to repair its hook, or delete the stale one"
                )
            });
        }
        let elsewhere: Option<(String, String)> = db
            .query_row(
                "SELECT connection, project FROM watched_projects WHERE connection != ?1 AND (secret_hash = ?2 OR pending_secret_hash = ?2) LIMIT 1",
                params![connection, hash],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .ok()
            .flatten();
        elsewhere.map(|(other, project)| {
            format!(
                "the secret in this hook's URL belongs to connection `{other}`'s watch of {project}, but the URL names connection `{connection}`; correct the hook's URL"
            )
        })
    }
}

/// `3 minutes ago`, `2 days ago`: when a secret stopped working, in words.
fn ago(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    let (n, unit) = match s {
        0..60 => return "just now".to_string(),
        60..3600 => (s / 60, "minute"),
        3600..86400 => (s / 3600, "hour"),
        _ => (s / 86400, "day"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

impl Service {
    /// Sync: every project the connection's user can watch (`list-projects` over all pages —
    /// on GitFlic `/project/my` then `/project/shared`), optionally filtered by `search`.
    pub fn sync_projects(
        &self,
        connection: &str,
        search: Option<&str>,
    ) -> anyhow::Result<Vec<contract::Project>> {
        const MAX_PAGES: usize = 200;
        let c = self
            .connection(connection)
            .ok_or_else(|| anyhow::anyhow!("no connection `{connection}` is configured"))?;
        let c = &*c;
        let plugin = self.plugins.get(&c.config.provider).ok_or_else(|| {
            anyhow::anyhow!("provider plugin `{}` is not loaded", c.config.provider)
        })?;
        let search = search.map(String::from);
        let mut cursor: Option<String> = None;
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let page = self
                .provider_call(c, |ctx| {
                    plugin.list_projects(ctx, &c.conn, search.as_deref(), cursor.as_deref())
                })?
                .map_err(|e| {
                    anyhow::anyhow!(
                        "listing projects failed: {}",
                        crate::pipeline::provider_error_words(&e)
                    )
                })?;
            out.extend(page.projects);
            match page.next_cursor {
                Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
                _ => return Ok(out),
            }
        }
        anyhow::bail!("listing projects did not end after {MAX_PAGES} pages")
    }
}
