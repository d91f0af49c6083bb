//! GitFlic OAuth, which is not the standard OAuth 2 shape (DOC unless marked): comma-separated
//! scopes, `redirect_url` instead of `redirect_uri`, the code exchanged with a GET, camelCase
//! token fields. The client secret never reaches the plugin: exchange and refresh name the
//! `client-basic` credential and the host adds it.

use serde_json::{Value, json};

use crate::api::{Api, join_url, parse_json, redact_query, snippet, status_error, transport_error};
use crate::model::{value_string, value_u64};
use crate::{
    Connection, Credential, Host, InvalidInput, Method, OauthClient, ProviderError, Request,
    TokenSet,
};

/// The announcement's three scopes plus `PROJECT_EDIT`, which managing webhooks most likely
/// needs (gitflic-api.md). Used when the host passes no scopes.
pub const DEFAULT_SCOPES: [&str; 4] =
    ["PROJECT_READ", "PROJECT_WRITE", "USER_READ", "PROJECT_EDIT"];

fn invalid(field: &str, message: impl Into<String>) -> ProviderError {
    ProviderError::InvalidInput(InvalidInput {
        field: field.into(),
        message: message.into(),
    })
}

fn is_http_url(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://")) && s.len() > "https://".len()
}

pub fn authorize_url(
    conn: &Connection,
    client: &OauthClient,
    state: &str,
) -> Result<String, ProviderError> {
    if client.client_id.trim().is_empty() {
        return Err(invalid("client.client-id", "the OAuth client id is empty"));
    }
    if !is_http_url(&client.redirect_url) {
        return Err(invalid(
            "client.redirect-url",
            format!("`{}` is not an absolute http(s) URL", client.redirect_url),
        ));
    }
    if state.is_empty() {
        return Err(invalid(
            "state",
            "the OAuth state is empty; it is what ties the callback to this request",
        ));
    }
    if let Some(bad) = client
        .scopes
        .iter()
        .find(|s| s.is_empty() || s.contains(','))
    {
        return Err(invalid(
            "client.scopes",
            format!("`{bad}` is not a GitFlic scope name"),
        ));
    }
    let scopes: Vec<&str> = if client.scopes.is_empty() {
        DEFAULT_SCOPES.to_vec()
    } else {
        client.scopes.iter().map(String::as_str).collect()
    };
    // Each scope is encoded on its own and the list joined with a literal comma, as GitFlic's
    // documentation writes it (`scope=USER_READ,PROJECT_READ`).
    let scope = scopes
        .iter()
        .map(|s| crate::api::encode(s))
        .collect::<Vec<_>>()
        .join(",");
    let rest = join_url(
        "",
        &[],
        &[
            ("client_id", &client.client_id),
            ("redirect_url", &client.redirect_url),
            ("state", state),
        ],
    );
    Ok(format!(
        "{}?scope={scope}&{}",
        join_url(&conn.oauth_base, &["oauth", "authorize"], &[]),
        &rest[1..]
    ))
}

/// Where the token endpoints live: `{oauth}/{prefix}api/token/{access|refresh}`.
///
/// Authorize is `{oauth}/oauth/authorize` on both kinds of GitFlic, but the token endpoints
/// differ (gitflic-api.md, "Added after a second search", OAuth): the cloud's dedicated OAuth
/// host serves them at its root (`https://oauth.gitflic.ru/api/token/access`, DOC), while a
/// self-hosted instance, which serves OAuth on itself, has them under `/oauth`
/// (`{instance}/oauth/api/token/access`). A connection whose OAuth base is its web address
/// (what [`crate::endpoints::defaults`] derives for self-hosted) is the instance shape; any other
/// OAuth base is a dedicated OAuth host. Refresh follows the same prefix; on self-hosted that
/// is by analogy with the exchange (UNKNOWN).
pub fn token_url(conn: &Connection, kind: &str, query: &[(&str, &str)]) -> String {
    let same = |a: &str, b: &str| {
        a.trim()
            .trim_end_matches('/')
            .eq_ignore_ascii_case(b.trim().trim_end_matches('/'))
    };
    if same(&conn.oauth_base, &conn.web_base) {
        join_url(&conn.oauth_base, &["oauth", "api", "token", kind], query)
    } else {
        join_url(&conn.oauth_base, &["api", "token", kind], query)
    }
}

/// `GET {token}/access?code=…` ([`token_url`]; PRACTICE, two clients; one sends Basic client
/// credentials, one nothing: Basic is sent, which a server that does not need it ignores).
pub fn exchange_code<H: Host>(
    host: &H,
    conn: &Connection,
    code: &str,
) -> Result<TokenSet, ProviderError> {
    if code.trim().is_empty() {
        return Err(invalid("code", "the authorization code is empty"));
    }
    let url = token_url(conn, "access", &[("code", code)]);
    token_call(
        host,
        conn,
        Request {
            method: Method::Get,
            url,
            headers: vec![("accept".into(), "application/json".into())],
            body: None,
            credential: Some(Credential::ClientBasic),
        },
        "code",
    )
}

/// `POST {token}/refresh` ([`token_url`]) with `{"refreshToken": …}` and Basic client credentials
/// (ONE CLIENT). Whether the refresh token rotates is UNKNOWN: whatever comes back is returned.
pub fn refresh_token<H: Host>(
    host: &H,
    conn: &Connection,
    refresh: &str,
) -> Result<TokenSet, ProviderError> {
    if refresh.trim().is_empty() {
        return Err(invalid("refresh-token", "the refresh token is empty"));
    }
    let url = token_url(conn, "refresh", &[]);
    token_call(
        host,
        conn,
        Request {
            method: Method::Post,
            url,
            headers: vec![
                ("accept".into(), "application/json".into()),
                ("content-type".into(), "application/json".into()),
            ],
            body: Some(json!({ "refreshToken": refresh }).to_string().into_bytes()),
            credential: Some(Credential::ClientBasic),
        },
        "refresh-token",
    )
}

fn token_call<H: Host>(
    host: &H,
    conn: &Connection,
    req: Request,
    field: &str,
) -> Result<TokenSet, ProviderError> {
    let resp = host
        .send(&req)
        .map_err(|e| transport_error(req.method, &req.url, e))?;
    if !(200..300).contains(&resp.status) {
        // A refused code or refresh token is an OAuth refusal, whatever 4xx GitFlic picks for it
        // (standard servers answer 400 invalid_grant): the user has to connect again.
        if matches!(resp.status, 400 | 401 | 403) {
            return Err(ProviderError::CredentialsRejected(format!(
                "{} {} answered {}: {}",
                crate::api::method_name(req.method),
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
    let value = parse_json(&resp.body, req.method, &req.url)?;
    token_set(&value, host.now(), crate::options::naive_utc_offset(conn)?).ok_or_else(|| {
        invalid(
            "response",
            format!(
                "the token response has no `accessToken`: {}",
                snippet(&resp.body)
            ),
        )
    })
}

/// Reads a token response. The expiry field's name is UNKNOWN: `expires_in` / `expiresIn` are
/// seconds from now; `expires` / `expiresAt` / `expires_at` are seconds from now when small,
/// else an epoch number or a timestamp (a zone-less one read at `naive_offset`).
pub fn token_set(v: &Value, now_ms: i64, naive_offset: i32) -> Option<TokenSet> {
    let get = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| v.get(*n).filter(|x| !x.is_null()))
    };
    let access_token = get(&["accessToken", "access_token"]).and_then(value_string)?;
    let refresh_token = get(&["refreshToken", "refresh_token"]).and_then(value_string);
    let expires_at = if let Some(secs) = get(&["expires_in", "expiresIn"]).and_then(value_u64) {
        // Saturating: an absurd lifetime (fuzzing sent 1e16 s) is "never expires", not an
        // overflow panic, nor a wrapped value that reads as already expired.
        Some(now_ms.saturating_add(i64::try_from(secs).unwrap_or(i64::MAX).saturating_mul(1000)))
    } else {
        get(&["expiresAt", "expires_at", "expires"]).and_then(|x| match value_u64(x) {
            // Up to ten years is a duration; anything larger is a point in time.
            Some(n) if n <= 315_360_000 => Some(now_ms + n as i64 * 1000),
            _ => crate::model::timestamp(x, naive_offset),
        })
    };
    Some(TokenSet {
        access_token,
        refresh_token,
        expires_at,
    })
}

/// `GET /user/me` (DOC; `GET /user` lists every user).
pub fn current_user<H: Host>(host: &H, conn: &Connection) -> Result<crate::User, ProviderError> {
    let api = Api::new(host, conn);
    let v = api.get_json(
        api.url(&["user", "me"], &[]),
        crate::api::token(),
        "connection",
    )?;
    let u: crate::model::RestUser = serde_json::from_value(v.clone())
        .map_err(|e| invalid("response", format!("GET /user/me: {e}")))?;
    let (Some(id), Some(username)) = (u.id, u.username) else {
        return Err(invalid(
            "response",
            format!(
                "GET /user/me has no `id` or `username`: {}",
                snippet(v.to_string().as_bytes())
            ),
        ));
    };
    let display_name = u.full_name.or_else(|| {
        let full = [u.name, u.surname]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        (!full.is_empty()).then_some(full)
    });
    Ok(crate::User {
        id,
        username,
        display_name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{FakeHost, NOW, conn};

    /// Found by the `rest_json` fuzz target: `now + expires_in * 1000` overflowed.
    #[test]
    fn fuzz_regression_absurd_expires_in_saturates() {
        for secs in [
            serde_json::json!(10_000_000_000_000_000u64),
            serde_json::json!(u64::MAX),
        ] {
            let t = token_set(
                &serde_json::json!({"accessToken": "a", "expires_in": secs}),
                NOW,
                0,
            )
            .unwrap();
            assert_eq!(t.expires_at, Some(i64::MAX), "{secs}");
        }
    }

    fn client(scopes: &[&str]) -> OauthClient {
        OauthClient {
            client_id: "exlogare-test".into(),
            redirect_url: "https://exlogare.example/api/integrations/gitflic/oauth/callback".into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn authorize_url_uses_gitflic_parameter_names() {
        let url = authorize_url(&conn(), &client(&[]), "st/1").unwrap();
        assert_eq!(
            url,
            "https://oauth.gitflic.ru/oauth/authorize?scope=PROJECT_READ,PROJECT_WRITE,USER_READ,PROJECT_EDIT&client_id=exlogare-test&redirect_url=https%3A%2F%2Fexlogare.example%2Fapi%2Fintegrations%2Fgitflic%2Foauth%2Fcallback&state=st%2F1"
        );
        assert!(
            authorize_url(&conn(), &client(&["USER_READ"]), "s")
                .unwrap()
                .contains("?scope=USER_READ&")
        );
    }

    #[test]
    fn authorize_url_rejects_bad_input() {
        let field = |r: Result<String, ProviderError>| match r {
            Err(ProviderError::InvalidInput(i)) => i.field,
            other => panic!("{other:?}"),
        };
        let mut c = client(&[]);
        c.client_id.clear();
        assert_eq!(field(authorize_url(&conn(), &c, "s")), "client.client-id");
        let mut c = client(&[]);
        c.redirect_url = "/callback".into();
        assert_eq!(
            field(authorize_url(&conn(), &c, "s")),
            "client.redirect-url"
        );
        assert_eq!(field(authorize_url(&conn(), &client(&[]), "")), "state");
        assert_eq!(
            field(authorize_url(&conn(), &client(&["A,B"]), "s")),
            "client.scopes"
        );
    }

    #[test]
    fn exchange_sends_client_basic_and_reads_any_expiry() {
        let host = FakeHost::new();
        host.on(
            Method::Get,
            "https://oauth.gitflic.ru/api/token/access?code=c0de",
            200,
            r#"{"accessToken":"a1","refreshToken":"r1","expires":"2026-12-20T10:00:00"}"#,
        );
        let t = exchange_code(&host, &conn(), "c0de").unwrap();
        assert_eq!(t.access_token, "a1");
        assert_eq!(t.refresh_token.as_deref(), Some("r1"));
        // Zone-less expiry, read as UTC by default: 30 days after NOW.
        assert_eq!(t.expires_at, Some(NOW + 30 * 86_400_000));
        assert_eq!(
            host.requests.borrow()[0].credential,
            Some(Credential::ClientBasic)
        );
    }

    #[test]
    fn self_hosted_exchanges_under_oauth_on_the_instance() {
        let own = crate::endpoints::defaults("https://git.example.com/gitflic").unwrap();
        // Authorize keeps `{oauth}/oauth/authorize` on both shapes.
        assert!(
            authorize_url(&own, &client(&[]), "s")
                .unwrap()
                .starts_with("https://git.example.com/gitflic/oauth/authorize?")
        );
        let host = FakeHost::new();
        host.on(
            Method::Get,
            "https://git.example.com/gitflic/oauth/api/token/access?code=c0de",
            200,
            r#"{"accessToken":"a1","refreshToken":"r1","expires_in":60}"#,
        );
        host.on(
            Method::Post,
            "https://git.example.com/gitflic/oauth/api/token/refresh",
            200,
            r#"{"accessToken":"a2"}"#,
        );
        let t = exchange_code(&host, &own, "c0de").unwrap();
        assert_eq!(
            (t.access_token.as_str(), t.expires_at),
            ("a1", Some(NOW + 60_000))
        );
        assert_eq!(refresh_token(&host, &own, "r1").unwrap().access_token, "a2");
        let reqs = host.requests.borrow();
        assert_eq!(reqs.len(), 2);
        assert!(reqs.iter().all(|r| host.matched(r)));
        assert_eq!(reqs[0].credential, Some(Credential::ClientBasic));

        // The cloud keeps the token endpoints at its OAuth host's root.
        let cloud = crate::endpoints::defaults("https://gitflic.ru").unwrap();
        assert_eq!(
            token_url(&cloud, "access", &[("code", "c")]),
            "https://oauth.gitflic.ru/api/token/access?code=c"
        );
        assert_eq!(
            token_url(&cloud, "refresh", &[]),
            "https://oauth.gitflic.ru/api/token/refresh"
        );
        // A trailing slash or another case on one of the roots is still the instance shape.
        let mut odd = own.clone();
        odd.oauth_base = "https://GIT.example.com/gitflic/".into();
        assert_eq!(
            token_url(&odd, "refresh", &[]),
            "https://GIT.example.com/gitflic/oauth/api/token/refresh"
        );
    }

    #[test]
    fn token_expiry_shapes() {
        let t = |v: Value| token_set(&v, NOW, 3 * 3600).unwrap().expires_at;
        assert_eq!(
            t(json!({"accessToken": "a", "expires_in": 3600})),
            Some(NOW + 3_600_000)
        );
        assert_eq!(
            t(json!({"accessToken": "a", "expires": "2592000"})),
            Some(NOW + 2_592_000_000)
        );
        assert_eq!(
            t(json!({"accessToken": "a", "expiresAt": (NOW / 1000) + 60})),
            Some(NOW + 60_000)
        );
        assert_eq!(
            t(json!({"accessToken": "a", "expiresAt": NOW + 60_000})),
            Some(NOW + 60_000)
        );
        assert_eq!(
            t(json!({"accessToken": "a", "expiresAt": "2026-11-20T10:01:00Z"})),
            Some(NOW + 60_000)
        );
        assert_eq!(t(json!({"accessToken": "a"})), None);
        assert!(token_set(&json!({"refreshToken": "r"}), NOW, 0).is_none());
    }

    #[test]
    fn refresh_posts_json_and_maps_refusals() {
        let host = FakeHost::new();
        host.on(
            Method::Post,
            "https://oauth.gitflic.ru/api/token/refresh",
            200,
            r#"{"accessToken":"a2","expires_in":2592000}"#,
        );
        let t = refresh_token(&host, &conn(), "r1").unwrap();
        assert_eq!((t.access_token.as_str(), t.refresh_token), ("a2", None));
        let req = host.requests.borrow()[0].clone();
        assert_eq!(
            serde_json::from_slice::<Value>(req.body.as_deref().unwrap()).unwrap(),
            json!({"refreshToken": "r1"})
        );
        assert_eq!(req.credential, Some(Credential::ClientBasic));

        let host = FakeHost::new();
        host.on(
            Method::Post,
            "https://oauth.gitflic.ru/api/token/refresh",
            400,
            r#"{"error":"invalid_grant"}"#,
        );
        assert!(
            matches!(refresh_token(&host, &conn(), "old"), Err(ProviderError::CredentialsRejected(m)) if m.contains("invalid_grant"))
        );

        let host = FakeHost::new();
        host.on(
            Method::Get,
            "https://oauth.gitflic.ru/api/token/access?code=x",
            200,
            r#"{"error":"no"}"#,
        );
        assert!(
            matches!(exchange_code(&host, &conn(), "x"), Err(ProviderError::InvalidInput(i)) if i.message.contains("accessToken"))
        );
        assert!(
            matches!(exchange_code(&host, &conn(), " "), Err(ProviderError::InvalidInput(i)) if i.field == "code")
        );
        assert!(
            host.requests.borrow().len() == 1,
            "an empty code is refused before any request"
        );
    }

    #[test]
    fn current_user_reads_user_me() {
        let host = FakeHost::new();
        host.on(Method::Get, "https://api.gitflic.ru/user/me", 200,
            r#"{"id":"7cda0fdc","username":"ivan","name":"Ivan","surname":"Petrov","fullName":null,"email":"i@example.ru"}"#);
        let u = current_user(&host, &conn()).unwrap();
        assert_eq!(
            (
                u.id.as_str(),
                u.username.as_str(),
                u.display_name.as_deref()
            ),
            ("7cda0fdc", "ivan", Some("Ivan Petrov"))
        );
        assert_eq!(host.requests.borrow()[0].credential, crate::api::token());

        let host = FakeHost::new();
        host.on(
            Method::Get,
            "https://api.gitflic.ru/user/me",
            403,
            "Access Denied",
        );
        assert!(
            matches!(current_user(&host, &conn()), Err(ProviderError::CredentialsRejected(m)) if m.contains("403: Access Denied"))
        );
    }
}
