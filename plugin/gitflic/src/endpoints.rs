//! A connection's roots from the one address a user types: `exlogare:ci/endpoints.defaults`
//! (contract 0.1.1, optional). Pure: no request, no clock, no state.
//!
//! The rules (gitflic-api.md, "Hosts and auth"):
//! - **GitFlic cloud**, `https://gitflic.ru`: REST `https://api.gitflic.ru`, OAuth
//!   `https://oauth.gitflic.ru` (DOC). `www.gitflic.ru`, `http://`, an explicit `:443` and a
//!   trailing dot name the same service and normalize to `https://gitflic.ru`: the cloud is
//!   served over https (the REST and OAuth hosts are https in every source) and its links use
//!   the bare host. A path (a pasted project page), another port, or the cloud's own `api.` and
//!   `oauth.` hosts are refused with a hint instead: none of them is the cloud's web root.
//!   An empty address means the cloud (the contract's "public service").
//! - **Self-hosted**, any other host, optionally under a path prefix
//!   (`https://example.com/gitflic`): REST `{base}/rest-api` (DOC), OAuth on the instance
//!   itself, `{base}` (DOC shows `{instance}/oauth/...`). The plugin appends `oauth/authorize`
//!   to the OAuth base on both kinds, so the cloud's `https://oauth.gitflic.ru/oauth/authorize`
//!   and the instance's `{base}/oauth/authorize` come from the same code. The token endpoints
//!   differ: `https://oauth.gitflic.ru/api/token/access` on the cloud, but
//!   `{base}/oauth/api/token/access` on an instance (gitflic-api.md, 2026-12);
//!   [`crate::oauth::token_url`] tells the two apart by whether the OAuth base is the web base.
//!   The scheme is kept: an intranet instance may serve plain http, and the host's egress
//!   policy decides whether it may be reached.
//!
//! Normal form: trimmed, scheme and host lower-cased, the scheme's default port dropped, no
//! trailing slash; the path keeps its case. Anything that is not the http(s) address of a web
//! root (another scheme, credentials, a query or fragment, `.`/`..` or empty segments, the REST
//! address itself) is `invalid-input` on field `web-base`. Messages never repeat credentials,
//! a query or a fragment: they may hold secrets and end up in logs.

use crate::{Connection, InvalidInput, ProviderError};

pub const CLOUD_WEB: &str = "https://gitflic.ru";
pub const CLOUD_API: &str = "https://api.gitflic.ru";
pub const CLOUD_OAUTH: &str = "https://oauth.gitflic.ru";

/// The field every refusal names.
pub const FIELD: &str = "web-base";

/// Longer than any real address; keeps messages and work bounded.
const MAX_LEN: usize = 2048;

/// `web-base` → the connection it means: normalized web root, derived REST and OAuth roots,
/// no options.
pub fn defaults(web_base: &str) -> Result<Connection, ProviderError> {
    // Empty: the public service, which for GitFlic is the cloud (the announcement's default).
    let web_base = if web_base.trim().is_empty() {
        CLOUD_WEB
    } else {
        web_base
    };
    let base = parse(web_base)?;
    let connection = |web: String, api: String, oauth: String| Connection {
        web_base: web,
        api_base: api,
        oauth_base: oauth,
        options: vec![],
    };
    match base.host.as_str() {
        "gitflic.ru" | "www.gitflic.ru" => {
            if base.port.is_some() {
                return Err(invalid(format!(
                    "GitFlic cloud has no port in its address; use {CLOUD_WEB}"
                )));
            }
            if !base.path.is_empty() {
                return Err(invalid(format!(
                    "`{}` is a page inside GitFlic cloud, not its web root; use {CLOUD_WEB}",
                    base.path
                )));
            }
            Ok(connection(
                CLOUD_WEB.into(),
                CLOUD_API.into(),
                CLOUD_OAUTH.into(),
            ))
        }
        "api.gitflic.ru" | "oauth.gitflic.ru" => Err(invalid(format!(
            "{} is GitFlic cloud's {} host, not its web address; use {CLOUD_WEB}",
            base.host,
            if base.host.starts_with("api.") {
                "REST"
            } else {
                "OAuth"
            }
        ))),
        _ => {
            let port = base.port.map(|p| format!(":{p}")).unwrap_or_default();
            let web = format!("{}://{}{port}{}", base.scheme, base.host, base.path);
            // REST under the instance, OAuth on the instance itself.
            Ok(connection(web.clone(), format!("{web}/rest-api"), web))
        }
    }
}

/// An address split into the parts the rules look at, already normalized.
#[derive(Debug)]
struct WebBase {
    scheme: &'static str,
    /// Lower case, no trailing dot; an IPv6 literal keeps its brackets.
    host: String,
    /// `None` for the scheme's default port.
    port: Option<u16>,
    /// `""` or `/seg/seg` without a trailing slash.
    path: String,
}

fn invalid(message: impl Into<String>) -> ProviderError {
    ProviderError::InvalidInput(InvalidInput {
        field: FIELD.into(),
        message: message.into(),
    })
}

/// The input as a message may show it: no query or fragment, no user info, at most 200 chars.
fn shown(s: &str) -> String {
    let s = s.split(['?', '#']).next().unwrap_or("");
    let s = match s.split_once("://") {
        Some((scheme, rest)) => {
            let end = rest.find('/').unwrap_or(rest.len());
            match rest[..end].rfind('@') {
                Some(at) => format!("{scheme}://…@{}", &rest[at + 1..]),
                None => s.to_string(),
            }
        }
        None => s.to_string(),
    };
    if s.chars().count() > 200 {
        s.chars().take(200).chain(['…']).collect()
    } else {
        s
    }
}

fn parse(input: &str) -> Result<WebBase, ProviderError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(invalid(format!(
            "the web address is empty; GitFlic cloud is {CLOUD_WEB}, a self-hosted instance is its own address (https://git.example.com)"
        )));
    }
    if s.len() > MAX_LEN {
        return Err(invalid(format!(
            "the web address is {} bytes, over the {MAX_LEN}-byte limit",
            s.len()
        )));
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(format!(
            "`{}` contains whitespace or control characters",
            shown(s)
        )));
    }
    let Some((scheme, rest)) = s.split_once("://") else {
        return Err(invalid(format!(
            "`{}` is not an absolute http(s) URL; write it with its scheme (https://…)",
            shown(s)
        )));
    };
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "https" => "https",
        "http" => "http",
        _ => {
            return Err(invalid(format!(
                "`{}` is not an http or https URL",
                shown(s)
            )));
        }
    };
    if rest.contains(['?', '#']) {
        return Err(invalid(format!(
            "`{}` has a query or fragment; give only the address of the web UI root",
            shown(s)
        )));
    }
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if authority.contains('@') {
        return Err(invalid(
            "the address carries credentials (user@ or user:password@); leave them out, the host adds credentials itself",
        ));
    }
    let (host, port) = split_host_port(authority, s)?;
    let port = port.filter(|p| !matches!((scheme, *p), ("https", 443) | ("http", 80)));
    Ok(WebBase {
        scheme,
        host,
        port,
        path: normalize_path(path, s)?,
    })
}

fn split_host_port(authority: &str, whole: &str) -> Result<(String, Option<u16>), ProviderError> {
    let no_host = || invalid(format!("`{}` has no host", shown(whole)));
    let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
        let (v6, after) = inner.split_once(']').ok_or_else(|| {
            invalid(format!(
                "`{}` opens an IPv6 address with `[` and never closes it",
                shown(whole)
            ))
        })?;
        if !v6.contains(':')
            || !v6
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.'))
        {
            return Err(invalid(format!("`[{v6}]` is not an IPv6 address")));
        }
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or_else(|| {
                invalid(format!(
                    "`{}` has text after its IPv6 address",
                    shown(whole)
                ))
            })?),
        };
        (format!("[{}]", v6.to_ascii_lowercase()), port)
    } else {
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        let host = host.strip_suffix('.').unwrap_or(host);
        if host.is_empty() {
            return Err(no_host());
        }
        if !host.is_ascii() {
            return Err(invalid(format!(
                "write the host `{host}` in its ASCII (punycode, xn--…) form"
            )));
        }
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
        };
        if host.len() > 253 || !host.split('.').all(label_ok) {
            return Err(invalid(format!("`{host}` is not a host name")));
        }
        (host.to_ascii_lowercase(), port)
    };
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => return Err(invalid(format!("`{p}` is not a port (1-65535)"))),
        },
    };
    Ok((host, port))
}

/// `/a/b/` → `/a/b`; `""` and `/` → `""`. Refuses empty, `.` and `..` segments, characters
/// a URL path cannot hold as they are, and the REST address's own `/rest-api` at the end.
fn normalize_path(path: &str, whole: &str) -> Result<String, ProviderError> {
    let path = path.trim_end_matches('/');
    if path.is_empty() {
        return Ok(String::new());
    }
    // RFC 3986 pchar: unreserved, sub-delims, `:`, `@`, and `%XX`.
    let pchar = |b: u8| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@%".contains(&b);
    let segments: Vec<&str> = path[1..].split('/').collect();
    for seg in &segments {
        if seg.is_empty() || *seg == "." || *seg == ".." {
            return Err(invalid(format!(
                "`{}` has an empty, `.` or `..` path segment",
                shown(whole)
            )));
        }
        if !seg.bytes().all(pchar) || !percent_escapes_ok(seg) {
            return Err(invalid(format!(
                "the path segment `{seg}` holds characters a URL cannot carry as they are; percent-encode them"
            )));
        }
    }
    if segments
        .last()
        .is_some_and(|last| last.eq_ignore_ascii_case("rest-api"))
    {
        return Err(invalid(format!(
            "`{}` is the REST address; give the web address (without /rest-api), the REST one is derived from it",
            shown(whole)
        )));
    }
    Ok(path.to_string())
}

fn percent_escapes_ok(seg: &str) -> bool {
    let b = seg.as_bytes();
    b.iter().enumerate().all(|(i, &c)| {
        c != b'%'
            || (b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roots(web_base: &str) -> (String, String, String) {
        let c = defaults(web_base).unwrap_or_else(|e| panic!("{web_base:?}: {e:?}"));
        assert!(c.options.is_empty());
        (c.web_base, c.api_base, c.oauth_base)
    }

    fn refusal(web_base: &str) -> String {
        match defaults(web_base) {
            Err(ProviderError::InvalidInput(i)) => {
                assert_eq!(i.field, "web-base", "{web_base:?}");
                i.message
            }
            other => panic!("{web_base:?} should be refused, got {other:?}"),
        }
    }

    #[test]
    fn cloud_in_every_spelling() {
        let cloud = (
            CLOUD_WEB.to_string(),
            CLOUD_API.to_string(),
            CLOUD_OAUTH.to_string(),
        );
        for typed in [
            "https://gitflic.ru",
            "  https://gitflic.ru/  ",
            "https://gitflic.ru///",
            "HTTPS://GitFlic.RU",
            "https://www.gitflic.ru",
            "http://gitflic.ru",
            "http://www.gitflic.ru/",
            "https://gitflic.ru:443",
            "http://gitflic.ru:80",
            "https://gitflic.ru./",
        ] {
            assert_eq!(roots(typed), cloud, "{typed:?}");
        }
    }

    #[test]
    fn self_hosted_on_the_instance_itself() {
        let on = |web: &str| (web.to_string(), format!("{web}/rest-api"), web.to_string());
        assert_eq!(
            roots("https://git.example.com"),
            on("https://git.example.com")
        );
        assert_eq!(
            roots("https://Git.Example.COM/"),
            on("https://git.example.com")
        );
        assert_eq!(
            roots("https://git.example.com:443/"),
            on("https://git.example.com")
        );
        // A path prefix (reverse proxy) is part of every root; its case is kept.
        assert_eq!(
            roots("https://example.com/gitflic"),
            on("https://example.com/gitflic")
        );
        assert_eq!(
            roots("https://example.com/tools/GitFlic/"),
            on("https://example.com/tools/GitFlic")
        );
        // Plain http and a port on an intranet instance stay as typed.
        assert_eq!(roots("http://10.0.0.5:8080/"), on("http://10.0.0.5:8080"));
        assert_eq!(roots("http://git.corp:80"), on("http://git.corp"));
        assert_eq!(
            roots("https://[FD00::5]:8443"),
            on("https://[fd00::5]:8443")
        );
        assert_eq!(
            roots("https://git_1.corp.example/a%20b"),
            on("https://git_1.corp.example/a%20b")
        );
        // Other gitflic.ru hosts are not the cloud's web root or its API: someone's instance.
        assert_eq!(
            roots("https://git.gitflic.ru"),
            on("https://git.gitflic.ru")
        );
    }

    #[test]
    fn derived_roots_give_the_urls_the_plugin_already_calls() {
        use crate::fake::FakeHost;
        let client = crate::OauthClient {
            client_id: "c".into(),
            redirect_url: "https://x.example/cb".into(),
            scopes: vec![],
        };
        let host = FakeHost::new();

        let cloud = defaults("https://www.gitflic.ru/").unwrap();
        assert!(
            crate::oauth::authorize_url(&cloud, &client, "s")
                .unwrap()
                .starts_with("https://oauth.gitflic.ru/oauth/authorize?")
        );
        assert_eq!(
            crate::api::Api::new(&host, &cloud).url(&["user", "me"], &[]),
            "https://api.gitflic.ru/user/me"
        );
        assert_eq!(
            crate::links::pipeline_url(&cloud.web_base, "a", "b", 7),
            "https://gitflic.ru/project/a/b/ci-cd/pipeline/7"
        );

        let own = defaults("https://example.com/gitflic/").unwrap();
        assert!(
            crate::oauth::authorize_url(&own, &client, "s")
                .unwrap()
                .starts_with("https://example.com/gitflic/oauth/authorize?")
        );
        assert_eq!(
            crate::api::Api::new(&host, &own).url(&["user", "me"], &[]),
            "https://example.com/gitflic/rest-api/user/me"
        );
        assert_eq!(
            crate::oauth::token_url(&own, "access", &[("code", "c")]),
            "https://example.com/gitflic/oauth/api/token/access?code=c"
        );
        assert_eq!(
            crate::oauth::token_url(&cloud, "access", &[("code", "c")]),
            "https://oauth.gitflic.ru/api/token/access?code=c"
        );
        assert_eq!(
            crate::links::project_url(&own.web_base, "a", "b"),
            "https://example.com/gitflic/project/a/b"
        );
    }

    #[test]
    fn an_empty_address_means_the_cloud() {
        for empty in ["", "   "] {
            assert_eq!(
                roots(empty),
                (CLOUD_WEB.into(), CLOUD_API.into(), CLOUD_OAUTH.into())
            );
        }
    }

    #[test]
    fn anything_but_a_web_root_is_refused_on_web_base() {
        for bad in [
            "gitflic.ru",
            "//gitflic.ru",
            "ftp://gitflic.ru",
            "javascript://gitflic.ru",
            "https://",
            "https:///path",
            "https://:8080",
            "https://git.example.com:0",
            "https://git.example.com:65536",
            "https://git.example.com:8a",
            "https://git.example.com:",
            "https://git .example.com",
            "https://git.example.com/a b",
            "https://git.example.com/a\"b",
            "https://git.example.com/a\\b",
            "https://git.example.com/50%",
            "https://git.example.com/a/../b",
            "https://git.example.com/./b",
            "https://git.example.com/a//b",
            "https://-git.example.com",
            "https://git..example.com",
            "https://гитфлик.рф",
            "https://[::1",
            "https://[::1]x",
            "https://[zz]",
            "https://git.example.com/?tab=1",
            "https://git.example.com#top",
            "https://git.example.com/rest-api",
            "https://git.example.com/gitflic/REST-API/",
            "https://gitflic.ru/project/acme/api",
            "https://gitflic.ru:8443",
            "https://api.gitflic.ru",
            "https://oauth.gitflic.ru/",
        ] {
            refusal(bad);
        }
        assert!(refusal(&format!("https://{}.example", "a".repeat(3000))).contains("limit"));
        assert!(refusal("https://api.gitflic.ru").contains("REST host"));
        assert!(refusal("https://gitflic.ru/project/acme/api").contains("https://gitflic.ru"));
        assert!(refusal("gitflic.ru").contains("scheme"));
    }

    #[test]
    fn refusals_never_repeat_secrets() {
        for (typed, secret) in [
            ("https://ivan:hunter2@git.example.com", "hunter2"),
            ("https://glpat-abc123@gitflic.ru", "glpat-abc123"),
            ("https://git.example.com/?private_token=t0ken", "t0ken"),
            ("https://git.example.com/#access_token=t0ken", "t0ken"),
            ("ftp://ivan:hunter2@git.example.com", "hunter2"),
            ("https://ivan:hunter2@git.example.com/a b", "hunter2"),
        ] {
            let message = refusal(typed);
            assert!(!message.contains(secret), "{typed:?} → {message}");
        }
        assert!(refusal("https://ivan:hunter2@git.example.com").contains("credentials"));
    }
}
