-- Reads each scope's use of its windows at `now` and changes nothing: the fleet's usage
-- for an admin's view. KEYS: one hash per scope. ARGV[1]: little-endian doubles
-- (struct.pack): now, then per scope its day_end and rings (1 minute, 2 hour).
-- Answers per scope {minute requests, minute tokens, hour requests, day requests, day
-- tokens}; -1 for a sliding window the scope does not keep.
local P = ARGV[1]
local now = sunpack('<d', P)
local answer = {}
for i = 1, #KEYS do
  local key = KEYS[i]
  local day_end, rings = sunpack('<dd', P, 9 + (i - 1) * 16)
  local m, h
  if rings % 2 == 1 then m = ring_of('m', 0, 1000, now) end
  if rings >= 2 then h = ring_of('h', N, 60000, now) end
  local d, mv, hv = read(key, m, h)
  local mr, mt, hr = -1, -1, -1
  if m then
    slide(key, m, mv, now)
    mr, mt = m.req, m.tok
  end
  if h then
    slide(key, h, hv, now)
    hr = h.req
  end
  local de, dr, dt = day(d)
  -- A day that ended is over: the next request starts a new one.
  if day_end > de then dr, dt = 0, 0 end
  answer[i] = { mr, mt, hr, dr, dt }
end
return answer
