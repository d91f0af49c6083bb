//! One page request that passed the checks (gate.rs): who asks, in which language, with which
//! session's CSRF token; and the form it sent.

use crate::language::Language;
use crate::page_words::PageWords;
use exlogare_service::service::Service;
use std::sync::Arc;

/// One page request that passed the checks.
pub struct Visit {
    pub service: Arc<Service>,
    pub lang: Language,
    pub w: &'static PageWords,
    /// The session's CSRF token, for the forms the page draws (empty before sign-in).
    pub csrf: String,
    /// The path and query asked for, for the language switch to come back to.
    pub here: String,
    pub signed_in: bool,
    /// Whether cookies are set `Secure` (the service is reached over https).
    pub secure: bool,
}

/// A submitted form, with repeated names kept (checkboxes).
#[derive(Debug, Default, Clone)]
pub struct Form(pub Vec<(String, String)>);

impl Form {
    pub fn parse(body: &[u8]) -> Form {
        Form(url::form_urlencoded::parse(body).into_owned().collect())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value trimmed, `None` when absent or blank.
    pub fn text(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// A path of this site to go back to: `/...` only, never `//host` or a full URL (an open
/// redirect would let another site borrow our name).
pub fn local_path(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n,
        _ => "/integrations",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_keep_repeated_names_and_trim_text() {
        let f = Form::parse(b"watch=acme%2Fa&watch=acme%2Fb&id=+team+&empty=&csrf=x");
        assert_eq!(f.all("watch"), vec!["acme/a", "acme/b"]);
        assert_eq!(f.text("id").as_deref(), Some("team"));
        assert_eq!(f.text("empty"), None);
        assert_eq!(f.text("absent"), None);
        assert_eq!(f.get("csrf"), Some("x"));
    }

    #[test]
    fn a_form_in_any_script_or_broken_bytes_is_read_whole_without_a_panic() {
        let f = Form::parse(
            "search=%D0%BF%D0%BB%D0%B0%D1%82%D1%91%D0%B6&id=%FF%FE%D0&x=пайплайн".as_bytes(),
        );
        assert_eq!(f.get("search"), Some("платёж"));
        assert_eq!(
            f.get("id"),
            Some("\u{FFFD}\u{FFFD}\u{FFFD}"),
            "invalid UTF-8 is replaced, not cut"
        );
        assert_eq!(f.get("x"), Some("пайплайн"));
        let long = format!("q={}", "ж".repeat(1 << 20));
        assert_eq!(
            Form::parse(long.as_bytes()).get("q").map(str::len),
            Some(2 << 20)
        );
    }

    #[test]
    fn going_back_stays_on_this_site() {
        assert_eq!(local_path(Some("/failures?x=1")), "/failures?x=1");
        for outside in [
            "//evil.example/x",
            "https://evil.example",
            "/\\evil.example",
            "javascript:alert(1)",
            "",
        ] {
            assert_eq!(local_path(Some(outside)), "/integrations", "{outside}");
        }
        assert_eq!(local_path(None), "/integrations");
    }
}
