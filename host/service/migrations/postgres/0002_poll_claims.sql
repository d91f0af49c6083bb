-- sqlite/0012_poll_claims.sql in PostgreSQL's types.
CREATE TABLE poll_claims (
    connection    TEXT    NOT NULL,
    project       TEXT    NOT NULL,
    holder        TEXT    NOT NULL,
    claimed_until BIGINT  NOT NULL,
    PRIMARY KEY (connection, project)
);
