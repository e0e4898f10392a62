-- Freeway's usage windows on Redis: the same semantics as api/src/routing/window.rs, over
-- one hash per scope. A sliding minute (61 buckets of 1 s) and hour (61 buckets of 1 min),
-- each a ring with running totals: a bucket leaves the window one span after the latest
-- request it holds. A day that ends at the caller's midnight and, for quotas, a month of
-- tokens. Fields: <p>o oldest key, <p>r requests, <p>t tokens; per slot s of a ring
-- <p>k<s> key, <p>l<s> latest request, <p>q<s> requests, <p>n<s> tokens ('m' the minute,
-- 'h' the hour); de/dr/dt the day's end, requests and tokens; xe/xt the month's end and
-- tokens. Rolling writes nothing until the request is taken, so a refusal changes nothing.
local N = 61

local function num(v)
  return tonumber(v) or 0
end

local function ring(key, p, width, now)
  local span = width * 60
  local edge = math.floor((now - span) / width)
  local st = redis.call('HMGET', key, p .. 'o', p .. 'r', p .. 't')
  local r = { key = key, p = p, width = width, span = span,
              o = tonumber(st[1]), req = num(st[2]), tok = num(st[3]) }
  local function bucket(k)
    local s = tostring(k % N)
    local b = redis.call('HMGET', key, p .. 'k' .. s, p .. 'l' .. s, p .. 'q' .. s, p .. 'n' .. s)
    return tonumber(b[1]), num(b[2]), num(b[3]), num(b[4])
  end
  r.bucket = bucket
  local function drop(k)
    local bk, _, q, n = bucket(k)
    if bk == k then
      r.req = r.req - q
      r.tok = r.tok - n
    end
  end
  if r.o == nil or edge - r.o >= N then
    r.o = edge
    r.req = 0
    r.tok = 0
  elseif edge > r.o then
    for k = r.o, edge - 1 do drop(k) end
    r.o = edge
  end
  if r.o == edge then
    local bk, last = bucket(edge)
    if bk ~= edge or last + span <= now then
      drop(edge)
      r.o = edge + 1
    end
  end
  if r.req < 0 then r.req = 0 end
  if r.tok < 0 then r.tok = 0 end
  return r
end

-- When the oldest buckets will have taken `excess` requests (tokens) out with them.
local function freed_at(r, excess, tokens)
  local freed, latest = 0, 0
  for k = r.o, r.o + N - 1 do
    local bk, last, q, n = r.bucket(k)
    if bk == k then
      latest = last
      if tokens then freed = freed + n else freed = freed + q end
      if freed >= excess then break end
    end
  end
  return latest + r.span
end

local function save(r)
  redis.call('HSET', r.key, r.p .. 'o', r.o, r.p .. 'r', r.req, r.p .. 't', r.tok)
end

local function add(r, at, req, tok)
  local k = math.floor(at / r.width)
  if k < r.o then return end
  if k > r.o + N - 1 then k = r.o + N - 1 end
  local s = tostring(k % N)
  local bk, last, q, n = r.bucket(k)
  if bk ~= k then last, q, n = at, 0, 0 end
  if at > last then last = at end
  redis.call('HSET', r.key, r.p .. 'k' .. s, k, r.p .. 'l' .. s, last,
             r.p .. 'q' .. s, q + req, r.p .. 'n' .. s, n + tok)
  r.req = r.req + req
  r.tok = r.tok + tok
end

local function adjust(r, at, req, from, to)
  local k = math.floor(at / r.width)
  if k < r.o then return end
  local bk, _, q, n = r.bucket(k)
  if bk ~= k then return end
  local q2 = q - req
  if q2 < 0 then q2 = 0 end
  local n2 = n - from
  if n2 < 0 then n2 = 0 end
  n2 = n2 + to
  local s = tostring(k % N)
  redis.call('HSET', r.key, r.p .. 'q' .. s, q2, r.p .. 'n' .. s, n2)
  r.req = r.req - q + q2
  r.tok = r.tok - n + n2
end

-- The day (and month) of a scope at `now`, given the caller's idea of when they end: a
-- later end than the stored one starts a new, empty period.
local function period(key, endf, reqf, tokf, want)
  local st = redis.call('HMGET', key, endf, reqf, tokf)
  local e = tonumber(st[1])
  if e == nil or want > e then
    return want, 0, 0, true
  end
  return e, num(st[2]), num(st[3]), false
end
