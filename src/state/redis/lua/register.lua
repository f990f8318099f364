-- The fleet's bounded label registry: a job type (or target) gets a label
-- of its own if it has one, or if fewer than ARGV[2] have; else it counts
-- as `other`. Every sidecar of a fleet labels alike.
--
-- KEYS[1] the registry (a set)
-- ARGV[1] the name
-- ARGV[2] the bound
-- Returns 1 (its own label) or 0 (other).
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then
  return 1
end
if redis.call('SCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('SADD', KEYS[1], ARGV[1])
  return 1
end
return 0
