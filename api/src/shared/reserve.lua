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
  local st = open(key)
  local sc = { st = st, day_end = tonumber(ARGV[a + 7]), month_end = tonumber(ARGV[a + 8]) }
  local rings = tonumber(ARGV[a + 9])
  local names = { 'de', 'dr', 'dt' }
  if sc.month_end > 0 then
    names[#names + 1] = 'xe'
    names[#names + 1] = 'xt'
  end
  if rings % 2 == 1 then ring_names(names, 'm', 1000, now) end
  if rings >= 2 then ring_names(names, 'h', 60000, now) end
  fetch(st, names)
  if rings % 2 == 1 then sc.minute = ring(st, 'm', 1000, now) end
  if rings >= 2 then sc.hour = ring(st, 'h', 60000, now) end
  -- A later end than the stored one starts a new, empty day (month).
  local de = tonumber(get(st, 'de'))
  if de == nil or sc.day_end > de then
    sc.de, sc.dr, sc.dt = sc.day_end, 0, 0
  else
    sc.de, sc.dr, sc.dt = de, num(get(st, 'dr')), num(get(st, 'dt'))
  end
  if sc.month_end > 0 then
    local xe = tonumber(get(st, 'xe'))
    if xe == nil or sc.month_end > xe then
      sc.xe, sc.xt = sc.month_end, 0
    else
      sc.xe, sc.xt = xe, num(get(st, 'xt'))
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
  local st = sc.st
  for _, r in ipairs({ sc.minute or false, sc.hour or false }) do
    if r then
      add(r, now, 1, tokens)
      save(r)
    end
  end
  put(st, 'de', sc.de)
  put(st, 'dr', sc.dr + 1)
  put(st, 'dt', sc.dt + tokens)
  local expires = sc.de
  if sc.xe then
    put(st, 'xe', sc.xe)
    put(st, 'xt', sc.xt + tokens)
    if sc.xe > expires then expires = sc.xe end
  end
  local fresh = st.w['de'] ~= nil or st.w['xe'] ~= nil
  flush(st)
  -- Every key expires by itself: two hours after its day (month) ends, so that an hour
  -- window never loses what the last hour before midnight holds. Set when a day (month)
  -- starts in the key; any later request of that period finds it set.
  if fresh then
    redis.call('PEXPIRE', st.key, math.floor(expires - now + 7200000))
  end
end
return { 0 }
