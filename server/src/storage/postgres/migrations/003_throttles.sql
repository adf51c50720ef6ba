-- Version 3 (November 2026): join and whole-fetch allowances move from each relay's memory into
-- the database, so a client throttled by one relay is throttled by all of them, and by a
-- restarted one. One token bucket per key; times are the database's clock in milliseconds.

CREATE TABLE throttles (
    key BYTEA PRIMARY KEY,
    tokens DOUBLE PRECISION NOT NULL,
    at_ms BIGINT NOT NULL,
    full_at_ms BIGINT NOT NULL,
    granted BOOLEAN NOT NULL
);

CREATE INDEX throttles_by_full_at ON throttles(full_at_ms);
