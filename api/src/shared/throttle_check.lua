-- The login throttle (api/src/admin/auth.rs `LoginThrottle`) shared by the fleet: after 5
-- failures each attempt waits 2^(n-5) s, at most 15 min. KEYS: one hash per account or
-- address (count, last). ARGV: now. Answers the seconds to wait (0: none).
local now = tonumber(ARGV[1])
local wait = 0
for _, key in ipairs(KEYS) do
  local st = redis.call('HMGET', key, 'count', 'last')
  local count, last = tonumber(st[1]), tonumber(st[2])
  if count and last and count >= 5 then
    local e = count - 5
    if e > 10 then e = 10 end
    local ms = math.pow(2, e) * 1000
    if ms > 900000 then ms = 900000 end
    local left = last + ms - now
    if left > 0 then
      local secs = math.floor(left / 1000)
      if secs < 1 then secs = 1 end
      if secs > wait then wait = secs end
    end
  end
end
return wait
