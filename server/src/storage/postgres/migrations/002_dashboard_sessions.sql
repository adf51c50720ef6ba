-- Version 2 (November 2026): dashboard sessions move from the relay's memory into the database,
-- so that a restart signs nobody out and every relay on a shared database knows them.

CREATE TABLE dashboard_sessions (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    secret_hash BYTEA NOT NULL UNIQUE,
    person TEXT NOT NULL REFERENCES persons(id),
    token_hash BYTEA NOT NULL,
    opened_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX dashboard_sessions_by_person ON dashboard_sessions(person, id);
