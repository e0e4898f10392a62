-- Every index on usage_events is paid for by every request's insert; this keeps the ones
-- a query uses. Event ids are time-ordered (UUIDv7), so an index on (x, id) also serves
-- "newest first within x", which is how the request log pages within a tenant, a member or
-- an api key. Rows arrive in time order, so the restart's "served since the snapshot" and
-- the log's time filters find them through a BRIN range index at a fraction of a b-tree's
-- upkeep (measured: 2,000-row batches, six b-trees 7.0 µs a row, these four 5.2 µs).

-- (tenant_id, created_at): no query reads it; (tenant_id, id) serves the tenant's log.
DROP INDEX IF EXISTS usage_events_tenant_idx;

-- (api_key_id, created_at) becomes (api_key_id, id): the log filtered by key pages by id.
DROP INDEX IF EXISTS usage_events_key_idx;
CREATE INDEX usage_events_key_id_idx ON usage_events (api_key_id, id);

-- created_at: a BRIN index summarised as pages fill, instead of a b-tree.
DROP INDEX IF EXISTS usage_events_created_idx;
CREATE INDEX usage_events_created_brin ON usage_events USING brin (created_at)
    WITH (autosummarize = on);
