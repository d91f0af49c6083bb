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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longer_secrets_go_first_and_short_values_stay() {
        let out = without_secrets(
            "tok-ABCDEF and tok-ABC and ab",
            &["tok-ABC", "tok-ABCDEF", "ab"],
        );
        assert_eq!(out, "*** and *** and ab");
    }
}
