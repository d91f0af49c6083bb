//! HTTP: the webhook endpoint, `/healthz` and `/metrics`, mapped onto [`Service`].

use crate::service::Service;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use std::sync::Arc;

pub fn router(service: Arc<Service>) -> Router {
    // The limit sits above the configured one so that an over-size body reaches the handler
    // and gets our JSON 413, while a body far past it is cut off by axum without buffering.
    let hard_limit = service
        .config
        .server
        .max_body_bytes
        .saturating_mul(2)
        .max(64 * 1024);
    Router::new()
        .route(
            "/api/integrations/{provider}/webhook/{connection}",
            post(webhook),
        )
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .merge(crate::accounts::http::routes())
        .merge(crate::parked_http::routes())
        .layer(DefaultBodyLimit::max(hard_limit))
        .with_state(service)
}

async fn webhook(
    State(service): State<Arc<Service>>,
    Path((provider, connection)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(rejection) => {
            let status = rejection.status();
            let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
                format!(
                    "the body is over the limit of {} bytes",
                    service.config.server.max_body_bytes
                )
            } else {
                format!("the body could not be read: {rejection}")
            };
            service
                .metrics
                .delivery(&provider, &format!("http_{}", status.as_u16()));
            return (status, Json(json!({ "error": message }))).into_response();
        }
    };
    let headers: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(k, v)| {
            v.to_str()
                .ok()
                .map(|v| (k.as_str().to_string(), v.to_string()))
        })
        .collect();
    // Plugin calls block (wasmtime sync + epoch deadline): keep them off the async threads.
    let reply = tokio::task::spawn_blocking(move || {
        service.webhook(&provider, &connection, query.as_deref(), headers, &body)
    })
    .await;
    match reply {
        Ok(reply) => {
            let mut resp = (
                StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                Json(reply.body),
            )
                .into_response();
            if let Some(secs) = reply.retry_after_secs {
                resp.headers_mut()
                    .insert("retry-after", HeaderValue::from(secs));
            }
            resp
        }
        Err(e) => {
            tracing::error!("checking a delivery crashed: {e}");
            let message =
                "checking the delivery failed inside the service; nothing was stored; retry later";
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "internal_error", "error": message })),
            )
                .into_response()
        }
    }
}

async fn healthz(State(service): State<Arc<Service>>) -> Response {
    // Both read SQLite, which may wait on its lock: not on an async thread.
    let read = tokio::task::spawn_blocking({
        let service = service.clone();
        move || {
            service
                .store
                .queue_depth()
                .map(|depth| (depth, service.connection_ids().len()))
        }
    })
    .await;
    match read {
        Ok(Ok((depth, connections))) => Json(json!({
            "status": "ok",
            "providers": service.plugins.plugins.keys().collect::<Vec<_>>(),
            "connections": connections,
            "queue_depth": depth,
        }))
        .into_response(),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "storage unavailable" })),
        )
            .into_response(),
    }
}

async fn metrics(State(service): State<Arc<Service>>) -> Response {
    // SQLite may wait on its lock (busy timeout): not on an async thread.
    let rendered = tokio::task::spawn_blocking(move || {
        let depth = service.store.queue_depth().unwrap_or(0);
        let views = service.connection_views();
        let samples: Vec<_> = views
            .iter()
            .map(|v| crate::metrics::ConnectionSample {
                id: &v.id,
                provider: &v.provider,
                status: &v.status,
                calls_used: v.calls_used_this_hour.unwrap_or(0),
                calls_per_hour: v.calls_per_hour,
            })
            .collect();
        service.metrics.render(depth, &samples)
    })
    .await
    .unwrap_or_default();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        rendered,
    )
        .into_response()
}
