-- Version 11 (December 2026): an index of set-aside items by change hash. A phone asks after its
-- items' outcomes by hash, its own or a removed sender's in a compound it belongs to; without
-- the index that second case read every item of the compound for each hash asked.

CREATE INDEX set_aside_by_change ON set_aside(change_hash);
