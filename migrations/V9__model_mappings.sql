-- Admin-set model-name mappings. A requested name that nothing in the pool answers to (a
-- model id, `provider/model`, an alias, a profile or a family) is matched against these
-- patterns, where `*` is any run of characters; the most specific match wins and the request
-- resolves as its target would (one hop: a target is not mapped again). Seeded so that a
-- fresh instance serves the Anthropic-style names Claude Code sends
-- (`claude-sonnet-4-5-20250929`) through `auto`, with no configuration beyond the base URL
-- and a key.
CREATE TABLE model_mappings (
    pattern     text PRIMARY KEY CHECK (char_length(pattern) BETWEEN 1 AND 200),
    target      text NOT NULL
                CHECK (char_length(target) BETWEEN 1 AND 200 AND strpos(target, '*') = 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

INSERT INTO model_mappings (pattern, target) VALUES ('claude-*', 'auto');
