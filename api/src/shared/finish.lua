-- Settles (actual >= 0) or gives back (actual = -1) a reservation made at `at` by the
-- reserve script, in the buckets, day and month it went into. KEYS: the same hashes.
-- ARGV: now, at, estimated, actual, then per scope 3 values: day_end, month_end, rings, as
-- the reservation saw them.
local now = tonumber(ARGV[1])
local at = tonumber(ARGV[2])
local estimated = tonumber(ARGV[3])
local actual = tonumber(ARGV[4])
local req, to = 0, actual
if actual < 0 then req, to = 1, 0 end
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    local a = 4 + (i - 1) * 3
    local day_end, month_end, rings = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
    local rs = {}
    if rings % 2 == 1 then rs[#rs + 1] = ring(key, 'm', 1000, now) end
    if rings >= 2 then rs[#rs + 1] = ring(key, 'h', 60000, now) end
    for _, r in ipairs(rs) do
      adjust(r, at, req, estimated, to)
      save(r)
    end
    local st = redis.call('HMGET', key, 'de', 'dr', 'dt', 'xe', 'xt')
    if tonumber(st[1]) == day_end then
      local dr, dt = num(st[2]) - req, num(st[3]) - estimated
      if dr < 0 then dr = 0 end
      if dt < 0 then dt = 0 end
      redis.call('HSET', key, 'dr', dr, 'dt', dt + to)
    end
    if month_end > 0 and tonumber(st[4]) == month_end then
      local xt = num(st[5]) - estimated
      if xt < 0 then xt = 0 end
      redis.call('HSET', key, 'xt', xt + to)
    end
  end
end
return 0
