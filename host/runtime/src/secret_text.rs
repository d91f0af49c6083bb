//! Secrets out of text a plugin produces: its log-import messages and its stderr (a panic
//! message quoted in a fault) reach the host's log, and the service's stored and posted texts
//! (host/service/src/scrub.rs) start from the same replacement.

/// Secrets shorter than this are not searched for: replacing `ab` everywhere would mangle text
/// and such a secret is no secret.
pub const MIN_SECRET_CHARS: usize = 4;

/// `text` with each of `secrets` replaced by `***` and nothing else changed.
pub fn without_secrets(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    // Longest first: a secret that contains another is replaced whole.
    let mut secrets: Vec<&str> = secrets
        .iter()
        .copied()
        .filter(|s| s.chars().count() >= MIN_SECRET_CHARS)
        .collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for s in secrets {
        out = out.replace(s, "***");
    }
    out
}

/// Bytes a plugin wrote (its stderr), read as text with invalid UTF-8 shown as U+FFFD, with
/// each of `secrets` replaced.
pub fn bytes_without_secrets(bytes: &[u8], secrets: &[&str]) -> String {
    without_secrets(&String::from_utf8_lossy(bytes), secrets)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cyrillic around and inside the secret, invalid UTF-8, and one 100 MB line: replaced by
    /// whole characters, never cut inside one, nothing lost around them.
    #[test]
    fn any_text_keeps_its_characters_and_loses_only_the_secrets() {
        let out = without_secrets("ошибка: токен ключ-Ω42 отклонён", &["ключ-Ω42"]);
        assert_eq!(out, "ошибка: токен *** отклонён");
        let mut stderr = b"panicked: \xff\xfe token=".to_vec();
        stderr.extend_from_slice("ключ-Ω42".as_bytes());
        assert_eq!(
            bytes_without_secrets(&stderr, &["ключ-Ω42"]),
            "panicked: \u{FFFD}\u{FFFD} token=***"
        );
        let long = "я".repeat(50 << 20) + "ключ-Ω42";
        let out = without_secrets(&long, &["ключ-Ω42"]);
        assert_eq!(out.len(), long.len() - "ключ-Ω42".len() + 3);
        assert!(out.ends_with("яя***"));
    }

    #[test]
    fn longer_secrets_go_first_and_short_values_stay() {
        let out = without_secrets(
            "tok-ABCDEF and tok-ABC and ab",
            &["tok-ABC", "tok-ABCDEF", "ab"],
        );
        assert_eq!(out, "*** and *** and ab");
    }
}
