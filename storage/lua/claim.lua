-- claim: take due timers of one shard, each under a lease, so that of several
-- pollers exactly one fires each timer; a claim whose lease ran out (its
-- poller died) is taken again.
-- KEYS[1] timers (ZSET member -> due ms)   KEYS[2] leases (ZSET member -> lease expiry ms)
-- ARGV[1] now (unix ms)   ARGV[2] lease expiry (unix ms)   ARGV[3] most timers to take
-- returns a flat list: member, due ms (or the expired lease's time), member, …
-- Cost is O(log N + M) for M timers taken: it grows with what is due, not with what is pending.
local out = {}
local limit = tonumber(ARGV[3])
local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, limit)
for j = 1, #stale, 2 do
  redis.call('ZADD', KEYS[2], ARGV[2], stale[j])
  out[#out + 1] = stale[j]
  out[#out + 1] = stale[j + 1]
end
local left = limit - #stale / 2
if left > 0 then
  local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, left)
  for j = 1, #due, 2 do
    redis.call('ZREM', KEYS[1], due[j])
    redis.call('ZADD', KEYS[2], ARGV[2], due[j])
    out[#out + 1] = due[j]
    out[#out + 1] = due[j + 1]
  end
end
return out
