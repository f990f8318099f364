-- Walks one sorted set of jobs in id order from a cursor, returning the
-- members that match: a job type (ListJobs' filter) and/or an idle cut-off
-- (the sweeper's idle_ttl). Bounded work per call: at most ARGV[4] members
-- are looked at.
--
-- KEYS[1] the set
-- ARGV[1] start after this job id ('' = from the first)
-- ARGV[2] at most this many matches
-- ARGV[3] job type to match ('' = any)
-- ARGV[4] at most this many members looked at
-- ARGV[5] only members last updated at or before this time, in ms ('' = any)
-- Returns {cursor, matches...}: the cursor is the last id looked at, or ''
-- when the set has no more.
local min = '-'
if ARGV[1] ~= '' then
  min = '[' .. ARGV[1] .. '\1'
end
local limit, budget = tonumber(ARGV[2]), tonumber(ARGV[4])
local job_type, cutoff = ARGV[3], tonumber(ARGV[5])
local out = {''}
while budget > 0 do
  local chunk = redis.call('ZRANGEBYLEX', KEYS[1], min, '+', 'LIMIT', 0, math.min(budget, 256))
  if #chunk == 0 then
    out[1] = ''
    return out
  end
  for _, m in ipairs(chunk) do
    budget = budget - 1
    local z = string.find(m, '\0', 1, true)
    local ok = true
    if cutoff and tonumber(string.sub(m, z + 1, z + 13)) > cutoff then
      ok = false
    end
    if ok and job_type ~= '' then
      local e = string.find(m, '\0', z + 14, true)
      ok = e ~= nil and string.sub(m, z + 14, e - 1) == job_type
    end
    out[1] = string.sub(m, 1, z - 1)
    if ok then
      out[#out + 1] = m
      if #out > limit then
        return out
      end
    end
  end
  min = '[' .. out[1] .. '\1'
end
return out
