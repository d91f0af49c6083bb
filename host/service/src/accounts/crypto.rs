//! Tokens at rest: ChaCha20-Poly1305 with a random 96-bit nonce per write.
//!
//! A sealed value is `[version = 1][nonce: 12 bytes][ciphertext + tag]`. The associated data
//! names the connection and the field (`access` / `refresh`), so a ciphertext copied to another
//! connection's row, or from one column to the other, fails to open instead of being used.
//!
//! The 32-byte key comes from `EXLOGARE_TOKEN_KEY` (hex or base64) or from the file named by
//! `EXLOGARE_TOKEN_KEY_FILE`; [`TokenCipher::from_environment`] fails at start-up with a message
//! saying which is missing or what is wrong with it.

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;
use std::path::Path;

/// The environment variable holding the key itself.
pub const KEY_ENV: &str = "EXLOGARE_TOKEN_KEY";
/// The environment variable naming a file that holds the key.
pub const KEY_FILE_ENV: &str = "EXLOGARE_TOKEN_KEY_FILE";

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const HOW_TO_MAKE_ONE: &str = "generate one with `openssl rand -hex 32`";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error(
        "no token encryption key: set {KEY_ENV} to 32 bytes as hex (64 characters) or base64, or {KEY_FILE_ENV} to a file holding one; {HOW_TO_MAKE_ONE}"
    )]
    KeyMissing,
    #[error(
        "the token encryption key from {source_name} is malformed: {reason}; {HOW_TO_MAKE_ONE}"
    )]
    KeyMalformed { source_name: String, reason: String },
    #[error("cannot read the token encryption key file {path}: {reason}")]
    KeyFileUnreadable { path: String, reason: String },
    /// Wrong key, a value moved to another connection or field, or a corrupted value.
    #[error(
        "the stored {field} token of connection `{connection}` cannot be decrypted (another key, or the value was altered or moved)"
    )]
    Undecryptable { connection: String, field: String },
}

/// Encrypts and decrypts tokens. The key never appears in `Debug` output.
#[derive(Clone)]
pub struct TokenCipher {
    aead: ChaCha20Poly1305,
}

impl std::fmt::Debug for TokenCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCipher(<key redacted>)")
    }
}

impl TokenCipher {
    pub fn from_key(key: [u8; 32]) -> Self {
        Self {
            aead: ChaCha20Poly1305::new(Key::from_slice(&key)),
        }
    }

    /// A fresh random key, for tests and for tools that create one.
    pub fn random_key() -> [u8; 32] {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        key
    }

    /// Parses 32 bytes written as hex (64 characters) or base64 (standard or URL-safe,
    /// padded or not). Surrounding whitespace (a file's trailing newline) is ignored.
    pub fn parse_key(text: &str, source_name: &str) -> Result<Self, CryptoError> {
        let malformed = |reason: String| CryptoError::KeyMalformed {
            source_name: source_name.into(),
            reason,
        };
        let t = text.trim();
        if t.is_empty() {
            return Err(malformed("it is empty".into()));
        }
        // Hex wins for an even run of hex digits: a 32-byte key in base64 is 43 or 44 characters.
        let bytes = if t.len().is_multiple_of(2) && t.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(t).map_err(|e| malformed(format!("not valid hex ({e})")))?
        } else {
            let engines = [
                base64::engine::general_purpose::STANDARD,
                base64::engine::general_purpose::STANDARD_NO_PAD,
                base64::engine::general_purpose::URL_SAFE,
                base64::engine::general_purpose::URL_SAFE_NO_PAD,
            ];
            engines
                .iter()
                .find_map(|e| e.decode(t).ok())
                .ok_or_else(|| {
                    malformed(format!(
                        "{} characters that are neither 64 hex digits nor base64",
                        t.chars().count()
                    ))
                })?
        };
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            malformed(format!(
                "it decodes to {} bytes; the key must be exactly 32",
                bytes.len()
            ))
        })?;
        Ok(Self::from_key(key))
    }

    /// The key from `EXLOGARE_TOKEN_KEY`, else from the file `EXLOGARE_TOKEN_KEY_FILE` names.
    /// Call at start-up so a missing or malformed key stops the host with a clear message.
    pub fn from_environment() -> Result<Self, CryptoError> {
        let value = std::env::var(KEY_ENV).ok().filter(|v| !v.is_empty());
        let file = std::env::var_os(KEY_FILE_ENV).filter(|v| !v.is_empty());
        Self::from_sources(value.as_deref(), file.as_deref().map(Path::new))
    }

    /// [`Self::from_environment`] with the sources given; the direct value wins over the file.
    pub fn from_sources(value: Option<&str>, file: Option<&Path>) -> Result<Self, CryptoError> {
        if let Some(v) = value {
            return Self::parse_key(v, KEY_ENV);
        }
        let Some(path) = file else {
            return Err(CryptoError::KeyMissing);
        };
        let text = std::fs::read_to_string(path).map_err(|e| CryptoError::KeyFileUnreadable {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::parse_key(&text, &format!("the file {}", path.display()))
    }

    fn aad(connection: &str, field: &str) -> Vec<u8> {
        format!("exlogare/token/v1\0{connection}\0{field}").into_bytes()
    }

    /// Encrypts `plaintext` for `connection`'s `field`, with a fresh random nonce.
    pub fn seal(&self, connection: &str, field: &str, plaintext: &str) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let aad = Self::aad(connection, field);
        let ct = self
            .aead
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: &aad,
                },
            )
            .expect("ChaCha20-Poly1305 encryption of an in-memory buffer does not fail");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    /// Decrypts what [`Self::seal`] produced for the same connection and field.
    pub fn open(
        &self,
        connection: &str,
        field: &str,
        sealed: &[u8],
    ) -> Result<String, CryptoError> {
        let fail = || CryptoError::Undecryptable {
            connection: connection.into(),
            field: field.into(),
        };
        if sealed.len() < 1 + NONCE_LEN + 16 || sealed[0] != VERSION {
            return Err(fail());
        }
        let (nonce, ct) = sealed[1..].split_at(NONCE_LEN);
        let aad = Self::aad(connection, field);
        let plain = self
            .aead
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: &aad })
            .map_err(|_| fail())?;
        String::from_utf8(plain).map_err(|_| fail())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher() -> TokenCipher {
        TokenCipher::from_key(TokenCipher::random_key())
    }

    #[test]
    fn a_sealed_token_opens_for_its_own_connection_and_field_only() {
        let c = cipher();
        let sealed = c.seal("cloud", "access", "tok-123");
        assert_eq!(c.open("cloud", "access", &sealed).unwrap(), "tok-123");
        assert!(
            !sealed.windows(7).any(|w| w == b"tok-123"),
            "the plaintext is not in the ciphertext"
        );
        let moved = c.open("self-hosted", "access", &sealed).unwrap_err();
        assert!(
            matches!(&moved, CryptoError::Undecryptable { connection, .. } if connection == "self-hosted")
        );
        assert!(
            c.open("cloud", "refresh", &sealed).is_err(),
            "access and refresh columns are not interchangeable"
        );
    }

    #[test]
    fn every_write_uses_a_fresh_nonce() {
        let c = cipher();
        let a = c.seal("cloud", "access", "same");
        let b = c.seal("cloud", "access", "same");
        assert_ne!(a, b);
        assert_ne!(a[1..13], b[1..13]);
    }

    #[test]
    fn another_key_or_a_flipped_bit_is_refused() {
        let c = cipher();
        let mut sealed = c.seal("cloud", "access", "tok");
        assert!(cipher().open("cloud", "access", &sealed).is_err());
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(c.open("cloud", "access", &sealed).is_err());
        assert!(c.open("cloud", "access", &[1, 2, 3]).is_err());
    }

    #[test]
    fn keys_parse_from_hex_and_base64_and_interoperate() {
        let key = TokenCipher::random_key();
        let from_hex = TokenCipher::parse_key(&format!("{}\n", hex::encode(key)), "test").unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(key);
        let from_b64 = TokenCipher::parse_key(&b64, "test").unwrap();
        let from_url = TokenCipher::parse_key(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key),
            "test",
        )
        .unwrap();
        let sealed = from_hex.seal("c", "access", "t");
        assert_eq!(from_b64.open("c", "access", &sealed).unwrap(), "t");
        assert_eq!(from_url.open("c", "access", &sealed).unwrap(), "t");
    }

    #[test]
    fn a_missing_or_malformed_key_says_what_to_do() {
        let missing = TokenCipher::from_sources(None, None)
            .unwrap_err()
            .to_string();
        assert!(
            missing.contains(KEY_ENV)
                && missing.contains(KEY_FILE_ENV)
                && missing.contains("32 bytes"),
            "{missing}"
        );
        let short = TokenCipher::parse_key(&hex::encode([7u8; 16]), KEY_ENV)
            .unwrap_err()
            .to_string();
        assert!(
            short.contains("16 bytes") && short.contains("exactly 32") && short.contains(KEY_ENV),
            "{short}"
        );
        let junk = TokenCipher::parse_key("not a key!", KEY_ENV)
            .unwrap_err()
            .to_string();
        assert!(junk.contains("neither 64 hex digits nor base64"), "{junk}");
        assert!(
            TokenCipher::parse_key("  \n", KEY_ENV)
                .unwrap_err()
                .to_string()
                .contains("empty")
        );
    }

    #[test]
    fn the_key_file_is_read_and_its_errors_name_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token.key");
        let no_file = TokenCipher::from_sources(None, Some(&path)).unwrap_err();
        assert!(
            matches!(no_file, CryptoError::KeyFileUnreadable { .. }),
            "{no_file}"
        );
        std::fs::write(&path, format!("{}\n", hex::encode([9u8; 32]))).unwrap();
        let from_file = TokenCipher::from_sources(None, Some(&path)).unwrap();
        let direct = TokenCipher::parse_key(&hex::encode([9u8; 32]), "x").unwrap();
        assert_eq!(
            direct
                .open("c", "access", &from_file.seal("c", "access", "t"))
                .unwrap(),
            "t"
        );
        std::fs::write(&path, "abc").unwrap();
        let bad = TokenCipher::from_sources(None, Some(&path))
            .unwrap_err()
            .to_string();
        assert!(bad.contains(&path.display().to_string()), "{bad}");
        assert!(format!("{direct:?}").contains("redacted"));
    }
}
