-- Version 8 (December 2026): how far each device's clock was from the relay's at its last
-- request that said (its `Date` header; milliseconds, positive: ahead), for the members page.
-- NULL: no request of the device said.

ALTER TABLE devices_seen ADD COLUMN clock_off_by_ms BIGINT;
