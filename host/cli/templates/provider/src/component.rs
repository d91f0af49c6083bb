//! The WASI component: the exported `provider`, `endpoints` and `green-runs` interfaces, each
//! function handing the kit's [`Imports`] and its arguments to the library. Nothing
//! provider-specific lives here.

use exlogare_kit::{EndpointsGuest, GreenRun, GreenRunsGuest, Imports, ProviderGuest};

use crate::{
    Connection, FailureDetails, FailureEvent, Job, LogSource, OauthClient, PipelineSummary,
    ProjectPage, ProjectRef, ProviderError, ProviderInfo, Registration, TokenSet, User, Webhook,
    WebhookDelivery, WebhookOutcome, WebhookRejection, WebhookSpec, account,
};

struct Component;

impl ProviderGuest for Component {
    fn describe() -> ProviderInfo {
        crate::describe()
    }
    fn verify_webhook(
        _conn: Connection,
        delivery: WebhookDelivery,
        expected_secret: String,
    ) -> Result<WebhookOutcome, WebhookRejection> {
        crate::webhook::verify(&delivery, &expected_secret)
    }
    fn authorize_url(
        conn: Connection,
        client: OauthClient,
        state: String,
    ) -> Result<String, ProviderError> {
        Ok(account::authorize_url(&conn, &client, &state))
    }
    fn exchange_code(
        conn: Connection,
        client: OauthClient,
        code: String,
    ) -> Result<TokenSet, ProviderError> {
        account::exchange_code(&Imports, &conn, &client, &code)
    }
    fn refresh_token(
        conn: Connection,
        client: OauthClient,
        refresh_token: String,
    ) -> Result<TokenSet, ProviderError> {
        account::refresh_token(&Imports, &conn, &client, &refresh_token)
    }
    fn current_user(conn: Connection) -> Result<User, ProviderError> {
        account::current_user(&Imports, &conn)
    }
    fn list_projects(
        conn: Connection,
        search: Option<String>,
        cursor: Option<String>,
    ) -> Result<ProjectPage, ProviderError> {
        account::list_projects(&Imports, &conn, search.as_deref(), cursor.as_deref())
    }
    fn list_webhooks(conn: Connection, project: ProjectRef) -> Result<Vec<Webhook>, ProviderError> {
        account::list_webhooks(&Imports, &conn, &project)
    }
    fn register_webhook(
        conn: Connection,
        project: ProjectRef,
        spec: WebhookSpec,
    ) -> Result<Registration, ProviderError> {
        account::register_webhook(&Imports, &conn, &project, &spec)
    }
    fn remove_webhook(
        conn: Connection,
        project: ProjectRef,
        webhook_id: String,
    ) -> Result<(), ProviderError> {
        account::remove_webhook(&Imports, &conn, &project, &webhook_id)
    }
    fn list_pipelines(
        conn: Connection,
        project: ProjectRef,
        above: Option<u64>,
        limit: u32,
    ) -> Result<Vec<PipelineSummary>, ProviderError> {
        account::list_pipelines(&Imports, &conn, &project, above, limit)
    }
    fn get_failure_details(
        conn: Connection,
        event: FailureEvent,
    ) -> Result<FailureDetails, ProviderError> {
        crate::failure::get_failure_details(&Imports, &conn, &event)
    }
    fn extract_job_log(
        conn: Connection,
        project: ProjectRef,
        job: Job,
    ) -> Result<LogSource, ProviderError> {
        crate::failure::extract_job_log(&Imports, &conn, &project, &job)
    }
}

impl EndpointsGuest for Component {
    fn defaults(web_base: String) -> Result<Connection, ProviderError> {
        crate::endpoints::defaults(&web_base)
    }
}

impl GreenRunsGuest for Component {
    fn last_green_job(
        conn: Connection,
        project: ProjectRef,
        job_name: String,
        git_ref: Option<String>,
        before: Option<u64>,
        known: Option<u64>,
    ) -> Result<GreenRun, ProviderError> {
        crate::green_runs::last_green_job(
            &Imports,
            &conn,
            &project,
            &job_name,
            git_ref.as_deref(),
            before,
            known,
        )
    }
}

exlogare_kit::export!(Component);
