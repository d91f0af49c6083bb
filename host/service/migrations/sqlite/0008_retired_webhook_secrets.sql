-- Watch secrets that stopped working: replaced when a project was watched again, or dropped
-- when it was unwatched. A delivery that still carries one is told which watch it belonged to
-- and why it no longer works, instead of a bare "does not match". Only hashes are kept, as in
-- watched_projects; rows older than 180 days are dropped when new ones are written.
CREATE TABLE retired_webhook_secrets (
    connection  TEXT    NOT NULL,
    project     TEXT    NOT NULL,
    secret_hash TEXT    NOT NULL,
    -- 'rotated' (watched again) or 'unwatched'.
    reason      TEXT    NOT NULL CHECK (reason IN ('rotated', 'unwatched')),
    retired_at  INTEGER NOT NULL,
    PRIMARY KEY (connection, secret_hash)
);
