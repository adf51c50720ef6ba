-- Version 11 (December 2026): the device an invite was made with. A phone reported lost and
-- revoked takes the invites made on it and not yet redeemed with it: an invite sitting in the
-- lost phone's chat history no longer joins whoever holds the phone.

ALTER TABLE invites ADD COLUMN created_with_device BIGINT REFERENCES devices(id);
