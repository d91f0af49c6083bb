//! HTTP for parked deliveries, so an operator can see why each stopped and send it through
//! again once the cause is fixed (a plugin upgraded, a bug fixed, a connection repaired):
//!
//! - `GET /api/deliveries/parked[?limit=N]` → `{parked: [{id, connection, project, pipeline,
//!   attempts, reason, received_at}]}`, newest first (default 50, at most 1000).
//! - `POST /api/deliveries/{id}/retry` → 200 `{status: "queued", delivery}` with fresh attempts;
//!   404 for no such delivery, 409 when it is not parked (queued, running or done).
//! - `POST /api/deliveries/parked/retry` → 200 `{status: "queued", count}`: every parked one.
//!
//! Each needs the admin token when one is configured, like the connection endpoints.

use crate::accounts::http::{admin, error};
use crate::service::Service;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Service>> {
    Router::new()
        .route("/api/deliveries/parked", get(list))
        .route("/api/deliveries/parked/retry", post(retry_all))
        .route("/api/deliveries/{id}/retry", post(retry_one))
}

async fn list(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let limit = query.as_deref().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "limit")
            .map(|(_, v)| v.into_owned())
    });
    let limit = match limit.map(|l| l.parse::<u32>()) {
        None => 50,
        Some(Ok(n)) if (1..=1000).contains(&n) => n,
        Some(_) => return error(400, "limit must be a number from 1 to 1000".into()),
    };
    admin(service, &headers, query.as_deref(), move |service| match service.store.deliveries_in("parked", limit) {
        Ok(list) => {
            let parked: Vec<_> = list
                .iter()
                .map(|d| {
                    json!({
                        "id": d.id, "connection": d.connection, "project": d.project, "pipeline": d.pipeline,
                        "attempts": d.attempts, "reason": d.last_error, "received_at": d.received_at,
                    })
                })
                .collect();
            Json(json!({ "parked": parked })).into_response()
        }
        Err(e) => error(503, format!("the parked deliveries could not be read: {e}")),
    })
    .await
}

async fn retry_one(
    State(service): State<Arc<Service>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return error(404, format!("no delivery `{id}`: delivery ids are numbers"));
    };
    admin(service, &headers, query.as_deref(), move |service| {
        let current = match service.store.delivery(id) {
            Ok(Some(d)) => d,
            Ok(None) => return error(404, format!("no delivery {id}")),
            Err(e) => return error(503, format!("delivery {id} could not be read: {e}")),
        };
        match service.store.retry_parked(id) {
            Ok(true) => {
                service.wakeup.notify();
                tracing::info!(delivery = id, project = %current.project, pipeline = %current.pipeline, "queued again by an operator");
                Json(json!({ "status": "queued", "delivery": id })).into_response()
            }
            Ok(false) => error(409, format!("delivery {id} is {}, not parked; only parked deliveries are retried", current.state)),
            Err(e) => error(503, format!("delivery {id} could not be queued again: {e}")),
        }
    })
    .await
}

async fn retry_all(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    admin(
        service,
        &headers,
        query.as_deref(),
        move |service| match service.store.retry_all_parked() {
            Ok(count) => {
                service.wakeup.notify();
                tracing::info!(count, "every parked delivery queued again by an operator");
                Json(json!({ "status": "queued", "count": count })).into_response()
            }
            Err(e) => error(
                503,
                format!("the parked deliveries could not be queued again: {e}"),
            ),
        },
    )
    .await
}
