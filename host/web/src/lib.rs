//! The Integrations page, served by `serve` itself: server-rendered HTML (maud), no script, no
//! front-end build, nothing loaded from another site. The operator signs in with the admin token
//! once; a session cookie follows, and every form carries the session's CSRF token.
//!
//! - [`gate`]: the checks every page request passes (host and origin, session, CSRF) before
//!   [`visit`] describes it; [`cookies`], [`language`], [`page_words`]: their plain parts.
//! - [`layout`]: the frame and style of every page.
//! - [`sign_in`]: sign-in, sign-out, the language switch.
//! - [`integrations`]: providers and connections, adding one, Connect / Reconnect (OAuth).
//! - [`projects`]: sync projects, watch and unwatch, wire by hand.
//! - [`failures`]: recent analysed failures and parked deliveries (Retry).
//!
//! The work behind every button is the service's (exlogare_service), the same the JSON API
//! (accounts/http.rs) and the CLI call.

pub mod cookies;
pub mod failures;
pub mod gate;
pub mod integrations;
pub mod language;
pub mod layout;
pub mod page_words;
pub mod projects;
pub mod sign_in;
pub mod visit;

use axum::Router;
use axum::routing::{get, post};
use exlogare_service::service::Service;
use std::sync::Arc;

/// All that `serve` answers: the service's endpoints (webhooks, the JSON API, health, metrics)
/// and the page.
pub fn app(service: Arc<Service>) -> Router {
    exlogare_service::server::router(service.clone()).merge(routes(service))
}

/// The page's routes alone.
pub fn routes(service: Arc<Service>) -> Router {
    Router::new()
        .route("/", get(|| async { gate::see_other("/integrations") }))
        .route("/sign-in", get(sign_in::show).post(sign_in::submit))
        .route("/sign-out", post(sign_in::sign_out))
        .route("/language/{code}", get(sign_in::switch_language))
        .route("/integrations", get(integrations::list))
        .route(
            "/integrations/new",
            get(integrations::new).post(integrations::add),
        )
        .route("/integrations/{id}", get(integrations::show))
        .route("/integrations/{id}/connect", post(integrations::connect))
        .route(
            "/integrations/{id}/projects",
            get(projects::show).post(projects::apply),
        )
        .route("/integrations/{id}/manual", post(projects::manual))
        .route("/failures", get(failures::show))
        .route("/failures/{id}/retry", post(failures::retry))
        .with_state(service)
}
