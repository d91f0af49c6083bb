//! The few places where one query cannot serve both backends, as plain functions.
//!
//! Queries are written once, in SQLite's spelling with numbered parameters (`?1`); the
//! PostgreSQL backend renumbers them (`$1`) here. What has no common spelling (a claim that
//! skips rows another replica has locked) is asked of [`Dialect`].

use std::borrow::Cow;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// Appended to a `SELECT … FROM table alias` that picks a row to claim: on PostgreSQL
    /// the row is locked and rows locked by another replica's claim are skipped; SQLite's
    /// writers are serialized already.
    pub fn skip_locked(self, alias: &str) -> String {
        match self {
            Dialect::Sqlite => String::new(),
            Dialect::Postgres => format!(" FOR UPDATE OF {alias} SKIP LOCKED"),
        }
    }

    /// Whether several processes may share the database as replicas (and so must rely on
    /// leases instead of "whatever is running was ours").
    pub fn shared_by_replicas(self) -> bool {
        self == Dialect::Postgres
    }
}

/// `?1`, `?2`, … (and bare `?`, numbered after the largest so far, as SQLite does) become
/// `$1`, `$2`, …; text inside quotes and comments is left alone.
pub fn postgres_placeholders(sql: &str) -> Cow<'_, str> {
    if !sql.contains('?') {
        return Cow::Borrowed(sql);
    }
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len() + 8);
    let mut highest = 0u32;
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'\'' | b'"') => {
                // A doubled quote inside is an escaped one: the scan leaves and re-enters.
                i += 1;
                while i < bytes.len() && bytes[i] != quote {
                    i += 1;
                }
                i += 1;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'?' => {
                out.push_str(&sql[copied..i]);
                let digits = bytes[i + 1..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                let number = if digits == 0 {
                    highest + 1
                } else {
                    sql[i + 1..i + 1 + digits].parse().unwrap_or(u32::MAX)
                };
                highest = highest.max(number);
                out.push('$');
                out.push_str(&number.to_string());
                i += 1 + digits;
                copied = i;
            }
            _ => i += 1,
        }
    }
    out.push_str(&sql[copied.min(sql.len())..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_parameters_keep_their_numbers() {
        assert_eq!(
            postgres_placeholders("SELECT a FROM t WHERE x = ?2 AND y = ?1 OR z = ?2"),
            "SELECT a FROM t WHERE x = $2 AND y = $1 OR z = $2"
        );
    }

    #[test]
    fn bare_parameters_count_on_from_the_largest() {
        assert_eq!(
            postgres_placeholders("VALUES (?, ?, ?5, ?)"),
            "VALUES ($1, $2, $5, $6)"
        );
    }

    #[test]
    fn quotes_and_comments_are_left_alone() {
        assert_eq!(
            postgres_placeholders("SELECT 'why?', \"a?b\" -- what?\n FROM t WHERE c = ?1"),
            "SELECT 'why?', \"a?b\" -- what?\n FROM t WHERE c = $1"
        );
        assert_eq!(
            postgres_placeholders("SELECT 'it''s ?1' || ?1"),
            "SELECT 'it''s ?1' || $1"
        );
        assert!(matches!(
            postgres_placeholders("SELECT 1"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn text_in_any_script_around_parameters_is_kept_whole() {
        // The scan moves by ASCII bytes only (quotes, `-`, `?`, digits), so it never cuts a
        // Cyrillic or emoji character, even a long line of them inside a literal.
        let long = "сбой ".repeat(200_000);
        let sql = format!("SELECT '{long}', 'ошибка?' || ?1 -- ёж?\n, ?2 🙂");
        let out = postgres_placeholders(&sql);
        assert_eq!(
            out,
            format!("SELECT '{long}', 'ошибка?' || $1 -- ёж?\n, $2 🙂")
        );
    }

    #[test]
    fn only_postgres_skips_locked_rows() {
        assert_eq!(Dialect::Sqlite.skip_locked("d"), "");
        assert_eq!(
            Dialect::Postgres.skip_locked("d"),
            " FOR UPDATE OF d SKIP LOCKED"
        );
    }
}
