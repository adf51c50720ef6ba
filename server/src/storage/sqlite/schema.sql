-- The current schema, for a new database. Keep it equal to applying every migration in order;
-- the test `migrated_schema_equals_fresh_schema` checks that it is.

CREATE TABLE persons (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    district_admin INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE compounds (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE memberships (
    person TEXT NOT NULL REFERENCES persons(id),
    compound TEXT NOT NULL REFERENCES compounds(id),
    role TEXT NOT NULL CHECK (role IN ('admin', 'coordinator', 'medic', 'volunteer')),
    created_at INTEGER NOT NULL,
    revoked_at INTEGER,
    PRIMARY KEY (person, compound)
) STRICT;

CREATE INDEX memberships_by_compound ON memberships(compound);

CREATE TABLE devices (
    id INTEGER PRIMARY KEY,
    person TEXT NOT NULL REFERENCES persons(id),
    name TEXT NOT NULL,
    token_hash BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER,
    wiped_at INTEGER,
    wiped_unsent INTEGER
) STRICT;

CREATE INDEX devices_by_person ON devices(person);

CREATE TABLE invites (
    code_hash BLOB PRIMARY KEY,
    compound TEXT NOT NULL REFERENCES compounds(id),
    role TEXT NOT NULL CHECK (role IN ('admin', 'coordinator', 'medic', 'volunteer')),
    created_by TEXT NOT NULL REFERENCES persons(id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER,
    used_by TEXT REFERENCES persons(id),
    join_key_hash BLOB,
    used_device INTEGER REFERENCES devices(id),
    created_with_device INTEGER REFERENCES devices(id)
) STRICT;

CREATE TABLE actor_bindings (
    actor TEXT PRIMARY KEY,
    person TEXT NOT NULL REFERENCES persons(id),
    bound_at INTEGER NOT NULL
) STRICT;

CREATE TABLE documents (
    id TEXT PRIMARY KEY,
    compound TEXT NOT NULL REFERENCES compounds(id),
    kind TEXT NOT NULL CHECK (kind IN ('roster', 'requests', 'care', 'round')),
    open INTEGER NOT NULL DEFAULT 1,
    snapshot BLOB NOT NULL,
    compacted_seq INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
) STRICT;

CREATE INDEX documents_by_compound ON documents(compound);

CREATE TABLE changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    doc TEXT NOT NULL REFERENCES documents(id),
    chunk BLOB NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

CREATE INDEX changes_by_doc ON changes(doc, seq);

CREATE TABLE sync_states (
    device INTEGER NOT NULL REFERENCES devices(id),
    doc TEXT NOT NULL REFERENCES documents(id),
    state BLOB NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (device, doc)
) STRICT;

CREATE TABLE dashboard_sessions (
    id INTEGER PRIMARY KEY,
    secret_hash BLOB NOT NULL UNIQUE,
    person TEXT NOT NULL REFERENCES persons(id),
    token_hash BLOB NOT NULL,
    opened_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX dashboard_sessions_by_person ON dashboard_sessions(person, id);

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
CREATE INDEX set_aside_by_person ON set_aside(person, change_hash);
CREATE INDEX set_aside_by_change ON set_aside(change_hash);

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

CREATE TABLE share_refusals (
    person TEXT NOT NULL REFERENCES persons(id),
    compound TEXT NOT NULL REFERENCES compounds(id),
    times INTEGER NOT NULL,
    last_at INTEGER NOT NULL,
    document TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('roster', 'requests', 'care', 'round')),
    PRIMARY KEY (compound, person)
) STRICT;

CREATE TABLE devices_seen (
    device INTEGER PRIMARY KEY REFERENCES devices(id),
    last_at INTEGER NOT NULL,
    clock_off_by_ms INTEGER
) STRICT;
