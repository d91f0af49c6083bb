//! The WASI component: the host's imports as a [`Host`], and the exported `provider` and
//! `endpoints` interfaces delegating to the library. Nothing GitFlic-specific lives here.

use crate::bindings::exlogare::ci::{clock, http, log, log_sink};
use crate::bindings::exports::exlogare::ci::endpoints::Guest as EndpointsGuest;
use crate::bindings::exports::exlogare::ci::provider::Guest;
use crate::{
    BodyReader, Connection, FailureDetails, FailureEvent, Host, HttpError, Job, Level, LogChunk,
    LogSource, OauthClient, PipelineSummary, ProjectPage, ProjectRef, ProviderError, ProviderInfo,
    Registration, Request, Response, ResponseHead, Timestamp, TokenSet, User, Webhook,
    WebhookDelivery, WebhookOutcome, WebhookRejection, WebhookSpec,
};

struct Imports;

impl BodyReader for http::BodyStream {
    fn read(&mut self, max: u32) -> Result<Option<Vec<u8>>, HttpError> {
        http::BodyStream::read(self, max)
    }
}

impl Host for Imports {
    type Body = http::BodyStream;

    fn send(&self, req: &Request) -> Result<Response, HttpError> {
        http::send(req)
    }
    fn send_streaming(&self, req: &Request) -> Result<(ResponseHead, http::BodyStream), HttpError> {
        http::send_streaming(req)
    }
    fn log(&self, level: Level, message: &str) {
        log::log(level, message)
    }
    fn now(&self) -> Timestamp {
        clock::now()
    }
    fn emit(&self, chunk: &LogChunk) -> Result<(), String> {
        log_sink::emit(chunk)
    }
}

struct Component;

impl Guest for Component {
    fn describe() -> ProviderInfo {
        crate::describe()
    }
    fn verify_webhook(
        conn: Connection,
        delivery: WebhookDelivery,
        expected_secret: String,
    ) -> Result<WebhookOutcome, WebhookRejection> {
        crate::webhook::verify(&conn, &delivery, &expected_secret)
    }
    fn authorize_url(conn: Connection, client: OauthClient, state: String) -> Result<String, ProviderError> {
        crate::oauth::authorize_url(&conn, &client, &state)
    }
    fn exchange_code(conn: Connection, _client: OauthClient, code: String) -> Result<TokenSet, ProviderError> {
        crate::oauth::exchange_code(&Imports, &conn, &code)
    }
    fn refresh_token(conn: Connection, _client: OauthClient, refresh_token: String) -> Result<TokenSet, ProviderError> {
        crate::oauth::refresh_token(&Imports, &conn, &refresh_token)
    }
    fn current_user(conn: Connection) -> Result<User, ProviderError> {
        crate::oauth::current_user(&Imports, &conn)
    }
    fn list_projects(conn: Connection, search: Option<String>, cursor: Option<String>) -> Result<ProjectPage, ProviderError> {
        crate::projects::list_projects(&Imports, &conn, search.as_deref(), cursor.as_deref())
    }
    fn list_webhooks(conn: Connection, project: ProjectRef) -> Result<Vec<Webhook>, ProviderError> {
        crate::hooks::list_webhooks(&Imports, &conn, &project)
    }
    fn register_webhook(conn: Connection, project: ProjectRef, spec: WebhookSpec) -> Result<Registration, ProviderError> {
        crate::hooks::register_webhook(&Imports, &conn, &project, &spec)
    }
    fn remove_webhook(conn: Connection, project: ProjectRef, webhook_id: String) -> Result<(), ProviderError> {
        crate::hooks::remove_webhook(&Imports, &conn, &project, &webhook_id)
    }
    fn list_pipelines(
        conn: Connection,
        project: ProjectRef,
        above: Option<u64>,
        limit: u32,
    ) -> Result<Vec<PipelineSummary>, ProviderError> {
        crate::pipelines::list_pipelines(&Imports, &conn, &project, above, limit)
    }
    fn get_failure_details(conn: Connection, event: FailureEvent) -> Result<FailureDetails, ProviderError> {
        crate::failure::get_failure_details(&Imports, &conn, &event)
    }
    fn extract_job_log(conn: Connection, project: ProjectRef, job: Job) -> Result<LogSource, ProviderError> {
        crate::joblog::extract_job_log(&Imports, &conn, &project, &job)
    }
}

impl EndpointsGuest for Component {
    fn defaults(web_base: String) -> Result<Connection, ProviderError> {
        crate::endpoints::defaults(&web_base)
    }
}

crate::bindings::export!(Component with_types_in crate::bindings);
