//! The GitLab side of the REST client: the credential, a project's `:id`, and paging from the
//! response headers. URLs, sending and status-to-error mapping are the kit's.

use serde_json::Value;

pub use exlogare_kit::http::{Api, header, join_url, link_rel, redact_query, snippet};
use exlogare_kit::invalid_input as invalid;
use exlogare_kit::paging::Page;

use crate::{Credential, Host, Method, ProjectRef, ProviderError, Request};

/// The credential every REST call asks for: GitLab takes `Authorization: Bearer` for OAuth
/// tokens and for personal/project/group access tokens alike (ref §4), so a connection works
/// whichever kind the host holds.
pub fn bearer() -> Option<Credential> {
    Some(Credential::AccessToken("Bearer".into()))
}

/// A project's `:id` in REST paths: its numeric id when known (ref §4 prefers it), else its
/// full path `namespace/project`, which [`join_url`] sends percent-encoded (`grp%2Fproj`) as
/// GitLab requires. `owner` is the full namespace, subgroups included.
pub fn project_id(p: &ProjectRef) -> Result<String, ProviderError> {
    if let Some(id) = p.id.as_deref().map(str::trim).filter(|id| !id.is_empty()) {
        return Ok(id.to_string());
    }
    let (owner, name) = (p.owner.trim().trim_matches('/'), p.name.trim());
    if owner.is_empty() || name.is_empty() {
        return Err(invalid(
            "project",
            "a GitLab project needs its numeric id, or its namespace (owner) and path (name)",
        ));
    }
    Ok(format!("{owner}/{name}"))
}

/// `path_with_namespace` split into the namespace (owner) and the project's path (name).
pub fn split_path(path: &str) -> Option<(String, String)> {
    let (ns, name) = path.trim().trim_matches('/').rsplit_once('/')?;
    (!ns.is_empty() && !name.is_empty()).then(|| (ns.to_string(), name.to_string()))
}

/// One page of a GitLab list and the number of the next, when there is one.
pub struct Listed {
    pub page: Page<Value>,
    pub next: Option<u32>,
}

/// `GET {api}/{segments}?{query}&page=&per_page=`: a bare JSON array with its paging in the
/// headers (ref §5). The next page is `X-Next-Page` (empty on the last), else the `page` of the
/// `Link` header's `rel="next"`, else `X-Page` < `X-Total-Pages`; a proxy that strips all of
/// them leaves the short-page rule. `X-Total` travels as the page's total.
pub fn get_list<H: Host>(
    api: &Api<H>,
    segments: &[&str],
    query: &[(&str, &str)],
    page: u32,
    per_page: u32,
    field: &str,
) -> Result<Listed, ProviderError> {
    let (page_s, per_s) = (page.to_string(), per_page.to_string());
    let mut q = query.to_vec();
    q.push(("page", &page_s));
    q.push(("per_page", &per_s));
    let url = api.url(segments, &q);
    let resp = api.send(
        Request {
            method: Method::Get,
            url: url.clone(),
            headers: vec![("accept".into(), "application/json".into())],
            body: None,
            credential: bearer(),
        },
        field,
    )?;
    let items = match exlogare_kit::http::parse_json(&resp.body, Method::Get, &url)? {
        Value::Array(items) => items,
        other => {
            return Err(invalid(
                "response",
                format!(
                    "GET {} answered {}, not a JSON list",
                    redact_query(&url),
                    snippet(other.to_string().as_bytes())
                ),
            ));
        }
    };
    let next = next_page(&resp.headers, page, items.len(), per_page);
    let total_items = header(&resp.headers, "x-total").and_then(|t| t.trim().parse().ok());
    Ok(Listed {
        page: Page {
            last: next.is_none(),
            items,
            total_items,
        },
        next,
    })
}

fn next_page(headers: &[(String, String)], page: u32, items: usize, per_page: u32) -> Option<u32> {
    let num = |name: &str| header(headers, name).map(str::trim);
    if let Some(next) = num("x-next-page") {
        // Empty on the last page (ref §5); a number that does not move forward ends the walk.
        return next.parse().ok().filter(|n| *n > page);
    }
    if let Some(link) = link_rel(headers, "next") {
        return query_param(&link, "page")
            .and_then(|p| p.parse().ok())
            .filter(|n| *n > page);
    }
    // A `Link` header without `rel="next"` is the last page's (ref §5).
    if header(headers, "link").is_some() {
        return None;
    }
    if let Some(total) = num("x-total-pages").and_then(|t| t.parse::<u32>().ok()) {
        return (page < total && items > 0).then_some(page + 1);
    }
    (items >= per_page as usize && items > 0).then_some(page + 1)
}

/// A query parameter of a URL, as sent (GitLab's page numbers need no decoding).
fn query_param<'a>(url: &'a str, name: &str) -> Option<&'a str> {
    let query = url.split_once('?')?.1.split('#').next()?;
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{FakeHost, conn};
    use exlogare_kit::testing::Body;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn next_page_from_every_header_gitlab_sends() {
        assert_eq!(next_page(&h(&[("X-Next-Page", "3")]), 2, 20, 20), Some(3));
        assert_eq!(next_page(&h(&[("X-Next-Page", "")]), 2, 20, 20), None);
        assert_eq!(
            next_page(&h(&[("X-Next-Page", "2")]), 2, 20, 20),
            None,
            "a next page that does not move forward ends the walk"
        );
        let link = r#"<https://gitlab.com/api/v4/projects?membership=true&page=2&per_page=2>; rel="next", <https://gitlab.com/api/v4/projects?membership=true&page=1&per_page=2>; rel="first""#;
        assert_eq!(next_page(&h(&[("Link", link)]), 1, 2, 2), Some(2));
        let last_only = r#"<https://gitlab.com/api/v4/projects?page=1&per_page=2>; rel="first""#;
        assert_eq!(next_page(&h(&[("Link", last_only)]), 1, 2, 2), None);
        assert_eq!(
            next_page(&h(&[("X-Page", "1"), ("X-Total-Pages", "2")]), 1, 2, 2),
            Some(2)
        );
        assert_eq!(next_page(&h(&[("X-Total-Pages", "2")]), 2, 2, 2), None);
        assert_eq!(
            next_page(&[], 1, 2, 2),
            Some(2),
            "a full page may have more"
        );
        assert_eq!(next_page(&[], 1, 1, 2), None, "a short page is the last");
        assert_eq!(next_page(&[], 1, 0, 0), None);
    }

    #[test]
    fn project_ids_are_numbers_or_encoded_paths() {
        let p = |owner: &str, name: &str, id: Option<&str>| ProjectRef {
            owner: owner.into(),
            name: name.into(),
            id: id.map(String::from),
        };
        assert_eq!(project_id(&p("a", "b", Some(" 42 "))).unwrap(), "42");
        assert_eq!(
            project_id(&p("grp/sub", "proj", None)).unwrap(),
            "grp/sub/proj"
        );
        assert!(
            matches!(project_id(&p("", "b", Some(""))), Err(ProviderError::InvalidInput(i)) if i.field == "project")
        );
        let host = FakeHost::new();
        assert_eq!(
            Api::new(&host, &conn()).url(&["projects", "grp/sub/proj"], &[]),
            "https://gitlab.com/api/v4/projects/grp%2Fsub%2Fproj"
        );
        assert_eq!(
            split_path("gitlab-org/security/gitlab"),
            Some(("gitlab-org/security".into(), "gitlab".into()))
        );
        assert_eq!(split_path("solo"), None);
    }

    #[test]
    fn a_list_that_is_not_an_array_is_refused() {
        let host = FakeHost::new();
        host.on_with(
            Method::Get,
            "https://gitlab.com/api/v4/projects?page=1&per_page=2",
            200,
            &[],
            Ok(Body::Bytes(br#"{"message":"oops"}"#.to_vec())),
        );
        let conn = conn();
        let api = Api::new(&host, &conn);
        let err = get_list(&api, &["projects"], &[], 1, 2, "search")
            .err()
            .unwrap();
        assert!(
            matches!(err, ProviderError::InvalidInput(i) if i.field == "response" && i.message.contains("not a JSON list"))
        );
        assert_eq!(host.requests.borrow()[0].credential, bearer());
    }
}
