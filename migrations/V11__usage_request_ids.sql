-- The client's own `x-request-id`, when it sent a well-formed one: that is then the id the
-- request was answered with, and `GET /admin/v1/requests/{id}` finds the event by it. NULL
-- when the request's id is the event's own `id` (adding a nullable column rewrites nothing).
ALTER TABLE usage_events ADD COLUMN request_id text;

-- Partial: requests with an id of Freeway's own (most) cost this index nothing.
CREATE INDEX usage_events_request_id_idx ON usage_events (request_id, id)
    WHERE request_id IS NOT NULL;
