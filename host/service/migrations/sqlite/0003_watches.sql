-- Accounts (issue 5): projects watched per connection. The webhook secret of each watch is a
-- fresh random value (256 bits) put on the registered hook; only its SHA-256 is kept, which is
-- enough to recognise it on a delivery (the delivery carries the secret itself).
CREATE TABLE watched_projects (
    connection  TEXT    NOT NULL,
    project     TEXT    NOT NULL,
    secret_hash TEXT    NOT NULL,
    hook_url    TEXT    NOT NULL,
    webhook_id  TEXT,
    -- 'registered' (via the plugin) or 'manual' (printed for wiring by hand).
    mode        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (connection, project)
);
CREATE INDEX watched_projects_secret ON watched_projects (connection, secret_hash);
