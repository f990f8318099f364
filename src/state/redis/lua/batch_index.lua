-- The job -> open batch index of one partition: claim jobs for a batch, or
-- release them.
--
-- KEYS[1] the partition's index (hash)
-- ARGV[1] 'claim' or 'release'; ARGV[2] the batch id; ARGV[3..] job ids
-- claim: each free job is claimed; returns {} or, for the first job that
-- belongs to another batch, {job id, that batch} (nothing is claimed then).
-- release: each job claimed by this batch is freed; returns {}.
local batch = ARGV[2]
if ARGV[1] == 'claim' then
  for i = 3, #ARGV do
    local other = redis.call('HGET', KEYS[1], ARGV[i])
    if other and other ~= batch then
      return {ARGV[i], other}
    end
  end
  for i = 3, #ARGV do
    redis.call('HSET', KEYS[1], ARGV[i], batch)
  end
else
  for i = 3, #ARGV do
    if redis.call('HGET', KEYS[1], ARGV[i]) == batch then
      redis.call('HDEL', KEYS[1], ARGV[i])
    end
  end
end
return {}
