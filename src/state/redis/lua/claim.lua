-- Hands out up to ARGV[2] jobs of one queue due by ARGV[1], oldest due
-- first, each under a lease of its own until ARGV[1] + ARGV[3]; in one
-- partition, so no job is handed to two claimers.
-- KEYS: the queue's due index, dv, ls, qn, r (the retrying jobs' records)
-- ARGV[1] now (ms)  ARGV[2] at most  ARGV[3] lease (ms)  ARGV[4] this claim's lease-id prefix
-- Returns {{id, member or false, parcel, due}, ...}, and the queue's first due time (or false).
local q, dv, ls, qn, r = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now, lease_ms = tonumber(ARGV[1]), tonumber(ARGV[3])
local ids = redis.call('ZRANGEBYSCORE', q, '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for i, id in ipairs(ids) do
  local p = parse(redis.call('HGET', dv, id))
  if p and p.index == 'd' then
    local due = p.due
    -- Out of the due index, into the lease index (take_out / put_in
    -- without the byte counts, which stay).
    redis.call('ZREM', q, id)
    p.index = 'l'
    p.lease = ARGV[4] .. string.format('%x', i)
    p.lease_until = now + lease_ms
    p.deliveries = p.deliveries + 1
    p.unsettled = p.unsettled + 1
    redis.call('ZADD', ls, p.lease_until, id)
    redis.call('HINCRBY', qn, p.queue .. '\0l', 1)
    local v = build(p)
    redis.call('HSET', dv, id, v)
    local m = redis.call('ZRANGEBYLEX', r, '[' .. id .. '\0', '(' .. id .. '\1', 'LIMIT', 0, 1)[1]
    out[#out + 1] = {id, m or false, v, n(due)}
  else
    -- Not parked any more: a stale key.
    redis.call('ZREM', q, id)
  end
end
local first = redis.call('ZRANGE', q, 0, 0, 'WITHSCORES')
return {out, first[2] or false}
