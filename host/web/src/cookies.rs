//! The page's cookies and the CSRF comparison, as plain functions: what is sent, what is read.
//!
//! The session cookie is `HttpOnly` (no script reads it), `SameSite=Strict` (no other site's
//! page makes the browser send it) and `Secure` when the service is reached over https
//! (`[server] public_url`). Its value is random; the database keeps only its SHA-256
//! (exlogare_service::web_sessions).

use axum::http::HeaderMap;
use axum::http::header::COOKIE;

pub const SESSION: &str = "exlogare_session";
/// How long a sign-in lasts: a working day, after which the token is asked again.
pub const SESSION_LIFETIME_MS: i64 = 12 * 3600 * 1000;

/// The value of cookie `name` in the request, if sent (the first, when sent twice).
pub fn read(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
}

/// Whether cookies must be `Secure`: the service's public address is https.
pub fn secure(public_url: Option<&str>) -> bool {
    public_url.is_some_and(|u| u.trim_start().to_ascii_lowercase().starts_with("https://"))
}

fn attributes(secure: bool, max_age_secs: i64) -> String {
    format!(
        "Path=/; Max-Age={max_age_secs}; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

pub fn set_session(value: &str, secure: bool) -> String {
    format!(
        "{SESSION}={value}; {}",
        attributes(secure, SESSION_LIFETIME_MS / 1000)
    )
}

pub fn clear_session(secure: bool) -> String {
    format!("{SESSION}=; {}", attributes(secure, 0))
}

/// The language switch's choice, kept a year (it is a preference, not a credential).
pub fn set_language(code: &str, secure: bool) -> String {
    format!(
        "{}={code}; {}",
        crate::language::COOKIE,
        attributes(secure, 365 * 24 * 3600)
    )
}

/// Whether a presented secret (a form's CSRF token, the admin token) is the expected one, compared in constant time.
pub fn secret_matches(expected: &str, presented: Option<&str>) -> bool {
    use subtle::ConstantTimeEq;
    presented.is_some_and(|p| {
        p.len() == expected.len() && bool::from(p.as_bytes().ct_eq(expected.as_bytes()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_http_only_strict_and_secure_behind_https() {
        let plain = set_session("abc", false);
        assert_eq!(
            plain,
            "exlogare_session=abc; Path=/; Max-Age=43200; HttpOnly; SameSite=Strict"
        );
        assert!(set_session("abc", true).ends_with("; Secure"));
        assert!(clear_session(true).starts_with("exlogare_session=; Path=/; Max-Age=0;"));
        assert!(secure(Some("https://exlogare.example.ru")));
        assert!(secure(Some("HTTPS://x")));
        assert!(!secure(Some("http://10.0.0.5:8080")));
        assert!(!secure(None));
    }

    #[test]
    fn cookies_are_read_from_every_cookie_header() {
        let mut h = HeaderMap::new();
        h.append(COOKIE, "a=1; exlogare_lang=ru".parse().unwrap());
        h.append(
            COOKIE,
            "exlogare_session=s1; exlogare_session=s2".parse().unwrap(),
        );
        assert_eq!(read(&h, "exlogare_lang").as_deref(), Some("ru"));
        assert_eq!(read(&h, SESSION).as_deref(), Some("s1"));
        assert_eq!(read(&h, "exlogare").as_deref(), None, "names match whole");
        assert_eq!(read(&HeaderMap::new(), SESSION), None);
    }

    #[test]
    fn a_form_passes_only_with_the_sessions_own_token() {
        let t = "f".repeat(64);
        assert!(secret_matches(&t, Some(&t)));
        assert!(!secret_matches(&t, None));
        assert!(!secret_matches(&t, Some("")));
        assert!(!secret_matches(&t, Some(&t[..63])));
        assert!(!secret_matches(&t, Some(&"e".repeat(64))));
    }
}
