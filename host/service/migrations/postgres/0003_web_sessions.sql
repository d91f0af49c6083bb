-- sqlite/0013_web_sessions.sql in PostgreSQL's types.
CREATE TABLE web_sessions (
    id_sha256  TEXT    PRIMARY KEY,
    csrf       TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL
);
CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);
