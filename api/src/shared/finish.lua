-- Settles (actual >= 0) or gives back (actual = -1) a reservation made at `at` by the
-- reserve script, in the buckets, day and month it went into. KEYS: the same hashes.
-- ARGV: now, at, estimated, actual, then per scope 3 values: day_end, month_end, rings, as
-- the reservation saw them. A key that expired meanwhile is left alone.
local now = tonumber(ARGV[1])
local at = tonumber(ARGV[2])
local estimated = tonumber(ARGV[3])
local actual = tonumber(ARGV[4])
local req, to = 0, actual
if actual < 0 then req, to = 1, 0 end
for i, key in ipairs(KEYS) do
  local a = 4 + (i - 1) * 3
  local day_end, month_end = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local rings = tonumber(ARGV[a + 3])
  local st = open(key)
  local names = { 'de', 'dr', 'dt', 'xe', 'xt' }
  if rings % 2 == 1 then ring_names(names, 'm', 1000, now, at) end
  if rings >= 2 then ring_names(names, 'h', 60000, now, at) end
  fetch(st, names)
  -- Every reserved key holds its day's end: none, and the key is gone.
  if get(st, 'de') ~= nil then
    local rs = {}
    if rings % 2 == 1 then rs[#rs + 1] = ring(st, 'm', 1000, now) end
    if rings >= 2 then rs[#rs + 1] = ring(st, 'h', 60000, now) end
    for _, r in ipairs(rs) do
      adjust(r, at, req, estimated, to)
      save(r)
    end
    if tonumber(get(st, 'de')) == day_end then
      local dr, dt = num(get(st, 'dr')) - req, num(get(st, 'dt')) - estimated
      if dr < 0 then dr = 0 end
      if dt < 0 then dt = 0 end
      put(st, 'dr', dr)
      put(st, 'dt', dt + to)
    end
    if month_end > 0 and tonumber(get(st, 'xe')) == month_end then
      local xt = num(get(st, 'xt')) - estimated
      if xt < 0 then xt = 0 end
      put(st, 'xt', xt + to)
    end
    flush(st)
  end
end
return 0
