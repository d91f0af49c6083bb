//! Calendar arithmetic for the two date formats CI providers' traffic carries: ISO-8601-like
//! timestamps (with or without a zone) and HTTP dates (`Retry-After`). Written out rather than
//! pulled from a date crate to keep components small; both parsers reject what they do not
//! understand instead of guessing.

/// Days from 1970-01-01 to the given proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

fn epoch_ms(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32, ms: u32) -> Option<i64> {
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 60
    {
        return None;
    }
    // Checked: an HTTP date's year is any u32 (`Retry-After: Fri, 20 Nov 4294967295 …` overflowed,
    // found by fuzzing); a time no i64 holds is no time.
    let secs = days_from_civil(y, mo, d)
        .checked_mul(86_400)?
        .checked_add((h * 3600 + mi * 60 + s) as i64)?;
    secs.checked_mul(1000)?.checked_add(ms as i64)
}

fn num(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A zone designator: `Z`, `+03:00`, `+0300`, `+03`. Seconds east of UTC.
pub fn parse_offset(s: &str) -> Option<i32> {
    if s.eq_ignore_ascii_case("z") {
        return Some(0);
    }
    let sign = match s.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let rest = &s[1..];
    // Digits and `:` only: the fixed cuts below are then on char boundaries whatever was sent.
    if !rest.is_ascii() {
        return None;
    }
    let (h, m) = match rest.len() {
        2 => (num(rest)?, 0),
        4 => (num(&rest[..2])?, num(&rest[2..])?),
        5 if rest.as_bytes()[2] == b':' => (num(&rest[..2])?, num(&rest[3..])?),
        _ => return None,
    };
    if h > 18 || m > 59 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60) as i32)
}

/// `YYYY-MM-DD[(T| )HH:MM[:SS[.fraction]]][zone]` to epoch milliseconds. A timestamp without a
/// zone is read at `naive_offset_secs` east of UTC.
pub fn parse_datetime(s: &str, naive_offset_secs: i32) -> Option<i64> {
    let s = s.trim();
    if s.len() < 10 || !s.is_char_boundary(10) {
        return None;
    }
    let (date, rest) = s.split_at(10);
    let db = date.as_bytes();
    if db[4] != b'-' || db[7] != b'-' {
        return None;
    }
    let (y, mo, d) = (
        num(&date[..4])? as i64,
        num(&date[5..7])?,
        num(&date[8..10])?,
    );
    if rest.is_empty() {
        return epoch_ms(y, mo, d, 0, 0, 0, 0).map(|ms| ms - naive_offset_secs as i64 * 1000);
    }
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    // The zone starts at the first 'Z', '+' or '-' after the time.
    let zone_at = rest.find(['Z', 'z', '+', '-']).unwrap_or(rest.len());
    let (clock, zone) = rest.split_at(zone_at);
    let offset = if zone.is_empty() {
        naive_offset_secs
    } else {
        parse_offset(zone)?
    };
    let (hms, frac) = match clock.split_once(['.', ',']) {
        Some((hms, frac)) => (hms, Some(frac)),
        None => (clock, None),
    };
    let mut parts = hms.split(':');
    let h = num(parts.next()?)?;
    let mi = num(parts.next()?)?;
    let sec = match parts.next() {
        Some(p) => num(p)?,
        None => 0,
    };
    if parts.next().is_some() {
        return None;
    }
    let ms = match frac {
        None => 0,
        Some(f) => {
            num(f)?;
            // Milliseconds are the first three digits; finer digits are dropped.
            let mut digits: String = f.chars().take(3).collect();
            while digits.len() < 3 {
                digits.push('0');
            }
            num(&digits)?
        }
    };
    epoch_ms(y, mo, d, h, mi, sec, ms).map(|t| t - offset as i64 * 1000)
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// An HTTP date (RFC 9110 IMF-fixdate `Sun, 06 Nov 1994 08:49:37 GMT`, and the obsolete RFC 850
/// form `Sunday, 06-Nov-94 08:49:37 GMT`) to epoch milliseconds.
pub fn parse_http_date(s: &str) -> Option<i64> {
    let s = s.trim();
    let after_day = s.split_once(',').map(|(_, r)| r.trim()).unwrap_or(s);
    let mut fields = after_day.split_whitespace();
    let date = fields.next()?;
    let (d, mon, y) = if date.contains('-') {
        let mut p = date.split('-');
        (p.next()?, p.next()?, p.next()?)
    } else {
        (date, fields.next()?, fields.next()?)
    };
    let clock = fields.next()?;
    let zone = fields.next()?;
    if !(zone.eq_ignore_ascii_case("GMT") || zone.eq_ignore_ascii_case("UTC")) {
        return None;
    }
    let mo = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(mon))? as u32 + 1;
    let mut y = num(y)? as i64;
    if y < 100 {
        // RFC 850 two-digit years: RFC 9110 says to read them as the most recent past century.
        y += if y < 70 { 2000 } else { 1900 };
    }
    let mut c = clock.split(':');
    let (h, mi, sec) = (num(c.next()?)?, num(c.next()?)?, num(c.next()?)?);
    epoch_ms(y, mo, num(d)?, h, mi, sec, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSK: i32 = 3 * 3600;

    /// Found by the `rest_json` fuzz target (a 429's `Retry-After` with a huge year).
    #[test]
    fn fuzz_regression_http_date_year_past_i64() {
        assert_eq!(parse_http_date("Fri, 20 Nov 4294967295 10:00:30 GMT"), None);
        assert!(parse_http_date("Fri, 20 Nov 200000000 10:00:30 GMT").is_some_and(|t| t > 0));
    }

    #[test]
    fn zoned_and_zone_less_timestamps() {
        let utc = parse_datetime("2026-11-20T09:58:12Z", MSK).unwrap();
        assert_eq!(utc, 1_795_168_692_000);
        assert_eq!(parse_datetime("2026-11-20T12:58:12+03:00", 0), Some(utc));
        assert_eq!(parse_datetime("2026-11-20T12:58:12+0300", 0), Some(utc));
        assert_eq!(parse_datetime("2026-11-20T04:58:12-05", 0), Some(utc));
        // Zone-less: read in the connection's naive offset (Moscow by default).
        assert_eq!(parse_datetime("2026-11-20T12:58:12", MSK), Some(utc));
        assert_eq!(
            parse_datetime("2026-11-20 12:58:12.123456", MSK),
            Some(utc + 123)
        );
        assert_eq!(
            parse_datetime("2026-11-20T12:58:12.5", MSK),
            Some(utc + 500)
        );
        assert_eq!(parse_datetime("2026-11-20T12:58", MSK), Some(utc - 12_000));
    }

    #[test]
    fn rejects_impossible_or_foreign_timestamps() {
        for bad in [
            "",
            "not-a-date",
            "2026-02-30T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-11-20T25:00:00Z",
            "2026-11-20T10:00:00+99:00",
            "2026/11/20 10:00:00",
            "2026-11-20X10:00:00",
        ] {
            assert_eq!(parse_datetime(bad, 0), None, "{bad}");
        }
        assert!(parse_datetime("2024-02-29T00:00:00Z", 0).is_some());
        assert!(parse_datetime("2023-02-29T00:00:00Z", 0).is_none());
    }

    #[test]
    fn http_dates() {
        let t = parse_http_date("Fri, 20 Nov 2026 10:00:30 GMT").unwrap();
        assert_eq!(Some(t), parse_datetime("2026-11-20T10:00:30Z", 0));
        assert_eq!(parse_http_date("Friday, 20-Nov-26 10:00:30 GMT"), Some(t));
        assert_eq!(parse_http_date("Fri, 20 Nov 2026 10:00:30 +0300"), None);
        assert_eq!(parse_http_date("soon"), None);
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
    }

    /// A zone of four bytes that are not four characters once cut inside `ё`; any text from a
    /// provider is refused, never sliced.
    #[test]
    fn non_ascii_zones_and_dates_are_refused_without_panicking() {
        for bad in ["+aёb", "+ёё", "-0ё", "+03:ё", "Zё"] {
            assert_eq!(parse_offset(bad), None, "{bad}");
        }
        for bad in [
            "2026-11-20T10:00:00+aёb",
            "2026-11-2ёT10:00",
            "ёёёёё-11-20",
            "2026-11-20Tё:00",
        ] {
            assert_eq!(parse_datetime(bad, 0), None, "{bad}");
        }
    }
}
