-- Settles reservations made in the same second (at `at`) by the reserve script, in the
-- buckets, day and month they went into: `estimated` tokens they counted are replaced by
-- `actual` ones, and `released` of them are given back (their requests leave too).
-- KEYS: the same hashes. ARGV[1]: little-endian doubles (struct.pack): now, at, estimated,
-- actual, released, then per scope 3 values: day_end, month_end, rings, as the
-- reservations saw them. A key that expired meanwhile is left alone.
local P = ARGV[1]
local now, at, estimated, to, req = sunpack('<ddddd', P)
for i = 1, #KEYS do
  local key = KEYS[i]
  local day_end, month_end, rings = sunpack('<ddd', P, 41 + (i - 1) * 24)
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
