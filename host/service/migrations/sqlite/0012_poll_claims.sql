-- Which process polls a watched project (accounts/poller.rs `claim_poll`): with replicas on one
-- database, each project is polled by one of them at a time. The claim lasts a poll interval
-- and a half; its holder renews it at each of its polls, and when the holder stops (killed,
-- scaled down) the claim runs out and another replica's poller takes the project.
CREATE TABLE poll_claims (
    connection    TEXT    NOT NULL,
    project       TEXT    NOT NULL,
    holder        TEXT    NOT NULL,
    claimed_until INTEGER NOT NULL,
    PRIMARY KEY (connection, project)
);
