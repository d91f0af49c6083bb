//! Constant-time comparison of a presented webhook secret with the connection's, so the time a
//! check takes tells a sender nothing about the secret.

use subtle::{Choice, ConstantTimeEq};

/// Whether `presented` equals `expected`, in time that depends on `presented` alone.
///
/// The loop runs over the *presented* bytes only, comparing each with the expected secret's
/// byte at the same position (wrapping), and the length check is folded in as one more
/// `Choice`. So the time taken depends only on the length the sender chose, which the sender
/// already knows, never on the expected secret's length or contents. (Comparing fixed-size
/// digests would do the same at the price of a hash implementation in the component.) An empty
/// expected secret matches nothing: a connection without a secret accepts no delivery.
pub fn matches(presented: &[u8], expected: &[u8]) -> bool {
    if expected.is_empty() {
        return false;
    }
    let mut same: Choice = (presented.len() as u64).ct_eq(&(expected.len() as u64));
    for (i, b) in presented.iter().enumerate() {
        same &= b.ct_eq(&expected[i % expected.len()]);
    }
    same.into()
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn equal_secrets_only() {
        assert!(matches(b"wh-3f9a1c", b"wh-3f9a1c"));
        assert!(!matches(b"wh-3f9a1", b"wh-3f9a1c"), "a prefix");
        assert!(
            !matches(b"wh-3f9a1cwh-3f9a1c", b"wh-3f9a1c"),
            "the secret repeated (the loop wraps)"
        );
        assert!(!matches(b"wh-3f9a1d", b"wh-3f9a1c"));
        assert!(!matches(b"", b"wh-3f9a1c"));
        assert!(
            !matches(b"", b""),
            "no configured secret matches nothing, not even nothing"
        );
        assert!(!matches(b"x", b""));
    }
}
