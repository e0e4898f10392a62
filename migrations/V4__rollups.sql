-- Usage analytics: the writer now adds every event to the hourly and daily rollups in the
-- transaction that inserts it. Events recorded before this version are rolled up here once,
-- so that the analytics cover them too.
INSERT INTO usage_rollups AS r (bucket, granularity, tenant_id, member_id, api_key_id,
    provider, model, requests, errors, prompt_tokens, completion_tokens, latency_ms_sum)
SELECT date_trunc(g.granularity, e.created_at, 'UTC'), g.granularity, e.tenant_id,
    e.member_id, e.api_key_id, e.provider, e.model, count(*),
    count(*) FILTER (WHERE e.status >= 400 OR e.status = 0 OR e.error_code IS NOT NULL),
    coalesce(sum(e.prompt_tokens), 0), coalesce(sum(e.completion_tokens), 0),
    sum(e.latency_ms)
FROM usage_events e CROSS JOIN (VALUES ('hour'), ('day')) AS g(granularity)
GROUP BY 1, 2, 3, 4, 5, 6, 7
ON CONFLICT (granularity, bucket, tenant_id, member_id, api_key_id, provider, model)
DO UPDATE SET requests = r.requests + EXCLUDED.requests,
    errors = r.errors + EXCLUDED.errors,
    prompt_tokens = r.prompt_tokens + EXCLUDED.prompt_tokens,
    completion_tokens = r.completion_tokens + EXCLUDED.completion_tokens,
    latency_ms_sum = r.latency_ms_sum + EXCLUDED.latency_ms_sum;

-- The request log pages newest first by id within a tenant or a member.
CREATE INDEX usage_events_tenant_id_idx ON usage_events (tenant_id, id);
CREATE INDEX usage_events_member_id_idx ON usage_events (member_id, id);
-- The audit log pages newest first by id within a tenant.
CREATE INDEX audit_log_tenant_id_idx ON audit_log (tenant_id, id);
