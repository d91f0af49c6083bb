-- The last green run of a failing job (green_run.rs): a bounded fingerprint of its log's lines
-- per connection, project, job name and ref, so a failure compares with it and a repeated one
-- does not download it again. A row without a fingerprint records "no green run" (none_reason)
-- and when that was asked, so a failing branch does not ask on every failure.
CREATE TABLE green_fingerprints (
    connection  TEXT NOT NULL,
    project     TEXT NOT NULL,
    job_name    TEXT NOT NULL,
    git_ref     TEXT NOT NULL,
    pipeline    INTEGER,
    label       TEXT NOT NULL,
    green_ref   TEXT,
    fingerprint BLOB,
    none_reason TEXT,
    checked_at  INTEGER NOT NULL,
    PRIMARY KEY (connection, project, job_name, git_ref)
);
