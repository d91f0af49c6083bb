-- Accounts (issue 5): connections added at run time (CLI `connections add`, POST /api/connections),
-- beside the ones in the config file. `settings` is the connection's ConnectionConfig as JSON
-- with no secret in it; the client secret and a static access token are AEAD ciphertexts
-- (accounts/crypto.rs, associated data = connection id + column name), like account_tokens.
CREATE TABLE connections (
    id            TEXT    PRIMARY KEY,
    provider      TEXT    NOT NULL,
    settings      TEXT    NOT NULL,
    client_secret BLOB,
    access_token  BLOB,
    created_at    INTEGER NOT NULL,
    -- Changes whenever the row does; a serving host rebuilds the connection when it sees a new value.
    updated_at    INTEGER NOT NULL
);
