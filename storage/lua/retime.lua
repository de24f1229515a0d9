-- retime: after a claim of an instance fired nothing (its timers were not
-- due, or were cancelled since), put its member back in its shard's timers,
-- due at its earliest pending timer, and drop the lease, unless the instance
-- changed since it was read: then the caller reads it again.
-- KEYS[1] timers (ZSET)   KEYS[2] leases (ZSET)   KEYS[3] the instance (HASH)
-- ARGV[1] instance id   ARGV[2] version read (0: none)
-- ARGV[3] next due (ms, "" if no timer is pending)
-- ARGV[4] a lease to drop too ("" if none): a timer's member under the
--         per-timer name earlier versions used, "id|timer"
-- returns 1, or 0 if the instance changed.
if (redis.call('HGET', KEYS[3], 'v') or '0') ~= ARGV[2] then
  return 0
end
if ARGV[3] ~= '' then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
else
  redis.call('ZREM', KEYS[1], ARGV[1])
end
if ARGV[4] ~= '' then
  redis.call('ZREM', KEYS[2], ARGV[1], ARGV[4])
else
  redis.call('ZREM', KEYS[2], ARGV[1])
end
return 1
