-- Version 3 (December 2026): the review inbox. Operations a phone set aside (refused for good by
-- the relay) arrive here in readable form for the compound's coordinators, who apply or dismiss
-- each; the phone learns the outcome on a later sync. An item is stored once per device and
-- change hash, however often it is sent.

CREATE TABLE set_aside (
    id INTEGER PRIMARY KEY,
    device INTEGER NOT NULL REFERENCES devices(id),
    change_hash TEXT NOT NULL,
    person TEXT NOT NULL REFERENCES persons(id),
    compound TEXT NOT NULL REFERENCES compounds(id),
    doc TEXT NOT NULL,
    operation TEXT,
    summary TEXT NOT NULL,
    made_at INTEGER,
    set_aside_at INTEGER NOT NULL,
    rule TEXT NOT NULL,
    reason TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    decision TEXT,
    decided_by TEXT REFERENCES persons(id),
    decided_at INTEGER,
    note TEXT,
    UNIQUE (device, change_hash)
) STRICT;

CREATE INDEX set_aside_by_compound ON set_aside(compound, id);
