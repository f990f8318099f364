-- A job's delivery parcel, as the partition's dv hash keeps it:
--   index \0 unsettled \0 deliveries \0 lease \0 lease_until \0 due \0 queue \0 payload
-- index: 'n' (in no index: dead or cancelled), 'd' (its queue's due index,
-- keyed by due), 'l' (the lease index, keyed by lease_until); lease '' = none.
-- Prepended to each delivery script (Lua has no modules here).
local function parse(v)
  if not v then
    return nil
  end
  local f, pos = {}, 1
  for i = 1, 7 do
    local e = string.find(v, '\0', pos, true)
    if not e then
      return nil
    end
    f[i] = string.sub(v, pos, e - 1)
    pos = e + 1
  end
  return {
    index = f[1], unsettled = tonumber(f[2]) or 0, deliveries = tonumber(f[3]) or 0,
    lease = f[4], lease_until = tonumber(f[5]) or 0, due = tonumber(f[6]) or 0,
    queue = f[7], payload = string.sub(v, pos),
  }
end

local function n(x)
  return string.format('%.0f', x)
end

local function build(p)
  return table.concat({p.index, n(p.unsettled), n(p.deliveries), p.lease,
    n(p.lease_until), n(p.due), p.queue, p.payload}, '\0')
end

-- Takes a parcel out of its index, with its counts (qn: the counters hash,
-- ls: the lease index, prefix: the partition's queue keys).
local function take_out(p, id, qn, ls, prefix)
  if p.index == 'd' then
    redis.call('ZREM', prefix .. p.queue, id)
  elseif p.index == 'l' then
    redis.call('ZREM', ls, id)
    redis.call('HINCRBY', qn, p.queue .. '\0l', -1)
  end
  if p.index ~= 'n' then
    redis.call('HINCRBY', qn, p.queue .. '\0b', -#p.payload)
  end
end

-- Puts a parcel into the index it names, with its counts.
local function put_in(p, id, qn, ls, prefix)
  if p.index == 'd' then
    redis.call('ZADD', prefix .. p.queue, p.due, id)
  elseif p.index == 'l' then
    redis.call('ZADD', ls, p.lease_until, id)
    redis.call('HINCRBY', qn, p.queue .. '\0l', 1)
  end
  if p.index ~= 'n' then
    redis.call('HINCRBY', qn, p.queue .. '\0b', #p.payload)
  end
end
