-- Connection alerts of more than one kind (accounts/alerts.rs): besides "needs reconnection",
-- "refused by this host's egress policy" and "cannot reach its provider". Each kind has its own
-- open episode per connection, so an outage does not close a reconnection alert or the reverse.
ALTER TABLE connection_alerts ADD COLUMN kind TEXT NOT NULL DEFAULT 'needs_reconnection';
DROP INDEX connection_alerts_open;
CREATE UNIQUE INDEX connection_alerts_open ON connection_alerts (connection, kind) WHERE cleared_at IS NULL;
