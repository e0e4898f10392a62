-- Limits the router learned from providers' rate-limit headers, kept so that a restart
-- does not forget them and so that admins can see them.
CREATE TABLE learned_limits (
    scope       text NOT NULL,
    scope_key   text NOT NULL,
    rpm integer, rph integer, rpd integer, tpm bigint, tpd bigint,
    learned_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, scope_key)
);
