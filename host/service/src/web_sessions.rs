//! Sessions of the Integrations page in the service's database
//! (`migrations/sqlite/0013_web_sessions.sql`): what the page's cookie stands for, shared by
//! every replica on the database. The cookie's value never reaches the database, only its
//! SHA-256, so reading the table signs no one in.

use crate::secret_hex::{random_256_hex, sha256_hex};
use crate::storage::{Store, now_ms};
use exlogare_storage::{OptionalExtension, params};

/// A signed-in session: what the cookie's holder may do until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSession {
    /// The token every form of this session must carry (CSRF).
    pub csrf: String,
    pub expires_at: i64,
}

fn id_sha256(cookie_value: &str) -> String {
    sha256_hex(cookie_value)
}

impl Store {
    /// Starts a session lasting `lifetime_ms`; returns the cookie value and the session. Ended
    /// sessions are swept on the way, so the table holds only live ones.
    pub fn start_web_session(&self, lifetime_ms: i64) -> anyhow::Result<(String, WebSession)> {
        let cookie = random_256_hex();
        let now = now_ms();
        let session = WebSession {
            csrf: random_256_hex(),
            expires_at: now.saturating_add(lifetime_ms),
        };
        let db = self.db()?;
        db.execute("DELETE FROM web_sessions WHERE expires_at <= ?1", [now])?;
        db.execute(
            "INSERT INTO web_sessions (id_sha256, csrf, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
            params![id_sha256(&cookie), session.csrf, now, session.expires_at],
        )?;
        Ok((cookie, session))
    }

    /// The live session a cookie value stands for; none when unknown, signed out or expired.
    pub fn web_session(&self, cookie_value: &str) -> anyhow::Result<Option<WebSession>> {
        Ok(self
            .db()?
            .query_row(
                "SELECT csrf, expires_at FROM web_sessions WHERE id_sha256 = ?1 AND expires_at > ?2",
                params![id_sha256(cookie_value), now_ms()],
                |r| {
                    Ok(WebSession {
                        csrf: r.get(0)?,
                        expires_at: r.get(1)?,
                    })
                },
            )
            .optional()?)
    }

    /// Signs the cookie's session out; true when there was one.
    pub fn end_web_session(&self, cookie_value: &str) -> anyhow::Result<bool> {
        Ok(self.db()?.execute(
            "DELETE FROM web_sessions WHERE id_sha256 = ?1",
            [id_sha256(cookie_value)],
        )? == 1)
    }
}

#[cfg(test)]
mod tests {
    use crate::storage::each_backend;

    #[test]
    fn a_session_lives_until_it_ends_or_expires_and_its_cookie_is_not_stored() {
        each_backend("web_sessions", |store| {
            let (cookie, session) = store.start_web_session(60_000).unwrap();
            assert_eq!(cookie.len(), 64);
            assert_eq!(session.csrf.len(), 64);
            assert_ne!(cookie, session.csrf);
            assert_eq!(store.web_session(&cookie).unwrap(), Some(session.clone()));
            assert_eq!(store.web_session("not-a-session").unwrap(), None);
            let stored: Vec<String> = store
                .db()
                .unwrap()
                .query_map("SELECT id_sha256 FROM web_sessions", [], |r| r.get(0))
                .unwrap();
            assert!(
                !stored.contains(&cookie),
                "the cookie value itself is never stored"
            );

            // Signed out: gone, and signing out twice says so.
            assert!(store.end_web_session(&cookie).unwrap());
            assert_eq!(store.web_session(&cookie).unwrap(), None);
            assert!(!store.end_web_session(&cookie).unwrap());

            // Expired: refused, and swept by the next sign-in.
            let (old, _) = store.start_web_session(-1).unwrap();
            assert_eq!(store.web_session(&old).unwrap(), None);
            store.start_web_session(60_000).unwrap();
            let left: i64 = store
                .db()
                .unwrap()
                .query_row("SELECT COUNT(*) FROM web_sessions", [], |r| r.get(0))
                .unwrap();
            assert_eq!(left, 1, "only the live session is kept");
        });
    }
}
