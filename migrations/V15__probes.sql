-- Health probes: the last check of each credential (`GET /models` or a 1-token completion).
ALTER TABLE credentials
    ADD COLUMN probed_at        timestamptz,
    ADD COLUMN probe_ok         boolean,
    ADD COLUMN probe_latency_ms integer,
    ADD COLUMN probe_error      text;

-- A catalog model one credential cannot use: its provider no longer lists it with that key
-- (`missing`), or answered 402 or "requires a subscription" (`refused`). The router skips
-- the route until discovery or a probe sees the model again, or an admin clears it.
CREATE TABLE model_availability (
    credential_id uuid NOT NULL REFERENCES credentials (id) ON DELETE CASCADE,
    model_id      uuid NOT NULL REFERENCES models (id) ON DELETE CASCADE,
    cause         text NOT NULL CHECK (cause IN ('missing', 'refused')),
    reason        text NOT NULL,
    since         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (credential_id, model_id)
);
CREATE INDEX model_availability_model_idx ON model_availability (model_id);
