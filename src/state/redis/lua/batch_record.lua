-- A job's report counts into its batch: its outcome, and the open pass it
-- was reported in (as `Batch::record` does in memory).
--
-- KEYS[1] the batch's book (hash: book, open, upd, ver)
-- KEYS[2] the batch's jobs (hash: job id -> outcome letter .. last pass)
-- ARGV[1] job id; ARGV[2] outcome letter; ARGV[3] now (ms)
-- Returns 1, or 0 if the job is not in the batch.
local cur = redis.call('HGET', KEYS[2], ARGV[1])
if not cur then
  return 0
end
local pass = tonumber(redis.call('HGET', KEYS[1], 'open') or '0')
if pass == 0 then
  pass = tonumber(string.sub(cur, 2)) or 0
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. pass)
redis.call('HSET', KEYS[1], 'upd', ARGV[3])
return 1
