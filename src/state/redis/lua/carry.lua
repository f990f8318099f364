-- Compare-and-set of one job that has or gets a delivery parcel: what
-- commit.lua does, and the parcel with its index and counts, all in the
-- job's partition (one slot), after the fencing check of its lease.
--
-- KEYS: r d c dt g n jb (as commit.lua), dv ls qn
-- ARGV[1..7] as commit.lua
-- ARGV[8]  the partition's queue key prefix (P:{pNN}:q:)
-- ARGV[9]  fence: '' none, '-' the job must not be handed out, else the lease it must hold
-- ARGV[10] op: 's' settle (a decided report, a manual retry), 'u' unindex (cancel),
--          'k' kill (the delivery limit: only if the lease in ARGV[9] ran out by ARGV[15]),
--          'x' remove
-- ARGV[11] settle: due (ms), '' = due nowhere (dead, cancelled)
-- ARGV[12] settle: the queue ('' = keep the job's)
-- ARGV[13] settle: '1' if ARGV[14] is a new payload
-- ARGV[14] the payload
-- ARGV[15] now (ms)
-- ARGV[16..] counter triples, as commit.lua's ARGV[8..]
-- Returns {1, batch or false, queue or false, due or false} when applied;
-- {0, false, letter, member} (or {0, false}) when the job is not as
-- expected; {2, why} when the fence refuses ('none': not handed out,
-- 'other': under another lease, 'held': handed out, 'moved': not to kill).
local id = ARGV[1]
local dv, ls, qn, prefix = KEYS[8], KEYS[9], KEYS[10], ARGV[8]
local cur = parse(redis.call('HGET', dv, id))
local fence, op = ARGV[9], ARGV[10]
local held = (cur and cur.lease) or ''
if fence == '-' then
  if held ~= '' then
    return {2, 'held'}
  end
elseif fence ~= '' and held ~= fence then
  return {2, held == '' and 'none' or 'other'}
end
if op == 'k' and (not cur or cur.index ~= 'l' or cur.lease_until > tonumber(ARGV[15])) then
  return {2, 'moved'}
end

local set = {r = KEYS[1], d = KEYS[2], c = KEYS[3]}
local letters = {'r', 'd', 'c'}
local old, new = ARGV[2], ARGV[4]
local function current()
  local lo, hi = '[' .. id .. '\0', '(' .. id .. '\1'
  for i = 1, 3 do
    local m = redis.call('ZRANGEBYLEX', KEYS[i], lo, hi, 'LIMIT', 0, 1)[1]
    if m then
      return {0, false, letters[i], m}
    end
  end
  return {0, false}
end
if old == '' then
  local now = current()
  if now[3] then
    return now
  end
elseif redis.call('ZREM', set[old], ARGV[3]) == 0 then
  return current()
end
if new ~= '' then
  redis.call('ZADD', set[new], 0, ARGV[5])
end
local dead = ARGV[6]
if dead == '-' then
  redis.call('ZREM', KEYS[4], id)
elseif dead ~= '' then
  redis.call('ZADD', KEYS[4], tonumber(dead), id)
end
for i = 16, #ARGV, 3 do
  local key = KEYS[tonumber(ARGV[i])]
  if redis.call('HINCRBY', key, ARGV[i + 1], tonumber(ARGV[i + 2])) == 0 then
    redis.call('HDEL', key, ARGV[i + 1])
  end
end
local keep = tonumber(ARGV[7])
if keep > 0 then
  for i = 1, 10 do
    if i ~= 6 then
      redis.call('PEXPIRE', KEYS[i], keep)
    end
  end
end

-- The parcel.
local before = cur and #cur.payload or 0
local p = cur
if cur then
  take_out(cur, id, qn, ls, prefix)
end
local parked_on, due_at = false, false
if op == 'x' then
  if cur then
    redis.call('HDEL', dv, id)
  end
  p = nil
elseif op == 's' then
  p = p or {index = 'n', unsettled = 0, deliveries = 0, lease = '', lease_until = 0,
    due = 0, queue = ARGV[12], payload = ''}
  p.lease, p.lease_until, p.unsettled = '', 0, 0
  if ARGV[12] ~= '' then
    p.queue = ARGV[12]
  end
  if ARGV[13] == '1' then
    p.payload = ARGV[14]
  end
  if ARGV[11] ~= '' then
    p.index, p.due = 'd', tonumber(ARGV[11])
    parked_on, due_at = p.queue, ARGV[11]
  else
    p.index = 'n'
  end
elseif op == 'u' then
  if p then
    p.index = 'n'
  end
elseif op == 'k' then
  p.index, p.lease, p.lease_until = 'n', '', 0
end
if p then
  put_in(p, id, qn, ls, prefix)
  redis.call('HSET', dv, id, build(p))
end
local after = p and #p.payload or 0
if after ~= before then
  redis.call('HINCRBY', qn, '\0b', after - before)
end
return {1, redis.call('HGET', KEYS[7], id), parked_on, due_at}
