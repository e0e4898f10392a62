-- Checks every scope and, only when all of them can take the request, counts it in each.
-- KEYS: one hash per scope. ARGV: now, tokens, then per scope 9 values: rpm rph rpd tpm tpd
-- tokens_per_month (-1: no limit), day_end, month_end (0: none), rings (1 minute, 2 hour).
-- Answers {0} when taken, else {scope index (from 1), limit, until (-1: never)}.
local now = tonumber(ARGV[1])
local tokens = tonumber(ARGV[2])
local scopes = {}
for i, key in ipairs(KEYS) do
  local a = 2 + (i - 1) * 9
  local lim = {}
  for j = 1, 6 do lim[j] = tonumber(ARGV[a + j]) end
  local sc = { key = key, lim = lim, day_end = tonumber(ARGV[a + 7]),
               month_end = tonumber(ARGV[a + 8]), rings = tonumber(ARGV[a + 9]) }
  if sc.rings % 2 == 1 then sc.minute = ring(key, 'm', 1000, now) end
  if sc.rings >= 2 then sc.hour = ring(key, 'h', 60000, now) end
  sc.de, sc.dr, sc.dt, sc.newday = period(key, 'de', 'dr', 'dt', sc.day_end)
  if sc.month_end > 0 then
    local st = redis.call('HMGET', key, 'xe', 'xt')
    local e = tonumber(st[1])
    if e == nil or sc.month_end > e then
      sc.xe, sc.xt, sc.newmonth = sc.month_end, 0, true
    else
      sc.xe, sc.xt = e, num(st[2])
    end
  end
  local rpm, rph, rpd, tpm, tpd, tpmo = lim[1], lim[2], lim[3], lim[4], lim[5], lim[6]
  local m, h = sc.minute, sc.hour
  if rpm >= 0 and m and m.req >= rpm then
    return { i, 'rpm', freed_at(m, m.req + 1 - rpm, false) }
  end
  if rph >= 0 and h and h.req >= rph then
    return { i, 'rph', freed_at(h, h.req + 1 - rph, false) }
  end
  if rpd >= 0 and sc.dr >= rpd then
    return { i, 'rpd', sc.de }
  end
  if tpm >= 0 and m and m.tok + tokens > tpm then
    if tokens > tpm then return { i, 'tpm', -1 } end
    return { i, 'tpm', freed_at(m, m.tok + tokens - tpm, true) }
  end
  if tpd >= 0 and sc.dt + tokens > tpd then
    if tokens > tpd then return { i, 'tpd', -1 } end
    return { i, 'tpd', sc.de }
  end
  if tpmo >= 0 and sc.xt ~= nil and sc.xt + tokens > tpmo then
    if tokens > tpmo then return { i, 'tokens_per_month', -1 } end
    return { i, 'tokens_per_month', sc.xe }
  end
  scopes[i] = sc
end
for _, sc in ipairs(scopes) do
  for _, r in ipairs({ sc.minute or false, sc.hour or false }) do
    if r then
      add(r, now, 1, tokens)
      save(r)
    end
  end
  redis.call('HSET', sc.key, 'de', sc.de, 'dr', sc.dr + 1, 'dt', sc.dt + tokens)
  local expires = sc.de
  if sc.xe then
    redis.call('HSET', sc.key, 'xe', sc.xe, 'xt', sc.xt + tokens)
    if sc.xe > expires then expires = sc.xe end
  end
  -- Every key expires by itself: after its day (month) and never before its hour.
  local ttl = expires - now
  if ttl < 7200000 then ttl = 7200000 end
  redis.call('PEXPIRE', sc.key, math.floor(ttl + 60000))
end
return { 0 }
