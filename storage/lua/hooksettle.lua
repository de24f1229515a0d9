-- hooksettle: record what became of the first event of a queue its caller
-- holds. Delivered, or given up on (then kept aside among the dead
-- letters), it leaves the queue, and the next one is returned for the
-- caller to deliver, the queue held until the lease given ends (an empty
-- queue is gone). To be tried again, it stays first, as given (its tries
-- counted), and the queue waits until then.
-- KEYS[1] due (ZSET)   KEYS[2] the queue (LIST)   KEYS[3] dead (STREAM)
-- ARGV[1] the queue's member in due   ARGV[2] its first item, as the caller read it
-- ARGV[3] "done", "dead" or "retry"
-- ARGV[4] retry: the item to keep first instead   ARGV[5] retry: when to try
--         again; otherwise: the lease's end (unix ms)
-- ARGV[6..] dead: the dead letter's fields and values
-- returns the next item to deliver, "" when there is none (the queue is
-- empty, or waits), or 0 when the queue's first item is no longer the one
-- read (another caller took the queue over after the lease ran out).
if redis.call('LINDEX', KEYS[2], 0) ~= ARGV[2] then
  return 0
end
if ARGV[3] == 'retry' then
  redis.call('LSET', KEYS[2], 0, ARGV[4])
  redis.call('ZADD', KEYS[1], ARGV[5], ARGV[1])
  return ''
end
redis.call('LPOP', KEYS[2])
if ARGV[3] == 'dead' then
  local fields = {}
  for i = 6, #ARGV do
    fields[#fields + 1] = ARGV[i]
  end
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', 10000, '*', unpack(fields))
end
local next = redis.call('LINDEX', KEYS[2], 0)
if not next then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return ''
end
redis.call('ZADD', KEYS[1], ARGV[5], ARGV[1])
return next
