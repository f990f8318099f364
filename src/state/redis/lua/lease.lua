-- A claimer's lease extended or released, after the fence, in the job's
-- partition.
-- KEYS: dv, ls, qn
-- ARGV[1] job id  ARGV[2] lease  ARGV[3] 'e' extend / 'r' release  ARGV[4] ms (lease_until, or due)
-- ARGV[5] queue key prefix
-- Returns {1, queue, due or false} done; {2, why} the fence refused ('none', 'other').
local dv, ls, qn, id, prefix = KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[5]
local p = parse(redis.call('HGET', dv, id))
local held = (p and p.lease) or ''
if held ~= ARGV[2] then
  return {2, held == '' and 'none' or 'other'}
end
local live = p.index ~= 'n'
take_out(p, id, qn, ls, prefix)
local due = false
if ARGV[3] == 'e' then
  p.lease_until = tonumber(ARGV[4])
  -- A cancelled (or dead) job's lease may run on; it is due nowhere.
  if live then
    p.index = 'l'
  end
else
  p.lease, p.lease_until, p.unsettled = '', 0, 0
  if live then
    p.index, p.due = 'd', tonumber(ARGV[4])
    due = ARGV[4]
  end
end
put_in(p, id, qn, ls, prefix)
redis.call('HSET', dv, id, build(p))
return {1, p.queue, due}
