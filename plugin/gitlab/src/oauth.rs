//! OAuth 2 against GitLab's Doorkeeper (ref §9): the authorization-code flow at
//! `{oauth}/oauth/authorize`, code exchange and refresh at `{oauth}/oauth/token`, where `{oauth}`
//! is the instance's web root (gitlab.com and self-managed alike, `endpoints.rs`). Token requests
//! are forms with the client in HTTP Basic (`client-basic`: the host adds the client secret,
//! which the plugin never sees); `client_id` goes in the form as well, as GitLab's docs show it.
//!
//! Refresh rotates: GitLab invalidates the old access and refresh tokens and answers a new pair
//! (ref §9), so the new refresh token is always returned for the host to store.

use serde_json::Value;

use exlogare_kit::http::{
    form_request, join_url, method_name, parse_json, redact_query, snippet, status_error,
    transport_error,
};
use exlogare_kit::invalid_input as invalid;
use exlogare_kit::json::{value_string, value_u64};

use crate::api::{Api, bearer};
use crate::model::GlUser;
use crate::{Connection, Credential, Host, OauthClient, ProviderError, Request, TokenSet, User};

/// Scopes asked for when the client names none: `api` (registering hooks needs it, ref §8).
pub const DEFAULT_SCOPES: [&str; 1] = ["api"];
/// GitLab's access-token lifetime, for an answer without `expires_in` (ref §9: some 15.0
/// versions left it out).
pub const DEFAULT_EXPIRES_IN: u64 = 7200;

fn check_client(client: &OauthClient) -> Result<(), ProviderError> {
    if client.client_id.trim().is_empty() {
        return Err(invalid(
            "client.client-id",
            "the OAuth application id is empty; register an application in GitLab (User settings > Applications) and configure its id",
        ));
    }
    if !exlogare_kit::http::is_absolute(&client.redirect_url) {
        return Err(invalid(
            "client.redirect-url",
            format!(
                "`{}` is not an absolute http(s) URL",
                redact_query(&client.redirect_url)
            ),
        ));
    }
    Ok(())
}

/// `{oauth}/oauth/authorize?client_id=&redirect_uri=&response_type=code&state=&scope=` with the
/// scopes space-separated.
pub fn authorize_url(
    conn: &Connection,
    client: &OauthClient,
    state: &str,
) -> Result<String, ProviderError> {
    check_client(client)?;
    if state.is_empty() {
        return Err(invalid(
            "state",
            "the OAuth state is empty; it protects the callback from forgery",
        ));
    }
    if let Some(bad) = client
        .scopes
        .iter()
        .find(|s| s.trim().is_empty() || s.contains(char::is_whitespace))
    {
        return Err(invalid(
            "client.scopes",
            format!("`{bad}` is not one GitLab scope (read_api, api, read_user, …)"),
        ));
    }
    let scopes = if client.scopes.is_empty() {
        DEFAULT_SCOPES.join(" ")
    } else {
        client.scopes.join(" ")
    };
    Ok(join_url(
        &conn.oauth_base,
        &["oauth", "authorize"],
        &[
            ("client_id", &client.client_id),
            ("redirect_uri", &client.redirect_url),
            ("response_type", "code"),
            ("state", state),
            ("scope", &scopes),
        ],
    ))
}

fn token_url(conn: &Connection) -> String {
    join_url(&conn.oauth_base, &["oauth", "token"], &[])
}

/// `POST {oauth}/oauth/token` with `grant_type=authorization_code`.
pub fn exchange_code<H: Host>(
    host: &H,
    conn: &Connection,
    client: &OauthClient,
    code: &str,
) -> Result<TokenSet, ProviderError> {
    check_client(client)?;
    if code.trim().is_empty() {
        return Err(invalid("code", "the authorization code is empty"));
    }
    let req = form_request(
        token_url(conn),
        &[
            ("grant_type", "authorization_code"),
            ("code", code.trim()),
            ("redirect_uri", &client.redirect_url),
            ("client_id", &client.client_id),
        ],
        Some(Credential::ClientBasic),
    );
    token_call(host, req, "code")
}

/// `POST {oauth}/oauth/token` with `grant_type=refresh_token` and the same `redirect_uri`.
pub fn refresh_token<H: Host>(
    host: &H,
    conn: &Connection,
    client: &OauthClient,
    refresh: &str,
) -> Result<TokenSet, ProviderError> {
    check_client(client)?;
    if refresh.trim().is_empty() {
        return Err(invalid("refresh-token", "the refresh token is empty"));
    }
    let req = form_request(
        token_url(conn),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.trim()),
            ("redirect_uri", &client.redirect_url),
            ("client_id", &client.client_id),
        ],
        Some(Credential::ClientBasic),
    );
    token_call(host, req, "refresh-token")
}

fn token_call<H: Host>(host: &H, req: Request, field: &str) -> Result<TokenSet, ProviderError> {
    let resp = host
        .send(&req)
        .map_err(|e| transport_error(req.method, &req.url, e))?;
    if !(200..300).contains(&resp.status) {
        // Doorkeeper answers a used, expired or rotated grant with 400 `invalid_grant` and a bad
        // client with 401 `invalid_client` (ref §9): either way the user has to connect again.
        if matches!(resp.status, 400 | 401 | 403) {
            return Err(ProviderError::CredentialsRejected(format!(
                "{} {} answered {}: {}; connect the GitLab account again",
                method_name(req.method),
                redact_query(&req.url),
                resp.status,
                snippet(&resp.body)
            )));
        }
        return Err(status_error(
            req.method,
            &req.url,
            resp.status,
            &resp.headers,
            &resp.body,
            field,
            host.now(),
        ));
    }
    let v = parse_json(&resp.body, req.method, &req.url)?;
    token_set(&v, host.now()).ok_or_else(|| {
        invalid(
            "response",
            format!(
                "the token answer has no `access_token`: {}",
                snippet(&resp.body)
            ),
        )
    })
}

/// `{"access_token","token_type":"bearer","expires_in":7200,"refresh_token","created_at"}`.
/// The expiry is counted from the host's clock, not GitLab's `created_at`: the host compares it
/// with its own clock, and the two may disagree.
pub fn token_set(v: &Value, now_ms: i64) -> Option<TokenSet> {
    let access_token = v.get("access_token").and_then(value_string)?;
    let secs = v
        .get("expires_in")
        .and_then(value_u64)
        .unwrap_or(DEFAULT_EXPIRES_IN);
    Some(TokenSet {
        access_token,
        refresh_token: v.get("refresh_token").and_then(value_string),
        expires_at: Some(
            now_ms.saturating_add(i64::try_from(secs).unwrap_or(i64::MAX).saturating_mul(1000)),
        ),
    })
}

/// `GET /user`.
pub fn current_user<H: Host>(host: &H, conn: &Connection) -> Result<User, ProviderError> {
    let api = Api::new(host, conn);
    let v = api.get_json(api.url(&["user"], &[]), bearer(), "connection")?;
    let u: GlUser = serde_json::from_value(v.clone()).unwrap_or_default();
    let (Some(id), Some(username)) = (u.id, u.username) else {
        return Err(invalid(
            "response",
            format!(
                "GET /user has no `id` or `username`: {}",
                snippet(v.to_string().as_bytes())
            ),
        ));
    };
    Ok(User {
        id,
        username,
        display_name: u.name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Method;
    use crate::fake::{FakeHost, NOW, conn};

    fn client() -> OauthClient {
        OauthClient {
            client_id: "exlogare-test".into(),
            redirect_url: "https://exlogare.example/api/integrations/gitlab/oauth/callback".into(),
            scopes: vec!["api".into(), "read_user".into()],
        }
    }

    fn form(req: &Request) -> String {
        String::from_utf8(req.body.clone().unwrap()).unwrap()
    }

    #[test]
    fn authorize_url_has_gitlab_parameters() {
        assert_eq!(
            authorize_url(&conn(), &client(), "st/1").unwrap(),
            "https://gitlab.com/oauth/authorize?client_id=exlogare-test&redirect_uri=https%3A%2F%2Fexlogare.example%2Fapi%2Fintegrations%2Fgitlab%2Foauth%2Fcallback&response_type=code&state=st%2F1&scope=api%20read_user"
        );
        let own = crate::endpoints::defaults("https://git.example.com/gitlab").unwrap();
        let mut c = client();
        c.scopes.clear();
        assert!(
            authorize_url(&own, &c, "s")
                .unwrap()
                .starts_with("https://git.example.com/gitlab/oauth/authorize?")
        );
        assert!(
            authorize_url(&own, &c, "s")
                .unwrap()
                .ends_with("&scope=api")
        );
        assert!(
            matches!(authorize_url(&conn(), &client(), ""), Err(ProviderError::InvalidInput(i)) if i.field == "state")
        );
        c.scopes = vec!["api read_user".into()];
        assert!(
            matches!(authorize_url(&conn(), &c, "s"), Err(ProviderError::InvalidInput(i)) if i.field == "client.scopes")
        );
    }

    #[test]
    fn code_exchange_and_rotating_refresh() {
        let host = FakeHost::new();
        host.on(Method::Post, "https://gitlab.com/oauth/token", 200,
            r#"{"access_token":"de6780bc506a0446309bd9362820ba8aed28aa506c71eedbe1c5c4f9dd350e54","token_type":"bearer","expires_in":7200,"refresh_token":"8257e65c97202ed1726cf9571600918f3bffb2544b26e00a61df9897668c33a1","created_at":1607635748}"#);
        let t = exchange_code(&host, &conn(), &client(), "c0de").unwrap();
        assert_eq!(t.expires_at, Some(NOW + 7_200_000));
        assert!(t.refresh_token.as_deref().unwrap().starts_with("8257"));
        let req = host.requests.borrow()[0].clone();
        assert_eq!(req.credential, Some(Credential::ClientBasic));
        assert_eq!(
            form(&req),
            "grant_type=authorization_code&code=c0de&redirect_uri=https%3A%2F%2Fexlogare.example%2Fapi%2Fintegrations%2Fgitlab%2Foauth%2Fcallback&client_id=exlogare-test"
        );

        host.on(
            Method::Post,
            "https://gitlab.com/oauth/token",
            200,
            r#"{"access_token":"a2","refresh_token":"r2","created_at":1607635748}"#,
        );
        let t = refresh_token(&host, &conn(), &client(), "r1").unwrap();
        assert_eq!(
            (
                t.access_token.as_str(),
                t.refresh_token.as_deref(),
                t.expires_at
            ),
            ("a2", Some("r2"), Some(NOW + 7_200_000))
        );
        assert!(
            form(&host.requests.borrow()[1])
                .starts_with("grant_type=refresh_token&refresh_token=r1&redirect_uri=")
        );

        host.on(Method::Post, "https://gitlab.com/oauth/token", 400, r#"{"error":"invalid_grant","error_description":"The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client."}"#);
        assert!(
            matches!(refresh_token(&host, &conn(), &client(), "r1"), Err(ProviderError::CredentialsRejected(m)) if m.contains("invalid_grant") && m.contains("connect"))
        );
        assert!(
            matches!(exchange_code(&host, &conn(), &client(), " "), Err(ProviderError::InvalidInput(i)) if i.field == "code")
        );
    }

    #[test]
    fn current_user_reads_user() {
        let host = FakeHost::new();
        host.on(
            Method::Get,
            "https://gitlab.com/api/v4/user",
            200,
            r#"{"id":1,"username":"john_smith","name":"John Smith","state":"active"}"#,
        );
        let u = current_user(&host, &conn()).unwrap();
        assert_eq!(
            (
                u.id.as_str(),
                u.username.as_str(),
                u.display_name.as_deref()
            ),
            ("1", "john_smith", Some("John Smith"))
        );
        host.on(Method::Get, "https://gitlab.com/api/v4/user", 401, r#"{"error":"invalid_token","error_description":"Token is expired. You can either do re-authorization or token refresh."}"#);
        assert!(
            matches!(current_user(&host, &conn()), Err(ProviderError::CredentialsRejected(m)) if m.contains("Token is expired"))
        );
    }
}
