//! HTTP for accounts (issue 5): the OAuth start and callback endpoints, mapped onto
//! [`Service::oauth_start`] / [`Service::oauth_callback`] (accounts/service.rs).
//!
//! - `GET /api/integrations/{provider}/oauth/start/{connection}` → 302 to the authorize URL.
//! - `POST /api/integrations/{provider}/oauth/callback` with JSON `{code, state}` (GitFlic's
//!   server-to-server form) and `GET ...?code=&state=` (a browser) → 200 `{status: connected}`;
//!   a wrong, reused or expired state → 400 with `{error}`.
//! - `GET /api/connections` → each connection's status, last error and calls used this hour.

use crate::service::Service;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Service>> {
    Router::new()
        .route("/api/integrations/{provider}/oauth/start/{connection}", get(start))
        .route("/api/integrations/{provider}/oauth/callback", get(callback_get).post(callback_post))
        .route("/api/connections", get(connections))
}

/// `GET /api/connections`: `{connections: [ConnectionView]}`.
async fn connections(State(service): State<Arc<Service>>) -> Response {
    match tokio::task::spawn_blocking(move || service.connection_views()).await {
        Ok(views) => Json(json!({ "connections": views })).into_response(),
        Err(e) => error(500, format!("internal error: {e}")),
    }
}

fn error(status: u16, message: String) -> Response {
    (StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), Json(json!({ "error": message }))).into_response()
}

async fn start(State(service): State<Arc<Service>>, Path((provider, connection)): Path<(String, String)>) -> Response {
    match tokio::task::spawn_blocking(move || service.oauth_start(&provider, &connection)).await {
        Ok(Ok(url)) => (StatusCode::FOUND, [(header::LOCATION, url)]).into_response(),
        Ok(Err(r)) => error(r.status, r.message),
        Err(e) => error(500, format!("internal error: {e}")),
    }
}

#[derive(Debug, Default, Deserialize)]
struct CallbackParams {
    #[serde(default)]
    code: String,
    #[serde(default)]
    state: String,
}

async fn callback(service: Arc<Service>, provider: String, p: CallbackParams) -> Response {
    match tokio::task::spawn_blocking(move || service.oauth_callback(&provider, &p.code, &p.state)).await {
        Ok(Ok(body)) => Json(body).into_response(),
        Ok(Err(r)) => error(r.status, r.message),
        Err(e) => error(500, format!("internal error: {e}")),
    }
}

async fn callback_get(State(service): State<Arc<Service>>, Path(provider): Path<String>, Query(p): Query<CallbackParams>) -> Response {
    callback(service, provider, p).await
}

/// The body is read as JSON whatever its content type says (the sender's header is not relied on).
async fn callback_post(State(service): State<Arc<Service>>, Path(provider): Path<String>, body: Bytes) -> Response {
    match serde_json::from_slice::<CallbackParams>(&body) {
        Ok(p) => callback(service, provider, p).await,
        Err(e) => error(400, format!("the OAuth callback body must be JSON {{\"code\": ..., \"state\": ...}}: {e}")),
    }
}
