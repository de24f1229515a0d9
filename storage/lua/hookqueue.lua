-- hookqueue: put an event delivery in its queue, the events of one request
-- to one subscriber, which are delivered one at a time, first to last. The
-- queue is kept in outbox order (by entry id), except that nothing goes
-- before its first event, which is being delivered or waits to be tried
-- again; an entry already in it (read again after a crash) is not added
-- twice. A caller whose event starts a queue (it was empty) holds the queue
-- at once, until the lease it gives ends, and delivers it.
-- KEYS[1] due (ZSET queue member -> when its first event is tried next, or
--         its holder's lease ends, unix ms)
-- KEYS[2] the queue (LIST of "ENTRY-ID PAYLOAD", first to deliver first)
-- ARGV[1] the queue's member in due   ARGV[2] the item, "ENTRY-ID PAYLOAD"
-- ARGV[3] the lease's end (unix ms)
-- returns 1 if the caller now holds the queue (the item is its first), 0 if
-- the item waits in it, 2 if the entry was in it already.
local function id(item)
  local ms, seq = string.match(item, '^(%d+)-(%d+) ')
  return tonumber(ms) or 0, tonumber(seq) or 0
end
local n = redis.call('LLEN', KEYS[2])
if n == 0 then
  redis.call('RPUSH', KEYS[2], ARGV[2])
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
  return 1
end
local ms, seq = id(ARGV[2])
local pivot = false -- the item it goes before; none: last
for i = n - 1, 0, -1 do
  local it = redis.call('LINDEX', KEYS[2], i)
  local ims, iseq = id(it)
  if ims == ms and iseq == seq then
    return 2
  end
  if i == 0 or ims < ms or (ims == ms and iseq < seq) then
    break
  end
  pivot = it
end
if pivot then
  redis.call('LINSERT', KEYS[2], 'BEFORE', pivot, ARGV[2])
else
  redis.call('RPUSH', KEYS[2], ARGV[2])
end
redis.call('ZADD', KEYS[1], 'NX', ARGV[3], ARGV[1])
return 0
