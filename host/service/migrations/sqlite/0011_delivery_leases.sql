-- Leases on claimed deliveries (storage.rs): a running delivery belongs to the process that
-- claimed it (`leased_by`) until `lease_until` (ms since the epoch), which that process renews
-- while it works. On a database shared by replicas a delivery whose lease ran out is claimed
-- again; one whose lease is live is never taken from the replica working on it.
ALTER TABLE deliveries ADD COLUMN lease_until INTEGER;
ALTER TABLE deliveries ADD COLUMN leased_by TEXT;
