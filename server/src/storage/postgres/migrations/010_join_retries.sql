-- Version 10 (December 2026): a join sent again after its answer was lost. The phone's join key
-- (its SHA-256) and the device the invite made: the same key again, soon after, gets that
-- device a new token instead of "used already".

ALTER TABLE invites ADD COLUMN join_key_hash BYTEA;
ALTER TABLE invites ADD COLUMN used_device BIGINT REFERENCES devices(id);
