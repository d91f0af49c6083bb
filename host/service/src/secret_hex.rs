//! The service's own secrets as text, and how the database knows one without holding it:
//! 256 random bits in hex (a webhook secret, a page session and its CSRF token), and the
//! SHA-256 in hex that is stored instead (webhook secrets, OAuth states, page sessions).

use sha2::{Digest, Sha256};

/// 32 random bytes from the operating system's generator, as 64 hex digits.
pub fn random_256_hex() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// The SHA-256 of `text`, as 64 hex digits.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_fresh_and_hashes_are_the_standard_ones() {
        let (a, b) = (random_256_hex(), random_256_hex());
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(sha256_hex("платёж").len(), 64);
    }
}
