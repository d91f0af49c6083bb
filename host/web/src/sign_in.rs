//! Sign-in with the admin token, once; sign-out; the language switch.

use crate::cookies;
use crate::gate::{Gate, html_response, see_other, serve, serve_form};
use crate::layout::document;
use crate::visit::{Form, Visit, local_path};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use exlogare_service::service::Service;
use maud::html;
use std::sync::Arc;

fn next_of(query: Option<&str>) -> Option<String> {
    query.and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "next")
            .map(|(_, v)| v.into_owned())
    })
}

fn form_page(v: &Visit, status: StatusCode, next: &str, problem: Option<&str>) -> Response {
    let w = v.w;
    let open = v.service.admin_token.is_none();
    let body = html! {
        @if let Some(said) = problem { p.error role="alert" id="sign-in-error" { (said) } }
        form method="post" action="/sign-in" {
            input type="hidden" name="next" value=(next);
            @if open {
                p.error { (w.no_admin_token) }
            } @else {
                label for="token" { (w.admin_token) }
                input type="password" id="token" name="token" autocomplete="current-password" required autofocus;
                p.help { (w.admin_token_help) }
            }
            p { button id="sign-in" type="submit" { (if open { w.continue_ } else { w.sign_in }) } }
        }
    };
    html_response(status, document(v, w.sign_in, body))
}

pub async fn show(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let next = local_path(next_of(query.as_deref()).as_deref()).to_string();
    serve(
        service,
        headers,
        "/sign-in".into(),
        Gate::Open,
        None,
        move |v, _| {
            if v.signed_in {
                return see_other(&next);
            }
            form_page(v, StatusCode::OK, &next, None)
        },
    )
    .await
}

pub async fn submit(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    serve(
        service,
        headers,
        "/sign-in".into(),
        Gate::Open,
        Some(form),
        |v, form| {
            let next = local_path(form.get("next")).to_string();
            let allowed = match &v.service.admin_token {
                None => true,
                Some(expected) => cookies::secret_matches(expected.expose(), form.get("token")),
            };
            if !allowed {
                tracing::warn!("a sign-in to the Integrations page with a wrong admin token");
                return form_page(v, StatusCode::UNAUTHORIZED, &next, Some(v.w.wrong_token));
            }
            match v
                .service
                .store
                .start_web_session(cookies::SESSION_LIFETIME_MS)
            {
                Ok((cookie, _)) => {
                    let mut r = see_other(&next);
                    if let Ok(c) = HeaderValue::from_str(&cookies::set_session(&cookie, v.secure)) {
                        r.headers_mut().append(header::SET_COOKIE, c);
                    }
                    r
                }
                Err(e) => {
                    tracing::warn!("starting a page session: {e:#}");
                    form_page(
                        v,
                        StatusCode::SERVICE_UNAVAILABLE,
                        &next,
                        Some(v.w.storage_error),
                    )
                }
            }
        },
    )
    .await
}

pub async fn sign_out(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let cookie = cookies::read(&headers, cookies::SESSION);
    serve_form(service, headers, "/sign-out".into(), &body, move |v, _| {
        if let Some(c) = cookie
            && let Err(e) = v.service.store.end_web_session(&c)
        {
            tracing::warn!("ending a page session: {e:#}");
        }
        let mut r = see_other("/sign-in");
        if let Ok(c) = HeaderValue::from_str(&cookies::clear_session(v.secure)) {
            r.headers_mut().append(header::SET_COOKIE, c);
        }
        r
    })
    .await
}

/// `GET /language/{ru|en}?next=/path`: remembers the choice and goes back. A GET, as it
/// changes nothing on the server; an unknown code changes nothing at all.
pub async fn switch_language(
    State(service): State<Arc<Service>>,
    Path(code): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let next = local_path(next_of(query.as_deref()).as_deref()).to_string();
    let mut r = see_other(&next);
    if let Some(lang) = crate::language::Language::from_code(&code.to_ascii_lowercase()) {
        let secure = cookies::secure(service.config.server.public_url.as_deref());
        if let Ok(c) = HeaderValue::from_str(&cookies::set_language(lang.code(), secure)) {
            r.headers_mut().append(header::SET_COOKIE, c);
        }
    }
    r
}
