-- Compare-and-set of a batch's book (StartPass, EndPass), adding new jobs.
--
-- KEYS[1] the book; KEYS[2] the jobs
-- ARGV[1] the version read ('' = the batch did not exist)
-- ARGV[2] the new book; ARGV[3] the open pass (0 = none); ARGV[4] now (ms)
-- ARGV[5..] job ids to add (pending)
-- Returns 1, or 0 if the batch changed since it was read.
local v = redis.call('HGET', KEYS[1], 'ver') or ''
if v ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'ver', tostring((tonumber(v) or 0) + 1),
  'book', ARGV[2], 'open', ARGV[3], 'upd', ARGV[4])
for i = 5, #ARGV do
  redis.call('HSETNX', KEYS[2], ARGV[i], '-0')
end
return 1
