-- Responses of OpenAI's Responses API, kept for `previous_response_id` and
-- `GET /v1/responses/{id}` unless the request said `store: false`. Each is readable only with
-- the api key that made it; past `responses_retention_days` it is deleted.
CREATE TABLE responses (
    id          text PRIMARY KEY,
    api_key_id  uuid NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- The Response object as it was answered.
    body        jsonb NOT NULL,
    -- The conversation up to and including this response, as chat messages: what a later
    -- request naming it as `previous_response_id` continues from.
    context     jsonb NOT NULL
);

CREATE INDEX responses_created_idx ON responses (created_at);
