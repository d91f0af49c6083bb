//! Integrations: every loaded provider with its connections (state, budget use, watched
//! projects, last error), a connection's own page, adding one, and Connect / Reconnect through
//! the provider's OAuth page. The work is the service's (accounts/connections.rs,
//! accounts/credentials.rs); this module draws it and maps its refusals to the page.

use crate::gate::{Gate, html_response, refusal, see_other, serve, serve_form};
use crate::layout::{csrf_field, document};
use crate::visit::{Form, Visit};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use exlogare_service::accounts::connection_view::ConnectionView;
use exlogare_service::accounts::stored_connections::NewConnection;
use exlogare_service::service::Service;
use maud::{Markup, html};
use std::sync::Arc;

/// The state of a connection in the page's words; its CSS class is the state's name.
fn state_words(v: &Visit, status: &str) -> &'static str {
    match status {
        "connected" => v.w.connected,
        "needs_reconnection" => v.w.needs_reconnection,
        "not_connected" => v.w.not_connected,
        _ => v.w.unusable,
    }
}

fn state_badge(v: &Visit, c: &ConnectionView) -> Markup {
    let class = match c.status.as_str() {
        s @ ("connected" | "needs_reconnection" | "not_connected") => s,
        _ => "unusable",
    };
    html! { span class={ "badge " (class) } data-state=(class) { (state_words(v, &c.status)) } }
}

/// The OAuth button a connection needs now, if any: Connect before the first OAuth,
/// Reconnect once the provider stopped taking its tokens.
fn oauth_button(v: &Visit, c: &ConnectionView) -> Option<Markup> {
    let label = match (c.auth.as_str(), c.status.as_str()) {
        ("oauth", "not_connected") => v.w.connect,
        ("oauth", "needs_reconnection" | "connected") => v.w.reconnect,
        _ => return None,
    };
    let primary = c.status != "connected";
    Some(html! {
        form method="post" action={ "/integrations/" (c.id) "/connect" } {
            (csrf_field(v))
            button id={ "connect-" (c.id) } class=[(!primary).then_some("secondary")] type="submit" { (label) }
        }
    })
}

fn connection_card(v: &Visit, c: &ConnectionView) -> Markup {
    let w = v.w;
    let calls = c
        .calls_used_this_hour
        .map_or_else(|| "?".to_string(), |n| n.to_string());
    html! {
        section.card id={ "connection-" (c.id) } {
            div.row {
                strong { a href={ "/integrations/" (c.id) } { (c.id) } }
                (state_badge(v, c))
                span.help { (c.web_base) }
            }
            dl.row {
                dt { (w.calls_this_hour) ":" } dd { (calls) " / " (c.calls_per_hour) }
                dt { (w.watched_projects) ":" }
                dd {
                    @if c.watched.is_empty() { (w.none) }
                    @else { (c.watched.join(", ")) }
                }
            }
            @if let Some(e) = &c.last_error {
                p.error { (w.last_error) ": " (e) }
            }
            div.row {
                @if let Some(b) = oauth_button(v, c) { (b) }
                @if c.status == "connected" {
                    a.button.secondary id={ "sync-" (c.id) } href={ "/integrations/" (c.id) "/projects" } { (w.sync_projects) }
                }
            }
        }
    }
}

pub async fn list(State(service): State<Arc<Service>>, headers: HeaderMap) -> Response {
    serve(service, headers, "/integrations".into(), Gate::Page, None, |v, _| {
        let w = v.w;
        let views = v.service.connection_views();
        let plugins = v.service.plugins.snapshot();
        let mut providers: Vec<(String, String)> = plugins
            .plugins
            .iter()
            .map(|(id, p)| (id.clone(), p.info.display_name.clone()))
            .collect();
        // A connection whose plugin is not loaded now is still shown, under its provider's id.
        for c in &views {
            if !providers.iter().any(|(id, _)| *id == c.provider) {
                providers.push((c.provider.clone(), c.provider.clone()));
            }
        }
        let body = html! {
            p { (w.providers_intro) }
            @if providers.is_empty() { p.error { (w.no_providers) } }
            @for (id, name) in &providers {
                section id={ "provider-" (id) } {
                    div.row {
                        h2 { (name) }
                        @if plugins.plugins.contains_key(id) {
                            a.button id={ "add-" (id) } href={ "/integrations/new?provider=" (id) } { (w.add_connection) }
                        }
                    }
                    @let mine: Vec<&ConnectionView> = views.iter().filter(|c| c.provider == *id).collect();
                    @if mine.is_empty() { p.help { (w.no_connections) } }
                    @for c in mine { (connection_card(v, c)) }
                }
            }
        };
        html_response(StatusCode::OK, document(v, w.integrations, body))
    })
    .await
}

pub async fn show(
    State(service): State<Arc<Service>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let just_connected = query
        .as_deref()
        .is_some_and(|q| q.split('&').any(|p| p == "connected=1"));
    let here = format!("/integrations/{id}");
    serve(service, headers, here, Gate::Page, None, move |v, _| {
        let Some(c) = v.service.connection_view(&id) else {
            return refusal(v, StatusCode::NOT_FOUND, v.w.not_found);
        };
        let body = html! {
            @if just_connected && c.status == "connected" {
                p.ok role="status" id="connected-notice" { (v.w.just_connected) }
            } @else if c.status == "not_connected" {
                p.help { (v.w.not_connected_yet) }
            }
            (connection_card(v, &c))
            p { a href="/integrations" { "← " (v.w.integrations) } }
        };
        html_response(StatusCode::OK, document(v, &c.id, body))
    })
    .await
}

/// The provider's public web address, as its plugin says (none for a provider without one,
/// or a plugin without the `endpoints` interface).
fn public_web_base(service: &Service, provider: &str) -> Option<String> {
    let plugin = service.plugins.get(provider)?;
    let out = plugin
        .connection_defaults(exlogare_runtime::plugin::CallContext::offline(), "")
        .ok()??;
    out.value.ok().map(|c| c.web_base)
}

/// The add form, with what was entered kept except the secrets.
fn new_form(v: &Visit, provider: &str, entered: &Form, problem: Option<&str>) -> Markup {
    let w = v.w;
    let public = public_web_base(&v.service, provider);
    let value = |name: &str| entered.get(name).unwrap_or("").to_string();
    html! {
        @if let Some(said) = problem {
            div.card.error role="alert" id="add-error" { strong { (w.not_added) } ": " (said) }
        }
        form method="post" action="/integrations/new" {
            (csrf_field(v))
            input type="hidden" name="provider" value=(provider);
            label for="id" { (w.connection_id) }
            input type="text" id="id" name="id" required pattern="[A-Za-z0-9_-]{1,64}" value=(value("id"));
            p.help { (w.connection_id_help) }
            label for="base_url" { (w.base_url) }
            input type="url" id="base_url" name="base_url" value=(value("base_url")) placeholder=[public.as_deref()];
            p.help { (w.base_url_help) " " @if let Some(root) = &public { code { (root) } } }
            fieldset.card {
                legend { (w.oauth_client) }
                label for="client_id" { (w.client_id) }
                input type="text" id="client_id" name="client_id" autocomplete="off" value=(value("client_id"));
                label for="client_secret" { (w.client_secret) }
                input type="password" id="client_secret" name="client_secret" autocomplete="off";
            }
            fieldset.card {
                legend { (w.or_token) }
                label for="access_token" { (w.access_token) }
                input type="password" id="access_token" name="access_token" autocomplete="off";
            }
            details.card {
                summary { (w.advanced) }
                label for="api_base" { (w.api_root) }
                input type="url" id="api_base" name="api_base" value=(value("api_base"));
                label for="oauth_base" { (w.oauth_root) }
                input type="url" id="oauth_base" name="oauth_base" value=(value("oauth_base"));
                p.help { (w.roots_help) }
                label for="ca_pem" { (w.ca_pem) }
                textarea id="ca_pem" name="ca_pem" { (value("ca_pem")) }
                p.help { (w.ca_pem_help) }
                label.inline {
                    input type="checkbox" id="allow_private" name="allow_private" value="on" checked[entered.get("allow_private").is_some()];
                    (w.allow_private)
                }
                p.help { (w.allow_private_help) }
                // On unless unticked; a fresh form has nothing entered yet.
                label.inline {
                    input type="checkbox" id="compare_green_runs" name="compare_green_runs" value="on"
                        checked[entered.0.is_empty() || entered.get("compare_green_runs").is_some()];
                    (w.compare_green_runs)
                }
                p.help { (w.compare_green_runs_help) }
            }
            p { button id="add" type="submit" { (w.add) } }
        }
    }
}

pub async fn new(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let provider = query
        .as_deref()
        .and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "provider")
                .map(|(_, v)| v.into_owned())
        })
        .unwrap_or_default();
    serve(
        service,
        headers,
        "/integrations/new".into(),
        Gate::Page,
        None,
        move |v, _| {
            if v.service.plugins.get(&provider).is_none() {
                return refusal(v, StatusCode::NOT_FOUND, v.w.no_providers);
            }
            let body = new_form(v, &provider, &Form::default(), None);
            html_response(StatusCode::OK, document(v, v.w.add_connection, body))
        },
    )
    .await
}

/// The form as the service's connection request.
fn new_connection(form: &Form) -> NewConnection {
    NewConnection {
        id: form.text("id").unwrap_or_default(),
        provider: form.text("provider").unwrap_or_default(),
        web_base: form.text("base_url").unwrap_or_default(),
        api_base: form.text("api_base"),
        oauth_base: form.text("oauth_base"),
        client_id: form.text("client_id"),
        client_secret: form.text("client_secret"),
        scopes: None,
        redirect_url: None,
        access_token: form.text("access_token"),
        ca_pem: form.text("ca_pem"),
        allow_private: form.get("allow_private").is_some(),
        calls_per_hour: None,
        compare_green_runs: Some(form.get("compare_green_runs").is_some()),
        options: Default::default(),
    }
}

pub async fn add(State(service): State<Arc<Service>>, headers: HeaderMap, body: Bytes) -> Response {
    serve_form(
        service,
        headers,
        "/integrations/new".into(),
        &body,
        |v, form| {
            let n = new_connection(&form);
            match v.service.add_connection(&n) {
                Ok(view) => see_other(&format!("/integrations/{}", view.id)),
                Err(refused) => {
                    let status =
                        StatusCode::from_u16(refused.status).unwrap_or(StatusCode::BAD_REQUEST);
                    let body = new_form(v, &n.provider, &form, Some(&refused.message));
                    html_response(status, document(v, v.w.add_connection, body))
                }
            }
        },
    )
    .await
}

/// `POST /integrations/{id}/connect`: on to the provider's OAuth page; its callback
/// (accounts/http.rs) brings the browser back to `/integrations/{id}?connected=1`.
pub async fn connect(
    State(service): State<Arc<Service>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let here = format!("/integrations/{id}");
    serve_form(service, headers, here, &body, move |v, _| {
        let Some(c) = v.service.connection_view(&id) else {
            return refusal(v, StatusCode::NOT_FOUND, v.w.not_found);
        };
        match v.service.oauth_start(&c.provider, &c.id) {
            Ok(url) => see_other(&url),
            Err(r) => refusal(
                v,
                StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_GATEWAY),
                &r.message,
            ),
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_add_form_becomes_the_services_request() {
        let f = Form::parse(
            b"csrf=x&provider=gitflic&id=+team+&base_url=&client_id=cid&client_secret=s&access_token=&api_base=http%3A%2F%2F127.0.0.1%3A9&allow_private=on",
        );
        let n = new_connection(&f);
        assert_eq!(
            (n.id.as_str(), n.provider.as_str(), n.web_base.as_str()),
            ("team", "gitflic", ""),
            "an empty base asks for the provider's public service"
        );
        assert_eq!(n.client_id.as_deref(), Some("cid"));
        assert_eq!(n.client_secret.as_deref(), Some("s"));
        assert_eq!(n.access_token, None, "a blank field is not a token");
        assert_eq!(n.api_base.as_deref(), Some("http://127.0.0.1:9"));
        assert_eq!(n.oauth_base, None);
        assert!(n.allow_private);
        assert_eq!(n.compare_green_runs, Some(false), "unticked");
        assert!(!new_connection(&Form::parse(b"id=a")).allow_private);
        assert_eq!(
            new_connection(&Form::parse(b"id=a&compare_green_runs=on")).compare_green_runs,
            Some(true)
        );
    }
}
