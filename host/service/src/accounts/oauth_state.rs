//! Single-use OAuth `state` values: 256 random bits, URL-safe, tied to one connection, valid
//! for [`STATE_TTL_MS`] (10 minutes). Only a SHA-256 of each value is stored; a used value's
//! row stays for [`KEEP_USED_MS`] so a replay is told apart from a value never issued.

use crate::storage::Store;
use base64::Engine as _;
use exlogare_storage::{OptionalExtension, params};
use rand::RngCore;

pub const STATE_TTL_MS: i64 = 10 * 60 * 1000;
/// How long a used or expired state is remembered (for the "already used" / "expired" messages).
pub const KEEP_USED_MS: i64 = 24 * 60 * 60 * 1000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("the OAuth state is missing; start the connection again from Exlogare")]
    Missing,
    #[error(
        "this OAuth state was not issued by this Exlogare host (or is too old to remember); start the connection again"
    )]
    Unknown,
    #[error(
        "this OAuth state was already used for connection `{connection}`; each sign-in link works once, start the connection again"
    )]
    Reused { connection: String },
    #[error(
        "this OAuth state for connection `{connection}` expired (states are valid for 10 minutes); start the connection again"
    )]
    Expired { connection: String },
    #[error("OAuth state storage: {0}")]
    Storage(String),
}

impl From<exlogare_storage::StorageError> for StateError {
    fn from(e: exlogare_storage::StorageError) -> Self {
        StateError::Storage(e.to_string())
    }
}

fn hash(state: &str) -> String {
    crate::secret_hex::sha256_hex(state)
}

/// Creates a state for `connection`, valid for 10 minutes from `now` (ms). Also forgets
/// states older than [`KEEP_USED_MS`].
pub fn issue(store: &Store, connection: &str, now: i64) -> Result<String, StateError> {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let state = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let db = store.db()?;
    db.execute(
        "DELETE FROM oauth_states WHERE created_at < ?1",
        [now - KEEP_USED_MS],
    )?;
    db.execute(
        "INSERT INTO oauth_states (state_hash, connection, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
        params![hash(&state), connection, now, now + STATE_TTL_MS],
    )?;
    Ok(state)
}

/// Consumes a state: returns the connection it was issued for, exactly once. A wrong, reused
/// or expired state is refused with its own message.
pub fn take(store: &Store, state: &str, now: i64) -> Result<String, StateError> {
    let state = state.trim();
    if state.is_empty() {
        return Err(StateError::Missing);
    }
    let db = store.db()?;
    let tx = db.transaction("oauth states")?;
    let row: Option<(String, i64, Option<i64>)> = tx
        .query_row(
            "SELECT connection, expires_at, used_at FROM oauth_states WHERE state_hash = ?1",
            [hash(state)],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((connection, expires_at, used_at)) = row else {
        return Err(StateError::Unknown);
    };
    if used_at.is_some() {
        return Err(StateError::Reused { connection });
    }
    if now >= expires_at {
        return Err(StateError::Expired { connection });
    }
    tx.execute(
        "UPDATE oauth_states SET used_at = ?2 WHERE state_hash = ?1",
        params![hash(state), now],
    )?;
    tx.commit()?;
    Ok(connection)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const NOW: i64 = 1_700_000_000_000;

    #[test]
    fn a_state_is_random_url_safe_and_works_once_for_its_connection() {
        crate::storage::each_backend(
            "a_state_is_random_url_safe_and_works_once_for_its_connection",
            |s| {
                let a = issue(&s, "cloud", NOW).unwrap();
                let b = issue(&s, "cloud", NOW).unwrap();
                assert_ne!(a, b);
                assert_eq!(a.len(), 43, "256 bits, base64url without padding");
                assert!(
                    a.bytes()
                        .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
                );
                assert_eq!(take(&s, &a, NOW + 1000).unwrap(), "cloud");
                let reused = take(&s, &a, NOW + 2000).unwrap_err();
                assert_eq!(
                    reused,
                    StateError::Reused {
                        connection: "cloud".into()
                    }
                );
                assert!(reused.to_string().contains("already used"));
                assert_eq!(take(&s, &b, NOW).unwrap(), "cloud");
                let stored: String = s
                    .db()
                    .unwrap()
                    .query_row("SELECT state_hash FROM oauth_states LIMIT 1", [], |r| {
                        r.get(0)
                    })
                    .unwrap();
                assert_ne!(stored, a, "only a hash is stored");
            },
        );
    }

    #[test]
    fn wrong_expired_and_missing_states_are_refused_with_distinct_messages() {
        crate::storage::each_backend(
            "wrong_expired_and_missing_states_are_refused_with_distinct_messages",
            |s| {
                let st = issue(&s, "onprem", NOW).unwrap();
                let unknown = take(&s, "forged-state", NOW).unwrap_err();
                assert_eq!(unknown, StateError::Unknown);
                let expired = take(&s, &st, NOW + STATE_TTL_MS).unwrap_err();
                assert_eq!(
                    expired,
                    StateError::Expired {
                        connection: "onprem".into()
                    }
                );
                assert_eq!(take(&s, "  ", NOW).unwrap_err(), StateError::Missing);
                let messages = [
                    unknown.to_string(),
                    expired.to_string(),
                    StateError::Reused {
                        connection: "onprem".into(),
                    }
                    .to_string(),
                ];
                assert!(
                    messages[0].contains("not issued")
                        && messages[1].contains("expired")
                        && messages[2].contains("already used")
                );
                // Just inside the 10 minutes it is still good.
                let fresh = issue(&s, "onprem", NOW).unwrap();
                assert_eq!(take(&s, &fresh, NOW + STATE_TTL_MS - 1).unwrap(), "onprem");
            },
        );
    }

    #[test]
    fn old_states_are_purged_on_issue() {
        crate::storage::each_backend("old_states_are_purged_on_issue", |s| {
            let old = issue(&s, "cloud", NOW).unwrap();
            issue(&s, "cloud", NOW + KEEP_USED_MS + 1).unwrap();
            assert_eq!(
                take(&s, &old, NOW + KEEP_USED_MS + 2).unwrap_err(),
                StateError::Unknown
            );
        });
    }

    #[test]
    fn concurrent_callbacks_with_one_state_succeed_once() {
        crate::storage::each_backend("concurrent_callbacks_with_one_state_succeed_once", |s| {
            let s = Arc::new(s);
            let st = issue(&s, "cloud", NOW).unwrap();
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let (s, st) = (s.clone(), st.clone());
                    std::thread::spawn(move || take(&s, &st, NOW + 1))
                })
                .collect();
            let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
            assert!(
                results
                    .iter()
                    .filter_map(|r| r.as_ref().err())
                    .all(|e| matches!(e, StateError::Reused { .. }))
            );
        });
    }
}
