-- Version 6 (December 2026): when each device last asked to sync, for the members page's "last
-- sync" (its sync states change only when something does). Written by the eviction sweep from
-- what the relay noted in memory since the last one (`devices_seen.rs`).

CREATE TABLE devices_seen (
    device INTEGER PRIMARY KEY REFERENCES devices(id),
    last_at INTEGER NOT NULL
) STRICT;
