//! Lists that come a page at a time. How a provider finds its items and its page numbers in an
//! answer (an envelope object, a bare array, response headers) is its own business; what every
//! provider needs is the page it read and whether another one follows.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::ProviderError;
use crate::http::redact_query;
use crate::invalid_input as invalid;

/// One page of a list.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// No further page.
    pub last: bool,
    /// How many items the whole list holds, when the server says (GitLab's `X-Total`, a
    /// Spring `page.totalElements`): lets a search jump instead of walking.
    pub total_items: Option<u64>,
}

impl Page<Value> {
    /// The page with every item read as a `T`. One item of another shape fails the page with
    /// `invalid-input` on `response`: a list whose items cannot be read cannot be paged on.
    /// Kept apart from the envelope parsing, so a component carries that once rather than once
    /// per item type.
    pub fn typed<T: DeserializeOwned>(self, url: &str) -> Result<Page<T>, ProviderError> {
        let items = self
            .items
            .into_iter()
            .map(serde_json::from_value)
            .collect::<Result<Vec<T>, _>>()
            .map_err(|e| {
                invalid(
                    "response",
                    format!(
                        "GET {}: a list item is not an object of the expected shape: {e}",
                        redact_query(url)
                    ),
                )
            })?;
        Ok(Page {
            items,
            last: self.last,
            total_items: self.total_items,
        })
    }
}

/// Whether page `number` (0-based), holding `items` of at most `size`, is the last: by the
/// total page count when the server sends one (an empty page is the last either way), else by
/// a short page.
pub fn is_last(items: usize, size: u32, number: u64, total_pages: Option<u64>) -> bool {
    match total_pages {
        // `number` is the server's: `u64::MAX + 1` overflowed (found by fuzzing).
        Some(total) => number.saturating_add(1) >= total || items == 0,
        None => items < size as usize,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Deserialize, Debug, PartialEq)]
    struct Item {
        n: u32,
    }

    /// Found by the `rest_json` fuzz target: `"page": {"number": 18446744073709551615, ...}`.
    #[test]
    fn fuzz_regression_page_number_u64_max() {
        assert!(is_last(3, 10, u64::MAX, Some(3)));
    }

    #[test]
    fn last_by_total_or_by_a_short_page() {
        assert!(!is_last(2, 2, 0, Some(2)));
        assert!(is_last(1, 2, 1, Some(2)));
        assert!(
            is_last(0, 2, 0, Some(5)),
            "an empty page ends the list whatever the total says"
        );
        assert!(
            is_last(1, 2, 0, None),
            "a short page without a total is the last"
        );
        assert!(
            !is_last(2, 2, 0, None),
            "a full page without a total may have a successor"
        );
    }

    #[test]
    fn items_are_typed_or_the_page_fails() {
        let page = Page {
            items: vec![json!({"n": 1}), json!({"n": 2})],
            last: true,
            total_items: Some(2),
        };
        let typed: Page<Item> = page.typed("https://h/x?page=0").unwrap();
        assert_eq!(typed.items, [Item { n: 1 }, Item { n: 2 }]);
        assert!(typed.last);
        assert_eq!(
            typed.total_items,
            Some(2),
            "the total travels with the page"
        );
        let bad = Page {
            items: vec![json!({"n": 1}), json!(7)],
            last: false,
            total_items: None,
        };
        let err = bad.typed::<Item>("https://h/x?secret=1").unwrap_err();
        assert!(
            matches!(err, ProviderError::InvalidInput(ref i) if i.field == "response" && !i.message.contains("secret")),
            "{err:?}"
        );
    }
}
