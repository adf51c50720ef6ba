-- Version 6 (December 2026): messages refused because their sender had used up a day's share of
-- the growth of a compound's documents, per person and compound: how many, when the last was,
-- and its document, for the coordinators' members page. Shared by every relay on the database,
-- and kept across restarts.

CREATE TABLE share_refusals (
    person TEXT NOT NULL REFERENCES persons(id),
    compound TEXT NOT NULL REFERENCES compounds(id),
    times BIGINT NOT NULL,
    last_at BIGINT NOT NULL,
    document TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('roster', 'requests', 'care', 'round')),
    PRIMARY KEY (compound, person)
);
