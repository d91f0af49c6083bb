//! `list-pipelines`: the project's pipelines newest first (`GET /projects/:id/pipelines`,
//! `order_by=id&sort=desc`, ref §6), those with an `iid` above the watermark. GitLab has no `iid`
//! filter, but `iid` grows with `id` within a project, so the walk stops at the first pipeline
//! at or below the watermark.

use crate::api::{Api, get_list, project_id};
use crate::model::{GlPipeline, run_status, timestamp};
use crate::{Connection, Host, PipelineRef, PipelineSummary, ProjectRef, ProviderError};

/// Pages the walk may read: a poll after a long outage catches up over several calls.
pub const MAX_PAGES: u32 = 10;

pub fn list_pipelines<H: Host>(
    host: &H,
    conn: &Connection,
    project: &ProjectRef,
    above: Option<u64>,
    limit: u32,
) -> Result<Vec<PipelineSummary>, ProviderError> {
    let pid = project_id(project)?;
    if limit == 0 {
        return Ok(Vec::new());
    }
    let per_page = limit.min(100);
    let api = Api::new(host, conn);
    let mut out = Vec::new();
    let mut page = 1;
    for _ in 0..MAX_PAGES {
        let listed = get_list(
            &api,
            &["projects", &pid, "pipelines"],
            &[("order_by", "id"), ("sort", "desc")],
            page,
            per_page,
            "project",
        )?;
        for p in listed.page.typed::<GlPipeline>(&conn.api_base)?.items {
            let Some(iid) = p.iid else { continue };
            if above.is_some_and(|w| iid <= w) {
                return Ok(out);
            }
            out.push(PipelineSummary {
                reference: PipelineRef {
                    id: p.id.map(|id| id.to_string()),
                    number: Some(iid),
                },
                status: run_status(p.status.as_deref(), &p.detailed_status),
                git_ref: p.git_ref,
                created_at: timestamp(&p.created_at),
            });
            if out.len() >= limit as usize {
                return Ok(out);
            }
        }
        match listed.next {
            Some(next) => page = next,
            None => return Ok(out),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{FakeHost, conn};
    use crate::{Method, RunStatus};
    use serde_json::json;

    const LIST: &str =
        "https://gitlab.com/api/v4/projects/1/pipelines?order_by=id&sort=desc&page=1&per_page=20";

    fn project() -> ProjectRef {
        ProjectRef {
            owner: "gitlab-org".into(),
            name: "gitlab-test".into(),
            id: Some("1".into()),
        }
    }

    #[test]
    fn stops_at_the_watermark() {
        let host = FakeHost::new();
        host.on_json(Method::Get, LIST, 200, json!([
            {"id": 47, "iid": 12, "status": "failed", "ref": "main", "created_at": "2016-08-11T11:28:34.085Z"},
            {"id": 46, "iid": 11, "status": "success", "ref": "main"},
            {"id": 45, "iid": 10, "status": "failed", "ref": "main"}
        ]));
        let got = list_pipelines(&host, &conn(), &project(), Some(10), 20).unwrap();
        assert_eq!(
            got.iter().map(|p| p.reference.number).collect::<Vec<_>>(),
            [Some(12), Some(11)]
        );
        assert_eq!(got[0].status, RunStatus::Failed);
        assert_eq!(got[0].reference.id.as_deref(), Some("47"));
        assert!(
            list_pipelines(&host, &conn(), &project(), None, 0)
                .unwrap()
                .is_empty()
        );
    }
}
