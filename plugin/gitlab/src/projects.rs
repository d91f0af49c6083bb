//! `list-projects`: the projects the user is a member of (`GET /projects?membership=true`,
//! ref §6), with GitLab's own search (a case-insensitive substring of path, name or
//! description), a page per call. The cursor is the next page's number as GitLab's headers give
//! it (ref §5).

use crate::api::{Api, get_list, split_path};
use crate::model::GlProject;
use crate::{Connection, Host, Level, Project, ProjectPage, ProjectRef, ProviderError};

pub const PAGE_SIZE: u32 = 50;

pub fn list_projects<H: Host>(
    host: &H,
    conn: &Connection,
    search: Option<&str>,
    cursor: Option<&str>,
) -> Result<ProjectPage, ProviderError> {
    let page: u32 = match cursor {
        None => 1,
        Some(c) => c.trim().parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
            exlogare_kit::invalid_input(
                "cursor",
                format!("`{c}` is not a cursor this plugin handed out"),
            )
        })?,
    };
    let mut query = vec![
        ("membership", "true"),
        ("archived", "false"),
        ("order_by", "id"),
        ("sort", "asc"),
    ];
    let search = search.map(str::trim).filter(|s| !s.is_empty());
    if let Some(s) = search {
        query.push(("search", s));
    }
    let api = Api::new(host, conn);
    let listed = get_list(&api, &["projects"], &query, page, PAGE_SIZE, "search")?;
    let projects = listed
        .page
        .typed::<GlProject>(&conn.api_base)?
        .items
        .into_iter()
        .filter_map(|p| to_project(host, conn, p))
        .collect();
    Ok(ProjectPage {
        projects,
        next_cursor: listed.next.map(|n| n.to_string()),
    })
}

fn to_project<H: Host>(host: &H, conn: &Connection, p: GlProject) -> Option<Project> {
    let Some((owner, name)) = p.path_with_namespace.as_deref().and_then(split_path) else {
        host.log(
            Level::Warn,
            &format!(
                "skipping a project without a usable path_with_namespace (id {})",
                p.id.map_or("?".into(), |i| i.to_string())
            ),
        );
        return None;
    };
    let web_url = p.web_url.unwrap_or_else(|| {
        let mut segments: Vec<&str> = owner.split('/').collect();
        segments.push(&name);
        crate::api::join_url(&conn.web_base, &segments, &[])
    });
    Some(Project {
        title: p
            .name_with_namespace
            .or(p.name)
            .unwrap_or_else(|| name.clone()),
        reference: ProjectRef {
            owner,
            name,
            id: p.id.map(|i| i.to_string()),
        },
        web_url,
        // Only `public` is public; `internal` is visible to every signed-in user, not the world,
        // and a project whose visibility is not said is treated as private.
        private: p.visibility.as_deref() != Some("public"),
        default_branch: p.default_branch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Method;
    use crate::fake::{Body, FakeHost, conn};
    use serde_json::json;

    #[test]
    fn two_pages_by_the_next_page_header() {
        let host = FakeHost::new();
        let base = "https://gitlab.com/api/v4/projects?membership=true&archived=false&order_by=id&sort=asc&search=api";
        host.on_with(Method::Get, &format!("{base}&page=1&per_page=50"), 200, &[("X-Next-Page", "2"), ("X-Total", "3")],
            Ok(Body::Bytes(json!([
                {"id": 4, "name": "api", "name_with_namespace": "Acme / api", "path_with_namespace": "acme/api", "web_url": "https://gitlab.com/acme/api", "visibility": "private", "default_branch": "main"},
                {"id": 5, "path_with_namespace": "acme/backend/api-gateway", "visibility": "public"}
            ]).to_string().into_bytes())));
        host.on_with(
            Method::Get,
            &format!("{base}&page=2&per_page=50"),
            200,
            &[("X-Next-Page", "")],
            Ok(Body::Bytes(
                json!([{"id": 6, "path_with_namespace": "solo"}])
                    .to_string()
                    .into_bytes(),
            )),
        );
        let first = list_projects(&host, &conn(), Some(" api "), None).unwrap();
        assert_eq!(first.next_cursor.as_deref(), Some("2"));
        assert_eq!(
            first.projects[0].reference,
            ProjectRef {
                owner: "acme".into(),
                name: "api".into(),
                id: Some("4".into())
            }
        );
        assert_eq!(first.projects[0].title, "Acme / api");
        assert!(first.projects[0].private && !first.projects[1].private);
        assert_eq!(
            first.projects[1].web_url,
            "https://gitlab.com/acme/backend/api-gateway"
        );
        let second = list_projects(&host, &conn(), Some("api"), Some("2")).unwrap();
        assert!(second.projects.is_empty() && second.next_cursor.is_none());
        assert!(
            matches!(list_projects(&host, &conn(), None, Some("my:1")), Err(ProviderError::InvalidInput(i)) if i.field == "cursor")
        );
    }
}
