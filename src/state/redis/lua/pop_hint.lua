-- Takes out of a hint (P:{q:<queue>}:due or P:leases) up to ARGV[2]
-- partitions whose time is by ARGV[1], earliest first: the caller looks in
-- each and puts back (ZADD LT) what is left there. A partition taken out
-- is in nobody else's way meanwhile, and one parked into meanwhile is put
-- back by its parker (ZADD LT after its commit): no due job is forgotten.
-- Returns {partition, time, ...}.
local got = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[2]))
for i = 1, #got, 2 do
  redis.call('ZREM', KEYS[1], got[i])
end
return got
