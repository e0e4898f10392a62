-- Latency percentiles, time to first token and error classes from the rollups: each rollup
-- row gains a histogram of latency, one of time to first token (streamed requests only), the
-- sum and count of those times, and counts of 429s, of server errors (5xx, or no answer at
-- all: status 0) and of the other 4xx.
--
-- A histogram is a bigint[] of fixed buckets: bucket k (0-based; Postgres index k + 1)
-- counts values v with bound[k-1] <= v < bound[k], which is what width_bucket(v, bounds)
-- returns; the last one counts everything from 60 s. The bounds are
-- `usage::histogram::BOUNDS_MS` in the server, which writes new rows with the same literal;
-- a test keeps the two equal. A shorter array is read as padded with zeros.
ALTER TABLE usage_rollups
    ADD COLUMN latency_hist  bigint[] NOT NULL DEFAULT '{}',
    ADD COLUMN ttft_ms_sum   bigint NOT NULL DEFAULT 0,
    ADD COLUMN ttft_count    bigint NOT NULL DEFAULT 0,
    ADD COLUMN ttft_hist     bigint[] NOT NULL DEFAULT '{}',
    ADD COLUMN rate_limited  bigint NOT NULL DEFAULT 0,
    ADD COLUMN server_errors bigint NOT NULL DEFAULT 0,
    ADD COLUMN client_errors bigint NOT NULL DEFAULT 0;

-- Two histograms added bucket by bucket, the shorter one padded with zeros.
CREATE FUNCTION freeway_hist_add(a bigint[], b bigint[]) RETURNS bigint[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(coalesce(a[i], 0) + coalesce(b[i], 0) ORDER BY i), '{}')
    FROM generate_series(1, greatest(cardinality(a), cardinality(b))) AS i
$$;

-- The histogram of one value: a 1 in the bucket it falls in.
CREATE FUNCTION freeway_hist_of(v bigint, bounds int[]) RETURNS bigint[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT array_fill(0::bigint, ARRAY[width_bucket(v, bounds::bigint[])]) || 1::bigint
$$;

-- The sum of many histograms (rows without one are skipped); '{}' for none.
CREATE AGGREGATE freeway_hist_sum(bigint[]) (
    SFUNC = freeway_hist_add,
    STYPE = bigint[],
    INITCOND = '{}',
    PARALLEL = SAFE
);

-- Rows rolled up before this version get the new columns from the events they count (a
-- group without a row, which the writer never leaves, is inserted whole). The conflict
-- target is the rollups' unique index, so each group is one index lookup.
INSERT INTO usage_rollups AS r (bucket, granularity, tenant_id, member_id, api_key_id,
    provider, model, requests, errors, prompt_tokens, completion_tokens, latency_ms_sum,
    latency_hist, ttft_ms_sum, ttft_count, ttft_hist, rate_limited, server_errors,
    client_errors)
SELECT date_trunc(g.granularity, e.created_at, 'UTC'), g.granularity, e.tenant_id,
    e.member_id, e.api_key_id, e.provider, e.model, count(*),
    count(*) FILTER (WHERE e.status >= 400 OR e.status = 0 OR e.error_code IS NOT NULL),
    coalesce(sum(e.prompt_tokens), 0), coalesce(sum(e.completion_tokens), 0),
    sum(e.latency_ms),
    freeway_hist_sum(freeway_hist_of(e.latency_ms, '{50,100,200,300,500,750,1000,1500,2000,3000,5000,7500,10000,15000,30000,60000}'::int[])),
    coalesce(sum(e.ttft_ms) FILTER (WHERE e.stream), 0),
    count(e.ttft_ms) FILTER (WHERE e.stream),
    freeway_hist_sum(freeway_hist_of(e.ttft_ms, '{50,100,200,300,500,750,1000,1500,2000,3000,5000,7500,10000,15000,30000,60000}'::int[]))
        FILTER (WHERE e.stream),
    count(*) FILTER (WHERE e.status = 429),
    count(*) FILTER (WHERE e.status >= 500 OR e.status = 0),
    count(*) FILTER (WHERE e.status BETWEEN 400 AND 499 AND e.status <> 429)
FROM usage_events e CROSS JOIN (VALUES ('hour'), ('day')) AS g(granularity)
GROUP BY 1, 2, 3, 4, 5, 6, 7
ON CONFLICT (granularity, bucket, tenant_id, member_id, api_key_id, provider, model)
DO UPDATE SET latency_hist = EXCLUDED.latency_hist,
    ttft_ms_sum = EXCLUDED.ttft_ms_sum,
    ttft_count = EXCLUDED.ttft_count,
    ttft_hist = EXCLUDED.ttft_hist,
    rate_limited = EXCLUDED.rate_limited,
    server_errors = EXCLUDED.server_errors,
    client_errors = EXCLUDED.client_errors;
