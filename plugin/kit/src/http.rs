//! HTTP over the host's import: absolute URLs, requests, status-to-error mapping, error snippets.
//!
//! Every request carries an absolute URL built from the connection's `api-base` (or
//! `oauth-base`); the host adds the credential itself when the request names one
//! (`access-token("<scheme>")` for the API origin, `client-basic` for the OAuth origin), so the
//! plugin never holds a token. Every failure comes back as a typed `provider-error`.

use serde_json::Value;

use crate::invalid_input as invalid;
use crate::{
    Connection, Credential, Host, HttpError, Method, ProviderError, RateLimit, Request, Response,
};

/// Longest excerpt of an error body kept in a message, in characters.
pub const SNIPPET_CHARS: usize = 300;

/// Characters of a URL path segment or query value that are left as they are (RFC 3986 unreserved).
fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Percent-encodes everything but the unreserved characters.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if unreserved(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `base` + `/seg/seg…` + `?k=v&…`, each segment and value percent-encoded.
pub fn join_url(base: &str, segments: &[&str], query: &[(&str, &str)]) -> String {
    let mut url = base.trim_end_matches('/').to_string();
    for seg in segments {
        url.push('/');
        url.push_str(&encode(seg));
    }
    for (i, (k, v)) in query.iter().enumerate() {
        url.push(if i == 0 { '?' } else { '&' });
        url.push_str(&encode(k));
        url.push('=');
        url.push_str(&encode(v));
    }
    url
}

/// The URL without its query, for messages: queries may hold OAuth codes.
pub fn redact_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// Whether `url` lies under `base` (same origin and path prefix, on a segment boundary), so a
/// look-alike host such as `https://api.example.com.evil.example` never gets the credential.
pub fn is_under(url: &str, base: &str) -> bool {
    let base = base.trim_end_matches('/');
    if base.is_empty() {
        return false;
    }
    match url.get(..base.len()) {
        Some(prefix) if prefix.eq_ignore_ascii_case(base) => {
            matches!(
                url.as_bytes().get(base.len()),
                None | Some(b'/' | b'?' | b'#')
            )
        }
        _ => false,
    }
}

/// A header's value by case-insensitive name (the first, if repeated).
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A bounded, single-line excerpt of an error body whatever its shape: JSON with the usual
/// message fields (Spring's `error`/`exception`/`message`, problem+json's `title`/`detail`),
/// other JSON as compact text, or plain text/HTML/a Java stack trace with its whitespace folded.
pub fn snippet(body: &[u8]) -> String {
    const KEYS: [&str; 8] = [
        "title",
        "error",
        "exception",
        "message",
        "detail",
        "error_description",
        "errorMessage",
        "description",
    ];
    let text = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => {
            let mut parts: Vec<String> = Vec::new();
            for k in KEYS {
                if let Some(Value::String(s)) = map.get(k) {
                    let s = s.trim();
                    if !s.is_empty() && !parts.iter().any(|p| p == s) {
                        parts.push(s.to_string());
                    }
                }
            }
            if parts.is_empty() {
                Value::Object(map).to_string()
            } else {
                parts.join(": ")
            }
        }
        Ok(other) => other.to_string(),
        Err(_) => String::from_utf8_lossy(body)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
    };
    if text.is_empty() {
        return "(empty body)".into();
    }
    match text.char_indices().nth(SNIPPET_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// `Retry-After` as seconds: an integer, or an HTTP date counted from the host clock's `now`.
pub fn retry_after_secs(value: Option<&str>, now_ms: i64) -> Option<u32> {
    let value = value?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(secs.min(u32::MAX as u64) as u32);
    }
    let at = crate::time::parse_http_date(value)?;
    // Rounded up: waiting a fraction too long is harmless, too short earns another 429.
    let secs = at.saturating_sub(now_ms).max(0).saturating_add(999) / 1000;
    Some(secs.min(u32::MAX as i64) as u32)
}

/// Seconds until a rate limit resets, from the headers of a throttled answer: `Retry-After`
/// (seconds or an HTTP date), else `RateLimit-Reset` / `X-RateLimit-Reset`. The reset header is
/// a delta in seconds in the IETF draft but a Unix time on GitLab and GitHub, so a value past
/// 1e9 (2001) is read as a Unix time and counted from `now_ms`.
pub fn rate_limit_wait(headers: &[(String, String)], now_ms: i64) -> Option<u32> {
    if let Some(secs) = retry_after_secs(header(headers, "retry-after"), now_ms) {
        return Some(secs);
    }
    let reset =
        header(headers, "ratelimit-reset").or_else(|| header(headers, "x-ratelimit-reset"))?;
    let n: u64 = reset.trim().parse().ok()?;
    let secs = if n >= 1_000_000_000 {
        (n as i64).saturating_sub(now_ms.div_euclid(1000)).max(0) as u64
    } else {
        n
    };
    Some(secs.min(u32::MAX as u64) as u32)
}

/// The URL of a `Link` header's relation (RFC 8288), e.g. `rel="next"` for the next page:
/// `<https://h/api?page=2>; rel="next", <…>; rel="last"`. Relation names match in any case, and
/// a link with several relations (`rel="next last"`) counts for each.
pub fn link_rel(headers: &[(String, String)], rel: &str) -> Option<String> {
    headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("link"))
        .flat_map(|(_, v)| split_links(v))
        .find_map(|(target, params)| {
            let has = params.split(';').any(|p| {
                let Some((k, v)) = p.split_once('=') else {
                    return false;
                };
                k.trim().eq_ignore_ascii_case("rel")
                    && v.trim()
                        .trim_matches('"')
                        .split_whitespace()
                        .any(|r| r.eq_ignore_ascii_case(rel))
            });
            has.then(|| target.to_string())
        })
}

/// `<target>; params` pieces of one `Link` value; commas inside `<…>` belong to the target.
fn split_links(value: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(open) = rest.find('<') {
        let Some(close) = rest[open..].find('>').map(|i| open + i) else {
            break;
        };
        let target = &rest[open + 1..close];
        let after = &rest[close + 1..];
        let end = after
            .find('<')
            .map_or(after.len(), |i| after[..i].rfind(',').unwrap_or(i));
        out.push((target.trim(), after[..end].trim_start_matches(';')));
        rest = &after[end..];
    }
    out
}

/// `k=v&k=v` in `application/x-www-form-urlencoded` form (OAuth token requests).
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Maps a response that is not a success. `field` names the input most likely at fault when
/// the provider refuses the request itself (another 4xx).
pub fn status_error(
    method: Method,
    url: &str,
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
    field: &str,
    now_ms: i64,
) -> ProviderError {
    let msg = format!(
        "{} {} answered {}: {}",
        method_name(method),
        redact_query(url),
        status,
        snippet(body)
    );
    match status {
        401 | 403 => ProviderError::CredentialsRejected(msg),
        404 | 410 => ProviderError::NotFound(msg),
        429 => ProviderError::RateLimited(RateLimit {
            retry_after_secs: rate_limit_wait(headers, now_ms),
            message: msg,
        }),
        500..=599 => ProviderError::Transient(msg),
        // A redirect from the API means the configured base is not the REST root (the web UI
        // redirects to its login page); the host never follows redirects for API calls.
        300..=399 => invalid("connection.api-base", msg),
        _ => invalid(field, msg),
    }
}

/// Maps the host's refusal or a network failure.
pub fn transport_error(method: Method, url: &str, e: HttpError) -> ProviderError {
    let what = format!("{} {}", method_name(method), redact_query(url));
    match e {
        HttpError::Denied(why) => {
            ProviderError::Denied(format!("{what}: refused by the sandbox: {why}"))
        }
        HttpError::TooLarge(limit) => ProviderError::Denied(format!(
            "{what}: response larger than the sandbox's cap of {limit} bytes"
        )),
        HttpError::InvalidRequest(why) => {
            ProviderError::Denied(format!("{what}: request refused by the host: {why}"))
        }
        HttpError::Timeout => ProviderError::Transient(format!("{what}: timed out")),
        HttpError::Transport(why) => ProviderError::Transient(format!("{what}: {why}")),
    }
}

pub fn method_name(m: Method) -> &'static str {
    match m {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Patch => "PATCH",
        Method::Delete => "DELETE",
    }
}

/// A connection's REST API: URLs under its `api-base`, and requests whose every failure comes
/// back as a typed error.
pub struct Api<'a, H: Host> {
    pub host: &'a H,
    pub conn: &'a Connection,
}

impl<'a, H: Host> Api<'a, H> {
    pub fn new(host: &'a H, conn: &'a Connection) -> Self {
        Api { host, conn }
    }

    /// `{api-base}/{segments…}?{query…}`, each part percent-encoded.
    pub fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> String {
        join_url(&self.conn.api_base, segments, query)
    }

    /// Sends and maps every failure; only 2xx comes back.
    pub fn send(&self, req: Request, field: &str) -> Result<Response, ProviderError> {
        let resp = self
            .host
            .send(&req)
            .map_err(|e| transport_error(req.method, &req.url, e))?;
        if (200..300).contains(&resp.status) {
            Ok(resp)
        } else {
            Err(status_error(
                req.method,
                &req.url,
                resp.status,
                &resp.headers,
                &resp.body,
                field,
                self.host.now(),
            ))
        }
    }

    pub fn get_json(
        &self,
        url: String,
        credential: Option<Credential>,
        field: &str,
    ) -> Result<Value, ProviderError> {
        let req = Request {
            method: Method::Get,
            url,
            headers: vec![("accept".into(), "application/json".into())],
            body: None,
            credential,
        };
        let url = req.url.clone();
        let resp = self.send(req, field)?;
        parse_json(&resp.body, Method::Get, &url)
    }

    pub fn post_json(
        &self,
        url: String,
        body: Option<&Value>,
        credential: Option<Credential>,
        field: &str,
    ) -> Result<Response, ProviderError> {
        let mut headers = vec![("accept".into(), "application/json".into())];
        if body.is_some() {
            headers.push(("content-type".into(), "application/json".into()));
        }
        let req = Request {
            method: Method::Post,
            url,
            headers,
            body: body.map(|b| b.to_string().into_bytes()),
            credential,
        };
        self.send(req, field)
    }

    /// A request with an optional JSON body (`PUT`, `DELETE`, …); only 2xx comes back.
    pub fn send_json(
        &self,
        method: Method,
        url: String,
        body: Option<&Value>,
        credential: Option<Credential>,
        field: &str,
    ) -> Result<Response, ProviderError> {
        let mut headers = vec![("accept".into(), "application/json".into())];
        if body.is_some() {
            headers.push(("content-type".into(), "application/json".into()));
        }
        self.send(
            Request {
                method,
                url,
                headers,
                body: body.map(|b| b.to_string().into_bytes()),
                credential,
            },
            field,
        )
    }
}

/// A `POST` of form fields ([`form_encode`]) asking for JSON back: the shape of an OAuth 2
/// token request (RFC 6749 §4.1.3, §6). The response is returned whatever its status: a token
/// endpoint's refusals (`invalid_grant`) are the provider's to map.
pub fn form_request(
    url: String,
    pairs: &[(&str, &str)],
    credential: Option<Credential>,
) -> Request {
    Request {
        method: Method::Post,
        url,
        headers: vec![
            ("accept".into(), "application/json".into()),
            (
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            ),
        ],
        body: Some(form_encode(pairs).into_bytes()),
        credential,
    }
}

/// A JSON body, or `invalid-input` on `response` with a snippet of what came instead.
pub fn parse_json(body: &[u8], method: Method, url: &str) -> Result<Value, ProviderError> {
    serde_json::from_slice(body).map_err(|e| {
        invalid(
            "response",
            format!(
                "{} {} answered with a body that is not JSON ({e}): {}",
                method_name(method),
                redact_query(url),
                snippet(body)
            ),
        )
    })
}

/// `scheme://authority` of an absolute URL.
pub fn origin(url: &str) -> Option<&str> {
    let start = url.find("://")? + 3;
    let end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    Some(&url[..end])
}

/// Whether `url` starts with `http://` or `https://` (in any case).
pub fn is_absolute(url: &str) -> bool {
    let l = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    l.starts_with("https://") || l.starts_with("http://")
}

/// A `Location` (or any relative reference) resolved against the URL it came from. The host
/// never follows redirects; a provider that follows one sends a new request, which the host
/// checks against its egress policy again.
pub fn resolve(base: &str, reference: &str) -> Option<String> {
    if is_absolute(reference) {
        return Some(reference.to_string());
    }
    if let Some(rest) = reference.strip_prefix("//") {
        let scheme = &base[..base.find("://")?];
        return Some(format!("{scheme}://{rest}"));
    }
    let origin = origin(base)?;
    if reference.starts_with('/') {
        return Some(format!("{origin}{reference}"));
    }
    let path = base[origin.len()..].split(['?', '#']).next().unwrap_or("");
    let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
    let dir = if dir.is_empty() { "/" } else { dir };
    Some(format!("{origin}{dir}{reference}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_absolute_and_encoded() {
        assert_eq!(
            join_url(
                "https://git.example.com/rest-api/",
                &["project", "ac me", "api"],
                &[("q", "a&b=c"), ("page", "0")]
            ),
            "https://git.example.com/rest-api/project/ac%20me/api?q=a%26b%3Dc&page=0"
        );
        assert_eq!(
            redact_query("https://o/api/token/access?code=secret"),
            "https://o/api/token/access"
        );
    }

    #[test]
    fn credential_only_under_the_api_base() {
        let base = "https://git.example.com/rest-api";
        assert!(is_under(
            "https://git.example.com/rest-api/project/a/b",
            base
        ));
        assert!(is_under("https://GIT.example.com/rest-api?x", base));
        assert!(!is_under("https://git.example.com/rest-apix/a", base));
        assert!(!is_under("https://git.example.com/other", base));
        assert!(!is_under(
            "https://api.gitflic.ru.evil.example/x",
            "https://api.gitflic.ru"
        ));
        assert!(!is_under(
            "https://cdn.gitflic.ru/x",
            "https://api.gitflic.ru"
        ));
        assert!(!is_under("https://anything", ""));
    }

    #[test]
    fn error_mapping() {
        let now = 1_795_168_800_000; // 2026-11-20T10:00:00Z
        let map = |status, headers: &[(&str, &str)], body: &str| {
            let h: Vec<(String, String)> = headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            status_error(
                Method::Get,
                "https://api.gitflic.ru/user/me?x=1",
                status,
                &h,
                body.as_bytes(),
                "project",
                now,
            )
        };
        assert!(
            matches!(map(401, &[], ""), ProviderError::CredentialsRejected(m) if m.contains("401") && !m.contains("x=1"))
        );
        assert!(
            matches!(map(403, &[], "Forbidden"), ProviderError::CredentialsRejected(m) if m.contains("403: Forbidden"))
        );
        assert!(matches!(map(404, &[], "{}"), ProviderError::NotFound(m) if m.contains("404")));
        assert_eq!(
            map(429, &[("Retry-After", "120")], "slow down"),
            ProviderError::RateLimited(RateLimit {
                retry_after_secs: Some(120),
                message: "GET https://api.gitflic.ru/user/me answered 429: slow down".into()
            })
        );
        match map(429, &[("retry-after", "Fri, 20 Nov 2026 10:01:30 GMT")], "") {
            ProviderError::RateLimited(r) => assert_eq!(r.retry_after_secs, Some(90)),
            other => panic!("{other:?}"),
        }
        match map(429, &[("retry-after", "Fri, 20 Nov 2026 09:00:00 GMT")], "") {
            ProviderError::RateLimited(r) => assert_eq!(r.retry_after_secs, Some(0)),
            other => panic!("{other:?}"),
        }
        match map(429, &[], "") {
            ProviderError::RateLimited(r) => assert_eq!(r.retry_after_secs, None),
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(map(500, &[], ""), ProviderError::Transient(m) if m.contains("500: (empty body)"))
        );
        assert!(matches!(map(503, &[], ""), ProviderError::Transient(_)));
        assert!(
            matches!(map(400, &[], "bad"), ProviderError::InvalidInput(i) if i.field == "project" && i.message.contains("400: bad"))
        );
        assert!(
            matches!(map(302, &[], ""), ProviderError::InvalidInput(i) if i.field == "connection.api-base")
        );
    }

    #[test]
    fn rate_limit_wait_from_retry_after_or_reset() {
        let now = 1_795_168_800_000; // 2026-11-20T10:00:00Z
        let h = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            rate_limit_wait(
                &h(&[("Retry-After", "7"), ("RateLimit-Reset", "1795168900")]),
                now
            ),
            Some(7)
        );
        // GitLab: a Unix time.
        assert_eq!(
            rate_limit_wait(&h(&[("RateLimit-Reset", "1795168830")]), now),
            Some(30)
        );
        assert_eq!(
            rate_limit_wait(&h(&[("ratelimit-reset", "1795160000")]), now),
            Some(0)
        );
        // The IETF draft: a delta.
        assert_eq!(
            rate_limit_wait(&h(&[("X-RateLimit-Reset", "45")]), now),
            Some(45)
        );
        assert_eq!(
            rate_limit_wait(&h(&[("RateLimit-Reset", "soon")]), now),
            None
        );
        assert_eq!(rate_limit_wait(&h(&[]), now), None);
        match status_error(
            Method::Get,
            "https://h/x",
            429,
            &h(&[("RateLimit-Reset", "1795168860")]),
            b"Retry later",
            "f",
            now,
        ) {
            ProviderError::RateLimited(r) => assert_eq!(r.retry_after_secs, Some(60)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn link_relations() {
        let h = |v: &str| vec![("Link".to_string(), v.to_string())];
        let gitlab = r#"<https://gitlab.example.com/api/v4/projects?membership=true&page=2&per_page=2>; rel="next", <https://gitlab.example.com/api/v4/projects?membership=true&page=1&per_page=2>; rel="first", <https://gitlab.example.com/api/v4/projects?membership=true&page=3&per_page=2>; rel="last""#;
        assert_eq!(
            link_rel(&h(gitlab), "next").as_deref(),
            Some("https://gitlab.example.com/api/v4/projects?membership=true&page=2&per_page=2")
        );
        assert_eq!(
            link_rel(&h(gitlab), "LAST").as_deref(),
            Some("https://gitlab.example.com/api/v4/projects?membership=true&page=3&per_page=2")
        );
        assert_eq!(link_rel(&h(gitlab), "prev"), None);
        assert_eq!(
            link_rel(&h("<https://h/a?x=1,2>;rel=\"next last\""), "last").as_deref(),
            Some("https://h/a?x=1,2")
        );
        assert_eq!(link_rel(&h("garbage"), "next"), None);
        assert_eq!(link_rel(&[], "next"), None);
    }

    #[test]
    fn forms_are_encoded() {
        assert_eq!(
            form_encode(&[
                ("grant_type", "authorization_code"),
                ("redirect_uri", "https://x/cb?a=1")
            ]),
            "grant_type=authorization_code&redirect_uri=https%3A%2F%2Fx%2Fcb%3Fa%3D1"
        );
        let r = form_request(
            "https://h/oauth/token".into(),
            &[("code", "c d")],
            Some(Credential::ClientBasic),
        );
        assert_eq!(r.body.as_deref(), Some(&b"code=c%20d"[..]));
        assert!(
            r.headers
                .iter()
                .any(|(k, v)| k == "content-type" && v == "application/x-www-form-urlencoded")
        );
    }

    #[test]
    fn transport_errors() {
        let url = "https://api.gitflic.ru/x";
        assert!(
            matches!(transport_error(Method::Get, url, HttpError::Denied("egress".into())), ProviderError::Denied(m) if m.contains("egress"))
        );
        assert!(
            matches!(transport_error(Method::Get, url, HttpError::TooLarge(16)), ProviderError::Denied(m) if m.contains("16 bytes"))
        );
        assert!(matches!(
            transport_error(Method::Get, url, HttpError::Timeout),
            ProviderError::Transient(_)
        ));
        assert!(matches!(
            transport_error(Method::Get, url, HttpError::Transport("reset".into())),
            ProviderError::Transient(_)
        ));
    }

    #[test]
    fn snippets_of_every_shape_are_bounded() {
        assert_eq!(
            snippet(br#"{"title":"Not Found","message":"Project not found"}"#),
            "Not Found: Project not found"
        );
        assert_eq!(
            snippet(br#"{"timestamp":"2026-11-20T10:00:00","status":500,"error":"Internal Server Error","exception":"java.lang.IllegalStateException","message":"boom"}"#),
            "Internal Server Error: java.lang.IllegalStateException: boom"
        );
        assert_eq!(snippet(br#"{"code":17}"#), r#"{"code":17}"#);
        assert_eq!(
            snippet(b"java.lang.NullPointerException\n\tat ru.gitflic.Foo.bar(Foo.java:10)"),
            "java.lang.NullPointerException at ru.gitflic.Foo.bar(Foo.java:10)"
        );
        assert_eq!(snippet(b""), "(empty body)");
        let long = "ж".repeat(1000);
        let s = snippet(long.as_bytes());
        assert_eq!(s.chars().count(), SNIPPET_CHARS + 1);
        assert!(s.ends_with('…'));
        assert!(snippet(&[0xff, 0xfe, b'x']).contains('x'));
    }

    #[test]
    fn references_resolve_against_their_url() {
        assert_eq!(
            resolve("https://h/a/b?q", "c"),
            Some("https://h/a/c".into())
        );
        assert_eq!(
            resolve("https://h/a/b", "//cdn/x"),
            Some("https://cdn/x".into())
        );
        assert_eq!(
            resolve("https://h/a/b", "/dl/t2"),
            Some("https://h/dl/t2".into())
        );
        assert_eq!(
            resolve("https://h/a", "HTTPS://other/x"),
            Some("HTTPS://other/x".into())
        );
        assert_eq!(origin("https://h:8443/a?b"), Some("https://h:8443"));
        assert_eq!(resolve("no-scheme", "x"), None);
    }
}
