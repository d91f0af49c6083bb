//! The connection options this plugin understands (`connection.options`, strings set by the
//! operator per connection).

use crate::{Connection, InvalidInput, ProviderError};

fn option<'a>(conn: &'a Connection, names: &[&str]) -> Option<&'a str> {
    conn.options
        .iter()
        .find(|(k, _)| names.iter().any(|n| k.eq_ignore_ascii_case(n)))
        .map(|(_, v)| v.trim())
}

/// `analyze_warnings = "true"`: a `PIPELINE_WARNING` delivery (a pipeline that finished with
/// allowed failures) starts an analysis. The fixture format spells the key with `_`, the WIT's
/// example with `-`; both mean the same switch.
pub fn analyze_warnings(conn: &Connection) -> bool {
    option(conn, &["analyze_warnings", "analyze-warnings"])
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// The default zone of zone-less timestamps: UTC. GitFlic's documentation writes every other
/// object's times in UTC (`Z`) and documents webhook objects as UTC; no source says Moscow time
/// (gitflic-api.md, "Added after a second search", Timestamps). An instance that does write
/// local times sets `naive_utc_offset`.
pub const DEFAULT_NAIVE_UTC_OFFSET: &str = "Z";

/// Seconds east of UTC at which GitFlic timestamps without a zone are read, from the option
/// `naive_utc_offset` (`+03:00`, `Z`, `-0500`). A value that does not parse is an error, not a
/// silent fallback: wrong times would skew every watermark and duration downstream.
pub fn naive_utc_offset(conn: &Connection) -> Result<i32, ProviderError> {
    let raw =
        option(conn, &["naive_utc_offset", "naive-utc-offset"]).unwrap_or(DEFAULT_NAIVE_UTC_OFFSET);
    exlogare_kit::time::parse_offset(raw).ok_or_else(|| {
        ProviderError::InvalidInput(InvalidInput {
            field: "connection.options.naive_utc_offset".into(),
            message: format!("`{raw}` is not a UTC offset such as +03:00, Z or -0500"),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(options: &[(&str, &str)]) -> Connection {
        Connection {
            web_base: String::new(),
            api_base: String::new(),
            oauth_base: String::new(),
            options: options
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn analyze_warnings_only_when_true() {
        assert!(!analyze_warnings(&conn(&[])));
        assert!(!analyze_warnings(&conn(&[("analyze_warnings", "false")])));
        assert!(!analyze_warnings(&conn(&[("analyze_warnings", "yes")])));
        assert!(analyze_warnings(&conn(&[("analyze_warnings", "true")])));
        assert!(analyze_warnings(&conn(&[("analyze-warnings", " TRUE ")])));
    }

    #[test]
    fn naive_offset_defaults_to_utc_and_rejects_garbage() {
        assert_eq!(naive_utc_offset(&conn(&[])), Ok(0));
        assert_eq!(
            naive_utc_offset(&conn(&[("naive_utc_offset", "+03:00")])),
            Ok(3 * 3600)
        );
        assert_eq!(
            naive_utc_offset(&conn(&[("naive-utc-offset", " +0300 ")])),
            Ok(3 * 3600)
        );
        assert_eq!(naive_utc_offset(&conn(&[("naive_utc_offset", "Z")])), Ok(0));
        assert_eq!(
            naive_utc_offset(&conn(&[("naive_utc_offset", "-05:30")])),
            Ok(-(5 * 3600 + 1800))
        );
        let err = naive_utc_offset(&conn(&[("naive_utc_offset", "MSK")])).unwrap_err();
        assert!(
            matches!(err, ProviderError::InvalidInput(ref i) if i.field.ends_with("naive_utc_offset"))
        );
    }
}
