//! Sync projects: the connection's projects as the provider lists them (with its search),
//! a page at a time, a checkbox per project; applying watches what was ticked (a fresh hook
//! each, accounts/watch.rs) and unwatches what was unticked (our hook removed), and says per
//! row what happened, refusals in the provider's words. "Wire by hand" shows the URL, the
//! secret (once) and the event to set in the provider's settings.

use crate::gate::{Gate, html_response, refusal, serve, serve_form};
use crate::layout::{csrf_field, document, safe_href};
use crate::visit::Visit;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use exlogare_service::service::Service;
use maud::{Markup, html};
use std::collections::HashMap;
use std::sync::Arc;

/// Projects per page: one screen of checkboxes.
pub const PAGE_SIZE: usize = 20;

/// Which slice of `total` items page `page` (from 1) shows, and the number of pages.
pub fn page_bounds(total: usize, page: usize) -> (std::ops::Range<usize>, usize) {
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let page = page.clamp(1, pages);
    let start = (page - 1) * PAGE_SIZE;
    (start..(start + PAGE_SIZE).min(total), pages)
}

/// What changing one project's watch comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Watch,
    Unwatch,
}

/// The changes a submitted page asks for: among the projects it `shown`, the `ticked` ones not
/// watched yet and the watched ones no longer ticked. Projects of other pages are left alone.
pub fn changes(shown: &[&str], ticked: &[&str], watched: &[String]) -> Vec<(String, Change)> {
    let is_watched = |p: &str| watched.iter().any(|w| w.eq_ignore_ascii_case(p));
    shown
        .iter()
        .filter_map(|p| {
            let want = ticked.iter().any(|t| t.eq_ignore_ascii_case(p));
            match (want, is_watched(p)) {
                (true, false) => Some((p.to_string(), Change::Watch)),
                (false, true) => Some((p.to_string(), Change::Unwatch)),
                _ => None,
            }
        })
        .collect()
}

fn here(id: &str, search: &str, page: usize) -> String {
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("search", search)
        .append_pair("page", &page.to_string())
        .finish();
    format!("/integrations/{id}/projects?{q}")
}

fn page_of(p: &HashMap<String, String>) -> usize {
    p.get("page").and_then(|n| n.parse().ok()).unwrap_or(1)
}

/// The project list of one page, or why it could not be listed.
fn listing(v: &Visit, id: &str, search: &str, page: usize) -> Markup {
    let w = v.w;
    let search_opt = Some(search).filter(|s| !s.trim().is_empty());
    let watched = v.service.watched_projects(id).unwrap_or_default();
    let projects = match v.service.sync_projects(id, search_opt) {
        Ok(p) => p,
        Err(e) => {
            return html! { div.card.error role="alert" id="sync-error" { strong { (w.sync_failed) } ": " (format!("{e:#}")) } };
        }
    };
    let (range, pages) = page_bounds(projects.len(), page);
    let page = page.clamp(1, pages);
    let shown = &projects[range];
    html! {
        @if shown.is_empty() { p id="no-projects" { (w.no_projects) } }
        @else {
            form method="post" action={ "/integrations/" (id) "/projects" } {
                (csrf_field(v))
                input type="hidden" name="search" value=(search);
                input type="hidden" name="page" value=(page);
                div.scroll {
                    table {
                        thead { tr { th { (w.watch) } th { (w.project) } th {} } }
                        tbody {
                            @for p in shown {
                                @let key = format!("{}/{}", p.reference.owner, p.reference.name);
                                @let on = watched.iter().any(|x| x.eq_ignore_ascii_case(&key));
                                tr data-project=(key) {
                                    td {
                                        input type="hidden" name="shown" value=(key);
                                        input type="checkbox" name="watch" value=(key) id={ "watch-" (key) } checked[on];
                                    }
                                    td {
                                        label.inline for={ "watch-" (key) } {
                                            @match safe_href(&p.web_url) {
                                                Some(href) => { a href=(href) { (key) } }
                                                None => { (key) }
                                            }
                                            @if p.private { span.badge { (w.private) } }
                                        }
                                        @if !p.title.is_empty() && p.title != p.reference.name { div.help { (p.title) } }
                                    }
                                    td {
                                        button.secondary type="submit" name="manual" value=(key) formaction={ "/integrations/" (id) "/manual" } { (w.wire_by_hand) }
                                    }
                                }
                            }
                        }
                    }
                }
                p { button id="apply" type="submit" { (w.apply) } }
            }
        }
        nav.row aria-label=(w.page) {
            @if page > 1 { a href=(here(id, search, page - 1)) { "← " (w.previous) } }
            span { (w.page) " " (page) " / " (pages) }
            @if page < pages { a id="next-page" href=(here(id, search, page + 1)) { (w.next) " →" } }
        }
    }
}

fn search_form(v: &Visit, id: &str, search: &str) -> Markup {
    html! {
        form.row method="get" action={ "/integrations/" (id) "/projects" } role="search" {
            label.inline for="search" { (v.w.search) }
            input type="search" id="search" name="search" value=(search);
            button.secondary type="submit" { (v.w.search_button) }
        }
    }
}

fn known_connection(v: &Visit, id: &str) -> Option<Response> {
    v.service
        .connection(id)
        .is_none()
        .then(|| refusal(v, StatusCode::NOT_FOUND, v.w.not_found))
}

pub async fn show(
    State(service): State<Arc<Service>>,
    Path(id): Path<String>,
    Query(p): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let search = p.get("search").cloned().unwrap_or_default();
    let page = page_of(&p);
    serve(
        service,
        headers,
        here(&id, &search, page),
        Gate::Page,
        None,
        move |v, _| {
            if let Some(r) = known_connection(v, &id) {
                return r;
            }
            let body = html! {
                p { a href={ "/integrations/" (id) } { "← " (id) } }
                (search_form(v, &id, &search))
                (listing(v, &id, &search, page))
            };
            html_response(StatusCode::OK, document(v, v.w.sync_projects, body))
        },
    )
    .await
}

/// The outcome of a watch in the page's words.
fn registration_words(v: &Visit, registration: &str) -> &'static str {
    match registration {
        "created" => v.w.hook_created,
        "reused" => v.w.hook_reused,
        _ => v.w.hook_repaired,
    }
}

pub async fn apply(
    State(service): State<Arc<Service>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let here_now = format!("/integrations/{id}/projects");
    serve_form(service, headers, here_now, &body, move |v, form| {
        if let Some(r) = known_connection(v, &id) {
            return r;
        }
        let w = v.w;
        let watched = match v.service.watched_projects(&id) {
            Ok(list) => list,
            Err(e) => {
                tracing::warn!("reading the watches of {id}: {e:#}");
                return refusal(v, StatusCode::SERVICE_UNAVAILABLE, w.storage_error);
            }
        };
        let results: Vec<(String, Result<&'static str, String>)> =
            changes(&form.all("shown"), &form.all("watch"), &watched)
                .into_iter()
                .map(|(project, change)| {
                    let outcome = match change {
                        Change::Watch => v
                            .service
                            .watch(&id, &project, None, false)
                            .map(|done| registration_words(v, &done.registration)),
                        Change::Unwatch => v.service.unwatch(&id, &project).map(|_| w.hook_removed),
                    };
                    (project, outcome.map_err(|e| format!("{e:#}")))
                })
                .collect();
        let search = form.get("search").unwrap_or("").to_string();
        let page = form.get("page").and_then(|n| n.parse().ok()).unwrap_or(1);
        let failed = results.iter().any(|(_, r)| r.is_err());
        let body = html! {
            h2 { (w.results) }
            @if results.is_empty() { p id="results" { (w.unchanged) } }
            @else {
                div.scroll {
                    table id="results" {
                        thead { tr { th { (w.project) } th { (w.outcome) } } }
                        tbody {
                            @for (project, outcome) in &results {
                                tr data-project=(project) {
                                    td { (project) }
                                    @match outcome {
                                        Ok(said) => { td.ok { (said) } }
                                        Err(e) => { td.error { (w.refused) ": " (e) } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            h2 { (w.sync_projects) }
            (search_form(v, &id, &search))
            (listing(v, &id, &search, page))
        };
        let status = if failed {
            StatusCode::BAD_GATEWAY
        } else {
            StatusCode::OK
        };
        html_response(status, document(v, v.w.sync_projects, body))
    })
    .await
}

/// `POST /integrations/{id}/manual` with `manual=owner/name`: a watch without registration;
/// the secret is shown on this answer only (the service keeps its hash).
pub async fn manual(
    State(service): State<Arc<Service>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let here_now = format!("/integrations/{id}/projects");
    serve_form(service, headers, here_now, &body, move |v, form| {
        if let Some(r) = known_connection(v, &id) {
            return r;
        }
        let w = v.w;
        let project = form.text("manual").unwrap_or_default();
        let body = match v.service.watch(&id, &project, None, true) {
            Ok(done) => html! {
                p { (w.wire_by_hand_intro) }
                dl.card id="manual-hook" {
                    dt { (w.project) } dd { (done.project) }
                    dt { (w.webhook_url) } dd { code.secret { (done.url) } }
                    dt { (w.secret) } dd { code.secret id="manual-secret" { (done.secret.expose()) } p.help { (w.secret_once) } }
                    dt { (w.event) } dd { code { (done.event) } }
                }
                p { a href={ "/integrations/" (id) "/projects" } { "← " (w.back_to_projects) } }
            },
            Err(e) => html! {
                p.error role="alert" { (w.refused) ": " (format!("{e:#}")) }
                p { a href={ "/integrations/" (id) "/projects" } { "← " (w.back_to_projects) } }
            },
        };
        html_response(StatusCode::OK, document(v, w.wire_by_hand, body))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_cover_every_project_once() {
        assert_eq!(page_bounds(0, 1), (0..0, 1));
        assert_eq!(page_bounds(45, 1), (0..20, 3));
        assert_eq!(page_bounds(45, 3), (40..45, 3));
        assert_eq!(
            page_bounds(45, 99),
            (40..45, 3),
            "past the end: the last page"
        );
        assert_eq!(page_bounds(45, 0), (0..20, 3));
        assert_eq!(page_bounds(40, 2), (20..40, 2));
    }

    #[test]
    fn applying_changes_only_what_the_shown_page_changed() {
        let watched = vec![
            "acme/api".to_string(),
            "acme/old".to_string(),
            "other/x".to_string(),
        ];
        let got = changes(
            &["acme/api", "acme/old", "acme/new", "acme/same"],
            &["acme/API", "acme/new"],
            &watched,
        );
        assert_eq!(
            got,
            vec![
                ("acme/old".to_string(), Change::Unwatch),
                ("acme/new".to_string(), Change::Watch),
            ],
            "other/x is on another page: left alone; a case difference is no change"
        );
        assert!(
            changes(&[], &["acme/new"], &watched).is_empty(),
            "only shown rows count"
        );
    }
}
