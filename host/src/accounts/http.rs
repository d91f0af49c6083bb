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
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
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

/// Whether a request may use an admin endpoint: with an admin token configured, only when it
/// presents it (bearer header, or `admin_token` in the query for a browser link), compared in
/// constant time; without one, always.
pub fn admin_allowed(expected: Option<&crate::http::Secret>, headers: &HeaderMap, query: Option<&str>) -> bool {
    use subtle::ConstantTimeEq;
    let Some(expected) = expected else { return true };
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let from_query = query.and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "admin_token").map(|(_, v)| v.into_owned())
    });
    [from_header, from_query]
        .into_iter()
        .flatten()
        .any(|presented| bool::from(presented.as_bytes().ct_eq(expected.expose().as_bytes())))
}

fn admin_refusal() -> Response {
    error(401, "this admin endpoint needs the admin token: `Authorization: Bearer <token>` (see [server] admin_token_env)".into())
}

/// `GET /api/connections`: `{connections: [ConnectionView]}`.
async fn connections(State(service): State<Arc<Service>>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    if !admin_allowed(service.admin_token.as_ref(), &headers, query.as_deref()) {
        return admin_refusal();
    }
    match tokio::task::spawn_blocking(move || service.connection_views()).await {
        Ok(views) => Json(json!({ "connections": views })).into_response(),
        Err(e) => error(500, format!("internal error: {e}")),
    }
}

fn error(status: u16, message: String) -> Response {
    (StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), Json(json!({ "error": message }))).into_response()
}

async fn start(
    State(service): State<Arc<Service>>,
    Path((provider, connection)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    // Whoever completes the OAuth flow decides whose tokens the connection uses: only an
    // operator may start it. The callback needs no token: it is bound to a state only start issues.
    if !admin_allowed(service.admin_token.as_ref(), &headers, query.as_deref()) {
        return admin_refusal();
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Secret;

    fn headers(auth: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(a) = auth {
            h.insert(header::AUTHORIZATION, a.parse().unwrap());
        }
        h
    }

    #[test]
    fn admin_endpoints_need_the_token_when_one_is_configured() {
        let token = Secret::new("s3cret-admin");
        assert!(!admin_allowed(Some(&token), &headers(None), None));
        assert!(!admin_allowed(Some(&token), &headers(Some("Bearer wrong")), None));
        assert!(!admin_allowed(Some(&token), &headers(Some("s3cret-admin")), None), "the scheme is required");
        assert!(admin_allowed(Some(&token), &headers(Some("Bearer s3cret-admin")), None));
        assert!(admin_allowed(Some(&token), &headers(None), Some("admin_token=s3cret-admin")));
        assert!(!admin_allowed(Some(&token), &headers(None), Some("admin_token=s3cret-admi")));
    }

    #[test]
    fn without_a_configured_token_the_endpoints_are_open() {
        assert!(admin_allowed(None, &headers(None), None));
    }
}
