//! `list-projects`: the user's own projects (`/project/my`), then the ones shared with them
//! (`/project/shared`), a GitFlic page per call behind an opaque cursor (`my:3`, `shared:0`).
//!
//! The search is sent as `q` to `/project/my` (ONE CLIENT, three times over) and applied again
//! here to every page, because a server that ignores `q` must not flood the picker, and
//! `/project/shared` takes no search at all as far as anyone has published.

use crate::api::{Api, EmbeddedPages, Page};
use crate::model::RestProject;
use crate::{
    Connection, Host, InvalidInput, Level, Project, ProjectPage, ProjectRef, ProviderError,
};

pub const PAGE_SIZE: u32 = 20;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Source {
    My,
    Shared,
}

impl Source {
    fn name(self) -> &'static str {
        match self {
            Source::My => "my",
            Source::Shared => "shared",
        }
    }
}

fn parse_cursor(cursor: Option<&str>) -> Result<(Source, u32), ProviderError> {
    let Some(c) = cursor else {
        return Ok((Source::My, 0));
    };
    let parsed = c.split_once(':').and_then(|(s, n)| {
        let source = match s {
            "my" => Source::My,
            "shared" => Source::Shared,
            _ => return None,
        };
        Some((source, n.parse().ok()?))
    });
    parsed.ok_or_else(|| {
        ProviderError::InvalidInput(InvalidInput {
            field: "cursor".into(),
            message: format!("`{c}` is not a cursor this plugin handed out"),
        })
    })
}

fn matches(p: &Project, needle: &str) -> bool {
    let needle = needle.to_lowercase();
    [
        &p.title,
        &p.reference.name,
        &p.reference.owner,
        &format!("{}/{}", p.reference.owner, p.reference.name),
    ]
    .iter()
    .any(|h| h.to_lowercase().contains(&needle))
}

fn to_project<H: Host>(host: &H, conn: &Connection, p: RestProject) -> Option<Project> {
    let (Some(owner), Some(alias)) = (p.owner_alias().map(str::to_string), p.alias.clone()) else {
        host.log(
            Level::Warn,
            &format!(
                "skipping a project without owner alias or alias (id {:?})",
                p.id
            ),
        );
        return None;
    };
    Some(Project {
        web_url: crate::links::project_url(&conn.web_base, &owner, &alias),
        title: p.title.unwrap_or_else(|| alias.clone()),
        reference: ProjectRef {
            owner,
            name: alias,
            id: p.id,
        },
        private: p.private.unwrap_or(false),
        default_branch: p.default_branch,
    })
}

pub fn list_projects<H: Host>(
    host: &H,
    conn: &Connection,
    search: Option<&str>,
    cursor: Option<&str>,
) -> Result<ProjectPage, ProviderError> {
    let (source, page) = parse_cursor(cursor)?;
    let search = search.map(str::trim).filter(|s| !s.is_empty());
    let query: Vec<(&str, &str)> = match (source, search) {
        (Source::My, Some(s)) => vec![("q", s)],
        _ => Vec::new(),
    };
    let api = Api::new(host, conn);
    let got: Page<RestProject> = api.get_page(
        &["project", source.name()],
        &query,
        "projectList",
        page,
        PAGE_SIZE,
        "search",
    )?;
    let projects = got
        .items
        .into_iter()
        .filter_map(|p| to_project(host, conn, p))
        .filter(|p| search.is_none_or(|s| matches(p, s)))
        .collect();
    let next_cursor = match (got.last, source) {
        (false, s) => Some(format!("{}:{}", s.name(), page + 1)),
        (true, Source::My) => Some("shared:0".to_string()),
        (true, Source::Shared) => None,
    };
    Ok(ProjectPage {
        projects,
        next_cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Method;
    use crate::fake::{FakeHost, conn};
    use serde_json::json;

    fn project(owner: &str, alias: &str, title: &str) -> serde_json::Value {
        json!({"id": format!("id-{alias}"), "title": title, "alias": alias, "owner": {"alias": owner, "type": "USER"},
               "private": true, "defaultBranch": "main"})
    }

    #[test]
    fn pages_my_then_shared_with_search_applied_here() {
        let host = FakeHost::new();
        host.on_json(Method::Get, "https://api.gitflic.ru/project/my?q=api&page=0&size=20", 200, json!({
            "_embedded": {"projectList": [project("acme", "billing-api", "Billing API"), project("acme", "site", "Website")]},
            "page": {"size": 20, "totalElements": 22, "totalPages": 2, "number": 0}}));
        host.on_json(Method::Get, "https://api.gitflic.ru/project/my?q=api&page=1&size=20", 200, json!({
            "_embedded": {"projectList": [json!({"alias": "gw", "ownerAlias": "ivan", "title": "API Gateway", "isPrivate": false})]},
            "page": {"size": 20, "totalElements": 22, "totalPages": 2, "number": 1}}));
        host.on_json(
            Method::Get,
            "https://api.gitflic.ru/project/shared?page=0&size=20",
            200,
            json!({
            "page": {"size": 20, "totalElements": 0, "totalPages": 0, "number": 0}}),
        );

        let p1 = list_projects(&host, &conn(), Some(" api "), None).unwrap();
        assert_eq!(
            p1.projects
                .iter()
                .map(|p| p.reference.name.as_str())
                .collect::<Vec<_>>(),
            ["billing-api"]
        );
        assert_eq!(p1.next_cursor.as_deref(), Some("my:1"));
        assert_eq!(
            p1.projects[0].web_url,
            "https://gitflic.ru/project/acme/billing-api"
        );
        assert_eq!(
            p1.projects[0].reference.id.as_deref(),
            Some("id-billing-api")
        );
        let p2 = list_projects(&host, &conn(), Some("api"), p1.next_cursor.as_deref()).unwrap();
        assert_eq!(p2.projects[0].reference.owner, "ivan");
        assert!(!p2.projects[0].private);
        assert_eq!(p2.next_cursor.as_deref(), Some("shared:0"));
        let p3 = list_projects(&host, &conn(), Some("api"), p2.next_cursor.as_deref()).unwrap();
        assert!(p3.projects.is_empty());
        assert_eq!(p3.next_cursor, None);
        assert_eq!(host.unused(), 0);
    }

    #[test]
    fn search_matches_title_and_path_in_any_case() {
        let host = FakeHost::new();
        host.on_json(Method::Get, "https://api.gitflic.ru/project/my?q=%D0%BF%D0%BB%D0%B0%D1%82%D0%B5%D0%B6&page=0&size=20", 200, json!({
            "_embedded": {"projectList": [project("acme", "pay", "Платежи и ПЛАТЕЖНЫЙ шлюз"), project("acme", "x", "Other")]}}));
        let p = list_projects(&host, &conn(), Some("платеж"), None).unwrap();
        assert_eq!(p.projects.len(), 1);
        // A short page without page info is the last of `my`.
        assert_eq!(p.next_cursor.as_deref(), Some("shared:0"));
    }

    #[test]
    fn bad_cursor_and_projects_without_owner() {
        let host = FakeHost::new();
        for bad in ["x:1", "my", "my:-1", "shared:a"] {
            assert!(
                matches!(list_projects(&host, &conn(), None, Some(bad)), Err(ProviderError::InvalidInput(i)) if i.field == "cursor")
            );
        }
        assert!(host.requests.borrow().is_empty());
        host.on_json(
            Method::Get,
            "https://api.gitflic.ru/project/shared?page=2&size=20",
            200,
            json!({
            "_embedded": {"projectList": [{"alias": "orphan"}, project("t", "a", "A")]}}),
        );
        let p = list_projects(&host, &conn(), None, Some("shared:2")).unwrap();
        assert_eq!(p.projects.len(), 1);
        assert_eq!(host.logs.borrow().len(), 1);
    }
}
