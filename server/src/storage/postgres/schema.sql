-- The current schema, for a new database. Keep it equal to applying every migration in order;
-- the test `migrated_schema_equals_fresh_schema` checks that it is. Times are Unix milliseconds,
-- as in the SQLite backend, so the two stores hold the same values.

CREATE TABLE persons (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    district_admin BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL
);

CREATE TABLE compounds (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE memberships (
    person TEXT NOT NULL REFERENCES persons(id),
    compound TEXT NOT NULL REFERENCES compounds(id),
    role TEXT NOT NULL CHECK (role IN ('admin', 'coordinator', 'medic', 'volunteer')),
    created_at BIGINT NOT NULL,
    revoked_at BIGINT,
    PRIMARY KEY (person, compound)
);

CREATE INDEX memberships_by_compound ON memberships(compound);

CREATE TABLE devices (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    person TEXT NOT NULL REFERENCES persons(id),
    name TEXT NOT NULL,
    token_hash BYTEA NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT,
    wiped_at BIGINT,
    wiped_unsent BIGINT
);

CREATE INDEX devices_by_person ON devices(person);

CREATE TABLE invites (
    code_hash BYTEA PRIMARY KEY,
    compound TEXT NOT NULL REFERENCES compounds(id),
    role TEXT NOT NULL CHECK (role IN ('admin', 'coordinator', 'medic', 'volunteer')),
    created_by TEXT NOT NULL REFERENCES persons(id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    used_by TEXT REFERENCES persons(id),
    join_key_hash BYTEA,
    used_device BIGINT REFERENCES devices(id),
    created_with_device BIGINT REFERENCES devices(id)
);

CREATE TABLE actor_bindings (
    actor TEXT PRIMARY KEY,
    person TEXT NOT NULL REFERENCES persons(id),
    bound_at BIGINT NOT NULL
);

CREATE TABLE documents (
    id TEXT PRIMARY KEY,
    compound TEXT NOT NULL REFERENCES compounds(id),
    kind TEXT NOT NULL CHECK (kind IN ('roster', 'requests', 'care', 'round')),
    open BOOLEAN NOT NULL DEFAULT TRUE,
    snapshot BYTEA NOT NULL,
    compacted_seq BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE INDEX documents_by_compound ON documents(compound);

CREATE TABLE changes (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    doc TEXT NOT NULL REFERENCES documents(id),
    chunk BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE INDEX changes_by_doc ON changes(doc, seq);

CREATE TABLE sync_states (
    device BIGINT NOT NULL REFERENCES devices(id),
    doc TEXT NOT NULL REFERENCES documents(id),
    state BYTEA NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (device, doc)
);

CREATE TABLE dashboard_sessions (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    secret_hash BYTEA NOT NULL UNIQUE,
    person TEXT NOT NULL REFERENCES persons(id),
    token_hash BYTEA NOT NULL,
    opened_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX dashboard_sessions_by_person ON dashboard_sessions(person, id);

CREATE TABLE throttles (
    key BYTEA PRIMARY KEY,
    tokens DOUBLE PRECISION NOT NULL,
    at_ms BIGINT NOT NULL,
    full_at_ms BIGINT NOT NULL,
    granted BOOLEAN NOT NULL
);

CREATE INDEX throttles_by_full_at ON throttles(full_at_ms);

CREATE TABLE set_aside (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device BIGINT NOT NULL REFERENCES devices(id),
    change_hash TEXT NOT NULL,
    person TEXT NOT NULL REFERENCES persons(id),
    compound TEXT NOT NULL REFERENCES compounds(id),
    doc TEXT NOT NULL,
    operation TEXT,
    summary TEXT NOT NULL,
    made_at BIGINT,
    set_aside_at BIGINT NOT NULL,
    rule TEXT NOT NULL,
    reason TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    decision TEXT,
    decided_by TEXT REFERENCES persons(id),
    decided_at BIGINT,
    note TEXT,
    UNIQUE (device, change_hash)
);

CREATE INDEX set_aside_by_compound ON set_aside(compound, id);
CREATE INDEX set_aside_by_person ON set_aside(person, change_hash);
CREATE INDEX set_aside_by_change ON set_aside(change_hash);

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

CREATE TABLE share_refusals (
    person TEXT NOT NULL REFERENCES persons(id),
    compound TEXT NOT NULL REFERENCES compounds(id),
    times BIGINT NOT NULL,
    last_at BIGINT NOT NULL,
    document TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('roster', 'requests', 'care', 'round')),
    PRIMARY KEY (compound, person)
);

CREATE TABLE devices_seen (
    device BIGINT PRIMARY KEY REFERENCES devices(id),
    last_at BIGINT NOT NULL,
    clock_off_by_ms BIGINT
);
