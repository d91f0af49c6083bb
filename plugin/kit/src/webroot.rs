//! The web address a user types for a connection, read strictly: what every provider's
//! `endpoints.defaults` needs before it applies its own rules (a public service's host, where
//! the REST and OAuth roots hang off the web root).
//!
//! Normal form: trimmed, scheme and host lower-cased, the scheme's default port dropped, no
//! trailing slash; the path keeps its case. Anything that is not the http(s) address of a web
//! root (another scheme, credentials, a query or fragment, `.`/`..` or empty segments, characters
//! a URL cannot carry) is `invalid-input` on field `web-base`. Messages never repeat credentials,
//! a query or a fragment: they may hold secrets and end up in logs. The scheme is kept: an
//! intranet instance may serve plain http, and the host's egress policy decides whether it may
//! be reached.

use crate::ProviderError;

/// The field every refusal names (the `endpoints.defaults` argument).
pub const FIELD: &str = "web-base";

/// Longer than any real address; keeps messages and work bounded.
const MAX_LEN: usize = 2048;

/// A web address split into the parts a provider's rules look at, already normalized.
#[derive(Debug, Clone, PartialEq)]
pub struct WebRoot {
    /// `https` or `http`.
    pub scheme: &'static str,
    /// Lower case, no trailing dot; an IPv6 literal keeps its brackets.
    pub host: String,
    /// `None` for the scheme's default port.
    pub port: Option<u16>,
    /// `""` or `/seg/seg` without a trailing slash.
    pub path: String,
}

impl WebRoot {
    /// `scheme://host[:port]/path`, the normal form.
    pub fn url(&self) -> String {
        let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
        format!("{}://{}{port}{}", self.scheme, self.host, self.path)
    }

    /// The path's segments (none for a root on the host itself).
    pub fn segments(&self) -> Vec<&str> {
        self.path.split('/').filter(|s| !s.is_empty()).collect()
    }
}

/// `invalid-input` on [`FIELD`].
pub fn invalid(message: impl Into<String>) -> ProviderError {
    crate::invalid_input(FIELD, message)
}

/// The input as a message may show it: no query or fragment, no user info, at most 200 chars.
pub fn shown(s: &str) -> String {
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

/// Reads `input` as the http(s) address of a web root. An empty input is refused too: what an
/// empty address means (a public service, or nothing) is the provider's to decide first.
pub fn parse(input: &str) -> Result<WebRoot, ProviderError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(invalid(
            "the web address is empty; give the address of the web UI (https://git.example.com)",
        ));
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
    Ok(WebRoot {
        scheme,
        host,
        port,
        path: normalize_path(path, s)?,
    })
}

fn split_host_port(authority: &str, whole: &str) -> Result<(String, Option<u16>), ProviderError> {
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
            return Err(invalid(format!("`{}` has no host", shown(whole))));
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

/// `/a/b/` → `/a/b`; `""` and `/` → `""`. Refuses empty, `.` and `..` segments and characters
/// a URL path cannot hold as they are.
fn normalize_path(path: &str, whole: &str) -> Result<String, ProviderError> {
    let path = path.trim_end_matches('/');
    if path.is_empty() {
        return Ok(String::new());
    }
    // RFC 3986 pchar: unreserved, sub-delims, `:`, `@`, and `%XX`.
    let pchar = |b: u8| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@%".contains(&b);
    for seg in path[1..].split('/') {
        if seg.is_empty() || seg == "." || seg == ".." {
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

    fn url(s: &str) -> String {
        parse(s).unwrap_or_else(|e| panic!("{s:?}: {e:?}")).url()
    }

    fn refusal(s: &str) -> String {
        match parse(s) {
            Err(ProviderError::InvalidInput(i)) => {
                assert_eq!(i.field, FIELD);
                i.message
            }
            other => panic!("{s:?} should be refused, got {other:?}"),
        }
    }

    #[test]
    fn normal_form() {
        assert_eq!(
            url("  HTTPS://Git.Example.COM:443/  "),
            "https://git.example.com"
        );
        assert_eq!(url("http://git.corp:80"), "http://git.corp");
        assert_eq!(
            url("https://example.com/tools/GitLab/"),
            "https://example.com/tools/GitLab"
        );
        assert_eq!(url("http://10.0.0.5:8080/"), "http://10.0.0.5:8080");
        assert_eq!(url("https://[FD00::5]:8443"), "https://[fd00::5]:8443");
        assert_eq!(
            url("https://git.example.com./a%20b"),
            "https://git.example.com/a%20b"
        );
        assert_eq!(parse("https://h/a/b").unwrap().segments(), ["a", "b"]);
        assert!(parse("https://h").unwrap().segments().is_empty());
    }

    #[test]
    fn anything_but_a_web_root_is_refused() {
        for bad in [
            "",
            "  ",
            "gitlab.com",
            "//gitlab.com",
            "ftp://gitlab.com",
            "https://",
            "https:///p",
            "https://:8080",
            "https://h:0",
            "https://h:65536",
            "https://h:8a",
            "https://h:",
            "https://g h",
            "https://h/a b",
            "https://h/a\"b",
            "https://h/50%",
            "https://h/a/../b",
            "https://h/./b",
            "https://h/a//b",
            "https://-h.example",
            "https://h..example",
            "https://гитлаб.рф",
            "https://[::1",
            "https://[::1]x",
            "https://[zz]",
            "https://h/?tab=1",
            "https://h#top",
        ] {
            refusal(bad);
        }
        assert!(refusal(&format!("https://{}.example", "a".repeat(3000))).contains("limit"));
        assert!(refusal("gitlab.com").contains("scheme"));
    }

    #[test]
    fn refusals_never_repeat_secrets() {
        for (typed, secret) in [
            ("https://ivan:hunter2@git.example.com", "hunter2"),
            ("https://glpat-abc123@gitlab.com", "glpat-abc123"),
            ("https://git.example.com/?private_token=t0ken", "t0ken"),
            ("https://git.example.com/#access_token=t0ken", "t0ken"),
            ("ftp://ivan:hunter2@git.example.com", "hunter2"),
            ("https://ivan:hunter2@git.example.com/a b", "hunter2"),
        ] {
            let message = refusal(typed);
            assert!(!message.contains(secret), "{typed:?} → {message}");
        }
    }
}
