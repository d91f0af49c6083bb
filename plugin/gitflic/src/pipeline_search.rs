//! Finding one pipeline by its number (`localId`) in GitFlic's pipeline list, which is newest
//! first, has no documented endpoint for one pipeline and ignores a `localId` filter (PRACTICE,
//! `../shared/reference/gitflic-api.md`).
//!
//! Numbers are given per project in order and only deleted pipelines leave holes, so pipeline
//! `n` sits at most `top - n` places below a listed pipeline `top`, and at least `n - low` places
//! above a listed `low`. The search jumps to the page that bound names and narrows between the
//! pages known to be too new and too old: a pipeline a thousand runs old costs two or three
//! requests, not fifty pages walked from the newest.

use crate::api::{Api, EmbeddedPages, Page};
use crate::model::RestPipeline;
use crate::pipelines::PAGE_SIZE;
use crate::{Host, ProjectRef, ProviderError};

/// What the list says about pipeline `n`.
#[derive(Debug)]
pub enum Search {
    Found(Box<RestPipeline>),
    /// The list holds pipelines on both sides of `n` but not `n`: it was deleted.
    Absent(String),
    /// `n` is newer than the newest listed pipeline: the list may lag the event.
    NotListedYet {
        newest: u64,
    },
    /// The request cap ran out before the pages around `n` were read.
    GaveUp {
        requests: u32,
    },
}

pub fn find_by_number<H: Host>(
    api: &Api<H>,
    p: &ProjectRef,
    n: u64,
    max_requests: u32,
) -> Result<Search, ProviderError> {
    let size = u64::from(PAGE_SIZE);
    // Pages known to hold only newer pipelines (`too_new`, the highest such) and only older
    // ones (`too_old`, the lowest such, or the first page past the end of the list), and the
    // listed pipelines nearest to `n` on either side as (position, number).
    let mut too_new: Option<u64> = None;
    let mut too_old: Option<u64> = None;
    let mut newer: Option<(u64, u64)> = None;
    let mut older: Option<(u64, u64)> = None;
    let mut page: u64 = 0;
    let mut past_end = false;
    for _ in 0..max_requests {
        let got: Page<RestPipeline> = api.get_page(
            &["project", &p.owner, &p.name, "cicd", "pipeline"],
            &[],
            "restPipelineModelList",
            u32::try_from(page).unwrap_or(u32::MAX),
            PAGE_SIZE,
            "project",
        )?;
        let last = got.last;
        // The list's length, when GitFlic says (`page.totalElements`): the pipeline numbered
        // 1 or more sits above position `total`, which stands as the oldest anchor until a
        // real one is read.
        if let Some(total) = got.total_items.filter(|&t| t > 0) {
            if older.is_none() {
                older = Some((total, 0));
            }
            let end = total.div_ceil(size);
            too_old = Some(too_old.map_or(end, |t| t.min(end)));
        }
        let numbered: Vec<(u64, u64)> = got
            .items
            .iter()
            .enumerate()
            .filter_map(|(i, pl)| pl.local_id.map(|l| (page * size + i as u64, l)))
            .collect();
        if let Some(hit) = got.items.into_iter().find(|pl| pl.local_id == Some(n)) {
            return Ok(Search::Found(Box::new(hit)));
        }
        let newest = numbered.iter().map(|&(_, l)| l).max();
        let oldest = numbered.iter().map(|&(_, l)| l).min();
        match (newest, oldest) {
            (Some(newest), Some(oldest)) => {
                if page == 0 && n > newest {
                    return Ok(Search::NotListedYet { newest });
                }
                if oldest < n && n < newest {
                    return Ok(Search::Absent(format!(
                        "the list goes from #{newest} to #{oldest} without it (deleted?)"
                    )));
                }
                if oldest > n {
                    if last {
                        return Ok(Search::Absent(format!(
                            "the oldest pipeline listed is #{oldest}"
                        )));
                    }
                    too_new = Some(too_new.map_or(page, |t| t.max(page)));
                    let nearest = *numbered.iter().min_by_key(|&&(_, l)| l).expect("numbered");
                    newer =
                        Some(newer.map_or(nearest, |a| if nearest.1 < a.1 { nearest } else { a }));
                } else {
                    too_old = Some(too_old.map_or(page, |t| t.min(page)));
                    let nearest = *numbered.iter().max_by_key(|&&(_, l)| l).expect("numbered");
                    older =
                        Some(older.map_or(nearest, |a| if nearest.1 >= a.1 { nearest } else { a }));
                }
            }
            _ if page == 0 => {
                return Ok(Search::Absent(
                    "the project's pipeline list is empty".to_string(),
                ));
            }
            // An empty page (or one without numbers) lies past the end of the list: it bounds
            // the search but says nothing of where `n` is, so the next page halves the range.
            _ => {
                too_old = Some(too_old.map_or(page, |t| t.min(page)));
                past_end = true;
            }
        }
        if last {
            too_old = Some(too_old.map_or(page + 1, |t| t.min(page + 1)));
        }
        // Where `n` should be: between the nearest listed numbers as the list's density
        // between them says, or, with only newer ones known, as if nothing was deleted.
        let position = match (newer, older) {
            (Some((a1, l1)), Some((a2, l2))) if l1 > l2 && a2 > a1 => {
                a1 + ((a2 - a1) as u128 * u128::from(l1 - n) / u128::from(l1 - l2)) as u64
            }
            (Some((a1, l1)), _) => a1.saturating_add(l1 - n),
            (None, Some((a2, l2))) => a2.saturating_sub(n - l2),
            (None, None) => page / 2,
        };
        let low = too_new.map_or(0, |t| t + 1);
        let high = too_old.map_or(u64::MAX, |t| t.saturating_sub(1));
        if too_old.is_some_and(|t| t == 0) || low > high {
            return Ok(Search::Absent(
                "it falls between two pages of the list (deleted?)".to_string(),
            ));
        }
        page = if std::mem::take(&mut past_end) {
            low + (high - low) / 2
        } else {
            (position / size).clamp(low, high)
        };
    }
    Ok(Search::GaveUp {
        requests: max_requests,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Method;
    use crate::fake::{FakeHost, conn};
    use serde_json::{Value, json};

    fn page_url(n: u64) -> String {
        format!("https://api.gitflic.ru/project/acme/api/cicd/pipeline?page={n}&size=20")
    }

    fn project() -> ProjectRef {
        ProjectRef {
            owner: "acme".into(),
            name: "api".into(),
            id: None,
        }
    }

    /// The list of a project whose pipelines are `numbers` (newest first), served page by page
    /// as GitFlic's Spring envelope (synthetic, shaped like the recorded lists in `fixtures/`).
    fn serve(host: &FakeHost, numbers: &[u64]) {
        serve_pages(host, numbers, true)
    }

    /// `totals`: whether the envelope says how long the list is (older GitFlic lists and bare
    /// arrays do not).
    fn serve_pages(host: &FakeHost, numbers: &[u64], totals: bool) {
        let pages = numbers.len().div_ceil(20).max(1);
        // Past the end GitFlic answers an empty page.
        for n in 0..pages * 3 + 2 {
            let items: Vec<Value> = numbers
                .iter()
                .skip(n * 20)
                .take(20)
                .map(|l| json!({"id": format!("p{l}"), "localId": l, "status": "FAILED"}))
                .collect();
            let body = if totals {
                json!({"_embedded": {"restPipelineModelList": items},
                       "page": {"size": 20, "totalElements": numbers.len(), "totalPages": pages, "number": n}})
            } else {
                json!({"_embedded": {"restPipelineModelList": items}})
            };
            host.on_json(Method::Get, &page_url(n as u64), 200, body);
        }
    }

    fn search(numbers: &[u64], n: u64) -> (Search, usize) {
        let host = FakeHost::new();
        serve(&host, numbers);
        let c = conn();
        let api = Api::new(&host, &c);
        let found = find_by_number(&api, &project(), n, 10).unwrap();
        let requests = host.requests.borrow().len();
        (found, requests)
    }

    #[test]
    fn a_dense_list_takes_two_requests_whatever_the_age() {
        let numbers: Vec<u64> = (1..=5000).rev().collect();
        for n in [5000, 4990, 4981, 3000, 1001, 20, 1] {
            let (found, requests) = search(&numbers, n);
            assert!(
                matches!(&found, Search::Found(p) if p.local_id == Some(n)),
                "#{n}: {found:?}"
            );
            assert!(requests <= 2, "#{n} took {requests} requests");
        }
    }

    #[test]
    fn holes_left_by_deleted_pipelines_cost_a_few_more() {
        // Every third pipeline deleted: positions are far above the dense estimate.
        let numbers: Vec<u64> = (1..=3000).rev().filter(|l| l % 3 != 0).collect();
        for n in [2999, 2000, 1001, 500, 2] {
            let (found, requests) = search(&numbers, n);
            assert!(
                matches!(&found, Search::Found(p) if p.local_id == Some(n)),
                "#{n}: {found:?}"
            );
            assert!(requests <= 6, "#{n} took {requests} requests");
        }
        // Without the list's length, pages past its end halve the range: still bounded.
        for n in [2999, 1001, 2] {
            let host = FakeHost::new();
            serve_pages(&host, &numbers, false);
            let c = conn();
            let found = find_by_number(&Api::new(&host, &c), &project(), n, 10).unwrap();
            assert!(
                matches!(&found, Search::Found(p) if p.local_id == Some(n)),
                "#{n} without totals: {found:?}"
            );
        }
        // A deleted one is reported as such, not searched for forever.
        let (found, _) = search(&numbers, 1500);
        assert!(matches!(found, Search::Absent(_)), "{found:?}");
    }

    #[test]
    fn newer_than_the_list_older_than_the_list_and_an_empty_list() {
        let numbers: Vec<u64> = (100..=150).rev().collect();
        let (found, requests) = search(&numbers, 151);
        assert!(
            matches!(found, Search::NotListedYet { newest: 150 }),
            "{found:?}"
        );
        assert_eq!(requests, 1);
        let (found, _) = search(&numbers, 99);
        assert!(matches!(found, Search::Absent(_)), "{found:?}");
        let (found, requests) = search(&[], 7);
        assert!(matches!(found, Search::Absent(_)), "{found:?}");
        assert_eq!(requests, 1);
    }

    #[test]
    fn the_request_cap_holds() {
        // A list that lies about its order (numbers shuffled) cannot make the search loop.
        let mut numbers: Vec<u64> = (1..=2000).collect();
        numbers.reverse();
        numbers.swap(10, 1900);
        numbers.retain(|&l| l != 700);
        let host = FakeHost::new();
        serve(&host, &numbers);
        let c = conn();
        let api = Api::new(&host, &c);
        let found = find_by_number(&api, &project(), 700, 3).unwrap();
        assert!(
            matches!(found, Search::GaveUp { requests: 3 } | Search::Absent(_)),
            "{found:?}"
        );
        assert!(host.requests.borrow().len() <= 3);
    }
}
