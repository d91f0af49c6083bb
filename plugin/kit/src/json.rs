//! Provider JSON, read tolerantly: one odd field must never cost a whole answer.
//!
//! REST APIs written in Java or Ruby send an id as a number in one version and a string in the
//! next, a flag as `true` or `"true"`, a timestamp with or without a zone, as epoch seconds or
//! milliseconds. These readers accept every such shape and return `None` for anything else;
//! the caller decides which missing facts matter. The `lenient_*` functions plug them into
//! `serde` derives.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::Timestamp;

/// A string, or a number/bool rendered as one. Anything else (null, objects) is absent.
pub fn value_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A non-negative integer sent as a number (`42`, `42.0`) or a string (`"42"`).
pub fn value_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 9.0e15)
                .map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// `true`/`false`, their strings in any case, or a number (non-zero is true).
pub fn value_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.trim().eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.trim().eq_ignore_ascii_case("false") => Some(false),
        Value::Number(n) => n.as_u64().map(|n| n != 0),
        _ => None,
    }
}

/// `#[serde(deserialize_with = "exlogare_kit::json::lenient_string")]`: [`value_string`] of any value.
pub fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(value_string(&Value::deserialize(d)?))
}

/// `#[serde(deserialize_with = "exlogare_kit::json::lenient_u64")]`: [`value_u64`] of any value.
pub fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(value_u64(&Value::deserialize(d)?))
}

/// `#[serde(deserialize_with = "exlogare_kit::json::lenient_bool")]`: [`value_bool`] of any value.
pub fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(value_bool(&Value::deserialize(d)?))
}

/// A timestamp as a provider sent it, turned into epoch milliseconds with the connection's
/// naive offset. Accepted: ISO-8601 strings with or without a zone; epoch numbers (seconds, or
/// milliseconds when larger than any plausible seconds value); Jackson's array form of a
/// `LocalDateTime` (`[2026,11,20,10,0,0]`), which Java services emit when misconfigured.
pub fn timestamp(v: &Value, naive_offset_secs: i32) -> Option<Timestamp> {
    match v {
        Value::String(s) => match value_u64(v) {
            Some(n) => Some(epoch_number(n)),
            None => crate::time::parse_datetime(s, naive_offset_secs),
        },
        Value::Number(_) => value_u64(v).map(epoch_number),
        Value::Array(parts) => {
            let n: Vec<u64> = parts.iter().map(value_u64).collect::<Option<_>>()?;
            if n.len() < 3 {
                return None;
            }
            let at = |i: usize| n.get(i).copied().unwrap_or(0);
            let text = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}",
                at(0),
                at(1),
                at(2),
                at(3),
                at(4),
                at(5),
                at(6) / 1_000_000
            );
            crate::time::parse_datetime(&text, naive_offset_secs)
        }
        _ => None,
    }
}

fn epoch_number(n: u64) -> Timestamp {
    // 100_000_000_000 s is the year 5138; as milliseconds it is 1973. Anything above is ms.
    if n >= 100_000_000_000 {
        n as i64
    } else {
        n as i64 * 1000
    }
}

/// A value from a delivery or an answer as a message may show it: control characters as
/// spaces, at most 64 characters (cut on a character, never inside one), `…` when cut.
pub fn shown(s: &str) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.chars().count() > 64 {
        one_line.chars().take(64).chain(['…']).collect()
    } else {
        one_line
    }
}

/// What JSON type `v` is, for a message saying what came instead of what was expected.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_values_are_one_line_and_cut_on_characters() {
        assert_eq!(shown("a\nb\tc"), "a b c");
        let long = "Ж".repeat(100);
        let cut = shown(&long);
        assert_eq!(cut.chars().count(), 65);
        assert!(cut.ends_with('…'));
        assert_eq!(kind(&serde_json::json!([1])), "array");
    }
    use serde_json::json;

    const MSK: i32 = 3 * 3600;

    #[test]
    fn scalars_in_every_shape() {
        assert_eq!(value_string(&json!(" a ")), Some("a".into()));
        assert_eq!(value_string(&json!(42)), Some("42".into()));
        assert_eq!(
            (
                value_string(&json!("  ")),
                value_string(&json!(null)),
                value_string(&json!({}))
            ),
            (None, None, None)
        );
        assert_eq!(
            (
                value_u64(&json!(42)),
                value_u64(&json!(42.0)),
                value_u64(&json!(" 42 "))
            ),
            (Some(42), Some(42), Some(42))
        );
        assert_eq!(
            (
                value_u64(&json!(-1)),
                value_u64(&json!(4.5)),
                value_u64(&json!("x"))
            ),
            (None, None, None)
        );
        assert_eq!(
            (
                value_bool(&json!(true)),
                value_bool(&json!("FALSE")),
                value_bool(&json!(1))
            ),
            (Some(true), Some(false), Some(true))
        );
        assert_eq!(value_bool(&json!("yes")), None);
    }

    #[test]
    fn timestamps_in_every_shape() {
        let z = timestamp(&json!("2026-11-20T09:00:00Z"), MSK).unwrap();
        assert_eq!(timestamp(&json!("2026-11-20T12:00:00"), MSK), Some(z));
        assert_eq!(timestamp(&json!("2026-11-20T09:00:00"), 0), Some(z));
        assert_eq!(timestamp(&json!(z / 1000), MSK), Some(z));
        assert_eq!(timestamp(&json!(z), MSK), Some(z));
        assert_eq!(timestamp(&json!([2026, 11, 20, 12, 0, 0]), MSK), Some(z));
        assert_eq!(
            timestamp(&json!([2026, 11, 20, 12, 0, 0, 250_000_000]), MSK),
            Some(z + 250)
        );
        assert_eq!(timestamp(&json!(null), MSK), None);
        assert_eq!(timestamp(&json!("yesterday"), MSK), None);
    }
}
