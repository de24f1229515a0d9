-- hookclaim: take the event queues of one shard whose first event is due to
-- be tried again, or whose holder's lease ran out (it stopped), each held
-- by the caller until the lease it gives ends.
-- KEYS[1] due (ZSET queue member -> when its first event is tried next, or
--         its holder's lease ends, unix ms)
-- ARGV[1] now (unix ms)   ARGV[2] the lease's end (unix ms)   ARGV[3] most to take
-- returns the members taken, the longest due first.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, m in ipairs(due) do
  redis.call('ZADD', KEYS[1], 'XX', ARGV[2], m)
end
return due
