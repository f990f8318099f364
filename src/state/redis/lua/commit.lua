-- Compare-and-set of one job, with the counters the change moves: all in
-- one partition (one hash slot), so it is atomic on a Redis Cluster too.
--
-- KEYS: r d c (jobs by state), dt (dead ids by death time), g (gauges),
--       n (counters), jb (job -> batch)
-- ARGV[1] job id
-- ARGV[2] the set the job is expected in ('r', 'd', 'c'; '' = absent)
-- ARGV[3] the member it is expected to be (ignored when absent)
-- ARGV[4] the set it goes to ('' = it is removed)
-- ARGV[5] its new member
-- ARGV[6] dead time: '' unchanged, '-' removed, else the death time (ms)
-- ARGV[7] ms to keep the partition's keys after this write ('0' = as they are)
-- ARGV[8..] triples: 5 (gauges) or 6 (counters), field, increment
-- Returns {1, batch id or false} when applied; when the job is not as
-- expected, {0, false} and what it is now: its set's letter and member, or
-- nothing if it is gone (the caller decides again on that, and retries).
local id = ARGV[1]
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
for i = 8, #ARGV, 3 do
  local key = KEYS[tonumber(ARGV[i])]
  if redis.call('HINCRBY', key, ARGV[i + 1], tonumber(ARGV[i + 2])) == 0 then
    redis.call('HDEL', key, ARGV[i + 1])
  end
end
local keep = tonumber(ARGV[7])
if keep > 0 then
  for i = 1, 7 do
    if i ~= 6 then
      redis.call('PEXPIRE', KEYS[i], keep)
    end
  end
end
return {1, redis.call('HGET', KEYS[7], id)}
