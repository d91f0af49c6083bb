//! Watching a project (issue 5): a `PIPELINE_FAIL` webhook pointing at this host, registered
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

use crate::http::Secret;
use crate::plugin::{CallContext, CallOutput, PluginFault};
use crate::service::{ConnectionRuntime, Service};
use crate::storage::now_ms;
use crate::wit::v0_1::{provider, types};
use rand::RngCore;
use rusqlite::{params, OptionalExtension};
use sha2::{Digest, Sha256};

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
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn project_ref(project: &str) -> anyhow::Result<types::ProjectRef> {
    match project.split_once('/') {
        Some((o, n)) if !o.is_empty() && !n.is_empty() && !n.contains('/') => Ok(types::ProjectRef { owner: o.into(), name: n.into(), id: None }),
        _ => anyhow::bail!("project `{project}` must be written owner/name"),
    }
}

impl Service {
    /// Runs a provider call with the connection's token; an OAuth token the provider rejects is
    /// refreshed once and the call retried once.
    pub fn provider_call<T>(
        &self,
        c: &ConnectionRuntime,
        call: impl Fn(CallContext) -> Result<CallOutput<Result<T, types::ProviderError>>, PluginFault>,
    ) -> anyhow::Result<Result<T, types::ProviderError>> {
        if !Self::is_token_managed(c) {
            return Ok(call(self.ctx(c, None))?.value);
        }
        let token = self.connection_token(c)?;
        match call(self.ctx_with_token(c, None, Some(&token)))?.value {
            Err(types::ProviderError::CredentialsRejected(_)) => {
                let fresh = self.refresh_rejected_token(c, &token)?;
                Ok(call(self.ctx_with_token(c, None, Some(&fresh)))?.value)
            }
            other => Ok(other),
        }
    }

    /// Watches `project` (owner/name) on `connection`: a fresh secret, the hook registered via
    /// the plugin (or, with `print_only`, only stored and returned for wiring by hand).
    /// `public_url` is how the provider reaches this host (default `http://{server.listen}`).
    pub fn watch(&self, connection: &str, project: &str, public_url: Option<&str>, print_only: bool) -> anyhow::Result<Watch> {
        let c = self.connection(connection).ok_or_else(|| anyhow::anyhow!("no connection `{connection}` is configured"))?;
        let c = &*c;
        let pref = project_ref(project)?;
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let secret = Secret::new(hex::encode(bytes));
        let base = public_url.map(|u| u.trim_end_matches('/').to_string()).unwrap_or_else(|| self.config.server.public_root());
        let url = format!("{base}/api/integrations/{}/webhook/{connection}?secret={}", c.config.provider, secret.expose());
        let (registration, webhook_id) = if print_only {
            ("manual".to_string(), None)
        } else {
            let plugin = self.plugins.get(&c.config.provider).ok_or_else(|| anyhow::anyhow!("provider plugin `{}` is not loaded", c.config.provider))?;
            let spec = provider::WebhookSpec { url: url.clone(), secret: secret.expose().to_string(), events: vec![WATCH_EVENT.to_string()] };
            let reg = self
                .provider_call(c, |ctx| plugin.register_webhook(ctx, &c.conn, &pref, &spec))?
                .map_err(|e| anyhow::anyhow!("registering the webhook on {project} failed: {e:?}"))?;
            match reg {
                provider::Registration::Created(h) => ("created".to_string(), Some(h.id)),
                provider::Registration::Reused(h) => ("reused".to_string(), Some(h.id)),
                provider::Registration::Repaired(h) => ("repaired".to_string(), Some(h.id)),
            }
        };
        self.store.db().execute(
            "INSERT INTO watched_projects (connection, project, secret_hash, hook_url, webhook_id, mode, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (connection, project) DO UPDATE SET secret_hash = excluded.secret_hash, hook_url = excluded.hook_url,
                 webhook_id = excluded.webhook_id, mode = excluded.mode",
            params![
                connection,
                project,
                secret_hash(secret.expose()),
                format!("{base}/api/integrations/{}/webhook/{connection}", c.config.provider),
                webhook_id,
                if print_only { "manual" } else { "registered" },
                now_ms()
            ],
        )?;
        Ok(Watch { connection: connection.into(), project: project.into(), url, secret, event: WATCH_EVENT, registration, webhook_id })
    }

    /// Stops watching: removes our hook through the plugin (when it was registered), forgets
    /// the secret and the polling watermark. False when the project was not watched.
    pub fn unwatch(&self, connection: &str, project: &str) -> anyhow::Result<bool> {
        let c = self.connection(connection).ok_or_else(|| anyhow::anyhow!("no connection `{connection}` is configured"))?;
        let c = &*c;
        let row: Option<(Option<String>, String)> = self
            .store
            .db()
            .query_row("SELECT webhook_id, mode FROM watched_projects WHERE connection = ?1 AND project = ?2", params![connection, project], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        let Some((webhook_id, mode)) = row else { return Ok(false) };
        if let (Some(id), "registered") = (webhook_id, mode.as_str()) {
            let plugin = self.plugins.get(&c.config.provider).ok_or_else(|| anyhow::anyhow!("provider plugin `{}` is not loaded", c.config.provider))?;
            let pref = project_ref(project)?;
            match self.provider_call(c, |ctx| plugin.remove_webhook(ctx, &c.conn, &pref, &id))? {
                Ok(()) | Err(types::ProviderError::NotFound(_)) => {}
                Err(e) => anyhow::bail!("removing the webhook from {project} failed: {e:?}"),
            }
        }
        self.store.db().execute("DELETE FROM watched_projects WHERE connection = ?1 AND project = ?2", params![connection, project])?;
        super::poller::forget(&self.store, connection, project)?;
        Ok(true)
    }

    /// The projects watched on `connection`.
    pub fn watched_projects(&self, connection: &str) -> anyhow::Result<Vec<String>> {
        let db = self.store.db();
        let mut st = db.prepare("SELECT project FROM watched_projects WHERE connection = ?1 ORDER BY project")?;
        let rows = st.query_map([connection], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// A delivery's `?secret=` that belongs to a watch of `connection`: the secret and the
    /// watched project (the only one it may report on).
    pub fn watch_secret_for(&self, connection: &str, raw_query: Option<&str>) -> Option<(Secret, String)> {
        let given = url::form_urlencoded::parse(raw_query?.as_bytes()).find(|(k, _)| k == "secret").map(|(_, v)| v.into_owned())?;
        let project: Option<String> = self
            .store
            .db()
            .query_row(
                "SELECT project FROM watched_projects WHERE connection = ?1 AND secret_hash = ?2",
                params![connection, secret_hash(&given)],
                |r| r.get(0),
            )
            .optional()
            .ok()
            .flatten();
        project.map(|p| (Secret::new(given), p))
    }
}

impl Service {
    /// Sync: every project the connection's user can watch (`list-projects` over all pages —
    /// on GitFlic `/project/my` then `/project/shared`), optionally filtered by `search`.
    pub fn sync_projects(&self, connection: &str, search: Option<&str>) -> anyhow::Result<Vec<types::Project>> {
        const MAX_PAGES: usize = 200;
        let c = self.connection(connection).ok_or_else(|| anyhow::anyhow!("no connection `{connection}` is configured"))?;
        let c = &*c;
        let plugin = self.plugins.get(&c.config.provider).ok_or_else(|| anyhow::anyhow!("provider plugin `{}` is not loaded", c.config.provider))?;
        let search = search.map(String::from);
        let mut cursor: Option<String> = None;
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let page = self
                .provider_call(c, |ctx| plugin.list_projects(ctx, &c.conn, search.as_deref(), cursor.as_deref()))?
                .map_err(|e| anyhow::anyhow!("listing projects failed: {e:?}"))?;
            out.extend(page.projects);
            match page.next_cursor {
                Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
                _ => return Ok(out),
            }
        }
        anyhow::bail!("listing projects did not end after {MAX_PAGES} pages")
    }
}
