-- Version 7 (December 2026): when each device last asked to sync, for the members page's "last
-- sync" (its sync states change only when something does). Written by each relay's eviction
-- sweep from what it noted in memory since the last one (`devices_seen.rs`); the later time wins.

CREATE TABLE devices_seen (
    device BIGINT PRIMARY KEY REFERENCES devices(id),
    last_at BIGINT NOT NULL
);
