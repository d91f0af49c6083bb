//! The GitFlic side of the REST client: the credential scheme, and `_embedded` paging.
//!
//! Every request carries an absolute URL built from the connection's `api-base` (or
//! `oauth-base`); the host adds `Authorization: token …` itself when the request names the
//! `access-token("token")` credential, so the plugin never holds the token. URLs, sending and
//! status-to-error mapping are the kit's (`exlogare_kit::http`), re-exported here.

use serde::de::DeserializeOwned;
use serde_json::Value;

pub use exlogare_kit::http::{
    Api, SNIPPET_CHARS, encode, header, is_under, join_url, method_name, parse_json, redact_query,
    retry_after_secs, snippet, status_error, transport_error,
};
use exlogare_kit::invalid_input as invalid;
pub use exlogare_kit::paging::Page;
use exlogare_kit::paging::is_last;

use crate::{Credential, Host, ProviderError};

/// The credential GitFlic's REST API takes; the host turns it into `Authorization: token …`.
pub fn token() -> Option<Credential> {
    Some(Credential::AccessToken("token".into()))
}

/// GitFlic's lists: Spring's `_embedded` envelope with its `page` object.
pub trait EmbeddedPages {
    /// One page of a REST list: `GET {api}/{segments}?{query}&page=&size=`, items under
    /// `_embedded.<list_key>`. A missing `_embedded` is an empty list (GitFlic omits it then).
    fn get_page<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &[(&str, &str)],
        list_key: &str,
        page: u32,
        size: u32,
        field: &str,
    ) -> Result<Page<T>, ProviderError>;
}

impl<H: Host> EmbeddedPages for Api<'_, H> {
    fn get_page<T: DeserializeOwned>(
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

pub fn parse_page<T: DeserializeOwned>(
    value: Value,
    list_key: &str,
    page: u32,
    size: u32,
    url: &str,
) -> Result<Page<T>, ProviderError> {
    parse_list(value, list_key, page, size, url)?.typed(url)
}

/// The envelope half of [`parse_page`], kept out of the generic function so the component
/// carries it once rather than once per item type.
fn parse_list(
    value: Value,
    list_key: &str,
    page: u32,
    size: u32,
    url: &str,
) -> Result<Page<Value>, ProviderError> {
    let bad = |what: String| invalid("response", format!("GET {}: {what}", redact_query(url)));
    let info = value.get("page").cloned();
    let list = match value {
        // Some endpoints (and older versions) answer with a bare array.
        Value::Array(items) => items,
        Value::Object(mut map) => match map.remove("_embedded") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(mut embedded)) => match embedded.remove(list_key) {
                Some(Value::Array(items)) => items,
                Some(other) => {
                    return Err(bad(format!(
                        "`_embedded.{list_key}` is {other}, not a list"
                    )));
                }
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
                        (Some(_), Some(_)) => {
                            return Err(bad(format!(
                                "`_embedded` has several lists and no `{list_key}`"
                            )));
                        }
                    }
                }
            },
            Some(other) => return Err(bad(format!("`_embedded` is {other}, not an object"))),
        },
        other => {
            return Err(bad(format!(
                "expected a list page, got {}",
                snippet(other.to_string().as_bytes())
            )));
        }
    };
    let total_pages = info
        .as_ref()
        .and_then(|i| i.get("totalPages"))
        .and_then(crate::model::value_u64);
    let number = info
        .as_ref()
        .and_then(|i| i.get("number"))
        .and_then(crate::model::value_u64)
        .unwrap_or(page as u64);
    let last = is_last(list.len(), size, number, total_pages);
    let total_items = info
        .as_ref()
        .and_then(|i| i.get("totalElements"))
        .and_then(crate::model::value_u64);
    Ok(Page {
        items: list,
        last,
        total_items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RestPipeline;
    use serde_json::json;

    #[test]
    fn pages_with_and_without_embedded() {
        let url = "https://api.gitflic.ru/project/a/b/cicd/pipeline?page=0&size=2";
        let full: Page<RestPipeline> = parse_page(
            json!({"_embedded": {"restPipelineModelList": [{"localId": 3}, {"localId": "2"}]},
                   "page": {"size": 2, "totalElements": 3, "totalPages": 2, "number": 0}}),
            "restPipelineModelList",
            0,
            2,
            url,
        )
        .unwrap();
        assert_eq!(
            full.items.iter().map(|p| p.local_id).collect::<Vec<_>>(),
            [Some(3), Some(2)]
        );
        assert!(!full.last);
        let empty: Page<RestPipeline> = parse_page(
            json!({"page": {"size": 2, "totalElements": 0, "totalPages": 0, "number": 0}}),
            "restPipelineModelList",
            0,
            2,
            url,
        )
        .unwrap();
        assert!(empty.items.is_empty() && empty.last);
        let no_info: Page<RestPipeline> = parse_page(
            json!({"_embedded": {"otherList": [{"localId": 1}]}}),
            "restPipelineModelList",
            0,
            2,
            url,
        )
        .unwrap();
        assert_eq!(no_info.items.len(), 1);
        assert!(no_info.last, "a short page without page info is the last");
        let bare: Page<RestPipeline> =
            parse_page(json!([{"localId": 1}, {"localId": 2}]), "x", 0, 2, url).unwrap();
        assert!(
            !bare.last,
            "a full page without page info may have a successor"
        );
        let err = parse_page::<RestPipeline>(
            json!({"_embedded": {"restPipelineModelList": 5}}),
            "restPipelineModelList",
            0,
            2,
            url,
        )
        .unwrap_err();
        assert!(matches!(err, ProviderError::InvalidInput(i) if i.field == "response"));
        let err = parse_page::<RestPipeline>(
            json!({"_embedded": {"restPipelineModelList": [1]}}),
            "restPipelineModelList",
            0,
            2,
            url,
        )
        .unwrap_err();
        assert!(matches!(err, ProviderError::InvalidInput(_)));
    }
}
