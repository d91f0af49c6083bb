-- Sessions of the Integrations page (host/web): an operator signs in with the admin token once
-- and then carries a cookie. Only the SHA-256 of the cookie's value is kept, so a copy of the
-- database does not sign anyone in; the CSRF token every form must carry is kept beside it.
-- In the database rather than in memory so that replicas behind one load balancer share them.
CREATE TABLE web_sessions (
    id_sha256  TEXT    PRIMARY KEY,
    csrf       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);
