-- Checks every scope and, only when all of them can take the request, counts it in each.
-- KEYS: one hash per scope. ARGV[1]: little-endian doubles (struct.pack): now, tokens,
-- then per scope 9 values: rpm rph rpd tpm tpd tokens_per_month (-1: no limit), day_end,
-- month_end (0: none), rings (1 minute, 2 hour).
-- Answers {0} when taken, else {scope index (from 1), limit, until (-1: never)}.
local P = ARGV[1]
local now, tokens = sunpack('<dd', P)
local scopes = {}
for i = 1, #KEYS do
  local key = KEYS[i]
  local rpm, rph, rpd, tpm, tpd, tpmo, day_end, month_end, rings =
    sunpack('<ddddddddd', P, 17 + (i - 1) * 72)
  local m, h
  if rings % 2 == 1 then m = ring_of('m', 0, 1000, now) end
  if rings >= 2 then h = ring_of('h', N, 60000, now) end
  local d, mv, hv = read(key, m, h)
  if m then slide(key, m, mv, now) end
  if h then slide(key, h, hv, now) end
  -- A later end than the stored one starts a new, empty day (month).
  local de, dr, dt, xe, xt = day(d)
  local fresh = false
  if day_end > de then
    de, dr, dt, fresh = day_end, 0, 0, true
  end
  local month = month_end > 0
  if month and month_end > xe then
    xe, xt, fresh = month_end, 0, true
  end
  if rpm >= 0 and m and m.req >= rpm then
    return { i, 'rpm', freed_at(key, m, m.req + 1 - rpm, false) }
  end
  if rph >= 0 and h and h.req >= rph then
    return { i, 'rph', freed_at(key, h, h.req + 1 - rph, false) }
  end
  if rpd >= 0 and dr >= rpd then
    return { i, 'rpd', de }
  end
  if tpm >= 0 and m and m.tok + tokens > tpm then
    if tokens > tpm then return { i, 'tpm', -1 } end
    return { i, 'tpm', freed_at(key, m, m.tok + tokens - tpm, true) }
  end
  if tpd >= 0 and dt + tokens > tpd then
    if tokens > tpd then return { i, 'tpd', -1 } end
    return { i, 'tpd', de }
  end
  if tpmo >= 0 and month and xt + tokens > tpmo then
    if tokens > tpmo then return { i, 'tokens_per_month', -1 } end
    return { i, 'tokens_per_month', xe }
  end
  scopes[i] = { m = m, h = h, de = de, dr = dr, dt = dt, xe = xe, xt = xt, month = month,
                fresh = fresh }
end
for i = 1, #KEYS do
  local sc = scopes[i]
  if sc.m then add(sc.m, now, 1, tokens) end
  if sc.h then add(sc.h, now, 1, tokens) end
  local xt = sc.xt
  if sc.month then xt = xt + tokens end
  save(KEYS[i], sc.de, sc.dr + 1, sc.dt + tokens, sc.xe, xt, sc.m, sc.h)
  -- Every key expires by itself: two hours after its day (month) ends, so that an hour
  -- window never loses what the last hour before midnight holds. Set when a day (month)
  -- starts in the key; any later request of that period finds it set.
  if sc.fresh then
    local expires = sc.de
    if sc.month and sc.xe > expires then expires = sc.xe end
    redis.call('PEXPIRE', KEYS[i], floor(expires - now + 7200000))
  end
end
return { 0 }
