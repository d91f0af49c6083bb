//! HTTP for the loaded plugins, so an operator can see which one is switched off by its circuit
//! breaker, why and for how long, and switch it back on after fixing the cause (a plugin
//! upgraded, a provider back) instead of waiting out the cool-down:
//!
//! - `GET /api/plugins` → `{plugins: [{id, name, contract, breaker: {state: "closed",
//!   recent_faults} | {state: "open", reason, reenables_in_secs}, calls_running, call_slots}]}`.
//! - `POST /api/plugins/{id}/breaker/reset` → 200 `{status: "closed", plugin}`; 404 for a plugin
//!   that is not loaded. The breaker forgets its recent faults; the next call runs.
//! - `POST /api/plugins/reload` → the plugins folder loaded again (plugin_reload.rs): 200
//!   `{status: "reloaded", report: {added, replaced, unchanged, kept, refused}, plugins}`, or 422
//!   with `status: "refused"` when a component did not load (its earlier version serves on).
//!
//! Each needs the admin token when one is configured, like the connection endpoints. The
//! breaker lives in the serving process, so this is the way to reach it (a CLI command on
//! the same database would reach another process's plugins).

use crate::accounts::http::{admin, error};
use crate::service::Service;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use exlogare_runtime::plugin::BreakerState;
use serde_json::{Value, json};
use std::sync::Arc;

pub fn routes() -> Router<Arc<Service>> {
    Router::new()
        .route("/api/plugins", get(list))
        .route("/api/plugins/{id}/breaker/reset", post(reset))
        .route("/api/plugins/reload", post(reload))
}

/// `POST /api/plugins/reload`: 200 with what changed, or 422 with the same report when a
/// component was refused (the earlier versions keep serving; the reasons say what to fix).
async fn reload(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    admin(service, &headers, query.as_deref(), move |service| {
        let report = service.reload_plugins();
        let status = if report.has_refusals() {
            axum::http::StatusCode::UNPROCESSABLE_ENTITY
        } else {
            axum::http::StatusCode::OK
        };
        let body = json!({
            "status": if report.has_refusals() { "refused" } else { "reloaded" },
            "report": report,
            "plugins": service.plugins.ids(),
        });
        (status, Json(body)).into_response()
    })
    .await
}

fn breaker(state: BreakerState) -> Value {
    match state {
        BreakerState::Closed { recent_faults } => {
            json!({ "state": "closed", "recent_faults": recent_faults })
        }
        BreakerState::Open {
            reason,
            reenables_in_secs,
        } => json!({
            "state": "open",
            // The reason is the host's fault text (bounded, control characters removed).
            "reason": crate::pipeline::bounded_line(&reason, 300),
            "reenables_in_secs": reenables_in_secs,
        }),
    }
}

async fn list(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    admin(service, &headers, query.as_deref(), move |service| {
        let served = service.plugins.snapshot();
        let plugins: Vec<Value> = served
            .plugins
            .iter()
            .map(|(id, p)| {
                let (slots, running) = p.call_slots();
                json!({
                    "id": id,
                    "name": p.info.display_name,
                    "contract": p.info.contract_version,
                    "file": p.path.display().to_string(),
                    "sha256": service.plugins.digest(id),
                    "breaker": breaker(p.breaker()),
                    "calls_running": running,
                    "call_slots": slots,
                })
            })
            .collect();
        Json(json!({ "plugins": plugins, "last_reload": service.plugins.last_reload() }))
            .into_response()
    })
    .await
}

async fn reset(
    State(service): State<Arc<Service>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    admin(service, &headers, query.as_deref(), move |service| {
        let Some(plugin) = service.plugins.get(&id) else {
            let loaded = service.plugins.ids();
            return error(
                404,
                format!(
                    "no plugin `{}` is loaded (loaded: {})",
                    crate::pipeline::bounded_line(&id, 80),
                    loaded.join(", ")
                ),
            );
        };
        let was = breaker(plugin.breaker());
        plugin.reset_breaker();
        tracing::info!(plugin = %id, "circuit breaker reset by an operator (it was {was})");
        Json(json!({ "status": "closed", "plugin": id, "was": was })).into_response()
    })
    .await
}
