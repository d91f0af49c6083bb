-- Accounts (issue 5): OAuth tokens per connection, single-use OAuth states, polling watermarks.

-- One row per connection that went through OAuth. Tokens are AEAD ciphertexts
-- (accounts/crypto.rs: version byte, random nonce, ciphertext; the connection id and the
-- column name are the associated data, so a value cannot be moved to another row or column).
CREATE TABLE account_tokens (
    connection    TEXT    PRIMARY KEY,
    access_token  BLOB    NOT NULL,
    refresh_token BLOB,
    -- Milliseconds since the epoch, UTC.
    expires_at    INTEGER NOT NULL,
    status        TEXT    NOT NULL CHECK (status IN ('connected', 'needs_reconnection')),
    last_error    TEXT,
    connected_at  INTEGER NOT NULL,
    refreshed_at  INTEGER,
    updated_at    INTEGER NOT NULL
);

-- OAuth `state` values: only a SHA-256 of the value is kept. A used row stays (used_at set)
-- until it is purged, so a reuse is told apart from a value never issued.
CREATE TABLE oauth_states (
    state_hash TEXT    PRIMARY KEY,
    connection TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX oauth_states_created ON oauth_states (created_at);

-- Per polled project: the highest pipeline number handled. Advanced in the same transaction
-- as the deliveries a poll enqueues.
CREATE TABLE poll_watermarks (
    connection TEXT    NOT NULL,
    project    TEXT    NOT NULL,
    watermark  INTEGER NOT NULL,
    polled_at  INTEGER NOT NULL,
    PRIMARY KEY (connection, project)
);
