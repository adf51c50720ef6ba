-- Version 8 (December 2026): a person's set-aside items by change hash, so a phone signed in
-- again with a new token (a new device row) still learns the decisions on what it sent before.

CREATE INDEX set_aside_by_person ON set_aside(person, change_hash);
