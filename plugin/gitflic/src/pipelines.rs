//! Pipelines of a project: `GET …/cicd/pipeline?page=&size=` (`restPipelineModelList`, newest
//! first). The server ignores filters such as `localId` or `ref` (PRACTICE, tested live by one
//! client), so the plugin pages and filters itself, with a cap on pages per call to respect
//! GitFlic's 500 requests/hour budget.

use crate::api::{Api, EmbeddedPages, Page};
use crate::model::{RestPipeline, run_status, timestamp};
use crate::{
    Connection, Host, InvalidInput, Level, PipelineRef, PipelineSummary, ProjectRef, ProviderError,
};

pub const PAGE_SIZE: u32 = 20;
/// Pages read per call at most: 10 × 20 pipelines is far more than arrive between two polls.
pub const MAX_PAGES: u32 = 10;
/// The most pipelines one `list-pipelines` returns.
pub const MAX_LIMIT: u32 = 200;

pub fn check_project(p: &ProjectRef) -> Result<(), ProviderError> {
    if p.owner.trim().is_empty() || p.name.trim().is_empty() {
        return Err(ProviderError::InvalidInput(InvalidInput {
            field: "project".into(),
            message: "owner and name are both required".into(),
        }));
    }
    Ok(())
}

/// Walks the pipeline list newest first, handing every pipeline to `visit` until it returns
/// `false`, the list ends, or `max_pages` pages were read. Returns whether the walk was cut
/// short by the page cap.
pub fn walk<H: Host>(
    api: &Api<H>,
    p: &ProjectRef,
    max_pages: u32,
    mut visit: impl FnMut(RestPipeline) -> bool,
) -> Result<bool, ProviderError> {
    for page in 0..max_pages {
        let got: Page<RestPipeline> = api.get_page(
            &["project", &p.owner, &p.name, "cicd", "pipeline"],
            &[],
            "restPipelineModelList",
            page,
            PAGE_SIZE,
            "project",
        )?;
        for pipeline in got.items {
            if !visit(pipeline) {
                return Ok(false);
            }
        }
        if got.last {
            return Ok(false);
        }
    }
    Ok(true)
}

pub fn list_pipelines<H: Host>(
    host: &H,
    conn: &Connection,
    p: &ProjectRef,
    above: Option<u64>,
    limit: u32,
) -> Result<Vec<PipelineSummary>, ProviderError> {
    check_project(p)?;
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ProviderError::InvalidInput(InvalidInput {
            field: "limit".into(),
            message: format!("{limit} is outside 1..={MAX_LIMIT}"),
        }));
    }
    let offset = crate::options::naive_utc_offset(conn)?;
    let api = Api::new(host, conn);
    let mut found: Vec<RestPipeline> = Vec::new();
    let mut skipped = 0u32;
    let capped = walk(&api, p, MAX_PAGES, |pl| {
        let Some(n) = pl.local_id else {
            skipped += 1;
            return true;
        };
        // Newest first: the first pipeline at or below the watermark ends the new ones. Without
        // a watermark, `limit` pipelines are enough.
        if above.is_some_and(|a| n <= a) {
            return false;
        }
        if !found.iter().any(|f| f.local_id == Some(n)) {
            found.push(pl);
        }
        above.is_some() || found.len() < limit as usize
    })?;
    if skipped > 0 {
        host.log(
            Level::Warn,
            &format!(
                "{skipped} pipelines of {}/{} had no usable localId",
                p.owner, p.name
            ),
        );
    }
    if capped {
        host.log(Level::Warn, &format!(
            "pipelines of {}/{}: stopped after {MAX_PAGES} pages without reaching the watermark {above:?}", p.owner, p.name));
    }
    // The server's order is trusted for stopping, not for the answer.
    found.sort_by_key(|p| std::cmp::Reverse(p.local_id));
    found.truncate(limit as usize);
    Ok(found.into_iter().map(|pl| summary(pl, offset)).collect())
}

fn summary(pl: RestPipeline, offset: i32) -> PipelineSummary {
    PipelineSummary {
        reference: PipelineRef {
            id: pl.id,
            number: pl.local_id,
        },
        status: run_status(pl.status.as_deref()),
        git_ref: pl.git_ref,
        created_at: timestamp(&pl.created_at, offset),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{FakeHost, conn};
    use crate::{Method, RunStatus};
    use serde_json::{Value, json};

    fn page(n: u32, ids: &[Value], total_pages: u32) -> Value {
        let items: Vec<Value> = ids
            .iter()
            .map(|id| {
                json!({"id": format!("uuid-{id}"), "localId": id, "status": "FAILED", "ref": "main",
                             "createdAt": "2026-11-20T09:00:00"})
            })
            .collect();
        json!({"_embedded": {"restPipelineModelList": items},
               "page": {"size": 20, "totalElements": 0, "totalPages": total_pages, "number": n}})
    }

    fn url(n: u32) -> String {
        format!("https://api.gitflic.ru/project/acme/api/cicd/pipeline?page={n}&size=20")
    }

    fn project() -> ProjectRef {
        ProjectRef {
            owner: "acme".into(),
            name: "api".into(),
            id: None,
        }
    }

    #[test]
    fn stops_at_the_watermark_across_pages() {
        let host = FakeHost::new();
        let first: Vec<Value> = (31..=50).rev().map(|n| json!(n)).collect();
        let second: Vec<Value> = (11..=30).rev().map(|n| json!(n.to_string())).collect();
        host.on_json(Method::Get, &url(0), 200, page(0, &first, 3));
        host.on_json(Method::Get, &url(1), 200, page(1, &second, 3));
        let got = list_pipelines(&host, &conn(), &project(), Some(27), 50).unwrap();
        let numbers: Vec<u64> = got.iter().filter_map(|s| s.reference.number).collect();
        assert_eq!(numbers, (28..=50).rev().collect::<Vec<_>>());
        assert_eq!(host.requests.borrow().len(), 2, "page 2 is never read");
        assert_eq!(got[0].status, RunStatus::Failed);
        // Zone-less createdAt 09:00, read as UTC by default: an hour before NOW.
        assert_eq!(got[0].created_at, Some(crate::fake::NOW - 3_600_000));

        // The option still moves zone-less times: 09:00 at +03:00 is 06:00Z.
        let mut moscow = conn();
        moscow
            .options
            .push(("naive_utc_offset".into(), "+03:00".into()));
        let host = FakeHost::new();
        host.on_json(Method::Get, &url(0), 200, page(0, &first, 3));
        host.on_json(Method::Get, &url(1), 200, page(1, &second, 3));
        let got = list_pipelines(&host, &moscow, &project(), Some(27), 50).unwrap();
        assert_eq!(got[0].created_at, Some(crate::fake::NOW - 4 * 3_600_000));
    }

    #[test]
    fn limit_keeps_the_newest_and_server_order_is_not_trusted() {
        let host = FakeHost::new();
        host.on_json(
            Method::Get,
            &url(0),
            200,
            page(0, &[json!(5), json!(7), json!(6), json!(7), json!(null)], 1),
        );
        let got = list_pipelines(&host, &conn(), &project(), Some(4), 2).unwrap();
        assert_eq!(
            got.iter()
                .filter_map(|s| s.reference.number)
                .collect::<Vec<_>>(),
            [7, 6]
        );
        assert_eq!(
            host.logs.borrow().len(),
            1,
            "the pipeline without localId is reported"
        );
    }

    #[test]
    fn without_watermark_reads_only_what_limit_needs() {
        let host = FakeHost::new();
        let first: Vec<Value> = (81..=100).rev().map(|n| json!(n)).collect();
        host.on_json(Method::Get, &url(0), 200, page(0, &first, 5));
        let got = list_pipelines(&host, &conn(), &project(), None, 3).unwrap();
        assert_eq!(
            got.iter()
                .filter_map(|s| s.reference.number)
                .collect::<Vec<_>>(),
            [100, 99, 98]
        );
        assert_eq!(host.requests.borrow().len(), 1);
    }

    #[test]
    fn page_cap_and_empty_lists() {
        let host = FakeHost::new();
        for n in 0..MAX_PAGES {
            let ids: Vec<Value> = (0..20).map(|i| json!(10_000 - n * 20 - i)).collect();
            host.on_json(Method::Get, &url(n), 200, page(n, &ids, 1000));
        }
        let got = list_pipelines(&host, &conn(), &project(), Some(1), MAX_LIMIT).unwrap();
        assert_eq!(got.len(), MAX_LIMIT as usize);
        assert_eq!(host.requests.borrow().len(), MAX_PAGES as usize);
        assert!(
            host.logs
                .borrow()
                .iter()
                .any(|(_, m)| m.contains("stopped after"))
        );

        let host = FakeHost::new();
        host.on_json(
            Method::Get,
            &url(0),
            200,
            json!({"page": {"size": 20, "totalElements": 0, "totalPages": 0, "number": 0}}),
        );
        assert_eq!(
            list_pipelines(&host, &conn(), &project(), Some(3), 20).unwrap(),
            vec![]
        );
        assert!(
            matches!(list_pipelines(&host, &conn(), &project(), None, 0), Err(ProviderError::InvalidInput(i)) if i.field == "limit")
        );
    }
}
