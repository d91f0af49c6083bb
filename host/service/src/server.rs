//! HTTP: the webhook endpoint, `/healthz` and `/metrics`, mapped onto [`Service`].
//!
//! The webhook endpoint faces the internet and its callers are not authenticated until a
//! plugin has checked the delivery, so:
//! - a provider name that no plugin provides is answered here (404) and counted under the one
//!   label `unknown`: a made-up name never reaches a metric label or grows memory;
//! - at most `[server] max_concurrent_verifications` deliveries are checked at once, below the
//!   engine's instance pool; the excess waits up to [`VERIFY_WAIT`] and then gets 503 with
//!   `Retry-After` without running any plugin, which is host capacity, never a plugin fault;
//! - refusals carry fixed phrases, never a plugin's or a trap's text (which is the plugin's to
//!   choose, and may hold what it was given).
//!
//! The admin endpoints (`/api/connections…`, `/api/deliveries…`, `/api/plugins…`, OAuth start) may be open
//! without a token on loopback, where any web page the operator visits can aim a request at
//! them; [`admin_guard`] refuses what a browser would send on another site's behalf: a `Host`
//! that is not this host (DNS rebinding), an `Origin` of another site, and a body that is not
//! declared `application/json` (a cross-site `text/plain` form post needs no preflight).

use crate::metrics::UNKNOWN_PROVIDER;
use crate::service::Service;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Extension, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// How long a delivery waits for a verification slot before it gets 503: long enough to ride
/// out a burst, short enough that a flood does not hold connections open.
pub const VERIFY_WAIT: Duration = Duration::from_millis(500);
/// What a delivery refused for lack of a slot is told to wait before it retries.
pub const BUSY_RETRY_AFTER_SECS: u64 = 5;

/// The slots for webhook verifications (`[server] max_concurrent_verifications`).
#[derive(Clone)]
struct Verifications(Arc<Semaphore>);

pub fn router(service: Arc<Service>) -> Router {
    // The limit sits above the configured one so that an over-size body reaches the handler
    // and gets our JSON 413, while a body far past it is cut off by axum without buffering.
    let hard_limit = service
        .config
        .server
        .max_body_bytes
        .saturating_mul(2)
        .max(64 * 1024);
    let verifications = Verifications(Arc::new(Semaphore::new(
        service.config.server.max_concurrent_verifications as usize,
    )));
    Router::new()
        .route(
            "/api/integrations/{provider}/webhook/{connection}",
            post(webhook).layer(Extension(verifications)),
        )
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .merge(crate::accounts::http::routes())
        .merge(crate::parked_http::routes())
        .merge(crate::plugins_http::routes())
        .layer(DefaultBodyLimit::max(hard_limit))
        .layer(axum::middleware::from_fn_with_state(
            service.clone(),
            admin_guard,
        ))
        .with_state(service)
}

/// Whether `path` is an admin endpoint (the OAuth callback is not: the provider sends the
/// browser there, and it is bound to the state that start issued).
fn is_admin_path(path: &str) -> bool {
    path.starts_with("/api/connections")
        || path.starts_with("/api/deliveries")
        || path.starts_with("/api/plugins")
        || (path.starts_with("/api/integrations/") && path.contains("/oauth/start/"))
}

/// The host name of a `Host` value or an origin's authority, without port or IPv6 brackets.
fn host_name(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    authority.rsplit_once(':').map_or(authority, |(h, _)| h)
}

/// A host name this service answers admin requests for: an IP address (no page can rebind a
/// literal address to itself), `localhost`, the listen address's name, or the public URL's.
fn is_our_host(service: &Service, name: &str) -> bool {
    let server = &service.config.server;
    name.parse::<std::net::IpAddr>().is_ok()
        || name.eq_ignore_ascii_case("localhost")
        || name.eq_ignore_ascii_case(host_name(&server.listen))
        || server
            .public_url
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok())
            .and_then(|u| u.host_str().map(|h| h.trim_matches(['[', ']']).to_string()))
            .is_some_and(|h| name.eq_ignore_ascii_case(&h))
}

/// Why a request that acts for the operator must be refused as sent on another site's
/// behalf, if it must: a `Host` that is not this host (DNS rebinding) or an `Origin` of another
/// site. `what` names the refusing surface in the message. Shared by [`admin_guard`] and the
/// Integrations page (host/web), which face the same browsers.
pub fn cross_site_refusal(
    service: &Service,
    headers: &HeaderMap,
    what: &str,
) -> Option<(StatusCode, String)> {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !is_our_host(service, host_name(host)) {
        return Some((
            StatusCode::MISDIRECTED_REQUEST,
            format!(
                "{what} answers only requests addressed to this host (by IP address, localhost, the listen address or [server] public_url); this one names another host, as a page on another site would after rebinding its name to this address"
            ),
        ));
    }
    if let Some(origin) = headers.get(axum::http::header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        let authority = origin
            .split_once("://")
            .map(|(_, rest)| rest.trim_end_matches('/'))
            .unwrap_or("");
        let public_origin = service
            .config
            .server
            .public_url
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok())
            .map(|u| u.origin().ascii_serialization());
        let same_site = !authority.is_empty() && authority.eq_ignore_ascii_case(host);
        if !same_site && public_origin.as_deref() != Some(origin) {
            return Some((
                StatusCode::FORBIDDEN,
                format!(
                    "{what} refuses requests a page of another site sends (its Origin is neither this host nor [server] public_url); use the CLI, or a page served by this host"
                ),
            ));
        }
    }
    None
}

/// Refuses, on the admin endpoints only, what a browser sends on another site's behalf; see
/// the module's documentation. With or without an admin token.
pub async fn admin_guard(
    State(service): State<Arc<Service>>,
    req: Request,
    next: Next,
) -> Response {
    if !is_admin_path(req.uri().path()) {
        return next.run(req).await;
    }
    let refuse = |status: StatusCode, error: String| {
        (status, Json(json!({ "error": error }))).into_response()
    };
    let headers = req.headers();
    if let Some((status, error)) = cross_site_refusal(&service, headers, "the admin API") {
        return refuse(status, error);
    }
    let has_body = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() != "0")
        || headers.contains_key(axum::http::header::TRANSFER_ENCODING);
    let json = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"));
    if has_body && !json {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the admin API reads JSON bodies only: send `Content-Type: application/json`".into(),
        );
    }
    next.run(req).await
}

async fn webhook(
    State(service): State<Arc<Service>>,
    Extension(verifications): Extension<Verifications>,
    Path((provider, connection)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    request: Request,
) -> Response {
    if service.plugins.get(&provider).is_none() {
        service.metrics.delivery(UNKNOWN_PROVIDER, "http_404");
        // Named back only when it looks like a provider id: the answer echoes no caller's
        // markup or control characters.
        let looks_like_an_id = provider.len() <= 64
            && provider
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        let error = if looks_like_an_id {
            format!("no provider `{provider}` is installed on this host; check the webhook URL")
        } else {
            "no such provider is installed on this host; check the webhook URL".to_string()
        };
        return (StatusCode::NOT_FOUND, Json(json!({ "error": error }))).into_response();
    }
    // Read here, after the cheap checks and under a deadline: a sender that trickles its body
    // holds a connection for `body_read_timeout_ms` at most.
    let read_timeout = Duration::from_millis(service.config.server.body_read_timeout_ms);
    let body = match tokio::time::timeout(
        read_timeout,
        <Bytes as axum::extract::FromRequest<()>>::from_request(request, &()),
    )
    .await
    {
        Err(_) => {
            service.metrics.delivery(&provider, "http_408");
            return (
                StatusCode::REQUEST_TIMEOUT,
                Json(json!({ "error": format!(
                    "the body did not arrive within {} ms ([server] body_read_timeout_ms); nothing was stored, send it again",
                    read_timeout.as_millis()
                ) })),
            )
                .into_response();
        }
        Ok(read) => read,
    };
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
    let permit = match tokio::time::timeout(VERIFY_WAIT, verifications.0.clone().acquire_owned())
        .await
    {
        Ok(Ok(permit)) => permit,
        _ => {
            service.metrics.delivery(&provider, "busy");
            let mut resp = (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({
                    "status": "busy",
                    "error": "too many deliveries are being checked right now; nothing was stored, retry later",
                })),
            )
                .into_response();
            resp.headers_mut()
                .insert("retry-after", HeaderValue::from(BUSY_RETRY_AFTER_SECS));
            return resp;
        }
    };
    // Plugin calls block (wasmtime sync + epoch deadline): keep them off the async threads.
    // The permit moves into the blocking task, so a caller who hangs up does not free the
    // slot while its plugin call still runs.
    let provider_label = provider.clone();
    let reply = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        service.webhook(&provider, &connection, query.as_deref(), headers, &body)
    })
    .await;
    match reply {
        Ok(mut reply) => {
            let retry_after = public_words(&provider_label, &mut reply.body);
            let mut resp = (
                StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                Json(reply.body),
            )
                .into_response();
            if let Some(secs) = retry_after.filter(|_| reply.retry_after_secs.is_none()) {
                resp.headers_mut()
                    .insert("retry-after", HeaderValue::from(secs));
            }
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

/// The phrase an unauthenticated caller gets for a refusal whose text came from the plugin
/// (a `malformed` rejection's reason, a fault's trap or panic text): fixed, by the reply's
/// status. The plugin's own words stay in the service's log and the operator's tools.
/// (`unauthorized` texts are the service's own, built around the watch bookkeeping with the
/// plugin's words bounded and the secret masked: service.rs.) Returns a `Retry-After` for a
/// refusal that is host capacity, when the reply says so.
fn public_words(provider: &str, body: &mut Value) -> Option<u64> {
    let status = body.get("status").and_then(Value::as_str).unwrap_or("");
    let (phrase, retry_after) = match status {
        "malformed" => (
            format!("the body is not a delivery the {provider} plugin can read"),
            None,
        ),
        "plugin_fault" => {
            // `fault` is the fault's kind when the service names it; else one phrase for all.
            let kind = body.get("fault").and_then(Value::as_str);
            let what = match kind {
                Some(kind) => exlogare_runtime::plugin::PluginFault::public_phrase_of(kind),
                None => {
                    "it failed, ran past its deadline or out of memory, or is disabled for a while after repeated faults"
                }
            };
            let retry = (kind == Some("busy")).then_some(BUSY_RETRY_AFTER_SECS);
            (
                format!(
                    "the {provider} plugin could not check this delivery ({what}); nothing was stored, retry later"
                ),
                retry,
            )
        }
        _ => return None,
    };
    body["error"] = json!(phrase);
    retry_after
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
            "providers": service.plugins.ids(),
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
        let served = service.plugins.snapshot();
        let plugins: Vec<_> = served
            .plugins
            .iter()
            .map(|(id, p)| {
                let (call_slots, calls_running) = p.call_slots();
                crate::metrics::PluginSample {
                    provider: id,
                    disabled: matches!(
                        p.breaker(),
                        exlogare_runtime::plugin::BreakerState::Open { .. }
                    ),
                    calls_running,
                    call_slots,
                }
            })
            .collect();
        service.metrics.render(depth, &samples, &plugins)
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

/// Limits at the connection level, for `axum::serve(edge(listener, &config.server), router)`:
/// at most `max_connections` open at once (the next waits in the kernel's backlog), a request
/// head that must arrive whole within `header_read_timeout_ms` of its first byte, and a
/// connection that sends nothing for `idle_timeout_ms` closed. A slow client holds one
/// connection for a bounded time, and all of them together at most `max_connections`.
pub fn edge(listener: tokio::net::TcpListener, server: &crate::config::ServerConfig) -> Edge {
    Edge {
        inner: listener,
        slots: Arc::new(Semaphore::new(server.max_connections as usize)),
        header_timeout: Duration::from_millis(server.header_read_timeout_ms),
        idle_timeout: Duration::from_millis(server.idle_timeout_ms),
    }
}

/// A listener under [`edge`]'s limits.
pub struct Edge {
    inner: tokio::net::TcpListener,
    slots: Arc<Semaphore>,
    header_timeout: Duration,
    idle_timeout: Duration,
}

impl Edge {
    /// Connections that may still open now (`max_connections` minus those open).
    pub fn free_slots(&self) -> Arc<Semaphore> {
        self.slots.clone()
    }
}

impl axum::serve::Listener for Edge {
    type Io = EdgeIo;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let slot = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .expect("the connection semaphore is never closed");
        let (io, addr) = axum::serve::Listener::accept(&mut self.inner).await;
        let now = tokio::time::Instant::now();
        (
            EdgeIo {
                io,
                _slot: slot,
                header_timeout: self.header_timeout,
                idle_timeout: self.idle_timeout,
                head: Head::Waiting,
                tail: [0; 3],
                last_read: now,
                timer: Box::pin(tokio::time::sleep_until(now + self.idle_timeout)),
            },
            addr,
        )
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// Where a connection is in its current request.
#[derive(Clone, Copy, PartialEq)]
enum Head {
    /// Between requests: only the idle timeout applies.
    Waiting,
    /// The head's first byte came at this instant; `\r\n\r\n` must follow in time.
    Reading(tokio::time::Instant),
    /// The head is in; the body is the handler's business (`body_read_timeout_ms`).
    Done,
}

/// A connection under [`edge`]'s limits; gives its slot back when dropped.
pub struct EdgeIo {
    io: tokio::net::TcpStream,
    _slot: tokio::sync::OwnedSemaphorePermit,
    header_timeout: Duration,
    idle_timeout: Duration,
    head: Head,
    /// The last bytes read while in a head, to find `\r\n\r\n` across reads.
    tail: [u8; 3],
    last_read: tokio::time::Instant,
    timer: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl EdgeIo {
    fn deadline(&self) -> (tokio::time::Instant, &'static str) {
        let idle = (self.last_read + self.idle_timeout, "idle");
        match self.head {
            Head::Reading(since) => {
                let head = (since + self.header_timeout, "header");
                if head.0 < idle.0 { head } else { idle }
            }
            _ => idle,
        }
    }

    /// Follows the request head through the bytes just read.
    fn saw(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.last_read = tokio::time::Instant::now();
        if self.head == Head::Waiting {
            self.head = Head::Reading(self.last_read);
            self.tail = [0; 3];
        }
        if let Head::Reading(_) = self.head {
            let mut window = self.tail.to_vec();
            window.extend_from_slice(bytes);
            if window.windows(4).any(|w| w == b"\r\n\r\n") {
                self.head = Head::Done;
            } else {
                let n = window.len();
                self.tail.copy_from_slice(&window[n - 3..]);
            }
        }
    }
}

impl tokio::io::AsyncRead for EdgeIo {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        let before = buf.filled().len();
        match std::pin::Pin::new(&mut self.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let fresh = buf.filled()[before..].to_vec();
                self.saw(&fresh);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let (deadline, which) = self.deadline();
                if self.timer.deadline() != deadline {
                    self.timer.as_mut().reset(deadline);
                }
                match self.timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("the client took too long ({which} timeout); connection closed"),
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl tokio::io::AsyncWrite for EdgeIo {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        // An answer is going out: the next bytes read begin the next request's head.
        if self.head == Head::Done {
            self.head = Head::Waiting;
        }
        std::pin::Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        if self.head == Head::Done {
            self.head = Head::Waiting;
        }
        std::pin::Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}
