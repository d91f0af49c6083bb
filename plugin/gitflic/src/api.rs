//! The GitFlic REST client: URLs, requests, status-to-error mapping, `_embedded` paging.
//!
//! Every request carries an absolute URL built from the connection's `api-base` (or
//! `oauth-base`); the host adds `Authorization: token …` itself when the request names the
//! `access-token("token")` credential, so the plugin never holds the token.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{
    Connection, Credential, Host, HttpError, InvalidInput, Method, ProviderError, RateLimit,
    Request, Response,
};

/// Longest excerpt of an error body kept in a message, in characters.
pub const SNIPPET_CHARS: usize = 300;

/// Characters of a URL path segment or query value that are left as they are (RFC 3986 unreserved).
fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

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
/// look-alike host such as `https://api.gitflic.ru.evil.example` never gets the credential.
pub fn is_under(url: &str, base: &str) -> bool {
    let base = base.trim_end_matches('/');
    if base.is_empty() {
        return false;
    }
    match url.get(..base.len()) {
        Some(prefix) if prefix.eq_ignore_ascii_case(base) => {
            matches!(url.as_bytes().get(base.len()), None | Some(b'/' | b'?' | b'#'))
        }
        _ => false,
    }
}

pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// A bounded, single-line excerpt of an error body whatever its shape: JSON with the usual
/// message fields (Spring's `error`/`exception`/`message`, problem+json's `title`/`detail`),
/// other JSON as compact text, or plain text/HTML/a Java stack trace with its whitespace folded.
pub fn snippet(body: &[u8]) -> String {
    const KEYS: [&str; 8] =
        ["title", "error", "exception", "message", "detail", "error_description", "errorMessage", "description"];
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
            if parts.is_empty() { Value::Object(map).to_string() } else { parts.join(": ") }
        }
        Ok(other) => other.to_string(),
        Err(_) => String::from_utf8_lossy(body).split_whitespace().collect::<Vec<_>>().join(" "),
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
    let secs = ((at - now_ms).max(0) + 999) / 1000;
    Some(secs.min(u32::MAX as i64) as u32)
}

fn invalid(field: &str, message: String) -> ProviderError {
    ProviderError::InvalidInput(InvalidInput { field: field.into(), message })
}

/// Maps a response that is not a success. `field` names the input most likely at fault when
/// GitFlic refuses the request itself (another 4xx).
pub fn status_error(
    method: Method,
    url: &str,
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
    field: &str,
    now_ms: i64,
) -> ProviderError {
    let msg = format!("{} {} answered {}: {}", method_name(method), redact_query(url), status, snippet(body));
    match status {
        401 | 403 => ProviderError::CredentialsRejected(msg),
        404 | 410 => ProviderError::NotFound(msg),
        429 => ProviderError::RateLimited(RateLimit {
            retry_after_secs: retry_after_secs(header(headers, "retry-after"), now_ms),
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
        HttpError::Denied(why) => ProviderError::Denied(format!("{what}: refused by the sandbox: {why}")),
        HttpError::TooLarge(limit) => {
            ProviderError::Denied(format!("{what}: response larger than the sandbox's cap of {limit} bytes"))
        }
        HttpError::InvalidRequest(why) => ProviderError::Denied(format!("{what}: request refused by the host: {why}")),
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

pub fn token() -> Option<Credential> {
    Some(Credential::AccessToken("token".into()))
}

/// One page of an `_embedded` list.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// No further page (by `page.totalPages`, else by a short page).
    pub last: bool,
}

pub struct Api<'a, H: Host> {
    pub host: &'a H,
    pub conn: &'a Connection,
}

impl<'a, H: Host> Api<'a, H> {
    pub fn new(host: &'a H, conn: &'a Connection) -> Self {
        Api { host, conn }
    }

    pub fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> String {
        join_url(&self.conn.api_base, segments, query)
    }

    /// Sends and maps every failure; only 2xx comes back.
    pub fn send(&self, req: Request, field: &str) -> Result<Response, ProviderError> {
        let resp = self.host.send(&req).map_err(|e| transport_error(req.method, &req.url, e))?;
        if (200..300).contains(&resp.status) {
            Ok(resp)
        } else {
            Err(status_error(req.method, &req.url, resp.status, &resp.headers, &resp.body, field, self.host.now()))
        }
    }

    pub fn get_json(&self, url: String, credential: Option<Credential>, field: &str) -> Result<Value, ProviderError> {
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

    /// One page of a REST list: `GET {api}/{segments}?{query}&page=&size=`, items under
    /// `_embedded.<list_key>`. A missing `_embedded` is an empty list (GitFlic omits it then).
    pub fn get_page<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &[(&str, &str)],
        list_key: &str,
        page: u32,
        size: u32,
        field: &str,
    ) -> Result<Page<T>, ProviderError> {
        let (page_s, size_s) = (page.to_string(), size.to_string());
        let mut q: Vec<(&str, &str)> = query.to_vec();
        q.push(("page", &page_s));
        q.push(("size", &size_s));
        let url = self.url(segments, &q);
        let value = self.get_json(url.clone(), token(), field)?;
        parse_page(value, list_key, page, size, &url)
    }
}

pub fn parse_json(body: &[u8], method: Method, url: &str) -> Result<Value, ProviderError> {
    serde_json::from_slice(body).map_err(|e| {
        invalid(
            "response",
            format!("{} {} answered with a body that is not JSON ({e}): {}", method_name(method), redact_query(url), snippet(body)),
        )
    })
}

pub fn parse_page<T: DeserializeOwned>(
    value: Value,
    list_key: &str,
    page: u32,
    size: u32,
    url: &str,
) -> Result<Page<T>, ProviderError> {
    let raw = parse_list(value, list_key, page, size, url)?;
    let items = raw
        .items
        .into_iter()
        .map(serde_json::from_value)
        .collect::<Result<Vec<T>, _>>()
        .map_err(|e| {
            invalid("response", format!("GET {}: a list item is not an object of the expected shape: {e}", redact_query(url)))
        })?;
    Ok(Page { items, last: raw.last })
}

/// The envelope half of [`parse_page`], kept out of the generic function so the component
/// carries it once rather than once per item type.
fn parse_list(value: Value, list_key: &str, page: u32, size: u32, url: &str) -> Result<Page<Value>, ProviderError> {
    let bad = |what: String| invalid("response", format!("GET {}: {what}", redact_query(url)));
    let info = value.get("page").cloned();
    let list = match value {
        // Some endpoints (and older versions) answer with a bare array.
        Value::Array(items) => items,
        Value::Object(mut map) => match map.remove("_embedded") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(mut embedded)) => match embedded.remove(list_key) {
                Some(Value::Array(items)) => items,
                Some(other) => return Err(bad(format!("`_embedded.{list_key}` is {other}, not a list"))),
                // The list key is ONE CLIENT knowledge for some lists: when it differs but
                // `_embedded` holds exactly one list, that list is the one.
                None => {
                    let mut lists = embedded.into_iter().filter_map(|(_, v)| match v {
                        Value::Array(a) => Some(a),
                        _ => None,
                    });
                    match (lists.next(), lists.next()) {
                        (Some(only), None) => only,
                        (None, _) => Vec::new(),
                        (Some(_), Some(_)) => return Err(bad(format!("`_embedded` has several lists and no `{list_key}`"))),
                    }
                }
            },
            Some(other) => return Err(bad(format!("`_embedded` is {other}, not an object"))),
        },
        other => return Err(bad(format!("expected a list page, got {}", snippet(other.to_string().as_bytes())))),
    };
    let n = list.len();
    let total_pages = info.as_ref().and_then(|i| i.get("totalPages")).and_then(crate::model::value_u64);
    let number = info.as_ref().and_then(|i| i.get("number")).and_then(crate::model::value_u64).unwrap_or(page as u64);
    let last = match total_pages {
        Some(total) => number + 1 >= total || n == 0,
        None => n < size as usize,
    };
    Ok(Page { items: list, last })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RestPipeline;
    use serde_json::json;

    #[test]
    fn urls_are_absolute_and_encoded() {
        assert_eq!(
            join_url("https://git.example.com/rest-api/", &["project", "ac me", "api"], &[("q", "a&b=c"), ("page", "0")]),
            "https://git.example.com/rest-api/project/ac%20me/api?q=a%26b%3Dc&page=0"
        );
        assert_eq!(redact_query("https://o/api/token/access?code=secret"), "https://o/api/token/access");
    }

    #[test]
    fn credential_only_under_the_api_base() {
        let base = "https://git.example.com/rest-api";
        assert!(is_under("https://git.example.com/rest-api/project/a/b", base));
        assert!(is_under("https://GIT.example.com/rest-api?x", base));
        assert!(!is_under("https://git.example.com/rest-apix/a", base));
        assert!(!is_under("https://git.example.com/other", base));
        assert!(!is_under("https://api.gitflic.ru.evil.example/x", "https://api.gitflic.ru"));
        assert!(!is_under("https://cdn.gitflic.ru/x", "https://api.gitflic.ru"));
        assert!(!is_under("https://anything", ""));
    }

    #[test]
    fn error_mapping() {
        let now = 1_795_168_800_000; // 2026-11-20T10:00:00Z
        let map = |status, headers: &[(&str, &str)], body: &str| {
            let h: Vec<(String, String)> = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            status_error(Method::Get, "https://api.gitflic.ru/user/me?x=1", status, &h, body.as_bytes(), "project", now)
        };
        assert!(matches!(map(401, &[], ""), ProviderError::CredentialsRejected(m) if m.contains("401") && !m.contains("x=1")));
        assert!(matches!(map(403, &[], "Forbidden"), ProviderError::CredentialsRejected(m) if m.contains("403: Forbidden")));
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
        assert!(matches!(map(500, &[], ""), ProviderError::Transient(m) if m.contains("500: (empty body)")));
        assert!(matches!(map(503, &[], ""), ProviderError::Transient(_)));
        assert!(matches!(map(400, &[], "bad"), ProviderError::InvalidInput(i) if i.field == "project" && i.message.contains("400: bad")));
        assert!(matches!(map(302, &[], ""), ProviderError::InvalidInput(i) if i.field == "connection.api-base"));
    }

    #[test]
    fn transport_errors() {
        let url = "https://api.gitflic.ru/x";
        assert!(matches!(transport_error(Method::Get, url, HttpError::Denied("egress".into())), ProviderError::Denied(m) if m.contains("egress")));
        assert!(matches!(transport_error(Method::Get, url, HttpError::TooLarge(16)), ProviderError::Denied(m) if m.contains("16 bytes")));
        assert!(matches!(transport_error(Method::Get, url, HttpError::Timeout), ProviderError::Transient(_)));
        assert!(matches!(transport_error(Method::Get, url, HttpError::Transport("reset".into())), ProviderError::Transient(_)));
    }

    #[test]
    fn snippets_of_every_shape_are_bounded() {
        assert_eq!(snippet(br#"{"title":"Not Found","message":"Project not found"}"#), "Not Found: Project not found");
        assert_eq!(
            snippet(br#"{"timestamp":"2026-11-20T10:00:00","status":500,"error":"Internal Server Error","exception":"java.lang.IllegalStateException","message":"boom"}"#),
            "Internal Server Error: java.lang.IllegalStateException: boom"
        );
        assert_eq!(snippet(br#"{"code":17}"#), r#"{"code":17}"#);
        assert_eq!(snippet(b"java.lang.NullPointerException\n\tat ru.gitflic.Foo.bar(Foo.java:10)"),
            "java.lang.NullPointerException at ru.gitflic.Foo.bar(Foo.java:10)");
        assert_eq!(snippet(b""), "(empty body)");
        let long = "ж".repeat(1000);
        let s = snippet(long.as_bytes());
        assert_eq!(s.chars().count(), SNIPPET_CHARS + 1);
        assert!(s.ends_with('…'));
        assert!(snippet(&[0xff, 0xfe, b'x']).contains('x'));
    }

    #[test]
    fn pages_with_and_without_embedded() {
        let url = "https://api.gitflic.ru/project/a/b/cicd/pipeline?page=0&size=2";
        let full: Page<RestPipeline> = parse_page(
            json!({"_embedded": {"restPipelineModelList": [{"localId": 3}, {"localId": "2"}]},
                   "page": {"size": 2, "totalElements": 3, "totalPages": 2, "number": 0}}),
            "restPipelineModelList", 0, 2, url).unwrap();
        assert_eq!(full.items.iter().map(|p| p.local_id).collect::<Vec<_>>(), [Some(3), Some(2)]);
        assert!(!full.last);
        let empty: Page<RestPipeline> =
            parse_page(json!({"page": {"size": 2, "totalElements": 0, "totalPages": 0, "number": 0}}), "restPipelineModelList", 0, 2, url).unwrap();
        assert!(empty.items.is_empty() && empty.last);
        let no_info: Page<RestPipeline> = parse_page(json!({"_embedded": {"otherList": [{"localId": 1}]}}), "restPipelineModelList", 0, 2, url).unwrap();
        assert_eq!(no_info.items.len(), 1);
        assert!(no_info.last, "a short page without page info is the last");
        let bare: Page<RestPipeline> = parse_page(json!([{"localId": 1}, {"localId": 2}]), "x", 0, 2, url).unwrap();
        assert!(!bare.last, "a full page without page info may have a successor");
        let err = parse_page::<RestPipeline>(json!({"_embedded": {"restPipelineModelList": 5}}), "restPipelineModelList", 0, 2, url).unwrap_err();
        assert!(matches!(err, ProviderError::InvalidInput(i) if i.field == "response"));
        let err = parse_page::<RestPipeline>(json!({"_embedded": {"restPipelineModelList": [1]}}), "restPipelineModelList", 0, 2, url).unwrap_err();
        assert!(matches!(err, ProviderError::InvalidInput(_)));
    }
}
