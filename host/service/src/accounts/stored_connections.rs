//! The stored connections and what a new connection's roots must satisfy: the `connections`
//! table (a [`ConnectionConfig`] kept as JSON, its secrets sealed by the token cipher), the
//! roots a provider plugin derives from the web address a user typed (the optional `endpoints`
//! interface, exlogare:ci 0.1.1), and the same-site rule those roots must keep. No service
//! state: `accounts/connections.rs` builds the running connections on top of it.

use crate::config::ConnectionConfig;
use crate::storage::Store;
use exlogare_runtime::http::Secret;
use exlogare_storage::OptionalExtension;
use serde::Deserialize;
use std::collections::BTreeMap;

/// What a caller gives to add a connection. Secrets arrive in the request; only their
/// ciphertexts are stored.
/// No `Debug`: it holds secrets in clear.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewConnection {
    pub id: String,
    /// The provider plugin's id (`gitflic`).
    pub provider: String,
    /// Web UI root; empty asks the plugin for its provider's public cloud.
    #[serde(default)]
    pub web_base: String,
    /// Overrides the plugin-derived REST root.
    pub api_base: Option<String>,
    /// Overrides the plugin-derived OAuth root.
    pub oauth_base: Option<String>,
    /// OAuth client; with it the connection is completed through OAuth start.
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// Default: none given, so the provider plugin asks for its own default scopes.
    pub scopes: Option<Vec<String>>,
    pub redirect_url: Option<String>,
    /// Instead of OAuth: a personal access token.
    pub access_token: Option<String>,
    /// PEM text of an extra CA for a self-hosted instance.
    pub ca_pem: Option<String>,
    #[serde(default)]
    pub allow_private: bool,
    pub calls_per_hour: Option<u32>,
    /// Compare a failing log with the job's last green run (default on; green_run.rs).
    pub compare_green_runs: Option<bool>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

/// Why a connection change was refused, with the HTTP status it maps to.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ConnectionRefusal {
    pub status: u16,
    pub message: String,
}

pub(crate) fn refuse(status: u16, message: impl Into<String>) -> ConnectionRefusal {
    ConnectionRefusal {
        status,
        message: message.into(),
    }
}

/// The secrets of a stored connection, decrypted.
pub(crate) struct StoredSecrets {
    pub(crate) client_secret: Option<Secret>,
    pub(crate) access_token: Option<Secret>,
}

/// A stored connection's row as read.
pub(crate) struct StoredRow {
    pub(crate) settings: String,
    pub(crate) client_secret: Option<Vec<u8>>,
    pub(crate) access_token: Option<Vec<u8>>,
    pub(crate) updated_at: i64,
}

pub(crate) fn stored_version(store: &Store, id: &str) -> exlogare_storage::Result<Option<i64>> {
    store
        .db()?
        .query_row(
            "SELECT updated_at FROM connections WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .optional()
}

pub(crate) fn stored_row(store: &Store, id: &str) -> exlogare_storage::Result<Option<StoredRow>> {
    store
        .db()?
        .query_row("SELECT settings, client_secret, access_token, updated_at FROM connections WHERE id = ?1", [id], |r| {
            Ok(StoredRow { settings: r.get(0)?, client_secret: r.get(1)?, access_token: r.get(2)?, updated_at: r.get(3)? })
        })
        .optional()
}

/// Ids of the stored connections.
pub fn stored_ids(store: &Store) -> exlogare_storage::Result<Vec<String>> {
    store
        .db()?
        .query_map("SELECT id FROM connections ORDER BY id", [], |r| {
            r.get::<String>(0)
        })
}

/// A stored connection's settings, without secrets (for offline status views).
pub fn stored_settings(store: &Store) -> Vec<ConnectionConfig> {
    stored_ids(store)
        .unwrap_or_default()
        .iter()
        .filter_map(|id| stored_row(store, id).ok().flatten())
        .filter_map(|row| serde_json::from_str(&row.settings).ok())
        .collect()
}

/// A connection's (web, REST, OAuth) roots: the provider plugin's for `web_base` (its
/// `endpoints` interface), each replaced by an override when one is given. The web base comes
/// back in the plugin's normal form.
pub fn resolve_roots(
    plugins: &exlogare_runtime::plugin::PluginSet,
    provider: &str,
    web_base: &str,
    api_override: Option<&str>,
    oauth_override: Option<&str>,
) -> Result<(String, String, String), ConnectionRefusal> {
    let plugin = plugins.get(provider).ok_or_else(|| {
        let loaded: Vec<&str> = plugins.plugins.keys().map(String::as_str).collect();
        refuse(
            400,
            format!(
                "no provider plugin `{provider}` is loaded (loaded: {})",
                loaded.join(", ")
            ),
        )
    })?;
    let derived = plugin
        .connection_defaults(exlogare_runtime::plugin::CallContext::offline(), web_base)
        .map_err(|fault| {
            refuse(
                503,
                format!("the {provider} plugin faulted while deriving its endpoints: {fault}"),
            )
        })?
        .map(|out| out.value);
    let trimmed = |s: &str| s.trim().trim_end_matches('/').to_string();
    for (field, value) in [("api_base", api_override), ("oauth_base", oauth_override)] {
        if let Some(v) = value {
            check_root(field, v)?;
        }
    }
    let (web, api, oauth) = match derived {
        Some(Ok(conn)) => (conn.web_base, conn.api_base, conn.oauth_base),
        // The plugin's words only: the typed value may carry credentials, and errors are logged.
        Some(Err(e)) => {
            return Err(refuse(
                400,
                format!("web_base: {}", crate::provider_words::describe(&e)),
            ));
        }
        None if !web_base.trim().is_empty()
            && api_override.is_some()
            && oauth_override.is_some() =>
        {
            (trimmed(web_base), String::new(), String::new())
        }
        None => {
            return Err(refuse(
                400,
                format!(
                    "the {provider} plugin does not derive its endpoints (it predates exlogare:ci 0.1.1): give web_base, api_base and oauth_base"
                ),
            ));
        }
    };
    // A plugin derives roots from the address the user typed; one that names another site
    // would send the connection's token and client secret there. Overrides are the admin's.
    let typed = if web_base.trim().is_empty() {
        web.as_str()
    } else {
        web_base
    };
    for (field, value, overridden) in [
        ("web_base", web.as_str(), false),
        ("api_base", api.as_str(), api_override.is_some()),
        ("oauth_base", oauth.as_str(), oauth_override.is_some()),
    ] {
        if !overridden && !value.is_empty() && !same_site(value, typed) {
            return Err(refuse(
                400,
                format!(
                    "the {provider} plugin derived {field} {value}, which is not on the site of {typed}; if that is really where it is, give {field} explicitly"
                ),
            ));
        }
    }
    Ok((
        web,
        api_override.map(trimmed).unwrap_or(api),
        oauth_override.map(trimmed).unwrap_or(oauth),
    ))
}

/// Whether two URLs are on one site: the same registrable domain by the public-suffix list
/// (`api.gitflic.ru` and `gitflic.ru`; not `gitflic.ru.evil.example`, nor two customers of
/// one hosting suffix), or the same host when it has none (an IP address, `localhost`).
pub fn same_site(a: &str, b: &str) -> bool {
    let host = |u: &str| {
        url::Url::parse(u.trim()).ok().and_then(|u| {
            u.host_str()
                .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
        })
    };
    let (Some(a), Some(b)) = (host(a), host(b)) else {
        return false;
    };
    if a.parse::<std::net::IpAddr>().is_ok()
        || a.trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok()
    {
        return a == b;
    }
    let site = |h: &str| {
        psl::domain(h.as_bytes())
            .and_then(|d| std::str::from_utf8(d.as_bytes()).ok().map(str::to_string))
            .unwrap_or_else(|| h.to_string())
    };
    a == b || site(&a) == site(&b)
}

/// An override root must be a plain http(s) origin with an optional path: credentials would be
/// stored and shown in clear (the host adds credentials itself), a query or fragment would be
/// mangled by every path the plugin appends.
fn check_root(field: &str, value: &str) -> Result<(), ConnectionRefusal> {
    let url = url::Url::parse(value.trim())
        .map_err(|e| refuse(400, format!("{field}: not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(refuse(
            400,
            format!("{field}: must be an http or https URL with a host"),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse(
            400,
            format!("{field}: leave credentials out of the URL; the host adds them itself"),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(refuse(
            400,
            format!("{field}: a root takes no query or fragment"),
        ));
    }
    Ok(())
}

/// Fills the roots a config-file connection leaves out (`web_base` empty: the provider's
/// public service; `api_base` / `oauth_base` absent: derived by the plugin).
pub(crate) fn complete_config_roots(
    plugins: &exlogare_runtime::plugin::PluginSet,
    c: &mut ConnectionConfig,
) -> anyhow::Result<()> {
    if !c.api_base.is_empty() && !c.oauth_base.is_empty() && !c.web_base.is_empty() {
        return Ok(());
    }
    let given = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let (api, oauth) = (given(&c.api_base), given(&c.oauth_base));
    let (web, api, oauth) = resolve_roots(
        plugins,
        &c.provider,
        &c.web_base,
        api.as_deref(),
        oauth.as_deref(),
    )
    .map_err(|r| anyhow::anyhow!("connection `{}`: {}", c.id, r.message))?;
    (c.web_base, c.api_base, c.oauth_base) = (web, api, oauth);
    Ok(())
}
#[cfg(test)]
mod tests {
    use super::same_site;

    #[test]
    fn a_site_is_a_registrable_domain_or_an_exact_address() {
        for (a, b) in [
            ("https://api.gitflic.ru", "https://gitflic.ru"),
            ("https://oauth.gitflic.ru/", "https://GitFlic.ru/"),
            (
                "https://git.example.com/gitflic/rest-api",
                "https://git.example.com/gitflic",
            ),
            (
                "https://sso.corp.example.co.uk",
                "https://git.corp.example.co.uk",
            ),
            ("http://127.0.0.1:8080/rest-api", "http://127.0.0.1:8080"),
            ("http://localhost:3000/api", "http://localhost:3000"),
        ] {
            assert!(same_site(a, b), "{a} and {b}");
        }
        for (a, b) in [
            ("https://evil.example", "https://gitflic.ru"),
            ("https://gitflic.ru.evil.example", "https://gitflic.ru"),
            ("https://other.co.uk", "https://gitflic.co.uk"),
            ("https://attacker.github.io", "https://victim.github.io"),
            ("http://10.0.0.1", "http://127.0.0.1"),
            ("not a url", "https://gitflic.ru"),
        ] {
            assert!(!same_site(a, b), "{a} and {b}");
        }
    }
}
