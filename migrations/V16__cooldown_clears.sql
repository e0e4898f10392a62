-- When each cooldown was last set (the failure's time on the replica that saw it), and
-- when cooldowns were last cleared: by scope key, or '*' for all. A cooldown set before a
-- clear that covers it is not written after that clear, and replicas drop it from memory.
ALTER TABLE cooldowns ADD COLUMN set_at timestamptz NOT NULL DEFAULT now();

CREATE TABLE cooldown_clears (
    scope_key  text PRIMARY KEY,
    cleared_at timestamptz NOT NULL
);
