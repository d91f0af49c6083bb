-- Deliveries that start an analysis, stored before the webhook is acknowledged.
-- idem_key = provider|connection|project|pipeline: a redelivered or polled duplicate of the
-- same failure hits the UNIQUE constraint and is not analysed twice.
CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY,
    idem_key        TEXT    NOT NULL UNIQUE,
    provider        TEXT    NOT NULL,
    connection      TEXT    NOT NULL,
    project         TEXT    NOT NULL,
    pipeline        TEXT    NOT NULL,
    event_json      TEXT    NOT NULL,
    source          TEXT    NOT NULL CHECK (source IN ('webhook', 'poll', 'replay')),
    state           TEXT    NOT NULL CHECK (state IN ('queued', 'running', 'done', 'parked')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    received_at     INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);

-- The analysed failure as the message every notifier renders (JSON), kept so a retry of a
-- failed notification does not redo the analysis.
CREATE TABLE reports (
    delivery_id  INTEGER PRIMARY KEY REFERENCES deliveries (id),
    message_json TEXT    NOT NULL,
    created_at   INTEGER NOT NULL
);

-- One row per (delivery, notification target): a target marked sent is never sent again.
CREATE TABLE notifications (
    delivery_id INTEGER NOT NULL REFERENCES deliveries (id),
    target      TEXT    NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    sent_at     INTEGER,
    PRIMARY KEY (delivery_id, target)
);
