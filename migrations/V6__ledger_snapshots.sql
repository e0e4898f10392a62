-- The pool's usage windows (route, credential and provider account limits), one compact
-- state per scope: the live buckets of its sliding minute and hour, and its day. Written
-- every few seconds and at shutdown; a restart restores them, then adds what was served
-- after the snapshot, instead of replaying the day's requests one by one.
CREATE TABLE ledger_snapshots (
    scope_key   text PRIMARY KEY,
    taken_at    timestamptz NOT NULL,
    state       jsonb NOT NULL
);
