-- reserve: the instance id for a start event's idempotency key.
-- KEYS[1] start key (STRING: reserved id)   KEYS[2] the flow's counter (STRING)
-- ARGV[1] id prefix, e.g. "PR-"             ARGV[2] reservation TTL (seconds)
-- returns the id: the one reserved before for this key, or PREFIX + next number.
local id = redis.call('GET', KEYS[1])
if id then
  return id
end
id = ARGV[1] .. redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], id, 'EX', ARGV[2])
return id
