-- Version 4 (December 2026): sync requests held in part. A phone on a link that drops requests
-- sends a long one in pieces; the relay keeps every piece that arrives, so a restarted relay (or
-- another relay on the same database) goes on from the bytes held. One request per device;
-- a taken one is remembered by its digest, its pieces let go.

CREATE TABLE held_requests (
    device INTEGER PRIMARY KEY REFERENCES devices(id),
    digest TEXT NOT NULL,
    total INTEGER NOT NULL,
    deflated INTEGER NOT NULL,
    held INTEGER NOT NULL,
    taken INTEGER NOT NULL,
    touched_at INTEGER NOT NULL
) STRICT;

CREATE TABLE held_request_pieces (
    device INTEGER NOT NULL REFERENCES devices(id),
    at INTEGER NOT NULL,
    bytes BLOB NOT NULL,
    PRIMARY KEY (device, at)
) STRICT;
