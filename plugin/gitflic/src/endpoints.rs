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

use crate::{Connection, ProviderError};
// The strict reading of a typed address is the kit's (plugin/kit/src/webroot.rs); the rules
// below are GitFlic's.
use exlogare_kit::webroot::{invalid, parse};

pub const CLOUD_WEB: &str = "https://gitflic.ru";
pub const CLOUD_API: &str = "https://api.gitflic.ru";
pub const CLOUD_OAUTH: &str = "https://oauth.gitflic.ru";

/// The field every refusal names.
pub use exlogare_kit::webroot::FIELD;

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
        // The REST address pasted for the web one: its root is derived, never typed.
        _ if base
            .segments()
            .last()
            .is_some_and(|last| last.eq_ignore_ascii_case("rest-api")) =>
        {
            Err(invalid(format!(
                "`{}` is the REST address; give the web address (without /rest-api), the REST one is derived from it",
                base.url()
            )))
        }
        _ => {
            let web = base.url();
            // REST under the instance, OAuth on the instance itself.
            Ok(connection(web.clone(), format!("{web}/rest-api"), web))
        }
    }
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
