-- Freeway's usage windows on Redis: the same semantics as api/src/routing/window.rs. A
-- sliding minute (61 buckets of 1 s) and hour (61 buckets of 1 min), each a ring with
-- running totals: a bucket leaves the window one span after the latest request it holds. A
-- day that ends at the caller's midnight and, for quotas, a month of tokens.
-- One hash per scope, its values little-endian doubles packed with struct.pack: `d` the
-- day's end, requests and tokens, the month's end and tokens; `m` (`h`) the minute's
-- (hour's) oldest key, requests and tokens; `m<s>` (`h<s>`) the bucket in slot s of that
-- ring: its key, latest request, requests and tokens. A request reads its scope's day,
-- rings and the buckets it needs with one HMGET (more only when buckets slide out, or to
-- say when a refused request may come back) and writes them with one HSET: field names
-- are constants, values are decoded only when used. Nothing is written until the request
-- is taken: a refusal changes nothing.
local N = 61
local floor, call = math.floor, redis.call
local spack, sunpack = struct.pack, struct.unpack
local NAMES = {
  'm0', 'm1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7', 'm8', 'm9', 'm10', 'm11', 'm12',
  'm13', 'm14', 'm15', 'm16', 'm17', 'm18', 'm19', 'm20', 'm21', 'm22', 'm23', 'm24',
  'm25', 'm26', 'm27', 'm28', 'm29', 'm30', 'm31', 'm32', 'm33', 'm34', 'm35', 'm36',
  'm37', 'm38', 'm39', 'm40', 'm41', 'm42', 'm43', 'm44', 'm45', 'm46', 'm47', 'm48',
  'm49', 'm50', 'm51', 'm52', 'm53', 'm54', 'm55', 'm56', 'm57', 'm58', 'm59', 'm60',
  'h0', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'h7', 'h8', 'h9', 'h10', 'h11', 'h12',
  'h13', 'h14', 'h15', 'h16', 'h17', 'h18', 'h19', 'h20', 'h21', 'h22', 'h23', 'h24',
  'h25', 'h26', 'h27', 'h28', 'h29', 'h30', 'h31', 'h32', 'h33', 'h34', 'h35', 'h36',
  'h37', 'h38', 'h39', 'h40', 'h41', 'h42', 'h43', 'h44', 'h45', 'h46', 'h47', 'h48',
  'h49', 'h50', 'h51', 'h52', 'h53', 'h54', 'h55', 'h56', 'h57', 'h58', 'h59', 'h60'
}

-- A ring of `width` ms at `now`: `name` its totals' field, its buckets' names from
-- NAMES[first + 1]. The values of the buckets read so far are kept by slot (false: none):
-- the one a request counts in, at `at` or else at `now` (s1), the one at the edge of its
-- span (s2), and any others in `b`. Every field is set here, so that the table is
-- allocated once.
local function ring_of(name, first, width, now, at)
  return { name = name, first = first, width = width, span = width * 60,
           s1 = floor((at or now) / width) % N, s2 = (floor(now / width) + 1) % N,
           v1 = false, v2 = false, b = false, o = 0, req = 0, tok = 0, slot = false,
           bucket = false }
end

-- The value of a ring's bucket in `slot`: false when none, nil when not read yet.
local function cached(r, slot)
  if slot == r.s1 then return r.v1 end
  if slot == r.s2 then return r.v2 end
  local b = r.b
  if b then return b[slot] end
  return nil
end

-- Reads a scope with one HMGET of only the fields it needs: its day and month, and each
-- ring's totals and its buckets s1 and s2. Answers the day's value (false: no key) and the
-- rings' totals.
local function read(key, m, h)
  if m and h then
    local vals = call('HMGET', key, 'd', 'm', NAMES[1 + m.s1], NAMES[1 + m.s2], 'h',
                      NAMES[N + 1 + h.s1], NAMES[N + 1 + h.s2])
    m.v1, m.v2, h.v1, h.v2 = vals[3], vals[4], vals[6], vals[7]
    return vals[1], vals[2], vals[5]
  end
  local r = m or h
  if not r then return call('HMGET', key, 'd')[1], false, false end
  local first = r.first + 1
  local vals = call('HMGET', key, 'd', r.name, NAMES[first + r.s1], NAMES[first + r.s2])
  r.v1, r.v2 = vals[3], vals[4]
  if m then return vals[1], vals[2], false end
  return vals[1], false, vals[2]
end

-- The buckets of a ring's keys `from`..`to` (at most N) not read yet, with one HMGET.
local function fetch(key, r, from, to)
  local names, slots = { 'HMGET', key }, {}
  for k = from, to do
    local slot = k % N
    if cached(r, slot) == nil then
      names[#names + 1] = NAMES[r.first + slot + 1]
      slots[#slots + 1] = slot
    end
  end
  if #slots == 0 then return end
  local vals = call(unpack(names))
  local b = r.b or {}
  for j = 1, #slots do b[slots[j]] = vals[j] end
  r.b = b
end

-- Bucket `k` of a ring (read before): its key (0: none), latest request, requests, tokens.
local function bucket(r, k)
  local v = cached(r, k % N)
  if not v then return 0, 0, 0, 0 end
  return sunpack('<dddd', v)
end

-- The ring slid to `now` from its stored totals `v`: buckets a span older than `now` (by
-- their latest request) leave the running totals.
local function slide(key, r, v, now)
  local width, span = r.width, r.span
  local edge = floor((now - span) / width)
  local o, req, tok = 0, 0, 0
  if v then o, req, tok = sunpack('<ddd', v) end
  -- Totals no replica wrote (another format, a hand edit: NaN, or an oldest bucket far
  -- ahead) start the ring afresh: walked bucket by bucket, they could keep Redis busy
  -- forever. A replica whose clock is behind may see `o` slightly ahead; that is kept.
  if o == 0 or edge - o >= N or not (o <= edge + N) then
    o, req, tok = edge, 0, 0
  elseif edge > o then
    fetch(key, r, o, edge - 1)
    for k = o, edge - 1 do
      local bk, _, q, n = bucket(r, k)
      if bk == k then
        req = req - q
        tok = tok - n
      end
    end
    o = edge
  end
  if o == edge then
    local bk, last, q, n = bucket(r, edge)
    if bk ~= edge or last + span <= now then
      if bk == edge then
        req = req - q
        tok = tok - n
      end
      o = edge + 1
    end
  end
  if req < 0 then req = 0 end
  if tok < 0 then tok = 0 end
  r.o, r.req, r.tok = o, req, tok
end

-- When the oldest buckets will have taken `excess` requests (tokens) out with them.
local function freed_at(key, r, excess, tokens)
  fetch(key, r, r.o, r.o + N - 1)
  local freed, latest = 0, 0
  for k = r.o, r.o + N - 1 do
    local bk, last, q, n = bucket(r, k)
    if bk == k then
      latest = last
      if tokens then freed = freed + n else freed = freed + q end
      if freed >= excess then break end
    end
  end
  return latest + r.span
end

-- Counts `req` requests and `tok` tokens made at `at` in their bucket.
local function add(r, at, req, tok)
  local k = floor(at / r.width)
  if k < r.o then return end
  if k > r.o + N - 1 then k = r.o + N - 1 end
  local bk, last, q, n = bucket(r, k)
  if bk ~= k then last, q, n = at, 0, 0 end
  if at > last then last = at end
  r.slot = NAMES[r.first + k % N + 1]
  r.bucket = spack('<dddd', k, last, q + req, n + tok)
  r.req = r.req + req
  r.tok = r.tok + tok
end

-- Takes `req` requests and `from` tokens made at `at` out of their bucket, and puts `to`
-- tokens in; nothing when the bucket has left the ring.
local function adjust(r, at, req, from, to)
  local k = floor(at / r.width)
  if k < r.o then return end
  local bk, last, q, n = bucket(r, k)
  if bk ~= k then return end
  local q2 = q - req
  if q2 < 0 then q2 = 0 end
  local n2 = n - from
  if n2 < 0 then n2 = 0 end
  n2 = n2 + to
  r.slot = NAMES[r.first + k % N + 1]
  r.bucket = spack('<dddd', k, last, q2, n2)
  r.req = r.req - q + q2
  r.tok = r.tok - n + n2
end

-- A ring's fields to write: its totals and the bucket it changed (none: the day again).
local function changes(r, d)
  if not r then return 'd', d, 'd', d end
  local totals = spack('<ddd', r.o, r.req, r.tok)
  if r.slot then return r.name, totals, r.slot, r.bucket end
  return r.name, totals, 'd', d
end

-- Writes a scope with one HSET: its day and month, and each ring's totals and the bucket
-- it changed. The day's value is padded to 72 bytes, past Redis's default
-- `hash-max-listpack-value` (64): the hash is then kept as a hash table, where each field
-- is found at once rather than by a scan of a listpack of up to 125 fields (a tenth of
-- what the scripts cost Redis 7.0, by instruction count).
local function save(key, de, dr, dt, xe, xt, m, h)
  local d = spack('<ddddddddd', de, dr, dt, xe, xt, 0, 0, 0, 0)
  local r = m or h
  if not r then
    call('HSET', key, 'd', d)
  elseif r.slot and not (m and h) then
    call('HSET', key, 'd', d, r.name, spack('<ddd', r.o, r.req, r.tok), r.slot, r.bucket)
  else
    local mf, mv, mb, mbv = changes(m, d)
    local hf, hv, hb, hbv = changes(h, d)
    call('HSET', key, 'd', d, mf, mv, mb, mbv, hf, hv, hb, hbv)
  end
end

-- A scope's day and month as stored in `v` (zeros: none yet).
local function day(v)
  if not v then return 0, 0, 0, 0, 0 end
  return sunpack('<ddddd', v)
end
