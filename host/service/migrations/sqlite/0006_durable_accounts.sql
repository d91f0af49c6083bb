-- Accounts (issue 5), durable across processes: `serve` and the CLI (`watch`, `projects`,
-- `connections`) share one SQLite file, so what must hold across them lives here.

-- A token refresh in progress. GitFlic rotates refresh tokens, so two processes refreshing the
-- same connection at once would leave one of them holding a dead refresh token. The refresher
-- takes this row in an IMMEDIATE transaction first; another process that finds a live lease
-- waits for it (polling) and then re-reads the stored tokens. A lease whose holder crashed
-- expires at `lease_until` (wall clock, ms since the epoch) and may be taken over.
-- accounts/tokens.rs.
CREATE TABLE token_refresh_leases (
    connection  TEXT    PRIMARY KEY,
    -- The TokenManager instance holding it (process id + random), for logs and take-over.
    holder      TEXT    NOT NULL,
    taken_at    INTEGER NOT NULL,
    lease_until INTEGER NOT NULL
);

-- The per-connection request budget: provider calls per minute bucket and purpose (`poll`:
-- the polling fallback; `other`: webhook analyses, webhook management, OAuth, CLI commands).
-- Checked and spent in one IMMEDIATE transaction, so every process on this file shares it and
-- a restart keeps it. Buckets older than the window are deleted as spends come in.
-- accounts/budget.rs.
CREATE TABLE request_budget (
    connection TEXT    NOT NULL,
    -- Minute index: ms since the epoch / 60000 (for the default one-hour window).
    bucket     INTEGER NOT NULL,
    purpose    TEXT    NOT NULL CHECK (purpose IN ('poll', 'other')),
    calls      INTEGER NOT NULL,
    PRIMARY KEY (connection, bucket, purpose)
);

-- Webhook secret rotation (accounts/watch.rs): the new secret's hash is stored here before the
-- hook is changed at the provider, and deliveries carrying either secret are accepted until
-- the registration succeeded (then it replaces `secret_hash`) or failed (then it is dropped).
ALTER TABLE watched_projects ADD COLUMN pending_secret_hash TEXT;
ALTER TABLE watched_projects ADD COLUMN pending_since INTEGER;
CREATE INDEX watched_projects_pending ON watched_projects (connection, pending_secret_hash);
