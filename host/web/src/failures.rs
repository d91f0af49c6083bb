//! Failures: the recent analysed failures as their chat message showed them (project, pipeline
//! with its deep link, each failed job's category, summary and excerpt), and the parked
//! deliveries with their reason and a Retry button (storage.rs `retry_parked`).

use crate::gate::{Gate, html_response, refusal, see_other, serve, serve_form};
use crate::layout::{csrf_field, document, safe_href, utc};
use crate::visit::Visit;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use exlogare_notify::FailureMessage;
use exlogare_service::service::Service;
use maud::{Markup, html};
use std::sync::Arc;

/// How many of each list the page shows: a screenful of recent history, not an archive.
const RECENT: u32 = 50;

/// The excerpt as the chat message shows it: each decisive line after its number.
pub fn excerpt_text(lines: &[(u64, String)]) -> String {
    let width = lines
        .iter()
        .map(|(n, _)| n.to_string().len())
        .max()
        .unwrap_or(1);
    lines
        .iter()
        .map(|(n, text)| format!("{n:>width$} │ {text}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn failure_card(v: &Visit, delivery: i64, at: i64, m: &FailureMessage) -> Markup {
    let w = v.w;
    html! {
        article.card data-delivery=(delivery) {
            div.row {
                strong { (m.project) }
                @match safe_href(&m.deep_link) {
                    Some(href) => { a.deep-link href=(href) { (w.pipeline) " " (m.pipeline) } }
                    None => { span { (w.pipeline) " " (m.pipeline) } }
                }
                @if let Some(r) = &m.git_ref { code { (r) } }
                span.help { (utc(at)) " · " (m.connection) }
            }
            @if let Some(note) = &m.note { p { (note) } }
            @for job in &m.jobs {
                div {
                    p.row {
                        strong { (w.job) ": " }
                        @match job.web_url.as_deref().and_then(safe_href) {
                            Some(href) => { a href=(href) { (job.name) } }
                            None => { span { (job.name) } }
                        }
                        span.badge { (w.category) ": " (exlogare_notify::words::category(v.lang, &job.category)) }
                    }
                    @if !job.summary.is_empty() { p { (job.summary) } }
                    // In the page's language when the report keeps the comparison as data
                    // (reports stored before that keep their English line).
                    @if let Some(c) = &job.compared { p.help { (c.line(v.lang)) } }
                    @else if let Some(c) = &job.comparison { p.help { (c) } }
                    @if let Some(why) = &job.log_unavailable { p.error { (w.log_unavailable) ": " (why) } }
                    @if !job.excerpt.is_empty() {
                        pre aria-label=(w.excerpt) { (excerpt_text(&job.excerpt)) }
                    }
                }
            }
        }
    }
}

pub async fn show(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let notice = query.and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "retried")
            .map(|(_, v)| v.into_owned())
    });
    serve(service, headers, "/failures".into(), Gate::Page, None, move |v, _| {
        let w = v.w;
        let (reports, parked) = match (
            v.service.store.recent_reports(RECENT),
            v.service.store.deliveries_in("parked", RECENT),
        ) {
            (Ok(r), Ok(p)) => (r, p),
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!("reading the failures page: {e:#}");
                return refusal(v, StatusCode::SERVICE_UNAVAILABLE, w.storage_error);
            }
        };
        let body = html! {
            @if let Some(id) = &notice { p.ok role="status" id="retried" { (w.retried) " (" (id) ")" } }
            h2 { (w.recent_failures) }
            @if reports.is_empty() { p { (w.no_failures) } }
            @for (delivery, at, json) in &reports {
                // A report this version cannot read is skipped, not shown half.
                @if let Ok(m) = serde_json::from_str::<FailureMessage>(json) {
                    (failure_card(v, *delivery, *at, &m))
                }
            }
            h2 { (w.parked) }
            p.help { (w.parked_intro) }
            @if parked.is_empty() { p { (w.no_parked) } }
            @else {
                div.scroll {
                    table id="parked" {
                        thead { tr {
                            th { (w.received) } th { (w.project) } th { (w.pipeline) }
                            th { (w.attempts) } th { (w.reason) } th {}
                        } }
                        tbody {
                            @for d in &parked {
                                tr data-delivery=(d.id) {
                                    td { (utc(d.received_at)) }
                                    td { (d.project) div.help { (d.connection) } }
                                    td { (d.pipeline) }
                                    td { (d.attempts) }
                                    td { (d.last_error.as_deref().unwrap_or("")) }
                                    td {
                                        form method="post" action={ "/failures/" (d.id) "/retry" } {
                                            (csrf_field(v))
                                            button id={ "retry-" (d.id) } type="submit" { (w.retry) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        };
        html_response(StatusCode::OK, document(v, w.failures, body))
    })
    .await
}

pub async fn retry(
    State(service): State<Arc<Service>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    serve_form(service, headers, "/failures".into(), &body, move |v, _| {
        let Ok(id) = id.parse::<i64>() else {
            return refusal(v, StatusCode::NOT_FOUND, v.w.not_found);
        };
        match v.service.store.retry_parked(id) {
            Ok(true) => {
                v.service.wakeup.notify();
                tracing::info!(delivery = id, "queued again from the Failures page");
                see_other(&format!("/failures?retried={id}"))
            }
            Ok(false) => refusal(
                v,
                StatusCode::CONFLICT,
                &format!("{}: {id}", v.w.not_retried),
            ),
            Err(e) => {
                tracing::warn!("retrying delivery {id}: {e:#}");
                refusal(v, StatusCode::SERVICE_UNAVAILABLE, v.w.storage_error)
            }
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_excerpt_keeps_its_line_numbers_and_text() {
        let lines = vec![
            (9, "error[E0308]: mismatched types".to_string()),
            (120, "ошибка: не найден модуль «платежи»".to_string()),
        ];
        assert_eq!(
            excerpt_text(&lines),
            "  9 │ error[E0308]: mismatched types\n120 │ ошибка: не найден модуль «платежи»"
        );
        assert_eq!(excerpt_text(&[]), "");
    }
}
