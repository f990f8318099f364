-- A target's retry budget: the take (one token spent, the balance before
-- it returned) or a refill, in one step, so that two failures can never
-- both pass a check only one should.
--
-- KEYS[1] the budget's hash (tokens, exhausted)
-- ARGV[1] 'take' or 'give'
-- ARGV[2] thousandths of a token
-- ARGV[3] a full budget, in thousandths (max_tokens)
-- Returns the tokens before, in thousandths.
local full = tonumber(ARGV[3])
local t = tonumber(redis.call('HGET', KEYS[1], 'tokens') or full)
if t > full then
  t = full
end
local before = t
if ARGV[1] == 'take' then
  t = math.max(t - tonumber(ARGV[2]), 0)
else
  t = math.min(t + tonumber(ARGV[2]), full)
end
redis.call('HSET', KEYS[1], 'tokens', t)
return before
