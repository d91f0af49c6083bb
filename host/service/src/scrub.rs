//! Text that comes out of a plugin (its own words, or the provider's that it passes on) on its
//! way to storage, logs, HTTP answers and chat: every secret the host holds for the connection
//! replaced, anything credential-shaped masked, and the length bounded.
//!
//! A plugin is third-party code and sees some secrets in the course of its work (the token in a
//! refresh call, a provider that echoes a token in an error body); whatever it returns must not
//! carry them further. The host applies this where plugin text leaves a call: the delivery's
//! outcome (`service.rs`), a refused refresh (`accounts/tokens.rs`), a refused webhook.

use exlogare_notify::alert::mask_credentials;

/// The longest plugin text kept (characters): enough for any error a person reads.
pub const MAX_PLUGIN_TEXT_CHARS: usize = 2000;

/// `text` with each of `secrets` replaced by `***`, credential shapes masked, at most
/// [`MAX_PLUGIN_TEXT_CHARS`] characters.
pub fn scrub(text: &str, secrets: &[&str]) -> String {
    let masked = mask_credentials(&without_secrets(text, secrets));
    match masked.char_indices().nth(MAX_PLUGIN_TEXT_CHARS) {
        Some((cut, _)) => format!("{}…", &masked[..cut]),
        None => masked,
    }
}

/// `text` with each of `secrets` replaced by `***` and nothing else changed: for a log's own
/// lines, which the analysis has redacted already and which must read as the log has them.
pub use exlogare_runtime::secret_text::without_secrets;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connections_secrets_never_pass_and_the_text_is_bounded() {
        let secrets = ["gf-at-SECRET-1", "client-secret-77", "wh-5Kq9", "ab"];
        let text = "refresh refused: {\"access_token\":\"gf-at-SECRET-1\"} client=client-secret-77 hook wh-5Kq9 ab";
        let out = scrub(text, &secrets);
        for s in &secrets[..3] {
            assert!(!out.contains(s), "{out}");
        }
        assert!(out.ends_with(" ab"), "short values are left alone: {out}");
        assert!(out.starts_with("refresh refused:"), "{out}");
        // Credential shapes the host does not know are masked too.
        assert!(!scrub("Authorization: Bearer zzzzzzzzzzzzzzzz1", &[]).contains("zzzz"));
        let long = scrub(&"Ж".repeat(10_000), &[]);
        assert_eq!(long.chars().count(), MAX_PLUGIN_TEXT_CHARS + 1);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn a_secret_inside_a_longer_one_is_replaced_whole() {
        assert_eq!(
            scrub("x tok-123456 y", &["tok-1234", "tok-123456"]),
            "x *** y"
        );
    }
}
