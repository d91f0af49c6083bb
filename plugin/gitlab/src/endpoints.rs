//! A connection's roots from the one address a user types: `exlogare:ci/endpoints.defaults`
//! (contract 0.1.1, optional). Pure: no request, no clock, no state.
//!
//! GitLab serves everything under one root, gitlab.com and self-managed alike (ref §4, §9, §11):
//! REST at `{web}/api/v4`, OAuth at `{web}/oauth/authorize` and `{web}/oauth/token`, so the OAuth
//! base is the web root itself. A self-managed instance under a relative root
//! (`https://git.example.com/gitlab`) has all three under that prefix.
//!
//! gitlab.com: `https://gitlab.com` in any spelling (`http://`, `:443`, a trailing dot or slash)
//! normalizes to `https://gitlab.com`, which the service is only served as; a path there is a
//! group or project page, not the root, and is refused with a hint. An empty address means
//! gitlab.com (the contract's "public service"). The address's syntax is read by the kit
//! (`exlogare_kit::webroot`); the REST address pasted instead of the web one (`…/api/v4`) is
//! refused here.

use exlogare_kit::webroot::{self, invalid};

use crate::{Connection, ProviderError};

pub const CLOUD_WEB: &str = "https://gitlab.com";

pub fn defaults(web_base: &str) -> Result<Connection, ProviderError> {
    let typed = if web_base.trim().is_empty() {
        CLOUD_WEB
    } else {
        web_base
    };
    let root = webroot::parse(typed)?;
    let segments = root.segments();
    if let [.., api, v] = segments.as_slice()
        && api.eq_ignore_ascii_case("api")
        && v.len() >= 2
        && v[..1].eq_ignore_ascii_case("v")
        && v[1..].bytes().all(|b| b.is_ascii_digit())
    {
        return Err(invalid(format!(
            "`{}` is the REST address; give the web address (without /{api}/{v}), the REST one is derived from it",
            webroot::shown(typed)
        )));
    }
    let web = match root.host.as_str() {
        "gitlab.com" | "www.gitlab.com" => {
            if root.port.is_some() {
                return Err(invalid(format!(
                    "gitlab.com has no port in its address; use {CLOUD_WEB}"
                )));
            }
            if !root.path.is_empty() {
                return Err(invalid(format!(
                    "`{}` is a page inside gitlab.com, not its web root; use {CLOUD_WEB}",
                    root.path
                )));
            }
            CLOUD_WEB.to_string()
        }
        _ => root.url(),
    };
    Ok(Connection {
        api_base: format!("{web}/api/v4"),
        oauth_base: web.clone(),
        web_base: web,
        options: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roots(web: &str) -> (String, String, String) {
        let c = defaults(web).unwrap_or_else(|e| panic!("{web:?}: {e:?}"));
        assert!(c.options.is_empty());
        (c.web_base, c.api_base, c.oauth_base)
    }

    fn refusal(web: &str) -> String {
        match defaults(web) {
            Err(ProviderError::InvalidInput(i)) => {
                assert_eq!(i.field, "web-base");
                i.message
            }
            other => panic!("{web:?} should be refused, got {other:?}"),
        }
    }

    #[test]
    fn gitlab_com_in_every_spelling() {
        let cloud = (
            "https://gitlab.com".to_string(),
            "https://gitlab.com/api/v4".to_string(),
            "https://gitlab.com".to_string(),
        );
        for typed in [
            "",
            "  ",
            "https://gitlab.com",
            "https://gitlab.com/",
            "HTTPS://GitLab.COM",
            "http://gitlab.com",
            "https://gitlab.com:443",
            "https://gitlab.com./",
            "https://www.gitlab.com",
        ] {
            assert_eq!(roots(typed), cloud, "{typed:?}");
        }
    }

    #[test]
    fn self_managed_under_its_own_root_and_prefix() {
        assert_eq!(
            roots("https://git.example.com/gitlab/"),
            (
                "https://git.example.com/gitlab".into(),
                "https://git.example.com/gitlab/api/v4".into(),
                "https://git.example.com/gitlab".into()
            )
        );
        assert_eq!(
            roots("http://10.0.0.5:8080").1,
            "http://10.0.0.5:8080/api/v4"
        );
        assert_eq!(
            roots("https://Gitlab.Corp.Example").0,
            "https://gitlab.corp.example"
        );
    }

    #[test]
    fn anything_but_a_web_root_is_refused() {
        assert!(refusal("https://gitlab.com/api/v4").contains("REST address"));
        assert!(refusal("https://git.example.com/gitlab/api/v4/").contains("REST address"));
        assert!(refusal("https://gitlab.com/gitlab-org/gitlab").contains("https://gitlab.com"));
        assert!(refusal("https://gitlab.com:8443").contains("port"));
        assert!(refusal("gitlab.com").contains("scheme"));
        assert!(!refusal("https://me:glpat-secret@gitlab.com").contains("glpat-secret"));
        // A project that happens to be called `api` is not the REST root.
        assert_eq!(
            roots("https://git.example.com/api").1,
            "https://git.example.com/api/api/v4"
        );
    }
}
