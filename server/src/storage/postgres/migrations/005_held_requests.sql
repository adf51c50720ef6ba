-- Version 5 (December 2026): sync requests held in part. A phone on a link that drops requests
-- sends a long one in pieces; the relay keeps every piece that arrives, so any relay on this
-- database (or one restarted) goes on from the bytes held. One request per device; a taken one
-- is remembered by its digest, its pieces let go.

CREATE TABLE held_requests (
    device BIGINT PRIMARY KEY REFERENCES devices(id),
    digest TEXT NOT NULL,
    total BIGINT NOT NULL,
    deflated BOOLEAN NOT NULL,
    held BIGINT NOT NULL,
    taken BOOLEAN NOT NULL,
    touched_at BIGINT NOT NULL
);

CREATE TABLE held_request_pieces (
    device BIGINT NOT NULL REFERENCES devices(id),
    at BIGINT NOT NULL,
    bytes BYTEA NOT NULL,
    PRIMARY KEY (device, at)
);
