-- Settles (actual >= 0) or gives back (actual = -1) a reservation made at `at` by the
-- reserve script, in the buckets, day and month it went into. KEYS: the same hashes.
-- ARGV[1]: little-endian doubles (struct.pack): now, at, estimated, actual, then per scope
-- 3 values: day_end, month_end, rings, as the reservation saw them. A key that expired
-- meanwhile is left alone.
local P = ARGV[1]
local now, at, estimated, actual = sunpack('<dddd', P)
local req, to = 0, actual
if actual < 0 then req, to = 1, 0 end
for i = 1, #KEYS do
  local key = KEYS[i]
  local day_end, month_end, rings = sunpack('<ddd', P, 33 + (i - 1) * 24)
  local m, h
  if rings % 2 == 1 then m = ring_of('m', 0, 1000, now, at) end
  if rings >= 2 then h = ring_of('h', N, 60000, now, at) end
  -- Every reserved key holds its day: none, and the key is gone.
  local d, mv, hv = read(key, m, h)
  if d then
    if m then
      slide(key, m, mv, now)
      adjust(m, at, req, estimated, to)
    end
    if h then
      slide(key, h, hv, now)
      adjust(h, at, req, estimated, to)
    end
    local de, dr, dt, xe, xt = day(d)
    if de == day_end then
      dr, dt = dr - req, dt - estimated
      if dr < 0 then dr = 0 end
      if dt < 0 then dt = 0 end
      dt = dt + to
    end
    if month_end > 0 and xe == month_end then
      xt = xt - estimated
      if xt < 0 then xt = 0 end
      xt = xt + to
    end
    save(key, de, dr, dt, xe, xt, m, h)
  end
end
return 0
