-- Freeway's usage windows on Redis: the same semantics as api/src/routing/window.rs, over
-- one hash per scope. A sliding minute (61 buckets of 1 s) and hour (61 buckets of 1 min),
-- each a ring with running totals: a bucket leaves the window one span after the latest
-- request it holds. A day that ends at the caller's midnight and, for quotas, a month of
-- tokens. Fields: <p>o oldest key, <p>r requests, <p>t tokens; per slot s of a ring
-- <p>k<s> key, <p>l<s> latest request, <p>q<s> requests, <p>n<s> tokens ('m' the minute,
-- 'h' the hour); de/dr/dt the day's end, requests and tokens; xe/xt the month's end and
-- tokens. A scope's hash is read with one HMGET of every field a request needs (more only
-- when buckets slide out) and written with one HSET, so a request costs a few calls a
-- scope. Nothing is written until the request is taken: a refusal changes nothing.
local N = 61

local function num(v)
  return tonumber(v) or 0
end

-- A scope's hash: fields read once and cached (false: absent), writes gathered.
local function open(key)
  return { key = key, f = {}, w = {} }
end

local function fetch(st, names)
  if #names == 0 then return end
  local vals = redis.call('HMGET', st.key, unpack(names))
  for i, name in ipairs(names) do st.f[name] = vals[i] or false end
end

local function get(st, name)
  local v = st.f[name]
  if v == nil then
    fetch(st, { name })
    v = st.f[name]
  end
  if v == false then return nil end
  return v
end

-- Writes only what changed: most fields a request touches keep their value.
local function put(st, name, value)
  local old = st.f[name]
  if old ~= nil and old ~= false and tonumber(old) == value then return end
  st.f[name] = value
  st.w[name] = value
end

local function flush(st)
  local args = {}
  for name, value in pairs(st.w) do
    args[#args + 1] = name
    args[#args + 1] = value
  end
  if #args > 0 then redis.call('HSET', st.key, unpack(args)) end
  st.w = {}
end

local function slot_names(names, p, k)
  local s = tostring(k % N)
  names[#names + 1] = p .. 'k' .. s
  names[#names + 1] = p .. 'l' .. s
  names[#names + 1] = p .. 'q' .. s
  names[#names + 1] = p .. 'n' .. s
end

-- The fields a ring of `width` needs at `now` (and for a reservation made at `at`); the
-- bucket leaving the window is read only when the ring has not rolled past it yet.
local function ring_names(names, p, width, now, at)
  names[#names + 1] = p .. 'o'
  names[#names + 1] = p .. 'r'
  names[#names + 1] = p .. 't'
  slot_names(names, p, math.floor(now / width))
  if at then slot_names(names, p, math.floor(at / width)) end
end

local function bucket(st, p, k)
  local s = tostring(k % N)
  if st.f[p .. 'k' .. s] == nil then
    local names = {}
    slot_names(names, p, k)
    fetch(st, names)
  end
  return tonumber(get(st, p .. 'k' .. s)), num(get(st, p .. 'l' .. s)),
         num(get(st, p .. 'q' .. s)), num(get(st, p .. 'n' .. s))
end

local function ring(st, p, width, now)
  local span = width * 60
  local edge = math.floor((now - span) / width)
  local r = { st = st, p = p, width = width, span = span,
              o = tonumber(get(st, p .. 'o')), req = num(get(st, p .. 'r')),
              tok = num(get(st, p .. 't')) }
  local function drop(k)
    local bk, _, q, n = bucket(st, p, k)
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
    local bk, last = bucket(st, p, edge)
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
    local bk, last, q, n = bucket(r.st, r.p, k)
    if bk == k then
      latest = last
      if tokens then freed = freed + n else freed = freed + q end
      if freed >= excess then break end
    end
  end
  return latest + r.span
end

local function save(r)
  put(r.st, r.p .. 'o', r.o)
  put(r.st, r.p .. 'r', r.req)
  put(r.st, r.p .. 't', r.tok)
end

local function add(r, at, req, tok)
  local k = math.floor(at / r.width)
  if k < r.o then return end
  if k > r.o + N - 1 then k = r.o + N - 1 end
  local s = tostring(k % N)
  local bk, last, q, n = bucket(r.st, r.p, k)
  if bk ~= k then last, q, n = at, 0, 0 end
  if at > last then last = at end
  put(r.st, r.p .. 'k' .. s, k)
  put(r.st, r.p .. 'l' .. s, last)
  put(r.st, r.p .. 'q' .. s, q + req)
  put(r.st, r.p .. 'n' .. s, n + tok)
  r.req = r.req + req
  r.tok = r.tok + tok
end

local function adjust(r, at, req, from, to)
  local k = math.floor(at / r.width)
  if k < r.o then return end
  local bk, _, q, n = bucket(r.st, r.p, k)
  if bk ~= k then return end
  local q2 = q - req
  if q2 < 0 then q2 = 0 end
  local n2 = n - from
  if n2 < 0 then n2 = 0 end
  n2 = n2 + to
  local s = tostring(k % N)
  put(r.st, r.p .. 'q' .. s, q2)
  put(r.st, r.p .. 'n' .. s, n2)
  r.req = r.req - q + q2
  r.tok = r.tok - n + n2
end
