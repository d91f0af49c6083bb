-- Accounts (issue 5): the chat alert "connection X needs reconnection" (accounts/alerts.rs).
--
-- One row per episode: opened when a connection is first found to need reconnection, cleared
-- when it is connected again (OAuth callback) or when its credentials changed (`generation`).
-- While an episode is open, further failures of the same connection post nothing new.
CREATE TABLE connection_alerts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    connection  TEXT    NOT NULL,
    -- The credentials the episode is about: `oauth:{connected_at}`, `oauth:never` or
    -- `static:{16 hex of SHA-256(connection, token)}`. Another value means the connection was
    -- reconnected (or its token replaced) since: the old episode is closed, a new one opens.
    generation  TEXT    NOT NULL,
    -- The first reason, already cut and masked; every notifier gets the same text.
    reason      TEXT    NOT NULL,
    opened_at   INTEGER NOT NULL,
    cleared_at  INTEGER
);
CREATE UNIQUE INDEX connection_alerts_open ON connection_alerts (connection) WHERE cleared_at IS NULL;

-- Per episode and notifier: `sending` (claimed; the claim lapses after a lease so a crash
-- mid-send is retried), `sent`, `pending` (a transient failure: sent again at the next trigger)
-- or `failed` (refused for good: not retried).
CREATE TABLE connection_alert_sends (
    alert_id    INTEGER NOT NULL REFERENCES connection_alerts (id) ON DELETE CASCADE,
    notifier    TEXT    NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('sending', 'sent', 'pending', 'failed')),
    attempts    INTEGER NOT NULL,
    last_error  TEXT,
    message_id  TEXT,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (alert_id, notifier)
);
