-- Version 12 (December 2026): what a revoked phone said as it wiped itself: when, and how many of
-- its changes and set-aside items had not reached the relay (they went with the wipe), so the
-- members page can tell a coordinator who revoked a phone still in a volunteer's hands.

ALTER TABLE devices ADD COLUMN wiped_at INTEGER;
ALTER TABLE devices ADD COLUMN wiped_unsent INTEGER;
