-- Leases that ran out by ARGV[1] in one partition: each job due again
-- from its lease's end on its queue, or (at ARGV[2] unsettled hand-outs)
-- left for the caller to kill with carry.lua's 'k', which decides the
-- job's death as any change.
-- KEYS: ls, dv, qn   ARGV[1] now  ARGV[2] max_deliveries  ARGV[3] queue key prefix  ARGV[4] at most
-- Returns {{id, queue, due}...} due again, {{id, queue, lease, lease_until}...} to kill,
-- and the first lease end left (or false).
local ls, dv, qn, prefix = KEYS[1], KEYS[2], KEYS[3], ARGV[3]
local max = tonumber(ARGV[2])
local ids = redis.call('ZRANGEBYSCORE', ls, '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[4]))
local again, kill = {}, {}
for _, id in ipairs(ids) do
  local p = parse(redis.call('HGET', dv, id))
  if not p or p.index ~= 'l' then
    redis.call('ZREM', ls, id)
  elseif p.unsettled >= max then
    kill[#kill + 1] = {id, p.queue, p.lease, n(p.lease_until)}
  else
    take_out(p, id, qn, ls, prefix)
    p.index, p.due = 'd', p.lease_until
    put_in(p, id, qn, ls, prefix)
    redis.call('HSET', dv, id, build(p))
    again[#again + 1] = {id, p.queue, n(p.due)}
  end
end
local first = redis.call('ZRANGE', ls, 0, 0, 'WITHSCORES')
return {again, kill, first[2] or false}
