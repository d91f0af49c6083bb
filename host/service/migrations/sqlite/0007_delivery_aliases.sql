-- A failure can be named two ways (GitFlic: the pipeline's number, `localId`, and its UUID),
-- and a delivery may know only one of them: a webhook the number, a redelivery only the UUID.
-- Every other key a delivery is known by points at it here, so either name finds the one
-- delivery and the failure is analysed and posted once.
CREATE TABLE delivery_aliases (
    idem_key    TEXT    PRIMARY KEY,
    delivery_id INTEGER NOT NULL REFERENCES deliveries (id)
);
