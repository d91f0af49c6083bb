//! What every page request goes through before a page is drawn: the request must be addressed
//! to this host by a page of this host (exlogare_service::server::cross_site_refusal), the
//! language is chosen, the session cookie must name a live session (else the sign-in page),
//! and a form must carry that session's CSRF token. The drawing then runs on a blocking
//! thread, as the service's calls (database, plugins, the provider) block.

use crate::cookies;
use crate::language;
use crate::layout;
use crate::page_words::words;
use crate::visit::{Form, Visit};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use exlogare_service::service::Service;
use maud::{Markup, html};
use std::sync::Arc;

/// Whether the request needs a session, and whether it is a form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// The sign-in page itself.
    Open,
    /// A page of a signed-in operator.
    Page,
    /// A form of a signed-in operator: the CSRF token must match.
    Form,
}

pub fn html_response(status: StatusCode, page: Markup) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // The page never needs to be framed or to run anyone's script. No `form-action`:
            // Connect posts here and is then sent on to the provider's OAuth page, a redirect
            // `form-action 'self'` would block.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "same-origin"),
        ],
        page.into_string(),
    )
        .into_response()
}

pub fn see_other(location: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// A page that only says why it cannot be shown, in the visit's language, with a way on.
pub fn refusal(v: &Visit, status: StatusCode, message: &str) -> Response {
    let body = html! {
        p.error role="alert" { (message) }
        p { a href="/integrations" { (v.w.integrations) } }
    };
    html_response(status, layout::document(v, v.w.integrations, body))
}

/// Runs the checks for a request to `here`, then `draw` on a blocking thread.
pub async fn serve<F>(
    service: Arc<Service>,
    headers: HeaderMap,
    here: String,
    gate: Gate,
    form: Option<Form>,
    draw: F,
) -> Response
where
    F: FnOnce(&Visit, Form) -> Response + Send + 'static,
{
    let lang = language::negotiate(
        cookies::read(&headers, language::COOKIE).as_deref(),
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    );
    let secure = cookies::secure(service.config.server.public_url.as_deref());
    let mut visit = Visit {
        service: service.clone(),
        lang,
        w: words(lang),
        csrf: String::new(),
        here,
        signed_in: false,
        secure,
    };
    if let Some((status, message)) =
        exlogare_service::server::cross_site_refusal(&service, &headers, "the Integrations page")
    {
        return refusal(&visit, status, &message);
    }
    let session_cookie = cookies::read(&headers, cookies::SESSION);
    let outcome = tokio::task::spawn_blocking(move || {
        let session = match session_cookie.as_deref().filter(|c| !c.is_empty()) {
            Some(c) => match visit.service.store.web_session(c) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("reading a page session: {e:#}");
                    return refusal(
                        &visit,
                        StatusCode::SERVICE_UNAVAILABLE,
                        visit.w.storage_error,
                    );
                }
            },
            None => None,
        };
        if let Some(s) = &session {
            visit.csrf = s.csrf.clone();
            visit.signed_in = true;
        }
        let form = form.unwrap_or_default();
        match (gate, session.is_some()) {
            (Gate::Open, _) => {}
            (Gate::Page, false) => {
                let next: String =
                    url::form_urlencoded::byte_serialize(visit.here.as_bytes()).collect();
                return see_other(&format!("/sign-in?next={next}"));
            }
            (Gate::Form, false) => {
                return refusal(&visit, StatusCode::FORBIDDEN, visit.w.session_needed);
            }
            (Gate::Page, true) => {}
            (Gate::Form, true) => {
                if !cookies::secret_matches(&visit.csrf, form.get("csrf")) {
                    return refusal(&visit, StatusCode::FORBIDDEN, visit.w.form_expired);
                }
            }
        }
        draw(&visit, form)
    })
    .await;
    outcome.unwrap_or_else(|e| {
        tracing::error!("a page failed while it was drawn: {e}");
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the page failed; see the service's log",
        )
            .into_response()
    })
}

/// [`serve`] for a submitted form: `body` parsed, the session and its CSRF token required.
pub async fn serve_form<F>(
    service: Arc<Service>,
    headers: HeaderMap,
    here: String,
    body: &[u8],
    draw: F,
) -> Response
where
    F: FnOnce(&Visit, Form) -> Response + Send + 'static,
{
    serve(
        service,
        headers,
        here,
        Gate::Form,
        Some(Form::parse(body)),
        draw,
    )
    .await
}
