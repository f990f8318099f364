-- Compare-and-set of one target's circuit breaker.
-- KEYS[1]: the breaker. ARGV[1]: what the caller read ("" = absent),
-- ARGV[2]: what it writes, ARGV[3]: its expiry (ms; an idle breaker is a
-- closed one).
-- Returns {1} when written, {0, what is there now ("" = absent)} otherwise.
local now = redis.call('GET', KEYS[1])
if (now == false and ARGV[1] == '') or now == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return {1}
end
return {0, now or ''}
