-- Replicas that share one Redis (`FREEWAY_REDIS_URL`) announce themselves here every second.
-- While Redis is unreachable each replica enforces its share of every limit (the limit
-- divided by the replicas seen in the last few seconds); Postgres, which every replica
-- already needs, is the count's source so that it holds even when Redis was never reached.
CREATE TABLE fleet_replicas (
    id       uuid PRIMARY KEY,
    seen_at  timestamptz NOT NULL DEFAULT now()
);
