-- Event ids are UUIDv7 made from the event's created_at (their first 48 bits are its unix
-- milliseconds), so the primary key (id, created_at) already finds a span of time as a span
-- of ids: the restart's "served since the snapshot" and the request log's time filters
-- bound the id as well as created_at (`store::usage::id_floor`). The b-tree on created_at
-- alone was one more index for every request's insert to keep (about a tenth of Postgres's
-- CPU per written event) and no query needs it now.
DROP INDEX IF EXISTS usage_events_created_idx;
